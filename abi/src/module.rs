//! The module descriptor: what compiled code tells the runtime about itself.
//!
//! The compiler emits one [`ModuleDescriptor`] named [`crate::symbols::MODULE_DESCRIPTOR`] in
//! section [`crate::symbols::MODULE_SECTION`] (kept alive by `llvm.used`, so `--gc-sections`
//! never drops it). Every other symbol of the object is local, except the undefined ones the
//! runtime provides (see [`crate::symbols`]) and the C memory functions `memcpy`, `memmove`,
//! `memset`, which LLVM may call for bulk copies.
//!
//! # Starting a module
//! 1. For the module's defined memory ([`ModuleDescriptor::memory`]): reserve
//!    [`crate::memory::RESERVATION_BYTES`], make `minimum_pages` accessible, write `base` and
//!    `current_bytes`. `minimum_pages`/`maximum_pages` are already filled in by the compiler.
//! 2. For every import ([`ModuleDescriptor::imports`]): write the item's address into its
//!    `slot` (see [`Import::slot`]).
//! 3. Call `instantiate`: it evaluates global initialisers that read imported globals, copies
//!    the active element segments then the active data segments in module order (trapping
//!    through [`crate::symbols::TRAP`] like the spec when a segment is out of bounds; segments
//!    before it stay written), and finally runs the start function.
//! 4. Call exports, through their native address or their array-call trampoline.
//!
//! Every module keeps its state (memory, tables, globals) in its own static data, so several
//! modules (or several copies of one module loaded as separate shared objects) coexist.
//!
//! # Value representation
//! - In native calls: `i32`/`i64`/`f32`/`f64` are the matching C types; `v128` is a 128-bit
//!   vector (C's `__m128i` on x86_64, `uint8x16_t` on aarch64: one SIMD register, lane 0 in its
//!   low bytes, as wasm stores it in memory); `funcref` and `externref` are pointers. Multi-value results are returned as an LLVM first-class struct
//!   of the result types (only compiled code and trampolines ever see those).
//! - In array calls (trampolines) and global cells: see [`ArrayCall`] and [`Export::address`].
//! - A `funcref` is a pointer to a [`FuncRef`], null for `ref.null func`. An `externref` is an
//!   opaque pointer-sized value, null for `ref.null extern`.

use crate::memory::MemoryDescriptor;

/// Bumped whenever any layout in this crate changes.
pub const ABI_VERSION: u32 = 3;

/// Layout of the descriptor.
#[repr(C)]
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// [`ABI_VERSION`] of the compiler that produced the module.
    pub abi_version: u32,
    /// Number of entries in `exports`.
    pub export_count: u32,
    /// The module's *defined* memory 0, or null if it has none or imports it (an imported
    /// memory is reached through its import slot).
    pub memory: *mut MemoryDescriptor,
    /// Runs global initialisers, active element then data segments, then the start function.
    /// Call it once, after every import slot and the memory are set up.
    pub instantiate: Option<unsafe extern "C" fn()>,
    /// Exported items, `export_count` of them, in the module's export order.
    pub exports: *const Export,
    /// Number of entries in `imports`.
    pub import_count: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Imported items, `import_count` of them, in the module's import order.
    pub imports: *const Import,
}

/// Kind of an imported or exported item (values match the wasm binary encoding).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Function = 0,
    Table = 1,
    Memory = 2,
    Global = 3,
}

/// A wasm value type (values match the wasm binary encoding).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    I32 = 0x7f,
    I64 = 0x7e,
    F32 = 0x7d,
    F64 = 0x7c,
    /// The 128-bit vector of fixed-width SIMD.
    V128 = 0x7b,
    FuncRef = 0x70,
    ExternRef = 0x6f,
}

impl ValType {
    pub const fn from_u8(byte: u8) -> Option<ValType> {
        match byte {
            0x7f => Some(ValType::I32),
            0x7e => Some(ValType::I64),
            0x7d => Some(ValType::F32),
            0x7c => Some(ValType::F64),
            0x7b => Some(ValType::V128),
            0x70 => Some(ValType::FuncRef),
            0x6f => Some(ValType::ExternRef),
            _ => None,
        }
    }
}

/// The canonical 64-bit id of a function type: equal ids ⇔ structurally equal types, across
/// modules. `call_indirect` compares the callee's [`FuncRef::type_id`] with the id of the
/// expected type. Runtimes that make host functions callable from wasm compute it with this
/// function. (FNV-1a over the count-prefixed parameter and result encodings.)
pub const fn func_type_id(params: &[ValType], results: &[ValType]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    hash = (hash ^ (params.len() as u64 & 0xff)).wrapping_mul(PRIME);
    hash = (hash ^ ((params.len() as u64 >> 8) & 0xff)).wrapping_mul(PRIME);
    let mut i = 0;
    while i < params.len() {
        hash = (hash ^ params[i] as u64).wrapping_mul(PRIME);
        i += 1;
    }
    hash = (hash ^ (results.len() as u64 & 0xff)).wrapping_mul(PRIME);
    hash = (hash ^ ((results.len() as u64 >> 8) & 0xff)).wrapping_mul(PRIME);
    let mut i = 0;
    while i < results.len() {
        hash = (hash ^ results[i] as u64).wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

/// What a non-null `funcref` points to. Compiled code emits one per function that can be
/// referenced; a runtime may build its own for host functions. A `FuncRef` never changes
/// once a module's code can reach it (an import's is filled in at link time, before the module
/// runs): compiled code may load its fields once and reuse them.
#[repr(C)]
#[derive(Debug)]
pub struct FuncRef {
    /// Native code address (C calling convention, the function's wasm signature).
    pub code: *const u8,
    /// [`func_type_id`] of the function's type.
    pub type_id: u64,
}

/// A table's state, shared by compiled code and the runtime. Elements are pointer-sized
/// references (`funcref`: `*const FuncRef`; `externref`: opaque), null when empty.
#[repr(C)]
#[derive(Debug)]
pub struct TableDescriptor {
    /// Current element storage, `current_elements` long. The compiler provides the initial
    /// storage (`minimum` elements, all null); `table.grow` is done by the runtime
    /// ([`crate::symbols::TABLE_GROW`]), which may replace it.
    pub elements: *mut *const u8,
    /// Current size in elements.
    pub current_elements: u32,
    /// Declared maximum (`u32::MAX` when the module declares none).
    pub maximum_elements: u32,
}

/// Byte offsets of [`TableDescriptor`]'s fields, for code generators.
pub mod table_descriptor_offsets {
    pub const ELEMENTS: u32 = 0;
    pub const CURRENT_ELEMENTS: u32 = 8;
    pub const MAXIMUM_ELEMENTS: u32 = 12;
    pub const SIZE: u32 = 16;
}

/// Byte offsets of [`FuncRef`]'s fields, for code generators.
pub mod funcref_offsets {
    pub const CODE: u32 = 0;
    pub const TYPE_ID: u32 = 8;
    pub const SIZE: u32 = 16;
}

/// Array-call trampoline: calls a function with its arguments read from `args` and its results
/// written to `results`, one `u64` slot per wasm value: `i32`/`i64` as zero-extended bit
/// patterns, `f32`/`f64` as their bits (zero-extended), references as pointer values. A `v128`
/// takes two consecutive slots, its low 8 bytes (lanes 0.. in memory order) first; see
/// [`array_call_slots`].
pub type ArrayCall = unsafe extern "C" fn(args: *const u64, results: *mut u64);

/// How many `u64` slots of an [`ArrayCall`] buffer a value of type `t` takes.
pub const fn array_call_slots(t: ValType) -> usize {
    match t {
        ValType::V128 => 2,
        _ => 1,
    }
}

/// A function type in descriptor form.
#[repr(C)]
#[derive(Debug)]
pub struct Signature {
    /// [`func_type_id`] of `params` → `results`.
    pub type_id: u64,
    /// `param_count` parameter types.
    pub params: *const ValType,
    /// `result_count` result types.
    pub results: *const ValType,
    pub param_count: u32,
    pub result_count: u32,
}

/// Everything a runtime needs to call an exported function.
#[repr(C)]
#[derive(Debug)]
pub struct ExportedFunction {
    pub signature: Signature,
    /// Calls the function uniformly (see [`ArrayCall`]).
    pub array_call: ArrayCall,
    /// The function as a `funcref` value (what `ref.func` of it yields), for putting it into
    /// another module's table.
    pub funcref: *const FuncRef,
}

/// Type of a global: its value type and whether it is mutable (0 or 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalType {
    pub value: ValType,
    pub mutable: u8,
}

/// [`Export::flags`] bit: `address` is the address of a pointer slot holding the item's
/// address (a re-exported imported memory, table or global: its slot, see [`Import::slot`]).
pub const EXPORT_INDIRECT: u32 = 1;

/// One export.
#[repr(C)]
#[derive(Debug)]
pub struct Export {
    /// UTF-8, not NUL-terminated, `name_len` bytes.
    pub name: *const u8,
    pub name_len: u32,
    pub kind: ExportKind,
    /// Function: native code address (C ABI, the wasm signature). Table: `*mut
    /// TableDescriptor`. Memory: `*mut MemoryDescriptor`. Global: address of its cell, 8 bytes,
    /// 8-aligned, value stored in its native representation at offset 0 (`i32`/`f32` in the low
    /// 4 bytes, references as pointers); a `v128` global's cell is 16 bytes, 16-aligned, its
    /// bytes as wasm stores the value in memory. With [`EXPORT_INDIRECT`] in `flags`: address of a slot
    /// holding that address.
    pub address: *const u8,
    /// Function only (null otherwise).
    pub function: *const ExportedFunction,
    /// Global only (zeroed otherwise).
    pub global: GlobalType,
    /// [`EXPORT_INDIRECT`] or 0.
    pub flags: u32,
}

/// One import and the slot through which compiled code reaches it.
#[repr(C)]
#[derive(Debug)]
pub struct Import {
    /// UTF-8 module name, `module_len` bytes, not NUL-terminated.
    pub module: *const u8,
    pub module_len: u32,
    pub kind: ExportKind,
    /// UTF-8 field name, `field_len` bytes, not NUL-terminated.
    pub field: *const u8,
    pub field_len: u32,
    /// Function imports: the function's type (null pointers and zero counts otherwise).
    pub signature: Signature,
    /// Where the runtime writes the imported item's address before `instantiate`:
    /// - Function with `ImportLinkage::Slots`: the native code address (C ABI). The slot is
    ///   the `code` field of the importing module's own [`FuncRef`] for the import.
    ///   With `ImportLinkage::Symbols` this is null: calls go to the undefined symbol
    ///   `module.field` ([`crate::symbols::IMPORT_SEPARATOR`]).
    /// - Memory: `*mut MemoryDescriptor`. Table: `*mut TableDescriptor`. Global: the cell
    ///   address (layout as in [`Export::address`]).
    pub slot: *mut *const u8,
    /// Global imports: the expected type (zeroed otherwise).
    pub global: GlobalType,
    /// Table imports: element type ([`ValType::FuncRef`] / [`ValType::ExternRef`]; 0 otherwise).
    pub table_element: u8,
    /// Table imports (elements) and memory imports (pages): declared minimum.
    pub minimum: u64,
    /// Table and memory imports: declared maximum, `u64::MAX` when none.
    pub maximum: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn offsets_match_layout() {
        use funcref_offsets as f;
        use table_descriptor_offsets as t;
        assert_eq!(offset_of!(TableDescriptor, elements) as u32, t::ELEMENTS);
        assert_eq!(
            offset_of!(TableDescriptor, current_elements) as u32,
            t::CURRENT_ELEMENTS
        );
        assert_eq!(
            offset_of!(TableDescriptor, maximum_elements) as u32,
            t::MAXIMUM_ELEMENTS
        );
        assert_eq!(size_of::<TableDescriptor>() as u32, t::SIZE);
        assert_eq!(offset_of!(FuncRef, code) as u32, f::CODE);
        assert_eq!(offset_of!(FuncRef, type_id) as u32, f::TYPE_ID);
        assert_eq!(size_of::<FuncRef>() as u32, f::SIZE);
    }

    #[test]
    fn type_ids_are_structural() {
        use ValType::*;
        let a = func_type_id(&[I32, I64], &[F32]);
        assert_eq!(a, func_type_id(&[I32, I64], &[F32]));
        assert_ne!(a, func_type_id(&[I32], &[I64, F32]));
        assert_ne!(a, func_type_id(&[I64, I32], &[F32]));
        assert_ne!(func_type_id(&[], &[]), func_type_id(&[I32], &[]));
        assert_eq!(ValType::from_u8(0x70), Some(FuncRef));
        assert_eq!(ValType::from_u8(0x7b), Some(V128));
        assert_eq!(ValType::from_u8(0x7a), None);
        assert_ne!(func_type_id(&[V128], &[]), func_type_id(&[I64, I64], &[]));
        assert_eq!(array_call_slots(V128), 2);
        assert_eq!(array_call_slots(F64), 1);
    }
}
