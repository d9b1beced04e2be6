//! Hosted executables end to end: wasm → mewz-compiler (HostX86_64) → the link recipe of
//! `mewz_host::link` with `libmewz_host.a` → a native program whose output and exit status
//! are checked (the kernel's WASI layer and app runtime on the hosted platform).

use mewz_host::link::{HostArch, link_command};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `libmewz_host.a`, built once into a target directory of its own (the test's own cargo
/// holds the main one).
fn host_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("../../target"))
            .join("hosted-executable-test");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "mewz-host",
                "--target-dir",
            ])
            .arg(&target_dir)
            .current_dir(manifest)
            .status()
            .expect("running cargo");
        assert!(status.success(), "building libmewz_host.a failed");
        target_dir.join("release/libmewz_host.a")
    })
}

/// A scratch directory for one test, removed when the test passes.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mewz-hosted-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Compiles `wasm` and links it into an executable named `name` in `dir`.
fn build(dir: &Scratch, wasm: &[u8], name: &str) -> PathBuf {
    let options = mewz_compiler::CompileOptions {
        target: mewz_compiler::Target::HostX86_64,
        ..Default::default()
    };
    let object = mewz_compiler::compile(wasm, &options)
        .expect("compiles")
        .object;
    let object_path = dir.0.join(format!("{name}.o"));
    std::fs::write(&object_path, object).unwrap();
    let exe = dir.0.join(name);
    let status = link_command(HostArch::X86_64, &object_path, host_archive(), &exe)
        .status()
        .expect("running the linker");
    assert!(status.success(), "linking {name} failed");
    exe
}

fn wat(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    wast::parser::parse::<wast::Wat>(
        &wast::parser::ParseBuffer::new(&std::fs::read_to_string(path).unwrap()).unwrap(),
    )
    .unwrap()
    .encode()
    .unwrap()
}

/// The executable under `timeout`, so a hang fails the test (status 124) instead of wedging it.
fn limited(exe: &Path) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(exe);
    cmd
}

fn run(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    limited(exe)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("running the hosted executable")
}

#[test]
fn wasi_output_and_proc_exit() {
    let dir = Scratch::new("hello");
    let exe = build(&dir, &wat("hello.wat"), "hello");
    let out = run(&exe, &[], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn out_of_bounds_access_is_a_wasm_trap() {
    let dir = Scratch::new("oob");
    let exe = build(&dir, &wat("oob.wat"), "oob");
    let out = run(&exe, &[], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "wasm trap: out of bounds memory access\n"
    );
    assert_eq!(
        out.status.code(),
        Some(mewz_abi::ExitCode::WASM_TRAP.0.into())
    );
}

/// Compiles a C file to wasm with clang-19 and wasi-libc.
fn c_to_wasm(dir: &Scratch, source: &Path) -> Vec<u8> {
    let wasm = dir.0.join("c.wasm");
    let status = Command::new("clang-19")
        .args(["--target=wasm32-wasi", "-O2", "-o"])
        .arg(&wasm)
        .arg(source)
        .status()
        .expect("running clang-19");
    assert!(
        status.success(),
        "clang-19 --target=wasm32-wasi failed (wasi-libc installed?)"
    );
    std::fs::read(&wasm).unwrap()
}

#[test]
fn stdin_reaches_the_app_until_end_of_file() {
    let dir = Scratch::new("cat");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cat.c");
    let exe = build(&dir, &c_to_wasm(&dir, &source), "cat");
    let input: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    let mut child = limited(&exe)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = {
        let input = input.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(input.as_bytes()).unwrap();
        })
    };
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let expected = format!("{input}total={}\n", input.len());
    assert!(
        String::from_utf8_lossy(&out.stdout) == expected,
        "stdin was not copied through"
    );
    assert_eq!(out.status.code(), Some(0));
    let empty = run(&exe, &[], &[]);
    assert_eq!(String::from_utf8_lossy(&empty.stdout), "total=0\n");
}

#[test]
fn c_program_sees_its_arguments_and_environment() {
    let dir = Scratch::new("hello-c");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-c/hello.c");
    let exe = build(&dir, &c_to_wasm(&dir, &source), "hello-c");
    let out = run(&exe, &["a b", "5"], &[("GREETING", "hi there")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "hello from c",
        "argc=3",
        "argv[1]=a b",
        "argv[2]=5",
        "GREETING=hi there",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn non_wasm_fault_is_reported_as_a_cpu_exception() {
    // No app: the kernel runs the self-test MEWZ_OPTIONS names; `fault` takes a real SIGSEGV
    // outside any linear memory.
    let dir = Scratch::new("no-app");
    let empty = dir.0.join("empty.o");
    let status = Command::new("clang-19")
        .args(["-c", "-x", "c", "-", "-o"])
        .arg(&empty)
        .stdin(std::fs::File::open("/dev/null").unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let exe = dir.0.join("no-app");
    let status = link_command(HostArch::X86_64, &empty, host_archive(), &exe)
        .status()
        .unwrap();
    assert!(status.success());
    let out = run(&exe, &[], &[("MEWZ_OPTIONS", "mewz.selftest=fault")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(mewz_abi::ExitCode::CPU_EXCEPTION.0.into()),
        "{stderr}"
    );
    assert!(stderr.contains("not a wasm trap"), "{stderr}");
    let out = run(&exe, &[], &[("MEWZ_OPTIONS", "mewz.selftest=all")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
