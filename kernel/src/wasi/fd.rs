//! The app's file-descriptor table.
//!
//! It holds the console streams and the RAM filesystem's directories and files (and, later,
//! sockets), so every `fd_*` function looks its descriptor up here and decides by kind.
//!
//! Descriptor numbers are handed out as wasmtime hands them out, so that programs that print
//! them print the same thing: the most recently freed number first (the highest of the freed
//! ones), else one past the highest number in use.

use super::errno::Errno;
use super::types::{fdflags, filetype, rights};
use crate::fs::Ino;
use crate::platform::Stream;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Most descriptors an app may hold at once (`EMFILE` beyond): room for a server with
/// thousands of connections.
pub const MAX_FDS: usize = 4096;

/// Every right preview1 defines.
pub const ALL_RIGHTS: u64 = (1 << 30) - 1;

/// What a descriptor refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// Console input.
    Stdin,
    /// Console output, one of the two streams.
    Console(Stream),
    /// A directory of the RAM filesystem; `preopen` is its place among the preopened ones.
    Directory { ino: Ino, preopen: Option<u32> },
    /// A regular file of the RAM filesystem, opened for reading and/or writing.
    File { ino: Ino, read: bool, write: bool },
    /// A socket of the network stack (see `crate::net`).
    Socket {
        handle: crate::net::Handle,
        kind: crate::net::Kind,
    },
}

impl FdKind {
    pub fn filetype(self) -> u8 {
        match self {
            FdKind::Stdin | FdKind::Console(_) => filetype::CHARACTER_DEVICE,
            FdKind::Directory { .. } => filetype::DIRECTORY,
            FdKind::File { .. } => filetype::REGULAR_FILE,
            FdKind::Socket {
                kind: crate::net::Kind::Stream,
                ..
            } => filetype::SOCKET_STREAM,
            FdKind::Socket { .. } => filetype::SOCKET_DGRAM,
        }
    }

    /// What a descriptor of this kind can do at all (asking for anything else is `EBADF`).
    pub fn rights(self) -> u64 {
        let common =
            rights::FD_FDSTAT_SET_FLAGS | rights::FD_FILESTAT_GET | rights::POLL_FD_READWRITE;
        match self {
            FdKind::Stdin => common | rights::FD_READ,
            FdKind::Console(_) => common | rights::FD_WRITE,
            FdKind::Directory { .. } => rights::FD_FILESTAT_GET | rights::FD_READDIR,
            FdKind::File { read, write, .. } => {
                let mut r = ALL_RIGHTS & !(rights::FD_READ | rights::FD_WRITE | rights::FD_READDIR);
                if read {
                    r |= rights::FD_READ;
                }
                if write {
                    r |= rights::FD_WRITE;
                }
                r
            }
            FdKind::Socket { .. } => {
                common
                    | rights::FD_READ
                    | rights::FD_WRITE
                    | rights::SOCK_SHUTDOWN
                    | rights::SOCK_ACCEPT
            }
        }
    }

    /// The rights `fd_fdstat_get` reports for a fresh descriptor, as wasmtime reports them:
    /// for a file every right but the direction it was not opened for, for a directory
    /// every right that makes sense for one, for a preopened directory a fixed set (with the
    /// file rights as inheritable).
    /// Stdio reports the one right of its direction, as wasmtime does whether or not it is a
    /// terminal (wasi-libc's `isatty` wants a character device without `FD_SEEK`/`FD_TELL`,
    /// so stdio line-buffers just as under wasmtime); it can still do what
    /// [`FdKind::rights`] says (`fd_filestat_get`, `poll_oneoff`).
    pub fn reported_rights(self) -> (u64, u64) {
        match self {
            FdKind::Stdin => (rights::FD_READ, rights::FD_READ),
            FdKind::Console(_) => (rights::FD_WRITE, rights::FD_WRITE),
            FdKind::Socket { .. } => (self.rights(), 0),
            FdKind::Directory {
                preopen: Some(_), ..
            } => (PREOPEN_RIGHTS, PREOPEN_RIGHTS | PREOPEN_INHERITING),
            FdKind::Directory { preopen: None, .. } => {
                let r = ALL_RIGHTS
                    & !(rights::FD_SEEK
                        | rights::FD_WRITE
                        | rights::FD_FILESTAT_SET_SIZE
                        | rights::PATH_FILESTAT_SET_SIZE);
                (r, r)
            }
            FdKind::File { read, write, .. } => {
                let mut r = ALL_RIGHTS;
                if !read {
                    r &= !(rights::FD_READ | rights::FD_READDIR);
                }
                if !write {
                    r &= !rights::FD_WRITE;
                }
                (r, r)
            }
        }
    }

    /// `$fdflags` a descriptor of this kind may carry (`fd_fdstat_set_flags`). Files take
    /// `APPEND` and `NONBLOCK`, sockets and stdin `NONBLOCK` (wasmtime refuses any flag on
    /// stdio; mewz keeps a non-blocking stdin), stdout and stderr none; the synchronous-I/O
    /// flags mean nothing for a console or a file in RAM.
    pub fn settable_flags(self) -> u16 {
        match self {
            FdKind::Socket { .. } | FdKind::Stdin => fdflags::NONBLOCK,
            FdKind::Console(_) => 0,
            _ => fdflags::APPEND | fdflags::NONBLOCK,
        }
    }

    /// The network handle of a socket descriptor.
    pub fn socket(self) -> Option<crate::net::Handle> {
        match self {
            FdKind::Socket { handle, .. } => Some(handle),
            _ => None,
        }
    }

    /// The file or directory this descriptor refers to, if it is one.
    pub fn ino(self) -> Option<Ino> {
        match self {
            FdKind::Directory { ino, .. } | FdKind::File { ino, .. } => Some(ino),
            FdKind::Stdin | FdKind::Console(_) | FdKind::Socket { .. } => None,
        }
    }
}

/// The rights wasmtime gives a preopened directory.
const PREOPEN_RIGHTS: u64 = rights::PATH_CREATE_DIRECTORY
    | rights::PATH_CREATE_FILE
    | rights::PATH_LINK_SOURCE
    | rights::PATH_LINK_TARGET
    | rights::PATH_OPEN
    | rights::FD_READDIR
    | rights::PATH_READLINK
    | rights::PATH_RENAME_SOURCE
    | rights::PATH_RENAME_TARGET
    | rights::PATH_SYMLINK
    | rights::PATH_REMOVE_DIRECTORY
    | rights::PATH_UNLINK_FILE
    | rights::PATH_FILESTAT_GET
    | rights::PATH_FILESTAT_SET_TIMES
    | rights::FD_FILESTAT_GET
    | rights::FD_FILESTAT_SET_TIMES;

/// What a preopened directory lets files opened through it do, on top of [`PREOPEN_RIGHTS`].
const PREOPEN_INHERITING: u64 = rights::FD_DATASYNC
    | rights::FD_READ
    | rights::FD_SEEK
    | rights::FD_FDSTAT_SET_FLAGS
    | rights::FD_SYNC
    | rights::FD_TELL
    | rights::FD_WRITE
    | rights::FD_ADVISE
    | rights::FD_ALLOCATE
    | rights::FD_FILESTAT_GET
    | rights::FD_FILESTAT_SET_SIZE
    | rights::FD_FILESTAT_SET_TIMES
    | rights::POLL_FD_READWRITE;

/// One open descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdEntry {
    pub kind: FdKind,
    /// `$fdflags`.
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    /// A file's read/write position.
    pub position: u64,
}

impl FdEntry {
    pub fn new(kind: FdKind) -> FdEntry {
        let (rights_base, rights_inheriting) = match kind {
            // Stdio may do more than it reports (see `FdKind::reported_rights`).
            FdKind::Stdin | FdKind::Console(_) => (kind.rights(), 0),
            _ => kind.reported_rights(),
        };
        FdEntry {
            kind,
            flags: 0,
            rights_base,
            rights_inheriting,
            position: 0,
        }
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & fdflags::NONBLOCK != 0
    }

    pub fn append(&self) -> bool {
        self.flags & fdflags::APPEND != 0
    }
}

#[derive(Debug)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
    /// Numbers given back by `close` and `renumber`: every empty slot.
    free: BTreeSet<u32>,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::with_stdio()
    }
}

impl FdTable {
    /// 0 = stdin, 1 = stdout, 2 = stderr; nothing else open.
    pub fn with_stdio() -> FdTable {
        FdTable {
            slots: vec![
                Some(FdEntry::new(FdKind::Stdin)),
                Some(FdEntry::new(FdKind::Console(Stream::Out))),
                Some(FdEntry::new(FdKind::Console(Stream::Err))),
            ],
            free: BTreeSet::new(),
        }
    }

    pub fn get(&self, fd: u32) -> Result<&FdEntry, Errno> {
        self.slots
            .get(fd as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)
    }

    pub fn get_mut(&mut self, fd: u32) -> Result<&mut FdEntry, Errno> {
        self.slots
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)
    }

    /// Every open descriptor, in number order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &FdEntry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, e)| Some((fd as u32, e.as_ref()?)))
    }

    /// Whether every descriptor is taken (the next `insert` is `EMFILE`).
    pub fn is_full(&self) -> bool {
        self.free.is_empty() && self.slots.len() >= MAX_FDS
    }

    /// Opens `entry` at the next number (see the module docs).
    pub fn insert(&mut self, entry: FdEntry) -> Result<u32, Errno> {
        let fd = match self.free.pop_last() {
            Some(fd) => fd as usize,
            None if self.slots.len() < MAX_FDS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno::MFILE),
        };
        self.slots[fd] = Some(entry);
        Ok(fd as u32)
    }

    /// Closes `fd`, returning what it held.
    pub fn close(&mut self, fd: u32) -> Result<FdEntry, Errno> {
        let slot = self.slots.get_mut(fd as usize).ok_or(Errno::BADF)?;
        let entry = slot.take().ok_or(Errno::BADF)?;
        self.free.insert(fd);
        Ok(entry)
    }

    /// `fd_renumber`: moves `from` to `to`, closing what `to` held (returned). Both must be
    /// open.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<Option<FdEntry>, Errno> {
        self.get(to)?;
        let entry = *self.get(from)?;
        if from == to {
            return Ok(None);
        }
        let replaced = self.slots[to as usize].replace(entry);
        self.close(from)?;
        Ok(replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_is_open_and_nothing_else() {
        let t = FdTable::with_stdio();
        assert_eq!(t.get(0).unwrap().kind, FdKind::Stdin);
        assert_eq!(t.get(1).unwrap().kind, FdKind::Console(Stream::Out));
        assert_eq!(t.get(2).unwrap().kind, FdKind::Console(Stream::Err));
        assert_eq!(t.get(3), Err(Errno::BADF));
        assert_eq!(t.get(u32::MAX), Err(Errno::BADF));
        assert!(t.get(0).unwrap().rights_base & rights::FD_READ != 0);
        assert!(t.get(1).unwrap().rights_base & rights::FD_READ == 0);
        assert_eq!(t.iter().count(), 3);
    }

    #[test]
    fn numbers_come_back_highest_freed_first_as_in_wasmtime() {
        let mut t = FdTable::with_stdio();
        let file = FdEntry::new(FdKind::File {
            ino: 9,
            read: true,
            write: false,
        });
        for want in 3..8 {
            assert_eq!(t.insert(file), Ok(want));
        }
        t.close(4).unwrap();
        t.close(5).unwrap();
        assert_eq!(t.insert(file), Ok(5));
        assert_eq!(t.insert(file), Ok(4));
        assert_eq!(t.insert(file), Ok(8));
        t.close(7).unwrap();
        t.close(8).unwrap();
        assert_eq!(t.insert(file), Ok(8));
        assert_eq!(t.insert(file), Ok(7));
        assert_eq!(t.close(1).map(|e| e.kind), Ok(FdKind::Console(Stream::Out)));
        assert_eq!(t.close(1), Err(Errno::BADF));
        assert_eq!(t.insert(file), Ok(1));
        assert_eq!(t.insert(file), Ok(9));
        assert_eq!(t.close(70), Err(Errno::BADF));
    }

    #[test]
    fn table_is_bounded() {
        let mut t = FdTable::with_stdio();
        for _ in 3..MAX_FDS {
            t.insert(FdEntry::new(FdKind::Stdin)).unwrap();
        }
        assert!(t.is_full());
        assert_eq!(t.insert(FdEntry::new(FdKind::Stdin)), Err(Errno::MFILE));
        t.close(500).unwrap();
        assert!(!t.is_full());
        assert_eq!(t.insert(FdEntry::new(FdKind::Stdin)), Ok(500));
    }

    #[test]
    fn renumber_moves_and_closes() {
        let mut t = FdTable::with_stdio();
        assert_eq!(t.renumber(2, 5), Err(Errno::BADF), "target must be open");
        assert_eq!(t.renumber(5, 2), Err(Errno::BADF), "source must be open");
        let replaced = t.renumber(2, 1).unwrap();
        assert_eq!(replaced.map(|e| e.kind), Some(FdKind::Console(Stream::Out)));
        assert_eq!(t.get(1).unwrap().kind, FdKind::Console(Stream::Err));
        assert_eq!(t.get(2), Err(Errno::BADF));
        assert_eq!(t.renumber(1, 1), Ok(None));
        assert!(t.get(1).is_ok(), "renumbering onto itself keeps the fd");
    }

    #[test]
    fn rights_as_wasmtime_reports_them() {
        let dir = |preopen| FdKind::Directory { ino: 1, preopen };
        assert_eq!(dir(Some(0)).reported_rights(), (0x7b7_fe00, 0xff7_ffff));
        assert_eq!(dir(None).reported_rights(), (0x3fb7_ffbb, 0x3fb7_ffbb));
        let file = |read, write| FdKind::File {
            ino: 1,
            read,
            write,
        };
        assert_eq!(file(true, false).reported_rights().0, 0x3fff_ffbf);
        assert_eq!(file(false, true).reported_rights().0, 0x3fff_bffd);
        assert_eq!(file(true, true).reported_rights().0, ALL_RIGHTS);
        assert_eq!(file(true, false).rights() & rights::FD_WRITE, 0);
        assert_eq!(dir(None).rights() & rights::FD_READ, 0);
    }
}
