//! The path and file calls through guest memory, over a small packed tree, with the errnos
//! wasmtime 49 gave for the same calls on Linux (recorded with C probes).

use super::*;
use crate::fs::FileSystem;
use crate::wasi::WasiState;
use crate::wasi::fd_ops::*;
use crate::wasi::files::DIRENT_SIZE;
use crate::wasi::testing::Fixture;
use crate::wasi::types::{filetype, rights, whence};
use alloc::string::String;
use alloc::vec::Vec;
use mewz_pack::Archive;
use mewz_pack::write::{Builder, Content, Times};

const R: u64 = rights::FD_READ;
const W: u64 = rights::FD_WRITE;
/// Where path strings go in the test memory.
const PATH: u32 = 1000;
const PATH2: u32 = 6000;
const OUT: u32 = 100;
const BUF: u32 = 12_000;

/// `/data`: `file.txt` ("hello\n"), `sub/inner` ("x\n"), `ln -> file.txt`, `lsub -> sub`,
/// `dangle -> nothing`, `loop -> loop`; `other`: empty.
fn files() -> FileSystem {
    let mut b = Builder::new();
    let t = Times {
        atim: 1,
        mtim: 2,
        ctim: 3,
    };
    let root = b.directory(t).unwrap();
    let f = b.file(Content::Bytes(b"hello\n".to_vec()), t).unwrap();
    b.link(root, "file.txt", f).unwrap();
    let sub = b.directory(t).unwrap();
    b.link(root, "sub", sub).unwrap();
    let inner = b.file(Content::Bytes(b"x\n".to_vec()), t).unwrap();
    b.link(sub, "inner", inner).unwrap();
    for (name, target) in [
        ("ln", "file.txt"),
        ("lsub", "sub"),
        ("dangle", "nothing"),
        ("loop", "loop"),
    ] {
        let l = b.symlink(target, t).unwrap();
        b.link(root, name, l).unwrap();
    }
    b.root("/data", root).unwrap();
    let other = b.directory(t).unwrap();
    b.root("other", other).unwrap();
    let bytes: &'static [u8] = b.to_bytes().unwrap().leak();
    FileSystem::new(Some(Archive::parse(bytes).unwrap()))
}

fn fixture() -> Fixture {
    let mut f = Fixture::new(64 * 1024);
    f.state = WasiState::new(&["app".into()], &[])
        .with_files(files())
        .unwrap();
    f
}

/// `(d_next, d_ino, d_type, name)`.
type Dirent = (u64, u64, u8, String);

impl Fixture {
    fn put_str(&mut self, at: u32, s: &[u8]) -> (u32, u32) {
        self.memory[at as usize..at as usize + s.len()].copy_from_slice(s);
        (at, s.len() as u32)
    }

    fn open(
        &mut self,
        dir: u32,
        path: &str,
        oflags: u16,
        rights: u64,
        fdflags: u16,
    ) -> Result<u32, Errno> {
        self.open_with(dir, 0, path, oflags, rights, fdflags)
    }

    fn open_with(
        &mut self,
        dir: u32,
        lookup: u32,
        path: &str,
        oflags: u16,
        rights: u64,
        fdflags: u16,
    ) -> Result<u32, Errno> {
        let (p, l) = self.put_str(PATH, path.as_bytes());
        self.call(|cx| {
            path_open(
                cx,
                dir,
                lookup,
                p,
                l,
                u32::from(oflags),
                rights,
                0,
                u32::from(fdflags),
                OUT,
            )
        })?;
        Ok(self.u32_at(OUT as usize))
    }

    fn with_path(
        &mut self,
        path: &str,
        call: impl FnOnce(&mut Ctx<'_>, u32, u32) -> WasiResult,
    ) -> WasiResult {
        let (p, l) = self.put_str(PATH, path.as_bytes());
        self.call(|cx| call(cx, p, l))
    }

    fn with_paths(
        &mut self,
        a: &str,
        b: &str,
        call: impl FnOnce(&mut Ctx<'_>, u32, u32, u32, u32) -> WasiResult,
    ) -> WasiResult {
        let (p, l) = self.put_str(PATH, a.as_bytes());
        let (q, m) = self.put_str(PATH2, b.as_bytes());
        self.call(|cx| call(cx, p, l, q, m))
    }

    fn stat(&mut self, dir: u32, follow: bool, path: &str) -> Result<(u8, u64, u64, u64), Errno> {
        self.with_path(path, |cx, p, l| {
            path_filestat_get(cx, dir, u32::from(follow), p, l, BUF)
        })?;
        let at = BUF as usize;
        Ok((
            self.memory[at + 16],
            self.u64_at(at + 8),
            self.u64_at(at + 24),
            self.u64_at(at + 32),
        ))
    }

    fn write_fd(&mut self, fd: u32, data: &[u8]) -> Result<u32, Errno> {
        self.memory[BUF as usize..BUF as usize + data.len()].copy_from_slice(data);
        self.put_iovecs(200, &[(BUF, data.len() as u32)]);
        self.call(|cx| fd_write(cx, fd, 200, 1, OUT))?;
        Ok(self.u32_at(OUT as usize))
    }

    fn read_fd(&mut self, fd: u32, max: u32) -> Result<Vec<u8>, Errno> {
        self.put_iovecs(200, &[(BUF, max)]);
        self.call(|cx| fd_read(cx, fd, 200, 1, OUT))?;
        let n = self.u32_at(OUT as usize) as usize;
        Ok(self.memory[BUF as usize..BUF as usize + n].to_vec())
    }

    fn tell(&mut self, fd: u32) -> u64 {
        self.call(|cx| fd_tell(cx, fd, OUT)).unwrap();
        self.u64_at(OUT as usize)
    }

    /// `(d_next, d_ino, type, name)` of a listing from `cookie` with a `len`-byte buffer.
    fn readdir(&mut self, fd: u32, cookie: u64, len: u32) -> Result<(u32, Vec<Dirent>), Errno> {
        self.call(|cx| fd_readdir(cx, fd, BUF, len, cookie, OUT))?;
        let used = self.u32_at(OUT as usize);
        let mut out = Vec::new();
        let mut at = BUF as usize;
        let end = at + used as usize;
        while at + DIRENT_SIZE as usize <= end {
            let namlen = self.u32_at(at + 16) as usize;
            let name_end = (at + 24 + namlen).min(end);
            out.push((
                self.u64_at(at),
                self.u64_at(at + 8),
                self.memory[at + 20],
                String::from_utf8_lossy(&self.memory[at + 24..name_end]).into_owned(),
            ));
            at += 24 + namlen;
        }
        Ok((used, out))
    }
}

#[test]
fn preopens_are_fds_3_and_4_with_their_names() {
    let mut f = fixture();
    f.call(|cx| fd_prestat_get(cx, 3, 0)).unwrap();
    assert_eq!((f.memory[0], f.u32_at(4)), (0, 5));
    f.memory[10..20].fill(0xee);
    f.call(|cx| fd_prestat_dir_name(cx, 3, 10, 5)).unwrap();
    assert_eq!(&f.memory[10..16], b"/data\xee", "no NUL written");
    assert_eq!(
        f.call(|cx| fd_prestat_dir_name(cx, 3, 10, 4)),
        Err(Errno::NAMETOOLONG)
    );
    f.call(|cx| fd_prestat_get(cx, 4, 0)).unwrap();
    assert_eq!(f.u32_at(4), 5);
    assert_eq!(f.call(|cx| fd_prestat_get(cx, 5, 0)), Err(Errno::BADF));
    assert_eq!(f.call(|cx| fd_prestat_get(cx, 3, 62_000)), Ok(()));
    assert_eq!(
        f.call(|cx| fd_prestat_get(cx, 3, 65_532)),
        Err(Errno::FAULT)
    );
    f.call(|cx| fd_fdstat_get(cx, 3, 0)).unwrap();
    assert_eq!(f.memory[0], filetype::DIRECTORY);
    assert_eq!((f.u64_at(8), f.u64_at(16)), (0x7b7_fe00, 0xff7_ffff));
    let sub = f.open(3, "sub", 0, R, 0).unwrap();
    assert_eq!(sub, 5);
    assert_eq!(f.call(|cx| fd_prestat_get(cx, sub, 0)), Err(Errno::BADF));
    assert_eq!(
        f.call(|cx| fd_prestat_dir_name(cx, sub, 0, 9)),
        Err(Errno::NOTDIR)
    );
}

#[test]
fn no_dir_means_no_preopens() {
    let mut f = Fixture::new(64);
    assert_eq!(f.call(|cx| fd_prestat_get(cx, 3, 0)), Err(Errno::BADF));
}

#[test]
fn read_write_seek_and_positions() {
    let mut f = fixture();
    let fd = f.open(3, "file.txt", 0, R | W, 0).unwrap();
    assert_eq!(f.read_fd(fd, 3).unwrap(), b"hel");
    assert_eq!(f.tell(fd), 3);
    assert_eq!(f.write_fd(fd, b"LO").unwrap(), 2);
    assert_eq!(f.tell(fd), 5);
    f.call(|cx| fd_seek(cx, fd, 0, u32::from(whence::SET), OUT))
        .unwrap();
    assert_eq!(f.read_fd(fd, 100).unwrap(), b"helLO\n");
    assert_eq!(f.read_fd(fd, 100).unwrap(), b"", "end of file");
    f.call(|cx| fd_seek(cx, fd, 5, u32::from(whence::END), OUT))
        .unwrap();
    assert_eq!(f.u64_at(OUT as usize), 11);
    assert_eq!(f.write_fd(fd, b"!").unwrap(), 1);
    f.put_iovecs(200, &[(BUF, 6), (BUF + 6, 0), (BUF + 6, 10)]);
    f.call(|cx| fd_pread(cx, fd, 200, 3, 0, OUT)).unwrap();
    assert_eq!(f.u32_at(OUT as usize), 12, "reads gather across iovecs");
    assert_eq!(
        &f.memory[BUF as usize..BUF as usize + 12],
        b"helLO\n\0\0\0\0\0!"
    );
    assert_eq!(f.tell(fd), 12, "pread leaves the position");
    for (off, how) in [(-1, whence::SET), (-13, whence::CUR), (-100, whence::END)] {
        assert_eq!(
            f.call(|cx| fd_seek(cx, fd, off, u32::from(how), OUT)),
            Err(Errno::INVAL)
        );
    }
    assert_eq!(f.call(|cx| fd_seek(cx, fd, 0, 3, OUT)), Err(Errno::INVAL));
    f.call(|cx| fd_seek(cx, fd, i64::MAX, u32::from(whence::SET), OUT))
        .unwrap();
    assert_eq!(f.write_fd(fd, b"x"), Err(Errno::INVAL), "past 2^63 - 1");
    let sub = f.open(3, "sub", 0, R, 0).unwrap();
    assert_eq!(f.call(|cx| fd_seek(cx, sub, 0, 0, OUT)), Err(Errno::BADF));
    assert_eq!(f.call(|cx| fd_tell(cx, sub, OUT)), Err(Errno::BADF));
    assert_eq!(f.read_fd(sub, 4), Err(Errno::BADF));
}

#[test]
fn direction_rights_and_flags_as_wasmtime() {
    let mut f = fixture();
    let ro = f.open(3, "file.txt", 0, R, 0).unwrap();
    assert_eq!(f.write_fd(ro, b"x"), Err(Errno::BADF));
    assert_eq!(
        f.call(|cx| fd_filestat_set_size(cx, ro, 1)),
        Err(Errno::INVAL)
    );
    f.call(|cx| fd_fdstat_get(cx, ro, 0)).unwrap();
    assert_eq!(
        (f.memory[0], f.u64_at(8)),
        (filetype::REGULAR_FILE, 0x3fff_ffbf)
    );
    let none = f.open(3, "file.txt", 0, 0, 0).unwrap();
    assert_eq!(
        f.read_fd(none, 2).unwrap(),
        b"he",
        "no rights asked: read-only"
    );
    let wo = f.open(3, "file.txt", 0, W, 0).unwrap();
    assert_eq!(f.read_fd(wo, 2), Err(Errno::BADF));
    f.call(|cx| fd_fdstat_get(cx, wo, 0)).unwrap();
    assert_eq!(f.u64_at(8), 0x3fff_bffd);
    assert_eq!(
        f.call(|cx| fd_fdstat_set_rights(cx, wo, 0, 0)),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        f.call(|cx| fd_fdstat_set_flags(cx, wo, 16)),
        Err(Errno::INVAL)
    );
    f.call(|cx| fd_fdstat_set_flags(cx, wo, 1)).unwrap();
    assert_eq!(f.write_fd(wo, b"+").unwrap(), 1);
    assert_eq!(f.tell(wo), 7, "APPEND moved the position to the end");
    assert_eq!(
        f.call(|cx| fd_fdstat_set_flags(cx, 3, 0)),
        Err(Errno::BADF),
        "not on a directory"
    );
    assert_eq!(f.call(|cx| fd_allocate(cx, wo, 0, 10)), Err(Errno::NOTSUP));
    assert_eq!(f.call(|cx| fd_advise(cx, wo, 0, 10, 3)), Ok(()));
    assert_eq!(f.call(|cx| fd_advise(cx, wo, 0, 10, 6)), Err(Errno::INVAL));
    assert_eq!(f.call(|cx| fd_sync(cx, wo)), Ok(()));
    assert_eq!(f.call(|cx| fd_datasync(cx, wo)), Ok(()));
    assert_eq!(f.call(|cx| fd_sync(cx, 3)), Err(Errno::BADF));
    assert_eq!(f.call(|cx| fd_allocate(cx, 3, 0, 1)), Err(Errno::BADF));
}

#[test]
fn append_and_positional_writes() {
    let mut f = fixture();
    let fd = f
        .open(3, "new", oflags::CREAT, R | W, fdflags::APPEND)
        .unwrap();
    f.call(|cx| fd_fdstat_get(cx, fd, 0)).unwrap();
    assert_eq!(f.memory[2], fdflags::APPEND as u8);
    assert_eq!(f.tell(fd), 0);
    f.write_fd(fd, b"abc").unwrap();
    f.memory[BUF as usize] = b'Q';
    f.put_iovecs(200, &[(BUF, 1)]);
    f.call(|cx| fd_pwrite(cx, fd, 200, 1, 0, OUT)).unwrap();
    assert_eq!(f.tell(fd), 3, "pwrite leaves the position");
    f.put_iovecs(200, &[(BUF, 10)]);
    f.call(|cx| fd_pread(cx, fd, 200, 1, 0, OUT)).unwrap();
    assert_eq!(
        &f.memory[BUF as usize..BUF as usize + 4],
        b"abcQ",
        "APPEND wins over the offset"
    );
    f.call(|cx| fd_pread(cx, fd, 200, 1, 100, OUT)).unwrap();
    assert_eq!(f.u32_at(OUT as usize), 0);
    f.put_iovecs(200, &[(BUF, 1)]);
    assert_eq!(
        f.call(|cx| fd_pwrite(cx, fd, 200, 1, u64::MAX - 10, OUT)),
        Ok(()),
        "APPEND ignores even an absurd offset"
    );
    f.call(|cx| fd_fdstat_set_flags(cx, fd, 0)).unwrap();
    assert_eq!(
        f.call(|cx| fd_pwrite(cx, fd, 200, 1, u64::MAX - 10, OUT)),
        Err(Errno::INVAL)
    );
}

#[test]
fn open_flags_follow_linux() {
    let mut f = fixture();
    use oflags::*;
    assert_eq!(f.open(3, "file.txt", CREAT | EXCL, R, 0), Err(Errno::EXIST));
    assert_eq!(f.open(3, "sub", CREAT | EXCL, R, 0), Err(Errno::EXIST));
    assert_eq!(f.open(3, "sub", CREAT, R, 0), Err(Errno::ISDIR));
    assert_eq!(
        f.open(3, "newdir", CREAT | DIRECTORY, R, 0),
        Err(Errno::INVAL)
    );
    assert_eq!(f.open(3, "sub", DIRECTORY | TRUNC, R, 0), Err(Errno::INVAL));
    assert_eq!(f.open(3, "sub", DIRECTORY | EXCL, R, 0), Err(Errno::INVAL));
    assert!(
        f.open(3, "sub", EXCL, R, 0).is_ok(),
        "EXCL alone means nothing"
    );
    assert_eq!(f.open(3, "sub", TRUNC, W, 0), Err(Errno::ISDIR));
    assert_eq!(f.open(3, "sub", 0, R | W, 0), Err(Errno::ISDIR));
    assert_eq!(f.open(3, "file.txt", DIRECTORY, R, 0), Err(Errno::NOTDIR));
    assert_eq!(f.open(3, ".", CREAT, R, 0), Err(Errno::ISDIR));
    assert_eq!(f.open(3, ".", CREAT | EXCL, R, 0), Err(Errno::EXIST));
    assert_eq!(f.open(3, "..", CREAT, R, 0), Err(Errno::PERM));
    assert_eq!(f.open(3, "newx/", CREAT, R | W, 0), Err(Errno::ISDIR));
    for p in ["file.txt/", "sub/", "ln/", "dangle/", "newx/"] {
        assert_eq!(
            f.open(3, p, CREAT | EXCL, R, 0),
            Err(Errno::ISDIR),
            "{p}: a trailing slash before EXCL"
        );
    }
    assert_eq!(f.open(3, "x", 16, R, 0), Err(Errno::INVAL));
    assert_eq!(
        f.open(3, "file.txt", 0, R | W, fdflags::SYNC | fdflags::APPEND),
        Err(Errno::NOTSUP)
    );
    assert_eq!(f.open(3, "file.txt", 0, R, 1 << 5), Err(Errno::INVAL));
    assert_eq!(f.open_with(3, 2, "file.txt", 0, R, 0), Err(Errno::INVAL));
    let fd = f.open(3, "file.txt", TRUNC, R, 0).unwrap();
    assert_eq!(
        f.read_fd(fd, 10).unwrap(),
        b"",
        "TRUNC empties even a read-only open"
    );
    let fd = f.open(3, "sub/new", CREAT | TRUNC, R | W, 0).unwrap();
    f.write_fd(fd, b"data").unwrap();
    assert_eq!(f.stat(3, false, "sub/new").unwrap().3, 4);
    let file = f.open(3, "sub/new", 0, R, 0).unwrap();
    assert_eq!(
        f.open(file, "x", 0, R, 0),
        Err(Errno::NOTDIR),
        "a file as the directory"
    );
    assert_eq!(f.open(1, "x", 0, R, 0), Err(Errno::BADF));
    assert_eq!(f.open(99, "x", 0, R, 0), Err(Errno::BADF));
}

#[test]
fn symlinks_when_opening() {
    let mut f = fixture();
    let follow = LOOKUP_SYMLINK_FOLLOW;
    assert!(f.open_with(3, follow, "ln", 0, R, 0).is_ok());
    assert_eq!(f.open_with(3, 0, "ln", 0, R, 0), Err(Errno::LOOP));
    assert_eq!(f.open_with(3, follow, "loop", 0, R, 0), Err(Errno::LOOP));
    assert_eq!(f.open_with(3, 0, "loop/x", 0, R, 0), Err(Errno::LOOP));
    assert_eq!(f.open_with(3, follow, "dangle", 0, R, 0), Err(Errno::NOENT));
    assert_eq!(
        f.open_with(3, 0, "lsub", oflags::DIRECTORY, R, 0),
        Err(Errno::LOOP)
    );
    assert!(
        f.open_with(3, follow, "lsub", oflags::DIRECTORY, R, 0)
            .is_ok()
    );
    assert!(
        f.open_with(3, 0, "lsub/", 0, R, 0).is_ok(),
        "a trailing slash follows"
    );
    assert!(f.open_with(3, 0, "lsub/inner", 0, R, 0).is_ok());
    // O_CREAT through a dangling symlink creates its target, as Linux does.
    let fd = f
        .open_with(3, follow, "dangle", oflags::CREAT, R | W, 0)
        .unwrap();
    f.write_fd(fd, b"made").unwrap();
    assert_eq!(f.stat(3, false, "nothing").unwrap().3, 4);
    assert_eq!(
        f.open_with(3, 0, "ln", oflags::CREAT | oflags::EXCL, R, 0),
        Err(Errno::EXIST)
    );
}

#[test]
fn paths_that_try_to_leave() {
    let mut f = fixture();
    for p in ["..", "../x", "/", "/etc/passwd", "sub/../.."] {
        assert_eq!(f.open(3, p, 0, R, 0), Err(Errno::PERM), "{p}");
    }
    assert_eq!(f.open(3, "", 0, R, 0), Err(Errno::NOENT));
    assert_eq!(f.open(3, "missing/../..", 0, R, 0), Err(Errno::NOENT));
    let sub = f.open(3, "sub", 0, R, 0).unwrap();
    assert_eq!(f.open(sub, "../file.txt", 0, R, 0), Err(Errno::PERM));
    assert_eq!(
        f.open(3, &"a".repeat(256), 0, R, 0),
        Err(Errno::NAMETOOLONG)
    );
    assert_eq!(
        f.open(3, &"./".repeat(2100), 0, R, 0),
        Err(Errno::NAMETOOLONG)
    );
    let (p, _) = f.put_str(PATH, b"file.txt\0x");
    assert_eq!(
        f.call(|cx| path_open(cx, 3, 0, p, 10, 0, R, 0, 0, OUT)),
        Err(Errno::INVAL)
    );
    let (p, _) = f.put_str(PATH, b"\xff\xfe");
    assert_eq!(
        f.call(|cx| path_open(cx, 3, 0, p, 2, 0, R, 0, 0, OUT)),
        Err(Errno::ILSEQ)
    );
    assert_eq!(
        f.call(|cx| path_open(cx, 3, 0, 65_530, 100, 0, R, 0, 0, OUT)),
        Err(Errno::FAULT)
    );
    let (p, l) = f.put_str(PATH, b"file.txt");
    assert_eq!(
        f.call(|cx| path_open(cx, 3, 0, p, l, 0, R, 0, 0, 65_534)),
        Err(Errno::FAULT)
    );
}

#[test]
fn stat_by_path() {
    let mut f = fixture();
    let (ty, ino, nlink, size) = f.stat(3, false, "file.txt").unwrap();
    assert_eq!((ty, nlink, size), (filetype::REGULAR_FILE, 1, 6));
    assert_eq!(f.stat(3, true, "ln").unwrap().1, ino);
    assert_eq!(f.stat(3, false, "ln").unwrap().0, filetype::SYMBOLIC_LINK);
    // Not followed, a path of one component is looked up by its name alone (wasmtime drops
    // a trailing `/` or `/.` there); any other path wants a directory after a `/`.
    for p in ["file.txt/", "file.txt/.", "file.txt//./"] {
        assert_eq!(f.stat(3, false, p).unwrap().1, ino, "{p}");
        assert_eq!(f.stat(3, true, p), Err(Errno::NOTDIR), "{p} followed");
    }
    assert_eq!(
        f.stat(3, false, "lsub/").unwrap().0,
        filetype::SYMBOLIC_LINK
    );
    assert_eq!(f.stat(3, false, "ln/").unwrap().0, filetype::SYMBOLIC_LINK);
    assert_eq!(f.stat(3, false, "./file.txt/"), Err(Errno::NOTDIR));
    assert_eq!(f.stat(3, false, "sub/inner/"), Err(Errno::NOTDIR));
    assert_eq!(f.stat(3, false, "sub/inner/."), Err(Errno::NOTDIR));
    assert_eq!(f.stat(3, false, "./ln/"), Err(Errno::NOTDIR));
    assert_eq!(f.stat(3, false, "./lsub/").unwrap().0, filetype::DIRECTORY);
    assert_eq!(f.stat(3, false, "./lsub/.").unwrap().0, filetype::DIRECTORY);
    assert_eq!(f.stat(3, false, "./").unwrap().0, filetype::DIRECTORY);
    assert_eq!(f.stat(3, false, "sub/..//").unwrap().0, filetype::DIRECTORY);
    assert_eq!(f.stat(3, false, "sub").unwrap().0, filetype::DIRECTORY);
    assert_eq!(f.stat(3, true, "loop"), Err(Errno::LOOP));
    assert_eq!(f.stat(3, true, "dangle"), Err(Errno::NOENT));
    assert_eq!(f.stat(3, false, ".."), Err(Errno::PERM));
    assert_eq!(f.stat(3, false, "/"), Err(Errno::PERM));
    assert_eq!(f.stat(3, false, ""), Err(Errno::NOENT));
    assert_eq!(f.stat(3, 2 == 3, "sub/../file.txt").unwrap().1, ino);
    let fd = f.open(3, "file.txt", 0, R, 0).unwrap();
    f.call(|cx| fd_filestat_get(cx, fd, BUF)).unwrap();
    assert_eq!(
        (f.u64_at(BUF as usize), f.u64_at(BUF as usize + 8)),
        (1, ino)
    );
    assert_eq!(f.u64_at(BUF as usize + 40), 1, "packed atim");
}

#[test]
fn create_remove_and_their_odd_cases() {
    let mut f = fixture();
    let mkdir =
        |f: &mut Fixture, p: &str| f.with_path(p, |cx, a, l| path_create_directory(cx, 3, a, l));
    let rmdir =
        |f: &mut Fixture, p: &str| f.with_path(p, |cx, a, l| path_remove_directory(cx, 3, a, l));
    let unlink =
        |f: &mut Fixture, p: &str| f.with_path(p, |cx, a, l| path_unlink_file(cx, 3, a, l));
    assert_eq!(mkdir(&mut f, "d"), Ok(()));
    assert_eq!(mkdir(&mut f, "d2/"), Ok(()));
    assert_eq!(mkdir(&mut f, "d3//"), Ok(()));
    for (p, want) in [
        ("file.txt", Errno::EXIST),
        (".", Errno::EXIST),
        ("..", Errno::PERM),
        ("sub/..", Errno::EXIST),
        ("", Errno::NOENT),
        ("missing/x", Errno::NOENT),
        ("file.txt/x", Errno::NOTDIR),
        ("dangle", Errno::EXIST),
    ] {
        assert_eq!(mkdir(&mut f, p), Err(want), "mkdir {p}");
    }
    for (p, want) in [
        ("d/", Errno::INVAL),
        ("sub/", Errno::INVAL),
        ("lsub/", Errno::INVAL),
        (".", Errno::INVAL),
        ("d/.", Errno::INVAL),
        ("sub/..", Errno::INVAL),
        ("..", Errno::PERM),
        ("sub", Errno::NOTEMPTY),
        ("file.txt", Errno::NOTDIR),
        ("lsub", Errno::NOTDIR),
        ("missing", Errno::NOENT),
        ("", Errno::NOENT),
    ] {
        assert_eq!(rmdir(&mut f, p), Err(want), "rmdir {p}");
    }
    assert_eq!(rmdir(&mut f, "d"), Ok(()));
    for (p, want) in [
        ("d2", Errno::ISDIR),
        (".", Errno::ISDIR),
        ("sub/..", Errno::ISDIR),
        ("..", Errno::PERM),
        ("sub/", Errno::ISDIR),
        ("lsub/", Errno::ISDIR),
        ("ln/", Errno::NOTDIR),
        ("file.txt/", Errno::NOTDIR),
        ("missing", Errno::NOENT),
    ] {
        assert_eq!(unlink(&mut f, p), Err(want), "unlink {p}");
    }
    assert_eq!(
        unlink(&mut f, "lsub"),
        Ok(()),
        "a symlink to a directory is a file"
    );
    assert_eq!(unlink(&mut f, "file.txt"), Ok(()));
    assert_eq!(f.stat(3, false, "file.txt"), Err(Errno::NOENT));
    assert_eq!(mkdir(&mut f, "lsub"), Ok(()));
}

#[test]
fn symlink_link_readlink() {
    let mut f = fixture();
    let symlink = |f: &mut Fixture, target: &str, p: &str| {
        f.with_paths(target, p, |cx, a, l, b, m| path_symlink(cx, a, l, 3, b, m))
    };
    let link = |f: &mut Fixture, flags: u32, a: &str, b: &str| {
        f.with_paths(a, b, |cx, p, l, q, m| {
            path_link(cx, 3, flags, p, l, 4, q, m)
        })
    };
    assert_eq!(symlink(&mut f, "../escape", "up"), Ok(()));
    assert_eq!(symlink(&mut f, ".", "dotl"), Ok(()));
    for (target, p, want) in [
        ("/etc/passwd", "abs", Errno::PERM),
        ("", "empty", Errno::NOENT),
        ("x", "file.txt", Errno::EXIST),
        ("x", "newln/", Errno::NOENT),
        // A new name ending in `/` is looked up as a directory first (wasmtime).
        ("x", "file.txt/", Errno::NOTDIR),
        ("x", "ln/", Errno::NOTDIR),
        ("x", "dangle/", Errno::NOENT),
        ("x", "loop/", Errno::LOOP),
        ("x", "sub/", Errno::EXIST),
        ("x", "lsub/", Errno::EXIST),
        ("x", ".", Errno::EXIST),
        ("x", "..", Errno::PERM),
        ("x", "sub/..", Errno::EXIST),
        ("a\0b", "nul", Errno::INVAL),
    ] {
        assert_eq!(
            symlink(&mut f, target, p),
            Err(want),
            "symlink {target} {p}"
        );
    }
    assert_eq!(f.open_with(3, 1, "up", 0, R, 0), Err(Errno::PERM));
    assert_eq!(link(&mut f, 0, "file.txt", "hard"), Ok(()));
    assert_eq!(f.stat(4, false, "hard").unwrap().2, 2);
    for (flags, a, b, want) in [
        (1, "ln", "x", Errno::INVAL),
        (0, "sub", "x", Errno::PERM),
        (0, ".", "x", Errno::PERM),
        (0, "..", "x", Errno::PERM),
        (0, "file.txt", "hard", Errno::EXIST),
        (0, "file.txt", ".", Errno::EXIST),
        (0, "file.txt", "x/", Errno::NOENT),
        (0, "file.txt/", "x", Errno::NOTDIR),
        (0, "missing", "x", Errno::NOENT),
        (0, "file.txt", "../x", Errno::PERM),
    ] {
        assert_eq!(link(&mut f, flags, a, b), Err(want), "link {a} {b}");
    }
    assert_eq!(
        link(&mut f, 0, "dangle", "hdangle"),
        Ok(()),
        "links the symlink itself"
    );
    assert_eq!(
        f.stat(4, false, "hdangle").unwrap().0,
        filetype::SYMBOLIC_LINK
    );
    let readlink = |f: &mut Fixture, p: &str, len: u32| {
        f.with_path(p, |cx, a, l| path_readlink(cx, 3, a, l, BUF, len, OUT))
    };
    readlink(&mut f, "ln", 100).unwrap();
    assert_eq!(f.u32_at(OUT as usize), 8);
    assert_eq!(&f.memory[BUF as usize..BUF as usize + 8], b"file.txt");
    readlink(&mut f, "ln", 3).unwrap();
    assert_eq!(f.u32_at(OUT as usize), 3, "cut to the buffer");
    readlink(&mut f, "ln", 0).unwrap();
    assert_eq!(f.u32_at(OUT as usize), 0);
    // wasmtime does not reveal where an absolute symlink points.
    let root = f.state.fs.roots()[0].1;
    f.state
        .fs
        .create_symlink(root, "abs", "/etc/passwd", 1)
        .unwrap();
    for (p, want) in [
        ("abs", Errno::PERM),
        ("file.txt", Errno::INVAL),
        ("missing", Errno::NOENT),
        ("ln/", Errno::NOTDIR),
        ("lsub/", Errno::INVAL),
        (".", Errno::INVAL),
        ("..", Errno::PERM),
    ] {
        assert_eq!(readlink(&mut f, p, 100), Err(want), "readlink {p}");
    }
}

#[test]
fn rename_cases() {
    let mut f = fixture();
    let rename = |f: &mut Fixture, a: &str, b: &str| {
        f.with_paths(a, b, |cx, p, l, q, m| path_rename(cx, 3, p, l, 3, q, m))
    };
    let mkdir =
        |f: &mut Fixture, p: &str| f.with_path(p, |cx, a, l| path_create_directory(cx, 3, a, l));
    mkdir(&mut f, "r1").unwrap();
    mkdir(&mut f, "r1/r2").unwrap();
    mkdir(&mut f, "e1").unwrap();
    for (a, b, want) in [
        ("r1", "r1/r2/x", Errno::INVAL),
        ("file.txt", "r1", Errno::ISDIR),
        ("r1", "file.txt", Errno::NOTDIR),
        ("r1", "sub", Errno::NOTEMPTY),
        ("missing", "x", Errno::NOENT),
        ("file.txt/", "y", Errno::NOTDIR),
        ("file.txt", "y/", Errno::NOTDIR),
        (".", "x", Errno::BUSY),
        ("sub/..", "x", Errno::BUSY),
        ("file.txt", ".", Errno::BUSY),
        ("file.txt", "..", Errno::PERM),
        ("file.txt", "", Errno::NOENT),
        ("file.txt", "missing/x", Errno::NOENT),
        ("dangle", "sub", Errno::ISDIR),
        ("e1", "ln", Errno::NOTDIR),
    ] {
        assert_eq!(rename(&mut f, a, b), Err(want), "rename {a} {b}");
    }
    assert_eq!(rename(&mut f, "r1", "r1"), Ok(()));
    assert_eq!(
        rename(&mut f, "r1", "e1"),
        Ok(()),
        "over an empty directory"
    );
    assert_eq!(rename(&mut f, "e1/", "e2/"), Ok(()));
    assert_eq!(rename(&mut f, "e2", "e3/"), Ok(()));
    assert_eq!(f.stat(3, false, "e3/r2").unwrap().0, filetype::DIRECTORY);
    let fd = f.open(3, "file.txt", 0, R, 0).unwrap();
    f.with_paths("file.txt", "moved", |cx, p, l, q, m| {
        path_rename(cx, 3, p, l, 4, q, m)
    })
    .unwrap();
    assert_eq!(
        f.read_fd(fd, 10).unwrap(),
        b"hello\n",
        "an open file survives its rename"
    );
    assert_eq!(f.stat(4, false, "moved").unwrap().3, 6);
}

#[test]
fn readdir_with_cookies_that_survive_removals() {
    let mut f = fixture();
    let sub = f.open(3, "sub", 0, R, 0).unwrap();
    let sub_ino = f.stat(3, false, "sub").unwrap().1;
    let inner_ino = f.stat(3, false, "sub/inner").unwrap().1;
    let (_, all) = f.readdir(sub, 0, 4096).unwrap();
    assert_eq!(
        all,
        [
            (1, sub_ino, filetype::DIRECTORY, ".".into()),
            (2, sub_ino, filetype::DIRECTORY, "..".into()),
            (3, inner_ino, filetype::REGULAR_FILE, "inner".into()),
        ]
    );
    assert_eq!(f.readdir(sub, 2, 4096).unwrap().1.len(), 1);
    assert_eq!(f.readdir(sub, 3, 4096).unwrap().0, 0);
    assert_eq!(f.readdir(sub, u64::MAX, 4096).unwrap().0, 0);
    let (used, cut) = f.readdir(sub, 0, 30).unwrap();
    assert_eq!(
        (used, cut.len()),
        (30, 1),
        "the buffer is filled, the entry cut"
    );
    assert_eq!(f.readdir(sub, 0, 0).unwrap().0, 0);
    // Listing the root a few entries at a time while removing what was already listed.
    let (_, first) = f.readdir(3, 0, 2 * 24 + 3 + 3 * 24 + 20).unwrap();
    let names: Vec<&str> = first.iter().map(|e| e.3.as_str()).collect();
    assert_eq!(names, [".", "..", "dangle", "file.txt", "ln"]);
    let resume = first[3].0;
    f.with_path("file.txt", |cx, p, l| path_unlink_file(cx, 3, p, l))
        .unwrap();
    f.with_path("dangle", |cx, p, l| path_unlink_file(cx, 3, p, l))
        .unwrap();
    let (_, rest) = f.readdir(3, resume, 4096).unwrap();
    let names: Vec<&str> = rest.iter().map(|e| e.3.as_str()).collect();
    assert_eq!(
        names,
        ["ln", "loop", "lsub", "sub"],
        "nothing skipped, nothing repeated"
    );
    assert_eq!(
        f.call(|cx| fd_readdir(cx, 3, 65_530, 100, 0, OUT)),
        Err(Errno::FAULT)
    );
    let file = f.open(3, "sub/inner", 0, R, 0).unwrap();
    assert_eq!(
        f.call(|cx| fd_readdir(cx, file, BUF, 100, 0, OUT)),
        Err(Errno::BADF)
    );
}

#[test]
fn times_by_descriptor_and_by_path() {
    let mut f = fixture();
    let now = f.platform.now() + crate::wasi::mock::WALL_OFFSET_NS;
    let fd = f.open(3, "file.txt", 0, R, 0).unwrap();
    f.call(|cx| fd_filestat_set_times(cx, fd, 10, 20, 1 | 4))
        .unwrap();
    f.call(|cx| fd_filestat_get(cx, fd, BUF)).unwrap();
    let at = BUF as usize;
    assert_eq!(
        (f.u64_at(at + 40), f.u64_at(at + 48), f.u64_at(at + 56)),
        (10, 20, now)
    );
    f.call(|cx| fd_filestat_set_times(cx, fd, 0, 0, 8)).unwrap();
    f.call(|cx| fd_filestat_get(cx, fd, BUF)).unwrap();
    assert_eq!((f.u64_at(at + 40), f.u64_at(at + 48)), (10, now));
    assert_eq!(
        f.call(|cx| fd_filestat_set_times(cx, fd, 0, 0, 3)),
        Err(Errno::INVAL)
    );
    assert_eq!(
        f.call(|cx| fd_filestat_set_times(cx, fd, 0, 0, 16)),
        Err(Errno::INVAL)
    );
    assert_eq!(
        f.call(|cx| fd_filestat_set_times(cx, 3, 0, 0, 5)),
        Err(Errno::BADF),
        "a preopen"
    );
    let sub = f.open(3, "sub", 0, R, 0).unwrap();
    assert_eq!(f.call(|cx| fd_filestat_set_times(cx, sub, 0, 0, 5)), Ok(()));
    let set = |f: &mut Fixture, flags: u32, p: &str| {
        f.with_path(p, |cx, a, l| {
            path_filestat_set_times(cx, 3, flags, a, l, 5, 6, 5)
        })
    };
    assert_eq!(set(&mut f, 0, "dangle"), Ok(()), "the symlink itself");
    assert_eq!(
        f.stat(3, false, "dangle").unwrap().0,
        filetype::SYMBOLIC_LINK
    );
    assert_eq!(set(&mut f, 1, "dangle"), Err(Errno::NOENT));
    assert_eq!(set(&mut f, 0, "file.txt/"), Err(Errno::NOTDIR));
    assert_eq!(set(&mut f, 0, "."), Ok(()));
    assert_eq!(set(&mut f, 0, ".."), Err(Errno::PERM));
    let keep = |f: &mut Fixture, p: &str| {
        f.with_path(p, |cx, a, l| {
            path_filestat_set_times(cx, 3, 0, a, l, 5, 6, 0)
        })
    };
    assert_eq!(
        keep(&mut f, "missing"),
        Ok(()),
        "nothing to change: not even looked up"
    );
}

#[test]
fn close_renumber_and_descriptor_numbers() {
    let mut f = fixture();
    let a = f.open(3, "file.txt", 0, R, 0).unwrap();
    let b = f.open(3, "sub", 0, R, 0).unwrap();
    assert_eq!((a, b), (5, 6));
    f.call(|cx| fd_renumber(cx, b, 4)).unwrap();
    assert_eq!(
        f.call(|cx| fd_prestat_get(cx, 4, 0)),
        Err(Errno::BADF),
        "4 is sub now"
    );
    f.call(|cx| fd_close(cx, 4)).unwrap();
    assert_eq!(
        f.open(3, "file.txt", 0, R, 0),
        Ok(6),
        "highest freed number first"
    );
    assert_eq!(f.open(3, "file.txt", 0, R, 0), Ok(4));
    assert_eq!(f.open(3, "file.txt", 0, R, 0), Ok(7));
    assert_eq!(f.call(|cx| fd_renumber(cx, a, 50)), Err(Errno::BADF));
    f.call(|cx| fd_close(cx, 3)).unwrap();
    assert_eq!(f.open(3, "x", 0, R, 0), Err(Errno::BADF));
}

#[test]
fn an_unlinked_open_file_lives_until_closed() {
    let mut f = fixture();
    let fd = f.open(3, "scratch", oflags::CREAT, R | W, 0).unwrap();
    f.write_fd(fd, &[7; 10_000]).unwrap();
    f.with_path("scratch", |cx, p, l| path_unlink_file(cx, 3, p, l))
        .unwrap();
    f.call(|cx| fd_filestat_get(cx, fd, BUF)).unwrap();
    assert_eq!(f.u64_at(BUF as usize + 24), 0, "no names left");
    f.call(|cx| fd_seek(cx, fd, 0, 0, OUT)).unwrap();
    assert_eq!(f.read_fd(fd, 20_000).unwrap().len(), 10_000);
    assert!(f.state.fs.space.used() >= 10_000);
    f.call(|cx| fd_close(cx, fd)).unwrap();
    assert_eq!(f.state.fs.space.used(), 0, "its memory is back");
}

#[test]
fn too_many_open_files() {
    let mut f = fixture();
    let mut last = Ok(0);
    for _ in 0..crate::wasi::fd::MAX_FDS {
        last = f.open(3, "file.txt", 0, R, 0);
        if last.is_err() {
            break;
        }
    }
    assert_eq!(last, Err(Errno::MFILE));
    assert_eq!(f.open(3, "never", oflags::CREAT, W, 0), Err(Errno::MFILE));
    assert_eq!(
        f.stat(3, false, "never"),
        Err(Errno::NOENT),
        "EMFILE before creating"
    );
    f.call(|cx| fd_close(cx, 100)).unwrap();
    assert_eq!(f.open(3, "file.txt", 0, R, 0), Ok(100));
}

#[test]
fn a_full_filesystem_says_enospc() {
    let mut f = fixture();
    f.state.fs.space = crate::fs::space::Space::limited(64 * 1024);
    let fd = f.open(3, "big", oflags::CREAT, W, 0).unwrap();
    let mut written = 0;
    let err = loop {
        match f.write_fd(fd, &[1; 4096]) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Errno::NOSPC);
    assert!(written > 32 * 1024);
    f.call(|cx| fd_filestat_set_size(cx, fd, 0)).unwrap();
    assert_eq!(
        f.write_fd(fd, &[1; 4096]),
        Ok(4096),
        "room again after truncating"
    );
}

#[test]
fn poll_on_files_is_always_ready() {
    use crate::wasi::poll::poll_oneoff;
    use crate::wasi::types::{EVENT_FD_READWRITE_HANGUP, clockid, event, eventtype, subscription};
    let mut f = fixture();
    let fd = f.open(3, "file.txt", 0, R | W, 0).unwrap();
    let sub = |f: &mut Fixture, i: u32, tag: u8, fd: u32| {
        let at = (BUF + i * subscription::SIZE) as usize;
        f.put_u64(at, 100 + u64::from(i));
        f.memory[at + 8] = tag;
        f.put_u32(at + 16, fd);
    };
    sub(&mut f, 0, eventtype::FD_READ, fd);
    sub(&mut f, 1, eventtype::FD_WRITE, fd);
    sub(&mut f, 2, eventtype::CLOCK, clockid::MONOTONIC);
    f.put_u64((BUF + 2 * subscription::SIZE + 24) as usize, 1_000_000_000);
    let write_only = f.open(3, "sub/inner", 0, W, 0).unwrap();
    sub(&mut f, 3, eventtype::FD_READ, write_only);
    f.call(|cx| poll_oneoff(cx, BUF, 20_000, 4, OUT)).unwrap();
    assert_eq!(f.u32_at(OUT as usize), 3, "all three file events");
    let ev = |f: &Fixture, i: u32| {
        let at = (20_000 + i * event::SIZE) as usize;
        (
            f.u64_at(at),
            u16::from_le_bytes([f.memory[at + 8], f.memory[at + 9]]),
            f.u64_at(at + 16),
            u16::from_le_bytes([f.memory[at + 24], f.memory[at + 25]]),
        )
    };
    assert_eq!(ev(&f, 0), (100, 0, 1, 0));
    assert_eq!(ev(&f, 1), (101, 0, 1, 0));
    assert_eq!(
        ev(&f, 2),
        (103, 0, 1, 0),
        "readable, as on Linux, though opened to write"
    );
    // A directory cannot be polled: the whole call fails, as under wasmtime.
    sub(&mut f, 3, eventtype::FD_READ, 3);
    f.put_u32(OUT as usize, 77);
    assert_eq!(
        f.call(|cx| poll_oneoff(cx, BUF, 20_000, 4, OUT)),
        Err(Errno::BADF)
    );
    assert_eq!(f.u32_at(OUT as usize), 77, "no events");
    sub(&mut f, 3, eventtype::FD_WRITE, 3);
    assert_eq!(
        f.call(|cx| poll_oneoff(cx, BUF, 20_000, 4, OUT)),
        Err(Errno::BADF)
    );
    f.call(|cx| fd_seek(cx, fd, 0, u32::from(whence::END), OUT))
        .unwrap();
    f.call(|cx| poll_oneoff(cx, BUF, 20_000, 1, OUT)).unwrap();
    assert_eq!(
        ev(&f, 0),
        (100, 0, 1, EVENT_FD_READWRITE_HANGUP),
        "at the end"
    );
}
