//! `path_*` functions: paths relative to a directory descriptor, resolved by
//! [`crate::fs::walk`] so that none leaves that directory.
//!
//! Each call answers what wasmtime answers on Linux for the same arguments, including its
//! quirks (the README lists those that differ from the WASI spec): a descriptor that is not a
//! directory is `EBADF` (`ENOTDIR` for `path_open` on a file); `path_filestat_get` without
//! `LOOKUP_SYMLINK_FOLLOW` ignores a trailing `/` or `/.` after a path's only component;
//! `path_readlink` of an absolute symlink is `EPERM`; `path_remove_directory` with a trailing slash, `.` or `..` is `EINVAL`;
//! `path_link` with `LOOKUP_SYMLINK_FOLLOW` is `EINVAL`; rename of `.` or `..` is `EBUSY`.
//! Pointers are checked before anything changes: a bad one is `EFAULT`.

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::fd::{FdEntry, FdKind};
use super::files::{self, now, path_string, write_filestat};
use super::types::fdflags;
use crate::fs::walk::{Last, MAX_PATH};
use crate::fs::{FileSystem, Ino, Kind, SetTime};

/// `$lookupflags`.
pub const LOOKUP_SYMLINK_FOLLOW: u32 = 1 << 0;

/// `$oflags`.
pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
}

/// The directory descriptor `fd`.
fn directory(cx: &Ctx<'_>, fd: u32) -> Result<Ino, Errno> {
    match cx.state.fds.get(fd)?.kind {
        FdKind::Directory { ino, .. } => Ok(ino),
        _ => Err(Errno::BADF),
    }
}

/// The only component of a relative `path` as Rust's `Path::components` counts them (empty
/// and `.` components dropped, but for a leading `.`), unless it is `..`.
fn lone_component(path: &str) -> Option<&str> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = path.split('/').filter(|c| !c.is_empty());
    let first = parts.next()?;
    let mut rest = parts.filter(|c| *c != ".");
    (rest.next().is_none() && first != "..").then_some(first)
}

fn follow(flags: u32) -> Result<bool, Errno> {
    if flags & !LOOKUP_SYMLINK_FOLLOW != 0 {
        return Err(Errno::INVAL);
    }
    Ok(flags & LOOKUP_SYMLINK_FOLLOW != 0)
}

pub fn path_create_directory(cx: &mut Ctx<'_>, fd: u32, path: u32, len: u32) -> WasiResult {
    let dir = directory(cx, fd)?;
    let path = path_string(cx, path, len)?;
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let p = fs.resolve_parent(dir, &path)?;
    fs.create_directory(p.dir, p.name_or(Errno::EXIST)?, now)
        .map(|_| ())
}

pub fn path_filestat_get(
    cx: &mut Ctx<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    buf: u32,
) -> WasiResult {
    let dir = directory(cx, fd)?;
    let follow = follow(flags)?;
    let path = path_string(cx, path, len)?;
    cx.mem.check(buf, crate::wasi::types::filestat::SIZE)?;
    let fs = &mut cx.state.fs;
    let ino = match lone_component(&path) {
        // wasmtime (cap-std) looks a path of one component up by its name alone when it does
        // not follow symlinks, dropping a trailing `/` or `/.`: `file/` is the file there.
        Some(name) if !follow => fs.resolve(dir, name, false)?,
        _ => fs.resolve(dir, &path, follow)?,
    };
    let stat = fs.stat(ino)?;
    write_filestat(cx, buf, &stat)
}

#[allow(clippy::too_many_arguments)]
pub fn path_filestat_set_times(
    cx: &mut Ctx<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> WasiResult {
    let (atim, mtim) = files::set_times_request(atim, mtim, fst_flags)?;
    let dir = directory(cx, fd)?;
    let follow = follow(flags)?;
    let path = path_string(cx, path, len)?;
    if (atim, mtim) == (SetTime::Keep, SetTime::Keep) {
        // Nothing to change: wasmtime does not even look the path up.
        return Ok(());
    }
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let ino = fs.resolve(dir, &path, follow)?;
    fs.set_times(ino, atim, mtim, now)
}

#[allow(clippy::too_many_arguments)]
pub fn path_link(
    cx: &mut Ctx<'_>,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> WasiResult {
    let old_dir = directory(cx, old_fd)?;
    let new_dir = directory(cx, new_fd)?;
    let old = path_string(cx, old_path, old_len)?;
    let new = path_string(cx, new_path, new_len)?;
    if follow(old_flags)? {
        return Err(Errno::INVAL);
    }
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let from = fs.resolve_parent(old_dir, &old)?;
    let from_name = from.name_or(Errno::PERM)?;
    if from.trailing_slash {
        fs.resolve(old_dir, &old, true)?;
        return Err(Errno::PERM);
    }
    let ino = fs.lookup(from.dir, from_name)?.ok_or(Errno::NOENT)?;
    if fs.kind(ino) == Some(Kind::Directory) {
        return Err(Errno::PERM);
    }
    let to = fs.resolve_parent(new_dir, &new)?;
    let name = to.name_or(Errno::EXIST)?;
    if to.trailing_slash {
        return Err(taken_directory(fs, new_dir, &new));
    }
    fs.link(ino, to.dir, name, now)
}

#[allow(clippy::too_many_arguments)]
pub fn path_open(
    cx: &mut Ctx<'_>,
    fd: u32,
    dirflags: u32,
    path: u32,
    len: u32,
    oflags: u32,
    rights_base: u64,
    _rights_inheriting: u64,
    fdflags: u32,
    opened: u32,
) -> WasiResult {
    let path = path_string(cx, path, len)?;
    let dir = match cx.state.fds.get(fd)?.kind {
        FdKind::Directory { ino, .. } => ino,
        FdKind::File { .. } => return Err(Errno::NOTDIR),
        _ => return Err(Errno::BADF),
    };
    let follow = follow(dirflags)?;
    let o = u16::try_from(oflags).map_err(|_| Errno::INVAL)?;
    let all_oflags = oflags::CREAT | oflags::DIRECTORY | oflags::EXCL | oflags::TRUNC;
    let has = |f: u16| o & f != 0;
    if o & !all_oflags != 0
        || has(oflags::DIRECTORY) && (has(oflags::CREAT) || has(oflags::EXCL) || has(oflags::TRUNC))
    {
        return Err(Errno::INVAL);
    }
    let fdflags = u16::try_from(fdflags).map_err(|_| Errno::INVAL)?;
    let all_fdflags =
        fdflags::APPEND | fdflags::DSYNC | fdflags::NONBLOCK | fdflags::RSYNC | fdflags::SYNC;
    if fdflags & !all_fdflags != 0 {
        return Err(Errno::INVAL);
    }
    if fdflags & (fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC) != 0 {
        return Err(Errno::NOTSUP);
    }
    cx.mem.check(opened, 4)?;
    // Like Linux, no descriptor left is found out before anything is created or truncated.
    if cx.state.fds.is_full() {
        return Err(Errno::MFILE);
    }
    let use_rights = super::types::rights::FD_READ | super::types::rights::FD_WRITE;
    let write = rights_base & super::types::rights::FD_WRITE != 0;
    let read = rights_base & super::types::rights::FD_READ != 0 || rights_base & use_rights == 0;
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let ino = if has(oflags::CREAT) {
        open_or_create(fs, dir, &path, has(oflags::EXCL), follow, now)?
    } else {
        fs.resolve(dir, &path, follow)?
    };
    let kind = match fs.kind(ino).ok_or(Errno::NOENT)? {
        Kind::Symlink => return Err(Errno::LOOP),
        Kind::Directory if write || has(oflags::TRUNC) || has(oflags::CREAT) => {
            return Err(Errno::ISDIR);
        }
        Kind::Directory => FdKind::Directory { ino, preopen: None },
        Kind::File if has(oflags::DIRECTORY) => return Err(Errno::NOTDIR),
        Kind::File => FdKind::File { ino, read, write },
    };
    if has(oflags::TRUNC) {
        fs.set_size(ino, 0, now)?;
    }
    let mut entry = FdEntry::new(kind);
    entry.flags = fdflags & (fdflags::APPEND | fdflags::NONBLOCK);
    let new_fd = cx.state.fds.insert(entry)?;
    cx.state.fs.open(ino)?;
    cx.mem.write_u32(opened, new_fd)
}

/// Why a new link cannot be named `path`, which ends with `/`: wasmtime (cap-std) opens all of
/// it as the directory to create `.` in, so the error of that lookup, or `EEXIST`.
fn taken_directory(fs: &mut crate::fs::FileSystem, dir: Ino, path: &str) -> Errno {
    fs.resolve(dir, path, true).err().unwrap_or(Errno::EXIST)
}

/// `path_open` with `CREAT`: the existing node (following a last symlink if asked, and
/// creating a dangling symlink's target as Linux does), or a new empty file.
fn open_or_create(
    fs: &mut crate::fs::FileSystem,
    dir: Ino,
    path: &str,
    exclusive: bool,
    follow: bool,
    now: u64,
) -> Result<Ino, Errno> {
    let p = fs.resolve_parent(dir, path)?;
    let name = match &p.last {
        Last::DotDot if p.up.is_none() => return Err(Errno::PERM),
        Last::Dot | Last::DotDot if exclusive => return Err(Errno::EXIST),
        Last::Dot | Last::DotDot => return Err(Errno::ISDIR),
        Last::Name(name) => name.clone(),
    };
    match fs.lookup(p.dir, &name)? {
        // `name/` is never a file to create or open (Linux: `EISDIR`, even with `EXCL`).
        Some(_) if p.trailing_slash => Err(Errno::ISDIR),
        Some(_) if exclusive => Err(Errno::EXIST),
        Some(ino) if fs.kind(ino) == Some(Kind::Symlink) && follow => {
            match fs.resolve(p.dir, &name, true) {
                Err(Errno::NOENT) => {
                    let target = fs.readlink(ino)?;
                    let t = fs.resolve_parent(p.dir, &target)?;
                    let tname = t.name_or(Errno::ISDIR)?;
                    fs.create_file(t.dir, tname, now)
                }
                other => other,
            }
        }
        Some(ino) => Ok(ino),
        None if p.trailing_slash => Err(Errno::ISDIR),
        None => fs.create_file(p.dir, &name, now),
    }
}

pub fn path_readlink(
    cx: &mut Ctx<'_>,
    fd: u32,
    path: u32,
    len: u32,
    buf: u32,
    buf_len: u32,
    used: u32,
) -> WasiResult {
    let dir = directory(cx, fd)?;
    let path = path_string(cx, path, len)?;
    cx.mem.check(used, 4)?;
    cx.mem.check(buf, buf_len)?;
    let fs = &mut cx.state.fs;
    let p = fs.resolve_parent(dir, &path)?;
    let name = p.name_or(Errno::INVAL)?;
    if p.trailing_slash {
        fs.resolve(dir, &path, true)?;
        return Err(Errno::INVAL);
    }
    let ino = fs.lookup(p.dir, name)?.ok_or(Errno::NOENT)?;
    let target = fs.readlink(ino)?;
    if target.starts_with('/') {
        // wasmtime (cap-std) does not reveal a target outside the sandbox.
        return Err(Errno::PERM);
    }
    let n = target.len().min(buf_len as usize);
    cx.mem.write_bytes(buf, &target.as_bytes()[..n])?;
    cx.mem.write_u32(used, n as u32)
}

pub fn path_remove_directory(cx: &mut Ctx<'_>, fd: u32, path: u32, len: u32) -> WasiResult {
    remove_entry(
        cx,
        fd,
        path,
        len,
        Errno::INVAL,
        FileSystem::remove_directory,
    )
}

/// What `path_remove_directory` and `path_unlink_file` share: `remove` the entry `path` names
/// in its directory. A path that names no entry (`.`, `..`) or ends in `/` is `refused`, after
/// the errors of looking the path up, as wasmtime reports them.
fn remove_entry(
    cx: &mut Ctx<'_>,
    fd: u32,
    path: u32,
    len: u32,
    refused: Errno,
    remove: fn(&mut FileSystem, Ino, &str, u64) -> Result<(), Errno>,
) -> WasiResult {
    let dir = directory(cx, fd)?;
    let path = path_string(cx, path, len)?;
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let p = fs.resolve_parent(dir, &path)?;
    let name = p.name_or(refused)?;
    if p.trailing_slash {
        fs.resolve(dir, &path, true)?;
        return Err(refused);
    }
    remove(fs, p.dir, name, now)
}

pub fn path_rename(
    cx: &mut Ctx<'_>,
    fd: u32,
    old: u32,
    old_len: u32,
    new_fd: u32,
    new: u32,
    new_len: u32,
) -> WasiResult {
    let old_dir = directory(cx, fd)?;
    let new_dir = directory(cx, new_fd)?;
    let old = path_string(cx, old, old_len)?;
    let new = path_string(cx, new, new_len)?;
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let from = fs.resolve_parent(old_dir, &old)?;
    let from_name = from.name_or(Errno::BUSY)?;
    let to = fs.resolve_parent(new_dir, &new)?;
    let to_name = to.name_or(Errno::BUSY)?;
    if from.trailing_slash || to.trailing_slash {
        let ino = fs.lookup(from.dir, from_name)?.ok_or(Errno::NOENT)?;
        if fs.kind(ino) != Some(Kind::Directory) {
            return Err(Errno::NOTDIR);
        }
    }
    fs.rename(from.dir, from_name, to.dir, to_name, now)
}

pub fn path_symlink(
    cx: &mut Ctx<'_>,
    old: u32,
    old_len: u32,
    fd: u32,
    new: u32,
    new_len: u32,
) -> WasiResult {
    let dir = directory(cx, fd)?;
    let target = path_string(cx, old, old_len)?;
    let new = path_string(cx, new, new_len)?;
    if target.is_empty() {
        return Err(Errno::NOENT);
    }
    if target.len() >= MAX_PATH {
        return Err(Errno::NAMETOOLONG);
    }
    if target.contains('\0') {
        return Err(Errno::INVAL);
    }
    if target.starts_with('/') {
        return Err(Errno::PERM);
    }
    let now = now(cx);
    let fs = &mut cx.state.fs;
    let p = fs.resolve_parent(dir, &new)?;
    let name = p.name_or(Errno::EXIST)?;
    if p.trailing_slash {
        return Err(taken_directory(fs, dir, &new));
    }
    fs.create_symlink(p.dir, name, &target, now).map(|_| ())
}

pub fn path_unlink_file(cx: &mut Ctx<'_>, fd: u32, path: u32, len: u32) -> WasiResult {
    remove_entry(cx, fd, path, len, Errno::ISDIR, FileSystem::unlink)
}

#[cfg(test)]
mod tests;
