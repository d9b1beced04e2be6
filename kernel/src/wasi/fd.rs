//! The app's file-descriptor table.
//!
//! Today it holds the three console streams; the RAM filesystem (directories, files) and
//! sockets become further [`FdKind`]s behind the same table, so every `fd_*` function already
//! looks its descriptor up here and decides by kind.

use super::errno::Errno;
use super::types::{fdflags, filetype, rights};
use crate::platform::Stream;
use alloc::vec::Vec;

/// Most descriptors an app may hold at once (`EMFILE` beyond): room for a server with
/// thousands of connections.
pub const MAX_FDS: usize = 4096;

/// What a descriptor refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// Console input.
    Stdin,
    /// Console output, one of the two streams.
    Console(Stream),
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
            FdKind::Socket {
                kind: crate::net::Kind::Stream,
                ..
            } => filetype::SOCKET_STREAM,
            FdKind::Socket { .. } => filetype::SOCKET_DGRAM,
        }
    }

    /// Rights a fresh descriptor of this kind gets.
    pub fn rights(self) -> u64 {
        let common =
            rights::FD_FDSTAT_SET_FLAGS | rights::FD_FILESTAT_GET | rights::POLL_FD_READWRITE;
        match self {
            FdKind::Stdin => common | rights::FD_READ,
            FdKind::Console(_) => common | rights::FD_WRITE,
            FdKind::Socket { .. } => {
                common
                    | rights::FD_READ
                    | rights::FD_WRITE
                    | rights::SOCK_SHUTDOWN
                    | rights::SOCK_ACCEPT
            }
        }
    }

    /// `$fdflags` a descriptor of this kind may carry (`fd_fdstat_set_flags`). Console
    /// streams take `APPEND` (output is always appended) and `NONBLOCK`; the synchronous-I/O
    /// flags mean nothing for a console.
    pub fn settable_flags(self) -> u16 {
        match self {
            FdKind::Socket { .. } => fdflags::NONBLOCK,
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
}

/// One open descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdEntry {
    pub kind: FdKind,
    /// `$fdflags`.
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

impl FdEntry {
    pub fn new(kind: FdKind) -> FdEntry {
        FdEntry {
            kind,
            flags: 0,
            rights_base: kind.rights(),
            rights_inheriting: 0,
        }
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & fdflags::NONBLOCK != 0
    }
}

#[derive(Debug)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::with_stdio()
    }
}

impl FdTable {
    /// 0 = stdin, 1 = stdout, 2 = stderr; nothing else open (no preopened directories yet).
    pub fn with_stdio() -> FdTable {
        FdTable {
            slots: vec![
                Some(FdEntry::new(FdKind::Stdin)),
                Some(FdEntry::new(FdKind::Console(Stream::Out))),
                Some(FdEntry::new(FdKind::Console(Stream::Err))),
            ],
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

    /// Opens `entry` at the lowest free descriptor.
    pub fn insert(&mut self, entry: FdEntry) -> Result<u32, Errno> {
        let fd = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < MAX_FDS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno::MFILE),
        };
        self.slots[fd] = Some(entry);
        Ok(fd as u32)
    }

    pub fn close(&mut self, fd: u32) -> Result<FdEntry, Errno> {
        let slot = self.slots.get_mut(fd as usize).ok_or(Errno::BADF)?;
        let entry = slot.take().ok_or(Errno::BADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(entry)
    }

    /// `fd_renumber`: moves `from` to `to`, closing what `to` held. Both must be open.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.get(to)?;
        let entry = *self.get(from)?;
        if from != to {
            self.slots[to as usize] = Some(entry);
            self.close(from)?;
        }
        Ok(())
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
    }

    #[test]
    fn close_insert_reuses_the_lowest_free_slot() {
        let mut t = FdTable::with_stdio();
        assert_eq!(t.close(1).map(|e| e.kind), Ok(FdKind::Console(Stream::Out)));
        assert_eq!(t.close(1), Err(Errno::BADF));
        assert_eq!(t.get(1), Err(Errno::BADF));
        assert_eq!(t.insert(FdEntry::new(FdKind::Stdin)), Ok(1));
        assert_eq!(t.insert(FdEntry::new(FdKind::Stdin)), Ok(3));
        assert_eq!(t.close(7), Err(Errno::BADF));
    }

    #[test]
    fn table_is_bounded() {
        let mut t = FdTable::with_stdio();
        for _ in 3..MAX_FDS {
            t.insert(FdEntry::new(FdKind::Stdin)).unwrap();
        }
        assert_eq!(t.insert(FdEntry::new(FdKind::Stdin)), Err(Errno::MFILE));
        t.close(500).unwrap();
        assert_eq!(t.insert(FdEntry::new(FdKind::Stdin)), Ok(500));
    }

    #[test]
    fn renumber_moves_and_closes() {
        let mut t = FdTable::with_stdio();
        assert_eq!(t.renumber(2, 5), Err(Errno::BADF), "target must be open");
        assert_eq!(t.renumber(5, 2), Err(Errno::BADF), "source must be open");
        t.renumber(2, 1).unwrap();
        assert_eq!(t.get(1).unwrap().kind, FdKind::Console(Stream::Err));
        assert_eq!(t.get(2), Err(Errno::BADF));
        t.renumber(1, 1).unwrap();
        assert!(t.get(1).is_ok(), "renumbering onto itself keeps the fd");
    }
}
