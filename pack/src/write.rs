//! Writing an archive: describe the tree with a [`Builder`], then [`Builder::write_to`] streams
//! the index and every file's contents (read from the host as they are written, so a 200 MiB
//! tree never sits in memory). The layout is documented in the crate root.

use crate::{
    DATA_ALIGN, FILE_ALIGN, HEADER_SIZE, Kind, MAGIC, MAX_PATH, NODE_SIZE, ROOT_SIZE, VERSION,
    index_hash, valid_name,
};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

/// A node being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeId(u32);

/// Access, modification and status-change times, in nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A host file, read while the archive is written; it must still be `len` bytes then.
    HostFile {
        path: PathBuf,
        len: u64,
    },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::HostFile { len, .. } => *len,
        }
    }
}

#[derive(Clone, Debug)]
enum Pending {
    Directory {
        entries: BTreeMap<String, NodeId>,
        named: bool,
    },
    File(Content),
    Symlink(String),
}

/// Why a tree cannot be packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// A name the format cannot hold (empty, `.`, `..`, a `/` or NUL, over 255 bytes).
    BadName(String),
    /// A root name or symlink target over 4096 bytes, empty, or with a NUL.
    BadPath(String),
    /// Two entries with one name in a directory.
    Duplicate(String),
    /// A directory named twice (the format's directories form a tree).
    DirectoryLinkedTwice(String),
    /// Not a node of this builder, or not a directory where one is needed.
    NotADirectory,
    /// More than 2^32 - 1 nodes, entries or bytes of names.
    TooLarge,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadName(n) => write!(f, "{n:?} cannot be a file name in the image"),
            BuildError::BadPath(p) => write!(f, "{p:?} is not a usable path"),
            BuildError::Duplicate(n) => write!(f, "{n:?} appears twice in one directory"),
            BuildError::DirectoryLinkedTwice(n) => {
                write!(f, "directory {n:?} would appear twice in the tree")
            }
            BuildError::NotADirectory => f.write_str("not a directory of this archive"),
            BuildError::TooLarge => f.write_str("too many files for one archive"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A tree to pack.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    nodes: Vec<(Pending, Times)>,
    roots: Vec<(String, NodeId)>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    fn push(&mut self, node: Pending, times: Times) -> Result<NodeId, BuildError> {
        let id = u32::try_from(self.nodes.len()).map_err(|_| BuildError::TooLarge)?;
        self.nodes.push((node, times));
        Ok(NodeId(id))
    }

    pub fn directory(&mut self, times: Times) -> Result<NodeId, BuildError> {
        self.push(
            Pending::Directory {
                entries: BTreeMap::new(),
                named: false,
            },
            times,
        )
    }

    pub fn file(&mut self, content: Content, times: Times) -> Result<NodeId, BuildError> {
        self.push(Pending::File(content), times)
    }

    pub fn symlink(&mut self, target: &str, times: Times) -> Result<NodeId, BuildError> {
        if target.is_empty() || target.len() > MAX_PATH || target.contains('\0') {
            return Err(BuildError::BadPath(target.into()));
        }
        self.push(Pending::Symlink(target.into()), times)
    }

    fn claim_directory(&mut self, node: NodeId, name: &str) -> Result<(), BuildError> {
        if let Some((Pending::Directory { named, .. }, _)) = self.nodes.get_mut(node.0 as usize) {
            if *named {
                return Err(BuildError::DirectoryLinkedTwice(name.into()));
            }
            *named = true;
        }
        Ok(())
    }

    /// Names `node` `name` in directory `dir` (a second name for a file is a hard link).
    pub fn link(&mut self, dir: NodeId, name: &str, node: NodeId) -> Result<(), BuildError> {
        if !valid_name(name.as_bytes()) {
            return Err(BuildError::BadName(name.into()));
        }
        if node.0 as usize >= self.nodes.len() || node == dir {
            return Err(BuildError::NotADirectory);
        }
        match self.nodes.get(dir.0 as usize) {
            Some((Pending::Directory { entries, .. }, _)) if entries.contains_key(name) => {
                return Err(BuildError::Duplicate(name.into()));
            }
            Some((Pending::Directory { .. }, _)) => {}
            _ => return Err(BuildError::NotADirectory),
        }
        self.claim_directory(node, name)?;
        if let Some((Pending::Directory { entries, .. }, _)) = self.nodes.get_mut(dir.0 as usize) {
            entries.insert(name.into(), node);
        }
        Ok(())
    }

    /// Adds directory `dir` as the next preopened directory, named `name` for the app.
    pub fn root(&mut self, name: &str, dir: NodeId) -> Result<(), BuildError> {
        if name.len() > MAX_PATH || name.contains('\0') {
            return Err(BuildError::BadPath(name.into()));
        }
        if !matches!(
            self.nodes.get(dir.0 as usize),
            Some((Pending::Directory { .. }, _))
        ) {
            return Err(BuildError::NotADirectory);
        }
        self.claim_directory(dir, name)?;
        self.roots.push((name.into(), dir));
        Ok(())
    }

    /// How many nodes the tree has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The archive's layout: (index bytes, per-node data offsets, data length).
    fn plan(&self) -> Result<Plan, BuildError> {
        let mut names = Vec::new();
        let mut add_name = |n: &str| -> Result<(u32, u32), BuildError> {
            let off = u32::try_from(names.len()).map_err(|_| BuildError::TooLarge)?;
            names.extend_from_slice(n.as_bytes());
            u32::try_from(names.len()).map_err(|_| BuildError::TooLarge)?;
            Ok((off, n.len() as u32))
        };
        let mut roots = Vec::with_capacity(self.roots.len() * ROOT_SIZE);
        for (name, node) in &self.roots {
            let (off, len) = add_name(name)?;
            put_u32s(&mut roots, &[off, len, node.0, 0]);
        }
        let mut nlink = vec![0u32; self.nodes.len()];
        let mut entries = Vec::new();
        let mut first_entry = vec![0u64; self.nodes.len()];
        let mut entry_count: u64 = 0;
        for (i, (node, _)) in self.nodes.iter().enumerate() {
            if let Pending::Directory { entries: e, .. } = node {
                first_entry[i] = entry_count;
                for (name, child) in e {
                    let (off, len) = add_name(name)?;
                    put_u32s(&mut entries, &[off, len, child.0]);
                    nlink[child.0 as usize] += 1;
                    entry_count += 1;
                }
            }
        }
        let mut data_len: u64 = 0;
        let mut nodes = Vec::with_capacity(self.nodes.len() * NODE_SIZE);
        let mut data_at = Vec::with_capacity(self.nodes.len());
        for (i, (node, t)) in self.nodes.iter().enumerate() {
            let (kind, links, a, b) = match node {
                Pending::Directory { entries: e, .. } => {
                    (Kind::Directory, 1, first_entry[i], e.len() as u64)
                }
                Pending::File(c) => {
                    data_len = data_len.next_multiple_of(FILE_ALIGN);
                    let at = data_len;
                    data_len += c.len();
                    (Kind::File, nlink[i], at, c.len())
                }
                Pending::Symlink(target) => {
                    let at = data_len;
                    data_len += target.len() as u64;
                    (Kind::Symlink, nlink[i], at, target.len() as u64)
                }
            };
            data_at.push(a);
            nodes.extend_from_slice(&[kind as u8, 0, 0, 0]);
            nodes.extend_from_slice(&links.to_le_bytes());
            for v in [a, b, t.atim, t.mtim, t.ctim] {
                nodes.extend_from_slice(&v.to_le_bytes());
            }
        }
        let count = |n: usize| u32::try_from(n).map_err(|_| BuildError::TooLarge);
        let tables_len = roots.len() + nodes.len() + entries.len() + names.len();
        let data_offset = ((HEADER_SIZE + tables_len) as u64).next_multiple_of(DATA_ALIGN);
        let mut header = [0u8; HEADER_SIZE];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let fields = [
            count(self.roots.len())?,
            count(self.nodes.len())?,
            count(entry_count as usize)?,
            count(names.len())?,
        ];
        for (i, v) in fields.iter().enumerate() {
            header[16 + 4 * i..20 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        header[32..40].copy_from_slice(&data_offset.to_le_bytes());
        header[40..48].copy_from_slice(&data_len.to_le_bytes());
        let mut index = Vec::with_capacity(data_offset as usize);
        index.extend_from_slice(&header);
        index.extend_from_slice(&roots);
        index.extend_from_slice(&nodes);
        index.extend_from_slice(&entries);
        index.extend_from_slice(&names);
        index.resize(data_offset as usize, 0);
        let hash = index_hash(&header, &index[HEADER_SIZE..]);
        index[48..56].copy_from_slice(&hash.to_le_bytes());
        Ok(Plan {
            index,
            data_at,
            data_len,
        })
    }

    /// Bytes the archive will have.
    pub fn archive_len(&self) -> Result<u64, BuildError> {
        let plan = self.plan()?;
        Ok(plan.index.len() as u64 + plan.data_len)
    }

    /// Writes the archive; returns its length. Host files are read now: one that changed size
    /// since it was described is an error.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<u64> {
        let plan = self.plan().map_err(io::Error::other)?;
        out.write_all(&plan.index)?;
        let mut written: u64 = 0;
        let padding = [0u8; FILE_ALIGN as usize];
        for ((node, _), &at) in self.nodes.iter().zip(&plan.data_at) {
            match node {
                Pending::Directory { .. } => continue,
                Pending::File(content) => {
                    out.write_all(&padding[..at.saturating_sub(written) as usize])?;
                    written = at;
                    match content {
                        Content::Bytes(b) => out.write_all(b)?,
                        Content::HostFile { path, len } => {
                            let file = std::fs::File::open(path).map_err(|e| {
                                io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                            })?;
                            let copied = io::copy(&mut file.take(*len + 1), out)?;
                            if copied != *len {
                                return Err(io::Error::other(format!(
                                    "{} changed while it was packed ({len} bytes, then {copied})",
                                    path.display()
                                )));
                            }
                        }
                    }
                    written += content.len();
                }
                Pending::Symlink(target) => {
                    out.write_all(target.as_bytes())?;
                    written += target.len() as u64;
                }
            }
        }
        Ok(plan.index.len() as u64 + written)
    }

    /// The archive in memory (for tests and small trees).
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

struct Plan {
    index: Vec<u8>,
    data_at: Vec<u64>,
    data_len: u64,
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}
