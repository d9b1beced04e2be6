//! Memory footprint through `mewz run`, as a user meets it: many small machines at once, and
//! the clean ends when a machine is too small for the app (exit status 249, one line from the
//! kernel, one hint from `mewz run`), or when `memory.grow` asks for more than it can back.
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

use mewz_abi::ExitCode;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const MEWZ: &str = env!("CARGO_BIN_EXE_mewz");
const OUT_OF_MEMORY: i32 = ExitCode::OUT_OF_MEMORY.0 as i32;

fn arches() -> Vec<String> {
    std::env::var("MEWZ_TEST_ARCHES")
        .unwrap_or_else(|_| "x86_64 aarch64".into())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn work_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("footprint");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A module written here in the text format, made binary by wabt's wat2wasm.
fn wat_module(name: &str, wat: &str) -> PathBuf {
    let (src, wasm) = (
        work_dir().join(format!("{name}.wat")),
        work_dir().join(format!("{name}.wasm")),
    );
    std::fs::write(&src, wat).unwrap();
    let status = Command::new("wat2wasm")
        .arg(&src)
        .arg("-o")
        .arg(&wasm)
        .status()
        .expect("running wat2wasm");
    assert!(status.success());
    wasm
}

fn mewz(args: &[&str], file: &Path) -> Output {
    Command::new(MEWZ)
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("running mewz")
}

fn build(arch: &str, wasm: &Path) -> PathBuf {
    let stem = wasm.file_stem().unwrap().to_string_lossy();
    let image = work_dir().join(format!("{stem}.{arch}.img"));
    let out = mewz(
        &["build", "--target", arch, "-o", image.to_str().unwrap()],
        wasm,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    image
}

/// hello-c and hello-rust, built from source once per test run.
fn hellos() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = work_dir().join("examples");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let built = Command::new("bash")
            .arg(root.join("examples/build.sh"))
            .arg(&out)
            .args(["c", "rust"])
            .output()
            .expect("running examples/build.sh");
        assert!(built.status.success(), "{}", text(&built.stderr));
        out
    })
}

#[test]
fn twenty_hello_machines_of_8_mib_run_at_once() {
    let arches = arches();
    let images: Vec<(String, PathBuf)> = arches
        .iter()
        .flat_map(|arch| {
            ["hello-c", "hello-rust"].map(|name| {
                let image = build(arch, &hellos().join(format!("{name}.wasm")));
                (format!("{name} on {arch}"), image)
            })
        })
        .collect();
    let machines: Vec<_> = (0..20)
        .map(|i| {
            let (who, image) = &images[i % images.len()];
            let child = Command::new(MEWZ)
                .args(["run", "--timeout", "120", "--vm-memory", "8M"])
                .arg(image)
                .arg(format!("{}", i + 1))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting mewz");
            (format!("machine {i}: {who}"), i + 1, child)
        })
        .collect();
    for (who, status, child) in machines {
        let out = child.wait_with_output().unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(status as i32),
            "{who}: {}",
            text(&out.stderr)
        );
        assert!(
            stdout.starts_with("hello from") && stdout.ends_with(&format!("exit: {status}\n")),
            "{who}: {stdout}"
        );
    }
}

#[test]
fn a_declaration_beyond_what_the_machine_may_commit_is_one_line_before_boot_and_at_boot() {
    // 18.75 MiB: more than twice the 8 MiB machine, which is what an app may commit there.
    let wasm = wat_module(
        "declares-19-mib",
        r#"(module (memory (export "memory") 300) (func (export "_start")))"#,
    );
    let expected =
        "the app declares 19200 KiB of initial memory, more than twice the machine's 8 MiB";
    let hint = "the app needs at least 10 MiB: try --vm-memory 10M";
    for arch in arches() {
        // From the .wasm, `mewz run` can tell before it builds anything.
        let out = mewz(
            &[
                "run",
                "--target",
                &arch,
                "--vm-memory",
                "8M",
                "--timeout",
                "60",
            ],
            &wasm,
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(OUT_OF_MEMORY), "{arch}: {err}");
        assert_eq!(err, format!("mewz: {expected}; {hint}\n"), "{arch}");
        // An image is judged by the kernel; its note tells `mewz run` what to suggest.
        let image = build(&arch, &wasm);
        let out = mewz(&["run", "--vm-memory", "8M", "--timeout", "60"], &image);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(OUT_OF_MEMORY), "{arch}: {err}");
        assert!(
            err.contains(&format!("mewz: cannot start the app: {expected}\n")),
            "{arch}: {err}"
        );
        assert_eq!(err.lines().last(), Some(format!("mewz: {hint}").as_str()));
        // The suggested size is enough: it touches nothing.
        let out = mewz(&["run", "--vm-memory", "10M", "--timeout", "60"], &image);
        assert_eq!(out.status.code(), Some(0), "{arch}: {}", text(&out.stderr));
    }
}

#[test]
fn touching_more_than_the_machine_has_ends_with_out_of_memory() {
    // 7.5 MiB declared (within what the 8 MiB machine may commit), all of it written.
    let wasm = wat_module(
        "touches-7-mib",
        r#"(module
             (memory (export "memory") 120)
             (func (export "_start")
               (local $p i32)
               (loop $touch
                 (i32.store (local.get $p) (i32.const 1))
                 (local.set $p (i32.add (local.get $p) (i32.const 4096)))
                 (br_if $touch (i32.lt_u (local.get $p) (i32.const 7864320))))))"#,
    );
    for arch in arches() {
        let out = mewz(
            &[
                "run",
                "--target",
                &arch,
                "--vm-memory",
                "8M",
                "--timeout",
                "60",
            ],
            &wasm,
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(OUT_OF_MEMORY), "{arch}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{arch}: {err}");
        assert!(
            lines[0]
                .starts_with("out of memory: no RAM left for a page of the app's linear memory")
                && lines[0].ends_with("the machine has 8 MiB)"),
            "{arch}: {err}"
        );
        assert_eq!(
            lines[1], "mewz: the app needs at least 9 MiB: try --vm-memory 16M",
            "{arch}"
        );
    }
}

/// Grows by 1 MiB at a time and writes every new page, until `memory.grow` returns -1; then
/// exits with the MiB it reached.
const GROW_UNTIL_REFUSED: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $p i32) (local $end i32)
    (loop $more
      (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1))
        (then (call $exit (i32.shr_u (memory.size) (i32.const 4)))))
      (local.set $end (i32.mul (memory.size) (i32.const 65536)))
      (loop $touch
        (i32.store (local.get $p) (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $p) (local.get $end))))
      (br $more))))"#;

#[test]
fn memory_grow_returns_minus_one_when_the_machine_cannot_back_the_pages() {
    let wasm = wat_module("grow-until-refused", GROW_UNTIL_REFUSED);
    for arch in arches() {
        let out = mewz(
            &[
                "run",
                "--target",
                &arch,
                "--vm-memory",
                "8M",
                "--timeout",
                "60",
            ],
            &wasm,
        );
        let reached = out.status.code().unwrap_or(-1);
        // The kernel, its image and its reserve keep a little of the 8 MiB; the app gets the
        // rest, and a clean -1 when it asks for more.
        assert!(
            (6..8).contains(&reached),
            "{arch}: reached {reached} MiB: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{arch}: {}", text(&out.stderr));
    }
}

#[test]
fn memory_grow_returns_minus_one_on_the_hosted_target_when_linux_refuses() {
    let wasm = wat_module("grow-until-refused", GROW_UNTIL_REFUSED);
    let exe = work_dir().join("grow-until-refused.host");
    let out = mewz(
        &["build", "--target", "host", "-o", exe.to_str().unwrap()],
        &wasm,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The process's data limit (ulimit -d, 64 MiB) is its machine: Linux refuses to make more
    // of the reservation writable, and memory.grow says so.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 65536 && exec \"$0\"")
        .arg(&exe)
        .output()
        .unwrap();
    let reached = out.status.code().unwrap_or(-1);
    assert!(
        (16..64).contains(&reached),
        "reached {reached} MiB: {}",
        text(&out.stderr)
    );
}
