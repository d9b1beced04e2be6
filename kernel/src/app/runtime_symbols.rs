//! The runtime entries compiled code calls, under the symbol names of [`mewz_abi::symbols`].
//! Defined on the unikernel targets, and wherever the `runtime-symbols` feature asks for them.

use crate::platform::platform;
use core::sync::atomic::AtomicUsize;
use mewz_abi::TrapCode;
use mewz_abi::memory::MemoryDescriptor;
use mewz_abi::module::TableDescriptor;

/// Lowest stack address compiled code may use (`__mewz_stack_limit`); 0 until the runtime
/// sets it for the app's stack. Compiled code reads it as a plain `usize`.
#[unsafe(export_name = "__mewz_stack_limit")]
pub static STACK_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// `memory.grow` for any memory: the old size in pages, or -1.
///
/// # Safety
/// `memory` is null or a live descriptor set up by [`super::memory::setup`].
#[unsafe(export_name = "__mewz_memory_grow")]
pub unsafe extern "C" fn memory_grow(memory: *mut MemoryDescriptor, delta_pages: u32) -> i32 {
    // SAFETY: guaranteed by the caller (compiled code passes its own descriptor).
    let Some(memory) = (unsafe { memory.as_mut() }) else {
        return -1;
    };
    super::memory::grow(platform(), memory, delta_pages).map_or(-1, |old| old as i32)
}

/// `table.grow`: the old size in elements, or -1.
///
/// # Safety
/// `table` is null or a live descriptor whose storage holds `current_elements` elements.
#[unsafe(export_name = "__mewz_table_grow")]
pub unsafe extern "C" fn table_grow(
    table: *mut TableDescriptor,
    delta: u32,
    init: *const u8,
) -> i32 {
    // SAFETY: guaranteed by the caller (compiled code passes its own descriptor).
    let Some(table) = (unsafe { table.as_mut() }) else {
        return -1;
    };
    super::table::grow(table, delta, init).map_or(-1, |old| old as i32)
}

/// A trap compiled code detected. An unknown code is a compiler bug, reported as a panic.
#[unsafe(export_name = "__mewz_trap")]
pub extern "C" fn trap(code: u32) -> ! {
    match TrapCode::from_u32(code) {
        Some(trap) => crate::fault::wasm_trap(trap),
        None => panic!("compiled code raised the unknown trap code {code}"),
    }
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// `export_name` needs literals; these keep them equal to the ABI's names.
const _: () = {
    use mewz_abi::symbols as s;
    assert!(same(s::STACK_LIMIT, "__mewz_stack_limit"));
    assert!(same(s::MEMORY_GROW, "__mewz_memory_grow"));
    assert!(same(s::TABLE_GROW, "__mewz_table_grow"));
    assert!(same(s::TRAP, "__mewz_trap"));
};
