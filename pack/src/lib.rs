//! The packed-directory format: the directories given with `mewz build --dir` / `mewz run --dir`,
//! written once by the CLI ([`write`], feature `write`) and read in place, without copying, by
//! the kernel and the hosted runtime ([`Archive`]).
//!
//! The format is an index (sorted directory entries, fixed-size records) followed by the file
//! contents, so that opening an archive costs time in proportion to its number of entries, not
//! its bytes, and a lookup is a binary search: boot time stays flat as the directory grows.
//!
//! # Layout (version 1)
//! All integers are little endian. Offsets are from the start of the archive.
//!
//! | offset | size | what |
//! | --- | --- | --- |
//! | 0 | 64 | header |
//! | 64 | 16 × `root_count` | roots: the preopened directories, in `--dir` order |
//! | ... | 48 × `node_count` | nodes: directories, regular files, symbolic links |
//! | ... | 12 × `entry_count` | directory entries, each directory's run sorted by name |
//! | ... | `names_len` | entry and root names, UTF-8, not NUL-terminated |
//! | `data_offset` | `data_len` | file contents and symlink targets |
//!
//! Header: `magic` (8 bytes, [`MAGIC`]), `version` u32 ([`VERSION`]), `flags` u32 (0),
//! `root_count` u32, `node_count` u32, `entry_count` u32, `names_len` u32, `data_offset` u64
//! (a multiple of [`DATA_ALIGN`], at or after the end of the names), `data_len` u64,
//! `index_hash` u64 ([`index_hash`] of bytes `0..data_offset` with this field read as zero),
//! 8 reserved bytes (0). The archive is exactly `data_offset + data_len` bytes; trailing
//! bytes (a loader's page padding) are ignored.
//!
//! Root (16 bytes): `name_offset` u32 and `name_len` u32 into the names, `node` u32 (a
//! directory), 4 reserved bytes. Root names may be any UTF-8 without NUL (`/data`, `.`).
//!
//! Node (48 bytes): `kind` u8 ([`Kind`]), 3 reserved bytes, `nlink` u32, `a` u64, `b` u64,
//! `atim` u64, `mtim` u64, `ctim` u64 (nanoseconds since the epoch). For a directory `a` is
//! the index of its first entry and `b` the number of entries, `nlink` is 1 and the directory
//! is named at most once (by one entry or one root), so the directories reached from the roots
//! form a tree. For a file
//! or a symbolic link `a` is the offset of its bytes in the data (relative to `data_offset`)
//! and `b` their length, and `nlink` is the number of entries naming it (hard links).
//! A symlink target is 1..=[`MAX_PATH`] bytes of UTF-8 without NUL.
//!
//! Entry (12 bytes): `name_offset` u32, `name_len` u32, `node` u32. A name is 1..=[`MAX_NAME`]
//! bytes of UTF-8 without `/` or NUL, and not `.` or `..`; within a directory names are
//! strictly ascending (byte order), so lookups binary-search and names are unique.
//!
//! [`Archive::parse`] checks all of this, the hash included, before handing out anything:
//! a truncated or corrupt archive is an error value, never a panic or an out-of-bounds read.
#![no_std]

extern crate alloc;
#[cfg(any(feature = "write", test))]
extern crate std;

#[cfg(any(feature = "write", test))]
pub mod write;

use alloc::vec;
use core::fmt;

/// First 8 bytes of every archive.
pub const MAGIC: [u8; 8] = *b"MEWZPACK";
/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 64;
/// Bytes of one root record.
pub const ROOT_SIZE: usize = 16;
/// Bytes of one node record.
pub const NODE_SIZE: usize = 48;
/// Bytes of one entry record.
pub const ENTRY_SIZE: usize = 12;
/// Alignment of the data region and of each file's bytes in it.
pub const DATA_ALIGN: u64 = 4096;
/// Alignment of each file's contents inside the data region.
pub const FILE_ALIGN: u64 = 8;
/// Longest entry name (bytes), as Linux's `NAME_MAX`.
pub const MAX_NAME: usize = 255;
/// Longest symlink target and root name (bytes), as Linux's `PATH_MAX`.
pub const MAX_PATH: usize = 4096;

const HASH_FIELD: usize = 48;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory = 1,
    File = 2,
    Symlink = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Directory),
            2 => Some(Kind::File),
            3 => Some(Kind::Symlink),
            _ => None,
        }
    }
}

/// Why bytes are not a usable archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackError {
    /// The bytes end before the archive does.
    Truncated { have: u64, need: u64 },
    /// No [`MAGIC`] at the start.
    NotAnArchive,
    /// Written by a newer (or older) mewz.
    UnsupportedVersion(u32),
    /// The index hash does not match: the index was damaged.
    HashMismatch,
    /// A structural rule of the format is broken (what, in a few words).
    Corrupt(&'static str),
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::Truncated { have, need } => {
                write!(f, "truncated: {have} bytes of {need}")
            }
            PackError::NotAnArchive => f.write_str("not a mewz packed directory (bad magic)"),
            PackError::UnsupportedVersion(v) => {
                write!(f, "format version {v}, this mewz reads version {VERSION}")
            }
            PackError::HashMismatch => f.write_str("the index is damaged (hash mismatch)"),
            PackError::Corrupt(what) => write!(f, "corrupt: {what}"),
        }
    }
}

/// The hash protecting the index: a multiply-xorshift over little-endian 64-bit words of the
/// header (its `index_hash` field zeroed) followed by the tables and names (the tail
/// zero-padded). Fast enough under emulation to check at every boot; it detects damage, it is
/// not a cryptographic signature.
pub fn index_hash(header: &[u8; HEADER_SIZE], tables: &[u8]) -> u64 {
    let mut h: u64 = 0x6d65_777a_7061_636b ^ (HEADER_SIZE + tables.len()) as u64;
    let mix = |h: u64, w: u64| {
        let x = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 29)
    };
    let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    for (i, w) in header.chunks_exact(8).enumerate() {
        h = mix(h, if i * 8 == HASH_FIELD { 0 } else { word(w) });
    }
    let mut words = tables.chunks_exact(8);
    for w in &mut words {
        h = mix(h, word(w));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        h = mix(h, word(&tail));
    }
    mix(h, 0x51_7cc1_b727_220a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// The header fields, as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    root_count: u32,
    node_count: u32,
    entry_count: u32,
    names_len: u32,
    data_offset: u64,
    data_len: u64,
    index_hash: u64,
}

/// Where the tables of an archive lie.
#[derive(Clone, Copy, Debug)]
struct Layout {
    roots: usize,
    nodes: usize,
    entries: usize,
    names: usize,
    names_end: usize,
    data: usize,
    end: usize,
}

/// A validated archive, borrowing its bytes.
#[derive(Clone, Copy)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    header: Header,
    layout: Layout,
}

impl fmt::Debug for Archive<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archive")
            .field("bytes", &self.layout.end)
            .field("roots", &self.header.root_count)
            .field("nodes", &self.header.node_count)
            .field("entries", &self.header.entry_count)
            .finish()
    }
}

/// A node's identity in an archive (its index in the node table).
pub type NodeIndex = u32;

/// One preopened directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root<'a> {
    pub name: &'a str,
    pub node: NodeIndex,
}

/// One directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub node: NodeIndex,
}

/// A node's metadata and, for files and symlinks, its bytes (borrowed from the archive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    pub kind: Kind,
    pub nlink: u32,
    /// Entry count of a directory, byte length of a file or symlink target.
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
    /// File contents or symlink target; empty for a directory.
    pub bytes: &'a [u8],
    first_entry: u32,
}

fn checked_table(at: usize, count: u32, size: usize) -> Result<usize, PackError> {
    (count as usize)
        .checked_mul(size)
        .and_then(|len| at.checked_add(len))
        .ok_or(PackError::Corrupt("table sizes overflow"))
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != b"."
        && name != b".."
        && !name.iter().any(|&b| b == b'/' || b == 0)
        && core::str::from_utf8(name).is_ok()
}

impl<'a> Archive<'a> {
    /// Checks `bytes` completely and returns the archive they hold.
    pub fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, PackError> {
        let have = bytes.len() as u64;
        if bytes.len() < HEADER_SIZE {
            if bytes.len() >= 8 && bytes[..8] != MAGIC {
                return Err(PackError::NotAnArchive);
            }
            return Err(PackError::Truncated {
                have,
                need: HEADER_SIZE as u64,
            });
        }
        if bytes[..8] != MAGIC {
            return Err(PackError::NotAnArchive);
        }
        let version = u32_at(bytes, 8);
        if version != VERSION {
            return Err(PackError::UnsupportedVersion(version));
        }
        if u32_at(bytes, 12) != 0 || u64_at(bytes, 56) != 0 {
            return Err(PackError::Corrupt("reserved header fields are not zero"));
        }
        let header = Header {
            root_count: u32_at(bytes, 16),
            node_count: u32_at(bytes, 20),
            entry_count: u32_at(bytes, 24),
            names_len: u32_at(bytes, 28),
            data_offset: u64_at(bytes, 32),
            data_len: u64_at(bytes, 40),
            index_hash: u64_at(bytes, HASH_FIELD),
        };
        let end = header
            .data_offset
            .checked_add(header.data_len)
            .ok_or(PackError::Corrupt("data size overflows"))?;
        if end > have {
            return Err(PackError::Truncated { have, need: end });
        }
        let roots = HEADER_SIZE;
        let nodes = checked_table(roots, header.root_count, ROOT_SIZE)?;
        let entries = checked_table(nodes, header.node_count, NODE_SIZE)?;
        let names = checked_table(entries, header.entry_count, ENTRY_SIZE)?;
        let names_end = checked_table(names, header.names_len, 1)?;
        if names_end as u64 > header.data_offset {
            return Err(PackError::Corrupt("the index overlaps the data"));
        }
        if !header.data_offset.is_multiple_of(DATA_ALIGN) {
            return Err(PackError::Corrupt("the data is not aligned"));
        }
        let layout = Layout {
            roots,
            nodes,
            entries,
            names,
            names_end,
            data: header.data_offset as usize,
            end: end as usize,
        };
        let archive = Archive {
            bytes: &bytes[..layout.end],
            header,
            layout,
        };
        if archive.computed_hash() != header.index_hash {
            return Err(PackError::HashMismatch);
        }
        archive.check_structure()?;
        Ok(archive)
    }

    fn computed_hash(&self) -> u64 {
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&self.bytes[..HEADER_SIZE]);
        index_hash(&header, &self.bytes[HEADER_SIZE..self.layout.data])
    }

    /// Every rule of the format (see the crate docs), in one pass over the tables.
    fn check_structure(&self) -> Result<(), PackError> {
        let h = &self.header;
        let mut references = vec![0u32; h.node_count as usize];
        for i in 0..h.root_count {
            let (name, node) = self.raw_root(i);
            let name = self
                .name(name.0, name.1)
                .ok_or(PackError::Corrupt("root name outside the names"))?;
            if name.len() > MAX_PATH || name.contains(&0) || core::str::from_utf8(name).is_err() {
                return Err(PackError::Corrupt("bad root name"));
            }
            let kind = self
                .raw_kind(node)
                .ok_or(PackError::Corrupt("root names a missing node"))?;
            if kind != Kind::Directory {
                return Err(PackError::Corrupt("a root is not a directory"));
            }
            references[node as usize] += 1;
        }
        for n in 0..h.node_count {
            let at = self.layout.nodes + n as usize * NODE_SIZE;
            let rec = &self.bytes[at..at + NODE_SIZE];
            let kind = Kind::from_byte(rec[0]).ok_or(PackError::Corrupt("unknown node kind"))?;
            if rec[1..4] != [0, 0, 0] {
                return Err(PackError::Corrupt("reserved node bytes are not zero"));
            }
            let (a, b) = (u64_at(rec, 8), u64_at(rec, 16));
            match kind {
                Kind::Directory => {
                    if u32_at(rec, 4) != 1 {
                        return Err(PackError::Corrupt("a directory's link count is not 1"));
                    }
                    let last = a
                        .checked_add(b)
                        .filter(|&e| e <= u64::from(h.entry_count))
                        .ok_or(PackError::Corrupt("directory entries outside the table"))?;
                    let mut previous: Option<&[u8]> = None;
                    for e in a..last {
                        let (name, child) = self.raw_entry(e as u32);
                        let name = self
                            .name(name.0, name.1)
                            .ok_or(PackError::Corrupt("entry name outside the names"))?;
                        if !valid_name(name) {
                            return Err(PackError::Corrupt("bad entry name"));
                        }
                        if previous.is_some_and(|p| p >= name) {
                            return Err(PackError::Corrupt("directory entries not sorted"));
                        }
                        previous = Some(name);
                        let slot = references
                            .get_mut(child as usize)
                            .ok_or(PackError::Corrupt("entry names a missing node"))?;
                        *slot = slot.saturating_add(1);
                    }
                }
                Kind::File | Kind::Symlink => {
                    let in_data = a.checked_add(b).is_some_and(|e| e <= self.header.data_len);
                    if !in_data {
                        return Err(PackError::Corrupt("contents outside the data"));
                    }
                    if kind == Kind::Symlink {
                        let target = &self.data()[a as usize..(a + b) as usize];
                        if target.is_empty()
                            || target.len() > MAX_PATH
                            || target.contains(&0)
                            || core::str::from_utf8(target).is_err()
                        {
                            return Err(PackError::Corrupt("bad symlink target"));
                        }
                    }
                }
            }
        }
        for (n, &count) in references.iter().enumerate() {
            let consistent = match self.raw_kind(n as u32) {
                Some(Kind::Directory) => count <= 1,
                _ => count == self.raw_nlink(n as u32),
            };
            if !consistent {
                return Err(PackError::Corrupt("link counts disagree with the entries"));
            }
        }
        Ok(())
    }

    fn data(&self) -> &'a [u8] {
        &self.bytes[self.layout.data..self.layout.end]
    }

    fn name(&self, offset: u32, len: u32) -> Option<&'a [u8]> {
        let names = &self.bytes[self.layout.names..self.layout.names_end];
        names.get(offset as usize..(offset as usize).checked_add(len as usize)?)
    }

    fn raw_root(&self, i: u32) -> ((u32, u32), u32) {
        let at = self.layout.roots + i as usize * ROOT_SIZE;
        (
            (u32_at(self.bytes, at), u32_at(self.bytes, at + 4)),
            u32_at(self.bytes, at + 8),
        )
    }

    fn raw_entry(&self, i: u32) -> ((u32, u32), u32) {
        let at = self.layout.entries + i as usize * ENTRY_SIZE;
        (
            (u32_at(self.bytes, at), u32_at(self.bytes, at + 4)),
            u32_at(self.bytes, at + 8),
        )
    }

    fn raw_kind(&self, n: u32) -> Option<Kind> {
        if n >= self.header.node_count {
            return None;
        }
        Kind::from_byte(self.bytes[self.layout.nodes + n as usize * NODE_SIZE])
    }

    fn raw_nlink(&self, n: u32) -> u32 {
        u32_at(self.bytes, self.layout.nodes + n as usize * NODE_SIZE + 4)
    }

    /// Bytes of the whole archive.
    pub fn len(&self) -> usize {
        self.layout.end
    }

    pub fn is_empty(&self) -> bool {
        self.layout.end == 0
    }

    pub fn node_count(&self) -> u32 {
        self.header.node_count
    }

    pub fn root_count(&self) -> u32 {
        self.header.root_count
    }

    /// The preopened directories, in order.
    pub fn roots(&self) -> impl ExactSizeIterator<Item = Root<'a>> + '_ {
        (0..self.header.root_count).map(|i| {
            let ((off, len), node) = self.raw_root(i);
            Root {
                // Checked by `parse`: in bounds and UTF-8.
                name: core::str::from_utf8(self.name(off, len).unwrap_or_default())
                    .unwrap_or_default(),
                node,
            }
        })
    }

    /// Node `n`, or `None` if there is no such node.
    pub fn node(&self, n: NodeIndex) -> Option<Node<'a>> {
        let kind = self.raw_kind(n)?;
        let at = self.layout.nodes + n as usize * NODE_SIZE;
        let rec = &self.bytes[at..at + NODE_SIZE];
        let (a, b) = (u64_at(rec, 8), u64_at(rec, 16));
        let (bytes, first_entry) = match kind {
            Kind::Directory => (&[][..], a as u32),
            // Checked by `parse`: inside the data.
            _ => (
                self.data()
                    .get(a as usize..(a as usize).saturating_add(b as usize))
                    .unwrap_or_default(),
                0,
            ),
        };
        Some(Node {
            kind,
            nlink: u32_at(rec, 4),
            size: b,
            atim: u64_at(rec, 24),
            mtim: u64_at(rec, 32),
            ctim: u64_at(rec, 40),
            bytes,
            first_entry,
        })
    }

    /// The `i`-th entry (in name order) of directory `dir`.
    pub fn entry(&self, dir: &Node<'a>, i: u64) -> Option<Entry<'a>> {
        if dir.kind != Kind::Directory || i >= dir.size {
            return None;
        }
        let ((off, len), node) = self.raw_entry(dir.first_entry.checked_add(i as u32)?);
        Some(Entry {
            name: core::str::from_utf8(self.name(off, len)?).ok()?,
            node,
        })
    }

    /// The entries of directory `dir`, in name order.
    pub fn entries<'s>(&'s self, dir: &'s Node<'a>) -> impl Iterator<Item = Entry<'a>> + 's {
        (0..dir.size).map_while(move |i| self.entry(dir, i))
    }

    /// Binary search for `name` in directory `dir`: its position and entry.
    pub fn lookup(&self, dir: &Node<'a>, name: &[u8]) -> Option<(u64, Entry<'a>)> {
        let (mut lo, mut hi) = (0, dir.size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(dir, mid)?;
            match e.name.as_bytes().cmp(name) {
                core::cmp::Ordering::Equal => return Some((mid, e)),
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
