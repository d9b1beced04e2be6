//! The preview1 file calls as a Rust program makes them: through `std::fs` and `std::io`
//! (wasi-libc underneath), by absolute paths under the two preopens.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, SystemTime};
use wasi_suite::{expect, expect_eq, expect_true, finish, fnv1a64, require};

fn reading() {
    let text = expect(
        "read_to_string",
        fs::read_to_string("/sandbox/hello.txt"),
        "SUCCESS",
    );
    expect_eq(
        "its text",
        text.as_deref().unwrap_or("").escape_debug().to_string(),
        "hello, world\\n".into(),
    );
    expect("read a missing file", fs::read("/sandbox/nope"), "NOENT");
    expect("read a directory", fs::read("/sandbox/data"), "BADF");
    // wasi-libc finds no preopen for the path and answers by itself.
    expect(
        "read outside every preopen",
        fs::read("/etc/passwd"),
        "NOENT",
    );
    expect(
        "read past the preopen root",
        fs::read("/sandbox/../etc/passwd"),
        "PERM",
    );
    expect(
        "read through a symlink",
        fs::read("/sandbox/links/to-hello"),
        "SUCCESS",
    );
    expect(
        "read through a symlink loop",
        fs::read("/sandbox/links/loop-a"),
        "LOOP",
    );

    let mut file = require("open", File::open("/sandbox/data/numbers.txt"));
    let mut buf = [0u8; 4];
    expect("seek from the end", file.seek(SeekFrom::End(-3)), "SUCCESS");
    expect("read_exact", file.read_exact(&mut buf[..3]), "SUCCESS");
    expect_eq(
        "the last bytes",
        format!("{:?}", &buf[..3]),
        "[56, 57, 10]".into(),
    );
    expect(
        "seek before the start",
        file.seek(SeekFrom::Current(-100)),
        "INVAL",
    );
    expect_eq(
        "position after the refused seek",
        require("position", file.stream_position()),
        65,
    );
    expect(
        "write to a file opened for reading",
        file.write(b"x"),
        "BADF",
    );

    let meta = require("metadata", fs::metadata("/sandbox/data/numbers.txt"));
    expect_eq("len", meta.len(), 65);
    expect_true("is_file", meta.is_file());
    let link = require(
        "symlink_metadata",
        fs::symlink_metadata("/sandbox/links/to-data"),
    );
    expect_true("symlink_metadata is_symlink", link.is_symlink());
    expect_true(
        "metadata follows it to a directory",
        require("metadata", fs::metadata("/sandbox/links/to-data")).is_dir(),
    );
    let target = expect(
        "read_link",
        fs::read_link("/sandbox/links/to-data"),
        "SUCCESS",
    );
    expect_eq(
        "its target",
        format!("{:?}", target.unwrap_or_default()),
        "\"../data\"".into(),
    );
    expect(
        "read_link of a file",
        fs::read_link("/sandbox/hello.txt"),
        "INVAL",
    );
    let canonical = expect(
        "canonicalize",
        fs::canonicalize("/sandbox/links/to-hello"),
        "SUCCESS",
    );
    expect_eq(
        "canonical path",
        format!("{:?}", canonical.unwrap_or_default()),
        "\"/sandbox/hello.txt\"".into(),
    );
}

fn directories() {
    expect(
        "create_dir_all",
        fs::create_dir_all("/scratch/a/b/c"),
        "SUCCESS",
    );
    expect(
        "create_dir_all again",
        fs::create_dir_all("/scratch/a/b/c"),
        "SUCCESS",
    );
    expect(
        "create_dir on an existing one",
        fs::create_dir("/scratch/a"),
        "EXIST",
    );
    expect(
        "create_dir with a missing parent",
        fs::create_dir("/scratch/x/y"),
        "NOENT",
    );
    let mut listing: Vec<String> = require("read_dir", fs::read_dir("/sandbox/data"))
        .map(|e| {
            let e = require("entry", e);
            let kind = require("file_type", e.file_type());
            let tag = if kind.is_dir() {
                "/"
            } else if kind.is_symlink() {
                "@"
            } else {
                ""
            };
            format!("{}{tag}", e.file_name().to_string_lossy())
        })
        .collect();
    listing.sort();
    expect_eq(
        "read_dir /sandbox/data",
        listing.join(" "),
        "nested/ numbers.txt".into(),
    );
    expect(
        "read_dir of a file",
        fs::read_dir("/sandbox/hello.txt").map(|_| ()),
        "NOTDIR",
    );

    // Many entries, so that wasi-libc needs several fd_readdir calls for one listing.
    for i in 0..300 {
        let name = format!("/scratch/a/b/many-entries-with-a-longish-name-{i:03}.txt");
        require("write", fs::write(&name, i.to_string()));
    }
    let count = require("read_dir", fs::read_dir("/scratch/a/b")).count();
    expect_eq("entries of a 301-entry directory", count, 301);
    expect(
        "remove_dir of a non-empty directory",
        fs::remove_dir("/scratch/a/b"),
        "NOTEMPTY",
    );
    expect(
        "remove_dir_all",
        fs::remove_dir_all("/scratch/a/b"),
        "SUCCESS",
    );
    expect_true("it is gone", !fs::exists("/scratch/a/b").unwrap_or(true));
    expect(
        "remove_dir of an empty directory",
        fs::remove_dir("/scratch/a"),
        "SUCCESS",
    );
    expect(
        "remove_file of a directory",
        fs::remove_file("/sandbox/data"),
        "ISDIR",
    );
    expect(
        "remove_dir of a file",
        fs::remove_dir("/sandbox/hello.txt"),
        "NOTDIR",
    );
}

fn writing() {
    expect(
        "write a new file",
        fs::write("/scratch/w.txt", "first line\n"),
        "SUCCESS",
    );
    let mut log = require(
        "open for append",
        OpenOptions::new().append(true).open("/scratch/w.txt"),
    );
    expect("append", log.write_all(b"second line\n"), "SUCCESS");
    require("seek", log.seek(SeekFrom::Start(0)));
    expect(
        "append after seeking to 0",
        log.write_all(b"third line\n"),
        "SUCCESS",
    );
    drop(log);
    let text = require("read back", fs::read_to_string("/scratch/w.txt"));
    expect_eq(
        "appended text",
        text.escape_debug().to_string(),
        "first line\\nsecond line\\nthird line\\n".into(),
    );
    expect(
        "create_new on an existing file",
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open("/scratch/w.txt"),
        "EXIST",
    );
    expect(
        "create_new on a new file",
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open("/scratch/n.txt"),
        "SUCCESS",
    );
    expect(
        "truncate on open",
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open("/scratch/w.txt"),
        "SUCCESS",
    );
    expect_eq(
        "size after truncate",
        require("metadata", fs::metadata("/scratch/w.txt")).len(),
        0,
    );

    let mut file = require(
        "open rw",
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open("/scratch/rw.bin"),
    );
    expect("set_len grows", file.set_len(10_000), "SUCCESS");
    expect(
        "seek into the hole",
        file.seek(SeekFrom::Start(5_000)),
        "SUCCESS",
    );
    expect("write in the hole", file.write_all(b"middle"), "SUCCESS");
    expect("set_len shrinks", file.set_len(5_003), "SUCCESS");
    let mut back = Vec::new();
    require("rewind", file.rewind());
    expect("read_to_end", file.read_to_end(&mut back), "SUCCESS");
    expect_eq("length read", back.len(), 5_003);
    expect_true(
        "zeros, then the write, cut",
        back[..5_000].iter().all(|b| *b == 0) && &back[5_000..] == b"mid",
    );
    expect("sync_all", file.sync_all(), "SUCCESS");
    expect("sync_data", file.sync_data(), "SUCCESS");
    drop(file);

    // A file of a few megabytes written in odd-sized pieces, read back whole.
    let big: Vec<u8> = (0..3_000_017u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut out = require("create big", File::create("/scratch/big.bin"));
    for piece in big.chunks(65_537) {
        require("write a piece", out.write_all(piece));
    }
    drop(out);
    let read =
        expect("read the big file", fs::read("/scratch/big.bin"), "SUCCESS").unwrap_or_default();
    expect_eq("its length", read.len(), big.len());
    expect_eq(
        "its hash",
        format!("{:016x}", fnv1a64(&read)),
        format!("{:016x}", fnv1a64(&big)),
    );
    expect("remove it", fs::remove_file("/scratch/big.bin"), "SUCCESS");

    expect(
        "copy",
        fs::copy("/sandbox/data/numbers.txt", "/scratch/copy.txt"),
        "SUCCESS",
    );
    expect_eq(
        "copied size",
        require("metadata", fs::metadata("/scratch/copy.txt")).len(),
        65,
    );
    expect(
        "rename across the preopens",
        fs::rename("/scratch/copy.txt", "/sandbox/data/nested/copy.txt"),
        "SUCCESS",
    );
    expect(
        "rename a missing file",
        fs::rename("/scratch/nope", "/scratch/x"),
        "NOENT",
    );
    expect(
        "hard_link",
        fs::hard_link("/sandbox/hello.txt", "/scratch/hello-link.txt"),
        "SUCCESS",
    );
    expect(
        "hard_link over an existing name",
        fs::hard_link("/sandbox/hello.txt", "/scratch/n.txt"),
        "EXIST",
    );
    expect(
        "remove_file",
        fs::remove_file("/sandbox/empty.txt"),
        "SUCCESS",
    );
    expect(
        "remove_file of a symlink",
        fs::remove_file("/sandbox/links/self"),
        "SUCCESS",
    );
}

fn times() {
    let file = require(
        "open",
        OpenOptions::new().write(true).open("/scratch/n.txt"),
    );
    let a = SystemTime::UNIX_EPOCH + Duration::new(1_000_000_000, 123_456_789);
    let m = SystemTime::UNIX_EPOCH + Duration::new(1_100_000_000, 987_654_321);
    expect(
        "set_times",
        file.set_times(FileTimes::new().set_accessed(a).set_modified(m)),
        "SUCCESS",
    );
    let meta = require("metadata", file.metadata());
    expect_eq(
        "modified",
        format!("{:?}", meta.modified().ok()),
        format!("{:?}", Some(m)),
    );
    expect_eq(
        "accessed",
        format!("{:?}", meta.accessed().ok()),
        format!("{:?}", Some(a)),
    );
    expect("set_modified", file.set_modified(a), "SUCCESS");
    expect_eq(
        "modified again",
        format!(
            "{:?}",
            require("metadata", fs::metadata("/scratch/n.txt"))
                .modified()
                .ok()
        ),
        format!("{:?}", Some(a)),
    );
    let now = SystemTime::now();
    let mut w = require(
        "reopen",
        OpenOptions::new().write(true).open("/scratch/n.txt"),
    );
    require("write", w.write_all(b"touch"));
    let modified = require("modified", require("metadata", w.metadata()).modified());
    let off = modified
        .duration_since(now)
        .unwrap_or_else(|e| e.duration());
    expect_true(
        "a write sets the modification time to now",
        off < Duration::from_secs(2),
    );
}

fn main() {
    reading();
    directories();
    writing();
    times();
    finish()
}
