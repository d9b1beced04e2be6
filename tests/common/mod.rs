//! What the QEMU integration tests share: where the repository and the `mewz` binary are, which
//! targets to test, scratch directories, running programs, and things made once per test run
//! (the examples, images).
//!
//! Each test binary includes this module (`mod common;`) and uses its own part of it.
#![allow(dead_code)]

pub mod urunc;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};

pub const MEWZ: &str = env!("CARGO_BIN_EXE_mewz");

/// The repository's top directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The architectures to test: `MEWZ_TEST_ARCHES` (default: both).
pub fn arches() -> Vec<String> {
    std::env::var("MEWZ_TEST_ARCHES")
        .unwrap_or_else(|_| "x86_64 aarch64".into())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The hosted target, then the architectures to test.
pub fn targets() -> Vec<String> {
    std::iter::once("host".to_string())
        .chain(arches())
        .collect()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty directory `name` of this test binary's own (whatever an earlier run left there is
/// removed first).
pub fn scratch(name: &str) -> PathBuf {
    // `module_path!()` is `TESTNAME::common`: each test binary is a crate of its own.
    let binary = module_path!().split("::").next().unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(binary)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `make` unless this test run already ran the maker named `what`: what a test builds is
/// built once per run, and never taken from an earlier run (its sources may have changed).
/// One maker at a time, so that tests asking for the same thing wait for the one build (and so
/// `make` must not call this function itself).
pub fn once_per_run(what: &str, make: impl FnOnce()) {
    static MADE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // A maker that panicked made nothing: the next test that asks tries again (and says why).
    let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
    if !made.iter().any(|m| m == what) {
        make();
        made.push(what.to_string());
    }
}

/// The directory the examples are built into, with `part` of `examples/build.sh` built in it
/// (once per test run). One directory for every test binary, so that they share the builds'
/// caches (cargo's, Go's) too.
pub fn examples(part: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("examples");
    once_per_run(&format!("examples/build.sh {part}"), || {
        let script = root().join("examples/build.sh");
        tool("bash", &[utf8(&script), utf8(&dir), part]);
    });
    dir
}

/// The image of `wasm` for `target` at `image`, built once per test run with the `mewz build`
/// options `options`.
pub fn image(target: &str, wasm: &Path, options: &[&str], image: PathBuf) -> PathBuf {
    once_per_run(&image.display().to_string(), || {
        let mut args = vec!["build", "--target", target];
        args.extend_from_slice(options);
        args.extend(["-o", utf8(&image), utf8(wasm)]);
        tool(MEWZ, &args);
    });
    image
}

/// The bare kernel image (no app) for `arch`, built once per test run.
pub fn kernel_image(arch: &str) -> PathBuf {
    let image = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kernel.{arch}.img"));
    once_per_run(&image.display().to_string(), || {
        let out = mewz(&["build", "--target", arch, "-o", image.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "mewz build --target {arch} failed: {}",
            text(&out.stderr)
        );
    });
    image
}

/// The C guest `tests/net/NAME.c` as a .wasm, compiled once per test run.
pub fn net_guest(name: &str) -> PathBuf {
    let wasm = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("net-guest-{name}.wasm"));
    once_per_run(&wasm.display().to_string(), || {
        let out = Command::new("clang-19")
            .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Wno-unused-result"])
            .arg(root().join(format!("tests/net/{name}.c")))
            .arg("-o")
            .arg(&wasm)
            .output()
            .expect("running clang-19 (ci/setup installs it)");
        assert!(out.status.success(), "{name}.c: {}", text(&out.stderr));
    });
    wasm
}

/// Reads every file under `dir` (as a backup, a search or a server would) and moves its access
/// time on (as `touch -a` does: on a filesystem that does not record reads too).
pub fn read_every_file(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_every_file(&path);
            continue;
        }
        std::fs::read(&path).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        std::fs::File::open(&path)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_accessed(later))
            .unwrap();
    }
}

/// Runs `mewz` with `args`, stdin empty.
pub fn mewz(args: &[&str]) -> Output {
    Command::new(MEWZ)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running mewz")
}

/// `path` as text (the test tree's paths are UTF-8), for [`tool`]'s arguments.
pub fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Runs `program` (one ci/setup installs) with `args`, which must succeed; its stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (ci/setup installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `dir/NAME.wasm` from the text-format module `wat` (written to `dir/NAME.wat`), made binary
/// by wabt's wat2wasm with `flags` (e.g. `--no-check` for modules invalid on purpose).
pub fn wat2wasm(dir: &Path, name: &str, wat: &str, flags: &[&str]) -> PathBuf {
    let (src, wasm) = (
        dir.join(format!("{name}.wat")),
        dir.join(format!("{name}.wasm")),
    );
    std::fs::write(&src, wat).unwrap();
    let status = Command::new("wat2wasm")
        .args(flags)
        .arg(&src)
        .arg("-o")
        .arg(&wasm)
        .status()
        .expect("running wat2wasm (ci/setup installs wabt)");
    assert!(status.success(), "wat2wasm {}", src.display());
    wasm
}

/// The kernel's counters line (`-v`): `net: sockets app A stack S, heap H KiB in use,
/// buffers B KiB touched, frames to send F KiB`; the hosted platform's has the sockets only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub app_sockets: u64,
    pub stack_sockets: u64,
    pub heap_kib: Option<u64>,
    /// The socket buffers' pages mapped now.
    pub buffers_kib: Option<u64>,
    /// The part of `heap_kib` the NIC's transmit buffers hold (how many follows the device's
    /// pace, not the app's).
    pub frames_kib: Option<u64>,
}

impl Counters {
    pub fn parse(line: &str) -> Option<Counters> {
        let rest = &line[line.find("net: sockets app ")? + "net: sockets app ".len()..];
        let mut words = rest.split([' ', ',']).filter(|w| !w.is_empty());
        let app_sockets = words.next()?.parse().ok()?;
        (words.next()? == "stack").then_some(())?;
        let stack_sockets = words.next()?.parse().ok()?;
        let number_after = |label: &str| match rest.split(label).nth(1) {
            Some(b) => b.split(' ').next()?.parse().ok().map(Some),
            None => Some(None),
        };
        Some(Counters {
            app_sockets,
            stack_sockets,
            heap_kib: number_after(", heap ")?,
            buffers_kib: number_after(", buffers ")?,
            frames_kib: number_after(", frames to send ")?,
        })
    }

    /// The heap in use but for the NIC's transmit buffers: what must come back to where it
    /// was (give or take the rounding of the two to KiB).
    pub fn heap_but_frames_kib(&self) -> Option<u64> {
        Some(self.heap_kib? - self.frames_kib.unwrap_or(0))
    }
}
