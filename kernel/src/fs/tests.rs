//! The filesystem over a small packed tree: lookups, copy-on-write, every namespace operation
//! and path resolution with its escapes, loops and trailing slashes.

use super::walk::{Last, MAX_PATH};
use super::*;
use alloc::string::ToString;
use mewz_pack::write::{Builder, Content, Times as PackTimes};

const T: PackTimes = PackTimes {
    atim: 100,
    mtim: 200,
    ctim: 300,
};

/// Root `/data`: `file.txt` ("hello\n"), `hard` (= file.txt), `sub/inner`, `sub/deeper/`,
/// `ln -> file.txt`, `lsub -> sub`, `abs -> /etc/passwd`, `up -> ../x`, `loop1 <-> loop2`,
/// `dangle -> nothing`, `dot -> .`; root `other`: `o`.
fn archive() -> Archive<'static> {
    let mut b = Builder::new();
    let root = b.directory(T).unwrap();
    let file = b.file(Content::Bytes(b"hello\n".to_vec()), T).unwrap();
    b.link(root, "file.txt", file).unwrap();
    b.link(root, "hard", file).unwrap();
    let sub = b.directory(T).unwrap();
    b.link(root, "sub", sub).unwrap();
    let inner = b.file(Content::Bytes(vec![b'i'; 5000]), T).unwrap();
    b.link(sub, "inner", inner).unwrap();
    let deeper = b.directory(T).unwrap();
    b.link(sub, "deeper", deeper).unwrap();
    for (name, target) in [
        ("ln", "file.txt"),
        ("lsub", "sub"),
        ("abs", "/etc/passwd"),
        ("up", "../x"),
        ("loop1", "loop2"),
        ("loop2", "loop1"),
        ("dangle", "nothing"),
        ("dot", "."),
    ] {
        let l = b.symlink(target, T).unwrap();
        b.link(root, name, l).unwrap();
    }
    b.root("/data", root).unwrap();
    let other = b.directory(T).unwrap();
    let o = b.file(Content::Bytes(b"o".to_vec()), T).unwrap();
    b.link(other, "o", o).unwrap();
    b.root("other", other).unwrap();
    let bytes: &'static [u8] = b.to_bytes().unwrap().leak();
    Archive::parse(bytes).unwrap()
}

fn fs() -> (FileSystem, Ino, Ino) {
    let fs = FileSystem::new(Some(archive()));
    let (a, b) = (fs.roots()[0].1, fs.roots()[1].1);
    (fs, a, b)
}

fn read_all(fs: &mut FileSystem, ino: Ino) -> Vec<u8> {
    let mut out = vec![0; fs.size(ino).unwrap() as usize];
    let n = fs.read(ino, 0, &mut out).unwrap();
    out.truncate(n);
    out
}

fn names(fs: &mut FileSystem, dir: Ino) -> Vec<String> {
    fs.list(dir, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string())
        .collect()
}

#[test]
fn roots_are_the_preopens_in_order() {
    let (fs, a, b) = fs();
    assert_eq!(fs.roots()[0].0, "/data");
    assert_eq!(fs.roots()[1].0, "other");
    assert_ne!(a, b);
    assert!(FileSystem::default().roots().is_empty());
}

#[test]
fn nothing_is_materialized_until_reached() {
    let (mut fs, root, _) = fs();
    assert_eq!(fs.nodes.len(), 2, "only the two roots");
    let f = fs.resolve(root, "sub/inner", false).unwrap();
    assert_eq!(fs.nodes.len(), 4, "sub and inner");
    assert_eq!(read_all(&mut fs, f), vec![b'i'; 5000]);
    assert_eq!(fs.space.used(), 0, "reading copies nothing");
}

#[test]
fn stat_reports_links_sizes_and_packed_times() {
    let (mut fs, root, _) = fs();
    let f = fs.resolve(root, "file.txt", false).unwrap();
    let s = fs.stat(f).unwrap();
    assert_eq!((s.kind, s.nlink, s.size, s.dev), (Kind::File, 2, 6, DEVICE));
    assert_eq!((s.times.atim, s.times.mtim, s.times.ctim), (100, 200, 300));
    assert_eq!(
        fs.resolve(root, "hard", false),
        Ok(f),
        "one inode, two names"
    );
    let r = fs.stat(root).unwrap();
    assert_eq!(
        (r.kind, r.nlink, r.size),
        (Kind::Directory, 3, DIRECTORY_SIZE)
    );
    let sub = fs.resolve(root, "sub", false).unwrap();
    assert_eq!(fs.stat(sub).unwrap().nlink, 3, "sub/deeper");
    let ln = fs.resolve(root, "ln", false).unwrap();
    let s = fs.stat(ln).unwrap();
    assert_eq!((s.kind, s.size), (Kind::Symlink, 8));
}

#[test]
fn writes_copy_on_write_and_update_times() {
    let (mut fs, root, _) = fs();
    let f = fs.resolve(root, "hard", false).unwrap();
    fs.write(f, 0, b"J", 999).unwrap();
    assert_eq!(read_all(&mut fs, f), b"Jello\n");
    let via_other_name = fs.resolve(root, "file.txt", false).unwrap();
    assert_eq!(read_all(&mut fs, via_other_name), b"Jello\n");
    let t = fs.stat(f).unwrap().times;
    assert_eq!((t.atim, t.mtim, t.ctim), (100, 999, 999));
    fs.set_size(f, 2, 1000).unwrap();
    assert_eq!(read_all(&mut fs, f), b"Je");
    fs.set_times(f, SetTime::At(5), SetTime::Now, 2000).unwrap();
    let t = fs.stat(f).unwrap().times;
    assert_eq!((t.atim, t.mtim, t.ctim), (5, 2000, 2000));
    fs.set_times(f, SetTime::Keep, SetTime::At(7), 3000)
        .unwrap();
    assert_eq!(fs.stat(f).unwrap().times.atim, 5);
    let sub = fs.resolve(root, "sub", false).unwrap();
    assert_eq!(fs.write(sub, 0, b"x", 1), Err(Errno::ISDIR));
    assert_eq!(fs.read(sub, 0, &mut [0; 4]), Err(Errno::ISDIR));
}

#[test]
fn create_link_unlink_and_the_life_of_an_open_file() {
    let (mut fs, root, other) = fs();
    let new = fs.create_file(root, "new", 50).unwrap();
    assert!(new > Ino::from(archive().node_count()));
    assert_eq!(fs.create_file(root, "new", 51), Err(Errno::EXIST));
    assert_eq!(fs.stat(root).unwrap().times.mtim, 50);
    fs.write(new, 3, b"abc", 52).unwrap();
    assert_eq!(read_all(&mut fs, new), b"\0\0\0abc");
    fs.link(new, other, "alias", 53).unwrap();
    assert_eq!(fs.stat(new).unwrap().nlink, 2);
    assert_eq!(
        fs.link(root, other, "d", 54),
        Err(Errno::PERM),
        "no directory links"
    );
    fs.open(new).unwrap();
    fs.unlink(root, "new", 55).unwrap();
    fs.unlink(other, "alias", 56).unwrap();
    assert_eq!(fs.stat(new).unwrap().nlink, 0);
    assert_eq!(
        read_all(&mut fs, new),
        b"\0\0\0abc",
        "still readable while open"
    );
    fs.close(new);
    assert_eq!(fs.stat(new), Err(Errno::NOENT));
    assert_eq!(fs.space.used(), 0, "everything given back");
    assert_eq!(fs.unlink(root, "sub", 57), Err(Errno::ISDIR));
    assert_eq!(fs.unlink(root, "missing", 57), Err(Errno::NOENT));
}

#[test]
fn removed_packed_nodes_stay_removed() {
    let (mut fs, root, _) = fs();
    let f = fs.resolve(root, "file.txt", false).unwrap();
    fs.unlink(root, "file.txt", 1).unwrap();
    fs.unlink(root, "hard", 1).unwrap();
    assert_eq!(fs.stat(f), Err(Errno::NOENT));
    assert_eq!(fs.resolve(root, "file.txt", false), Err(Errno::NOENT));
    assert_eq!(fs.kind(f), None);
    let ln = fs.resolve(root, "ln", false).unwrap();
    assert_eq!(fs.readlink(ln).unwrap(), "file.txt");
    assert_eq!(
        fs.resolve(root, "ln", true),
        Err(Errno::NOENT),
        "now dangling"
    );
}

#[test]
fn directories_create_remove_and_count() {
    let (mut fs, root, _) = fs();
    let d = fs.create_directory(root, "d", 1).unwrap();
    assert_eq!(fs.stat(root).unwrap().nlink, 4);
    fs.create_file(d, "f", 2).unwrap();
    assert_eq!(fs.remove_directory(root, "d", 3), Err(Errno::NOTEMPTY));
    assert_eq!(fs.remove_directory(root, "file.txt", 3), Err(Errno::NOTDIR));
    fs.unlink(d, "f", 4).unwrap();
    fs.open(d).unwrap();
    fs.remove_directory(root, "d", 5).unwrap();
    assert_eq!(fs.stat(root).unwrap().nlink, 3);
    assert_eq!(
        fs.create_file(d, "late", 6),
        Err(Errno::NOENT),
        "removed while open"
    );
    assert_eq!(fs.stat(d).unwrap().nlink, 0);
    fs.close(d);
    assert_eq!(fs.space.used(), 0);
    let sub = fs.resolve(root, "sub", false).unwrap();
    let deeper = fs.resolve(sub, "deeper", false).unwrap();
    fs.remove_directory(sub, "deeper", 7).unwrap();
    assert_eq!(fs.stat(sub).unwrap().nlink, 2);
    assert_eq!(fs.stat(deeper), Err(Errno::NOENT));
}

#[test]
fn rename_follows_posix() {
    let (mut fs, root, other) = fs();
    let f = fs.resolve(root, "file.txt", false).unwrap();
    fs.rename(root, "file.txt", other, "moved", 10).unwrap();
    assert_eq!(fs.resolve(other, "moved", false), Ok(f));
    assert_eq!(fs.resolve(root, "file.txt", false), Err(Errno::NOENT));
    assert_eq!(
        fs.stat(f).unwrap().nlink,
        2,
        "a rename keeps the link count"
    );
    // Over an existing file: the old one loses a name.
    let o = fs.resolve(other, "o", false).unwrap();
    fs.rename(other, "moved", other, "o", 11).unwrap();
    assert_eq!(fs.stat(o), Err(Errno::NOENT));
    // Hard links of one file: nothing happens.
    fs.rename(root, "hard", other, "o", 12).unwrap();
    assert_eq!(fs.resolve(root, "hard", false), Ok(f));
    // Directories.
    let sub = fs.resolve(root, "sub", false).unwrap();
    let deeper = fs.resolve(sub, "deeper", false).unwrap();
    assert_eq!(fs.rename(root, "sub", deeper, "x", 13), Err(Errno::INVAL));
    assert_eq!(fs.rename(root, "sub", sub, "x", 13), Err(Errno::INVAL));
    assert_eq!(fs.rename(root, "sub", other, "o", 13), Err(Errno::NOTDIR));
    assert_eq!(fs.rename(other, "o", root, "sub", 13), Err(Errno::ISDIR));
    let empty = fs.create_directory(other, "empty", 14).unwrap();
    assert_eq!(
        fs.rename(other, "empty", root, "sub", 15),
        Err(Errno::NOTEMPTY)
    );
    fs.rename(root, "sub", other, "empty", 16).unwrap();
    assert_eq!(fs.stat(empty), Err(Errno::NOENT));
    assert_eq!(fs.resolve(other, "empty/deeper", false), Ok(deeper));
    assert_eq!(fs.stat(root).unwrap().nlink, 2);
    assert_eq!(fs.stat(other).unwrap().nlink, 3);
    fs.rename(other, "empty", other, "empty", 17).unwrap();
    // A moved directory knows its new place: moving its parent into it is refused.
    assert_eq!(
        fs.rename(other, "empty", deeper, "loop", 18),
        Err(Errno::INVAL)
    );
    assert_eq!(fs.rename(root, "nothing", root, "x", 19), Err(Errno::NOENT));
}

#[test]
fn readdir_numbers_are_stable_across_removals() {
    let (mut fs, root, _) = fs();
    let first = fs.list(root, 0, 3).unwrap();
    assert_eq!(
        first.iter().map(|e| &*e.name).collect::<Vec<_>>(),
        ["abs", "dangle", "dot"]
    );
    fs.unlink(root, "dot", 1).unwrap();
    fs.unlink(root, "file.txt", 1).unwrap();
    let rest = fs.list(root, first[2].seq + 1, usize::MAX).unwrap();
    assert_eq!(
        rest.iter().map(|e| &*e.name).collect::<Vec<_>>(),
        ["hard", "ln", "loop1", "loop2", "lsub", "sub", "up"]
    );
    fs.create_file(root, "aaa", 2).unwrap();
    assert_eq!(
        names(&mut fs, root).last().unwrap(),
        "aaa",
        "new entries come last"
    );
}

#[test]
fn out_of_space_fails_cleanly() {
    let (mut fs, root, _) = fs();
    fs.space = Space::limited(3 * file::CHUNK as u64);
    let f = fs.create_file(root, "big", 1).unwrap();
    assert_eq!(fs.write(f, 0, &[1; 3 * file::CHUNK], 2), Err(Errno::NOSPC));
    assert_eq!(fs.size(f), Ok(0));
    fs.write(f, 0, &[1; file::CHUNK], 2).unwrap();
    let mut made = 0;
    let err = loop {
        match fs.create_file(root, &format!("f{made}"), 3) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Errno::NOSPC);
    assert!(made > 0);
    fs.unlink(root, "big", 4).unwrap();
    fs.create_file(root, "after", 5).unwrap();
}

// --- path resolution ---------------------------------------------------------------------

#[test]
fn plain_paths_dots_and_slashes() {
    let (mut fs, root, _) = fs();
    let inner = fs.resolve(root, "sub/inner", false).unwrap();
    for p in [
        "sub//inner",
        "./sub/./inner",
        "sub/../sub/inner",
        "sub/deeper/../inner",
    ] {
        assert_eq!(fs.resolve(root, p, false), Ok(inner), "{p}");
    }
    assert_eq!(fs.resolve(root, ".", false), Ok(root));
    assert_eq!(fs.resolve(root, "./", false), Ok(root));
    assert_eq!(fs.resolve(root, "sub/..", false), Ok(root));
    let sub = fs.resolve(root, "sub/", false).unwrap();
    assert_eq!(fs.resolve(sub, "inner", false), Ok(inner));
}

#[test]
fn nothing_escapes_the_starting_directory() {
    let (mut fs, root, _) = fs();
    let sub = fs.resolve(root, "sub", false).unwrap();
    for p in ["..", "../x", "sub/../..", "/", "/etc/passwd", "//sub"] {
        assert_eq!(fs.resolve(root, p, false), Err(Errno::PERM), "{p}");
    }
    assert_eq!(
        fs.resolve(sub, "..", false),
        Err(Errno::PERM),
        "a descriptor is a boundary"
    );
    assert_eq!(fs.resolve(root, "abs", true), Err(Errno::PERM));
    assert_eq!(fs.resolve(root, "up", true), Err(Errno::PERM));
    assert_eq!(fs.resolve(root, "missing/../..", false), Err(Errno::NOENT));
}

#[test]
fn symlinks_follow_loop_and_dangle() {
    let (mut fs, root, _) = fs();
    let file = fs.resolve(root, "file.txt", false).unwrap();
    let ln = fs.resolve(root, "ln", false).unwrap();
    assert_ne!(ln, file);
    assert_eq!(fs.resolve(root, "ln", true), Ok(file));
    assert_eq!(
        fs.resolve(root, "lsub/inner", false),
        fs.resolve(root, "sub/inner", false)
    );
    assert_eq!(
        fs.resolve(root, "lsub/", false),
        fs.resolve(root, "sub", false)
    );
    assert_eq!(fs.resolve(root, "dot/dot/file.txt", false), Ok(file));
    assert_eq!(fs.resolve(root, "dot", true), Ok(root));
    assert_eq!(fs.resolve(root, "loop1", true), Err(Errno::LOOP));
    assert!(
        fs.resolve(root, "loop1", false).is_ok(),
        "not followed: the link itself"
    );
    assert_eq!(fs.resolve(root, "loop1/x", false), Err(Errno::LOOP));
    assert_eq!(fs.resolve(root, "dangle", true), Err(Errno::NOENT));
    assert!(fs.resolve(root, "dangle", false).is_ok());
}

#[test]
fn trailing_slashes_want_directories() {
    let (mut fs, root, _) = fs();
    assert_eq!(fs.resolve(root, "file.txt/", false), Err(Errno::NOTDIR));
    assert_eq!(fs.resolve(root, "ln/", false), Err(Errno::NOTDIR));
    assert_eq!(fs.resolve(root, "file.txt/x", false), Err(Errno::NOTDIR));
    assert_eq!(fs.resolve(root, "file.txt/.", false), Err(Errno::NOTDIR));
    // A symlink whose target ends with `/` names a directory too.
    fs.create_symlink(root, "to-file", "file.txt/", 1).unwrap();
    fs.create_symlink(root, "to-sub", "sub/", 1).unwrap();
    assert_eq!(fs.resolve(root, "to-file", true), Err(Errno::NOTDIR));
    assert_eq!(fs.resolve(root, "to-file/x", false), Err(Errno::NOTDIR));
    assert!(
        fs.resolve(root, "to-file", false).is_ok(),
        "not followed: the link"
    );
    let sub = fs.resolve(root, "sub", false).unwrap();
    assert_eq!(fs.resolve(root, "to-sub", true), Ok(sub));
    assert_eq!(
        fs.resolve(root, "to-sub/inner", false),
        fs.resolve(root, "sub/inner", false)
    );
}

#[test]
fn malformed_paths() {
    let (mut fs, root, _) = fs();
    assert_eq!(fs.resolve(root, "", false), Err(Errno::NOENT));
    assert_eq!(fs.resolve(root, "a\0b", false), Err(Errno::INVAL));
    let long_name = "n".repeat(256);
    assert_eq!(fs.resolve(root, &long_name, false), Err(Errno::NAMETOOLONG));
    assert_eq!(fs.resolve(root, &"n".repeat(255), false), Err(Errno::NOENT));
    let long_path = "./".repeat(MAX_PATH / 2);
    assert_eq!(fs.resolve(root, &long_path, false), Err(Errno::NAMETOOLONG));
    assert_eq!(
        fs.resolve(root, &long_path[..MAX_PATH - 1], false),
        Ok(root)
    );
    let file = fs.resolve(root, "file.txt", false).unwrap();
    assert_eq!(fs.resolve(file, "x", false), Err(Errno::NOTDIR));
}

#[test]
fn parents_name_their_last_component() {
    let (mut fs, root, _) = fs();
    let sub = fs.resolve(root, "sub", false).unwrap();
    let p = fs.resolve_parent(root, "sub/new/").unwrap();
    assert_eq!(
        (p.dir, p.up, p.last.clone(), p.trailing_slash),
        (sub, Some(root), Last::Name("new".into()), true)
    );
    assert_eq!(p.name_or(Errno::EXIST), Ok("new"));
    let p = fs.resolve_parent(root, "..").unwrap();
    assert_eq!((p.last.clone(), p.up), (Last::DotDot, None));
    assert_eq!(p.name_or(Errno::EXIST), Err(Errno::PERM));
    let p = fs.resolve_parent(root, "sub/..").unwrap();
    assert_eq!(p.name_or(Errno::EXIST), Err(Errno::EXIST));
    let p = fs.resolve_parent(root, "lsub/x").unwrap();
    assert_eq!(
        p.dir, sub,
        "symlinks before the last component are followed"
    );
    let p = fs.resolve_parent(root, "ln").unwrap();
    assert_eq!(p.last, Last::Name("ln".into()), "the last one is not");
    assert_eq!(fs.resolve_parent(root, "missing/x"), Err(Errno::NOENT));
}
