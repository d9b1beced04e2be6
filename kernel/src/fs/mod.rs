//! The RAM filesystem behind every `path_*` and file `fd_*` call.
//!
//! It starts from the packed directories ([`mewz_pack::Archive`], borrowed for the kernel's
//! life) without copying them: a node of the archive becomes a live node only when a lookup
//! reaches it, a packed directory keeps reading its entries from the archive until it changes
//! ([`dir::Entries`]), and a packed file's bytes are copied chunk by chunk when first written
//! ([`file::FileData`]). Everything written lives in the kernel heap and is gone at power-off.
//!
//! Inode numbers: archive node `n` is inode `n + 1`, new nodes count on after the archive's;
//! a number is never reused while the filesystem lives. One device number for all of it.
//! Path resolution, which keeps every path inside the directory it starts from, is in
//! [`walk`]; creating, linking, removing and renaming in `namespace`, whose checks follow
//! Linux (and wasmtime, which runs on it).

pub mod dir;
pub mod file;
mod namespace;
pub mod space;
pub mod walk;

use crate::wasi::Errno;
use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use dir::{Entries, Listed, packed_ino};
use file::FileData;
use mewz_pack::{Archive, Kind as PackedKind};
use space::{NODE_COST, Space};

/// An inode number.
pub type Ino = u64;

/// The device number every node reports (wasmtime reports 1 too).
pub const DEVICE: u64 = 1;

/// What `stat` reports as a directory's size (what most Linux filesystems report).
pub const DIRECTORY_SIZE: u64 = 4096;

/// Longest name of one path component.
pub const MAX_NAME: usize = mewz_pack::MAX_NAME;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    Symlink,
}

/// Access, modification and status-change times, nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// A new value for one timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    Keep,
    Now,
    At(u64),
}

/// What `stat` says about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: Ino,
    pub kind: Kind,
    pub nlink: u64,
    pub size: u64,
    pub times: Times,
}

#[derive(Debug)]
enum Data {
    Directory {
        entries: Entries,
        /// The directory holding this one (itself for a root), for the rename-into-itself
        /// check. Removed directories keep their last parent.
        parent: Ino,
        /// Subdirectories, counted when first needed (`nlink` is 2 + this).
        subdirs: Option<u64>,
    },
    File(FileData),
    Symlink(Cow<'static, str>),
}

#[derive(Debug)]
struct Node {
    data: Data,
    /// Names of a file or symlink; 1 for a linked directory, 0 once removed.
    links: u64,
    /// Open descriptors: a removed node lives on until the last one closes.
    open: u32,
    times: Times,
}

impl Node {
    fn kind(&self) -> Kind {
        match self.data {
            Data::Directory { .. } => Kind::Directory,
            Data::File(_) => Kind::File,
            Data::Symlink(_) => Kind::Symlink,
        }
    }
}

/// The whole filesystem.
#[derive(Debug)]
pub struct FileSystem {
    archive: Option<Archive<'static>>,
    nodes: BTreeMap<Ino, Node>,
    /// Archive nodes that were removed (so no lookup brings them back).
    gone: BTreeSet<Ino>,
    next_ino: Ino,
    /// The preopened directories: name for the app, and the directory.
    roots: Vec<(String, Ino)>,
    pub space: Space,
}

impl Default for FileSystem {
    fn default() -> Self {
        FileSystem::new(None)
    }
}

fn times_of(n: &mewz_pack::Node<'_>) -> Times {
    Times {
        atim: n.atim,
        mtim: n.mtim,
        ctim: n.ctim,
    }
}

impl FileSystem {
    /// The filesystem of `archive` (none: no preopened directories at all).
    pub fn new(archive: Option<Archive<'static>>) -> FileSystem {
        let packed = archive.as_ref().map_or(0, |a| Ino::from(a.node_count()));
        let mut fs = FileSystem {
            archive,
            nodes: BTreeMap::new(),
            gone: BTreeSet::new(),
            next_ino: packed + 1,
            roots: Vec::new(),
            space: Space::heap(),
        };
        let roots: Vec<(String, Ino)> = fs
            .archive
            .iter()
            .flat_map(|a| a.roots())
            .map(|r| (String::from(r.name), packed_ino(r.node)))
            .collect();
        for &(_, ino) in &roots {
            fs.materialize(ino, Some(ino));
        }
        fs.roots = roots;
        fs
    }

    /// The preopened directories, in order: the name the app sees and the directory.
    pub fn roots(&self) -> &[(String, Ino)] {
        &self.roots
    }

    /// Makes archive node `ino` a live node (if it is one and still exists). `parent` is the
    /// directory a lookup found it in.
    fn materialize(&mut self, ino: Ino, parent: Option<Ino>) -> bool {
        if self.nodes.contains_key(&ino) {
            return true;
        }
        if self.gone.contains(&ino) || ino == 0 {
            return false;
        }
        let Some(n) = self
            .archive
            .as_ref()
            .and_then(|a| a.node(u32::try_from(ino - 1).ok()?))
        else {
            return false;
        };
        let data = match n.kind {
            PackedKind::Directory => Data::Directory {
                entries: Entries::Packed {
                    node: (ino - 1) as u32,
                    count: n.size,
                },
                parent: parent.unwrap_or(ino),
                subdirs: None,
            },
            PackedKind::File => Data::File(FileData::packed(n.bytes)),
            // Checked UTF-8 by `Archive::parse`.
            PackedKind::Symlink => {
                Data::Symlink(Cow::Borrowed(core::str::from_utf8(n.bytes).unwrap_or("")))
            }
        };
        let links = match n.kind {
            PackedKind::Directory => 1,
            _ => u64::from(n.nlink),
        };
        self.nodes.insert(
            ino,
            Node {
                data,
                links,
                open: 0,
                times: times_of(&n),
            },
        );
        true
    }

    fn node(&mut self, ino: Ino) -> Result<&mut Node, Errno> {
        self.materialize(ino, None);
        self.nodes.get_mut(&ino).ok_or(Errno::NOENT)
    }

    /// The kind of `ino` without making it a live node (for listings).
    pub fn kind(&self, ino: Ino) -> Option<Kind> {
        if let Some(n) = self.nodes.get(&ino) {
            return Some(n.kind());
        }
        if self.gone.contains(&ino) || ino == 0 {
            return None;
        }
        let n = self.archive.as_ref()?.node(u32::try_from(ino - 1).ok()?)?;
        Some(match n.kind {
            PackedKind::Directory => Kind::Directory,
            PackedKind::File => Kind::File,
            PackedKind::Symlink => Kind::Symlink,
        })
    }

    pub fn stat(&mut self, ino: Ino) -> Result<Stat, Errno> {
        let subdirs = self.subdirs(ino)?;
        let n = self.node(ino)?;
        let (nlink, size) = match &n.data {
            Data::Directory { .. } if n.links == 0 => (0, DIRECTORY_SIZE),
            Data::Directory { .. } => (2 + subdirs, DIRECTORY_SIZE),
            Data::File(f) => (n.links, f.size()),
            Data::Symlink(t) => (n.links, t.len() as u64),
        };
        Ok(Stat {
            dev: DEVICE,
            ino,
            kind: n.kind(),
            nlink,
            size,
            times: n.times,
        })
    }

    /// Subdirectories of a directory (0 for anything else), counted once.
    fn subdirs(&mut self, ino: Ino) -> Result<u64, Errno> {
        let counted = match &self.node(ino)?.data {
            Data::Directory { subdirs, .. } => *subdirs,
            _ => return Ok(0),
        };
        if let Some(n) = counted {
            return Ok(n);
        }
        let count = self
            .list(ino, 0, usize::MAX)?
            .iter()
            .filter(|e| self.kind(e.ino) == Some(Kind::Directory))
            .count() as u64;
        if let Data::Directory { subdirs, .. } = &mut self.node(ino)?.data {
            *subdirs = Some(count);
        }
        Ok(count)
    }

    fn adjust_subdirs(&mut self, dir: Ino, delta: i64) {
        if let Some(Node {
            data: Data::Directory {
                subdirs: Some(n), ..
            },
            ..
        }) = self.nodes.get_mut(&dir)
        {
            *n = n.saturating_add_signed(delta);
        }
    }

    fn entries(&mut self, dir: Ino) -> Result<&mut Entries, Errno> {
        match &mut self.node(dir)?.data {
            Data::Directory { entries, .. } => Ok(entries),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// What `name` names in directory `dir`, if anything.
    pub fn lookup(&mut self, dir: Ino, name: &str) -> Result<Option<Ino>, Errno> {
        let archive = self.archive;
        let found = self.entries(dir)?.lookup(archive.as_ref(), name);
        if let Some(ino) = found {
            self.materialize(ino, Some(dir));
        }
        Ok(found)
    }

    /// Up to `max` entries of `dir` from sequence number `seq` on.
    pub fn list(&mut self, dir: Ino, seq: u64, max: usize) -> Result<Vec<Listed>, Errno> {
        let archive = self.archive;
        Ok(self.entries(dir)?.list_from(archive.as_ref(), seq, max))
    }

    /// Whether `dir` was removed (nothing can be created in it any more).
    pub fn is_removed(&mut self, ino: Ino) -> Result<bool, Errno> {
        Ok(self.node(ino)?.links == 0)
    }

    pub fn read(&mut self, ino: Ino, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        match &self.node(ino)?.data {
            Data::File(f) => Ok(f.read(offset, out)),
            Data::Directory { .. } => Err(Errno::ISDIR),
            Data::Symlink(_) => Err(Errno::INVAL),
        }
    }

    pub fn size(&mut self, ino: Ino) -> Result<u64, Errno> {
        Ok(self.stat(ino)?.size)
    }

    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8], now: u64) -> Result<(), Errno> {
        self.materialize(ino, None);
        let FileSystem { nodes, space, .. } = self;
        let n = nodes.get_mut(&ino).ok_or(Errno::NOENT)?;
        match &mut n.data {
            Data::File(f) => f.write(offset, data, space)?,
            _ => return Err(Errno::ISDIR),
        }
        if !data.is_empty() {
            n.times.mtim = now;
            n.times.ctim = now;
        }
        Ok(())
    }

    pub fn set_size(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno> {
        self.materialize(ino, None);
        let FileSystem { nodes, space, .. } = self;
        let n = nodes.get_mut(&ino).ok_or(Errno::NOENT)?;
        match &mut n.data {
            Data::File(f) => f.set_size(size, space)?,
            _ => return Err(Errno::ISDIR),
        }
        n.times.mtim = now;
        n.times.ctim = now;
        Ok(())
    }

    pub fn set_times(
        &mut self,
        ino: Ino,
        atim: SetTime,
        mtim: SetTime,
        now: u64,
    ) -> Result<(), Errno> {
        let n = self.node(ino)?;
        for (slot, new) in [(&mut n.times.atim, atim), (&mut n.times.mtim, mtim)] {
            match new {
                SetTime::Keep => {}
                SetTime::Now => *slot = now,
                SetTime::At(t) => *slot = t,
            }
        }
        n.times.ctim = now;
        Ok(())
    }

    pub fn readlink(&mut self, ino: Ino) -> Result<String, Errno> {
        match &self.node(ino)?.data {
            Data::Symlink(t) => Ok(String::from(&**t)),
            _ => Err(Errno::INVAL),
        }
    }

    /// A descriptor now refers to `ino`.
    pub fn open(&mut self, ino: Ino) -> Result<(), Errno> {
        let n = self.node(ino)?;
        n.open = n.open.saturating_add(1);
        Ok(())
    }

    /// A descriptor referring to `ino` was closed.
    pub fn close(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.open = n.open.saturating_sub(1);
        }
        self.free_if_unused(ino);
    }

    /// Drops a node nothing names and no descriptor holds.
    fn free_if_unused(&mut self, ino: Ino) {
        let unused = self
            .nodes
            .get(&ino)
            .is_some_and(|n| n.links == 0 && n.open == 0);
        if !unused {
            return;
        }
        if let Some(mut n) = self.nodes.remove(&ino) {
            if let Data::File(f) = &mut n.data {
                f.release(&mut self.space);
            }
            if let Data::Symlink(t) = &n.data
                && matches!(t, Cow::Owned(_))
            {
                self.space.release(t.len());
            }
            if self.is_packed(ino) {
                self.gone.insert(ino);
            } else {
                self.space.release(NODE_COST);
            }
        }
    }

    fn is_packed(&self, ino: Ino) -> bool {
        let packed = self
            .archive
            .as_ref()
            .map_or(0, |a| Ino::from(a.node_count()));
        ino >= 1 && ino <= packed
    }
}

#[cfg(test)]
mod tests;
