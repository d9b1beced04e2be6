//! Starting an example server the way a user does (`mewz run` on a target, or wasmtime 36 for
//! comparison), reading what it prints, and ending it with everything it started.

use crate::common::{self, Counters, MEWZ, arches, examples, root};
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The port the servers listen on inside a virtual machine (`-p HOST:8080`).
pub const GUEST_PORT: u16 = 8080;

/// Longest wait for a server to start: compile, link, boot under TCG.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// What runs the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runner {
    /// `mewz run --target T`.
    Mewz(String),
    /// wasmtime 36 with a preopened listener, the reference for the preview1 server.
    Wasmtime36,
}

impl Runner {
    pub fn in_vm(&self) -> bool {
        matches!(self, Runner::Mewz(t) if t != "host")
    }

    pub fn name(&self) -> String {
        match self {
            Runner::Mewz(t) => format!("mewz {t}"),
            Runner::Wasmtime36 => "wasmtime 36".into(),
        }
    }
}

/// The QEMU targets to test (`MEWZ_TEST_ARCHES`, default both); `None` skips `arch`.
pub fn mewz_target(arch: &str) -> Option<Runner> {
    (arch == "host" || arches().iter().any(|a| a == arch)).then(|| Runner::Mewz(arch.into()))
}

/// The example app `name` (examples/net), built once per test run.
pub fn example(name: &str) -> PathBuf {
    examples("net").join(format!("{name}.wasm"))
}

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port(udp: bool) -> u16 {
    if udp {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// How to start a server.
pub struct Launch<'a> {
    pub runner: &'a Runner,
    pub app: &'a str,
    /// The app's own arguments; `--addr`/`--port` are added unless the listener is preopened.
    pub args: &'a [&'a str],
    /// The listener comes from the runtime (`--tcplisten`, wasmtime's `-S tcplisten`).
    pub preopened: bool,
    /// The app serves `site::dir()` as `/`.
    pub site: Option<&'a Path>,
    pub udp: bool,
    /// `mewz run -v`: the kernel log on stderr.
    pub verbose: bool,
    /// Reach the guest through this tap device at this address instead of through `-p`.
    pub tap: Option<&'a Tap>,
}

impl<'a> Launch<'a> {
    /// `app` on `runner` with no arguments: its own TCP listener, no site, no `-v`, no tap.
    pub fn plain(runner: &'a Runner, app: &'a str) -> Launch<'a> {
        Launch {
            runner,
            app,
            args: &[],
            preopened: false,
            site: None,
            udp: false,
            verbose: false,
            tap: None,
        }
    }
}

/// A running server; dropping it kills the runner and everything it started.
pub struct Server {
    pub what: String,
    /// Where the test reaches it: 127.0.0.1 and a forwarded port, or the guest on a tap.
    pub addr: SocketAddr,
    child: Child,
    runner: Runner,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server and waits until it says `ready` on stdout.
    pub fn start(l: &Launch<'_>, ready: &str) -> Server {
        let port = free_port(l.udp);
        let addr = match l.tap {
            Some(tap) => SocketAddr::from((tap.guest, GUEST_PORT)),
            None => SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let wasm = example(l.app);
        let what = format!("{} on {}", l.app, l.runner.name());
        // Where the app listens, as it sees it.
        let (listen_addr, listen_port) = match l.runner {
            r if r.in_vm() => ("0.0.0.0", GUEST_PORT),
            _ => ("127.0.0.1", port),
        };
        let mut app_args: Vec<String> = l.args.iter().map(|s| s.to_string()).collect();
        if !l.preopened {
            app_args.extend([
                "--addr".into(),
                listen_addr.into(),
                "--port".into(),
                listen_port.to_string(),
            ]);
        }
        let listener = format!("{listen_addr}:{listen_port}");
        let mut cmd = match l.runner {
            Runner::Wasmtime36 => {
                let mut c = Command::new(root().join(".tools/bin/wasmtime36"));
                c.args(["run", "-S", "preview2=n", "-S"])
                    .arg(format!("tcplisten={listener}"));
                if let Some(dir) = l.site {
                    c.arg("--dir").arg(format!("{}::/", dir.display()));
                }
                c.arg(&wasm).args(&app_args);
                c
            }
            Runner::Mewz(target) => {
                let mut c = Command::new(MEWZ);
                c.args(["run", "--timeout", "1800"]);
                if l.verbose {
                    c.arg("-v");
                }
                if l.preopened {
                    c.arg("--tcplisten").arg(&listener);
                }
                if let Some(tap) = l.tap {
                    c.arg("--net").arg(format!("tap={}", tap.name));
                    c.args(["--kernel-arg", &format!("ip={}/24", tap.guest)]);
                    c.arg(image(target, &wasm, l.site));
                } else if l.runner.in_vm() {
                    let proto = if l.udp { "/udp" } else { "" };
                    c.arg("-p")
                        .arg(format!("127.0.0.1:{port}:{GUEST_PORT}{proto}"));
                    c.arg(image(target, &wasm, l.site));
                } else {
                    c.args(["--target", "host"]);
                    if let Some(dir) = l.site {
                        c.arg("--dir").arg(format!("{}::/", dir.display()));
                    }
                    c.arg(&wasm);
                }
                c.arg("--").args(&app_args);
                c
            }
        };
        // Its own process group, so that ending it ends QEMU (or the hosted app) too.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting the runner");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let mut server = Server {
            what,
            addr,
            child,
            runner: l.runner.clone(),
            stdout,
            stderr,
        };
        server.wait_for_stdout(ready, START_TIMEOUT);
        server
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stdout contains `needle`; fails if the server stops first.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.stdout().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{}: stopped ({status}) before printing {needle:?}\nstdout: {}\nstderr: {}",
                    self.what,
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "{}: no {needle:?} within {timeout:?}\nstderr: {}",
                self.what,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fails unless the runner is still running.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "{}: stopped ({status})\nstdout: {}\nstderr: {}",
                self.what,
                self.stdout(),
                self.stderr()
            );
        }
    }

    /// The process doing the work: QEMU or the hosted app under `mewz run`, wasmtime itself.
    pub fn worker_pid(&self) -> u32 {
        let pid = self.child.id();
        if self.runner == Runner::Wasmtime36 {
            return pid;
        }
        let children = children_of(pid);
        assert_eq!(children.len(), 1, "{}: mewz runs {children:?}", self.what);
        children[0]
    }

    /// The kernel's network counters printed so far (`mewz run -v`).
    pub fn counters(&self) -> Vec<Counters> {
        self.stderr().lines().filter_map(Counters::parse).collect()
    }
}

impl Drop for Server {
    /// Asks the runner to stop (SIGTERM: `mewz run` stops its machine), then kills whatever is
    /// left: the runner's process group and every process it started, which may have a group of
    /// its own.
    fn drop(&mut self) {
        let pid = self.child.id();
        let started = descendants_of(pid);
        signal(pid as libc::pid_t, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(-(pid as libc::pid_t), libc::SIGKILL);
        for p in started {
            signal(p as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill(2) only sends a signal; a process (group) that is gone makes it fail.
    unsafe { libc::kill(pid, sig) };
}

/// Every process below `pid`, children first.
fn descendants_of(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        for c in children_of(p) {
            all.push(c);
            next.push(c);
        }
    }
    all
}

/// The image of `wasm` for `target` (serving `site` as `/`), built once per test run.
fn image(target: &str, wasm: &Path, site: Option<&Path>) -> PathBuf {
    let stem = wasm.file_stem().unwrap().to_string_lossy();
    let with_site = if site.is_some() { "-site" } else { "" };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("net-{stem}{with_site}.{target}.img"));
    let dir_option = site.map(|dir| format!("{}::/", dir.display()));
    let options: Vec<&str> = dir_option
        .iter()
        .flat_map(|d| ["--dir", d.as_str()])
        .collect();
    common::image(target, wasm, &options, out)
}

fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    text
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if stat_fields(child).is_some_and(|f| f.get(1).and_then(|p| p.parse().ok()) == Some(pid)) {
            out.push(child);
        }
    }
    out
}

/// The fields of /proc/PID/stat after the command name: state, ppid, ... (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// CPU time a process has used (user + system).
pub fn cpu_time(pid: u32) -> Duration {
    let f = stat_fields(pid).expect("reading /proc/PID/stat");
    // utime and stime are fields 14 and 15 of stat(5), 11 and 12 after the name.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// A tap device of this host with a /24 of its own, removed when dropped.
pub struct Tap {
    pub name: String,
    /// The address the guest takes on it (the host has `.1`).
    pub guest: Ipv4Addr,
}

impl Tap {
    /// Creates the tap `name` with the host at 192.168.`subnet`.1/24, or `None` when this
    /// process may not (not root).
    pub fn create(name: &str, subnet: u8) -> Option<Tap> {
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !ip(&["tuntap", "add", name, "mode", "tap"]) {
            return None;
        }
        let tap = Tap {
            name: name.into(),
            guest: Ipv4Addr::new(192, 168, subnet, 2),
        };
        let host = format!("192.168.{subnet}.1/24");
        assert!(
            ip(&["addr", "add", &host, "dev", name]) && ip(&["link", "set", name, "up"]),
            "configuring tap {name}"
        );
        Some(tap)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

/// Raises this process's descriptor limit to its hard limit (1024 client sockets, and QEMU's
/// side of each forwarded connection, inherit it).
pub fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_lines_parse() {
        assert_eq!(
            Counters::parse("[ 1.5] net: sockets app 1 stack 3, heap 420 KiB in use"),
            Some(Counters {
                app_sockets: 1,
                stack_sockets: 3,
                heap_kib: Some(420),
                buffers_kib: None,
                frames_kib: None
            })
        );
        assert_eq!(
            Counters::parse(
                "net: sockets app 2 stack 6, heap 421 KiB in use, buffers 8 KiB touched, \
                 frames to send 48 KiB"
            ),
            Some(Counters {
                app_sockets: 2,
                stack_sockets: 6,
                heap_kib: Some(421),
                buffers_kib: Some(8),
                frames_kib: Some(48)
            })
        );
        assert_eq!(
            Counters::parse("net: sockets app 0 stack 0"),
            Some(Counters {
                app_sockets: 0,
                stack_sockets: 0,
                heap_kib: None,
                buffers_kib: None,
                frames_kib: None
            })
        );
        assert_eq!(Counters::parse("net: 10.0.2.15/24"), None);
    }
}
