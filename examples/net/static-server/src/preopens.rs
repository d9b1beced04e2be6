//! Makes preopened directories that follow a preopened socket visible to std's file functions.
//!
//! wasi-libc finds preopened directories by asking `fd_prestat_get` of descriptors 3, 4, ...
//! and stops at the first that is not one (EBADF). A runtime that preopens a listening socket
//! (`--tcplisten`) puts it at descriptor 3, before the directories, so libc never sees them and
//! every path lookup fails. This walks past sockets and registers the directories itself.

use std::ffi::CString;

unsafe extern "C" {
    /// wasi-libc: adds `fd` to its table of preopened directories under `prefix`.
    fn __wasilibc_register_preopened_fd(fd: i32, prefix: *const core::ffi::c_char) -> i32;
}

/// Registers every preopened directory that comes after a preopened socket.
pub fn register_directories_after_sockets() {
    let mut after_socket = false;
    for fd in 3u32.. {
        // SAFETY: fd_fdstat_get writes only its result, which the binding returns by value.
        let Ok(stat) = (unsafe { wasi::fd_fdstat_get(fd) }) else {
            break;
        };
        if stat.fs_filetype == wasi::FILETYPE_SOCKET_STREAM
            || stat.fs_filetype == wasi::FILETYPE_SOCKET_DGRAM
        {
            after_socket = true;
            continue;
        }
        if !after_socket {
            continue;
        }
        // SAFETY: as above, for fd_prestat_get.
        let Ok(prestat) = (unsafe { wasi::fd_prestat_get(fd) }) else {
            continue;
        };
        if prestat.tag != wasi::PREOPENTYPE_DIR.raw() {
            continue;
        }
        // SAFETY: reading the union's dir variant is valid because the tag says dir.
        let len = unsafe { prestat.u.dir.pr_name_len };
        let mut name = vec![0u8; len];
        // SAFETY: `name` has room for the `len` bytes fd_prestat_dir_name writes.
        if unsafe { wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), len) }.is_err() {
            continue;
        }
        // Runtimes may count a terminating NUL in the length.
        while name.last() == Some(&0) {
            name.pop();
        }
        let Ok(prefix) = CString::new(name) else {
            continue;
        };
        // SAFETY: `prefix` is a NUL-terminated string that outlives the call (libc copies it).
        unsafe { __wasilibc_register_preopened_fd(fd as i32, prefix.as_ptr()) };
    }
}
