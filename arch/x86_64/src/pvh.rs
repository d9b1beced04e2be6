//! The PVH boot protocol's `hvm_start_info`: what a PVH loader (QEMU, Firecracker, Xen) passes
//! in `ebx`. Layout from Xen's `public/arch-x86/hvm/start_info.h`; pure parsing, host-tested.

use core::fmt;

/// `hvm_start_info.magic`.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Bytes of `hvm_start_info` up to and including the version-1 fields.
pub const START_INFO_SIZE: usize = 56;
/// Bytes of one `hvm_memmap_table_entry`.
pub const MEMMAP_ENTRY_SIZE: usize = 24;
/// E820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// Bytes of one `hvm_modlist_entry`.
pub const MODLIST_ENTRY_SIZE: usize = 32;

/// The fields of `hvm_start_info` the kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartInfo {
    pub version: u32,
    /// Physical address of the NUL-terminated command line, 0 if none.
    pub cmdline_paddr: u64,
    /// Physical address of the ACPI RSDP, 0 if the loader gives none.
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    /// Boot modules (QEMU's `-initrd` is the first), and where their list is.
    pub nr_modules: u32,
    pub modlist_paddr: u64,
}

/// One boot module (`hvm_modlist_entry`): where the loader put its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    pub paddr: u64,
    pub size: u64,
}

/// One entry of the PVH memory map (E820 semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

impl MemmapEntry {
    pub fn is_ram(&self) -> bool {
        self.kind == E820_RAM
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvhError {
    /// `ebx` did not point at an `hvm_start_info`: not booted through PVH.
    BadMagic(u32),
    /// The loader speaks protocol version 0, which has no memory map.
    NoMemoryMap { version: u32 },
}

impl fmt::Display for PvhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PvhError::BadMagic(m) => write!(
                f,
                "hvm_start_info magic is {m:#x}, expected {START_INFO_MAGIC:#x} (not a PVH boot?)"
            ),
            PvhError::NoMemoryMap { version } => write!(
                f,
                "PVH start info version {version} has no memory map (version 1 or later needed)"
            ),
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Parses and validates `hvm_start_info`; the kernel needs the version-1 memory map.
pub fn parse_start_info(b: &[u8; START_INFO_SIZE]) -> Result<StartInfo, PvhError> {
    let magic = u32_at(b, 0);
    if magic != START_INFO_MAGIC {
        return Err(PvhError::BadMagic(magic));
    }
    let version = u32_at(b, 4);
    let info = StartInfo {
        version,
        cmdline_paddr: u64_at(b, 24),
        rsdp_paddr: u64_at(b, 32),
        memmap_paddr: u64_at(b, 40),
        memmap_entries: u32_at(b, 48),
        nr_modules: u32_at(b, 12),
        modlist_paddr: u64_at(b, 16),
    };
    if version < 1 || info.memmap_paddr == 0 || info.memmap_entries == 0 {
        return Err(PvhError::NoMemoryMap { version });
    }
    Ok(info)
}

pub fn parse_memmap_entry(b: &[u8; MEMMAP_ENTRY_SIZE]) -> MemmapEntry {
    MemmapEntry {
        addr: u64_at(b, 0),
        size: u64_at(b, 8),
        kind: u32_at(b, 16),
    }
}

pub fn parse_module(b: &[u8; MODLIST_ENTRY_SIZE]) -> Module {
    Module {
        paddr: u64_at(b, 0),
        size: u64_at(b, 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_info(magic: u32, version: u32, memmap: u64, entries: u32) -> [u8; START_INFO_SIZE] {
        let mut b = [0u8; START_INFO_SIZE];
        b[0..4].copy_from_slice(&magic.to_le_bytes());
        b[4..8].copy_from_slice(&version.to_le_bytes());
        b[24..32].copy_from_slice(&0x7000u64.to_le_bytes());
        b[32..40].copy_from_slice(&0xf_5a00u64.to_le_bytes());
        b[40..48].copy_from_slice(&memmap.to_le_bytes());
        b[48..52].copy_from_slice(&entries.to_le_bytes());
        b[12..16].copy_from_slice(&1u32.to_le_bytes());
        b[16..24].copy_from_slice(&0x5000u64.to_le_bytes());
        b
    }

    #[test]
    fn parses_version_1_start_info() {
        let info = parse_start_info(&start_info(START_INFO_MAGIC, 1, 0x6000, 5)).unwrap();
        assert_eq!(
            info,
            StartInfo {
                version: 1,
                cmdline_paddr: 0x7000,
                rsdp_paddr: 0xf_5a00,
                memmap_paddr: 0x6000,
                memmap_entries: 5,
                nr_modules: 1,
                modlist_paddr: 0x5000,
            }
        );
    }

    #[test]
    fn parses_a_module_entry() {
        let mut b = [0u8; MODLIST_ENTRY_SIZE];
        b[0..8].copy_from_slice(&0x1f00_0000u64.to_le_bytes());
        b[8..16].copy_from_slice(&0x0c80_0123u64.to_le_bytes());
        b[16..24].copy_from_slice(&0x7777u64.to_le_bytes());
        assert_eq!(
            parse_module(&b),
            Module {
                paddr: 0x1f00_0000,
                size: 0x0c80_0123
            }
        );
    }

    #[test]
    fn rejects_wrong_magic_and_missing_memory_map() {
        assert_eq!(
            parse_start_info(&start_info(0x1bad_b002, 1, 0x6000, 5)),
            Err(PvhError::BadMagic(0x1bad_b002))
        );
        assert_eq!(
            parse_start_info(&start_info(START_INFO_MAGIC, 0, 0x6000, 5)),
            Err(PvhError::NoMemoryMap { version: 0 })
        );
        assert_eq!(
            parse_start_info(&start_info(START_INFO_MAGIC, 1, 0x6000, 0)),
            Err(PvhError::NoMemoryMap { version: 1 })
        );
    }

    #[test]
    fn parses_memmap_entry() {
        let mut b = [0u8; MEMMAP_ENTRY_SIZE];
        b[0..8].copy_from_slice(&0x10_0000u64.to_le_bytes());
        b[8..16].copy_from_slice(&0x1fee_0000u64.to_le_bytes());
        b[16..20].copy_from_slice(&1u32.to_le_bytes());
        let e = parse_memmap_entry(&b);
        assert_eq!((e.addr, e.size, e.kind), (0x10_0000, 0x1fee_0000, 1));
        assert!(e.is_ram());
        b[16] = 2;
        assert!(!parse_memmap_entry(&b).is_ram());
    }
}
