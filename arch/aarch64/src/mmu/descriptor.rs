//! Bit encoding of VMSAv8-64 stage-1 descriptors (4 KiB granule).

/// MAIR_EL1 attribute index of normal write-back cacheable memory.
pub const ATTR_NORMAL: u64 = 0;
/// MAIR_EL1 attribute index of Device-nGnRE memory (MMIO).
pub const ATTR_DEVICE: u64 = 1;
/// MAIR_EL1: Attr0 = 0xff (normal, inner/outer write-back non-transient, read/write-allocate),
/// Attr1 = 0x04 (Device-nGnRE).
pub const MAIR_VALUE: u64 = 0xff | (0x04 << 8);

pub const VALID: u64 = 1 << 0;
/// Bit 1: a table (L0-L2) or a page (L3); clear for a block (L1/L2).
pub const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_SHIFT: u64 = 2;
/// AP[2]: read-only.
pub const AP_READ_ONLY: u64 = 1 << 7;
/// SH = inner shareable.
pub const INNER_SHAREABLE: u64 = 0b11 << 8;
/// Access flag: set so the first access does not fault (no hardware AF management assumed).
pub const ACCESS_FLAG: u64 = 1 << 10;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never (EL0 never runs anything here).
pub const UXN: u64 = 1 << 54;
/// Output address bits [47:12].
pub const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// What a mapping permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Kernel code: read + execute.
    ReadExecute,
    /// Read-only data, never executed.
    ReadOnly,
    /// Data, heap, stacks, linear memory: read + write, never executed.
    ReadWrite,
    /// MMIO: Device-nGnRE, read + write, never executed.
    Device,
    /// The early boot map: normal memory, everything allowed (replaced before any app runs).
    BootAll,
}

/// The attribute bits of a block or page descriptor for `access` (no type or address bits).
pub const fn leaf_attributes(access: Access) -> u64 {
    let normal = (ATTR_NORMAL << ATTR_INDEX_SHIFT) | INNER_SHAREABLE | ACCESS_FLAG | UXN;
    match access {
        Access::ReadExecute => normal | AP_READ_ONLY,
        Access::ReadOnly => normal | AP_READ_ONLY | PXN,
        Access::ReadWrite => normal | PXN,
        Access::Device => (ATTR_DEVICE << ATTR_INDEX_SHIFT) | ACCESS_FLAG | PXN | UXN,
        Access::BootAll => normal,
    }
}

/// A level-3 page descriptor.
pub const fn page(phys: u64, access: Access) -> u64 {
    (phys & ADDRESS_MASK) | leaf_attributes(access) | TABLE_OR_PAGE | VALID
}

/// A level-1 or level-2 block descriptor.
pub const fn block(phys: u64, access: Access) -> u64 {
    (phys & ADDRESS_MASK) | leaf_attributes(access) | VALID
}

/// A table descriptor pointing at the next level.
pub const fn table(next_phys: u64) -> u64 {
    (next_phys & ADDRESS_MASK) | TABLE_OR_PAGE | VALID
}

pub const fn is_valid(desc: u64) -> bool {
    desc & VALID != 0
}

/// At L0-L2: does this valid descriptor point to a next-level table?
pub const fn is_table(desc: u64) -> bool {
    desc & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE)
}

pub const fn output_address(desc: u64) -> u64 {
    desc & ADDRESS_MASK
}

/// The access a leaf descriptor grants, read back (for tests and the fault report).
pub fn access_of(desc: u64) -> Option<Access> {
    let attrs = desc & !(ADDRESS_MASK | VALID | TABLE_OR_PAGE);
    [
        Access::ReadExecute,
        Access::ReadOnly,
        Access::ReadWrite,
        Access::Device,
        Access::BootAll,
    ]
    .into_iter()
    .find(|a| leaf_attributes(*a) == attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bits_follow_the_architecture() {
        let d = page(0x4020_1000, Access::ReadWrite);
        assert_eq!(d & 0b11, 0b11, "valid page");
        assert_eq!(output_address(d), 0x4020_1000);
        assert_eq!((d >> 2) & 0b111, ATTR_NORMAL);
        assert_eq!((d >> 6) & 0b11, 0b00, "EL1 read-write");
        assert_eq!((d >> 8) & 0b11, 0b11, "inner shareable");
        assert_ne!(d & (1 << 10), 0, "access flag");
        assert_ne!(d & (1 << 53), 0, "PXN");
        assert_ne!(d & (1 << 54), 0, "UXN");
    }

    #[test]
    fn code_is_executable_read_only_and_rodata_is_not_executable() {
        let text = page(0x1000, Access::ReadExecute);
        assert_eq!((text >> 6) & 0b11, 0b10, "EL1 read-only");
        assert_eq!(text & PXN, 0);
        let ro = page(0x1000, Access::ReadOnly);
        assert_eq!((ro >> 6) & 0b11, 0b10);
        assert_ne!(ro & PXN, 0);
    }

    #[test]
    fn device_and_block_encoding() {
        let dev = block(0x0800_0000, Access::Device);
        assert_eq!(dev & 0b11, 0b01, "block");
        assert_eq!((dev >> 2) & 0b111, ATTR_DEVICE);
        assert_ne!(dev & PXN, 0);
        assert_eq!(MAIR_VALUE & 0xff, 0xff);
        assert_eq!((MAIR_VALUE >> 8) & 0xff, 0x04, "Device-nGnRE");
        let t = table(0x4030_0000);
        assert!(is_table(t));
        assert!(!is_table(dev));
        assert!(is_valid(dev) && !is_valid(0));
    }

    #[test]
    fn access_reads_back() {
        for a in [
            Access::ReadExecute,
            Access::ReadOnly,
            Access::ReadWrite,
            Access::Device,
            Access::BootAll,
        ] {
            assert_eq!(access_of(page(0x7000, a)), Some(a));
            assert_eq!(access_of(block(0x20_0000, a)), Some(a));
        }
    }
}
