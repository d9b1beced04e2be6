//! Symbol names shared by the compiler and the runtimes.
//!
//! A wasm function import `(import "M" "f" ...)` is an undefined symbol named `M.f` (module and
//! field verbatim, joined by [`IMPORT_SEPARATOR`]), called with the C calling convention;
//! wasm `i32/i64/f32/f64` are the matching C types and pointers are `i32` offsets into the
//! linear memory. The module qualifier keeps `wasi_snapshot_preview1.fd_write` from clashing
//! with any symbol of the kernel. Everything else the compiled object defines is hidden,
//! except the symbols named here.

/// Joins an import's module and field into its symbol name.
pub const IMPORT_SEPARATOR: &str = ".";

/// Imports whose module and field do not say which function they are: the same name has two
/// signatures in the wild. `(module, field, parameter count, symbol)`: an import with that name
/// and that many parameters links against `symbol` instead of `module.field`.
///
/// - `sock_accept`: preview1's is `(fd, flags, *new_fd)`; WasmEdge's socket API (crate
///   `wasmedge_wasi_socket`) imports `(fd, *new_fd)` under the same name.
pub const OVERLOADED_IMPORTS: &[(&str, &str, usize, &str)] =
    &[(WASI_MODULE, "sock_accept", 2, WASMEDGE_SOCK_ACCEPT)];

/// The kernel's symbol for WasmEdge's two-parameter `sock_accept`.
pub const WASMEDGE_SOCK_ACCEPT: &str = "wasi_snapshot_preview1.sock_accept/wasmedge";

/// The symbol an overloaded import links against, if `module.field` with `params` parameters is
/// one (see [`OVERLOADED_IMPORTS`]); every other function import is `module.field`.
pub fn overloaded_import(module: &str, field: &str, params: usize) -> Option<&'static str> {
    OVERLOADED_IMPORTS
        .iter()
        .find(|(m, f, p, _)| *m == module && *f == field && *p == params)
        .map(|(_, _, _, symbol)| *symbol)
}

/// Trap entry, defined by the runtime: `extern "C" fn(code: u32) -> !`, code a [`crate::TrapCode`].
pub const TRAP: &str = "__mewz_trap";

/// `memory.grow`, defined by the runtime:
/// `extern "C" fn(memory: *mut MemoryDescriptor, delta_pages: u32) -> i32` (old size in pages,
/// or -1 when the memory cannot grow).
pub const MEMORY_GROW: &str = "__mewz_memory_grow";

/// `table.grow`, defined by the runtime:
/// `extern "C" fn(table: *mut TableDescriptor, delta: u32, init: *const u8) -> i32` (old size in
/// elements, or -1 when the table cannot grow past its maximum or memory runs out). The runtime
/// allocates new element storage, copies the old elements, fills the new ones with `init` and
/// updates the descriptor; compiled code never frees element storage.
pub const TABLE_GROW: &str = "__mewz_table_grow";

/// Lowest address the app's stack may use, defined by the runtime (`usize`). Functions that can
/// leave compiled code (a call to an import, a `call_indirect` through a table that may hold
/// one, `memory.grow`, `table.grow`) compare the stack pointer against it after their prologue
/// and trap with `CallStackExhausted` below it, so the runtime must keep at least
/// [`STACK_LIMIT_MARGIN`] usable bytes below the limit for its own code. Wasm-to-wasm calls are
/// not checked: the runtime keeps an unmapped guard of at least [`STACK_GUARD_MIN`] below the
/// stack and reports a fault there as `CallStackExhausted`; compiled frames larger than a page
/// probe each page on the way down, so no frame steps over the guard.
pub const STACK_LIMIT: &str = "__mewz_stack_limit";

/// Bytes of stack the runtime keeps usable below [`STACK_LIMIT`].
pub const STACK_LIMIT_MARGIN: usize = 64 * 1024;

/// Smallest unmapped guard the runtime keeps below the app's stack.
pub const STACK_GUARD_MIN: usize = 4 * 1024;

/// The module descriptor defined by compiled code, see [`crate::module`].
pub const MODULE_DESCRIPTOR: &str = "__mewz_module";

/// Section holding the module descriptor. A C-identifier name, so ELF linkers define
/// `__start_mewz_module` / `__stop_mewz_module` around it; an image without an app has an empty
/// section, which is how the kernel knows it has no app to run.
pub const MODULE_SECTION: &str = "mewz_module";

/// The WASI preview1 import module.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Section holding the configuration `mewz build` bakes into an image: a UTF-8 string in the
/// kernel command-line syntax (`mewz.env=K=V` options, app arguments after `--`). The runtime
/// command line overrides it. Bounds: `__start_mewz_config` / `__stop_mewz_config`.
pub const CONFIG_SECTION: &str = "mewz_config";

/// Section holding the directories `mewz build --dir` packed (a `mewz-pack` archive), read in
/// place by the kernel. Bounds: `__start_mewz_files` / `__stop_mewz_files`.
pub const FILES_SECTION: &str = "mewz_files";

/// Alignment the CLI gives a non-empty [`FILES_SECTION`], so that the kernel can map it with
/// 2 MiB pages (a large archive then costs a few page-table entries, not one per 4 KiB).
pub const FILES_SECTION_ALIGN: u64 = 2 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wasmedge_sock_accept_is_renamed() {
        assert_eq!(
            overloaded_import(WASI_MODULE, "sock_accept", 2),
            Some(WASMEDGE_SOCK_ACCEPT)
        );
        assert_eq!(overloaded_import(WASI_MODULE, "sock_accept", 3), None);
        assert_eq!(overloaded_import("env", "sock_accept", 2), None);
        assert_eq!(overloaded_import(WASI_MODULE, "fd_write", 4), None);
    }
}
