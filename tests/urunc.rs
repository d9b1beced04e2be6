//! A packaged server booted the way urunc boots it, on a network: the test creates a network
//! namespace with a tap device in it, reads the image's annotations and command back (umoci),
//! starts QEMU in the namespace with urunc's command line for a `mewz` unikernel (its
//! `virtio-net-pci` on that tap, `ip=`/`gateway=` words, the container's command) and talks to
//! the server from the namespace: a TCP echo server (at the address `ip=` gives it, or, when
//! that does not parse, at the one a DHCP server in the namespace hands out), and the
//! static-file server example packaged with `--dir`, whose directory reaches it as the initrd
//! urunc passes (`-initrd`) and is fetched with curl. Needs root (CI runs as root), as urunc
//! does.
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

mod common;

use common::urunc::{self, Unpacked};
use common::{MEWZ, arches, examples, net_guest, scratch, text, tool};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The guest's address, the tap's (its gateway), the prefix.
const GUEST: &str = "10.77.0.2";
/// The one address the namespace's DHCP server hands out.
const GUEST_BY_DHCP: &str = "10.77.0.50";
const HOST: &str = "10.77.0.1";
const PREFIX: u8 = 24;
/// A second address of the tap, on another network: the guest reaches it through its gateway.
const OTHER_NETWORK_HOST: &str = "10.88.0.1";

/// A network namespace holding tap device `tap0` at [`HOST`]; deleted (with the tap) on drop.
struct Namespace(String);

impl Namespace {
    fn new(name: String) -> Namespace {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        tool("ip", &["netns", "add", &name]);
        let ns = Namespace(name);
        let host = format!("{HOST}/{PREFIX}");
        let other = format!("{OTHER_NETWORK_HOST}/24");
        for cmd in [
            vec!["ip", "link", "set", "lo", "up"],
            vec!["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"],
            vec!["ip", "addr", "add", &host, "dev", "tap0"],
            vec!["ip", "addr", "add", &other, "dev", "tap0"],
            vec!["ip", "link", "set", "tap0", "up"],
        ] {
            ns.exec(&cmd);
        }
        ns
    }

    fn exec(&self, cmd: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.0];
        args.extend(cmd);
        tool("ip", &args)
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

/// dnsmasq serving DHCP on the namespace's tap, with [`GUEST_BY_DHCP`] its only address;
/// stopped on drop.
struct DhcpServer(Child);

impl DhcpServer {
    fn start(ns: &Namespace, leases: &Path) -> DhcpServer {
        let range = format!("--dhcp-range={GUEST_BY_DHCP},{GUEST_BY_DHCP},255.255.255.0,1h");
        let child = ns
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--user=root",
                "--port=0",
                "--no-resolv",
                "--no-hosts",
                "--interface=tap0",
                "--bind-interfaces",
                &range,
                &format!("--dhcp-option=option:router,{HOST}"),
                "--pid-file=",
            ])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dnsmasq (ci/setup installs dnsmasq-base)");
        DhcpServer(child)
    }
}

impl Drop for DhcpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

/// Packages `wasm` for `arch` with the package `options` and `args`, and unpacks it with umoci.
fn package_with(name: &str, arch: &str, wasm: &Path, options: &[&str], args: &[&str]) -> Unpacked {
    let dir = scratch(&format!("{name}-{arch}"));
    let layout = dir.join("layout");
    let out = Command::new(MEWZ)
        .args(["package", "--target", arch])
        .args(options)
        .arg("-o")
        .arg(&layout)
        .arg(wasm)
        .arg("--")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let unpacked = urunc::unpack(&layout, "latest", &dir.join("bundle"));
    assert_eq!(
        unpacked.spec["annotations"]["com.urunc.unikernel.unikernelType"],
        "mewz"
    );
    unpacked
}

/// Starts QEMU in `ns` with urunc's command line for a `mewz` unikernel on tap `tap0`
/// (`-accel tcg` for `-cpu host -enable-kvm`; on aarch64 `-cpu max`, and no ISA exit device,
/// which `virt` cannot have).
fn boot_like_urunc(ns: &Namespace, arch: &str, package: &Unpacked, ip: &str) -> Machine {
    boot(
        ns,
        arch,
        &[],
        &package.image(),
        None,
        ip,
        &package.command(),
    )
}

/// [`boot_like_urunc`] with `machine` options added (for q35 + qboot), the initrd urunc passes
/// when the image names one, and the container's `command`.
fn boot(
    ns: &Namespace,
    arch: &str,
    machine: &[&str],
    image: &Path,
    initrd: Option<&Path>,
    ip: &str,
    command: &[&str],
) -> Machine {
    let append = format!("ip={ip} gateway={HOST} {}", command.join(" "));
    let mut cmd = ns.command(&format!("qemu-system-{arch}"));
    cmd.args(urunc::qemu_options(arch));
    cmd.args(machine);
    cmd.arg("-kernel").arg(image).args([
        "-device",
        "virtio-net-pci,netdev=net0,disable-legacy=on,disable-modern=off,mac=52:54:00:77:00:02",
        "-netdev",
        "tap,script=no,downscript=no,id=net0,ifname=tap0",
    ]);
    if let Some(initrd) = initrd {
        cmd.arg("-initrd").arg(initrd);
    }
    cmd.arg("-no-reboot");
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
    echo_at(ns, GUEST, HOST, message, expect_reply)
}

/// [`echo`] with the server at `guest`, from the namespace's address `from`.
fn echo_at(
    ns: &Namespace,
    guest: &str,
    from: &str,
    message: &str,
    expect_reply: bool,
) -> Result<String, String> {
    let script = format!(
        "import socket,sys\n\
         s=socket.create_connection(('{guest}',8080),timeout=5,source_address=('{from}',0))\n\
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

/// Retries [`echo_at`] (from [`HOST`]) until the server at `guest` answers, for at most 90 s
/// (TCG boots take a while); the reply.
fn echo_until_answered(
    ns: &Namespace,
    guest: &str,
    message: &str,
    machine: &Machine,
    what: &str,
) -> String {
    let start = Instant::now();
    loop {
        match echo_at(ns, guest, HOST, message, true) {
            Ok(reply) if !reply.is_empty() => return reply,
            other => {
                assert!(
                    start.elapsed() < Duration::from_secs(90),
                    "{what}: no answer at {guest}: {other:?}\n{}",
                    machine.console()
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

#[test]
fn a_packaged_server_answers_over_a_tap_with_uruncs_command_line() {
    let wasm = net_guest("echo_server");
    for arch in arches() {
        let package = package_with("echo", &arch, &wasm, &[], &["8080"]);
        let ns = Namespace::new(format!("mewz-urunc-{}-{arch}", std::process::id()));
        let mut machine = boot_like_urunc(&ns, &arch, &package, &format!("{GUEST}/{PREFIX}"));
        let reply = echo_until_answered(&ns, GUEST, "hello over the tap", &machine, &arch);
        assert_eq!(reply, "hello over the tap", "{arch}");
        // From another network the answer goes back through `gateway=`.
        let reply = echo_at(&ns, GUEST, OTHER_NETWORK_HOST, "through the gateway", true);
        assert_eq!(
            reply.as_deref(),
            Ok("through the gateway"),
            "{arch}:\n{}",
            machine.console()
        );
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
fn an_ip_word_that_does_not_parse_is_reported_and_dhcp_configures_the_guest() {
    let wasm = net_guest("echo_server");
    for arch in arches() {
        let package = package_with("bad-ip", &arch, &wasm, &[], &["8080"]);
        let ns = Namespace::new(format!("mewz-badip-{}-{arch}", std::process::id()));
        let leases = scratch(&format!("dhcp-{arch}")).join("leases");
        let dhcp = DhcpServer::start(&ns, &leases);
        let machine = boot_like_urunc(&ns, &arch, &package, "10.77.0.300/24");
        // The guest answers at the address DHCP gave it (and not at the one asked for).
        let reply = echo_until_answered(&ns, GUEST_BY_DHCP, "over DHCP", &machine, &arch);
        assert_eq!(reply, "over DHCP", "{arch}");
        let console = machine.console();
        assert!(
            console.contains(
                "mewz: ip=10.77.0.300/24: 10.77.0.300 is not an IPv4 address; using DHCP instead"
            ),
            "{arch}:\n{console}"
        );
        assert!(console.contains("listening on 8080"), "{arch}:\n{console}");
        assert!(!console.contains("panic"), "{arch}:\n{console}");
        drop(machine);
        drop(dhcp);
        drop(ns);
    }
}

/// A GET from inside the namespace with curl: the status code and the body (`None`: no
/// answer).
fn curl(ns: &Namespace, path: &str) -> Option<(u16, String)> {
    let url = format!("http://{GUEST}:8080{path}");
    let out = ns
        .command("curl")
        .args([
            "--silent",
            "--max-time",
            "5",
            "--write-out",
            "\n%{http_code}",
            &url,
        ])
        .output()
        .expect("running curl");
    let reply = text(&out.stdout);
    let (body, code) = reply.rsplit_once('\n')?;
    let code: u16 = code.parse().ok()?;
    (out.status.success() && code != 0).then(|| (code, body.to_string()))
}

/// Retries [`curl`] until the guest answers, for at most 90 s (TCG boots take a while).
fn curl_until_answered(ns: &Namespace, path: &str, machine: &Machine, what: &str) -> (u16, String) {
    let start = Instant::now();
    loop {
        if let Some(answer) = curl(ns, path) {
            return answer;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{what}: no answer to GET {path}:\n{}",
            machine.console()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_packaged_static_file_server_serves_its_initrd_to_curl() {
    let wasm = examples("net").join("http-server.wasm");
    for arch in arches() {
        // A directory packed with `--dir` goes into the image as its initrd.
        let site = scratch(&format!("site-{arch}"));
        std::fs::create_dir_all(site.join("docs")).unwrap();
        let note = format!("packed for {arch}, served from the initrd\n");
        std::fs::write(site.join("docs/note.txt"), &note).unwrap();
        std::fs::write(site.join("index.html"), "<h1>mewz</h1>\n").unwrap();
        let dir_option = format!("{}::/", site.display());
        let unpacked = package_with(
            "static",
            &arch,
            &wasm,
            &["--dir", &dir_option],
            &["--port", "8080", "--root", "/"],
        );
        let initrd = unpacked
            .file("com.urunc.unikernel.initrd")
            .unwrap_or_else(|| panic!("{arch}: no initrd annotation: {}", unpacked.spec));
        assert!(
            initrd.is_file(),
            "{arch}: {} in the layers",
            initrd.display()
        );
        let image = unpacked.image();
        let command = unpacked.command();
        assert_eq!(
            command,
            ["http-server.wasm", "--port", "8080", "--root", "/"]
        );
        let machines: &[(&str, &[&str])] = if arch == "x86_64" {
            &[
                ("pc + SeaBIOS", &[]),
                ("q35 + qboot", &["-M", "q35", "-bios", "qboot.rom"]),
            ]
        } else {
            &[("virt", &[])]
        };
        let ip = format!("{GUEST}/{PREFIX}");
        for (name, machine_options) in machines {
            let what = format!("{arch} {name}");
            let ns = Namespace::new(format!("mewz-http-{}-{arch}", std::process::id()));
            let machine = boot(
                &ns,
                &arch,
                machine_options,
                &image,
                Some(&initrd),
                &ip,
                &command,
            );
            let (code, body) = curl_until_answered(&ns, "/docs/note.txt", &machine, &what);
            assert_eq!((code, body.as_str()), (200, note.as_str()), "{what}");
            let (code, body) = curl(&ns, "/").unwrap_or_else(|| panic!("{what}: GET /"));
            assert_eq!((code, body.as_str()), (200, "<h1>mewz</h1>\n"), "{what}");
            let console = machine.console();
            assert!(
                console.contains("http-server: serving / on"),
                "{what}:\n{console}"
            );
            drop(machine);
            drop(ns);
        }
        // The same image without the initrd has no files: they are not baked in.
        let ns = Namespace::new(format!("mewz-http-{}-{arch}", std::process::id()));
        let machine = boot(&ns, &arch, &[], &image, None, &ip, &command);
        let (code, _) = curl_until_answered(&ns, "/docs/note.txt", &machine, &arch);
        assert_eq!(
            code,
            404,
            "{arch} without the initrd:\n{}",
            machine.console()
        );
    }
}
