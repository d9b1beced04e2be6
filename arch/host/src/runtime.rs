//! Runtime entries that compiled code calls (besides the trap entry in [`crate::trap`]).

use mewz_abi::memory::{MemoryDescriptor, WASM_PAGE_SIZE};

/// `memory.grow`: maps `delta_pages` more pages at the end of `memory`; returns the old size
/// in pages, or -1 when the maximum (or the host) does not allow it.
///
/// # Safety
/// `memory` points to a live descriptor whose reservation was made by [`crate::memory::reserve`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __mewz_memory_grow(
    memory: *mut MemoryDescriptor,
    delta_pages: u32,
) -> i32 {
    // SAFETY: guaranteed by the caller (compiled code passes its own memory descriptor).
    let memory = unsafe { &mut *memory };
    grow(memory, delta_pages).map_or(-1, |old| old as i32)
}

/// Grows `memory` by `delta_pages`; the old size in pages.
pub fn grow(memory: &mut MemoryDescriptor, delta_pages: u32) -> Option<u64> {
    let old_pages = memory.current_bytes / WASM_PAGE_SIZE;
    let new_pages = old_pages.checked_add(delta_pages.into())?;
    if new_pages > memory.maximum_pages || new_pages > mewz_abi::memory::MAX_WASM_PAGES {
        return None;
    }
    let delta_bytes = u64::from(delta_pages) * WASM_PAGE_SIZE;
    if delta_bytes > 0 {
        let start = memory.base as usize + memory.current_bytes as usize;
        crate::memory::map_zeroed(start, delta_bytes as usize).ok()?;
    }
    memory.current_bytes = new_pages * WASM_PAGE_SIZE;
    Some(old_pages)
}

/// A fresh linear memory of `minimum_pages` pages (at most `maximum_pages`), in its own
/// reservation of [`mewz_abi::memory::RESERVATION_BYTES`].
pub fn new_memory(minimum_pages: u64, maximum_pages: u64) -> Option<MemoryDescriptor> {
    let base = crate::memory::reserve(mewz_abi::memory::RESERVATION_BYTES as usize).ok()?;
    let mut memory = MemoryDescriptor {
        base: base as *mut u8,
        current_bytes: 0,
        minimum_pages,
        maximum_pages,
    };
    grow(&mut memory, u32::try_from(minimum_pages).ok()?)?;
    Some(memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_up_to_the_maximum_and_new_pages_are_zero() {
        let mut m = new_memory(1, 3).unwrap();
        assert_eq!(m.current_bytes, WASM_PAGE_SIZE);
        // SAFETY: page 0 is mapped.
        unsafe { m.base.write(5) };
        // SAFETY: `m` is a live descriptor from new_memory.
        assert_eq!(unsafe { __mewz_memory_grow(&mut m, 2) }, 1);
        assert_eq!(m.current_bytes, 3 * WASM_PAGE_SIZE);
        // SAFETY: pages 0..3 are mapped now.
        unsafe {
            assert_eq!(m.base.read(), 5);
            assert_eq!(m.base.add(3 * WASM_PAGE_SIZE as usize - 1).read(), 0);
        }
        // SAFETY: as above.
        assert_eq!(unsafe { __mewz_memory_grow(&mut m, 1) }, -1);
        assert_eq!(grow(&mut m, 0), Some(3));
    }
}
