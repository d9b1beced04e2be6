//! `table.grow`: tables live in heap storage the runtime replaces as they grow.

use alloc::vec::Vec;
use mewz_abi::module::TableDescriptor;

/// Most elements a table may have, whatever its declared maximum: keeps a runaway
/// `table.grow` from taking the whole heap (wasmtime's default limit is 10 000 000 too).
pub const MAX_TABLE_ELEMENTS: u32 = 10_000_000;

/// Grows `table` by `delta` elements set to `init`; the old size, or `None` when its
/// maximum, [`MAX_TABLE_ELEMENTS`] or the heap does not allow it.
///
/// The new storage is never freed, and neither is the old one: compiled code may still hold
/// a pointer to the storage it loaded before calling `table.grow`, and the first storage
/// belongs to the compiled module's static data.
pub fn grow(table: &mut TableDescriptor, delta: u32, init: *const u8) -> Option<u32> {
    let old = table.current_elements;
    let new = old.checked_add(delta)?;
    if new > table.maximum_elements || new > MAX_TABLE_ELEMENTS {
        return None;
    }
    if delta == 0 {
        return Some(old);
    }
    let mut storage: Vec<*const u8> = Vec::new();
    storage.try_reserve_exact(new as usize).ok()?;
    if old > 0 {
        // SAFETY: the descriptor's storage holds `current_elements` initialised elements.
        storage.extend_from_slice(unsafe {
            core::slice::from_raw_parts(table.elements, old as usize)
        });
    }
    storage.resize(new as usize, init);
    table.elements = storage.leak().as_mut_ptr();
    table.current_elements = new;
    Some(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_copying_and_filling() {
        let mut initial = [8 as *const u8, 16 as *const u8];
        let mut t = TableDescriptor {
            elements: initial.as_mut_ptr(),
            current_elements: 2,
            maximum_elements: 6,
        };
        assert_eq!(grow(&mut t, 0, core::ptr::null()), Some(2));
        assert_eq!(grow(&mut t, 3, 9 as *const u8), Some(2));
        assert_eq!(t.current_elements, 5);
        // SAFETY: grow left 5 initialised elements.
        let now = unsafe { core::slice::from_raw_parts(t.elements, 5) };
        assert_eq!(now, [8, 16, 9, 9, 9].map(|v| v as *const u8));
        assert_eq!(grow(&mut t, 2, core::ptr::null()), None, "past the maximum");
        assert_eq!(grow(&mut t, u32::MAX, core::ptr::null()), None);
        assert_eq!(grow(&mut t, 1, core::ptr::null()), Some(5));
        assert_eq!(
            initial,
            [8, 16].map(|v| v as *const u8),
            "the first storage is untouched"
        );
    }

    #[test]
    fn empty_tables_and_the_global_cap() {
        let mut t = TableDescriptor {
            elements: core::ptr::null_mut(),
            current_elements: 0,
            maximum_elements: u32::MAX,
        };
        assert_eq!(
            grow(&mut t, MAX_TABLE_ELEMENTS + 1, core::ptr::null()),
            None
        );
        assert_eq!(grow(&mut t, 4, core::ptr::null()), Some(0));
        assert_eq!(t.current_elements, 4);
    }
}
