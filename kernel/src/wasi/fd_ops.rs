//! `fd_*` functions.
//!
//! Console descriptors answer as a POSIX system answers for a terminal: a closed or
//! never-opened fd is `EBADF`, as is using a descriptor against its direction (reading
//! stdout); a right removed with `fd_fdstat_set_rights` is `ENOTCAPABLE`; positioned I/O and
//! seeking are `ESPIPE` (a console is a stream). Calls that only mean something for files and
//! directories (`fd_advise`, `fd_allocate`, `fd_sync`, `fd_datasync`, sizes, times, listings,
//! preopen names) are `EBADF` on a console, as in wasmtime. Files and directories of the RAM
//! filesystem are handled in [`super::files`].

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::fd::{FdEntry, FdKind};
use super::files;
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
    // Console and file writes may come by the million: see `crate::tlb`.
    crate::tlb::maybe_flush(cx.platform);
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
        FdKind::File { ino, .. } => {
            let (n, end) = files::write_from(cx, ino, entry.position, entry.append(), &vecs)?;
            cx.state.fds.get_mut(fd)?.position = end;
            total = n;
        }
        FdKind::Stdin | FdKind::Directory { .. } | FdKind::Socket { .. } => {
            return Err(Errno::BADF);
        }
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
    if let FdKind::File { ino, .. } = entry.kind {
        let n = files::read_into(cx, ino, entry.position, &vecs)?;
        cx.state.fds.get_mut(fd)?.position = entry.position + u64::from(n);
        return cx.mem.write_u32(nread, n);
    }
    if entry.kind != FdKind::Stdin {
        return Err(Errno::BADF);
    }
    if let Some(e) = cx.state.stdio.read_error() {
        return Err(e);
    }
    // See `crate::tlb`.
    crate::tlb::maybe_flush(cx.platform);
    let data: Vec<u8> = loop {
        cx.state.stdin.fill(cx.platform);
        if let Some(data) = cx.state.stdin.take(wanted) {
            break data;
        }
        if entry.nonblocking() {
            return Err(Errno::AGAIN);
        }
        match cx.state.net.as_mut() {
            // The network goes on while the app waits for input (ARP, DHCP renewal,
            // connections into accept queues): its timers and the NIC end the wait too.
            Some(net) => {
                let poll = crate::console::input_poll_interval().unwrap_or(INPUT_WAIT_NS);
                net.wait(
                    cx.platform,
                    cx.platform.monotonic_ns().saturating_add(poll),
                    &[],
                );
                net.look();
            }
            None => wait_for_input(cx.platform),
        }
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
    iovs: u32,
    len: u32,
    offset: u64,
    nread: u32,
) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_READ)?;
    let FdKind::File { ino, .. } = entry.kind else {
        return Err(Errno::SPIPE);
    };
    cx.mem.check(nread, 4)?;
    let vecs = cx.mem.iovecs(iovs, len)?;
    let n = files::read_into(cx, ino, offset, &vecs)?;
    cx.mem.write_u32(nread, n)
}

/// Writes at `offset` without moving the position; on a descriptor opened with `APPEND` the
/// bytes go to the end instead (as on Linux, and in wasmtime).
pub fn fd_pwrite(
    cx: &mut Ctx<'_>,
    fd: u32,
    iovs: u32,
    len: u32,
    offset: u64,
    nwritten: u32,
) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_WRITE)?;
    let FdKind::File { ino, .. } = entry.kind else {
        return Err(Errno::SPIPE);
    };
    cx.mem.check(nwritten, 4)?;
    let vecs = cx.mem.iovecs(iovs, len)?;
    let (n, _) = files::write_from(cx, ino, offset, entry.append(), &vecs)?;
    cx.mem.write_u32(nwritten, n)
}

pub fn fd_seek(cx: &mut Ctx<'_>, fd: u32, offset: i64, whence: u32, newoffset: u32) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    if matches!(
        entry.kind,
        FdKind::Stdin | FdKind::Console(_) | FdKind::Socket { .. }
    ) {
        return Err(Errno::SPIPE);
    }
    cx.mem.check(newoffset, 8)?;
    let position = files::seek(cx, fd, entry, offset, whence)?;
    cx.mem.write_u64(newoffset, position)
}

pub fn fd_tell(cx: &mut Ctx<'_>, fd: u32, offset: u32) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    match entry.kind {
        FdKind::File { .. } => cx.mem.write_u64(offset, entry.position),
        FdKind::Stdin | FdKind::Console(_) | FdKind::Socket { .. } => Err(Errno::SPIPE),
        FdKind::Directory { .. } => Err(Errno::BADF),
    }
}

/// Advice is accepted and has nothing to act on: everything is in RAM already.
pub fn fd_advise(cx: &mut Ctx<'_>, fd: u32, _offset: u64, _len: u64, advice: u32) -> WasiResult {
    file(cx, fd)?;
    if advice > 5 {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// Not supported (wasmtime's answer too): a RAM file has no space to reserve ahead; writing
/// or `fd_filestat_set_size` grows it.
pub fn fd_allocate(cx: &mut Ctx<'_>, fd: u32, _offset: u64, _len: u64) -> WasiResult {
    file(cx, fd)?;
    Err(Errno::NOTSUP)
}

/// The file descriptor `fd` (`EBADF` for anything else).
fn file(cx: &Ctx<'_>, fd: u32) -> Result<FdEntry, Errno> {
    let entry = *cx.state.fds.get(fd)?;
    match entry.kind {
        FdKind::File { .. } => Ok(entry),
        _ => Err(Errno::BADF),
    }
}

pub fn fd_close(cx: &mut Ctx<'_>, fd: u32) -> WasiResult {
    let entry = cx.state.fds.close(fd)?;
    super::sock::closed(cx, &entry);
    files::release(cx, entry);
    Ok(())
}

/// Files live in RAM: there is nothing to synchronise, and it succeeds.
pub fn fd_datasync(cx: &mut Ctx<'_>, fd: u32) -> WasiResult {
    file(cx, fd).map(|_| ())
}

pub fn fd_sync(cx: &mut Ctx<'_>, fd: u32) -> WasiResult {
    file(cx, fd).map(|_| ())
}

pub fn fd_fdstat_get(cx: &mut Ctx<'_>, fd: u32, buf: u32) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    let (base, inheriting) = match entry.kind {
        FdKind::Stdin | FdKind::Console(_) => entry.kind.reported_rights(),
        _ => (entry.rights_base, entry.rights_inheriting),
    };
    let mut raw = [0u8; fdstat::SIZE as usize];
    raw[fdstat::FILETYPE as usize] = cx.state.stdio.filetype(entry.kind);
    put(&mut raw, fdstat::FLAGS, &entry.flags.to_le_bytes());
    put(&mut raw, fdstat::RIGHTS_BASE, &base.to_le_bytes());
    put(
        &mut raw,
        fdstat::RIGHTS_INHERITING,
        &inheriting.to_le_bytes(),
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
    let console_output = matches!(entry.kind, FdKind::Console(_));
    if console_output || flags & !entry.kind.settable_flags() != 0 {
        // wasmtime refuses the synchronous-I/O flags on a file with EINVAL, and any flag on
        // stdio with EBADF.
        return Err(match entry.kind {
            FdKind::File { .. } => Errno::INVAL,
            FdKind::Stdin | FdKind::Console(_) => Errno::BADF,
            _ => Errno::NOTSUP,
        });
    }
    cx.state.fds.get_mut(fd)?.flags = flags;
    Ok(())
}

/// Rights cannot be changed, as in wasmtime (which ignores rights altogether): `ENOTSUP` for
/// files and directories, `EBADF` for the console. (The WASI spec lets rights shrink; an app
/// that drops its own stdout rights this way would lose its output.)
pub fn fd_fdstat_set_rights(cx: &mut Ctx<'_>, fd: u32, _base: u64, _inheriting: u64) -> WasiResult {
    match cx.state.fds.get(fd)?.kind.ino() {
        Some(_) => Err(Errno::NOTSUP),
        None => Err(Errno::BADF),
    }
}

/// A console has no inode, size or times: everything but the file type is zero.
pub fn fd_filestat_get(cx: &mut Ctx<'_>, fd: u32, buf: u32) -> WasiResult {
    let entry = entry_with(cx, fd, rights::FD_FILESTAT_GET)?;
    if let Some(ino) = entry.kind.ino() {
        cx.mem.check(buf, filestat::SIZE)?;
        let stat = cx.state.fs.stat(ino)?;
        return files::write_filestat(cx, buf, &stat);
    }
    let mut raw = [0u8; filestat::SIZE as usize];
    raw[filestat::FILETYPE as usize] = cx.state.stdio.filetype(entry.kind);
    cx.mem.write_bytes(buf, &raw)
}

pub fn fd_filestat_set_size(cx: &mut Ctx<'_>, fd: u32, size: u64) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    files::set_size(cx, entry, size)
}

pub fn fd_filestat_set_times(
    cx: &mut Ctx<'_>,
    fd: u32,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> WasiResult {
    files::set_times_request(atim, mtim, flags)?;
    let entry = *cx.state.fds.get(fd)?;
    files::set_times(cx, entry, atim, mtim, flags)
}

pub fn fd_prestat_get(cx: &mut Ctx<'_>, fd: u32, buf: u32) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    files::prestat(cx, entry, buf)
}

pub fn fd_prestat_dir_name(cx: &mut Ctx<'_>, fd: u32, path: u32, len: u32) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    files::prestat_dir_name(cx, entry, path, len)
}

pub fn fd_readdir(
    cx: &mut Ctx<'_>,
    fd: u32,
    buf: u32,
    len: u32,
    cookie: u64,
    used: u32,
) -> WasiResult {
    let entry = *cx.state.fds.get(fd)?;
    files::readdir(cx, entry, buf, len, cookie, used)
}

pub fn fd_renumber(cx: &mut Ctx<'_>, from: u32, to: u32) -> WasiResult {
    if let Some(replaced) = cx.state.fds.renumber(from, to)? {
        super::sock::closed(cx, &replaced);
        files::release(cx, replaced);
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
        // What wasmtime reports: the stream's direction alone, also as inheritable.
        assert_eq!(f.u64_at(16), rights::FD_WRITE);
        assert_eq!(f.u64_at(24), rights::FD_WRITE);
        f.call(|cx| fd_fdstat_get(cx, 0, 8)).unwrap();
        assert_eq!(f.u64_at(16), rights::FD_READ);
        assert_eq!(f.call(|cx| fd_fdstat_get(cx, 3, 8)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_fdstat_get(cx, 1, 41)), Err(Errno::FAULT));
        assert_eq!(f.call(|cx| fd_fdstat_get(cx, 1, 40)), Ok(()));
    }

    #[test]
    fn flags_and_rights() {
        let mut f = Fixture::new(64);
        // As in wasmtime: stdout takes no flag at all.
        for flag in [fdflags::SYNC, fdflags::APPEND, fdflags::NONBLOCK, 0] {
            assert_eq!(
                f.call(|cx| fd_fdstat_set_flags(cx, 1, u32::from(flag))),
                Err(Errno::BADF),
                "flag {flag:#x}"
            );
        }
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, 1 << 5)),
            Err(Errno::INVAL)
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 1, 1 << 16)),
            Err(Errno::INVAL)
        );
        // Stdin may be made non-blocking (wasmtime: EBADF), nothing else.
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 0, u32::from(fdflags::APPEND))),
            Err(Errno::BADF)
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_flags(cx, 0, u32::from(fdflags::NONBLOCK))),
            Ok(())
        );
        f.call(|cx| fd_fdstat_get(cx, 0, 0)).unwrap();
        assert_eq!(f.memory[2], fdflags::NONBLOCK as u8);
        // Rights as wasmtime reports them: the stream's direction alone.
        let rights_at = |m: &[u8], at: usize| u64::from_le_bytes(m[at..at + 8].try_into().unwrap());
        assert_eq!(rights_at(&f.memory, 8), rights::FD_READ);
        assert_eq!(rights_at(&f.memory, 16), rights::FD_READ);
        f.call(|cx| fd_fdstat_get(cx, 2, 0)).unwrap();
        assert_eq!(rights_at(&f.memory, 8), rights::FD_WRITE);
        assert_eq!(rights_at(&f.memory, 16), rights::FD_WRITE);
        // ... while the console can still do more.
        assert_eq!(f.call(|cx| fd_filestat_get(cx, 1, 0)), Ok(()));
        assert_eq!(
            f.call(|cx| fd_fdstat_set_rights(cx, 1, rights::FD_WRITE, 0)),
            Err(Errno::BADF),
            "as in wasmtime: rights of the console stay"
        );
        assert_eq!(
            f.call(|cx| fd_fdstat_set_rights(cx, 7, 0, 0)),
            Err(Errno::BADF)
        );
        f.put_iovecs(8, &[(0, 0)]);
        assert_eq!(f.call(|cx| fd_write(cx, 1, 8, 1, 32)), Ok(()));
        // A right taken away (nothing in preview1 can do it today) makes a call ENOTCAPABLE.
        f.state.fds.get_mut(1).unwrap().rights_base &= !rights::FD_WRITE;
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
        // What only means something for a file is EBADF on a console, as in wasmtime.
        assert_eq!(f.call(|cx| fd_advise(cx, 1, 0, 0, 0)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_advise(cx, 1, 0, 0, 9)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_allocate(cx, 1, 0, 1)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_sync(cx, 1)), Err(Errno::BADF));
        assert_eq!(f.call(|cx| fd_datasync(cx, 1)), Err(Errno::BADF));
        assert_eq!(
            f.call(|cx| fd_filestat_set_size(cx, 1, 0)),
            Err(Errno::BADF)
        );
        assert_eq!(
            f.call(|cx| fd_filestat_set_times(cx, 1, 0, 0, 0)),
            Err(Errno::BADF)
        );
        assert_eq!(
            f.call(|cx| fd_filestat_set_times(cx, 1, 0, 0, 3)),
            Err(Errno::INVAL),
            "ATIM with ATIM_NOW is refused before the descriptor is looked at"
        );
        assert_eq!(f.call(|cx| fd_readdir(cx, 1, 0, 0, 0, 0)), Err(Errno::BADF));
        for fd in [0, 1, 2, 3, 4, 100] {
            assert_eq!(f.call(|cx| fd_prestat_get(cx, fd, 0)), Err(Errno::BADF));
        }
        for (fd, want) in [(0, Errno::NOTDIR), (2, Errno::NOTDIR), (3, Errno::BADF)] {
            assert_eq!(f.call(|cx| fd_prestat_dir_name(cx, fd, 0, 0)), Err(want));
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
