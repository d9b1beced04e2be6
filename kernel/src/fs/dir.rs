//! A directory's entries. A packed directory reads its sorted entries from the archive (a
//! binary search per lookup) until it is first changed; then it holds them itself.
//!
//! Every entry has a sequence number that never changes and is never reused within the
//! directory: packed entries are numbered in name order from 0, new ones count on from there.
//! `fd_readdir` cookies are built from them, so a listing resumed after other entries were
//! removed or added neither skips nor repeats the entries that stayed.

use super::Ino;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use mewz_pack::{Archive, NodeIndex};

/// The inode number of archive node `n` (inode numbers of new nodes come after all of them).
pub fn packed_ino(n: NodeIndex) -> Ino {
    Ino::from(n) + 1
}

#[derive(Debug)]
pub enum Entries {
    /// Still the archive's: the directory node and its entry count.
    Packed {
        node: NodeIndex,
        count: u64,
    },
    Owned(Owned),
}

#[derive(Debug, Default)]
pub struct Owned {
    by_name: BTreeMap<Arc<str>, (u64, Ino)>,
    by_seq: BTreeMap<u64, Arc<str>>,
    next_seq: u64,
}

/// One entry as a listing reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub seq: u64,
    pub name: Arc<str>,
    pub ino: Ino,
}

impl Entries {
    pub fn new() -> Entries {
        Entries::Owned(Owned::default())
    }

    pub fn len(&self) -> u64 {
        match self {
            Entries::Packed { count, .. } => *count,
            Entries::Owned(o) => o.by_name.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn lookup(&self, archive: Option<&Archive<'static>>, name: &str) -> Option<Ino> {
        match self {
            Entries::Packed { node, .. } => {
                let a = archive?;
                let dir = a.node(*node)?;
                a.lookup(&dir, name.as_bytes())
                    .map(|(_, e)| packed_ino(e.node))
            }
            Entries::Owned(o) => o.by_name.get(name).map(|&(_, ino)| ino),
        }
    }

    /// Entries from sequence number `seq` on, in order, up to `max` of them.
    pub fn list_from(
        &self,
        archive: Option<&Archive<'static>>,
        seq: u64,
        max: usize,
    ) -> alloc::vec::Vec<Listed> {
        match self {
            Entries::Packed { node, count } => {
                let Some((a, dir)) = archive.and_then(|a| Some((a, a.node(*node)?))) else {
                    return alloc::vec::Vec::new();
                };
                (seq..*count)
                    .take(max)
                    .filter_map(|i| {
                        let e = a.entry(&dir, i)?;
                        Some(Listed {
                            seq: i,
                            name: e.name.into(),
                            ino: packed_ino(e.node),
                        })
                    })
                    .collect()
            }
            Entries::Owned(o) => o
                .by_seq
                .range(seq..)
                .take(max)
                .filter_map(|(&s, name)| {
                    let &(_, ino) = o.by_name.get(name)?;
                    Some(Listed {
                        seq: s,
                        name: name.clone(),
                        ino,
                    })
                })
                .collect(),
        }
    }

    /// The owned form, copying the archive's entries (keeping their numbers) on first change.
    fn owned(&mut self, archive: Option<&Archive<'static>>) -> &mut Owned {
        if let Entries::Packed { count, .. } = *self {
            let mut o = Owned::default();
            for e in self.list_from(archive, 0, count as usize) {
                o.by_seq.insert(e.seq, e.name.clone());
                o.by_name.insert(e.name, (e.seq, e.ino));
            }
            o.next_seq = count;
            *self = Entries::Owned(o);
        }
        match self {
            Entries::Owned(o) => o,
            Entries::Packed { .. } => unreachable!("converted just above"),
        }
    }

    /// Adds or replaces `name`. A replaced entry keeps its sequence number (a rename over an
    /// existing name is one entry changing what it names, as POSIX sees it).
    pub fn insert(&mut self, archive: Option<&Archive<'static>>, name: &str, ino: Ino) {
        let o = self.owned(archive);
        if let Some(slot) = o.by_name.get_mut(name) {
            slot.1 = ino;
            return;
        }
        let seq = o.next_seq;
        o.next_seq += 1;
        let name: Arc<str> = name.into();
        o.by_seq.insert(seq, name.clone());
        o.by_name.insert(name, (seq, ino));
    }

    /// Removes `name`; returns what it named.
    pub fn remove(&mut self, archive: Option<&Archive<'static>>, name: &str) -> Option<Ino> {
        let o = self.owned(archive);
        let (seq, ino) = o.by_name.remove(name)?;
        o.by_seq.remove(&seq);
        Some(ino)
    }

    /// Whether the entries are still the archive's.
    pub fn is_packed(&self) -> bool {
        matches!(self, Entries::Packed { .. })
    }
}

impl Default for Entries {
    fn default() -> Self {
        Entries::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use mewz_pack::write::{Builder, Content, Times};

    fn archive() -> Archive<'static> {
        let mut b = Builder::new();
        let root = b.directory(Times::default()).unwrap();
        for name in ["b", "d", "a", "c"] {
            let f = b
                .file(Content::Bytes(name.as_bytes().to_vec()), Times::default())
                .unwrap();
            b.link(root, name, f).unwrap();
        }
        b.root("r", root).unwrap();
        let bytes: &'static [u8] = b.to_bytes().unwrap().leak();
        Archive::parse(bytes).unwrap()
    }

    fn names(e: &Entries, a: &Archive<'static>, from: u64) -> Vec<(u64, String)> {
        e.list_from(Some(a), from, 100)
            .into_iter()
            .map(|l| (l.seq, String::from(&*l.name)))
            .collect()
    }

    #[test]
    fn packed_entries_are_listed_in_name_order_and_looked_up_in_place() {
        let a = archive();
        let root = a.roots().next().unwrap().node;
        let e = Entries::Packed {
            node: root,
            count: 4,
        };
        assert_eq!(
            names(&e, &a, 0),
            [
                (0, "a".into()),
                (1, "b".into()),
                (2, "c".into()),
                (3, "d".into())
            ]
        );
        assert_eq!(names(&e, &a, 3), [(3, "d".into())]);
        assert!(names(&e, &a, 4).is_empty());
        assert!(names(&e, &a, u64::MAX).is_empty());
        let b = e.lookup(Some(&a), "b").unwrap();
        assert_eq!(a.node((b - 1) as u32).unwrap().bytes, b"b");
        assert_eq!(e.lookup(Some(&a), "e"), None);
        assert_eq!(e.list_from(Some(&a), 0, 2).len(), 2);
    }

    #[test]
    fn numbers_survive_the_first_change_and_are_never_reused() {
        let a = archive();
        let root = a.roots().next().unwrap().node;
        let mut e = Entries::Packed {
            node: root,
            count: 4,
        };
        let b = e.lookup(Some(&a), "b");
        assert_eq!(e.remove(Some(&a), "b"), b);
        assert!(!e.is_packed());
        e.insert(Some(&a), "aa", 100);
        e.insert(Some(&a), "b", 101);
        assert_eq!(
            names(&e, &a, 0),
            [
                (0, "a".into()),
                (2, "c".into()),
                (3, "d".into()),
                (4, "aa".into()),
                (5, "b".into())
            ]
        );
        // A listing that stopped after "a" (next cookie: seq 1) goes on with what remains.
        assert_eq!(names(&e, &a, 1)[0], (2, "c".into()));
        e.insert(Some(&a), "c", 7);
        assert_eq!(
            names(&e, &a, 2)[0],
            (2, "c".into()),
            "replacing keeps the number"
        );
        assert_eq!(e.lookup(Some(&a), "c"), Some(7));
        assert_eq!(e.remove(Some(&a), "zz"), None);
        assert_eq!(e.len(), 5);
    }

    #[test]
    fn owned_directories_start_empty() {
        let mut e = Entries::new();
        assert!(e.is_empty());
        e.insert(None, "x", 9);
        assert_eq!(e.lookup(None, "x"), Some(9));
        assert_eq!(e.remove(None, "x"), Some(9));
        assert!(e.list_from(None, 0, 10).is_empty());
    }
}
