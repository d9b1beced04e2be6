//! Virtio devices on the PCI bus, handed to the kernel's drivers (`mewz_kernel::virtio`).
//!
//! Each virtio-pci function gets its memory decoding and bus mastering turned on, a
//! virtio-drivers PCI transport, and an interrupt: MSI-X table entry 0 sends a vector of its
//! own ([`DEVICE_VECTORS`]) to this CPU, and the kernel's transport names that entry for every
//! event of the device. Messages, not INTx: qboot sets up no legacy interrupt routing, and a
//! message needs none under SeaBIOS either. The handler only counts and ends the interrupt;
//! waking the CPU from `wait_for_interrupt` is the point.

use super::idt::DEVICE_VECTORS;
use super::pci::{PciAddress, PciDevice};
use super::{lapic, paging, pci};
use crate::pci_config::{self, Bar, ConfigSpace, MSIX_ENTRY_SIZE};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use mewz_kernel::virtio::{DeviceInterrupt, FoundDevice, KernelHal, MsixVectors};
use mewz_kernel::{klog, virtio};
use spin::Mutex;
use virtio_drivers::transport::SomeTransport;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};

const MAX_DEVICES: usize = DEVICE_VECTORS.end as usize - DEVICE_VECTORS.start as usize;
/// Bytes of the common configuration structure the kernel's transport touches.
const COMMON_CONFIG_SIZE: usize = 0x38;

static INTERRUPTS: [AtomicU64; MAX_DEVICES] = [const { AtomicU64::new(0) }; MAX_DEVICES];
static FOUND: Mutex<Vec<FoundDevice>> = Mutex::new(Vec::new());

/// Configuration mechanism #1 (ports 0xCF8/0xCFC) for virtio-drivers.
struct PortCam;

fn address(f: DeviceFunction) -> PciAddress {
    PciAddress {
        bus: f.bus,
        device: f.device,
        function: f.function,
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, f: DeviceFunction, offset: u8) -> u32 {
        address(f).read32(offset)
    }

    fn write_word(&mut self, f: DeviceFunction, offset: u8, data: u32) {
        address(f).write32(offset, data)
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

/// Finds the virtio functions among the PCI devices and sets each up for its driver.
pub fn discover() {
    let mut found = FOUND.lock();
    let virtio_functions = pci::devices().iter().filter(|d| {
        let f = DeviceFunction {
            bus: d.address.bus,
            device: d.address.device,
            function: d.address.function,
        };
        virtio::pci::is_virtio(&PortCam, f)
    });
    for dev in virtio_functions {
        match set_up(dev, found.len()) {
            Ok(f) => found.push(f),
            Err(why) => klog!("virtio: pci {}: {why}; left alone", dev.address),
        }
    }
}

/// The devices found, for the kernel (once).
pub fn take() -> Vec<FoundDevice> {
    core::mem::take(&mut *FOUND.lock())
}

fn set_up(dev: &PciDevice, index: usize) -> Result<FoundDevice, String> {
    let function = DeviceFunction {
        bus: dev.address.bus,
        device: dev.address.device,
        function: dev.address.function,
    };
    dev.enable();
    let mut root = PciRoot::new(PortCam);
    let transport = PciTransport::new::<KernelHal, _>(&mut root, function)
        .map_err(|e| format!("not usable as a virtio-pci device: {e}"))?;
    let (interrupt, msix) = match route_msix(dev, &mut root, function, index) {
        Ok(routed) => (Some(routed.0), Some(routed.1)),
        Err(why) => {
            klog!("virtio: pci {}: {why}; its driver polls", dev.address);
            (None, None)
        }
    };
    Ok(FoundDevice {
        transport: SomeTransport::Pci(transport),
        location: format!("pci {}", dev.address),
        interrupt,
        msix,
    })
}

/// Points MSI-X table entry 0 at this CPU with the device's own vector and turns MSI-X on.
fn route_msix(
    dev: &PciDevice,
    root: &mut PciRoot<PortCam>,
    function: DeviceFunction,
    index: usize,
) -> Result<(DeviceInterrupt, MsixVectors), &'static str> {
    if index >= MAX_DEVICES {
        return Err("more virtio devices than interrupt vectors");
    }
    let table = pci_config::msix_table(&dev.address).ok_or("no MSI-X capability")?;
    let Some(Bar::Memory { address, .. }) = dev.bars().get(table.bar as usize).copied().flatten()
    else {
        return Err("the MSI-X table is not in a memory BAR");
    };
    let entry_phys = address + u64::from(table.offset);
    let entry = paging::map_mmio(entry_phys, MSIX_ENTRY_SIZE)
        .map_err(|_| "cannot map the MSI-X table")? as *mut u32;
    let common = virtio::pci::common_config_address(root, &PortCam, function)?;
    let common_config = paging::map_mmio(common, COMMON_CONFIG_SIZE as u64)
        .map_err(|_| "cannot map the common configuration")? as usize;
    let vector = DEVICE_VECTORS.start + index as u8;
    let (message_address, data) = pci_config::x86_msi_message(lapic::id(), vector);
    // SAFETY: entry 0 of the MSI-X table, mapped uncached just above: address low/high, data,
    // vector control (0 = not masked), written with 32-bit accesses as the spec requires.
    unsafe {
        entry.write_volatile(message_address as u32);
        entry.add(1).write_volatile((message_address >> 32) as u32);
        entry.add(2).write_volatile(data);
        entry.add(3).write_volatile(0);
    }
    pci_config::enable_msix(&dev.address, &table);
    Ok((
        DeviceInterrupt {
            line: u32::from(vector),
            count: &INTERRUPTS[index],
        },
        MsixVectors {
            common_config,
            entry: 0,
        },
    ))
}

/// From the device vectors' stubs: count, and end the interrupt.
#[unsafe(no_mangle)]
extern "C" fn x86_64_device_interrupt(index: u64) {
    if let Some(count) = INTERRUPTS.get(index as usize) {
        count.fetch_add(1, Ordering::Relaxed);
    }
    lapic::end_of_interrupt();
}
