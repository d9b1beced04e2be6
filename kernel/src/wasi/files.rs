//! The file and directory side of the `fd_*` calls: reads, writes, seeks, listings and
//! metadata of descriptors that refer to the RAM filesystem ([`crate::fs`]). `fd_ops` decides
//! by descriptor kind and comes here for [`FdKind::File`] and [`FdKind::Directory`].
//!
//! Errors are wasmtime's where it and POSIX could differ: a call on the wrong kind of
//! descriptor is `EBADF`, `fd_filestat_set_size` on a file opened read-only is `EINVAL`,
//! offsets past 2^63 - 1 are `EINVAL`, `fd_allocate` is `ENOTSUP`, and a preopened directory
//! refuses `fd_filestat_set_times` (`EBADF`).

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::fd::{FdEntry, FdKind};
use super::guest::IoVec;
use super::types::{filestat, filetype, whence};
use crate::fs::{Ino, Kind, SetTime, Stat};
use alloc::string::String;

/// Bytes of a `$dirent` before its name.
pub const DIRENT_SIZE: u32 = 24;

/// Largest offset a file may be written at or sized to (what a signed 64-bit offset holds).
const MAX_OFFSET: u64 = i64::MAX as u64;

/// `$fstflags`.
pub mod fstflags {
    pub const ATIM: u16 = 1 << 0;
    pub const ATIM_NOW: u16 = 1 << 1;
    pub const MTIM: u16 = 1 << 2;
    pub const MTIM_NOW: u16 = 1 << 3;
}

/// The time file timestamps are set to: the wall clock, or 0 on a machine without one.
pub fn now(cx: &Ctx<'_>) -> u64 {
    cx.platform.wall_clock_ns().unwrap_or(0)
}

/// A path argument: `EFAULT` outside the memory, `EILSEQ` if it is not UTF-8 (as wasmtime).
pub fn path_string(cx: &Ctx<'_>, ptr: u32, len: u32) -> Result<String, Errno> {
    let bytes = cx.mem.slice(ptr, len)?;
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| Errno::ILSEQ)
}

pub fn kind_filetype(kind: Kind) -> u8 {
    match kind {
        Kind::Directory => filetype::DIRECTORY,
        Kind::File => filetype::REGULAR_FILE,
        Kind::Symlink => filetype::SYMBOLIC_LINK,
    }
}

/// Writes a `$filestat` at `buf`.
pub fn write_filestat(cx: &mut Ctx<'_>, buf: u32, s: &Stat) -> WasiResult {
    let mut raw = [0u8; filestat::SIZE as usize];
    let mut put =
        |at: u32, v: u64| raw[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    put(filestat::DEV, s.dev);
    put(filestat::INO, s.ino);
    put(filestat::NLINK, s.nlink);
    put(filestat::SIZE_FIELD, s.size);
    put(filestat::ATIM, s.times.atim);
    put(filestat::MTIM, s.times.mtim);
    put(filestat::CTIM, s.times.ctim);
    raw[filestat::FILETYPE as usize] = kind_filetype(s.kind);
    cx.mem.write_bytes(buf, &raw)
}

/// The new times `fd_filestat_set_times` and `path_filestat_set_times` ask for.
pub fn set_times_request(atim: u64, mtim: u64, flags: u32) -> Result<(SetTime, SetTime), Errno> {
    let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
    let all = fstflags::ATIM | fstflags::ATIM_NOW | fstflags::MTIM | fstflags::MTIM_NOW;
    if flags & !all != 0 {
        return Err(Errno::INVAL);
    }
    let one = |set: u16, now: u16, t: u64| match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::INVAL),
        (true, false) => Ok(SetTime::At(t)),
        (false, true) => Ok(SetTime::Now),
        (false, false) => Ok(SetTime::Keep),
    };
    Ok((
        one(fstflags::ATIM, fstflags::ATIM_NOW, atim)?,
        one(fstflags::MTIM, fstflags::MTIM_NOW, mtim)?,
    ))
}

/// Reads file `ino` at `offset` into `vecs`; returns the bytes read.
pub fn read_into(
    cx: &mut Ctx<'_>,
    ino: Ino,
    mut offset: u64,
    vecs: &[IoVec],
) -> Result<u32, Errno> {
    let mut total = 0u32;
    for v in vecs.iter().filter(|v| v.len > 0) {
        let out = cx.mem.slice_mut(v.ptr, v.len)?;
        let n = cx.state.fs.read(ino, offset, out)?;
        total += n as u32;
        offset += n as u64;
        if n < v.len as usize {
            break;
        }
    }
    Ok(total)
}

/// Writes `vecs` to file `ino` at `offset` (at its end if `append`); returns the bytes
/// written and the offset after them. An error after some bytes were written ends the write
/// short, as POSIX `writev` does.
pub fn write_from(
    cx: &mut Ctx<'_>,
    ino: Ino,
    offset: u64,
    append: bool,
    vecs: &[IoVec],
) -> Result<(u32, u64), Errno> {
    let now = now(cx);
    let mut at = if append {
        cx.state.fs.size(ino)?
    } else {
        offset
    };
    let mut total = 0u32;
    for v in vecs.iter().filter(|v| v.len > 0) {
        let fits = at
            .checked_add(u64::from(v.len))
            .is_some_and(|end| end <= MAX_OFFSET);
        let result = if fits {
            let data = cx.mem.slice(v.ptr, v.len)?;
            cx.state.fs.write(ino, at, data, now)
        } else {
            Err(Errno::INVAL)
        };
        match result {
            Ok(()) => {
                total += v.len;
                at += u64::from(v.len);
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok((total, at))
}

pub fn seek(
    cx: &mut Ctx<'_>,
    fd: u32,
    entry: FdEntry,
    offset: i64,
    how: u32,
) -> Result<u64, Errno> {
    let FdKind::File { ino, .. } = entry.kind else {
        return Err(Errno::BADF);
    };
    let how = u8::try_from(how).map_err(|_| Errno::INVAL)?;
    let position = match how {
        whence::SET => u64::try_from(offset).map_err(|_| Errno::INVAL)?,
        whence::CUR => entry
            .position
            .checked_add_signed(offset)
            .ok_or(Errno::INVAL)?,
        whence::END => cx
            .state
            .fs
            .size(ino)?
            .checked_add_signed(offset)
            .ok_or(Errno::INVAL)?,
        _ => return Err(Errno::INVAL),
    };
    cx.state.fds.get_mut(fd)?.position = position;
    Ok(position)
}

pub fn set_size(cx: &mut Ctx<'_>, entry: FdEntry, size: u64) -> WasiResult {
    match entry.kind {
        FdKind::File { write: false, .. } => Err(Errno::INVAL),
        FdKind::File { ino, .. } if size <= MAX_OFFSET => {
            let now = now(cx);
            cx.state.fs.set_size(ino, size, now)
        }
        FdKind::File { .. } => Err(Errno::INVAL),
        _ => Err(Errno::BADF),
    }
}

pub fn set_times(cx: &mut Ctx<'_>, entry: FdEntry, atim: u64, mtim: u64, flags: u32) -> WasiResult {
    let (atim, mtim) = set_times_request(atim, mtim, flags)?;
    if (atim, mtim) == (SetTime::Keep, SetTime::Keep) && entry.kind.ino().is_some() {
        return Ok(());
    }
    match entry.kind {
        FdKind::File { ino, .. }
        | FdKind::Directory {
            ino, preopen: None, ..
        } => {
            let now = now(cx);
            cx.state.fs.set_times(ino, atim, mtim, now)
        }
        _ => Err(Errno::BADF),
    }
}

/// `fd_readdir`: `.` and `..` first (cookies 1 and 2, as wasmtime numbers them), then the
/// entries in the directory's order; the cookie of an entry is its sequence number + 3, so it
/// stays valid across removals. The last entry is cut off when the buffer is full (the
/// caller sees a full buffer and calls again with a larger one).
pub fn readdir(
    cx: &mut Ctx<'_>,
    entry: FdEntry,
    buf: u32,
    len: u32,
    cookie: u64,
    used: u32,
) -> WasiResult {
    let FdKind::Directory { ino: dir, .. } = entry.kind else {
        return Err(Errno::BADF);
    };
    cx.mem.check(used, 4)?;
    cx.mem.check(buf, len)?;
    let head = [(".", 1u64), ("..", 2)];
    let first_seq = cookie.saturating_sub(2);
    let max = (len / DIRENT_SIZE) as usize + 1;
    let listed = cx.state.fs.list(dir, first_seq, max)?;
    let mut out = alloc::vec::Vec::new();
    let mut put = |next: u64, ino: Ino, ty: u8, name: &str| {
        out.extend_from_slice(&next.to_le_bytes());
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&[ty, 0, 0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.len() >= len as usize
    };
    let mut full = false;
    for (name, next) in head.iter().skip(cookie.min(2) as usize) {
        full = put(*next, dir, filetype::DIRECTORY, name);
        if full {
            break;
        }
    }
    if !full {
        for e in &listed {
            let ty = cx
                .state
                .fs
                .kind(e.ino)
                .map_or(filetype::UNKNOWN, kind_filetype);
            if put(e.seq + 3, e.ino, ty, &e.name) {
                break;
            }
        }
    }
    out.truncate(len as usize);
    cx.mem.write_bytes(buf, &out)?;
    cx.mem.write_u32(used, out.len() as u32)
}

/// `fd_prestat_get`: a preopened directory's name length.
pub fn prestat(cx: &mut Ctx<'_>, entry: FdEntry, buf: u32) -> WasiResult {
    let FdKind::Directory {
        preopen: Some(i), ..
    } = entry.kind
    else {
        return Err(Errno::BADF);
    };
    let name_len = preopen_name(cx, i).len() as u32;
    let mut raw = [0u8; 8];
    raw[4..].copy_from_slice(&name_len.to_le_bytes());
    cx.mem.write_bytes(buf, &raw)
}

/// `fd_prestat_dir_name`: `ENAMETOOLONG` when the buffer is shorter than the name, which is
/// written without a NUL; `ENOTDIR` for descriptors that are not preopened directories.
pub fn prestat_dir_name(cx: &mut Ctx<'_>, entry: FdEntry, buf: u32, len: u32) -> WasiResult {
    let FdKind::Directory {
        preopen: Some(i), ..
    } = entry.kind
    else {
        return Err(Errno::NOTDIR);
    };
    let name = String::from(preopen_name(cx, i));
    if name.len() > len as usize {
        return Err(Errno::NAMETOOLONG);
    }
    cx.mem.write_bytes(buf, name.as_bytes())
}

fn preopen_name<'c>(cx: &'c Ctx<'_>, i: u32) -> &'c str {
    cx.state
        .fs
        .roots()
        .get(i as usize)
        .map_or("", |(name, _)| name.as_str())
}

/// A descriptor went away (`fd_close`, replaced by `fd_renumber`): the filesystem may free
/// what only it kept alive.
pub fn release(cx: &mut Ctx<'_>, entry: FdEntry) {
    if let Some(ino) = entry.kind.ino() {
        cx.state.fs.close(ino);
    }
}
