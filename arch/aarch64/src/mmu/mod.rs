//! Stage-1 translation tables for the 4 KiB granule and 48-bit virtual addresses (four levels,
//! L0..L3), as pure data structures: the bare-metal code points TTBR0_EL1 at a root built here.

pub mod descriptor;
pub mod table;

pub use descriptor::{Access, MAIR_VALUE};
pub use table::{FrameSource, PageTable};

pub const PAGE_SIZE: usize = 4096;
/// Bytes covered by one entry at each level (L0, L1, L2, L3).
pub const LEVEL_SPAN: [u64; 4] = [1 << 39, 1 << 30, 1 << 21, 1 << 12];
/// Bits of virtual address translated: TCR_EL1.T0SZ = 64 - VA_BITS.
pub const VA_BITS: u32 = 48;
