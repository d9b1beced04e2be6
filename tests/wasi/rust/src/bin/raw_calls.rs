//! The preview1 calls `std` does not expose, through the `wasi` crate: symlinks, renumbering,
//! descriptor flags, advice and allocation, *_NOW timestamps, fd_readdir with cookies, and
//! poll_oneoff on a file mixed with a clock.

use wasi::{
    FDFLAGS_APPEND, FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, FILETYPE_SYMBOLIC_LINK,
    LOOKUPFLAGS_SYMLINK_FOLLOW as FOLLOW, OFLAGS_CREAT, OFLAGS_DIRECTORY, OFLAGS_TRUNC,
};
use wasi_suite::{
    SANDBOX, SCRATCH, expect_eq, expect_raw, expect_true, finish, require, wasi_call,
};

const READ_WRITE: wasi::Rights = wasi::RIGHTS_FD_READ
    | wasi::RIGHTS_FD_WRITE
    | wasi::RIGHTS_FD_SEEK
    | wasi::RIGHTS_FD_TELL
    | wasi::RIGHTS_FD_FILESTAT_GET
    | wasi::RIGHTS_FD_FILESTAT_SET_TIMES
    | wasi::RIGHTS_FD_ADVISE
    | wasi::RIGHTS_FD_ALLOCATE
    | wasi::RIGHTS_FD_FDSTAT_SET_FLAGS
    | wasi::RIGHTS_POLL_FD_READWRITE;

fn open(dir: wasi::Fd, path: &str, oflags: wasi::Oflags, fdflags: wasi::Fdflags) -> wasi::Fd {
    require(
        path,
        wasi_call!(wasi::path_open(
            dir, FOLLOW, path, oflags, READ_WRITE, READ_WRITE, fdflags
        )),
    )
}

fn write(fd: wasi::Fd, bytes: &[u8]) -> Result<usize, wasi::Errno> {
    let iov = wasi::Ciovec {
        buf: bytes.as_ptr(),
        buf_len: bytes.len(),
    };
    wasi_call!(wasi::fd_write(fd, &[iov]))
}

fn pread_all(fd: wasi::Fd) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let iov = wasi::Iovec {
        buf: buf.as_mut_ptr(),
        buf_len: buf.len(),
    };
    let n = require("pread", wasi_call!(wasi::fd_pread(fd, &[iov], 0)));
    buf.truncate(n);
    buf
}

fn close(fd: wasi::Fd) {
    require("close", wasi_call!(wasi::fd_close(fd)));
}

fn symlinks() {
    expect_raw(
        "symlink",
        wasi_call!(wasi::path_symlink("nested/notes.md", SANDBOX, "data/n")),
        "SUCCESS",
    );
    let stat = require(
        "stat",
        wasi_call!(wasi::path_filestat_get(SANDBOX, 0, "data/n")),
    );
    expect_eq(
        "its type",
        stat.filetype.raw(),
        FILETYPE_SYMBOLIC_LINK.raw(),
    );
    let stat = require(
        "stat",
        wasi_call!(wasi::path_filestat_get(SANDBOX, FOLLOW, "data/n")),
    );
    expect_eq(
        "its target's type",
        stat.filetype.raw(),
        FILETYPE_REGULAR_FILE.raw(),
    );
    expect_eq("its target's size", stat.size, 35);
    let mut buf = [0u8; 32];
    let n = expect_raw(
        "readlink",
        wasi_call!(wasi::path_readlink(
            SANDBOX,
            "data/n",
            buf.as_mut_ptr(),
            buf.len()
        )),
        "SUCCESS",
    )
    .unwrap_or(0);
    expect_eq(
        "its target",
        String::from_utf8_lossy(&buf[..n]),
        "nested/notes.md".into(),
    );
    expect_raw(
        "symlink over an existing name",
        wasi_call!(wasi::path_symlink("x", SANDBOX, "data/n")),
        "EXIST",
    );
    expect_raw(
        "open a symlink loop",
        wasi_call!(wasi::path_open(SANDBOX, FOLLOW, "links/loop-b", 0, 0, 0, 0)),
        "LOOP",
    );
    expect_raw(
        "open dot-dot past the root",
        wasi_call!(wasi::path_open(SANDBOX, 0, "data/../..", 0, 0, 0, 0)),
        "PERM",
    );
}

fn descriptors() {
    let a = open(SCRATCH, "a.txt", OFLAGS_CREAT, 0);
    let b = open(SCRATCH, "b.txt", OFLAGS_CREAT, 0);
    require("write a", write(a, b"aaa"));
    require("write b", write(b, b"bbb"));
    expect_raw(
        "renumber a onto b",
        wasi_call!(wasi::fd_renumber(a, b)),
        "SUCCESS",
    );
    expect_raw("write through b", write(b, b"+"), "SUCCESS");
    expect_raw("a is closed", write(a, b"x"), "BADF");
    expect_eq(
        "b now writes a.txt",
        String::from_utf8_lossy(&pread_all(b)),
        "aaa+".into(),
    );
    close(b);

    let fd = open(SCRATCH, "a.txt", 0, 0);
    let stat = require("fdstat", wasi_call!(wasi::fd_fdstat_get(fd)));
    expect_eq("fdstat flags", stat.fs_flags, 0);
    expect_eq(
        "fdstat type",
        stat.fs_filetype.raw(),
        FILETYPE_REGULAR_FILE.raw(),
    );
    expect_raw(
        "set APPEND",
        wasi_call!(wasi::fd_fdstat_set_flags(fd, FDFLAGS_APPEND)),
        "SUCCESS",
    );
    expect_raw("write in append mode", write(fd, b"!"), "SUCCESS");
    expect_eq(
        "appended",
        String::from_utf8_lossy(&pread_all(fd)),
        "aaa+!".into(),
    );
    expect_raw(
        "advise WILLNEED",
        wasi_call!(wasi::fd_advise(fd, 0, 5, wasi::ADVICE_WILLNEED)),
        "SUCCESS",
    );
    expect_raw(
        "advise DONTNEED",
        wasi_call!(wasi::fd_advise(fd, 0, 0, wasi::ADVICE_DONTNEED)),
        "SUCCESS",
    );
    expect_raw(
        "allocate",
        wasi_call!(wasi::fd_allocate(fd, 0, 4096)),
        "NOTSUP",
    );
    expect_raw("tell", wasi_call!(wasi::fd_tell(fd)), "SUCCESS");
    expect_raw(
        "seek to -1",
        wasi_call!(wasi::fd_seek(fd, -1, wasi::WHENCE_SET)),
        "INVAL",
    );
    expect_raw(
        "seek to 2",
        wasi_call!(wasi::fd_seek(fd, 2, wasi::WHENCE_SET)),
        "SUCCESS",
    );
    expect_eq(
        "tell after it",
        require("tell", wasi_call!(wasi::fd_tell(fd))),
        2,
    );
    close(fd);
    expect_raw("close twice", wasi_call!(wasi::fd_close(fd)), "BADF");
}

fn now_times() {
    let fd = open(SCRATCH, "t.txt", OFLAGS_CREAT | OFLAGS_TRUNC, 0);
    let old = 1_000_000_000_000_000_000;
    expect_raw(
        "set old times",
        wasi_call!(wasi::fd_filestat_set_times(
            fd,
            old,
            old,
            wasi::FSTFLAGS_ATIM | wasi::FSTFLAGS_MTIM
        )),
        "SUCCESS",
    );
    let before = require(
        "clock",
        wasi_call!(wasi::clock_time_get(wasi::CLOCKID_REALTIME, 1)),
    );
    expect_raw(
        "path set MTIM_NOW",
        wasi_call!(wasi::path_filestat_set_times(
            SCRATCH,
            0,
            "t.txt",
            0,
            0,
            wasi::FSTFLAGS_MTIM_NOW
        )),
        "SUCCESS",
    );
    let stat = require("fstat", wasi_call!(wasi::fd_filestat_get(fd)));
    let after = require(
        "clock",
        wasi_call!(wasi::clock_time_get(wasi::CLOCKID_REALTIME, 1)),
    );
    expect_eq("atim untouched", stat.atim, old);
    let second = 1_000_000_000;
    expect_true(
        "mtim is now",
        stat.mtim + second >= before && stat.mtim <= after + second,
    );
    expect_raw(
        "MTIM and MTIM_NOW together",
        wasi_call!(wasi::fd_filestat_set_times(
            fd,
            0,
            0,
            wasi::FSTFLAGS_MTIM | wasi::FSTFLAGS_MTIM_NOW
        )),
        "INVAL",
    );
    close(fd);
}

/// Entries of `dir` read `per_call` bytes at a time, following `d_next` cookies.
fn readdir_names(dir: wasi::Fd, per_call: usize) -> Vec<(String, wasi::Filetype)> {
    let mut names = Vec::new();
    let mut buf = vec![0u8; per_call];
    let mut cookie = 0;
    loop {
        let used = require(
            "fd_readdir",
            wasi_call!(wasi::fd_readdir(dir, buf.as_mut_ptr(), buf.len(), cookie)),
        );
        let mut at = 0;
        let header = size_of::<wasi::Dirent>();
        let mut whole = 0;
        while at + header <= used {
            // SAFETY: `at + header <= used <= buf.len()`; read_unaligned allows any address.
            let dirent = unsafe { buf.as_ptr().add(at).cast::<wasi::Dirent>().read_unaligned() };
            let end = at + header + dirent.d_namlen as usize;
            if end > used {
                break;
            }
            names.push((
                String::from_utf8_lossy(&buf[at + header..end]).into_owned(),
                dirent.d_type,
            ));
            cookie = dirent.d_next;
            at = end;
            whole += 1;
        }
        if used < buf.len() {
            return names;
        }
        if whole == 0 {
            println!("FAIL fd_readdir: a {per_call}-byte buffer holds no whole entry");
            return names;
        }
    }
}

fn readdir() {
    let rights = wasi::RIGHTS_FD_READDIR;
    let dir = require(
        "open data",
        wasi_call!(wasi::path_open(
            SANDBOX,
            0,
            "data",
            OFLAGS_DIRECTORY,
            rights,
            rights,
            0
        )),
    );
    let mut small = readdir_names(dir, 40);
    let mut large = readdir_names(dir, 4096);
    small.sort();
    large.sort();
    expect_true(
        "a 40-byte buffer and a 4096-byte one list the same",
        small == large,
    );
    let listing: Vec<String> = large
        .iter()
        .map(|(name, kind)| {
            let tag = match *kind {
                FILETYPE_DIRECTORY => "/",
                FILETYPE_SYMBOLIC_LINK => "@",
                _ => "",
            };
            format!("{name}{tag}")
        })
        .collect();
    expect_eq(
        "entries of data",
        listing.join(" "),
        "./ ../ n@ nested/ numbers.txt".into(),
    );
    close(dir);
}

fn poll() {
    let fd = open(SANDBOX, "hello.txt", 0, 0);
    let subs = [
        wasi::Subscription {
            userdata: 1,
            u: wasi::SubscriptionU {
                tag: wasi::EVENTTYPE_FD_READ.raw(),
                u: wasi::SubscriptionUU {
                    fd_read: wasi::SubscriptionFdReadwrite {
                        file_descriptor: fd,
                    },
                },
            },
        },
        wasi::Subscription {
            userdata: 2,
            u: wasi::SubscriptionU {
                tag: wasi::EVENTTYPE_CLOCK.raw(),
                u: wasi::SubscriptionUU {
                    clock: wasi::SubscriptionClock {
                        id: wasi::CLOCKID_MONOTONIC,
                        timeout: 10_000_000_000,
                        precision: 0,
                        flags: 0,
                    },
                },
            },
        },
    ];
    // SAFETY: Event is plain data (integers); all zeros is a valid value.
    let mut events: [wasi::Event; 2] = unsafe { std::mem::zeroed() };
    let start = require(
        "clock",
        wasi_call!(wasi::clock_time_get(wasi::CLOCKID_MONOTONIC, 1)),
    );
    let n = expect_raw(
        "poll a file and a 10 s clock",
        wasi_call!(wasi::poll_oneoff(
            subs.as_ptr(),
            events.as_mut_ptr(),
            subs.len()
        )),
        "SUCCESS",
    )
    .unwrap_or(0);
    let end = require(
        "clock",
        wasi_call!(wasi::clock_time_get(wasi::CLOCKID_MONOTONIC, 1)),
    );
    expect_eq("events", n, 1);
    expect_eq("the file's event", events[0].userdata, 1);
    expect_eq(
        "its type",
        events[0].type_.raw(),
        wasi::EVENTTYPE_FD_READ.raw(),
    );
    expect_true("no wait for the clock", end - start < 5_000_000_000);
    close(fd);
}

fn main() {
    symlinks();
    descriptors();
    now_times();
    readdir();
    poll();
    finish()
}
