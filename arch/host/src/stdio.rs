//! What this process's stdin, stdout and stderr are, in the kernel's terms
//! ([`HostStdio`]): a hosted app reports them to its app, and `mewz run` tells a unikernel.

use mewz_kernel::wasi::stdio::{HostStdio, HostStream};

/// Looks at descriptors 0, 1 and 2.
pub fn classify() -> HostStdio {
    HostStdio([stream(0, true), stream(1, false), stream(2, false)])
}

fn stream(fd: i32, input: bool) -> HostStream {
    // SAFETY: F_GETFL only reads the status flags of the descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        // Closed: reads as empty and swallows writes, as under wasmtime.
        return HostStream::Null;
    }
    if input && flags & libc::O_ACCMODE == libc::O_WRONLY {
        return HostStream::Unreadable;
    }
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(fd) } == 1 {
        return HostStream::Terminal;
    }
    // SAFETY: `st` is a valid out-pointer for fstat.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return HostStream::Pipe;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => HostStream::Directory,
        libc::S_IFREG => HostStream::File,
        libc::S_IFCHR | libc::S_IFBLK => HostStream::Null,
        _ => HostStream::Pipe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_told_apart() {
        let dir = std::fs::File::open("/").unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let wo = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(stream(dir.as_raw_fd(), true), HostStream::Directory);
        assert_eq!(stream(null.as_raw_fd(), true), HostStream::Null);
        assert_eq!(stream(file.as_raw_fd(), true), HostStream::File);
        assert_eq!(stream(wo.as_raw_fd(), true), HostStream::Unreadable);
        assert_eq!(stream(wo.as_raw_fd(), false), HostStream::Null);
        assert_eq!(stream(-1, true), HostStream::Null);
        let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(stream(r.as_raw_fd(), true), HostStream::Pipe);
        drop(w);
    }
}
