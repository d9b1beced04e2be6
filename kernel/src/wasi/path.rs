//! `path_*` functions. Paths resolve relative to a directory descriptor and there are no
//! preopened directories yet, so every call fails the way POSIX `*at` calls do: `EBADF` for a
//! descriptor that is not open, `ENOTDIR` for one that is open but not a directory (the
//! console). The checks come before any guest memory is read, like the kernel's own order.
//! The RAM filesystem plugs in here by giving directory descriptors a real answer.

use super::Ctx;
use super::errno::{Errno, WasiResult};

/// The directory descriptor `fd`, which today can only fail.
fn directory(cx: &Ctx<'_>, fd: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::NOTDIR)
}

pub fn path_create_directory(cx: &mut Ctx<'_>, fd: u32, _path: u32, _len: u32) -> WasiResult {
    directory(cx, fd)
}

pub fn path_filestat_get(
    cx: &mut Ctx<'_>,
    fd: u32,
    _flags: u32,
    _path: u32,
    _len: u32,
    _buf: u32,
) -> WasiResult {
    directory(cx, fd)
}

#[allow(clippy::too_many_arguments)]
pub fn path_filestat_set_times(
    cx: &mut Ctx<'_>,
    fd: u32,
    _flags: u32,
    _path: u32,
    _len: u32,
    _atim: u64,
    _mtim: u64,
    _fst_flags: u32,
) -> WasiResult {
    directory(cx, fd)
}

#[allow(clippy::too_many_arguments)]
pub fn path_link(
    cx: &mut Ctx<'_>,
    old_fd: u32,
    _old_flags: u32,
    _old_path: u32,
    _old_len: u32,
    new_fd: u32,
    _new_path: u32,
    _new_len: u32,
) -> WasiResult {
    cx.state.fds.get(new_fd)?;
    directory(cx, old_fd)
}

#[allow(clippy::too_many_arguments)]
pub fn path_open(
    cx: &mut Ctx<'_>,
    fd: u32,
    _dirflags: u32,
    _path: u32,
    _len: u32,
    _oflags: u32,
    _rights_base: u64,
    _rights_inheriting: u64,
    _fdflags: u32,
    _opened: u32,
) -> WasiResult {
    directory(cx, fd)
}

pub fn path_readlink(
    cx: &mut Ctx<'_>,
    fd: u32,
    _path: u32,
    _len: u32,
    _buf: u32,
    _buf_len: u32,
    _used: u32,
) -> WasiResult {
    directory(cx, fd)
}

pub fn path_remove_directory(cx: &mut Ctx<'_>, fd: u32, _path: u32, _len: u32) -> WasiResult {
    directory(cx, fd)
}

pub fn path_rename(
    cx: &mut Ctx<'_>,
    fd: u32,
    _old: u32,
    _old_len: u32,
    new_fd: u32,
    _new: u32,
    _new_len: u32,
) -> WasiResult {
    cx.state.fds.get(new_fd)?;
    directory(cx, fd)
}

pub fn path_symlink(
    cx: &mut Ctx<'_>,
    _old: u32,
    _old_len: u32,
    fd: u32,
    _new: u32,
    _new_len: u32,
) -> WasiResult {
    directory(cx, fd)
}

pub fn path_unlink_file(cx: &mut Ctx<'_>, fd: u32, _path: u32, _len: u32) -> WasiResult {
    directory(cx, fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::testing::Fixture;

    #[test]
    fn no_directory_anywhere() {
        let mut f = Fixture::new(0);
        for (fd, want) in [
            (0, Errno::NOTDIR),
            (2, Errno::NOTDIR),
            (3, Errno::BADF),
            (u32::MAX, Errno::BADF),
        ] {
            assert_eq!(
                f.call(|cx| path_open(cx, fd, 0, 0, 5, 0, 0, 0, 0, 0)),
                Err(want)
            );
            assert_eq!(f.call(|cx| path_create_directory(cx, fd, 0, 1)), Err(want));
            assert_eq!(
                f.call(|cx| path_filestat_get(cx, fd, 0, 0, 1, 0)),
                Err(want)
            );
            assert_eq!(
                f.call(|cx| path_filestat_set_times(cx, fd, 0, 0, 1, 0, 0, 0)),
                Err(want)
            );
            assert_eq!(f.call(|cx| path_readlink(cx, fd, 0, 1, 0, 0, 0)), Err(want));
            assert_eq!(f.call(|cx| path_remove_directory(cx, fd, 0, 1)), Err(want));
            assert_eq!(f.call(|cx| path_symlink(cx, 0, 1, fd, 0, 1)), Err(want));
            assert_eq!(f.call(|cx| path_unlink_file(cx, fd, 0, 1)), Err(want));
            assert_eq!(f.call(|cx| path_rename(cx, fd, 0, 1, 1, 0, 1)), Err(want));
            assert_eq!(f.call(|cx| path_link(cx, fd, 0, 0, 1, 1, 0, 1)), Err(want));
        }
        assert_eq!(
            f.call(|cx| path_rename(cx, 1, 0, 1, 7, 0, 1)),
            Err(Errno::BADF)
        );
        assert_eq!(
            f.call(|cx| path_link(cx, 1, 0, 0, 1, 7, 0, 1)),
            Err(Errno::BADF)
        );
    }
}
