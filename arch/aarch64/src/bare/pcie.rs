//! Virtio-pci functions behind the device tree's generic PCIe host bridge (QEMU `virt`'s, where
//! urunc attaches `virtio-net-pci`), handed to the kernel's drivers with the virtio-mmio ones.
//!
//! Nothing configured the bus before us (QEMU `-kernel` runs no firmware), so every function of
//! the root bus gets addresses for its BARs from the bridge's 32-bit memory and I/O windows.
//! A virtio function then interrupts by message when the machine has a GICv2m frame (`virt`
//! with its default GICv2): MSI-X table entry 0 writes the ID of an SPI of its own (edge
//! triggered) to the frame. Without one (GICv3, whose ITS we do not drive) it uses its legacy
//! INTx pin, routed through the bridge's `interrupt-map` to a level-triggered SPI that several
//! functions may share. Functions behind PCI-to-PCI bridges are not used (QEMU's `virt` puts
//! devices on the root bus unless told otherwise); the log says so.

use super::{paging, virtio};
use crate::memory_map::Range;
use crate::pcie_host::{self, PciHost};
use alloc::format;
use alloc::string::String;
use core::ptr::NonNull;
use fdt::Fdt;
use mewz_kernel::klog;
use mewz_kernel::virtio::pci::{self as virtio_pci, AddressWindow, MSIX_ENTRY_SIZE};
use mewz_kernel::virtio::{DeviceInterrupt, FoundDevice, KernelHal, MsixVectors};
use virtio_drivers::transport::SomeTransport;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{
    ConfigurationAccess, DeviceFunction, HeaderType, PciRoot,
};

/// GICv2m registers: the SPIs the frame serves (`MSI_TYPER`), and the register a message
/// writes an SPI's ID to (`MSI_SETSPI_NS`).
const V2M_MSI_TYPER: usize = 0x008;
const V2M_MSI_SETSPI_NS: u64 = 0x040;
/// Bytes of the common configuration structure the kernel's transport touches.
const COMMON_CONFIG_SIZE: usize = 0x38;

/// ECAM access to the buses whose configuration space is mapped (`first..=last`); other buses
/// read as empty.
#[derive(Clone, Copy)]
struct Ecam {
    base: usize,
    first_bus: u8,
    last_bus: u8,
}

impl Ecam {
    fn register(&self, f: DeviceFunction, offset: u8) -> Option<*mut u32> {
        if f.bus < self.first_bus || f.bus > self.last_bus || !f.valid() {
            return None;
        }
        let index = (usize::from(f.bus - self.first_bus) << 20)
            | (usize::from(f.device) << 15)
            | (usize::from(f.function) << 12)
            | usize::from(offset & 0xfc);
        Some((self.base + index) as *mut u32)
    }
}

impl ConfigurationAccess for Ecam {
    fn read_word(&self, f: DeviceFunction, offset: u8) -> u32 {
        match self.register(f, offset) {
            // SAFETY: the ECAM space of the buses in range is mapped as Device memory for the
            // kernel's lifetime (see `discover`); the register is aligned.
            Some(r) => unsafe { r.read_volatile() },
            None => u32::MAX,
        }
    }

    fn write_word(&mut self, f: DeviceFunction, offset: u8, data: u32) {
        if let Some(r) = self.register(f, offset) {
            // SAFETY: as in `read_word`; configuration writes reprogram the function (BARs,
            // command, MSI-X), never RAM.
            unsafe { r.write_volatile(data) }
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        *self
    }
}

/// The GICv2m frame's SPIs, handed out one per function.
struct MsiFrame {
    doorbell: u64,
    next: u32,
    end: u32,
}

impl MsiFrame {
    fn new(frame: Range) -> Option<MsiFrame> {
        let regs = paging::map_device_memory(frame.start, frame.len()).ok()? as usize;
        // SAFETY: MSI_TYPER of the frame just mapped: a plain read.
        let typer = unsafe { ((regs + V2M_MSI_TYPER) as *const u32).read_volatile() };
        let first = (typer >> 16) & 0x3ff;
        let count = typer & 0x3ff;
        (count > 0).then_some(MsiFrame {
            doorbell: frame.start + V2M_MSI_SETSPI_NS,
            next: first,
            end: first + count,
        })
    }

    fn allocate(&mut self) -> Option<u32> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// Finds the host bridge, configures its root bus and hands its virtio functions over.
pub fn discover(fdt: &'static Fdt<'static>) {
    let Some(host) = pcie_host::pci_host(fdt) else {
        return;
    };
    let root_bus = host.ecam_through(host.first_bus);
    let base = match paging::map_device_memory(root_bus.start, root_bus.len()) {
        Ok(v) => v as usize,
        Err(e) => {
            klog!(
                "pcie: cannot map the ECAM window at {:#x}: {e}",
                host.ecam.start
            );
            return;
        }
    };
    let ecam = Ecam {
        base,
        first_bus: host.first_bus,
        last_bus: host.first_bus,
    };
    klog!(
        "pcie: host bridge, ECAM {:#x} (bus {}), 32-bit window {}, I/O window {}",
        host.ecam.start,
        host.first_bus,
        window_name(host.memory32),
        window_name(host.io)
    );
    let (Some(memory32), io) = (host.memory32, host.io) else {
        klog!("pcie: no 32-bit memory window: devices left alone");
        return;
    };
    if memory32.cpu != memory32.pci {
        klog!("pcie: the memory window is translated (bus != CPU address): devices left alone");
        return;
    }
    let mut memory = AddressWindow {
        next: memory32.pci,
        end: memory32.pci + memory32.size,
    };
    // I/O BARs get addresses too (a transitional device has one), though nothing uses them.
    let mut ports = io.map_or(AddressWindow { next: 0, end: 0 }, |w| AddressWindow {
        next: w.pci.max(0x1000),
        end: w.pci + w.size,
    });
    let mut msi = pcie_host::gic_v2m_frame(fdt).and_then(MsiFrame::new);
    let mut root = PciRoot::new(ecam);
    for (function, info) in root.enumerate_bus(host.first_bus) {
        if info.header_type != HeaderType::Standard {
            if info.header_type == HeaderType::PciPciBridge {
                klog!("pcie: {function}: a PCI bridge; the devices behind it are not used");
            }
            continue;
        }
        // The host bridge's own function: nothing to give addresses to, and sizing BARs turns
        // decoding off for a moment, which a host bridge may apply to more than itself.
        if (info.class, info.subclass) == (0x06, 0x00) {
            continue;
        }
        if let Err(why) = virtio_pci::assign_bars(&mut root, function, &mut memory, &mut ports) {
            klog!("pcie: {function} {info}: {why}; left alone");
            continue;
        }
        if !virtio_pci::is_virtio(&ecam, function) {
            continue;
        }
        match set_up(&host, fdt, &mut root, ecam, function, msi.as_mut()) {
            Ok(device) => virtio::add(device),
            Err(why) => klog!("virtio: pci {function}: {why}; left alone"),
        }
    }
}

fn window_name(w: Option<pcie_host::Window>) -> String {
    w.map_or_else(|| "none".into(), |w| format!("{:#x}+{:#x}", w.cpu, w.size))
}

fn set_up(
    host: &PciHost<'_>,
    fdt: &Fdt<'_>,
    root: &mut PciRoot<Ecam>,
    ecam: Ecam,
    function: DeviceFunction,
    msi: Option<&mut MsiFrame>,
) -> Result<FoundDevice, String> {
    let transport = PciTransport::new::<KernelHal, _>(root, function)
        .map_err(|e| format!("not usable as a virtio-pci device: {e}"))?;
    let (interrupt, msix) = match msi.map(|frame| route_msi(root, ecam, function, frame)) {
        Some(Ok((interrupt, vectors))) => (Some(interrupt), Some(vectors)),
        routed => {
            if let Some(Err(why)) = routed {
                klog!("virtio: pci {function}: no MSI ({why}); trying its INTx pin");
            }
            let interrupt = route_intx(host, fdt, ecam, function).unwrap_or_else(|why| {
                klog!("virtio: pci {function}: {why}; its driver polls");
                None
            });
            (interrupt, None)
        }
    };
    Ok(FoundDevice {
        transport: SomeTransport::Pci(transport),
        location: format!("pci {function}"),
        interrupt,
        msix,
    })
}

/// Points MSI-X table entry 0 at an SPI of the GICv2m frame and turns MSI-X on.
fn route_msi(
    root: &mut PciRoot<Ecam>,
    mut ecam: Ecam,
    function: DeviceFunction,
    frame: &mut MsiFrame,
) -> Result<(DeviceInterrupt, MsixVectors), &'static str> {
    let table = virtio_pci::msix_table(root, &ecam, function).ok_or("no MSI-X capability")?;
    let (bar_address, _) = root
        .bar_info(function, table.bar)
        .ok()
        .flatten()
        .and_then(|b| b.memory_address_size())
        .ok_or("the MSI-X table is not in a memory BAR")?;
    let common = virtio_pci::common_config_address(root, &ecam, function)?;
    let entry = paging::map_device_memory(bar_address + u64::from(table.offset), MSIX_ENTRY_SIZE)
        .map_err(|_| "cannot map the MSI-X table")? as *mut u32;
    let common_config = paging::map_device_memory(common, COMMON_CONFIG_SIZE as u64)
        .map_err(|_| "cannot map the common configuration")? as usize;
    let spi = frame.allocate().ok_or("the MSI frame has no SPI left")?;
    let interrupt = virtio::enable_line(spi, true)?;
    let entry = NonNull::new(entry).ok_or("the MSI-X table maps at address 0")?;
    // SAFETY: entry 0 of the MSI-X table, mapped as Device memory just above: address
    // low/high, data, vector control (0 = not masked), written with 32-bit accesses as the
    // spec requires.
    unsafe {
        let e = entry.as_ptr();
        e.write_volatile(frame.doorbell as u32);
        e.add(1).write_volatile((frame.doorbell >> 32) as u32);
        e.add(2).write_volatile(spi);
        e.add(3).write_volatile(0);
    }
    virtio_pci::enable_msix(&mut ecam, function, &table);
    Ok((
        interrupt,
        MsixVectors {
            common_config,
            entry: 0,
        },
    ))
}

/// Routes the function's INTx pin through the bridge's interrupt map.
fn route_intx(
    host: &PciHost<'_>,
    fdt: &Fdt<'_>,
    ecam: Ecam,
    function: DeviceFunction,
) -> Result<Option<DeviceInterrupt>, &'static str> {
    let pin = virtio_pci::interrupt_pin(&ecam, function).ok_or("no INTx pin")?;
    let irq = host
        .intx(fdt, function.bus, function.device, function.function, pin)
        .ok_or("its INTx pin is not in the interrupt map")?;
    virtio::route_spi(irq).map(Some)
}
