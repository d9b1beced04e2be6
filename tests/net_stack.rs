//! The kernel's socket layer from an app's side, on every target, with a NIC and without: a C
//! guest (`tests/net/loopback.c`) serves and connects to itself on 127.0.0.1 and ::1 through
//! WasmEdge's socket API and preview1's calls, exchanges 300 KB through poll_oneoff, a
//! datagram, and checks the errors; and a guest preopened listener (`mewz.tcplisten=`) is where wasmtime
//! puts it; a guest reaches the host over IPv6 through QEMU user networking (SLAAC); what a guest
//! sends goes out while it computes (`tests/net/held_send.c`).
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

mod common;

use common::{MEWZ, net_guest as guest, targets};
use std::path::Path;
use std::process::{Command, Stdio};

fn mewz_run(target: &str, wasm: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(MEWZ)
        .args(["run", "--timeout", "120", "--target", target])
        .args(extra)
        .arg(wasm)
        .stdin(Stdio::null())
        .output()
        .expect("running mewz")
}

#[test]
fn an_app_talks_to_itself_over_tcp_and_udp_on_every_target() {
    let wasm = guest("loopback");
    for target in targets() {
        // A machine with a NIC (an app with sockets gets one) and one without.
        let nets: &[&[&str]] = if target == "host" {
            &[&[]]
        } else {
            &[&["-v"], &["-v", "--net", "none"]]
        };
        for &args in nets {
            let out = mewz_run(&target, &wasm, args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stdout.ends_with("all ok\n"),
                "{target} {args:?}: status {:?}\n{stdout}\n{stderr}",
                out.status,
            );
            assert!(stdout.lines().filter(|l| l.starts_with("ok ")).count() >= 30);
            if target != "host" {
                let nic = !args.contains(&"none");
                assert_eq!(
                    stderr.contains("net: virtio-net stack"),
                    nic,
                    "{target} {args:?}: {stderr}"
                );
                assert_eq!(stderr.contains("net: loopback stack"), !nic, "{target}");
            }
        }
    }
}

#[test]
fn preopened_listeners_come_first_and_do_not_block() {
    let wasm = guest("preopen");
    for target in targets() {
        let out = mewz_run(
            &target,
            &wasm,
            &[
                "--kernel-arg",
                "mewz.tcplisten=127.0.0.1:0",
                "--kernel-arg",
                "mewz.tcplisten=127.0.0.1:0",
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            "fd 3: socket stream, nonblocking, accept EAGAIN\n\
             fd 4: socket stream, nonblocking, accept EAGAIN\n\
             fd 5: closed\n",
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bad = mewz_run(&target, &wasm, &["--kernel-arg", "mewz.tcplisten=nowhere"]);
        assert!(!bad.status.success(), "{target}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("mewz.tcplisten=nowhere"),
            "{target}: {}",
            String::from_utf8_lossy(&bad.stderr)
        );
    }
}

#[test]
fn an_app_reaches_the_host_over_ipv6_through_user_networking() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let wasm = guest("ipv6_client");
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    };
    let port = listener.local_addr().unwrap().port().to_string();
    for target in targets().into_iter().filter(|t| t != "host") {
        let server = listener.try_clone().unwrap();
        // QEMU user networking advertises fec0::/64 (the guest takes its address by SLAAC)
        // and is fec0::2, the host's ::1, to the guest.
        let answer = std::thread::spawn(move || {
            let (mut c, peer) = server.accept().unwrap();
            c.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .unwrap();
            let mut line = [0u8; 16];
            c.read_exact(&mut line).unwrap();
            c.write_all(b"got: ").unwrap();
            c.write_all(&line).unwrap();
            peer
        });
        let out = Command::new(MEWZ)
            .args(["run", "-v", "--timeout", "120", "--target", &target])
            .arg(&wasm)
            .args(["--", "fec0::2", &port])
            .stdin(Stdio::null())
            .output()
            .expect("running mewz");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout == "got: hello over IPv6\n",
            "{target}: status {:?}\n{stdout}\n{stderr}",
            out.status
        );
        assert!(answer.join().unwrap().is_ipv6());
        assert!(
            stderr.contains("net: IPv6 address fe80::")
                && stderr.contains("net: IPv6 address fec0::"),
            "{target}: {stderr}"
        );
    }
}

#[test]
fn sent_data_leaves_while_the_app_computes_without_network_calls() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::time::Duration;
    let wasm = guest("held_send");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    for target in targets() {
        // QEMU user networking's host is 10.0.2.2 to the guest; a hosted app uses 127.0.0.1.
        let host = if target == "host" {
            "127.0.0.1"
        } else {
            "10.0.2.2"
        };
        let app = Command::new(MEWZ)
            .args(["run", "--timeout", "150", "--target", &target])
            .arg(&wasm)
            .args(["--", host, &port])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running mewz");
        let server = listener.try_clone().unwrap();
        let line = std::thread::spawn(move || {
            let (c, _) = server.accept().unwrap();
            // The app computes for 90 s after its send: a line held until its exit misses this.
            c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut line = String::new();
            BufReader::new(c).read_line(&mut line).map(|_| line)
        })
        .join()
        .unwrap();
        // SAFETY: kill(2) only sends a signal; SIGTERM makes `mewz run` stop its machine.
        unsafe { libc::kill(app.id() as libc::pid_t, libc::SIGTERM) };
        let out = app.wait_with_output().unwrap();
        // Stopped as a machine is, also on the host (the app must not outlive mewz).
        assert_eq!(out.status.code(), Some(143), "{target}");
        assert!(
            String::from_utf8_lossy(&out.stderr).ends_with("terminated; stopped the app\n")
                || String::from_utf8_lossy(&out.stderr)
                    .ends_with("terminated; stopped the machine\n"),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            line.as_deref().ok(),
            Some("sent, now computing\n"),
            "{target}: {line:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
