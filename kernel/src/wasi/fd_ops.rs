//! `fd_*` functions.
//!
//! Errors follow what a POSIX system (and wasmtime) returns for a console descriptor:
//! a closed or never-opened fd is `EBADF`, as is using a descriptor against its direction
//! (reading stdout); a right removed with `fd_fdstat_set_rights` is `ENOTCAPABLE`;
//! positioned I/O, seeking and advice are `ESPIPE` (a console is a stream); `fd_sync` /
//! `fd_datasync` / `fd_filestat_set_size` are `EINVAL` (Linux `fsync`/`ftruncate` on a
//! character device); `fd_allocate` and `fd_filestat_set_times` are `ENOTSUP`; `fd_readdir`
//! is `ENOTDIR`; and there are no preopened directories, so `fd_prestat_*` is `EBADF` for
//! every descriptor (which is how wasi-libc's preopen scan ends).
//!
//! wasmtime answers `EBADF` to most of these on stdio instead (see `examples/wasi-probe`);
//! apps see both as ordinary failures of a call that cannot work on a console.

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::fd::{FdEntry, FdKind};
use super::types::{fdflags, fdstat, filestat, rights};
use crate::platform::Platform;
use alloc::vec::Vec;

/// Longest sleep of a blocking read whose input interrupts (a bound, not a poll).
const INPUT_WAIT_NS: u64 = 1_000_000_000;

/// The open descriptor `fd` if it can do what `right` stands for.
pub fn entry_with(cx: &Ctx<'_>, fd: u32, right: u64) -> Result<FdEntry, Errno> {
    let entry = *cx.state.fds.get(fd)?;
    if entry.kind.rights() & right == 0 {
        return Err(Errno::BADF);
    }
    if entry.rights_base & right == 0 {
        return Err(Errno::NOTCAPABLE);
    }
    Ok(entry)
}

/// Waits for console input (or any other interrupt): until the input's interrupt, or a
/// little if the input source does not interrupt (a polled UART).
pub fn wait_for_input(p: &dyn Platform) {
    p.arm_timer(crate::console::input_poll_interval().unwrap_or(INPUT_WAIT_NS));
    p.wait_for_interrupt();
}

pub fn fd_write(cx: &mut Ctx<'_>, fd: u32, iovs: u32, iovs_len: u32, nwritten: u32) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_WRITE)?;
    cx.mem.check(nwritten, 4)?;
    if let Some(h) = entry.kind.socket() {
        let n = super::sock::transmit(cx, &entry, h, iovs, iovs_len, None)?;
        return cx.mem.write_u32(nwritten, n as u32);
    }
    let vecs = cx.mem.iovecs(iovs, iovs_len)?;
    let mut total = 0u32;
    match entry.kind {
        FdKind::Console(stream) => {
            for v in vecs.iter().filter(|v| v.len > 0) {
                let bytes = cx.mem.slice(v.ptr, v.len)?;
                // The host's reader went away (a closed pipe): EPIPE, unless some went out.
                if crate::console::write(cx.platform, stream, bytes).is_err() {
                    if total == 0 {
                        return Err(Errno::PIPE);
                    }
                    break;
                }
                total += v.len;
            }
        }
        FdKind::Stdin | FdKind::Socket { .. } => return Err(Errno::BADF),
    }
    cx.mem.write_u32(nwritten, total)
}

/// Reads console input; blocks until at least one byte or the end of file arrives unless
/// the descriptor is non-blocking (then `EAGAIN`). See [`super::stdin`] for end of file.
pub fn fd_read(cx: &mut Ctx<'_>, fd: u32, iovs: u32, iovs_len: u32, nread: u32) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_READ)?;
    cx.mem.check(nread, 4)?;
    if let Some(h) = entry.kind.socket() {
        let (n, _, _) = super::sock::receive(cx, &entry, h, iovs, iovs_len, 0)?;
        return cx.mem.write_u32(nread, n as u32);
    }
    let vecs = cx.mem.iovecs(iovs, iovs_len)?;
    let wanted: usize = vecs.iter().map(|v| v.len as usize).sum();
    if entry.kind != FdKind::Stdin {
        return Err(Errno::BADF);
    }
    if let Some(e) = cx.state.stdio.read_error() {
        return Err(e);
    }
    let data: Vec<u8> = loop {
        cx.state.stdin.fill(cx.platform);
        if let Some(data) = cx.state.stdin.take(wanted) {
            break data;
        }
        if entry.nonblocking() {
            return Err(Errno::AGAIN);
        }
        wait_for_input(cx.platform);
    };
    let mut rest = &data[..];
    for v in &vecs {
        let n = rest.len().min(v.len as usize);
        cx.mem.write_bytes(v.ptr, &rest[..n])?;
        rest = &rest[n..];
    }
    cx.mem.write_u32(nread, data.len() as u32)
}

pub fn fd_pread(
    cx: &mut Ctx<'_>,
    fd: u32,
    _iovs: u32,
    _len: u32,
    _offset: u64,
    _nread: u32,
) -> WasiResult {
    entry_with(cx, fd, rights::FD_READ)?;
    Err(Errno::SPIPE)
}

pub fn fd_pwrite(
    cx: &mut Ctx<'_>,
    fd: u32,
    _iovs: u32,
    _len: u32,
    _offset: u64,
    _nwritten: u32,
) -> WasiResult {
    entry_with(cx, fd, rights::FD_WRITE)?;
    Err(Errno::SPIPE)
}

pub fn fd_seek(
    cx: &mut Ctx<'_>,
    fd: u32,
    _offset: i64,
    _whence: u32,
    _newoffset: u32,
) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::SPIPE)
}

pub fn fd_tell(cx: &mut Ctx<'_>, fd: u32, _offset: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::SPIPE)
}

pub fn fd_advise(cx: &mut Ctx<'_>, fd: u32, _offset: u64, _len: u64, advice: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    if advice > 5 {
        return Err(Errno::INVAL);
    }
    Err(Errno::SPIPE)
}

pub fn fd_allocate(cx: &mut Ctx<'_>, fd: u32, _offset: u64, _len: u64) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::NOTSUP)
}

pub fn fd_close(cx: &mut Ctx<'_>, fd: u32) -> WasiResult {
    let entry = cx.state.fds.close(fd)?;
    super::sock::closed(cx, &entry);
    Ok(())
}

pub fn fd_datasync(cx: &mut Ctx<'_>, fd: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::INVAL)
}

pub fn fd_sync(cx: &mut Ctx<'_>, fd: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::INVAL)
}

pub fn fd_fdstat_get(cx: &mut Ctx<'_>, fd: u32, buf: u32) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    let mut raw = [0u8; fdstat::SIZE as usize];
    raw[fdstat::FILETYPE as usize] = cx.state.stdio.filetype(entry.kind);
    put(&mut raw, fdstat::FLAGS, &entry.flags.to_le_bytes());
    put(
        &mut raw,
        fdstat::RIGHTS_BASE,
        &entry.rights_base.to_le_bytes(),
    );
    put(
        &mut raw,
        fdstat::RIGHTS_INHERITING,
        &entry.rights_inheriting.to_le_bytes(),
    );
    cx.mem.write_bytes(buf, &raw)
}

pub fn fd_fdstat_set_flags(cx: &mut Ctx<'_>, fd: u32, flags: u32) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_FDSTAT_SET_FLAGS)?;
    let all = fdflags::APPEND | fdflags::DSYNC | fdflags::NONBLOCK | fdflags::RSYNC | fdflags::SYNC;
    let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
    if flags & !all != 0 {
        return Err(Errno::INVAL);
    }
    if flags & !entry.kind.settable_flags() != 0 {
        return Err(Errno::NOTSUP);
    }
    cx.state.fds.get_mut(fd)?.flags = flags;
    Ok(())
}

/// Rights can only shrink.
pub fn fd_fdstat_set_rights(cx: &mut Ctx<'_>, fd: u32, base: u64, inheriting: u64) -> WasiResult {
    let entry = cx.state.fds.get_mut(fd)?;
    if base & !entry.rights_base != 0 || inheriting & !entry.rights_inheriting != 0 {
        return Err(Errno::NOTCAPABLE);
    }
    entry.rights_base = base;
    entry.rights_inheriting = inheriting;
    Ok(())
}

/// A console has no inode, size or times: everything but the file type is zero.
pub fn fd_filestat_get(cx: &mut Ctx<'_>, fd: u32, buf: u32) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_FILESTAT_GET)?;
    let mut raw = [0u8; filestat::SIZE as usize];
    raw[filestat::FILETYPE as usize] = cx.state.stdio.filetype(entry.kind);
    cx.mem.write_bytes(buf, &raw)
}

pub fn fd_filestat_set_size(cx: &mut Ctx<'_>, fd: u32, _size: u64) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::INVAL)
}

pub fn fd_filestat_set_times(
    cx: &mut Ctx<'_>,
    fd: u32,
    _atim: u64,
    _mtim: u64,
    _flags: u32,
) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::NOTSUP)
}

pub fn fd_prestat_get(cx: &mut Ctx<'_>, fd: u32, _buf: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::BADF)
}

pub fn fd_prestat_dir_name(cx: &mut Ctx<'_>, fd: u32, _path: u32, _len: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::BADF)
}

pub fn fd_readdir(
    cx: &mut Ctx<'_>,
    fd: u32,
    _buf: u32,
    _len: u32,
    _cookie: u64,
    _used: u32,
) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::NOTDIR)
}

pub fn fd_renumber(cx: &mut Ctx<'_>, from: u32, to: u32) -> WasiResult {
    let replaced = *cx.state.fds.get(to)?;
    cx.state.fds.renumber(from, to)?;
    if from != to {
        super::sock::closed(cx, &replaced);
    }
    Ok(())
}

fn put(raw: &mut [u8], at: u32, bytes: &[u8]) {
    raw[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::testing::Fixture;
    use crate::wasi::types::filetype;

    #[test]
    fn write_gathers_iovecs_to_the_right_stream() {
        let mut f = Fixture::new(256);
        f.memory[100..105].copy_from_slice(b"hello");
        f.memory[120..127].copy_from_slice(b" world\n");
        f.put_iovecs(0, &[(100, 5), (200, 0), (120, 7)]);
        assert_eq!(f.call(|cx| fd_write(cx, 1, 0, 3, 64)), Ok(()));
        assert_eq!(f.u32_at(64), 12);
        assert_eq!(f.platform.stdout(), b"hello world\n");
        assert_eq!(f.call(|cx| fd_write(cx, 2, 0, 1, 64)), Ok(()));
        assert_eq!(f.platform.stderr(), b"hello");
        assert_eq!(f.call(|cx| fd_write(cx, 1, 0, 0, 64)), Ok(()));
        assert_eq!(f.u32_at(64), 0);
    }

    #[test]
    fn write_checks_everything_before_writing_anything() {
        let mut f = Fixture::new(256);
        f.put_iovecs(0, &[(100, 5), (250, 7)]);
        assert_eq!(f.call(|cx| fd_write(cx, 1, 0, 2, 64)), Err(Errno::FAULT));
        f.put_iovecs(0, &[(100, 5)]);
        assert_eq!(f.call(|cx| fd_write(cx, 1, 0, 1, 253)), Err(Errno::FAULT));
        assert_eq!(f.call(|cx| fd_write(cx, 1, 252, 1, 64)), Err(Errno::FAULT));
        assert!(f.platform.stdout().is_empty());
        assert_eq!(f.call(|cx| fd_write(cx, 0, 0, 1, 64)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_write(cx, 3, 0, 1, 64)), Err(Errno::BADF));
        assert_eq!(
            f.call(|cx| fd_write(cx, u32::MAX, 0, 1, 64)),
            Err(Errno::BADF)
        );
    }

    #[test]
    fn read_scatters_input_and_blocks_until_it_arrives() {
        let mut f = Fixture::new(256);
        f.put_iovecs(0, &[(100, 3), (110, 0), (120, 10)]);
        let t0 = f.platform.now();
        f.platform.input_at(t0 + 35_000_000, b"abcdef");
        assert_eq!(f.call(|cx| fd_read(cx, 0, 0, 3, 64)), Ok(()));
        assert_eq!(f.u32_at(64), 6);
        assert_eq!(&f.memory[100..103], b"abc");
        assert_eq!(&f.memory[120..124], b"def\0");
        assert!(
            f.platform.now() >= t0 + 35_000_000,
            "the read waited for input"
        );
    }

    #[test]
    fn read_reports_eof_and_nonblocking_reads_do_not_wait() {
        let mut f = Fixture::new(256);
        f.put_iovecs(0, &[(100, 16)]);
        f.platform.push_input(b"x\x04");
        f.call(|cx| fd_read(cx, 0, 0, 1, 64)).unwrap();
        assert_eq!(f.u32_at(64), 1);
        f.call(|cx| fd_read(cx, 0, 0, 1, 64)).unwrap();
        assert_eq!(f.u32_at(64), 0, "end of file");
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 0, u32::from(fdflags::NONBLOCK))),
            Ok(())
        );
        let waits = f.platform.waits.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(f.call(|cx| fd_read(cx, 0, 0, 1, 64)), Err(Errno::AGAIN));
        assert_eq!(
            f.platform.waits.load(std::sync::atomic::Ordering::SeqCst),
            waits
        );
        assert_eq!(f.call(|cx| fd_read(cx, 1, 0, 1, 64)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_read(cx, 0, 0, 1, 254)), Err(Errno::FAULT));
    }

    #[test]
    fn fdstat_of_stdio() {
        let mut f = Fixture::new(64);
        f.memory.fill(0xff);
        f.call(|cx| fd_fdstat_get(cx, 1, 8)).unwrap();
        assert_eq!(f.memory[8], filetype::CHARACTER_DEVICE);
        assert_eq!(
            &f.memory[9..16],
            &[0, 0, 0, 0, 0, 0, 0],
            "flags 0 and zeroed padding"
        );
        let base = f.u64_at(16);
        assert!(base & rights::FD_WRITE != 0 && base & rights::FD_READ == 0);
        assert_eq!(f.u64_at(24), 0);
        f.call(|cx| fd_fdstat_get(cx, 0, 8)).unwrap();
        assert!(f.u64_at(16) & rights::FD_READ != 0);
        assert_eq!(f.call(|cx| fd_fdstat_get(cx, 3, 8)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_fdstat_get(cx, 1, 41)), Err(Errno::FAULT));
        assert_eq!(f.call(|cx| fd_fdstat_get(cx, 1, 40)), Ok(()));
    }

    #[test]
    fn flags_and_rights() {
        let mut f = Fixture::new(64);
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, u32::from(fdflags::SYNC))),
            Err(Errno::NOTSUP)
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, 1 << 5)),
            Err(Errno::INVAL)
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, 1 << 16)),
            Err(Errno::INVAL)
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, u32::from(fdflags::APPEND))),
            Ok(())
        );
        f.call(|cx| fd_fdstat_get(cx, 1, 0)).unwrap();
        assert_eq!(f.memory[2], fdflags::APPEND as u8);
        let base = rights::FD_WRITE;
        assert_eq!(f.call(|cx| fd_fdstat_set_rights(cx, 1, base, 0)), Ok(()));
        assert_eq!(
            f.call(|cx| fd_fdstat_set_rights(cx, 1, base | rights::FD_FILESTAT_GET, 0)),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            f.call(|cx| fd_filestat_get(cx, 1, 0)),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, 0)),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(f.call(|cx| fd_fdstat_set_rights(cx, 1, 0, 0)), Ok(()));
        f.put_iovecs(8, &[(0, 0)]);
        assert_eq!(
            f.call(|cx| fd_write(cx, 1, 8, 1, 32)),
            Err(Errno::NOTCAPABLE)
        );
    }

    #[test]
    fn stream_and_file_operations_on_a_console() {
        let mut f = Fixture::new(128);
        f.memory.fill(0xff);
        f.call(|cx| fd_filestat_get(cx, 2, 0)).unwrap();
        assert_eq!(f.memory[16], filetype::CHARACTER_DEVICE);
        assert!(
            f.memory[..64]
                .iter()
                .enumerate()
                .all(|(i, &b)| i == 16 || b == 0)
        );
        assert_eq!(f.memory[64], 0xff);
        assert_eq!(f.call(|cx| fd_seek(cx, 1, 0, 0, 0)), Err(Errno::SPIPE));
        assert_eq!(f.call(|cx| fd_tell(cx, 0, 0)), Err(Errno::SPIPE));
        assert_eq!(f.call(|cx| fd_pread(cx, 0, 0, 0, 0, 0)), Err(Errno::SPIPE));
        assert_eq!(f.call(|cx| fd_pwrite(cx, 1, 0, 0, 0, 0)), Err(Errno::SPIPE));
        assert_eq!(f.call(|cx| fd_pwrite(cx, 0, 0, 0, 0, 0)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_advise(cx, 1, 0, 0, 0)), Err(Errno::SPIPE));
        assert_eq!(f.call(|cx| fd_advise(cx, 1, 0, 0, 9)), Err(Errno::INVAL));
        assert_eq!(f.call(|cx| fd_allocate(cx, 1, 0, 1)), Err(Errno::NOTSUP));
        assert_eq!(f.call(|cx| fd_sync(cx, 1)), Err(Errno::INVAL));
        assert_eq!(f.call(|cx| fd_datasync(cx, 1)), Err(Errno::INVAL));
        assert_eq!(
            f.call(|cx| fd_filestat_set_size(cx, 1, 0)),
            Err(Errno::INVAL)
        );
        assert_eq!(
            f.call(|cx| fd_filestat_set_times(cx, 1, 0, 0, 0)),
            Err(Errno::NOTSUP)
        );
        assert_eq!(
            f.call(|cx| fd_readdir(cx, 1, 0, 0, 0, 0)),
            Err(Errno::NOTDIR)
        );
        for fd in [0, 1, 2, 3, 4, 100] {
            assert_eq!(f.call(|cx| fd_prestat_get(cx, fd, 0)), Err(Errno::BADF));
            assert_eq!(
                f.call(|cx| fd_prestat_dir_name(cx, fd, 0, 0)),
                Err(Errno::BADF)
            );
        }
        for fd in [3, 9] {
            assert_eq!(f.call(|cx| fd_seek(cx, fd, 0, 0, 0)), Err(Errno::BADF));
            assert_eq!(f.call(|cx| fd_sync(cx, fd)), Err(Errno::BADF));
            assert_eq!(
                f.call(|cx| fd_readdir(cx, fd, 0, 0, 0, 0)),
                Err(Errno::BADF)
            );
        }
    }

    #[test]
    fn close_and_renumber() {
        let mut f = Fixture::new(64);
        assert_eq!(f.call(|cx| fd_renumber(cx, 2, 1)), Ok(()));
        f.put_iovecs(0, &[(0, 4)]);
        f.call(|cx| fd_write(cx, 1, 0, 1, 32)).unwrap();
        assert_eq!(f.platform.stderr().len(), 4, "fd 1 now is stderr");
        assert_eq!(f.call(|cx| fd_write(cx, 2, 0, 1, 32)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_close(cx, 1)), Ok(()));
        assert_eq!(f.call(|cx| fd_close(cx, 1)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_close(cx, 3)), Err(Errno::BADF));
    }
}
