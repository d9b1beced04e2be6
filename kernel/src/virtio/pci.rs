//! What a platform needs to know of a virtio-pci function beyond virtio-drivers' transport:
//! where its common configuration structure lies, to name its MSI-X vectors (see
//! [`super::MsixVectors`]), where its MSI-X table lies and how to turn it on, and, where no
//! firmware did it, addresses for its BARs. Generic over the configuration access mechanism,
//! so port I/O on x86_64 and ECAM elsewhere share it.

use virtio_drivers::transport::pci::bus::{
    BarInfo, Command, ConfigurationAccess, DeviceFunction, MemoryBarType, PciRoot,
};
use virtio_drivers::transport::pci::{VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_VENDOR_ID};

/// Vendor-specific capability, the kind virtio uses for its structures.
const CAPABILITY_VENDOR: u8 = 0x09;
const CAPABILITY_MSIX: u8 = 0x11;
const MSIX_ENABLE: u32 = 1 << 15;
const MSIX_FUNCTION_MASK: u32 = 1 << 14;
/// Keeps the function from asserting its legacy INTx line (it interrupts by message instead).
const COMMAND_INTX_DISABLE: u32 = 1 << 10;
const COMMAND_REGISTER: u8 = 0x04;
/// The interrupt pin (1 = INTA .. 4 = INTD, 0 = none), byte 1 of register 0x3c.
const INTERRUPT_LINE_PIN: u8 = 0x3c;
/// Bytes per MSI-X table entry: address low, address high, data, vector control.
pub const MSIX_ENTRY_SIZE: u64 = 16;
/// Offsets in `virtio_pci_cap`: the BAR index and the structure's offset in it.
const CAP_BAR: u8 = 4;
const CAP_OFFSET: u8 = 8;

/// Whether the function is a virtio device (vendor 0x1af4, any device ID).
pub fn is_virtio<C: ConfigurationAccess>(cam: &C, function: DeviceFunction) -> bool {
    cam.read_word(function, 0) as u16 == VIRTIO_VENDOR_ID
}

/// The physical address of the function's common configuration structure.
pub fn common_config_address<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    cam: &C,
    function: DeviceFunction,
) -> Result<u64, &'static str> {
    let cap = root
        .capabilities(function)
        .find(|c| {
            c.id == CAPABILITY_VENDOR && (c.private_header >> 8) as u8 == VIRTIO_PCI_CAP_COMMON_CFG
        })
        .ok_or("no virtio common configuration capability (a legacy-only device)")?;
    let bar = cam.read_word(function, cap.offset + CAP_BAR) as u8;
    let offset = cam.read_word(function, cap.offset + CAP_OFFSET);
    let (address, size) = root
        .bar_info(function, bar)
        .map_err(|_| "the common configuration names an invalid BAR")?
        .and_then(|info| info.memory_address_size())
        .ok_or("the common configuration is not in a memory BAR")?;
    if address == 0 || u64::from(offset) >= size {
        return Err("the common configuration lies outside its BAR");
    }
    Ok(address + u64::from(offset))
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
pub fn msix_table<C: ConfigurationAccess>(
    root: &PciRoot<C>,
    cam: &C,
    function: DeviceFunction,
) -> Option<MsixTable> {
    let cap = root
        .capabilities(function)
        .find(|c| c.id == CAPABILITY_MSIX)?;
    let table = cam.read_word(function, cap.offset + 4);
    Some(MsixTable {
        capability: cap.offset,
        bar: (table & 7) as u8,
        offset: table & !7,
        entries: (cap.private_header & 0x7ff) + 1,
    })
}

/// Turns MSI-X on with no vector masked function-wide, and the legacy INTx line off.
pub fn enable_msix<C: ConfigurationAccess>(
    cam: &mut C,
    function: DeviceFunction,
    table: &MsixTable,
) {
    // The capability's first dword: ID and next pointer (read-only) and message control.
    let header = cam.read_word(function, table.capability);
    let control = ((header >> 16) | MSIX_ENABLE) & !MSIX_FUNCTION_MASK;
    cam.write_word(
        function,
        table.capability,
        (header & 0xffff) | control << 16,
    );
    // The upper half is the status, write-one-to-clear: zeros leave it alone.
    let command = cam.read_word(function, COMMAND_REGISTER) & 0xffff;
    cam.write_word(function, COMMAND_REGISTER, command | COMMAND_INTX_DISABLE);
}

/// The function's legacy interrupt pin: 1 (INTA) to 4 (INTD), or `None` if it has none.
pub fn interrupt_pin<C: ConfigurationAccess>(cam: &C, function: DeviceFunction) -> Option<u8> {
    let pin = (cam.read_word(function, INTERRUPT_LINE_PIN) >> 8) as u8;
    (1..=4).contains(&pin).then_some(pin)
}

/// A range of bus addresses handed out to BARs, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressWindow {
    pub next: u64,
    pub end: u64,
}

impl AddressWindow {
    /// `size` bytes aligned to `align` (BARs need natural alignment: `align` = `size`).
    pub fn allocate(&mut self, size: u64, align: u64) -> Option<u64> {
        let align = align.max(1);
        if !align.is_power_of_two() {
            return None;
        }
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        if end > self.end {
            return None;
        }
        self.next = end;
        Some(start)
    }
}

/// Why a BAR got no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignError {
    /// The BAR registers do not decode as a BAR.
    InvalidBar,
    /// The window has no room left for a BAR of this size.
    NoRoom { bar: u8, size: u64 },
}

impl core::fmt::Display for AssignError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AssignError::InvalidBar => f.write_str("a BAR of an unknown type"),
            AssignError::NoRoom { bar, size } => {
                write!(
                    f,
                    "no room for BAR {bar} ({size:#x} bytes) in the host bridge's window"
                )
            }
        }
    }
}

/// Gives every BAR of a function an address (memory BARs from `memory`, I/O BARs from `io`:
/// bus addresses, naturally aligned; 64-bit BARs get 32-bit addresses too, which every device
/// reaches) and lets the function decode them and master the bus. For machines whose firmware
/// leaves PCI unconfigured (QEMU `virt` booted with `-kernel`).
pub fn assign_bars<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    function: DeviceFunction,
    memory: &mut AddressWindow,
    io: &mut AddressWindow,
) -> Result<(), AssignError> {
    let bars = root.bars(function).map_err(|_| AssignError::InvalidBar)?;
    for (index, bar) in bars.iter().enumerate() {
        let index = index as u8;
        match bar {
            Some(BarInfo::Memory {
                address_type, size, ..
            }) => {
                let address = memory.allocate(*size, *size).ok_or(AssignError::NoRoom {
                    bar: index,
                    size: *size,
                })?;
                match address_type {
                    MemoryBarType::Width64 => root.set_bar_64(function, index, address),
                    _ => root.set_bar_32(function, index, address as u32),
                }
            }
            Some(BarInfo::IO { size, .. }) => {
                let size = u64::from(*size);
                let port = io
                    .allocate(size, size)
                    .ok_or(AssignError::NoRoom { bar: index, size })?;
                root.set_bar_32(function, index, port as u32);
            }
            None => {}
        }
    }
    let (_, command) = root.get_status_command(function);
    root.set_command(
        function,
        command | Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// One function's configuration space; BAR registers behave as a 16 KiB 64-bit BAR.
    #[derive(Clone)]
    struct FakeCam(Rc<RefCell<[u32; 64]>>);

    impl ConfigurationAccess for FakeCam {
        fn read_word(&self, _f: DeviceFunction, offset: u8) -> u32 {
            self.0.borrow()[offset as usize / 4]
        }

        fn write_word(&mut self, _f: DeviceFunction, offset: u8, data: u32) {
            let i = offset as usize / 4;
            let mut regs = self.0.borrow_mut();
            regs[i] = match i {
                // BAR 4 (64-bit, 16 KiB): size bits read back as zero.
                8 => (data & !0x3fff) | 0xc,
                _ => data,
            };
        }

        unsafe fn unsafe_clone(&self) -> Self {
            self.clone()
        }
    }

    const FUNCTION: DeviceFunction = DeviceFunction {
        bus: 0,
        device: 3,
        function: 0,
    };

    fn virtio_rng() -> FakeCam {
        let mut regs = [0u32; 64];
        regs[0] = 0x1005_1af4; // transitional entropy device
        regs[1] = 0x0010_0006; // capabilities list; memory, bus master
        regs[3] = 0; // header type 0
        regs[8] = 0xc000_400c; // BAR 4: 64-bit prefetchable at 0xc0004000
        regs[9] = 0;
        regs[0x34 / 4] = 0x40;
        regs[0x40 / 4] = 0x0310_5009; // vendor cap, next 0x50, len 16, cfg_type 3 (ISR)
        regs[0x44 / 4] = 4;
        regs[0x48 / 4] = 0x1000;
        regs[0x50 / 4] = 0x0110_0009; // vendor cap, last, len 16, cfg_type 1 (common)
        regs[0x54 / 4] = 4;
        regs[0x58 / 4] = 0x0;
        FakeCam(Rc::new(RefCell::new(regs)))
    }

    #[test]
    fn finds_the_common_configuration_in_its_bar() {
        let cam = virtio_rng();
        assert!(is_virtio(&cam, FUNCTION));
        let mut root = PciRoot::new(cam.clone());
        assert_eq!(
            common_config_address(&mut root, &cam, FUNCTION),
            Ok(0xc000_4000)
        );
        // Sizing restored the BAR.
        assert_eq!(cam.0.borrow()[8], 0xc000_400c);
    }

    #[test]
    fn finds_and_enables_msix() {
        let cam = virtio_rng();
        {
            let mut regs = cam.0.borrow_mut();
            regs[0x50 / 4] = 0x0110_6009; // vendor cap, next 0x60, cfg_type 1 (common)
            regs[0x60 / 4] = 0x4002_0011; // MSI-X, 3 entries, function masked
            regs[0x64 / 4] = 0x0000_0804; // table in BAR 4 at 0x800
            regs[0x3c / 4] = 0x0000_0100; // INTA
        }
        let root = PciRoot::new(cam.clone());
        let table = msix_table(&root, &cam, FUNCTION).unwrap();
        assert_eq!(
            table,
            MsixTable {
                capability: 0x60,
                bar: 4,
                offset: 0x800,
                entries: 3
            }
        );
        let mut writer = cam.clone();
        enable_msix(&mut writer, FUNCTION, &table);
        assert_eq!(
            cam.0.borrow()[0x60 / 4],
            0x8002_0011,
            "enabled, unmasked, table size kept"
        );
        assert_eq!(
            cam.0.borrow()[1] & 0xffff,
            0x0406,
            "INTx off, the rest kept"
        );
        assert_eq!(interrupt_pin(&cam, FUNCTION), Some(1));
        cam.0.borrow_mut()[0x3c / 4] = 0x0000_0500;
        assert_eq!(interrupt_pin(&cam, FUNCTION), None);
    }

    #[test]
    fn bars_get_naturally_aligned_addresses_from_their_windows() {
        let cam = virtio_rng();
        cam.0.borrow_mut()[8] = 0x0000_000c; // BAR 4 unassigned
        cam.0.borrow_mut()[1] = 0x0010_0000; // decoding off
        let mut root = PciRoot::new(cam.clone());
        let mut memory = AddressWindow {
            next: 0x1000_0100,
            end: 0x3eff_0000,
        };
        let mut io = AddressWindow {
            next: 0x1000,
            end: 0x1_0000,
        };
        assign_bars(&mut root, FUNCTION, &mut memory, &mut io).unwrap();
        assert_eq!(
            cam.0.borrow()[8],
            0x1000_400c,
            "16 KiB aligned, type bits kept"
        );
        assert_eq!(cam.0.borrow()[9], 0);
        assert_eq!(memory.next, 0x1000_8000);
        assert_eq!(cam.0.borrow()[1] & 7, 7, "I/O, memory and bus mastering on");
        let mut full = AddressWindow {
            next: 0x1000_0000,
            end: 0x1000_2000,
        };
        assert_eq!(
            assign_bars(&mut root, FUNCTION, &mut full, &mut io),
            Err(AssignError::NoRoom {
                bar: 4,
                size: 0x4000
            })
        );
    }

    #[test]
    fn windows_allocate_aligned_and_refuse_overflow() {
        let mut w = AddressWindow {
            next: 0xc000_0100,
            end: 0xc010_0000,
        };
        assert_eq!(w.allocate(0x1000, 0x1000), Some(0xc000_1000));
        assert_eq!(w.allocate(0x4000, 0x4000), Some(0xc000_4000));
        assert_eq!(w.allocate(0x10_0000, 0x10_0000), None);
        assert_eq!(w.allocate(0x10, 3), None);
        let mut top = AddressWindow {
            next: u64::MAX - 8,
            end: u64::MAX,
        };
        assert_eq!(top.allocate(0x1000, 0x1000), None);
    }

    #[test]
    fn a_legacy_device_has_no_common_configuration() {
        let cam = virtio_rng();
        cam.0.borrow_mut()[0x50 / 4] = 0x0310_0009; // the second capability is ISR too
        let mut root = PciRoot::new(cam.clone());
        assert!(common_config_address(&mut root, &cam, FUNCTION).is_err());
        cam.0.borrow_mut()[0] = 0x1234_8086;
        assert!(!is_virtio(&cam, FUNCTION));
    }
}
