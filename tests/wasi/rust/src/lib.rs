//! Shared by the suite's Rust programs: one printed line per check (the same format as the C
//! programs' `suite.h`), a failure count that becomes the exit status, and the canonical tree
//! dump every program prints last.
//!
//! Preopens, as the harness gives them: fd 3 is /sandbox (a copy of the fixture), fd 4 is
//! /scratch (an empty directory).

use std::cell::Cell;
use std::fmt::Display;
use std::fs;
use std::io;
use std::path::Path;

pub const SANDBOX: wasi::Fd = 3;
pub const SCRATCH: wasi::Fd = 4;

/// Calls one function of the `wasi` crate.
#[macro_export]
macro_rules! wasi_call {
    ($call:expr) => {
        // SAFETY: the wasi crate's functions are unsafe only because they pass raw guest
        // pointers; every call here passes references to live buffers of the stated sizes.
        unsafe { $call }
    };
}

thread_local! {
    static FAILURES: Cell<u32> = const { Cell::new(0) };
}

const ERRNO_NAMES: [&str; 77] = [
    "SUCCESS",
    "2BIG",
    "ACCES",
    "ADDRINUSE",
    "ADDRNOTAVAIL",
    "AFNOSUPPORT",
    "AGAIN",
    "ALREADY",
    "BADF",
    "BADMSG",
    "BUSY",
    "CANCELED",
    "CHILD",
    "CONNABORTED",
    "CONNREFUSED",
    "CONNRESET",
    "DEADLK",
    "DESTADDRREQ",
    "DOM",
    "DQUOT",
    "EXIST",
    "FAULT",
    "FBIG",
    "HOSTUNREACH",
    "IDRM",
    "ILSEQ",
    "INPROGRESS",
    "INTR",
    "INVAL",
    "IO",
    "ISCONN",
    "ISDIR",
    "LOOP",
    "MFILE",
    "MLINK",
    "MSGSIZE",
    "MULTIHOP",
    "NAMETOOLONG",
    "NETDOWN",
    "NETRESET",
    "NETUNREACH",
    "NFILE",
    "NOBUFS",
    "NODEV",
    "NOENT",
    "NOEXEC",
    "NOLCK",
    "NOLINK",
    "NOMEM",
    "NOMSG",
    "NOPROTOOPT",
    "NOSPC",
    "NOSYS",
    "NOTCONN",
    "NOTDIR",
    "NOTEMPTY",
    "NOTRECOVERABLE",
    "NOTSOCK",
    "NOTSUP",
    "NOTTY",
    "NXIO",
    "OVERFLOW",
    "OWNERDEAD",
    "PERM",
    "PIPE",
    "PROTO",
    "PROTONOSUPPORT",
    "PROTOTYPE",
    "RANGE",
    "ROFS",
    "SPIPE",
    "SRCH",
    "STALE",
    "TIMEDOUT",
    "TXTBSY",
    "XDEV",
    "NOTCAPABLE",
];

/// The WASI name of an errno (`NOENT`), as the C programs print it.
pub fn errno_name(errno: u16) -> String {
    ERRNO_NAMES
        .get(usize::from(errno))
        .map_or_else(|| format!("errno {errno}"), |n| (*n).to_string())
}

/// What a std call gave: `SUCCESS` or the WASI errno behind its io::Error (on wasm32-wasip1,
/// `raw_os_error` is the WASI errno, which wasi-libc passes through).
pub fn outcome<T>(result: &io::Result<T>) -> String {
    match result {
        Ok(_) => "SUCCESS".into(),
        Err(e) => match e.raw_os_error() {
            Some(code) => errno_name(code as u16),
            None => format!("{:?}", e.kind()),
        },
    }
}

/// What a `wasi` crate call gave.
pub fn raw_outcome<T>(result: &Result<T, wasi::Errno>) -> String {
    match result {
        Ok(_) => "SUCCESS".into(),
        Err(e) => errno_name(e.raw()),
    }
}

fn fail() {
    FAILURES.with(|f| f.set(f.get() + 1));
}

/// A std call's outcome against the one wasmtime gives; returns the value when it succeeded.
pub fn expect<T>(what: &str, result: io::Result<T>, want: &str) -> Option<T> {
    let got = outcome(&result);
    if got == want {
        println!("ok   {what}: {got}");
    } else {
        println!("FAIL {what}: {got}, want {want}");
        fail();
    }
    result.ok()
}

/// A `wasi` crate call's outcome against wasmtime's.
pub fn expect_raw<T>(what: &str, result: Result<T, wasi::Errno>, want: &str) -> Option<T> {
    let got = raw_outcome(&result);
    if got == want {
        println!("ok   {what}: {got}");
    } else {
        println!("FAIL {what}: {got}, want {want}");
        fail();
    }
    result.ok()
}

/// A value the program computed.
pub fn expect_eq<T: PartialEq + Display>(what: &str, got: T, want: T) {
    if got == want {
        println!("ok   {what}: {got}");
    } else {
        println!("FAIL {what}: {got}, want {want}");
        fail();
    }
}

pub fn expect_true(what: &str, holds: bool) {
    println!("{} {what}", if holds { "ok  " } else { "FAIL" });
    if !holds {
        fail();
    }
}

/// A step the checks after it depend on: without it the program cannot go on.
pub fn require<T, E: std::fmt::Debug>(what: &str, result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| {
        println!("FAIL {what}: {e:?} (cannot go on)");
        std::process::exit(1)
    })
}

/// FNV-1a, 64 bits: the content hash of the tree dump (the same in C and in the harness).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Prints one line per entry below `guest` (a preopen's name), sorted by path, as the C
/// programs do: `d path`, `f path size fnv1a64=...`, `l path -> target`. A symlink whose
/// target cannot be read (wasmtime refuses absolute ones) prints the errno instead.
pub fn dump_tree(guest: &str) {
    dump_dir(Path::new(guest), guest, "");
}

fn dump_dir(root: &Path, guest: &str, rel: &str) {
    let dir = root.join(rel);
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| {
                require("readdir", e)
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(e) => {
            println!("tree {guest}: ? {rel} (opendir failed: {e})");
            fail();
            return;
        }
    };
    names.sort();
    for name in names {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = root.join(&child);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                println!("tree {guest}: ? {child} (stat failed: {e})");
                fail();
                continue;
            }
        };
        if meta.is_dir() {
            println!("tree {guest}: d {child}");
            dump_dir(root, guest, &child);
        } else if meta.is_symlink() {
            match fs::read_link(&path) {
                Ok(target) => println!("tree {guest}: l {child} -> {}", target.display()),
                Err(e) => println!(
                    "tree {guest}: l {child} (readlink: {})",
                    outcome::<()>(&Err(e))
                ),
            }
        } else if meta.is_file() {
            let bytes = require("read for the dump", fs::read(&path));
            println!(
                "tree {guest}: f {child} {} fnv1a64={:016x}",
                bytes.len(),
                fnv1a64(&bytes)
            );
        } else {
            println!("tree {guest}: ? {child}");
        }
    }
}

/// Prints both trees and the verdict; exits with the program's status.
pub fn finish() -> ! {
    dump_tree("/sandbox");
    dump_tree("/scratch");
    let failures = FAILURES.with(Cell::get);
    println!(
        "{}: {failures} failed",
        if failures > 0 { "FAILED" } else { "PASSED" }
    );
    std::process::exit(i32::from(failures > 0))
}
