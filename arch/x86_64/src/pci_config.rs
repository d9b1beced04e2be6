//! Decoding PCI configuration space: BARs (with sizing) and the capability list. Pure logic over
//! [`ConfigSpace`], so it is host-tested against a model of a device; `hw/pci.rs` provides the
//! port-I/O access.

use core::fmt;

/// Access to one function's 256-byte configuration header (dword granularity, as mechanism #1
/// and ECAM both provide).
pub trait ConfigSpace {
    fn read32(&self, offset: u8) -> u32;
    fn write32(&self, offset: u8, value: u32);

    fn read16(&self, offset: u8) -> u16 {
        (self.read32(offset & !3) >> ((offset & 2) * 8)) as u16
    }

    fn read8(&self, offset: u8) -> u8 {
        (self.read32(offset & !3) >> ((offset & 3) * 8)) as u8
    }
}

pub const COMMAND: u8 = 0x04;
pub const COMMAND_IO: u32 = 1 << 0;
pub const COMMAND_MEMORY: u32 = 1 << 1;
pub const COMMAND_BUS_MASTER: u32 = 1 << 2;
/// Keeps the function from asserting its legacy INTx line (it interrupts by message instead).
pub const COMMAND_INTX_DISABLE: u32 = 1 << 10;
pub const CAPABILITY_MSIX: u8 = 0x11;
const MSIX_ENABLE: u32 = 1 << 15;
const MSIX_FUNCTION_MASK: u32 = 1 << 14;
/// Bytes per MSI-X table entry: address low, address high, data, vector control.
pub const MSIX_ENTRY_SIZE: u64 = 16;
const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
const HEADER_TYPE: u8 = 0x0e;
const BAR0: u8 = 0x10;
const CAPABILITIES_POINTER: u8 = 0x34;

/// A decoded base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    Memory {
        address: u64,
        size: u64,
        prefetchable: bool,
        is_64bit: bool,
    },
    Io {
        port: u32,
        size: u32,
    },
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Bar::Memory {
                address,
                size,
                prefetchable,
                is_64bit,
            } => write!(
                f,
                "mem{}{} {address:#x}+{size:#x}",
                if is_64bit { "64" } else { "32" },
                if prefetchable { " pref" } else { "" }
            ),
            Bar::Io { port, size } => write!(f, "io {port:#x}+{size:#x}"),
        }
    }
}

/// Number of BARs the header layout has (type 0: 6, PCI-to-PCI bridge: 2, others none).
fn bar_count(cfg: &impl ConfigSpace) -> u8 {
    match cfg.read8(HEADER_TYPE) & 0x7f {
        0 => 6,
        1 => 2,
        _ => 0,
    }
}

/// Writes all ones to a BAR register and returns what sticks, restoring the original.
fn probe_mask(cfg: &impl ConfigSpace, offset: u8) -> (u32, u32) {
    let original = cfg.read32(offset);
    cfg.write32(offset, u32::MAX);
    let mask = cfg.read32(offset);
    cfg.write32(offset, original);
    (original, mask)
}

/// Decodes and sizes every BAR, indexed by BAR number (the upper half of a 64-bit BAR is
/// `None`). Decoding is switched off while sizing so the probe value never decodes.
pub fn bars(cfg: &impl ConfigSpace) -> [Option<Bar>; 6] {
    let mut out = [None; 6];
    let count = bar_count(cfg);
    let command = cfg.read32(COMMAND);
    cfg.write32(COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY) & 0xffff);
    let mut i = 0;
    while i < count {
        let offset = BAR0 + 4 * i;
        let (low, low_mask) = probe_mask(cfg, offset);
        if low & 1 == 1 {
            let size = (!(low_mask & !3)).wrapping_add(1) & 0xffff;
            if size != 0 && low_mask != 0 {
                out[i as usize] = Some(Bar::Io {
                    port: low & !3,
                    size,
                });
            }
            i += 1;
            continue;
        }
        let is_64bit = (low >> 1) & 3 == 2 && i + 1 < count;
        let (high, high_mask) = if is_64bit {
            probe_mask(cfg, offset + 4)
        } else {
            (0, u32::MAX)
        };
        let mask = (high_mask as u64) << 32 | (low_mask & !0xf) as u64;
        if low_mask & !0xf != 0 || (is_64bit && high_mask != 0) {
            out[i as usize] = Some(Bar::Memory {
                address: (high as u64) << 32 | (low & !0xf) as u64,
                size: (!mask).wrapping_add(1),
                prefetchable: low & 8 != 0,
                is_64bit,
            });
        }
        i += if is_64bit { 2 } else { 1 };
    }
    cfg.write32(COMMAND, command & 0xffff);
    out
}

/// One entry of the capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// Offset of the capability in configuration space.
    pub offset: u8,
    /// Capability ID (0x09 vendor-specific, as virtio uses; 0x11 MSI-X; ...).
    pub id: u8,
}

/// The capability list; a malformed (looping) list ends after 48 entries, all that fit.
pub fn capabilities(cfg: &impl ConfigSpace) -> impl Iterator<Item = Capability> + '_ {
    let mut next = if cfg.read32(COMMAND) & STATUS_CAPABILITIES != 0 {
        cfg.read8(CAPABILITIES_POINTER) & 0xfc
    } else {
        0
    };
    let mut remaining = 48;
    core::iter::from_fn(move || {
        if next < 0x40 || remaining == 0 {
            return None;
        }
        remaining -= 1;
        let offset = next;
        let header = cfg.read16(offset);
        next = (header >> 8) as u8 & 0xfc;
        Some(Capability {
            offset,
            id: header as u8,
        })
    })
}

/// Where a function's MSI-X table lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixTable {
    /// Offset of the MSI-X capability in configuration space.
    pub capability: u8,
    /// The BAR holding the table, and the table's offset in it.
    pub bar: u8,
    pub offset: u32,
    /// Number of entries (vectors).
    pub entries: u16,
}

/// The function's MSI-X table, if it has the capability.
pub fn msix_table(cfg: &impl ConfigSpace) -> Option<MsixTable> {
    let cap = capabilities(cfg).find(|c| c.id == CAPABILITY_MSIX)?;
    let control = cfg.read16(cap.offset + 2);
    let table = cfg.read32(cap.offset + 4);
    Some(MsixTable {
        capability: cap.offset,
        bar: (table & 7) as u8,
        offset: table & !7,
        entries: (control & 0x7ff) + 1,
    })
}

/// Turns MSI-X on with no vector masked function-wide, and the legacy INTx line off.
pub fn enable_msix(cfg: &impl ConfigSpace, table: &MsixTable) {
    // The capability's first dword: ID and next pointer (read-only) and message control.
    let header = cfg.read32(table.capability);
    let control = ((header >> 16) | MSIX_ENABLE) & !MSIX_FUNCTION_MASK;
    cfg.write32(table.capability, (header & 0xffff) | control << 16);
    // The upper half is the status, write-one-to-clear: zeros leave it alone.
    let command = cfg.read32(COMMAND) & 0xffff;
    cfg.write32(COMMAND, command | COMMAND_INTX_DISABLE);
}

/// The MSI message (address, data) that interrupts the CPU whose local APIC ID is `apic_id`
/// with `vector`: fixed delivery, edge triggered, physical destination.
pub fn x86_msi_message(apic_id: u8, vector: u8) -> (u64, u32) {
    (0xfee0_0000 | u64::from(apic_id) << 12, u32::from(vector))
}

/// A range of bus addresses handed out to BARs and bridge windows, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressWindow {
    pub next: u64,
    pub end: u64,
}

impl AddressWindow {
    /// `size` bytes aligned to `align` (BARs need natural alignment: `align` = `size`).
    pub fn allocate(&mut self, size: u64, align: u64) -> Option<u64> {
        let align = align.max(1);
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        if !align.is_power_of_two() || end > self.end {
            return None;
        }
        self.next = end;
        Some(start)
    }

    /// Moves to the next multiple of `align` (bridge windows are 1 MiB / 4 KiB granular).
    pub fn align_to(&mut self, align: u64) {
        self.next = self.next.next_multiple_of(align).min(self.end);
    }
}

/// Type-1 header value for a bridge's memory window `[start, end)` (register 0x20), or a closed
/// window when it is empty. Granularity 1 MiB.
pub fn bridge_memory_window(start: u64, end: u64) -> u32 {
    if end <= start {
        return 0x0000_fff0; // base above limit: closed
    }
    let base = (start >> 16) as u32 & 0xfff0;
    let limit = ((end - 1) >> 16) as u32 & 0xfff0;
    limit << 16 | base
}

/// Type-1 header value for a bridge's I/O window (low half of register 0x1c, 4 KiB granular),
/// or a closed window.
pub fn bridge_io_window(start: u64, end: u64) -> u16 {
    if end <= start {
        return 0x00f0;
    }
    let base = (start >> 8) as u16 & 0xf0;
    let limit = ((end - 1) >> 8) as u16 & 0xf0;
    limit << 8 | base
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A device model: registers plus, per BAR register, the bits software cannot change
    /// (the size alignment and the type bits), as hardware behaves when probed.
    struct FakeDevice {
        regs: RefCell<[u32; 64]>,
        bar_read_only: [u32; 6],
        bar_writable: [u32; 6],
    }

    impl FakeDevice {
        fn new() -> FakeDevice {
            FakeDevice {
                regs: RefCell::new([0; 64]),
                bar_read_only: [0; 6],
                bar_writable: [0; 6],
            }
        }

        /// A BAR whose writable address bits are `writable` and fixed type bits `flags`.
        fn bar(mut self, i: usize, value: u32, writable: u32, flags: u32) -> FakeDevice {
            self.regs.borrow_mut()[4 + i] = value | flags;
            self.bar_writable[i] = writable;
            self.bar_read_only[i] = flags;
            self
        }

        fn set(self, offset: usize, value: u32) -> FakeDevice {
            self.regs.borrow_mut()[offset / 4] = value;
            self
        }
    }

    impl ConfigSpace for FakeDevice {
        fn read32(&self, offset: u8) -> u32 {
            self.regs.borrow()[offset as usize / 4]
        }

        fn write32(&self, offset: u8, value: u32) {
            let i = offset as usize / 4;
            let mut regs = self.regs.borrow_mut();
            if (4..10).contains(&i) {
                let b = i - 4;
                regs[i] = (value & self.bar_writable[b]) | self.bar_read_only[b];
            } else if i == 1 {
                // Status bits are read-only or write-one-to-clear; zeros leave them alone.
                regs[i] = (regs[i] & 0xffff_0000 & !(value & 0xffff_0000)) | (value & 0xffff);
            } else {
                regs[i] = value;
            }
        }
    }

    #[test]
    fn sizes_memory_io_and_64bit_bars_and_restores_them() {
        let dev = FakeDevice::new()
            .set(0x04, 0x0010_0007) // capabilities, io+mem+master on
            .bar(0, 0xc040, 0xffff_ffe0, 0x1) // 32 ports of I/O
            .bar(1, 0xfe64_1000, 0xffff_f000, 0x0) // 4 KiB memory
            .bar(4, 0xfe80_0000, 0xffff_c000, 0xc) // 64-bit prefetchable 16 KiB, low half
            .bar(5, 0x1, 0xffff_ffff, 0x0); // ... high half
        let bars = bars(&dev);
        assert_eq!(
            bars[0],
            Some(Bar::Io {
                port: 0xc040,
                size: 32
            })
        );
        assert_eq!(
            bars[1],
            Some(Bar::Memory {
                address: 0xfe64_1000,
                size: 0x1000,
                prefetchable: false,
                is_64bit: false
            })
        );
        assert_eq!(bars[2], None);
        assert_eq!(
            bars[4],
            Some(Bar::Memory {
                address: 0x1_fe80_0000,
                size: 0x4000,
                prefetchable: true,
                is_64bit: true
            })
        );
        assert_eq!(bars[5], None);
        // Registers and decoding are as before.
        assert_eq!(dev.read32(0x10), 0xc041);
        assert_eq!(dev.read32(0x14), 0xfe64_1000);
        assert_eq!(dev.read32(0x24), 0x1);
        assert_eq!(dev.read32(0x04), 0x0010_0007);
        assert_eq!(
            bars[4].unwrap().to_string(),
            "mem64 pref 0x1fe800000+0x4000"
        );
    }

    #[test]
    fn bridges_have_two_bars_and_other_headers_none() {
        let bridge = FakeDevice::new()
            .set(0x0c, 0x0001_0000)
            .bar(0, 0, 0xffff_f000, 0)
            .bar(2, 0x0001_0100, 0xffff_ffff, 0); // bus numbers, not a BAR
        let bars = bars(&bridge);
        assert!(bars[0].is_some());
        assert_eq!(bars[2], None);
        let cardbus = FakeDevice::new()
            .set(0x0c, 0x0002_0000)
            .bar(0, 0, 0xffff_f000, 0);
        assert_eq!(super::bars(&cardbus), [None; 6]);
    }

    #[test]
    fn walks_the_capability_list_and_survives_a_loop() {
        let dev = FakeDevice::new()
            .set(0x04, 0x0010_0000)
            .set(0x34, 0x40)
            .set(0x40, 0x0000_5009) // vendor-specific, next 0x50
            .set(0x50, 0x0000_0011); // MSI-X, end
        let caps: Vec<_> = capabilities(&dev).collect();
        assert_eq!(
            caps,
            [
                Capability {
                    offset: 0x40,
                    id: 0x09
                },
                Capability {
                    offset: 0x50,
                    id: 0x11
                }
            ]
        );
        let looping = FakeDevice::new()
            .set(0x04, 0x0010_0000)
            .set(0x34, 0x40)
            .set(0x40, 0x0000_4009);
        assert_eq!(capabilities(&looping).count(), 48);
        let none = FakeDevice::new().set(0x34, 0x40).set(0x40, 0x0000_0009);
        assert_eq!(capabilities(&none).count(), 0);
    }

    #[test]
    fn finds_and_enables_msix() {
        let dev = FakeDevice::new()
            .set(0x04, 0x0010_0006) // capabilities; memory, bus master
            .set(0x34, 0x40)
            .set(0x40, 0x0000_5009) // vendor-specific, next 0x50
            .set(0x50, 0x4002_0011) // MSI-X, 3 entries, function masked
            .set(0x54, 0x0000_0801); // table in BAR 1 at 0x800
        let table = msix_table(&dev).unwrap();
        assert_eq!(
            table,
            MsixTable {
                capability: 0x50,
                bar: 1,
                offset: 0x800,
                entries: 3
            }
        );
        enable_msix(&dev, &table);
        assert_eq!(
            dev.read32(0x50),
            0x8002_0011,
            "enabled, unmasked, table size kept"
        );
        assert_eq!(dev.read32(0x04) & 0xffff, 0x0406, "INTx off, the rest kept");
        assert_eq!(msix_table(&FakeDevice::new().set(0x04, 0x0010_0000)), None);
    }

    #[test]
    fn msi_messages_address_the_local_apic() {
        assert_eq!(x86_msi_message(0, 0x40), (0xfee0_0000, 0x40));
        assert_eq!(x86_msi_message(3, 0x4f), (0xfee0_3000, 0x4f));
    }

    #[test]
    fn narrow_reads_pick_the_right_bytes() {
        let dev = FakeDevice::new().set(0x0c, 0x0080_1000);
        assert_eq!(dev.read8(0x0e), 0x80);
        assert_eq!(dev.read16(0x0e), 0x0080);
        assert_eq!(dev.read8(0x0d), 0x10);
    }

    #[test]
    fn windows_allocate_aligned_and_refuse_overflow() {
        let mut w = AddressWindow {
            next: 0xc000_0100,
            end: 0xc010_0000,
        };
        assert_eq!(w.allocate(0x1000, 0x1000), Some(0xc000_1000));
        assert_eq!(w.allocate(0x4000, 0x4000), Some(0xc000_4000));
        w.align_to(1 << 20);
        assert_eq!(w.next, 0xc010_0000);
        assert_eq!(w.allocate(0x1000, 0x1000), None);
        assert_eq!(w.allocate(0x10, 3), None);
        let mut io = AddressWindow {
            next: 0xc000,
            end: 0x1_0000,
        };
        assert_eq!(io.allocate(0x20, 0x20), Some(0xc000));
        assert_eq!(io.allocate(0x40, 0x40), Some(0xc040));
    }

    #[test]
    fn bridge_window_registers() {
        assert_eq!(bridge_memory_window(0xc010_0000, 0xc030_0000), 0xc020_c010);
        assert_eq!(bridge_memory_window(0xc010_0000, 0xc010_0000), 0x0000_fff0);
        assert_eq!(bridge_io_window(0xd000, 0xf000), 0xe0d0);
        assert_eq!(bridge_io_window(0xd000, 0xd000), 0x00f0);
    }
}
