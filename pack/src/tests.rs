//! Round trips through the writer, and the reader against damaged and random bytes.

use super::*;
use proptest::prelude::*;
use std::boxed::Box;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};
use write::{Builder, Content, Times};

fn times(s: u64) -> Times {
    Times {
        atim: s * 10,
        mtim: s * 10 + 1,
        ctim: s * 10 + 2,
    }
}

/// `/data` with `a.txt`, `hard` (= `a.txt`), `sub/inner`, `link -> a.txt`, `empty/`; and a
/// second root `other` with `x`.
fn sample() -> Vec<u8> {
    let mut b = Builder::new();
    let root = b.directory(times(1)).unwrap();
    let a = b
        .file(Content::Bytes(b"hello\n".to_vec()), times(2))
        .unwrap();
    let sub = b.directory(times(3)).unwrap();
    let inner = b.file(Content::Bytes(vec![7; 1000]), times(4)).unwrap();
    let link = b.symlink("a.txt", times(5)).unwrap();
    let empty = b.directory(times(6)).unwrap();
    b.link(root, "a.txt", a).unwrap();
    b.link(root, "hard", a).unwrap();
    b.link(root, "sub", sub).unwrap();
    b.link(sub, "inner", inner).unwrap();
    b.link(root, "link", link).unwrap();
    b.link(root, "empty", empty).unwrap();
    b.root("/data", root).unwrap();
    let other = b.directory(times(7)).unwrap();
    let x = b.file(Content::Bytes(Vec::new()), times(8)).unwrap();
    b.link(other, "x", x).unwrap();
    b.root("other", other).unwrap();
    let bytes = b.to_bytes().unwrap();
    assert_eq!(bytes.len() as u64, b.archive_len().unwrap());
    bytes
}

fn names(a: &Archive<'_>, dir: NodeIndex) -> Vec<String> {
    let d = a.node(dir).unwrap();
    a.entries(&d).map(|e| e.name.into()).collect()
}

#[test]
fn round_trip_keeps_roots_entries_contents_and_times() {
    let bytes = sample();
    let a = Archive::parse(&bytes).unwrap();
    let roots: Vec<_> = a.roots().collect();
    assert_eq!(roots.len(), 2);
    assert_eq!((roots[0].name, roots[1].name), ("/data", "other"));
    assert_eq!(
        names(&a, roots[0].node),
        ["a.txt", "empty", "hard", "link", "sub"]
    );
    let root = a.node(roots[0].node).unwrap();
    let (pos, e) = a.lookup(&root, b"a.txt").unwrap();
    assert_eq!(pos, 0);
    let file = a.node(e.node).unwrap();
    assert_eq!(file.kind, Kind::File);
    assert_eq!(file.bytes, b"hello\n");
    assert_eq!(file.nlink, 2, "a.txt and hard");
    assert_eq!((file.atim, file.mtim, file.ctim), (20, 21, 22));
    assert_eq!(a.lookup(&root, b"hard").unwrap().1.node, e.node);
    let link = a.node(a.lookup(&root, b"link").unwrap().1.node).unwrap();
    assert_eq!((link.kind, link.bytes), (Kind::Symlink, &b"a.txt"[..]));
    let sub = a.node(a.lookup(&root, b"sub").unwrap().1.node).unwrap();
    let inner = a.node(a.lookup(&sub, b"inner").unwrap().1.node).unwrap();
    assert_eq!(inner.bytes, &[7; 1000][..]);
    assert_eq!(inner.bytes.as_ptr() as usize % FILE_ALIGN as usize, {
        bytes.as_ptr() as usize % FILE_ALIGN as usize
    });
    for missing in [&b"b"[..], b"", b"zzz", b"a.tx", b"a.txt\0"] {
        assert!(a.lookup(&root, missing).is_none());
    }
    assert!(a.node(a.node_count()).is_none());
    assert!(a.entry(&root, 5).is_none());
    assert_eq!(a.node(roots[1].node).unwrap().size, 1);
}

#[test]
fn an_empty_tree_and_no_roots_are_archives_too() {
    let bytes = Builder::new().to_bytes().unwrap();
    assert_eq!(bytes.len() as u64, DATA_ALIGN);
    let a = Archive::parse(&bytes).unwrap();
    assert_eq!(a.roots().len(), 0);
    let mut b = Builder::new();
    let d = b.directory(Times::default()).unwrap();
    b.root(".", d).unwrap();
    let bytes = b.to_bytes().unwrap();
    let a = Archive::parse(&bytes).unwrap();
    assert_eq!(
        names(&a, a.roots().next().unwrap().node),
        Vec::<String>::new()
    );
}

#[test]
fn the_builder_refuses_what_the_format_cannot_hold() {
    let mut b = Builder::new();
    let d = b.directory(Times::default()).unwrap();
    let e = b.directory(Times::default()).unwrap();
    let f = b.file(Content::Bytes(vec![]), Times::default()).unwrap();
    for bad in ["", ".", "..", "a/b", "nul\0", &"x".repeat(256)] {
        assert!(b.link(d, bad, f).is_err(), "{bad:?}");
    }
    b.link(d, &"x".repeat(255), f).unwrap();
    b.link(d, "f", f).unwrap();
    assert!(matches!(
        b.link(d, "f", f),
        Err(write::BuildError::Duplicate(_))
    ));
    b.link(d, "e", e).unwrap();
    assert!(matches!(
        b.link(d, "e2", e),
        Err(write::BuildError::DirectoryLinkedTwice(_))
    ));
    assert!(b.link(f, "x", d).is_err(), "a file has no entries");
    assert!(b.link(d, "self", d).is_err());
    assert!(b.symlink("", Times::default()).is_err());
    assert!(
        b.symlink(&"y".repeat(MAX_PATH + 1), Times::default())
            .is_err()
    );
    assert!(b.root("r", f).is_err());
}

#[test]
fn host_files_are_streamed_and_must_not_change_size() {
    let dir = std::env::temp_dir().join(format!("mewz-pack-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    std::fs::write(&path, b"0123456789").unwrap();
    let mut b = Builder::new();
    let root = b.directory(Times::default()).unwrap();
    let f = b
        .file(
            Content::HostFile {
                path: path.clone(),
                len: 10,
            },
            Times::default(),
        )
        .unwrap();
    b.link(root, "f", f).unwrap();
    b.root("r", root).unwrap();
    let bytes = b.to_bytes().unwrap();
    let a = Archive::parse(&bytes).unwrap();
    let r = a.node(0).unwrap();
    assert_eq!(
        a.node(a.lookup(&r, b"f").unwrap().1.node).unwrap().bytes,
        b"0123456789"
    );
    std::fs::write(&path, b"0123456789ab").unwrap();
    let err = b.to_bytes().unwrap_err();
    assert!(
        err.to_string().contains("changed while it was packed"),
        "{err}"
    );
    std::fs::write(&path, b"short").unwrap();
    assert!(b.to_bytes().is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample();
    for len in 0..bytes.len() {
        let e = Archive::parse(&bytes[..len]).unwrap_err();
        assert!(
            matches!(e, PackError::Truncated { .. }),
            "length {len}: {e:?}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0xaa; 100]);
    assert_eq!(Archive::parse(&longer).unwrap().len(), bytes.len());
}

#[test]
fn every_damaged_index_byte_is_caught() {
    let bytes = sample();
    let index_end = u64_at(&bytes, 32) as usize;
    for at in 0..index_end {
        for flip in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            assert!(
                Archive::parse(&damaged).is_err(),
                "byte {at} ^ {flip:#x} went unnoticed"
            );
        }
    }
}

#[test]
fn structural_errors_are_caught_even_with_a_matching_hash() {
    // Rewrites a field and the hash, so only the structural checks can object.
    let rehash = |mut b: Vec<u8>| {
        let data = u64_at(&b, 32) as usize;
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&b[..HEADER_SIZE]);
        let h = index_hash(&header, &b[HEADER_SIZE..data]);
        b[48..56].copy_from_slice(&h.to_le_bytes());
        b
    };
    let bytes = sample();
    let a = Archive::parse(&bytes).unwrap();
    let nodes = HEADER_SIZE + ROOT_SIZE * a.root_count() as usize;
    let entries = nodes + NODE_SIZE * a.node_count() as usize;
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        ("version", Box::new(|b| b[8] = 2)),
        ("root node", Box::new(|b| b[72] = 200)),
        ("root is a file", Box::new(move |b| b[72] = 1)),
        ("kind", Box::new(move |b| b[nodes] = 9)),
        ("entry node", Box::new(move |b| b[entries + 8] = 250)),
        (
            "names out of order",
            Box::new(move |b| {
                for i in 0..8 {
                    b.swap(entries + i, entries + ENTRY_SIZE + i);
                }
            }),
        ),
        ("nlink", Box::new(move |b| b[nodes + NODE_SIZE + 4] = 1)),
        ("reserved", Box::new(|b| b[12] = 1)),
        ("data offset", Box::new(|b| b[33] = 0x0f)),
        ("name length", Box::new(move |b| b[entries + 4] = 0xff)),
    ];
    for (what, damage) in cases {
        let mut b = bytes.clone();
        damage(&mut b);
        assert!(Archive::parse(&rehash(b)).is_err(), "{what}");
    }
    assert!(
        Archive::parse(&rehash(bytes)).is_ok(),
        "rehash itself is sound"
    );
}

#[test]
fn other_files_are_not_archives() {
    assert_eq!(
        Archive::parse(&[0u8; 100]).unwrap_err(),
        PackError::NotAnArchive
    );
    assert_eq!(
        Archive::parse(b"\x7fELF....").unwrap_err(),
        PackError::NotAnArchive
    );
    assert!(matches!(
        Archive::parse(b"MEWZ"),
        Err(PackError::Truncated { .. })
    ));
    for e in [
        PackError::Truncated { have: 1, need: 2 },
        PackError::NotAnArchive,
        PackError::UnsupportedVersion(9),
        PackError::HashMismatch,
        PackError::Corrupt("x"),
    ] {
        assert!(!format!("{e}").contains('\n'));
    }
}

/// Walks everything an archive offers, as the kernel would.
fn walk_all(a: &Archive<'_>) -> u64 {
    let mut seen = 0;
    for r in a.roots() {
        let mut stack = vec![r.node];
        while let Some(n) = stack.pop() {
            let node = a.node(n).unwrap();
            seen += node.bytes.len() as u64;
            for e in a.entries(&node) {
                seen += 1;
                assert!(a.lookup(&node, e.name.as_bytes()).is_some());
                if a.node(e.node).unwrap().kind == Kind::Directory {
                    stack.push(e.node);
                }
            }
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(a) = Archive::parse(&bytes) {
            walk_all(&a);
        }
    }

    #[test]
    fn random_headers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), v in any::<u32>()) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&v.to_le_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(a) = Archive::parse(&bytes) {
            walk_all(&a);
        }
    }

    #[test]
    fn damaged_archives_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = sample();
        for (at, v) in edits {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        if let Ok(a) = Archive::parse(&bytes) {
            walk_all(&a);
        }
    }
}
