//! Running the app: the module descriptor the compiler emitted, its linear memory, its stack
//! and its environment, then `instantiate` and `_start` on the app's stack.
//!
//! [`run_app`] is runtime-neutral: the unikernel's boot flow calls it with the descriptor from
//! the image ([`image::module`]); the hosted platform may find the descriptor its own way.

pub mod env;
pub mod files;
pub mod image;
pub mod memory;
#[cfg(any(target_os = "none", feature = "runtime-symbols"))]
pub mod runtime_symbols;
pub mod stack;
pub mod table;

use crate::fs::FileSystem;
use crate::platform::{MapError, Platform};
use crate::wasi::{self, WasiState};
use crate::{klog, kprintln};
use alloc::string::String;
use core::fmt;
pub use env::AppEnv;
use memory::MemoryError;
use mewz_abi::ExitCode;
use mewz_abi::module::{ABI_VERSION, Export, ExportKind, Import, ModuleDescriptor};

/// Why an app could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppError {
    /// The module was compiled for another ABI version.
    AbiVersion {
        found: u32,
    },
    /// More than one module descriptor in the image.
    SeveralModules,
    /// The descriptor section ends inside a descriptor.
    TruncatedDescriptor,
    /// The baked configuration is not UTF-8.
    ConfigNotUtf8,
    Config(env::ConfigError),
    /// An import this runtime does not provide (`module.field`).
    UnknownImport(String),
    /// A preopened listener (`mewz.tcplisten`) could not be opened.
    Listener(core::net::SocketAddr, crate::wasi::Errno),
    /// An import of a kind (memory, table, global) this runtime does not provide.
    UnsupportedImport(String),
    /// `_start` takes parameters or returns results.
    StartSignature,
    Memory(MemoryError),
    Stack(MapError),
    /// More preopened directories than descriptors.
    TooManyPreopens,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::AbiVersion { found } => write!(
                f,
                "the app was compiled for ABI version {found}, this kernel has version {ABI_VERSION} (rebuild the image with the same mewz)"
            ),
            AppError::SeveralModules => f.write_str("the image holds more than one module"),
            AppError::TruncatedDescriptor => f.write_str("the module descriptor is truncated"),
            AppError::ConfigNotUtf8 => f.write_str("the baked configuration is not UTF-8"),
            AppError::Config(e) => write!(f, "bad configuration: {e}"),
            AppError::UnknownImport(name) => write!(f, "unknown import {name}"),
            AppError::Listener(addr, e) => write!(
                f,
                "mewz.tcplisten={addr}: cannot listen there ({})",
                e.describe()
            ),
            AppError::UnsupportedImport(name) => {
                write!(f, "import {name}: only function imports are supported")
            }
            AppError::StartSignature => {
                f.write_str("_start must take no parameters and return nothing")
            }
            AppError::Memory(e) => write!(f, "{e}"),
            AppError::Stack(e) => write!(f, "cannot map the app's stack: {e}"),
            AppError::TooManyPreopens => f.write_str("more preopened directories than descriptors"),
        }
    }
}

/// The boot flow's entry: runs the image's app with the baked configuration merged with the
/// boot command line, and its packed directories ([`files`]); returns the exit status
/// (printing why, if it cannot start).
pub fn start(p: &dyn Platform, module: &'static ModuleDescriptor) -> u8 {
    let checking = p.monotonic_ns();
    let archive = match files::archive(p) {
        Ok(a) => a,
        Err(e) => {
            kprintln!("mewz: {e}");
            return ExitCode::CORRUPT_ARCHIVE.0;
        }
    };
    if let Some(a) = &archive {
        klog!(
            "files: {} preopened director{}, {} nodes, {} KiB, checked in {} us",
            a.root_count(),
            if a.root_count() == 1 { "y" } else { "ies" },
            a.node_count(),
            a.len() / 1024,
            p.monotonic_ns().saturating_sub(checking) / 1000
        );
    }
    let result = image::baked_config()
        .and_then(|baked| {
            AppEnv::from_command_lines(&baked, p.command_line()).map_err(AppError::Config)
        })
        .and_then(|env| run_app(p, module, env, FileSystem::new(archive)));
    match result {
        Ok(code) => code,
        Err(e) => {
            kprintln!("mewz: cannot start the app: {e}");
            match e {
                AppError::Memory(MemoryError::MachineTooSmall(too_small)) => {
                    crate::footprint::note_machine_too_small(&too_small);
                    ExitCode::OUT_OF_MEMORY.0
                }
                AppError::Memory(MemoryError::Map(MapError::OutOfMemory))
                | AppError::Stack(MapError::OutOfMemory) => ExitCode::OUT_OF_MEMORY.0,
                _ => ExitCode::APP_NOT_STARTED.0,
            }
        }
    }
}

/// Sets up and runs an app with the files of `fs`. Returns 0 when `_start` returns (or the
/// module has none); `proc_exit` and traps end the machine through the platform instead of
/// returning.
pub fn run_app(
    p: &dyn Platform,
    module: &ModuleDescriptor,
    env: AppEnv,
    fs: FileSystem,
) -> Result<u8, AppError> {
    if module.abi_version != ABI_VERSION {
        return Err(AppError::AbiVersion {
            found: module.abi_version,
        });
    }
    link_imports(module)?;
    let start = find_start(module)?;
    memory::set_limit(env.memory_limit_bytes);
    // SAFETY: the compiler points `memory` at its own descriptor (or null); nothing else
    // uses it before the app runs.
    if let Some(mem) = unsafe { module.memory.as_mut() } {
        memory::setup(p, mem).map_err(AppError::Memory)?;
        klog!(
            "linear memory: {} KiB at {:p}",
            mem.current_bytes / 1024,
            mem.base
        );
    }
    let mut state = WasiState::new(&env.args, &env.env);
    state.stdio = wasi::stdio::HostStdio::parse(
        crate::cmdline::CommandLine::parse(p.command_line()).option(wasi::stdio::OPTION),
    );
    // Preopened listeners first, as wasmtime 36 hands them out, then the directories.
    for &addr in &env.tcp_listeners {
        let fd = wasi::sock::preopen_listener(&mut state, p, addr)
            .map_err(|e| AppError::Listener(addr, e))?;
        klog!("listening on {addr} (fd {fd})");
    }
    let state = state
        .with_files(fs)
        .map_err(|_| AppError::TooManyPreopens)?;
    wasi::install(state, module.memory);
    klog!("argv {:?}", env.args);
    let entry = Entry {
        instantiate: module.instantiate,
        start,
    };
    run_entry(p, &entry)?;
    Ok(ExitCode::SUCCESS.0)
}

/// Where this crate defines `__mewz_stack_limit`: on a fresh stack above a guard page, with
/// the limit set for it.
#[cfg(any(target_os = "none", feature = "runtime-symbols"))]
fn run_entry(p: &dyn Platform, entry: &Entry) -> Result<(), AppError> {
    let stack = stack::allocate(p, stack::APP_STACK_BYTES).map_err(AppError::Stack)?;
    runtime_symbols::STACK_LIMIT.store(stack.limit, core::sync::atomic::Ordering::Relaxed);
    klog!(
        "app stack: {:#x}..{:#x}",
        stack.guard + stack::STACK_GUARD_BYTES,
        stack.top
    );
    p.call_on_stack(stack.top, enter, entry as *const Entry as usize);
    Ok(())
}

/// Elsewhere the embedder defines `__mewz_stack_limit` for the stack it runs on: stay on it.
#[cfg(not(any(target_os = "none", feature = "runtime-symbols")))]
fn run_entry(_p: &dyn Platform, entry: &Entry) -> Result<(), AppError> {
    enter(entry as *const Entry as usize);
    Ok(())
}

struct Entry {
    instantiate: Option<unsafe extern "C" fn()>,
    start: Option<unsafe extern "C" fn()>,
}

extern "C" fn enter(entry: usize) {
    // SAFETY: `run_app` passes a pointer to an `Entry` that outlives this call.
    let entry = unsafe { &*(entry as *const Entry) };
    if let Some(instantiate) = entry.instantiate {
        // SAFETY: the compiled module's instantiate, called once, after its memory and
        // imports are set up, on the app's stack.
        unsafe { instantiate() }
    }
    if let Some(start) = entry.start {
        // SAFETY: `_start` with its signature checked by `find_start`.
        unsafe { start() }
    }
}

/// # Safety
/// `ptr` points to `len` bytes (or `len` is 0).
unsafe fn text<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(ptr, len as usize) }
}

/// # Safety
/// `ptr` points to `count` elements (or `count` is 0).
unsafe fn array<'a, T>(ptr: *const T, count: u32) -> &'a [T] {
    if count == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(ptr, count as usize) }
}

/// Checks every import is a WASI function this kernel exports, and fills the slots of
/// modules that link imports through slots rather than symbols.
fn link_imports(module: &ModuleDescriptor) -> Result<(), AppError> {
    // SAFETY: the compiler emits `import_count` imports with valid names.
    for import in unsafe { array::<Import>(module.imports, module.import_count) } {
        // SAFETY: as above.
        let (m, field) = unsafe {
            (
                text(import.module, import.module_len),
                text(import.field, import.field_len),
            )
        };
        let name = || {
            format!(
                "{}.{}",
                String::from_utf8_lossy(m),
                String::from_utf8_lossy(field)
            )
        };
        if import.kind != ExportKind::Function {
            return Err(AppError::UnsupportedImport(name()));
        }
        let params = import.signature.param_count as usize;
        let address = core::str::from_utf8(m)
            .ok()
            .zip(core::str::from_utf8(field).ok())
            .and_then(|(m, field)| wasi::exports::import_address(m, field, params))
            .ok_or_else(|| AppError::UnknownImport(name()))?;
        if !import.slot.is_null() {
            // SAFETY: the slot is the importing module's writable function-pointer cell.
            unsafe { import.slot.write(address) };
        }
    }
    Ok(())
}

/// The `_start` export, if any.
fn find_start(module: &ModuleDescriptor) -> Result<Option<unsafe extern "C" fn()>, AppError> {
    // SAFETY: the compiler emits `export_count` exports with valid names.
    let exports = unsafe { array::<Export>(module.exports, module.export_count) };
    // SAFETY: the compiler emits valid export names.
    let name = |e: &Export| unsafe { text(e.name, e.name_len) };
    let Some(start) = exports
        .iter()
        .find(|e| e.kind == ExportKind::Function && name(e) == b"_start")
    else {
        klog!("the module exports no _start: instantiating only");
        return Ok(None);
    };
    // SAFETY: `function` is null or the export's signature record.
    let function = unsafe { start.function.as_ref() };
    if function.is_some_and(|f| f.signature.param_count != 0 || f.signature.result_count != 0) {
        return Err(AppError::StartSignature);
    }
    if start.address.is_null() {
        return Err(AppError::StartSignature);
    }
    // SAFETY: a function export's address is its native code, `extern "C" fn()` as checked.
    Ok(Some(unsafe {
        core::mem::transmute::<*const u8, unsafe extern "C" fn()>(start.address)
    }))
}

#[cfg(test)]
mod tests;
