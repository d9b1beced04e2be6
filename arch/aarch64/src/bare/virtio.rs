//! Virtio devices from the device tree's virtio-mmio nodes (and, through `pcie`, the PCIe host
//! bridge's virtio-pci functions), handed to the kernel's drivers (`mewz_kernel::virtio`).
//!
//! Each transport with a device behind it (QEMU `virt` has 32 slots, most empty) gets a
//! virtio-drivers MMIO transport and its GIC shared peripheral interrupt, routed to this CPU
//! with the trigger the device tree gives. The handler counts the interrupt and masks the line
//! until the driver has acknowledged the device (`unmask_device_interrupt`): a level-triggered
//! line would otherwise keep the CPU awake until then. Devices sharing a line (PCI INTx) share
//! its count.

use super::gic;
use crate::machine::{self, Interrupt, VirtioMmio};
use alloc::format;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use fdt::Fdt;
use mewz_kernel::klog;
use mewz_kernel::virtio::{DeviceInterrupt, FoundDevice};
use spin::Mutex;
use virtio_drivers::transport::SomeTransport;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};

/// At most this many interrupt lines serve devices (QEMU `virt` has 32 transports, and the
/// PCIe functions' lines come on top).
const MAX_DEVICES: usize = 48;
/// Device tree interrupt flags (GIC binding): edge rising / level high.
const EDGE_RISING: u32 = 1;
const LEVEL_HIGH: u32 = 4;

static LINES: [AtomicU32; MAX_DEVICES] = [const { AtomicU32::new(0) }; MAX_DEVICES];
static INTERRUPTS: [AtomicU64; MAX_DEVICES] = [const { AtomicU64::new(0) }; MAX_DEVICES];
static FOUND: Mutex<Vec<FoundDevice>> = Mutex::new(Vec::new());

/// Finds the virtio-mmio transports with a device and sets each up for its driver.
pub fn discover(fdt: &Fdt<'_>) {
    let mut found = FOUND.lock();
    for v in machine::virtio_mmio(fdt) {
        let base = v.registers.start;
        let Some(header) = NonNull::new(base as *mut VirtIOHeader) else {
            continue;
        };
        // SAFETY: the device tree's virtio-mmio frames are mapped as Device memory for the
        // kernel's lifetime (see `paging::init_kernel_map`), and each is handed out once.
        match unsafe { MmioTransport::new(header, v.registers.len() as usize) } {
            Ok(transport) => {
                let interrupt = route(&v).unwrap_or_else(|why| {
                    klog!("virtio: mmio {base:#x}: {why}; its driver polls");
                    None
                });
                found.push(FoundDevice {
                    transport: SomeTransport::Mmio(transport),
                    location: format!("mmio {base:#x}"),
                    interrupt,
                    msix: None,
                });
            }
            // An empty slot: device ID 0.
            Err(MmioError::InvalidDeviceID(_)) => {}
            Err(e) => klog!("virtio: mmio {base:#x}: {e}; left alone"),
        }
    }
}

/// Routes the transport's SPI to this CPU.
fn route(v: &VirtioMmio) -> Result<Option<DeviceInterrupt>, &'static str> {
    let Some(irq) = v.interrupt else {
        return Err("no interrupt in the device tree");
    };
    route_spi(irq).map(Some)
}

/// Routes a device-tree SPI (edge rising or level high) to this CPU.
pub fn route_spi(irq: Interrupt) -> Result<DeviceInterrupt, &'static str> {
    if irq.kind != 0 {
        return Err("its interrupt is not a shared peripheral interrupt");
    }
    let edge = match irq.flags & 0xf {
        EDGE_RISING => true,
        LEVEL_HIGH => false,
        _ => return Err("its interrupt trigger is not one the GIC supports"),
    };
    enable_line(irq.intid(), edge)
}

/// Enables SPI `intid` for a device, with a count of its interrupts (shared with the other
/// devices on the same line).
pub fn enable_line(intid: u32, edge: bool) -> Result<DeviceInterrupt, &'static str> {
    let slot = match LINES
        .iter()
        .position(|l| l.load(Ordering::Relaxed) == intid)
    {
        Some(shared) => shared,
        None => {
            let free = LINES
                .iter()
                .position(|l| l.load(Ordering::Relaxed) == 0)
                .ok_or("more device interrupt lines than slots")?;
            gic::enable_spi(intid, edge)?;
            LINES[free].store(intid, Ordering::Relaxed);
            free
        }
    };
    Ok(DeviceInterrupt {
        line: intid,
        count: &INTERRUPTS[slot],
    })
}

/// Adds a device found elsewhere (the PCIe host bridge) to those handed over.
pub fn add(device: FoundDevice) {
    FOUND.lock().push(device);
}

/// The devices found, for the kernel (once).
pub fn take() -> Vec<FoundDevice> {
    core::mem::take(&mut *FOUND.lock())
}

/// From the IRQ handler: whether `intid` is a device's; if so it is counted and masked until
/// the driver looked at the device.
pub fn on_interrupt(intid: u32) -> bool {
    let Some(i) = LINES
        .iter()
        .position(|l| l.load(Ordering::Relaxed) == intid)
    else {
        return false;
    };
    INTERRUPTS[i].fetch_add(1, Ordering::Relaxed);
    gic::mask_spi(intid);
    true
}

/// A driver looked at its device: let its line through again.
pub fn unmask(intid: u32) {
    if LINES.iter().any(|l| l.load(Ordering::Relaxed) == intid) {
        gic::unmask_spi(intid);
    }
}
