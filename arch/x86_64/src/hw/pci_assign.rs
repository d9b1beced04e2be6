//! Address assignment for PCI devices the firmware left unconfigured (qboot and other minimal
//! firmware do; SeaBIOS does not need us). Every BAR gets space in the 32-bit PCI hole, every
//! bridge a window around what lies behind it.

use super::pci::{PciAddress, PciDevice};
use crate::pci_config::{
    self, AddressWindow, Bar, ConfigSpace, bridge_io_window, bridge_memory_window,
};

/// The PCI hole ends where the chipset's fixed devices start (IOAPIC at 0xfec0_0000).
const HOLE_END: u64 = 0xfec0_0000;
/// The hole never starts below this: q35 puts its ECAM window at 0xb000_0000..0xc000_0000.
const HOLE_MIN_START: u64 = 0xc000_0000;
/// I/O ports below this belong to legacy ISA devices.
const IO_START: u64 = 0xc000;
const IO_END: u64 = 0x1_0000;
const BRIDGE_MEMORY_GRANULE: u64 = 1 << 20;
const BRIDGE_IO_GRANULE: u64 = 1 << 12;

const BRIDGE_BUS_NUMBERS: u8 = 0x18;
const BRIDGE_IO_BASE_LIMIT: u8 = 0x1c;
const BRIDGE_MEMORY_BASE_LIMIT: u8 = 0x20;
const BRIDGE_PREFETCH_BASE_LIMIT: u8 = 0x24;
const BRIDGE_PREFETCH_BASE_UPPER: u8 = 0x28;
const BRIDGE_PREFETCH_LIMIT_UPPER: u8 = 0x2c;
const BRIDGE_IO_UPPER: u8 = 0x30;

fn is_bridge(d: &PciDevice) -> bool {
    d.class == 0x06 && d.subclass == 0x04
}

/// Whether the firmware assigned addresses: it did if any memory BAR holds one.
fn firmware_assigned(devices: &[PciDevice]) -> bool {
    devices.iter().any(|d| {
        d.bars()
            .iter()
            .flatten()
            .any(|b| matches!(b, Bar::Memory { address, .. } if *address != 0))
    })
}

/// Assigns addresses to every BAR and bridge window, unless the firmware already did.
/// `ram_top_below_4g` is where RAM below 4 GiB ends (the hole starts above it).
/// Returns whether it assigned anything.
pub fn assign_if_needed(devices: &[PciDevice], ram_top_below_4g: u64) -> bool {
    if devices.is_empty() || firmware_assigned(devices) {
        return false;
    }
    let hole_start = ram_top_below_4g
        .next_multiple_of(1 << 28)
        .max(HOLE_MIN_START);
    let mut memory = AddressWindow {
        next: hole_start,
        end: HOLE_END,
    };
    let mut io = AddressWindow {
        next: IO_START,
        end: IO_END,
    };
    assign_bus(0, devices, &mut memory, &mut io, 0);
    true
}

fn assign_bus(
    bus: u8,
    devices: &[PciDevice],
    memory: &mut AddressWindow,
    io: &mut AddressWindow,
    depth: u32,
) {
    // Bridges form a tree; a malformed bus numbering must not recurse for ever.
    if depth > 32 {
        return;
    }
    for dev in devices.iter().filter(|d| d.address.bus == bus) {
        assign_bars(dev, memory, io);
        if !is_bridge(dev) {
            continue;
        }
        let secondary = (dev.address.read32(BRIDGE_BUS_NUMBERS) >> 8) as u8;
        memory.align_to(BRIDGE_MEMORY_GRANULE);
        io.align_to(BRIDGE_IO_GRANULE);
        let (memory_start, io_start) = (memory.next, io.next);
        if secondary > bus {
            assign_bus(secondary, devices, memory, io, depth + 1);
        }
        memory.align_to(BRIDGE_MEMORY_GRANULE);
        io.align_to(BRIDGE_IO_GRANULE);
        program_bridge(dev.address, memory_start..memory.next, io_start..io.next);
    }
}

fn assign_bars(dev: &PciDevice, memory: &mut AddressWindow, io: &mut AddressWindow) {
    for (i, bar) in dev.bars().iter().enumerate() {
        let offset = 0x10 + 4 * i as u8;
        match *bar {
            // 64-bit BARs go below 4 GiB too: the hole has room and every device reaches it.
            Some(Bar::Memory { size, is_64bit, .. }) => {
                if let Some(address) = memory.allocate(size, size) {
                    let low = dev.address.read32(offset) & 0xf;
                    dev.address.write32(offset, address as u32 | low);
                    if is_64bit {
                        dev.address.write32(offset + 4, (address >> 32) as u32);
                    }
                }
            }
            Some(Bar::Io { size, .. }) => {
                if let Some(port) = io.allocate(size as u64, size as u64) {
                    dev.address.write32(offset, port as u32 | 1);
                }
            }
            None => {}
        }
    }
}

fn program_bridge(bridge: PciAddress, memory: core::ops::Range<u64>, io: core::ops::Range<u64>) {
    bridge.write32(
        BRIDGE_MEMORY_BASE_LIMIT,
        bridge_memory_window(memory.start, memory.end),
    );
    // Everything, prefetchable or not, lives in the memory window; close the other one.
    bridge.write32(BRIDGE_PREFETCH_BASE_LIMIT, bridge_memory_window(0, 0));
    bridge.write32(BRIDGE_PREFETCH_BASE_UPPER, 0);
    bridge.write32(BRIDGE_PREFETCH_LIMIT_UPPER, 0);
    // The upper half is the secondary status, write-one-to-clear: zeros leave it alone.
    bridge.write32(
        BRIDGE_IO_BASE_LIMIT,
        bridge_io_window(io.start, io.end) as u32,
    );
    bridge.write32(BRIDGE_IO_UPPER, 0);
    // The bridge forwards only what its command register lets through.
    let command = bridge.read32(pci_config::COMMAND) & 0xffff;
    bridge.write32(
        pci_config::COMMAND,
        command
            | pci_config::COMMAND_IO
            | pci_config::COMMAND_MEMORY
            | pci_config::COMMAND_BUS_MASTER,
    );
}
