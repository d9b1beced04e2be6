//! Linear-memory layout.
//!
//! A linear memory lives in a reservation of [`RESERVATION_BYTES`]: the first 4 GiB can hold the
//! largest 32-bit memory, the rest is a guard that is never mapped. A wasm address is a 32-bit
//! index plus a 32-bit static offset, so `base + index + offset + size` stays below `base + RESERVATION_BYTES` always lands in
//! the reservation: compiled code needs no bounds check, and a fault inside the reservation is
//! the out-of-bounds trap.

/// Size of a wasm page.
pub const WASM_PAGE_SIZE: u64 = 64 * 1024;
/// Largest number of pages a 32-bit memory can have.
pub const MAX_WASM_PAGES: u64 = 65536;
/// The most pages a memory may have here: one page short of 4 GiB. The spec lets
/// `memory.grow` fail for implementation reasons; this limit keeps every valid address below
/// `2^32 - 64 KiB`, so after a successful access at `p` the compiler knows that `p` plus a
/// small constant cannot wrap (see `compiler/src/translate/address.rs`), which lets LLVM
/// relate neighbouring accesses and vectorize loops. The runtime enforces it on
/// instantiation and on `memory.grow`.
pub const MAX_USABLE_PAGES: u64 = MAX_WASM_PAGES - 1;
/// Addressable part of the reservation (4 GiB).
pub const ADDRESSABLE_BYTES: u64 = MAX_WASM_PAGES * WASM_PAGE_SIZE;
/// Guard after the addressable part; covers the largest static offset (u32::MAX) plus the
/// widest access, rounded up to a wasm page.
pub const GUARD_BYTES: u64 = 4 * 1024 * 1024 * 1024 + WASM_PAGE_SIZE;
/// Total virtual size reserved per linear memory.
pub const RESERVATION_BYTES: u64 = ADDRESSABLE_BYTES + GUARD_BYTES;

/// Fixed virtual address of the (single) app's linear memory in the unikernel images.
/// Above every kernel mapping on both architectures and 4 GiB aligned.
pub const UNIKERNEL_MEMORY_BASE: u64 = 0x0000_4000_0000_0000;

/// The state of one linear memory, shared by compiled code and the runtime.
///
/// Compiled code loads `base` once per function (it never changes after instantiation, since
/// the reservation never moves) and reads `current_bytes` for `memory.size` and for the
/// explicit bounds-check mode. Only the runtime writes it (on instantiation and `memory.grow`).
#[repr(C)]
#[derive(Debug)]
pub struct MemoryDescriptor {
    /// Start of the reservation.
    pub base: *mut u8,
    /// Bytes currently accessible (a multiple of [`WASM_PAGE_SIZE`]).
    pub current_bytes: u64,
    /// Declared minimum, in pages.
    pub minimum_pages: u64,
    /// Declared maximum, in pages ([`MAX_WASM_PAGES`] when the module declares none).
    pub maximum_pages: u64,
}

/// Byte offsets of [`MemoryDescriptor`]'s fields, for code generators.
pub mod memory_descriptor_offsets {
    pub const BASE: u32 = 0;
    pub const CURRENT_BYTES: u32 = 8;
    pub const MINIMUM_PAGES: u32 = 16;
    pub const MAXIMUM_PAGES: u32 = 24;
    pub const SIZE: u32 = 32;
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn descriptor_offsets_match_layout() {
        use memory_descriptor_offsets as o;
        assert_eq!(offset_of!(MemoryDescriptor, base) as u32, o::BASE);
        assert_eq!(
            offset_of!(MemoryDescriptor, current_bytes) as u32,
            o::CURRENT_BYTES
        );
        assert_eq!(
            offset_of!(MemoryDescriptor, minimum_pages) as u32,
            o::MINIMUM_PAGES
        );
        assert_eq!(
            offset_of!(MemoryDescriptor, maximum_pages) as u32,
            o::MAXIMUM_PAGES
        );
        assert_eq!(size_of::<MemoryDescriptor>() as u32, o::SIZE);
    }

    #[test]
    fn any_32bit_address_plus_offset_stays_in_the_reservation() {
        let worst = u32::MAX as u64 + u32::MAX as u64 + 8;
        assert!(worst < RESERVATION_BYTES);
        assert_eq!(UNIKERNEL_MEMORY_BASE % ADDRESSABLE_BYTES, 0);
    }
}
