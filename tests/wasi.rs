//! The WASI preview1 conformance suite (`tests/wasi/`): programs in C and Rust that check the
//! file and directory calls from inside the guest, one line per check. Each runs under
//! wasmtime and under `mewz run` on the hosted target and on every architecture in
//! `MEWZ_TEST_ARCHES`, each time on a fresh copy of the fixture preopened as `/sandbox` (fd 3)
//! next to an empty `/scratch` (fd 4). Exit status, stdout and stderr (empty) must equal
//! wasmtime's; stdout ends with a dump of both trees, so the resulting trees are compared too.
//! Under wasmtime, which writes through to the host, the dump must also match the real
//! directories.

mod common;

use common::{MEWZ, once_per_run, root, targets, text, tool, utf8};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A program's run is stopped after this long on any runtime (QEMU runs: `mewz --timeout`).
const TIMEOUT_SECS: u64 = 300;

fn suite() -> PathBuf {
    root().join("tests/wasi")
}

/// The suite's programs, built once per test run by `tests/wasi/build.sh`.
fn programs() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasi-suite");
    once_per_run("tests/wasi/build.sh", || {
        tool("bash", &[utf8(&suite().join("build.sh")), utf8(&out)]);
    });
    out
}

/// Copies a tree, keeping symlinks as symlinks (their targets unresolved).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A fresh pair of preopened directories for one run: the fixture, plus what git cannot hold
/// (an empty directory), and an empty scratch directory.
struct Preopens {
    _dir: tempfile::TempDir,
    sandbox: PathBuf,
    scratch: PathBuf,
}

impl Preopens {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (sandbox, scratch) = (dir.path().join("sandbox"), dir.path().join("scratch"));
        copy_tree(&suite().join("fixture"), &sandbox);
        fs::create_dir(sandbox.join("empty-dir")).unwrap();
        fs::create_dir(&scratch).unwrap();
        Preopens {
            _dir: dir,
            sandbox,
            scratch,
        }
    }

    fn dir_args(&self) -> Vec<String> {
        vec![
            "--dir".into(),
            format!("{}::/sandbox", self.sandbox.display()),
            "--dir".into(),
            format!("{}::/scratch", self.scratch.display()),
        ]
    }
}

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to its end, or kills it after `TIMEOUT_SECS` (plus a margin for mewz's own).
fn run_bounded(mut cmd: Command, who: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{who}: cannot start: {e}"));
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).map(|_| s)
    });
    let stderr = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(TIMEOUT_SECS + 60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("{who}: still running after {TIMEOUT_SECS} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status: status.code(),
        stdout: text(&stdout.join().unwrap().unwrap()),
        stderr: text(&stderr.join().unwrap().unwrap()),
    }
}

/// Runs a program on `target` ("wasmtime", "host", "x86_64", "aarch64") with the preopens.
fn run(target: &str, wasm: &Path, preopens: &Preopens) -> Run {
    let mut cmd = if target == "wasmtime" {
        let mut c = Command::new(root().join(".tools/bin/wasmtime"));
        c.args(["run", "-W", &format!("timeout={TIMEOUT_SECS}s")]);
        c
    } else {
        let mut c = Command::new(MEWZ);
        c.args([
            "run",
            "--timeout",
            &TIMEOUT_SECS.to_string(),
            "--target",
            target,
        ]);
        c
    };
    cmd.args(preopens.dir_args())
        .current_dir(wasm.parent().unwrap())
        .arg(wasm.file_name().unwrap());
    run_bounded(cmd, &format!("{} on {target}", wasm.display()))
}

/// The dump the guest prints, made from a host directory: the same lines, same order. An
/// absolute symlink prints `(readlink: PERM)`, since wasmtime refuses to read those.
fn host_dump(dir: &Path, guest: &str, rel: &str, out: &mut String) {
    let mut names: Vec<String> = fs::read_dir(dir.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&child);
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push_str(&format!("tree {guest}: d {child}\n"));
            host_dump(dir, guest, &child, out);
        } else if meta.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            if target.is_absolute() {
                out.push_str(&format!("tree {guest}: l {child} (readlink: PERM)\n"));
            } else {
                out.push_str(&format!(
                    "tree {guest}: l {child} -> {}\n",
                    target.display()
                ));
            }
        } else if meta.is_file() {
            let bytes = fs::read(&path).unwrap();
            assert_eq!(bytes.len() as u64, meta.size());
            let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
            out.push_str(&format!(
                "tree {guest}: f {child} {} fnv1a64={hash:016x}\n",
                bytes.len()
            ));
        } else {
            out.push_str(&format!("tree {guest}: ? {child}\n"));
        }
    }
}

fn tree_lines(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.starts_with("tree /"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The lines only one of two outputs has (a multiset difference, in each output's order),
/// at most 30 a side: with one check per line this names every disagreement.
fn differing_lines(want: &str, got: &str) -> String {
    fn only_in<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
        let mut others: Vec<&str> = b.lines().collect();
        a.lines()
            .filter(|line| match others.iter().position(|o| o == line) {
                Some(i) => {
                    others.swap_remove(i);
                    false
                }
                None => true,
            })
            .take(30)
            .collect()
    }
    format!(
        "lines only wasmtime printed:\n    {}\n  lines only mewz printed:\n    {}",
        only_in(want, got).join("\n    "),
        only_in(got, want).join("\n    ")
    )
}

/// Runs one program everywhere and compares.
fn conformance(program: &str) {
    let wasm = programs().join(format!("wasi-{program}.wasm"));
    assert!(wasm.is_file(), "{} was not built", wasm.display());

    let preopens = Preopens::new();
    let reference = run("wasmtime", &wasm, &preopens);
    assert_eq!(
        reference.status,
        Some(0),
        "{program} fails under wasmtime: the suite must pass there first:\n{}{}",
        reference.stdout,
        reference.stderr
    );
    assert!(
        reference.stdout.ends_with("PASSED: 0 failed\n"),
        "{program}: no verdict line under wasmtime:\n{}",
        reference.stdout
    );
    let mut on_host = String::new();
    host_dump(&preopens.sandbox, "/sandbox", "", &mut on_host);
    host_dump(&preopens.scratch, "/scratch", "", &mut on_host);
    assert_eq!(
        tree_lines(&reference.stdout),
        on_host,
        "{program}: the guest's tree dump under wasmtime differs from the real directories"
    );

    let mut failures = Vec::new();
    for target in targets() {
        let preopens = Preopens::new();
        let out = run(&target, &wasm, &preopens);
        if out.status != reference.status
            || out.stdout != reference.stdout
            || out.stderr != reference.stderr
        {
            failures.push(format!(
                "{program} on {target}: exit {:?} (wasmtime {:?})\n  {}\n  stderr: {}",
                out.status,
                reference.status,
                differing_lines(&reference.stdout, &out.stdout),
                out.stderr.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn preopens_agree_with_wasmtime() {
    conformance("preopens");
}

#[test]
fn path_resolution_agrees_with_wasmtime() {
    conformance("paths");
}

#[test]
fn open_flags_and_rights_agree_with_wasmtime() {
    conformance("open_flags");
}

#[test]
fn descriptor_io_agrees_with_wasmtime() {
    conformance("fd_io");
}

#[test]
fn directory_tree_calls_agree_with_wasmtime() {
    conformance("dirs");
}

#[test]
fn stat_and_timestamps_agree_with_wasmtime() {
    conformance("stat_times");
}

#[test]
fn poll_on_files_agrees_with_wasmtime() {
    conformance("poll");
}

#[test]
fn rust_std_fs_agrees_with_wasmtime() {
    conformance("std_fs");
}

#[test]
fn rust_raw_calls_agree_with_wasmtime() {
    conformance("raw_calls");
}

/// Every program in the suite has a test above.
#[test]
fn every_program_has_a_test() {
    let here = fs::read_to_string(root().join("tests/wasi.rs")).unwrap();
    let sources = fs::read_dir(suite().join("c"))
        .unwrap()
        .chain(fs::read_dir(suite().join("rust/src/bin")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "rs")));
    for source in sources {
        let name = source.file_stem().unwrap().to_str().unwrap();
        assert!(
            here.contains(&format!("conformance(\"{name}\")")),
            "{} has no test in tests/wasi.rs",
            source.display()
        );
    }
}
