//! The NIC: a virtio-net device (through `virtio-drivers`' raw driver) as a
//! `smoltcp::phy::Device`, over whatever transport the platform found (PCI on x86_64, MMIO on
//! aarch64) and the virtio foundation's DMA `Hal`. Every buffer the device sees is on the heap
//! (the `Hal` shares only kernel memory, and the app's stack is not): receive buffers go back
//! to the device once smoltcp has read them; a frame is queued as soon as smoltcp has written
//! it, and its buffer is reused once the device is done with it (up to [`SPARE_TX_BUFFERS`]
//! of them; a burst's others go back to the heap). Nothing waits for the device.

use super::config;
use super::smol::Interrupts;
use crate::platform::Platform;
use crate::virtio::{DeviceTransport, InterruptLine, KernelHal, VirtioDevice};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::Hal;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;

/// Descriptors per queue (a power of two as the spec requires, at most QEMU's 256).
pub const QUEUE_SIZE: usize = 256;
/// Every buffer: an Ethernet frame (1514 bytes) with the virtio-net header (at most 12).
const BUFFER_LEN: usize = 1536;
/// Largest frame without the 4-byte FCS: 1500 bytes of payload and the 14-byte header.
const MTU: usize = 1514;
/// Sent frames' buffers kept for the next frames. How many frames are in the device at once
/// depends on how soon QEMU's main loop takes them; buffers beyond this many go back to the
/// heap when the device is done with them, so a burst does not keep its peak.
const SPARE_TX_BUFFERS: usize = 32;
/// Transmit buffers alive: spare, in the device, or a frame for the machine itself.
static TX_BUFFERS: AtomicUsize = AtomicUsize::new(0);

/// Heap bytes held by frames to send and their spare buffers (the counters line reports them:
/// how many there are depends on the device's pace, not on the app).
pub fn transmit_buffer_bytes() -> usize {
    TX_BUFFERS.load(Ordering::Relaxed) * BUFFER_LEN
}

/// A device whose interrupt is not routed is looked at this often while the app waits.
const POLL_WITHOUT_INTERRUPT_NS: u64 = 1_000_000;

struct Queues<H: Hal, T: Transport> {
    raw: Box<VirtIONetRaw<H, T, QUEUE_SIZE>>,
    /// Receive buffers the device holds, by token.
    rx: Vec<Option<Box<[u8]>>>,
    /// Frames the device is sending, by token, with their length.
    tx: Vec<Option<(Box<[u8]>, usize)>>,
    /// Sent frames' buffers, for the next ones.
    spare: Vec<Box<[u8]>>,
    /// Frames the machine sent to itself, taken in before the device's (see [`hairpin`]).
    ///
    /// [`hairpin`]: super::smol::hairpin
    local: VecDeque<(Box<[u8]>, Range<usize>)>,
    mac: [u8; 6],
}

impl<H: Hal, T: Transport> Queues<H, T> {
    /// Hands a receive buffer (back) to the device.
    fn give_rx(&mut self, mut buf: Box<[u8]>) {
        // SAFETY: the buffer is on the heap and is kept in `rx` until the device returns it.
        if let Ok(token) = unsafe { self.raw.receive_begin(&mut buf) } {
            self.rx[token as usize] = Some(buf);
        }
    }

    /// Takes back the buffers of frames the device has sent.
    fn reap_tx(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some((buf, len)) = self.tx[token as usize].take() else {
                break;
            };
            // SAFETY: the same buffer and length as given to `transmit_begin` for this token.
            let _ = unsafe { self.raw.transmit_complete(token, &buf[..len]) };
            self.recycle(buf);
        }
    }

    /// A transmit buffer: a spare one, or a new one.
    fn tx_buffer(&mut self) -> Box<[u8]> {
        self.spare.pop().unwrap_or_else(|| {
            TX_BUFFERS.fetch_add(1, Ordering::Relaxed);
            alloc::vec![0u8; BUFFER_LEN].into_boxed_slice()
        })
    }

    /// Keeps a transmit buffer for the next frame, or frees it.
    fn recycle(&mut self, buf: Box<[u8]>) {
        if self.spare.len() < SPARE_TX_BUFFERS {
            self.spare.push(buf);
        } else {
            TX_BUFFERS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub struct VirtioNic<H: Hal, T: Transport> {
    queues: RefCell<Queues<H, T>>,
    line: InterruptLine,
    mac: [u8; 6],
}

impl<H: Hal, T: Transport> VirtioNic<H, T> {
    pub fn new(
        transport: T,
        line: InterruptLine,
    ) -> Result<VirtioNic<H, T>, virtio_drivers::Error> {
        let raw = Box::new(VirtIONetRaw::new(transport)?);
        let mac = raw.mac_address();
        let mut queues = Queues {
            raw,
            rx: (0..QUEUE_SIZE).map(|_| None).collect(),
            tx: (0..QUEUE_SIZE).map(|_| None).collect(),
            spare: Vec::with_capacity(SPARE_TX_BUFFERS),
            local: VecDeque::new(),
            mac,
        };
        for _ in 0..QUEUE_SIZE {
            queues.give_rx(vec![0u8; BUFFER_LEN].into_boxed_slice());
        }
        Ok(VirtioNic {
            queues: RefCell::new(queues),
            line,
            mac,
        })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
}

impl<H: Hal, T: Transport> Interrupts for VirtioNic<H, T> {
    /// Acknowledges the device and lets its line through again, before the stack looks at the
    /// queues: a frame that arrives after the look still wakes the next wait.
    fn acknowledge(&mut self) {
        let _ = self.queues.get_mut().raw.ack_interrupt();
        self.line.unmask();
    }

    fn longest_sleep_ns(&self) -> u64 {
        if !self.queues.borrow().local.is_empty() {
            0
        } else if self.line.routed() {
            u64::MAX
        } else {
            POLL_WITHOUT_INTERRUPT_NS
        }
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
        let q = self.queues.get_mut();
        if let Some((buf, frame)) = q.local.pop_front() {
            return Some((
                RxToken {
                    queues: &self.queues,
                    buf: Some(buf),
                    frame,
                    local: true,
                },
                TxToken {
                    queues: &self.queues,
                },
            ));
        }
        let (buf, header, len) = loop {
            let token = q.raw.poll_receive()?;
            let mut buf = q.rx[token as usize].take()?;
            // SAFETY: the buffer given to `receive_begin` for this token.
            let (header, len) = match unsafe { q.raw.receive_complete(token, &mut buf) } {
                Ok(frame) => frame,
                Err(_) => {
                    q.give_rx(buf);
                    return None;
                }
            };
            // Loopback addresses belong to the machine alone: such frames from the wire go.
            if super::smol::hairpin::loopback_from_the_wire(&buf[header..header + len]) {
                q.give_rx(buf);
                continue;
            }
            break (buf, header, len);
        };
        Some((
            RxToken {
                queues: &self.queues,
                buf: Some(buf),
                frame: header..header + len,
                local: false,
            },
            TxToken {
                queues: &self.queues,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        let q = self.queues.get_mut();
        q.reap_tx();
        q.raw.can_send().then_some(TxToken {
            queues: &self.queues,
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
    queues: &'a RefCell<Queues<H, T>>,
    buf: Option<Box<[u8]>>,
    frame: Range<usize>,
    /// A frame of the machine's own: its buffer goes back to the transmit side.
    local: bool,
}

impl<H: Hal, T: Transport> RxToken<'_, H, T> {
    fn give_back(&mut self) {
        if let Some(buf) = self.buf.take() {
            let mut q = self.queues.borrow_mut();
            if self.local {
                q.recycle(buf);
            } else {
                q.give_rx(buf);
            }
        }
    }
}

impl<H: Hal, T: Transport> phy::RxToken for RxToken<'_, H, T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(mut self, f: F) -> R {
        let buf = self.buf.as_deref().expect("a token is consumed once");
        let result = f(buf.get(self.frame.clone()).unwrap_or(&[]));
        self.give_back();
        result
    }
}

impl<H: Hal, T: Transport> Drop for RxToken<'_, H, T> {
    /// A token smoltcp drops unread still gives its buffer back.
    fn drop(&mut self) {
        self.give_back();
    }
}

pub struct TxToken<'a, H: Hal, T: Transport> {
    queues: &'a RefCell<Queues<H, T>>,
}

impl<H: Hal, T: Transport> phy::TxToken for TxToken<'_, H, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut q = self.queues.borrow_mut();
        q.reap_tx();
        let mut buf = q.tx_buffer();
        let header = q.raw.fill_buffer_header(&mut buf).unwrap_or(0);
        let total = (header + len).min(buf.len());
        let result = f(&mut buf[header..total]);
        if super::smol::hairpin::for_this_machine(q.mac, &mut buf[header..total]) {
            if q.local.len() < QUEUE_SIZE {
                q.local.push_back((buf, header..total));
            } else {
                // As a full transmit queue: the frame is lost and TCP sends it again.
                q.recycle(buf);
            }
            return result;
        }
        // SAFETY: the buffer is on the heap and is kept in `tx` until the device is done.
        match unsafe { q.raw.transmit_begin(&buf[..total]) } {
            Ok(token) => q.tx[token as usize] = Some((buf, total)),
            // A full queue loses the frame, as a wire would; TCP sends it again.
            Err(_) => q.recycle(buf),
        }
        result
    }
}

/// Brings the machine's virtio-net device (if it has one) up as its network: the stack is
/// configured from the command line's `ip=`/`gateway=`/`dns=` words (or DHCP, which starts
/// now and finishes while the app runs) and waits for the app's first socket.
pub fn start(p: &'static dyn Platform, plain_words: &[alloc::string::String]) {
    let Some(device) = crate::virtio::take(virtio_drivers::transport::DeviceType::Network) else {
        return;
    };
    start_device(p, device, plain_words);
}

fn start_device(
    p: &'static dyn Platform,
    device: VirtioDevice,
    plain_words: &[alloc::string::String],
) {
    let location = device.location.clone();
    let interrupt = device.interrupt_name();
    let (transport, line) = device.into_parts();
    let nic = match VirtioNic::<KernelHal, DeviceTransport>::new(transport, line) {
        Ok(nic) => nic,
        Err(e) => {
            crate::kprintln!("mewz: the virtio-net device at {location} does not start: {e:?}");
            return;
        }
    };
    let mac = nic.mac();
    crate::klog!(
        "net: virtio-net at {location}, {interrupt}, mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
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
