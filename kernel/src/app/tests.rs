//! `run_app` against hand-built descriptors on the mock platform.

use super::*;
use crate::fs::FileSystem;
use crate::wasi::mock::MockPlatform;
use mewz_abi::memory::{MAX_WASM_PAGES, MemoryDescriptor, WASM_PAGE_SIZE};
use mewz_abi::module::{ExportedFunction, GlobalType, Signature, ValType};
use std::sync::Mutex;
use std::vec::Vec;

use crate::wasi::testing::GLOBAL_STATE as SERIAL;
static CALLS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

unsafe extern "C" fn instantiate() {
    CALLS.lock().unwrap().push("instantiate");
}

unsafe extern "C" fn start() {
    CALLS.lock().unwrap().push("_start");
}

unsafe extern "C" fn no_array_call(_: *const u64, _: *mut u64) {}

fn signature(params: &'static [ValType]) -> Signature {
    Signature {
        type_id: mewz_abi::module::func_type_id(params, &[]),
        params: params.as_ptr(),
        results: core::ptr::null(),
        param_count: params.len() as u32,
        result_count: 0,
    }
}

fn function_export(name: &'static str, code: *const u8, f: &'static ExportedFunction) -> Export {
    Export {
        name: name.as_ptr(),
        name_len: name.len() as u32,
        kind: ExportKind::Function,
        address: code,
        function: f,
        global: GlobalType {
            value: ValType::I32,
            mutable: 0,
        },
        flags: 0,
    }
}

fn import(
    module: &'static str,
    field: &'static str,
    kind: ExportKind,
    slot: *mut *const u8,
) -> Import {
    Import {
        module: module.as_ptr(),
        module_len: module.len() as u32,
        kind,
        field: field.as_ptr(),
        field_len: field.len() as u32,
        signature: signature(&[]),
        slot,
        global: GlobalType {
            value: ValType::I32,
            mutable: 0,
        },
        table_element: 0,
        minimum: 0,
        maximum: u64::MAX,
    }
}

fn leak<T>(v: T) -> &'static mut T {
    Box::leak(Box::new(v))
}

fn module(
    exports: Vec<Export>,
    imports: Vec<Import>,
    memory: *mut MemoryDescriptor,
) -> ModuleDescriptor {
    let (export_count, import_count) = (exports.len() as u32, imports.len() as u32);
    ModuleDescriptor {
        abi_version: ABI_VERSION,
        export_count,
        memory,
        instantiate: Some(instantiate),
        exports: exports.leak().as_ptr(),
        import_count,
        reserved: 0,
        imports: imports.leak().as_ptr(),
    }
}

fn start_export(params: &'static [ValType]) -> Export {
    let f = leak(ExportedFunction {
        signature: signature(params),
        array_call: no_array_call,
        funcref: core::ptr::null(),
    });
    function_export("_start", start as *const u8, f)
}

fn env(args: &[&str]) -> AppEnv {
    AppEnv {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![("GREETING".into(), "hi".into())],
        ..AppEnv::default()
    }
}

#[test]
fn runs_instantiate_then_start_with_memory_and_imports_linked() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _l = memory::tests::locks();
    CALLS.lock().unwrap().clear();
    let p = MockPlatform::new();
    let mem = leak(MemoryDescriptor {
        base: core::ptr::null_mut(),
        current_bytes: 0,
        minimum_pages: 2,
        maximum_pages: MAX_WASM_PAGES,
    });
    let slot: &'static mut *const u8 = leak(core::ptr::null());
    let m = module(
        vec![start_export(&[])],
        vec![
            import(
                "wasi_snapshot_preview1",
                "fd_write",
                ExportKind::Function,
                slot,
            ),
            import(
                "wasi_snapshot_preview1",
                "proc_exit",
                ExportKind::Function,
                core::ptr::null_mut(),
            ),
        ],
        mem,
    );
    assert_eq!(
        run_app(&p, &m, env(&["app", "x"]), FileSystem::default()),
        Ok(0)
    );
    assert_eq!(*CALLS.lock().unwrap(), ["instantiate", "_start"]);
    assert_eq!(m.memory, mem as *mut _);
    // SAFETY: `mem` is leaked and only read here.
    let mem = unsafe { &*m.memory };
    assert_eq!(mem.current_bytes, 2 * WASM_PAGE_SIZE);
    assert_eq!(*slot, wasi::exports::address("fd_write").unwrap());
    let committed = p.committed.lock().unwrap();
    assert_eq!(
        committed[0],
        (mem.base as usize, 2 * 65536),
        "memory first, at the first reservation"
    );
    assert!(
        p.mapped.lock().unwrap().is_empty(),
        "pages are backed on touch"
    );
    #[cfg(feature = "runtime-symbols")]
    {
        assert_eq!(committed.len(), 2, "memory, then the app stack");
        assert_eq!(committed[1].1, stack::APP_STACK_BYTES);
        let limit = runtime_symbols::STACK_LIMIT.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(limit, committed[1].0 + stack::STACK_LIMIT_MARGIN);
    }
    #[cfg(not(feature = "runtime-symbols"))]
    assert_eq!(
        committed.len(),
        1,
        "no stack of its own: the embedder's stack and limit"
    );
}

#[test]
fn a_module_without_start_or_memory_only_instantiates() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _l = memory::tests::locks();
    CALLS.lock().unwrap().clear();
    let p = MockPlatform::new();
    let m = module(vec![], vec![], core::ptr::null_mut());
    assert_eq!(run_app(&p, &m, env(&["app"]), FileSystem::default()), Ok(0));
    assert_eq!(*CALLS.lock().unwrap(), ["instantiate"]);
}

#[test]
fn slots_link_each_sock_accept_by_its_signature() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _l = memory::tests::LIMIT_LOCK.lock().unwrap();
    CALLS.lock().unwrap().clear();
    let p = MockPlatform::new();
    let accept = |params: &'static [ValType], slot| Import {
        signature: signature(params),
        ..import(
            "wasi_snapshot_preview1",
            "sock_accept",
            ExportKind::Function,
            slot,
        )
    };
    let preview1: &'static mut *const u8 = leak(core::ptr::null());
    let wasmedge: &'static mut *const u8 = leak(core::ptr::null());
    let m = module(
        vec![],
        vec![
            accept(&[ValType::I32; 3], preview1),
            accept(&[ValType::I32; 2], wasmedge),
        ],
        core::ptr::null_mut(),
    );
    assert_eq!(run_app(&p, &m, env(&["app"]), FileSystem::default()), Ok(0));
    assert_eq!(*preview1, wasi::exports::sock_accept as *const u8);
    assert_eq!(
        *wasmedge,
        wasi::exports::sock_accept_wasmedge as *const u8,
        "the two-parameter import is WasmEdge's"
    );
}

#[test]
fn startup_errors() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _l = memory::tests::locks();
    CALLS.lock().unwrap().clear();
    let p = MockPlatform::new();
    let null = core::ptr::null_mut();

    let mut m = module(vec![start_export(&[])], vec![], null);
    m.abi_version = ABI_VERSION + 1;
    assert_eq!(
        run_app(&p, &m, env(&[]), FileSystem::default()),
        Err(AppError::AbiVersion {
            found: ABI_VERSION + 1
        })
    );

    let m = module(vec![start_export(&[ValType::I32])], vec![], null);
    assert_eq!(
        run_app(&p, &m, env(&[]), FileSystem::default()),
        Err(AppError::StartSignature)
    );

    let m = module(
        vec![],
        vec![import(
            "wasi_snapshot_preview1",
            "sock_open_v2",
            ExportKind::Function,
            core::ptr::null_mut(),
        )],
        null,
    );
    let err = run_app(&p, &m, env(&[]), FileSystem::default()).unwrap_err();
    assert_eq!(
        err,
        AppError::UnknownImport("wasi_snapshot_preview1.sock_open_v2".into())
    );
    assert_eq!(
        format!("{err}"),
        "unknown import wasi_snapshot_preview1.sock_open_v2"
    );

    let m = module(
        vec![],
        vec![import(
            "env",
            "fd_write",
            ExportKind::Function,
            core::ptr::null_mut(),
        )],
        null,
    );
    assert_eq!(
        run_app(&p, &m, env(&[]), FileSystem::default()),
        Err(AppError::UnknownImport("env.fd_write".into()))
    );

    let m = module(
        vec![],
        vec![import(
            "env",
            "memory",
            ExportKind::Memory,
            core::ptr::null_mut(),
        )],
        null,
    );
    assert_eq!(
        run_app(&p, &m, env(&[]), FileSystem::default()),
        Err(AppError::UnsupportedImport("env.memory".into()))
    );

    let mem = leak(MemoryDescriptor {
        base: null.cast(),
        current_bytes: 0,
        minimum_pages: 17,
        maximum_pages: 20,
    });
    let m = module(vec![], vec![], mem);
    let mut e = env(&[]);
    e.memory_limit_bytes = Some(16 * WASM_PAGE_SIZE);
    assert!(matches!(
        run_app(&p, &m, e, FileSystem::default()),
        Err(AppError::Memory(MemoryError::AboveLimit { .. }))
    ));
    memory::set_limit(None);
    assert!(CALLS.lock().unwrap().is_empty(), "nothing ran");
}
