//! A packaged server booted the way urunc boots it, on a network: the test creates a network
//! namespace with a tap device in it, reads the image's annotations and command back (umoci),
//! starts QEMU in the namespace with urunc's command line for a `mewz` unikernel (its
//! `virtio-net-pci` on that tap, `ip=`/`gateway=` words, the container's command) and talks to
//! the server from the namespace. Needs root (CI runs as root), as urunc does.
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MEWZ: &str = env!("CARGO_BIN_EXE_mewz");
/// The guest's address, the tap's (its gateway), the prefix.
const GUEST: &str = "10.77.0.2";
const HOST: &str = "10.77.0.1";
const PREFIX: u8 = 24;

fn arches() -> Vec<String> {
    std::env::var("MEWZ_TEST_ARCHES")
        .unwrap_or_else(|_| "x86_64 aarch64".into())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A network namespace holding tap device `tap0` at [`HOST`]; deleted (with the tap) on drop.
struct Namespace(String);

impl Namespace {
    fn new(name: String) -> Namespace {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        let ns = Namespace(name);
        let host = format!("{HOST}/{PREFIX}");
        for cmd in [
            vec!["ip", "link", "set", "lo", "up"],
            vec!["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"],
            vec!["ip", "addr", "add", &host, "dev", "tap0"],
            vec!["ip", "link", "set", "tap0", "up"],
        ] {
            ns.exec(&cmd);
        }
        ns
    }

    fn exec(&self, cmd: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.0];
        args.extend(cmd);
        run("ip", &args)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A QEMU whose console is collected; killed on drop if still running.
struct Machine {
    child: Child,
    console: Arc<Mutex<String>>,
}

impl Machine {
    fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    /// Waits up to `limit` for QEMU to exit; its status.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn echo_server() -> PathBuf {
    static BUILT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILT.lock().unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("urunc");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("echo_server.wasm");
    if wasm.exists() {
        return wasm;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("clang-19")
        .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Wno-unused-result"])
        .arg(root.join("tests/net/echo_server.c"))
        .arg("-o")
        .arg(&wasm)
        .output()
        .expect("running clang-19 (ci/setup installs it)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    wasm
}

/// Packages `wasm` for `arch` with `args`, unpacks it with umoci; the unpacked image file and
/// the runtime spec.
fn package_and_unpack(name: &str, arch: &str, wasm: &Path, args: &[&str]) -> (PathBuf, Value) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("urunc")
        .join(format!("{name}-{arch}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let layout = dir.join("layout");
    let out = Command::new(MEWZ)
        .args(["package", "--target", arch, "-o"])
        .arg(&layout)
        .arg(wasm)
        .arg("--")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bundle = dir.join("bundle");
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:latest", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    let binary = spec["annotations"]["com.urunc.unikernel.binary"]
        .as_str()
        .expect("the binary annotation");
    assert_eq!(
        spec["annotations"]["com.urunc.unikernel.unikernelType"],
        "mewz"
    );
    (
        bundle.join("rootfs").join(binary.trim_start_matches('/')),
        spec,
    )
}

/// Starts QEMU in `ns` with urunc's command line for a `mewz` unikernel on tap `tap0`
/// (`-accel tcg` for `-cpu host -enable-kvm`; on aarch64 `-cpu max`, and no ISA exit device,
/// which `virt` cannot have).
fn boot_like_urunc(ns: &Namespace, arch: &str, image: &Path, spec: &Value, ip: &str) -> Machine {
    let command: Vec<&str> = spec["process"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let append = format!("ip={ip} gateway={HOST} {}", command.join(" "));
    let mut cmd = ns.command(&format!("qemu-system-{arch}"));
    cmd.args(["-m", "256M", "-L", "/usr/share/qemu", "-accel", "tcg"]);
    if arch == "aarch64" {
        cmd.args(["-cpu", "max"]);
    }
    cmd.args(["-nographic", "-vga", "none"]);
    if arch == "aarch64" {
        cmd.args(["-M", "virt"]);
    }
    cmd.arg("-kernel").arg(image).args([
        "-device",
        "virtio-net-pci,netdev=net0,disable-legacy=on,disable-modern=off,mac=52:54:00:77:00:02",
        "-netdev",
        "tap,script=no,downscript=no,id=net0,ifname=tap0",
        "-no-reboot",
    ]);
    if arch == "x86_64" {
        cmd.args(["-device", "isa-debug-exit,iobase=0x501,iosize=2"]);
    }
    cmd.args(["-append", &append])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting QEMU");
    let console = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let console = console.clone();
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                console
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    Machine { child, console }
}

/// One exchange with the echo server from inside the namespace: sends `message`, returns what
/// came back (or the client's error).
fn echo(ns: &Namespace, message: &str, expect_reply: bool) -> Result<String, String> {
    let script = format!(
        "import socket,sys\n\
         s=socket.create_connection(('{GUEST}',8080),timeout=5)\n\
         s.sendall(sys.argv[1].encode())\n\
         print(s.recv(4096).decode() if {} else '',end='')\n",
        if expect_reply { "True" } else { "False" }
    );
    let out = ns
        .command("timeout")
        .args(["20", "python3", "-c", &script, message])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

#[test]
fn a_packaged_server_answers_over_a_tap_with_uruncs_command_line() {
    let wasm = echo_server();
    for arch in arches() {
        let (image, spec) = package_and_unpack("echo", &arch, &wasm, &["8080"]);
        let ns = Namespace::new(format!("mewz-urunc-{}-{arch}", std::process::id()));
        let mut machine = boot_like_urunc(&ns, &arch, &image, &spec, &format!("{GUEST}/{PREFIX}"));
        // The guest needs a while under TCG: retry until it answers, for at most 90 s.
        let start = Instant::now();
        let reply = loop {
            match echo(&ns, "hello over the tap", true) {
                Ok(reply) if !reply.is_empty() => break reply,
                other => {
                    assert!(
                        start.elapsed() < Duration::from_secs(90),
                        "{arch}: no answer: {other:?}\n{}",
                        machine.console()
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        assert_eq!(reply, "hello over the tap", "{arch}");
        let console = machine.console();
        assert!(console.contains("listening on 8080"), "{arch}:\n{console}");
        // "quit" ends the app; the machine stops with it.
        echo(&ns, "quit", false).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let status = machine.wait(Duration::from_secs(60));
        let console = machine.console();
        let expected = if arch == "x86_64" { 1 } else { 0 };
        assert_eq!(status, Some(expected), "{arch}: {console}");
        assert!(console.contains("served "), "{arch}:\n{console}");
        drop(machine);
        drop(ns);
    }
}

#[test]
fn an_ip_word_that_does_not_parse_is_reported_and_the_app_still_runs() {
    let wasm = echo_server();
    for arch in arches() {
        let (image, spec) = package_and_unpack("bad-ip", &arch, &wasm, &["8080"]);
        let ns = Namespace::new(format!("mewz-badip-{}-{arch}", std::process::id()));
        let machine = boot_like_urunc(&ns, &arch, &image, &spec, "10.77.0.300/24");
        let start = Instant::now();
        while !machine.console().contains("listening on 8080") {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{arch}: the app did not start:\n{}",
                machine.console()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let console = machine.console();
        assert!(
            console.contains(
                "mewz: ip=10.77.0.300/24: 10.77.0.300 is not an IPv4 address; using DHCP instead"
            ),
            "{arch}:\n{console}"
        );
        assert!(!console.contains("panic"), "{arch}:\n{console}");
        drop(machine);
        drop(ns);
    }
}
