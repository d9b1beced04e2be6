//! The static-file server on a listener the runtime opened: `mewz run --tcplisten ADDR:PORT`,
//! `wasmtime run -S preview2=n -S tcplisten=ADDR:PORT`. It accepts with preview1's own
//! `sock_accept`, so one .wasm runs under both.

use static_server::options::number;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};

const PROGRAM: &str = "http-server-preopened";
const OWN_USAGE: &str = "[--listen-fd FD (the first preopened listener)]";

fn main() {
    let mut listen_fd: Option<RawFd> = None;
    let config = static_server::config_or_exit(PROGRAM, OWN_USAGE, |flag, rest| {
        if flag != "--listen-fd" {
            return Ok(false);
        }
        let v = rest.next().ok_or("--listen-fd needs a descriptor")?;
        listen_fd = Some(
            number(flag, &v)?
                .try_into()
                .map_err(|_| "--listen-fd: too large")?,
        );
        Ok(true)
    });
    let Some(fd) = listen_fd.or_else(first_listener) else {
        eprintln!(
            "{PROGRAM}: no preopened listening socket (run it with --tcplisten ADDR:PORT, or wasmtime's -S tcplisten=ADDR:PORT)"
        );
        std::process::exit(2)
    };
    if !is_socket(fd) {
        eprintln!("{PROGRAM}: descriptor {fd} is not a socket");
        std::process::exit(2)
    }
    #[cfg(target_os = "wasi")]
    static_server::preopens::register_directories_after_sockets();
    // SAFETY: `fd` is an open socket descriptor that nothing else in this program owns.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("{PROGRAM}: descriptor {fd}: {e}");
        std::process::exit(1)
    }
    println!(
        "{PROGRAM}: serving {} on descriptor {fd}",
        config.root.display()
    );
    static_server::serve_and_exit(PROGRAM, &listener, &config)
}

/// Preopened descriptors follow stdin, stdout and stderr without gaps.
const FIRST_PREOPEN: RawFd = 3;

/// The first preopened descriptor that is a socket.
fn first_listener() -> Option<RawFd> {
    (FIRST_PREOPEN..)
        .take_while(|&fd| is_open(fd))
        .find(|&fd| is_socket(fd))
}

#[cfg(target_os = "wasi")]
fn is_open(fd: RawFd) -> bool {
    // SAFETY: fd_fdstat_get only writes its result, which the binding returns by value.
    unsafe { wasi::fd_fdstat_get(fd as u32) }.is_ok()
}

#[cfg(target_os = "wasi")]
fn is_socket(fd: RawFd) -> bool {
    // SAFETY: as in `is_open`.
    unsafe { wasi::fd_fdstat_get(fd as u32) }
        .is_ok_and(|s| s.fs_filetype == wasi::FILETYPE_SOCKET_STREAM)
}

#[cfg(unix)]
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

#[cfg(unix)]
fn is_socket(fd: RawFd) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer, which is read only when it succeeded.
    unsafe {
        libc::fstat(fd, st.as_mut_ptr()) == 0
            && (st.assume_init().st_mode & libc::S_IFMT) == libc::S_IFSOCK
    }
}
