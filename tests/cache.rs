//! The cache of compiled objects, through the real `mewz` as a user drives it: a second
//! compile or run comes from the cache, the same object; a corrupt entry is found and rebuilt;
//! builders at the same time and a writer killed at any moment never leave a bad entry; a
//! cache directory that cannot be used is a warning, never a failed build. All on the hosted
//! target (no QEMU), each test with a cache directory of its own.

mod common;

use common::MEWZ;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A directory of its own for one test (its cache lives in `<dir>/xdg/mewz`).
fn work_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cache")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `mewz ARGS` with the cache in `cache_home` (XDG_CACHE_HOME), run in `dir`.
fn mewz_in(dir: &Path, cache_home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(MEWZ)
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", cache_home)
        .env_remove("MEWZ_CACHE_SIZE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("starting mewz")
}

fn mewz(dir: &Path, args: &[&str]) -> Output {
    mewz_in(dir, &dir.join("xdg"), args, &[])
}

fn ok(out: &Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert!(out.status.success(), "{what}: {:?}: {err}", out.status);
    err
}

/// A module that writes "cached hello\n" and exits with 7, with `extra` more functions
/// (that make it slower to compile) and its names in a name section.
fn app(dir: &Path, name: &str, extra: usize) -> PathBuf {
    let mut wat = String::from(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "cached hello\n")
  (func $main (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 7)))
"#,
    );
    for i in 0..extra {
        // A loop over memory with some arithmetic: real work for the optimiser.
        wat.push_str(&format!(
            r#"  (func $work{i} (export "work{i}") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (i32.mul (local.get 1) (i32.const {m}))
                            (i32.load offset={o} (i32.and (local.get 0) (i32.const 4092)))))
      (i32.store offset={o} (i32.and (local.get 1) (i32.const 4092)) (local.get 0))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l (local.get 0)))
    (i32.xor (local.get 1) (i32.const {i})))
"#,
            m = 2 * i + 3,
            o = 4 * (i % 64)
        ));
    }
    wat.push(')');
    common::wat2wasm(dir, name, &wat, &["--debug-names"])
}

fn objects(cache_home: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache_home.join("mewz/objects")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn compile(dir: &Path, wasm: &Path, output: &str, more: &[&str]) -> Output {
    let mut args = vec!["compile", "--target", "host", "-o", output];
    args.extend_from_slice(more);
    args.push(wasm.to_str().unwrap());
    mewz(dir, &args)
}

#[test]
fn a_second_compile_comes_from_the_cache_and_is_the_same_object() {
    let dir = work_dir("second-compile");
    let wasm = app(&dir, "app", 4);
    let first = ok(&compile(&dir, &wasm, "first.o", &[]), "first compile");
    assert!(first.contains("(validate"), "{first}");
    let second = ok(&compile(&dir, &wasm, "second.o", &[]), "second compile");
    assert!(second.contains("(cached)"), "{second}");
    assert_eq!(
        std::fs::read(dir.join("first.o")).unwrap(),
        std::fs::read(dir.join("second.o")).unwrap()
    );
    assert_eq!(objects(&dir.join("xdg")).len(), 1);

    // Another option that changes code is another entry; --no-cache neither reads nor writes.
    ok(&compile(&dir, &wasm, "o1.o", &["--opt-level", "1"]), "-O1");
    assert_eq!(objects(&dir.join("xdg")).len(), 2);
    let uncached = ok(
        &compile(&dir, &wasm, "third.o", &["--no-cache"]),
        "--no-cache",
    );
    assert!(!uncached.contains("cached"), "{uncached}");
    assert_eq!(objects(&dir.join("xdg")).len(), 2);

    let where_ = text(&mewz(&dir, &["cache", "dir"]).stdout);
    assert_eq!(where_.trim(), dir.join("xdg/mewz").to_str().unwrap());
    let size = text(&mewz(&dir, &["cache", "size"]).stdout);
    assert!(size.contains(" in 2 objects (limit 2 GiB"), "{size}");
    let cleaned = text(&mewz(&dir, &["cache", "clean"]).stdout);
    assert!(cleaned.starts_with("removed 2 objects"), "{cleaned}");
    assert!(objects(&dir.join("xdg")).is_empty());
    let size = text(&mewz(&dir, &["cache", "size"]).stdout);
    assert!(size.starts_with("0 B in 0 objects"), "{size}");
}

#[test]
fn a_second_run_on_the_host_uses_the_linked_executable() {
    let dir = work_dir("second-run");
    let wasm = app(&dir, "app", 0);
    let wasm = wasm.to_str().unwrap();
    for round in 0..2 {
        let out = mewz(&dir, &["run", "-v", "--target", "host", wasm]);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "cached hello\n");
        let cached = text(&out.stderr).contains("(cached hosted executable)");
        assert_eq!(cached, round == 1, "round {round}: {}", text(&out.stderr));
    }
    // Code for another CPU is another entry, cached in turn.
    let cpu = if cfg!(target_arch = "aarch64") {
        "neoverse-n1"
    } else {
        "x86-64-v2"
    };
    for round in 0..2 {
        let out = mewz(&dir, &["run", "-v", "--cpu", cpu, "--target", "host", wasm]);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
        let cached = text(&out.stderr).contains("(cached hosted executable)");
        assert_eq!(
            cached,
            round == 1,
            "--cpu, round {round}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_corrupt_or_truncated_entry_is_found_and_compiled_again() {
    let dir = work_dir("corrupt");
    let wasm = app(&dir, "app", 2);
    ok(&compile(&dir, &wasm, "good.o", &[]), "first compile");
    let good = std::fs::read(dir.join("good.o")).unwrap();
    let entry = objects(&dir.join("xdg")).pop().unwrap();
    let whole = std::fs::read(&entry).unwrap();
    let mut flipped = whole.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    for damaged in [&whole[..whole.len() / 2], &flipped[..], b""] {
        std::fs::write(&entry, damaged).unwrap();
        let err = ok(
            &compile(&dir, &wasm, "again.o", &[]),
            "compile over a bad entry",
        );
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{err}");
        assert!(warnings[0].contains("corrupt"), "{err}");
        assert_eq!(std::fs::read(dir.join("again.o")).unwrap(), good);
        // Rebuilt: the next compile is served whole, without a warning.
        let err = ok(&compile(&dir, &wasm, "third.o", &[]), "compile after");
        assert!(
            err.contains("(cached)") && !err.contains("warning"),
            "{err}"
        );
        assert_eq!(std::fs::read(dir.join("third.o")).unwrap(), good);
    }
}

#[test]
fn builders_at_the_same_time_share_one_whole_entry() {
    let dir = work_dir("concurrent");
    let wasm = app(&dir, "app", 16);
    let builders: Vec<_> = (0..4)
        .map(|i| {
            Command::new(MEWZ)
                .args(["compile", "--target", "host", "-o", &format!("out{i}.o")])
                .arg(&wasm)
                .current_dir(&dir)
                .env("XDG_CACHE_HOME", dir.join("xdg"))
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for builder in builders {
        let out = builder.wait_with_output().unwrap();
        let err = ok(&out, "a concurrent builder");
        assert!(!err.contains("warning"), "{err}");
    }
    let first = std::fs::read(dir.join("out0.o")).unwrap();
    for i in 1..4 {
        assert_eq!(std::fs::read(dir.join(format!("out{i}.o"))).unwrap(), first);
    }
    let left = objects(&dir.join("xdg"));
    assert_eq!(left.len(), 1, "one entry and no temporary files: {left:?}");
    let err = ok(&compile(&dir, &wasm, "after.o", &[]), "compile after");
    assert!(err.contains("(cached)"), "{err}");
    assert_eq!(std::fs::read(dir.join("after.o")).unwrap(), first);
}

#[test]
fn a_writer_killed_at_any_moment_leaves_no_bad_entry() {
    let dir = work_dir("killed");
    let wasm = app(&dir, "app", 16);
    let reference = ok(
        &compile(&dir, &wasm, "reference.o", &["--no-cache"]),
        "reference",
    );
    let reference_bytes = std::fs::read(dir.join("reference.o")).unwrap();
    // How long a compile takes here: the kills are spread over it, the last ones around its
    // end, when the entry is written.
    let took: f64 = reference
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    for step in 1..=4 {
        let _ = std::fs::remove_dir_all(dir.join("xdg"));
        let mut writer = Command::new(MEWZ)
            .args(["compile", "--target", "host", "-o", "killed.o"])
            .arg(&wasm)
            .current_dir(&dir)
            .env("XDG_CACHE_HOME", dir.join("xdg"))
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(took * (0.1 + 0.3 * step as f64)));
        let _ = writer.kill();
        let _ = writer.wait();
        let err = ok(
            &compile(&dir, &wasm, "after.o", &[]),
            "compile after a kill",
        );
        assert!(!err.contains("warning"), "after kill {step}: {err}");
        assert_eq!(
            std::fs::read(dir.join("after.o")).unwrap(),
            reference_bytes,
            "after kill {step}"
        );
    }
}

#[test]
fn a_cache_directory_that_cannot_be_used_is_a_warning_not_a_failure() {
    let dir = work_dir("unusable");
    let wasm = app(&dir, "app", 0);
    let wasm = wasm.to_str().unwrap();
    let a_file = dir.join("a-file");
    std::fs::write(&a_file, b"").unwrap();
    // /proc takes no new directories, not even from root; a path through a file cannot exist.
    let homes = [PathBuf::from("/proc/mewz-cache"), a_file.join("cache")];
    for home in &homes {
        let out = mewz_in(&dir, home, &["run", "--target", "host", wasm], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{}: {err}", home.display());
        assert_eq!(text(&out.stdout), "cached hello\n");
        assert_eq!(err.lines().count(), 1, "{}: {err}", home.display());
        assert!(
            err.starts_with("mewz: warning: cache ") && err.contains("not caching"),
            "{err}"
        );
    }
    // A size limit that is not a size: a warning, and the default limit.
    let out = mewz_in(
        &dir,
        &dir.join("xdg"),
        &["compile", "--target", "host", "-o", "x.o", wasm],
        &[("MEWZ_CACHE_SIZE", "lots")],
    );
    let err = ok(&out, "MEWZ_CACHE_SIZE=lots");
    assert!(err.contains("warning: MEWZ_CACHE_SIZE"), "{err}");
}

#[test]
fn past_the_size_limit_the_entry_used_longest_ago_goes() {
    let dir = work_dir("limit");
    let (a, b) = (app(&dir, "a", 1), app(&dir, "b", 2));
    let home = dir.join("xdg");
    let compile_with_limit = |wasm: &Path, limit: &str| {
        let out = mewz_in(
            &dir,
            &home,
            &[
                "compile",
                "--target",
                "host",
                "-o",
                "x.o",
                wasm.to_str().unwrap(),
            ],
            &[("MEWZ_CACHE_SIZE", limit)],
        );
        ok(&out, "compile with a limit")
    };
    compile_with_limit(&a, "2G");
    let entry_bytes = std::fs::metadata(&objects(&home)[0]).unwrap().len();
    // Room for one entry and a half: storing b evicts a.
    let limit = (entry_bytes * 3 / 2).to_string();
    compile_with_limit(&b, &limit);
    assert_eq!(objects(&home).len(), 1);
    let again = compile_with_limit(&b, &limit);
    assert!(again.contains("(cached)"), "{again}");
    let evicted = compile_with_limit(&a, &limit);
    assert!(!evicted.contains("(cached)"), "{evicted}");
}

#[test]
fn timings_name_passes_and_functions() {
    let dir = work_dir("timings");
    let wasm = app(&dir, "app", 3);
    for _ in 0..2 {
        // Also when the object is cached: --timings compiles.
        let err = ok(&compile(&dir, &wasm, "t.o", &["--timings"]), "--timings");
        for needle in ["load analysis", "InstCombinePass", " work2  (translate"] {
            assert!(err.contains(needle), "{needle:?} missing: {err}");
        }
    }
}
