//! The module descriptor: what compiled code tells the runtime about itself.
//!
//! The compiler emits one [`ModuleDescriptor`] named [`crate::symbols::MODULE_DESCRIPTOR`] in
//! section [`crate::symbols::MODULE_SECTION`]. The runtime finds it there, points the memory at
//! its reservation, then calls `instantiate` (data and element initialisation, then the start
//! function) and the `_start` export.

use crate::memory::MemoryDescriptor;

/// Bumped whenever any layout in this crate changes.
pub const ABI_VERSION: u32 = 1;

/// Layout of the descriptor. The compiler owns the details of its tables (exports, imports,
/// tables, globals) and documents them here as they are added.
#[repr(C)]
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// [`ABI_VERSION`] of the compiler that produced the module.
    pub abi_version: u32,
    /// Number of entries in `exports`.
    pub export_count: u32,
    /// The module's defined or imported memory 0, or null if it has none.
    pub memory: *mut MemoryDescriptor,
    /// Runs active data/element segments and the start function.
    pub instantiate: Option<unsafe extern "C" fn()>,
    /// Exported items.
    pub exports: *const Export,
}

/// Kind of an exported item.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Function = 0,
    Table = 1,
    Memory = 2,
    Global = 3,
}

/// One export: its name (UTF-8, not NUL-terminated) and the address of the item.
#[repr(C)]
#[derive(Debug)]
pub struct Export {
    pub name: *const u8,
    pub name_len: u32,
    pub kind: ExportKind,
    /// Function: code address. Memory: `*mut MemoryDescriptor`. Others: see the compiler docs.
    pub address: *const u8,
}
