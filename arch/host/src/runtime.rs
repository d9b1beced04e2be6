//! The runtime entries compiled code calls (`__mewz_trap`, `__mewz_memory_grow`,
//! `__mewz_table_grow`, `__mewz_stack_limit`) are the kernel's own (feature
//! `runtime-symbols`), running over [`crate::HOST`]. This module holds what embedders of the
//! hosted runtime (the spec executor) need on top: fresh memories and tables, and a way to
//! keep the entries linked in.

use mewz_abi::memory::MemoryDescriptor;
use mewz_abi::module::TableDescriptor;
use mewz_kernel::app::runtime_symbols;

/// A fresh linear memory of `minimum_pages` (at most `maximum_pages`) in its own reservation.
pub fn new_memory(minimum_pages: u64, maximum_pages: u64) -> Option<MemoryDescriptor> {
    let mut memory = MemoryDescriptor {
        base: core::ptr::null_mut(),
        current_bytes: 0,
        minimum_pages,
        maximum_pages,
    };
    mewz_kernel::app::memory::setup(&crate::HOST, &mut memory).ok()?;
    Some(memory)
}

/// A fresh table of `minimum` null elements (at most `maximum`).
pub fn new_table(minimum: u32, maximum: u32) -> TableDescriptor {
    let storage = vec![core::ptr::null::<u8>(); minimum as usize];
    TableDescriptor {
        // Leaked on purpose: compiled code uses the storage for the life of the process.
        elements: Box::leak(storage.into_boxed_slice()).as_mut_ptr(),
        current_elements: minimum,
        maximum_elements: maximum,
    }
}

/// Sets `__mewz_stack_limit`.
pub fn set_stack_limit(limit: usize) {
    runtime_symbols::STACK_LIMIT.store(limit, core::sync::atomic::Ordering::Relaxed);
}

/// Addresses of the runtime entries, so that an executable which only reaches them through
/// `dlopen`ed code still links them in (and exports them with `-rdynamic`).
pub fn runtime_symbols() -> [*const u8; 4] {
    [
        runtime_symbols::trap as *const u8,
        runtime_symbols::memory_grow as *const u8,
        runtime_symbols::table_grow as *const u8,
        (&raw const runtime_symbols::STACK_LIMIT).cast(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use mewz_abi::memory::WASM_PAGE_SIZE;

    #[test]
    fn memories_grow_through_the_kernel_entry_up_to_their_maximum() {
        crate::install();
        let mut m = new_memory(1, 3).unwrap();
        assert_eq!(m.current_bytes, WASM_PAGE_SIZE);
        // SAFETY: page 0 is mapped.
        unsafe { m.base.write(5) };
        // SAFETY: `m` is a live descriptor set up by new_memory.
        let old = unsafe { runtime_symbols::memory_grow(&mut m, 2) };
        assert_eq!(old, 1);
        // SAFETY: pages 0..3 are mapped now.
        unsafe {
            assert_eq!(m.base.read(), 5);
            assert_eq!(m.base.add(3 * WASM_PAGE_SIZE as usize - 1).read(), 0);
        }
        // SAFETY: as above.
        let full = unsafe { runtime_symbols::memory_grow(&mut m, 1) };
        assert_eq!(full, -1);
    }

    #[test]
    fn tables_start_null_and_grow_through_the_kernel_entry() {
        let mut t = new_table(2, 4);
        // SAFETY: a live descriptor from new_table.
        let old = unsafe { runtime_symbols::table_grow(&mut t, 2, 8 as *const u8) };
        assert_eq!(old, 2);
        // SAFETY: four live elements now.
        let all = unsafe { core::slice::from_raw_parts(t.elements, 4) };
        assert_eq!(all, [core::ptr::null(), core::ptr::null(), 8 as _, 8 as _]);
        // SAFETY: as above.
        let full = unsafe { runtime_symbols::table_grow(&mut t, 1, core::ptr::null()) };
        assert_eq!(full, -1);
    }
}
