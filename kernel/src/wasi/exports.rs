//! The C-ABI symbols compiled apps import: `wasi_snapshot_preview1.<name>`, wasm types in
//! (`i32` pointers and sizes, `i64` for 64-bit values), an `i32` errno out.

use super::{args, clock, fd_ops, path, poll, sock, with_ctx};

/// Symbol prefix of every export below; checked against the ABI crate at compile time.
const PREFIX: &str = "wasi_snapshot_preview1.";
const _: () = {
    let (module, sep, prefix) = (
        mewz_abi::symbols::WASI_MODULE.as_bytes(),
        mewz_abi::symbols::IMPORT_SEPARATOR.as_bytes(),
        PREFIX.as_bytes(),
    );
    assert!(prefix.len() == module.len() + sep.len());
    let mut i = 0;
    while i < prefix.len() {
        let want = if i < module.len() {
            module[i]
        } else {
            sep[i - module.len()]
        };
        assert!(prefix[i] == want, "PREFIX disagrees with mewz_abi::symbols");
        i += 1;
    }
};

/// Defines `extern "C" fn name(args) -> i32` exported as `PREFIX name`, calling
/// `implementation(cx, args as the implementation's types)`: `i32` pointers become `u32`
/// offsets, `i64` values `u64` (or `i64` where signed).
macro_rules! exports {
    ($($name:ident($($arg:ident: $ty:ty),*) => $implementation:path;)*) => {
        $(
            #[unsafe(export_name = concat!("wasi_snapshot_preview1.", stringify!($name)))]
            pub extern "C" fn $name($($arg: $ty),*) -> i32 {
                with_ctx(|cx| $implementation(cx, $($arg as _),*))
            }
        )*
        /// Every WASI function this module exports, by name.
        pub const NAMES: &[&str] = &[$(stringify!($name), )* "proc_exit"];

        /// The code address of the export for the `wasi_snapshot_preview1` function `field`,
        /// for runtimes that link imports through slots instead of symbols.
        pub fn address(field: &str) -> Option<*const u8> {
            Some(match field {
                $(stringify!($name) => $name as *const u8,)*
                "proc_exit" => proc_exit as *const u8,
                _ => return None,
            })
        }
    };
}

exports! {
    args_get(argv: i32, argv_buf: i32) => args::args_get;
    args_sizes_get(argc: i32, argv_buf_size: i32) => args::args_sizes_get;
    environ_get(environ: i32, environ_buf: i32) => args::environ_get;
    environ_sizes_get(count: i32, buf_size: i32) => args::environ_sizes_get;
    clock_res_get(id: i32, resolution: i32) => clock::clock_res_get;
    clock_time_get(id: i32, precision: i64, time: i32) => clock::clock_time_get;
    fd_advise(fd: i32, offset: i64, len: i64, advice: i32) => fd_ops::fd_advise;
    fd_allocate(fd: i32, offset: i64, len: i64) => fd_ops::fd_allocate;
    fd_close(fd: i32) => fd_ops::fd_close;
    fd_datasync(fd: i32) => fd_ops::fd_datasync;
    fd_fdstat_get(fd: i32, buf: i32) => fd_ops::fd_fdstat_get;
    fd_fdstat_set_flags(fd: i32, flags: i32) => fd_ops::fd_fdstat_set_flags;
    fd_fdstat_set_rights(fd: i32, base: i64, inheriting: i64) => fd_ops::fd_fdstat_set_rights;
    fd_filestat_get(fd: i32, buf: i32) => fd_ops::fd_filestat_get;
    fd_filestat_set_size(fd: i32, size: i64) => fd_ops::fd_filestat_set_size;
    fd_filestat_set_times(fd: i32, atim: i64, mtim: i64, flags: i32) => fd_ops::fd_filestat_set_times;
    fd_pread(fd: i32, iovs: i32, iovs_len: i32, offset: i64, nread: i32) => fd_ops::fd_pread;
    fd_prestat_get(fd: i32, buf: i32) => fd_ops::fd_prestat_get;
    fd_prestat_dir_name(fd: i32, path: i32, path_len: i32) => fd_ops::fd_prestat_dir_name;
    fd_pwrite(fd: i32, iovs: i32, iovs_len: i32, offset: i64, nwritten: i32) => fd_ops::fd_pwrite;
    fd_read(fd: i32, iovs: i32, iovs_len: i32, nread: i32) => fd_ops::fd_read;
    fd_readdir(fd: i32, buf: i32, buf_len: i32, cookie: i64, bufused: i32) => fd_ops::fd_readdir;
    fd_renumber(fd: i32, to: i32) => fd_ops::fd_renumber;
    fd_seek(fd: i32, offset: i64, whence: i32, newoffset: i32) => fd_ops::fd_seek;
    fd_sync(fd: i32) => fd_ops::fd_sync;
    fd_tell(fd: i32, offset: i32) => fd_ops::fd_tell;
    fd_write(fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) => fd_ops::fd_write;
    path_create_directory(fd: i32, path: i32, path_len: i32) => path::path_create_directory;
    path_filestat_get(fd: i32, flags: i32, path: i32, path_len: i32, buf: i32) => path::path_filestat_get;
    path_filestat_set_times(fd: i32, flags: i32, path: i32, path_len: i32, atim: i64, mtim: i64, fst_flags: i32) => path::path_filestat_set_times;
    path_link(old_fd: i32, old_flags: i32, old_path: i32, old_path_len: i32, new_fd: i32, new_path: i32, new_path_len: i32) => path::path_link;
    path_open(fd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32, rights_base: i64, rights_inheriting: i64, fdflags: i32, opened_fd: i32) => path::path_open;
    path_readlink(fd: i32, path: i32, path_len: i32, buf: i32, buf_len: i32, bufused: i32) => path::path_readlink;
    path_remove_directory(fd: i32, path: i32, path_len: i32) => path::path_remove_directory;
    path_rename(fd: i32, old_path: i32, old_path_len: i32, new_fd: i32, new_path: i32, new_path_len: i32) => path::path_rename;
    path_symlink(old_path: i32, old_path_len: i32, fd: i32, new_path: i32, new_path_len: i32) => path::path_symlink;
    path_unlink_file(fd: i32, path: i32, path_len: i32) => path::path_unlink_file;
    poll_oneoff(subscriptions: i32, events: i32, nsubscriptions: i32, nevents: i32) => poll::poll_oneoff;
    proc_raise(signal: i32) => clock::proc_raise;
    random_get(buf: i32, buf_len: i32) => clock::random_get;
    sched_yield() => clock::sched_yield;
    sock_accept(fd: i32, flags: i32, new_fd: i32) => sock::sock_accept;
    sock_recv(fd: i32, iovs: i32, iovs_len: i32, flags: i32, nread: i32, oflags: i32) => sock::sock_recv;
    sock_send(fd: i32, iovs: i32, iovs_len: i32, flags: i32, nsent: i32) => sock::sock_send;
    sock_shutdown(fd: i32, how: i32) => sock::sock_shutdown;
    // WasmEdge's socket API (the same module; its `sock_accept` is below).
    sock_open(af: i32, kind: i32, fd: i32) => sock::sock_open;
    sock_bind(fd: i32, addr: i32, port: i32) => sock::sock_bind;
    sock_listen(fd: i32, backlog: i32) => sock::sock_listen;
    sock_connect(fd: i32, addr: i32, port: i32) => sock::sock_connect;
    sock_recv_from(fd: i32, iovs: i32, iovs_len: i32, addr: i32, flags: i32, port: i32, nread: i32, oflags: i32) => sock::sock_recv_from;
    sock_send_to(fd: i32, iovs: i32, iovs_len: i32, addr: i32, port: i32, flags: i32, nsent: i32) => sock::sock_send_to;
    sock_getsockopt(fd: i32, level: i32, name: i32, val: i32, len: i32) => sock::sock_getsockopt;
    sock_setsockopt(fd: i32, level: i32, name: i32, val: i32, len: i32) => sock::sock_setsockopt;
    sock_getlocaladdr(fd: i32, addr: i32, kind: i32, port: i32) => sock::sock_getlocaladdr;
    sock_getpeeraddr(fd: i32, addr: i32, kind: i32, port: i32) => sock::sock_getpeeraddr;
    sock_getaddrinfo(node: i32, node_len: i32, service: i32, service_len: i32, hints: i32, res: i32, max_len: i32, res_len: i32) => sock::sock_getaddrinfo;
}

/// The code address of the function an import `module.field` with `params` parameters links
/// against, for runtimes that link imports through slots: the same choice the compiler's symbol
/// linkage makes (`mewz_abi::symbols::overloaded_import`), so that a name with two signatures
/// (`sock_accept`) reaches the function of the import's own signature.
pub fn import_address(module: &str, field: &str, params: usize) -> Option<*const u8> {
    if module != mewz_abi::symbols::WASI_MODULE {
        return None;
    }
    match mewz_abi::symbols::overloaded_import(module, field, params) {
        Some(mewz_abi::symbols::WASMEDGE_SOCK_ACCEPT) => Some(sock_accept_wasmedge as *const u8),
        // An overload this kernel does not provide.
        Some(_) => None,
        None => address(field),
    }
}

/// WasmEdge's `sock_accept(fd, *new_fd)`, under the symbol the ABI gives the two-parameter
/// import (`mewz_abi::symbols::WASMEDGE_SOCK_ACCEPT`; checked below).
#[unsafe(export_name = "wasi_snapshot_preview1.sock_accept/wasmedge")]
pub extern "C" fn sock_accept_wasmedge(fd: i32, new_fd: i32) -> i32 {
    with_ctx(|cx| sock::sock_accept_wasmedge(cx, fd as _, new_fd as _))
}

const _: () = {
    let (want, have) = (
        mewz_abi::symbols::WASMEDGE_SOCK_ACCEPT.as_bytes(),
        b"wasi_snapshot_preview1.sock_accept/wasmedge",
    );
    assert!(want.len() == have.len());
    let mut i = 0;
    while i < want.len() {
        assert!(
            want[i] == have[i],
            "sock_accept_wasmedge's symbol disagrees with the ABI"
        );
        i += 1;
    }
};

/// Ends the app with `code`. Like a Unix process, the status the runner sees is the low 8
/// bits (wasmtime does the same on Unix).
#[unsafe(export_name = "wasi_snapshot_preview1.proc_exit")]
pub extern "C" fn proc_exit(code: i32) -> ! {
    crate::demand::back_stack_below();
    super::flush_network();
    crate::footprint::log_report();
    let p = crate::platform::platform();
    crate::console::flush(p);
    p.exit(code as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function of `wasi_snapshot_preview1` (witx, 46 functions).
    const PREVIEW1: [&str; 46] = [
        "args_get",
        "args_sizes_get",
        "environ_get",
        "environ_sizes_get",
        "clock_res_get",
        "clock_time_get",
        "fd_advise",
        "fd_allocate",
        "fd_close",
        "fd_datasync",
        "fd_fdstat_get",
        "fd_fdstat_set_flags",
        "fd_fdstat_set_rights",
        "fd_filestat_get",
        "fd_filestat_set_size",
        "fd_filestat_set_times",
        "fd_pread",
        "fd_prestat_get",
        "fd_prestat_dir_name",
        "fd_pwrite",
        "fd_read",
        "fd_readdir",
        "fd_renumber",
        "fd_seek",
        "fd_sync",
        "fd_tell",
        "fd_write",
        "path_create_directory",
        "path_filestat_get",
        "path_filestat_set_times",
        "path_link",
        "path_open",
        "path_readlink",
        "path_remove_directory",
        "path_rename",
        "path_symlink",
        "path_unlink_file",
        "poll_oneoff",
        "proc_exit",
        "proc_raise",
        "sched_yield",
        "random_get",
        "sock_accept",
        "sock_recv",
        "sock_send",
        "sock_shutdown",
    ];

    /// The exported symbols reach the installed state, memory and platform.
    #[test]
    fn exported_functions_use_the_installed_app() {
        use crate::wasi::testing::{GLOBAL_STATE, installed_platform};
        use crate::wasi::{WasiState, install};
        use mewz_abi::memory::MemoryDescriptor;
        let _g = GLOBAL_STATE.lock().unwrap_or_else(|e| e.into_inner());
        let p = installed_platform();
        let memory: &'static mut [u8] = vec![0u8; 4096].leak();
        memory[100..106].copy_from_slice(b"hello\n");
        memory[0..4].copy_from_slice(&100u32.to_le_bytes());
        memory[4..8].copy_from_slice(&6u32.to_le_bytes());
        let desc = Box::leak(Box::new(MemoryDescriptor {
            base: memory.as_mut_ptr(),
            current_bytes: 4096,
            minimum_pages: 0,
            maximum_pages: 0,
        }));
        install(WasiState::new(&["app".into(), "x".into()], &[]), desc);
        let before = p.stdout().len();
        assert_eq!(fd_write(1, 0, 1, 16), 0);
        assert_eq!(&p.stdout()[before..], b"hello\n");
        assert_eq!(args_sizes_get(20, 24), 0);
        // SAFETY: the memory is leaked and no call is running.
        let m = unsafe { core::slice::from_raw_parts(desc.base, 32) };
        assert_eq!(&m[16..28], &[6, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0]);
        assert_eq!(fd_write(1, 4090, 1, 16), 21, "EFAULT as the wasm result");
        assert_eq!(fd_write(-1, 0, 1, 16), 8, "fd -1 is u32::MAX: EBADF");
        assert_eq!(clock_time_get(9, 0, 0), 28);
    }

    /// WasmEdge's socket functions (besides those it shares with preview1).
    const WASMEDGE: [&str; 11] = [
        "sock_open",
        "sock_bind",
        "sock_listen",
        "sock_connect",
        "sock_recv_from",
        "sock_send_to",
        "sock_getsockopt",
        "sock_setsockopt",
        "sock_getlocaladdr",
        "sock_getpeeraddr",
        "sock_getaddrinfo",
    ];

    #[test]
    fn all_of_preview1_and_wasmedge_sockets_are_exported() {
        let mut want = PREVIEW1.to_vec();
        want.extend(WASMEDGE);
        let mut have = NAMES.to_vec();
        want.sort();
        have.sort();
        assert_eq!(have, want);
        for name in PREVIEW1 {
            assert!(address(name).is_some_and(|a| !a.is_null()), "{name}");
        }
        assert_eq!(address("fd_write"), Some(fd_write as *const u8));
        assert_eq!(address("sock_open"), Some(sock_open as *const u8));
        assert_eq!(address("sock_nonexistent"), None);
    }
}
