//! /init of the Linux VM that `ci/bench --only http` measures mewz against: a Debian kernel
//! and an initramfs holding this program, the NIC's modules and one server (wasmtime with the
//! server's .wasm, or the same server built natively).
//!
//! It loads the modules, addresses the NIC, opens the listening socket at descriptor 3 when
//! asked (where `http-server-preopened` finds it, as wasmtime's `-S tcplisten` gives it),
//! then runs the server as its child. While the server runs it answers the line `meminfo` on
//! the console with the machine's memory in use; when the server exits, the machine powers off.
//! Every step is logged on the console with the time since boot; a failed step powers off.

mod net;
mod options;
mod system;

use std::io::BufRead;
use std::net::TcpListener;
use std::os::fd::IntoRawFd;
use std::process::Command;
use std::time::Duration;

/// Where the first preopened socket goes, after stdin, stdout and stderr.
const LISTENER_FD: i32 = 3;
/// How long the NIC may take to appear once its driver is loaded.
const INTERFACE_WAIT: Duration = Duration::from_secs(20);

fn main() {
    // Power-off is its way out: never as an ordinary process on a host.
    if std::process::id() != 1 {
        eprintln!("bench-init: runs only as process 1 of the benchmark's Linux VM");
        std::process::exit(2);
    }
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => fail(&format!("{e}\n{}", options::USAGE)),
    };
    if let Err(e) = start(&options) {
        fail(&e);
    }
    let program = options.program.display().to_string();
    let mut child = match Command::new(&options.program)
        .args(&options.args)
        .env("PATH", "/bin")
        .spawn()
    {
        Ok(c) => c,
        Err(e) => fail(&format!("cannot start {program}: {e}")),
    };
    log(&format!("started {program} (pid {})", child.id()));
    std::thread::spawn(answer_console);
    let status = child.wait();
    log(&format!("{program} ended: {status:?}"));
    system::power_off()
}

/// Everything before the server runs.
fn start(o: &options::Options) -> Result<(), String> {
    system::mount_basics()?;
    let modules = system::load_modules(&o.modules)?;
    log(&format!("{modules} modules loaded"));
    if o.ip.is_some() || o.listen.is_some() {
        net::configure("lo", None)?;
        net::wait_for_interface(&o.interface, INTERFACE_WAIT)?;
        net::configure(&o.interface, o.ip)?;
        log(&format!("{} up", o.interface));
    }
    if let Some(addr) = o.listen {
        let listener = TcpListener::bind(addr).map_err(|e| format!("listen on {addr}: {e}"))?;
        let fd = listener.into_raw_fd();
        if fd != LISTENER_FD {
            // SAFETY: dup2 and close take descriptors only; `fd` is ours and is closed once,
            // after its copy at LISTENER_FD.
            if unsafe { libc::dup2(fd, LISTENER_FD) } != LISTENER_FD {
                return Err(format!(
                    "listener to descriptor {LISTENER_FD}: {}",
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
        // std opens sockets close-on-exec; the server must inherit this one.
        // SAFETY: F_SETFD takes an integer flag set, no pointer.
        if unsafe { libc::fcntl(LISTENER_FD, libc::F_SETFD, 0) } != 0 {
            return Err(format!(
                "listener: clearing close-on-exec: {}",
                std::io::Error::last_os_error()
            ));
        }
        log(&format!("listening on {addr} at descriptor {LISTENER_FD}"));
    }
    Ok(())
}

/// Answers `meminfo` lines on the console (the benchmark asks after its load).
fn answer_console() {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { return };
        if line.trim() == "meminfo" {
            match system::memory_in_use() {
                Ok(bytes) => log(&format!("memory in use: {} KiB", bytes / 1024)),
                Err(e) => log(&format!("memory in use: unknown ({e})")),
            }
        }
    }
}

fn log(message: &str) {
    println!("init: [{:.3} s] {message}", system::uptime());
}

fn fail(message: &str) -> ! {
    eprintln!("init: error: {message}");
    system::power_off()
}
