//! The same-binary promise: one .wasm, unchanged, runs on the hosted target and as a unikernel
//! on every architecture, and prints what wasmtime prints, with the same exit status.
//!
//! Examples are built from source by `examples/build.sh`; architectures come from
//! `MEWZ_TEST_ARCHES` (default: both); wasmtime from `.tools/bin` (installed by ci/setup).

mod common;

use common::{MEWZ, examples, mewz, root, scratch, targets, text, wat2wasm};
use mewz_abi::{ExitCode, TrapCode};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs `wasm` with args and env on `target` (or under wasmtime for "wasmtime").
fn run(target: &str, wasm: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = if target == "wasmtime" {
        let mut c = Command::new(root().join(".tools/bin/wasmtime"));
        c.arg("run");
        for (k, v) in env {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c
    } else {
        let mut c = Command::new(MEWZ);
        c.args(["run", "--timeout", "300", "--target", target]);
        for (k, v) in env {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c
    };
    // Run from the examples directory so argv[0] is the bare file name everywhere.
    cmd.current_dir(wasm.parent().unwrap())
        .arg(wasm.file_name().unwrap())
        .args(args);
    cmd.stdin(Stdio::null())
        .output()
        .expect("starting the runner")
}

/// The lines that may differ between runs (the time and a random number), checked for shape
/// and then removed, so the rest can be compared byte for byte.
fn deterministic_part(stdout: &str, who: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut kept = String::new();
    for line in stdout.lines() {
        if let Some(t) = line.strip_prefix("time: ") {
            let secs: u64 = t
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("{who}: bad time line {line:?}"));
            assert!(
                secs.abs_diff(now) < 600,
                "{who}: clock is off: {secs} vs {now}"
            );
        } else if let Some(r) = line.strip_prefix("random: 0x") {
            assert_eq!(r.len(), 16, "{who}: bad random line {line:?}");
            assert_ne!(r, "0000000000000000", "{who}: random source gave zero");
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// `hello-LANGUAGE`, built by `examples/build.sh LANGUAGE`.
fn same_as_wasmtime(language: &str) {
    let example = format!("hello-{language}");
    let wasm = examples(language).join(format!("{example}.wasm"));
    let env = [("GREETING", "hello from the test")];
    let args = ["first", "two words", "3"];
    let reference = run("wasmtime", &wasm, &env, &args);
    let expected = deterministic_part(&text(&reference.stdout), "wasmtime");
    assert_eq!(
        reference.status.code(),
        Some(3),
        "wasmtime: {}",
        text(&reference.stderr)
    );
    assert!(
        expected.contains("argv[2]=two words") && expected.contains("GREETING=hello from the test"),
        "{expected}"
    );
    let mut randoms = Vec::new();
    for target in targets() {
        let out = run(&target, &wasm, &env, &args);
        let who = format!("{example} on {target}");
        assert_eq!(out.status.code(), Some(3), "{who}: {}", text(&out.stderr));
        assert_eq!(
            deterministic_part(&text(&out.stdout), &who),
            expected,
            "{who}: stdout differs from wasmtime's"
        );
        assert_eq!(text(&out.stderr), "", "{who}: unexpected stderr");
        randoms.extend(
            text(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("random:"))
                .map(str::to_owned),
        );
    }
    randoms.sort();
    randoms.dedup();
    assert_eq!(
        randoms.len(),
        targets().len(),
        "{example}: random numbers repeat across runs: {randoms:?}"
    );
}

#[test]
fn hello_c_runs_the_same_everywhere() {
    same_as_wasmtime("c");
}

#[test]
fn hello_rust_runs_the_same_everywhere() {
    same_as_wasmtime("rust");
}

#[test]
fn hello_go_runs_the_same_everywhere() {
    same_as_wasmtime("go");
}

#[test]
fn every_trap_kind_ends_the_app_with_its_name_and_134() {
    let traps = [
        ("unreachable", TrapCode::Unreachable),
        ("integer-divide-by-zero", TrapCode::IntegerDivideByZero),
        ("integer-overflow", TrapCode::IntegerOverflow),
        ("invalid-conversion", TrapCode::InvalidConversionToInteger),
        ("out-of-bounds-memory", TrapCode::OutOfBoundsMemoryAccess),
        ("undefined-element", TrapCode::UndefinedElement),
        ("uninitialized-element", TrapCode::UninitializedElement),
        (
            "indirect-call-type-mismatch",
            TrapCode::IndirectCallTypeMismatch,
        ),
        ("call-stack-exhausted", TrapCode::CallStackExhausted),
        ("out-of-bounds-table", TrapCode::OutOfBoundsTableAccess),
    ];
    for (file, code) in traps {
        let wasm = examples("traps").join(format!("trap-{file}.wasm"));
        let reference = run("wasmtime", &wasm, &[], &[]);
        assert_eq!(reference.status.code(), Some(134), "wasmtime on {file}");
        for target in targets() {
            let out = run(&target, &wasm, &[], &[]);
            let who = format!("{file} on {target}");
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(ExitCode::WASM_TRAP.0.into()),
                "{who}: {err}"
            );
            assert_eq!(
                err.lines().last(),
                Some(format!("wasm trap: {}", code.spec_name()).as_str()),
                "{who}: {err}"
            );
            assert_eq!(
                out.stdout, reference.stdout,
                "{who}: stdout differs from wasmtime's"
            );
        }
    }
}

/// A module written here, in the text format, turned into binary with wabt's wat2wasm.
fn wat_module(name: &str, wat: &str) -> PathBuf {
    // --no-check: some of these modules are invalid on purpose.
    wat2wasm(&scratch(&format!("wat/{name}")), name, wat, &["--no-check"])
}

#[test]
fn missing_imports_are_all_named_before_linking() {
    let wasm = wat_module(
        "missing-imports",
        r#"(module
             (import "wasi_snapshot_preview1" "no_such_call" (func (param i32) (result i32)))
             (import "env" "host_function" (func))
             (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (func (export "_start")))"#,
    );
    for arch in targets().iter().filter(|t| *t != "host") {
        let out = mewz(&[
            "build",
            "--target",
            arch,
            "-o",
            "/dev/null",
            wasm.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{arch}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.contains("wasi_snapshot_preview1.no_such_call")
                && last.contains("env.host_function"),
            "{arch}: {err}"
        );
        assert!(
            !last.contains("fd_write"),
            "{arch}: fd_write is provided: {err}"
        );
        assert!(
            !err.contains("ld.lld"),
            "{arch}: a raw linker error leaked: {err}"
        );
    }
}

#[test]
fn invalid_wasm_is_one_line_with_the_offset() {
    let dir = scratch("invalid");
    let truncated = dir.join("truncated.wasm");
    std::fs::write(&truncated, b"\0asm\x01\0\0\0\x01\x05\x01\x60").unwrap();
    let ill_typed = wat_module("ill-typed", "(module (func (result i32) (i64.const 1)))");
    for (wasm, needle) in [(&truncated, "offset"), (&ill_typed, "type mismatch")] {
        for target in targets() {
            let out = mewz(&["run", "--target", &target, wasm.to_str().unwrap()]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{target}: {err}");
            assert_eq!(err.lines().count(), 1, "{target}: not one line: {err}");
            assert!(err.contains(needle), "{target}: {err:?} lacks {needle:?}");
        }
    }
}

/// Where `bytes` last occur in `wasm`.
fn offset_of(wasm: &[u8], bytes: &[u8]) -> usize {
    wasm.windows(bytes.len())
        .rposition(|w| w == bytes)
        .unwrap_or_else(|| panic!("{bytes:x?} not in the module"))
}

/// A malformed or invalid SIMD module gets the validator's message and the offset of what is
/// wrong, and a module of a proposal after Wasm 2.0 (relaxed SIMD first) the proposal's name:
/// one line, exit status 1, no image, from `build` on every target and from `run`.
#[test]
fn bad_simd_and_later_proposals_are_one_line_with_the_offset() {
    let module = |wat: &str| wat::parse_str(wat).expect("the text parses");
    let func = |body: &str| module(&format!("(module (func (export \"_start\") {body}))"));
    let mut cases: Vec<(&str, Vec<u8>, String)> = Vec::new();
    let wasm = func("(drop (i32x4.extract_lane 0 (i32.const 1)))");
    let at = offset_of(&wasm, &[0xfd, 0x1b, 0]);
    let error = format!("invalid wasm at offset {at:#x}: type mismatch: expected v128, found i32");
    cases.push(("ill-typed", wasm, error));
    // A lane index past the shape's 4 lanes (the text format would not write it).
    let mut wasm = func("(drop (i32x4.extract_lane 3 (v128.const i64x2 0 0)))");
    let at = offset_of(&wasm, &[0xfd, 0x1b, 3]);
    wasm[at + 2] = 4;
    let error = format!("invalid wasm at offset {at:#x}: SIMD index out of bounds");
    cases.push(("lane-index", wasm, error));
    // Malformed: an opcode no SIMD instruction has, and a `v128.const` cut short.
    let header = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0".to_vec();
    let unknown = [&header[..], b"\x0a\x07\x01\x05\0\xfd\x90\x03\x0b"].concat();
    let error = format!(
        "invalid wasm at offset {:#x}: unknown 0xfd subopcode: 0x190",
        header.len() + 5
    );
    cases.push(("unknown-opcode", unknown, error));
    let cut = [&header[..], b"\x0a\x08\x01\x06\0\xfd\x0c\x01\x02\x0b"].concat();
    let e = wasmparser::Validator::new()
        .validate_all(&cut)
        .err()
        .expect("a v128.const cut short is malformed");
    assert_eq!(e.message(), "unexpected end-of-file");
    let error = format!("invalid wasm at offset {:#x}: {}", e.offset(), e.message());
    cases.push(("cut-v128-const", cut, error));
    let v = "(v128.const i64x2 0 0)";
    let wasm = func(&format!("(drop (f32x4.relaxed_madd {v} {v} {v}))"));
    let at = offset_of(&wasm, &[0xfd, 0x85, 0x02]);
    let error = format!("unsupported feature at offset {at:#x}: relaxed SIMD is not supported");
    cases.push(("relaxed-simd", wasm, error));
    for (name, wat, feature) in [
        ("threads", "(module (memory 1 1 shared))", "threads"),
        (
            "multi-memory",
            "(module (memory 1) (memory 1))",
            "multiple memories",
        ),
        (
            "tail-calls",
            "(module (func $f (return_call $f)))",
            "tail calls",
        ),
        (
            "exceptions",
            "(module (tag) (func (throw 0)))",
            "exceptions",
        ),
        ("memory64", "(module (memory i64 1))", "memory64"),
        (
            "extended-const",
            "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
            "extended constant expressions",
        ),
        ("gc", "(module (type (struct (field i32))))", "gc"),
    ] {
        cases.push((name, module(wat), format!("{feature} is not supported")));
    }
    let dir = scratch("bad-modules");
    for (name, wasm, error) in &cases {
        let path = dir.join(format!("{name}.wasm"));
        std::fs::write(&path, wasm).unwrap();
        let image = dir.join(format!("{name}.img"));
        let _ = std::fs::remove_file(&image);
        let mut commands: Vec<Command> = targets()
            .iter()
            .map(|target| {
                let mut c = Command::new(MEWZ);
                c.args(["build", "--target", target, "-o"]).arg(&image);
                c
            })
            .collect();
        let mut run = Command::new(MEWZ);
        run.args(["run", "--timeout", "30", "--target", "host"]);
        commands.push(run);
        for mut command in commands {
            let out = command.arg(&path).output().unwrap();
            let err = text(&out.stderr);
            let who = format!("{name} ({command:?})");
            assert_eq!(out.status.code(), Some(1), "{who}: {err}");
            assert_eq!(err.lines().count(), 1, "{who}: not one line: {err}");
            let line = err.trim_end();
            let prefix = format!("mewz: {}: ", path.display());
            assert!(
                line.starts_with(&prefix) && line.ends_with(error.as_str()),
                "{who}: {line:?}, expected {error:?}"
            );
            if error.ends_with("is not supported") {
                assert!(
                    line.contains("unsupported feature at offset 0x"),
                    "{who}: {line}"
                );
            }
            assert!(!image.exists(), "{who}: an image was written");
        }
    }
}

#[test]
fn memory_cap_stops_memory_grow_on_every_target() {
    // Grows to exactly 2 MiB, then asks for one page more: exit 42 if that is refused, 2 if not.
    let wasm = wat_module(
        "grow-to-cap",
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start")
               (if (i32.ne (memory.grow (i32.const 31)) (i32.const 1)) (then (call $exit (i32.const 1))))
               (i32.store (i32.const 2097148) (i32.const 7))
               (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then (call $exit (i32.const 2))))
               (call $exit (i32.const 42))))"#,
    );
    for target in targets() {
        let wasm = wasm.to_str().unwrap();
        let capped = mewz(&["run", "--target", &target, "--memory", "2M", wasm]);
        assert_eq!(
            capped.status.code(),
            Some(42),
            "{target} with --memory 2M: {}",
            text(&capped.stderr)
        );
        let free = mewz(&["run", "--target", &target, wasm]);
        assert_eq!(
            free.status.code(),
            Some(2),
            "{target} without a cap: {}",
            text(&free.stderr)
        );
    }
}

#[test]
fn hostile_guest_pointers_get_efault_not_a_fault() {
    // Each call gets a pointer or length that leaves the 1-page memory; each must return
    // EFAULT (21). The exit status has bit N set when call N did.
    let wasm = wat_module(
        "hostile-pointers",
        r#"(module
             (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
             (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
             (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
             (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func $bit (param $errno i32) (param $n i32) (result i32)
               (select (i32.shl (i32.const 1) (local.get $n)) (i32.const 0) (i32.eq (local.get $errno) (i32.const 21))))
             (func (export "_start")
               (local $r i32)
               ;; iovec array far outside memory
               (local.set $r (call $bit (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 1) (i32.const 0)) (i32.const 0)))
               ;; a valid iovec whose buffer runs past the end of memory
               (i32.store (i32.const 0) (i32.const 65000))
               (i32.store (i32.const 4) (i32.const 1000))
               (local.set $r (i32.or (local.get $r)
                 (call $bit (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)) (i32.const 1))))
               ;; result pointer straddling the end
               (local.set $r (i32.or (local.get $r)
                 (call $bit (call $args_sizes (i32.const 65534) (i32.const 16)) (i32.const 2))))
               ;; length wrapping around 2^32
               (local.set $r (i32.or (local.get $r)
                 (call $bit (call $random (i32.const 16) (i32.const 0xfffffff8)) (i32.const 3))))
               (local.set $r (i32.or (local.get $r)
                 (call $bit (call $clock (i32.const 0) (i64.const 1) (i32.const 65532)) (i32.const 4))))
               (call $exit (local.get $r))))"#,
    );
    for target in targets() {
        let out = mewz(&["run", "--target", &target, wasm.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0b11111),
            "{target}: {}",
            text(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "{target}: wrote despite EFAULT: {:?}",
            text(&out.stdout)
        );
    }
}

/// How many SIMD instructions the code of `wasm` holds (wabt's disassembly).
fn simd_instructions(wasm: &Path) -> usize {
    let out = Command::new("wasm-objdump")
        .arg("-d")
        .arg(wasm)
        .output()
        .expect("running wasm-objdump");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shapes = [
        "v128.", "i8x16.", "i16x8.", "i32x4.", "i64x2.", "f32x4.", "f64x2.",
    ];
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split("| ").nth(1))
        .filter(|i| shapes.iter().any(|s| i.trim_start().starts_with(s)))
        .count()
}

/// A Rust program built with wasm SIMD (`+simd128`: BLAKE3's hand-written SIMD code and loops
/// the compiler vectorised) prints what its scalar build prints, and what wasmtime prints, on
/// every target. (The scalar build, whose code the other tests cover, runs on the host only:
/// each build takes mewz some 8 s to compile.)
#[test]
fn simd_rust_prints_what_its_scalar_build_and_wasmtime_print() {
    let simd = examples("simd").join("simd-rust.wasm");
    let scalar = examples("simd").join("simd-rust-scalar.wasm");
    let vector_code = simd_instructions(&simd);
    assert!(vector_code >= 100, "only {vector_code} SIMD instructions");
    assert_eq!(simd_instructions(&scalar), 0);
    let args = ["hash", "2", "filter", "160", "2"];
    let reference = run("wasmtime", &simd, &[], &args);
    let expected = text(&reference.stdout);
    assert_eq!(
        reference.status.code(),
        Some(0),
        "{}",
        text(&reference.stderr)
    );
    assert!(
        expected.starts_with("blake3 of 2 MiB: ") && expected.contains("filter 160x160, 2 blurs: "),
        "{expected}"
    );
    assert_eq!(text(&run("wasmtime", &scalar, &[], &args).stdout), expected);
    let runs = targets()
        .into_iter()
        .map(|t| (t, &simd))
        .chain([("host".to_string(), &scalar)]);
    for (target, wasm) in runs {
        let out = run(&target, wasm, &[], &args);
        let who = format!("{} on {target}", wasm.display());
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            expected,
            "{who}: stdout differs from wasmtime's"
        );
        assert_eq!(text(&out.stderr), "", "{who}: unexpected stderr");
    }
    // A CPU with more than the baseline: AVX2 code, which the x86_64 kernel must enable.
    if targets().iter().any(|t| t == "x86_64") {
        let out = Command::new(MEWZ)
            .args([
                "run",
                "--timeout",
                "300",
                "--target",
                "x86_64",
                "--cpu",
                "x86-64-v3",
            ])
            .arg(&simd)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "--cpu x86-64-v3: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), expected, "--cpu x86-64-v3");
    }
}

#[test]
fn an_app_that_never_ends_is_stopped_at_the_timeout_on_every_target() {
    let wasm = wat_module(
        "spin",
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
    );
    for target in targets() {
        let out = Command::new(MEWZ)
            .args(["run", "--timeout", "3", "--target", &target])
            .arg(&wasm)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(252), "{target}: {stderr}");
        assert!(
            stderr.ends_with("did not stop within 3 s; stopped it\n"),
            "{target}: {stderr}"
        );
    }
}
