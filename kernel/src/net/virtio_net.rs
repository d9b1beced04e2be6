//! The NIC: a virtio-net device (through `virtio-drivers`) as a `smoltcp::phy::Device`, over
//! whatever transport the platform found (PCI on x86_64, MMIO on aarch64) and the virtio
//! foundation's DMA `Hal`. Receive buffers are filled by the device and handed back after
//! smoltcp has read them; a frame is sent as soon as smoltcp has written it.

use super::config;
use crate::platform::Platform;
use core::cell::RefCell;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::Hal;
use virtio_drivers::device::net::{RxBuffer, VirtIONet};
use virtio_drivers::transport::Transport;

/// Descriptors per queue (QEMU's virtio-net default; a power of two as the spec requires).
pub const QUEUE_SIZE: usize = 256;
/// Receive buffer size: an Ethernet frame with the virtio-net header.
const RX_BUFFER_LEN: usize = 2048;
/// Largest frame without the 4-byte FCS: 1500 bytes of payload and the 14-byte header.
const MTU: usize = 1514;

pub struct VirtioNic<H: Hal, T: Transport> {
    device: RefCell<VirtIONet<H, T, QUEUE_SIZE>>,
}

impl<H: Hal, T: Transport> VirtioNic<H, T> {
    pub fn new(transport: T) -> Result<VirtioNic<H, T>, virtio_drivers::Error> {
        let device = VirtIONet::new(transport, RX_BUFFER_LEN)?;
        Ok(VirtioNic {
            device: RefCell::new(device),
        })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.device.borrow().mac_address()
    }

    /// Acknowledges the device's interrupt (needed on transports with a shared line).
    pub fn ack_interrupt(&self) {
        let _ = self.device.borrow_mut().ack_interrupt();
    }
}

impl<H: Hal, T: Transport> Device for VirtioNic<H, T> {
    type RxToken<'a>
        = RxToken<'a, H, T>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, H, T>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let buffer = self.device.get_mut().receive().ok()?;
        Some((
            RxToken {
                device: &self.device,
                buffer,
            },
            TxToken {
                device: &self.device,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        self.device.get_mut().can_send().then_some(TxToken {
            device: &self.device,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(QUEUE_SIZE / 2);
        caps
    }
}

pub struct RxToken<'a, H: Hal, T: Transport> {
    device: &'a RefCell<VirtIONet<H, T, QUEUE_SIZE>>,
    buffer: RxBuffer,
}

impl<H: Hal, T: Transport> phy::RxToken for RxToken<'_, H, T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(self.buffer.packet());
        // Back to the device for the next frame; a failure here leaves one buffer fewer.
        let _ = self.device.borrow_mut().recycle_rx_buffer(self.buffer);
        result
    }
}

pub struct TxToken<'a, H: Hal, T: Transport> {
    device: &'a RefCell<VirtIONet<H, T, QUEUE_SIZE>>,
}

impl<H: Hal, T: Transport> phy::TxToken for TxToken<'_, H, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut device = self.device.borrow_mut();
        let mut buffer = device.new_tx_buffer(len);
        let result = f(buffer.packet_mut());
        // A frame the device refuses is lost, as on a wire; TCP sends it again.
        let _ = device.send(buffer);
        result
    }
}

/// Brings a virtio-net device up as the machine's network: its stack is configured from the
/// command line's `ip=`/`gateway=`/`dns=` words (or DHCP, which starts now and finishes
/// while the app runs) and waits for the app's first socket.
pub fn start<H: Hal + 'static, T: Transport + 'static>(
    p: &'static dyn Platform,
    transport: T,
    plain_words: &[alloc::string::String],
) {
    let nic = match VirtioNic::<H, T>::new(transport) {
        Ok(nic) => nic,
        Err(e) => {
            crate::klog!("net: virtio-net does not start: {e:?}");
            return;
        }
    };
    let mac = nic.mac();
    crate::klog!(
        "net: virtio-net {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5]
    );
    let address = config::from_words(plain_words.iter().map(|w| w.as_str())).unwrap_or_else(|e| {
        crate::kprintln!("mewz: {e}; using DHCP instead");
        config::AddressConfig::Dhcp
    });
    super::install_boot_stack(super::smol::ethernet_stack(
        p,
        "virtio-net",
        nic,
        mac,
        address,
    ));
}
