//! Changes to the namespace: creating, linking, removing and renaming entries, with the
//! checks Linux makes (and wasmtime reports) and the bookkeeping of links, open descriptors
//! and space that decides when a node is freed.

use super::dir::Entries;
use super::file::FileData;
use super::space::NODE_COST;
use super::{Data, FileSystem, Ino, Kind, MAX_NAME, Node, Times};
use crate::wasi::Errno;
use alloc::borrow::Cow;
use alloc::string::String;

impl FileSystem {
    fn new_node(&mut self, data: Data, now: u64) -> Result<Ino, Errno> {
        self.space.charge(NODE_COST)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(
            ino,
            Node {
                data,
                links: 1,
                open: 0,
                times: Times {
                    atim: now,
                    mtim: now,
                    ctim: now,
                },
            },
        );
        Ok(ino)
    }

    /// Room for one more entry named `name`, taken from the space now so that adding the
    /// entry later cannot fail half-way through an operation.
    fn charge_entry(&mut self, name: &str) -> Result<(), Errno> {
        self.space.charge(name.len() + NODE_COST)
    }

    /// Adds entry `name` -> `ino` to `dir` (checked by the caller: a live directory without
    /// `name`, its room charged with [`FileSystem::charge_entry`]); updates the directory's
    /// times.
    fn insert_entry(&mut self, dir: Ino, name: &str, ino: Ino, now: u64) -> Result<(), Errno> {
        let archive = self.archive;
        let d = self.node(dir)?;
        d.times.mtim = now;
        d.times.ctim = now;
        match &mut d.data {
            Data::Directory { entries, .. } => entries.insert(archive.as_ref(), name, ino),
            _ => return Err(Errno::NOTDIR),
        }
        Ok(())
    }

    fn remove_entry(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        let archive = self.archive;
        let d = self.node(dir)?;
        d.times.mtim = now;
        d.times.ctim = now;
        let ino = match &mut d.data {
            Data::Directory { entries, .. } => entries.remove(archive.as_ref(), name),
            _ => return Err(Errno::NOTDIR),
        }
        .ok_or(Errno::NOENT)?;
        self.space.release(name.len() + NODE_COST);
        Ok(ino)
    }

    /// Checks that `name` can be created in `dir`: the directory still exists and the name is
    /// free (`EEXIST`) and not too long.
    fn check_new(&mut self, dir: Ino, name: &str) -> Result<(), Errno> {
        if name.len() > MAX_NAME {
            return Err(Errno::NAMETOOLONG);
        }
        if self.is_removed(dir)? {
            return Err(Errno::NOENT);
        }
        if self.lookup(dir, name)?.is_some() {
            return Err(Errno::EXIST);
        }
        Ok(())
    }

    /// Creates `data` as the new entry `name` of `dir`.
    fn create(
        &mut self,
        dir: Ino,
        name: &str,
        data: Data,
        extra: usize,
        now: u64,
    ) -> Result<Ino, Errno> {
        self.check_new(dir, name)?;
        self.space.check(extra + 2 * NODE_COST + name.len())?;
        self.space.charge(extra)?;
        let ino = self.new_node(data, now)?;
        if let Err(e) = self.charge_entry(name) {
            self.discard(ino);
            return Err(e);
        }
        self.insert_entry(dir, name, ino, now)?;
        Ok(ino)
    }

    /// Frees a node made by `new_node` that could not be named after all.
    fn discard(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.links = 0;
        }
        self.free_if_unused(ino);
    }

    /// Creates an empty regular file `name` in `dir`.
    pub fn create_file(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        self.create(dir, name, Data::File(FileData::default()), 0, now)
    }

    pub fn create_directory(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        let data = Data::Directory {
            entries: Entries::new(),
            parent: dir,
            subdirs: Some(0),
        };
        let ino = self.create(dir, name, data, 0, now)?;
        self.adjust_subdirs(dir, 1);
        Ok(ino)
    }

    pub fn create_symlink(
        &mut self,
        dir: Ino,
        name: &str,
        target: &str,
        now: u64,
    ) -> Result<Ino, Errno> {
        let data = Data::Symlink(Cow::Owned(String::from(target)));
        self.create(dir, name, data, target.len(), now)
    }

    /// A new name `name` in `dir` for the file or symlink `ino` (directories cannot be linked).
    pub fn link(&mut self, ino: Ino, dir: Ino, name: &str, now: u64) -> Result<(), Errno> {
        if self.kind(ino) == Some(Kind::Directory) {
            return Err(Errno::PERM);
        }
        self.check_new(dir, name)?;
        self.charge_entry(name)?;
        self.insert_entry(dir, name, ino, now)?;
        let n = self.node(ino)?;
        n.links += 1;
        n.times.ctim = now;
        Ok(())
    }

    /// Removes the non-directory entry `name` from `dir`.
    pub fn unlink(&mut self, dir: Ino, name: &str, now: u64) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?.ok_or(Errno::NOENT)?;
        if self.kind(ino) == Some(Kind::Directory) {
            return Err(Errno::ISDIR);
        }
        self.remove_entry(dir, name, now)?;
        let n = self.node(ino)?;
        n.links = n.links.saturating_sub(1);
        n.times.ctim = now;
        self.free_if_unused(ino);
        Ok(())
    }

    /// Removes the empty directory `name` from `dir`.
    pub fn remove_directory(&mut self, dir: Ino, name: &str, now: u64) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?.ok_or(Errno::NOENT)?;
        if self.kind(ino) != Some(Kind::Directory) {
            return Err(Errno::NOTDIR);
        }
        if !self.entries(ino)?.is_empty() {
            return Err(Errno::NOTEMPTY);
        }
        self.remove_entry(dir, name, now)?;
        self.adjust_subdirs(dir, -1);
        let n = self.node(ino)?;
        n.links = 0;
        n.times.ctim = now;
        self.free_if_unused(ino);
        Ok(())
    }

    /// Whether directory `dir` is `ancestor` or lies below it.
    fn is_within(&self, mut dir: Ino, ancestor: Ino) -> bool {
        loop {
            if dir == ancestor {
                return true;
            }
            match self.nodes.get(&dir).map(|n| &n.data) {
                Some(Data::Directory { parent, .. }) if *parent != dir => dir = *parent,
                _ => return false,
            }
        }
    }

    /// Moves entry `from_name` of `from_dir` to `to_name` in `to_dir`, replacing what is there
    /// as POSIX `rename` does.
    pub fn rename(
        &mut self,
        from_dir: Ino,
        from_name: &str,
        to_dir: Ino,
        to_name: &str,
        now: u64,
    ) -> Result<(), Errno> {
        let ino = self.lookup(from_dir, from_name)?.ok_or(Errno::NOENT)?;
        if to_name.len() > MAX_NAME {
            return Err(Errno::NAMETOOLONG);
        }
        if self.is_removed(to_dir)? {
            return Err(Errno::NOENT);
        }
        let moving_dir = self.kind(ino) == Some(Kind::Directory);
        let replaced = self.lookup(to_dir, to_name)?;
        if moving_dir && self.is_within(to_dir, ino) {
            return Err(Errno::INVAL);
        }
        if let Some(old) = replaced {
            if old == ino {
                return Ok(());
            }
            match (moving_dir, self.kind(old) == Some(Kind::Directory)) {
                (true, false) => return Err(Errno::NOTDIR),
                (false, true) => return Err(Errno::ISDIR),
                (true, true) if !self.entries(old)?.is_empty() => return Err(Errno::NOTEMPTY),
                _ => {}
            }
        }
        self.charge_entry(to_name)?;
        self.remove_entry(from_dir, from_name, now)?;
        if let Some(old) = replaced {
            self.remove_entry(to_dir, to_name, now)?;
            let n = self.node(old)?;
            let was_dir = matches!(n.data, Data::Directory { .. });
            n.links = if was_dir {
                0
            } else {
                n.links.saturating_sub(1)
            };
            n.times.ctim = now;
            if was_dir {
                self.adjust_subdirs(to_dir, -1);
            }
            self.free_if_unused(old);
        }
        self.insert_entry(to_dir, to_name, ino, now)?;
        let n = self.node(ino)?;
        n.times.ctim = now;
        if let Data::Directory { parent, .. } = &mut n.data {
            *parent = to_dir;
        }
        if moving_dir {
            self.adjust_subdirs(from_dir, -1);
            self.adjust_subdirs(to_dir, 1);
        }
        Ok(())
    }
}
