//! Boots an image under QEMU and decodes the guest's exit status — the one place that does.
//!
//! QEMU runs in a process group of its own, so that the terminal's Ctrl-C reaches mewz only:
//! mewz then stops the machine and reports it in one line. QEMU's own messages (on its stderr)
//! reach the user only with `-v`, or as the reason when QEMU fails. The console's channels
//! belong to the runner (see [`crate::stdio`]).

use crate::stdio::{Channels, VirtioBus};
use crate::targets::{ExitDevice, Profile};
use anyhow::{Context, Result};
use mewz_abi::ExitCode;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What to boot and how.
pub struct Boot<'a> {
    pub profile: &'a Profile,
    pub image: &'a Path,
    pub command_line: &'a str,
    /// A file for the machine's RAM beside the kernel (`-initrd`): the packed directories.
    pub initrd: Option<&'a Path>,
    /// More arguments for QEMU (the file-backed memory of large packed directories).
    pub extra_args: &'a [String],
    /// Memory for the machine, e.g. "512M"; the profile's default when `None`.
    pub machine_memory: Option<&'a str>,
    /// The network backend and NIC (see `network::plan`), empty for a machine without one.
    pub network: &'a [String],
    pub timeout: Duration,
    /// Pass QEMU's own messages on.
    pub verbose: bool,
}

/// How a boot ended.
#[derive(Debug)]
pub struct Outcome {
    /// The guest's exit status, or [`ExitCode::NO_STATUS`] when it gave none.
    pub code: ExitCode,
    pub timed_out: bool,
    /// The signal (SIGINT, SIGTERM, SIGHUP) that made mewz stop the machine.
    pub signal: Option<i32>,
    pub elapsed: Duration,
    /// QEMU's last message, when it exited on its own without a status from the guest.
    pub qemu_error: Option<String>,
    /// The kernel's notes for the runner (`KEY=VALUE`, see `mewz_abi::exit::NOTE_PREFIX`).
    pub notes: Vec<String>,
}

impl Outcome {
    /// Says in one line why the machine stopped, if that is not the app's own status, and
    /// returns mewz's exit status.
    pub fn report(&self, timeout_s: u64, verbose: bool) -> u8 {
        if let Some(sig) = self.signal {
            eprintln!(
                "mewz: {}; stopped the machine",
                crate::child::signal_name(sig)
            );
            return 128 + sig as u8;
        }
        if self.timed_out {
            eprintln!("mewz: the machine did not stop within {timeout_s} s; stopped it");
        } else if let Some(why) = &self.qemu_error {
            eprintln!("mewz: the machine stopped without an exit status: QEMU said: {why}");
        } else if self.code == ExitCode::NO_STATUS {
            eprintln!("mewz: the machine stopped without an exit status (reset or QEMU error)");
        }
        if verbose {
            eprintln!(
                "mewz: exit status {} after {:.3} s",
                self.code.0,
                self.elapsed.as_secs_f64()
            );
        }
        self.code.0
    }
}

/// The full QEMU command line for a boot with the kernel command line `command_line`;
/// `exit_file` receives the x86 status byte and `console` are the arguments wiring the
/// console's channels.
pub fn command(
    boot: &Boot<'_>,
    command_line: &str,
    exit_file: &Path,
    console: &[String],
) -> Command {
    let q = &boot.profile.qemu;
    let mut cmd = Command::new(&q.binary);
    cmd.args(["-accel", "tcg"]);
    let mut args = q.args.iter();
    while let Some(a) = args.next() {
        // `-m` from the profile gives way to an explicit machine size.
        if a == "-m" && boot.machine_memory.is_some() {
            args.next();
            continue;
        }
        cmd.arg(a);
    }
    if let Some(m) = boot.machine_memory {
        cmd.args(["-m", m]);
    }
    cmd.args(boot.network);
    cmd.args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(boot.image)
        .args(["-append", command_line]);
    if let Some(initrd) = boot.initrd {
        cmd.arg("-initrd").arg(initrd);
    }
    cmd.args(boot.extra_args).args(console);
    match boot.profile.exit {
        ExitDevice::IsaDebugExit => {
            cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
                .arg("-chardev")
                .arg(format!(
                    "file,id=mewzexit,path={}",
                    crate::stdio::option_value(&exit_file.display().to_string())
                ))
                .args(["-device", "isa-debugcon,iobase=0xe9,chardev=mewzexit"]);
        }
        ExitDevice::Semihosting => {
            cmd.args(["-semihosting-config", "enable=on,target=native"]);
        }
    }
    cmd
}

/// The virtio console's bus on the profile's machine: PCI on x86_64, MMIO on aarch64 `virt`.
fn virtio_bus(profile: &Profile) -> VirtioBus {
    match profile.exit {
        ExitDevice::IsaDebugExit => VirtioBus::Pci,
        ExitDevice::Semihosting => VirtioBus::Mmio,
    }
}

/// Boots and waits, passing the console through. Ctrl-C stops the machine.
pub fn run(boot: &Boot<'_>) -> Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let exit_file = dir.path().join("exit");
    let host_stdio = mewz_host::stdio::classify();
    let channels = Channels::listen(dir.path(), crate::stdio::outputs_are_one())?;
    // The kernel learns what the streams are, to answer the app as wasmtime would.
    let command_line = format!("{} {}", host_stdio.word(), boot.command_line);
    let mut cmd = command(
        boot,
        command_line.trim_end(),
        &exit_file,
        &channels.qemu_args(virtio_bus(boot.profile)),
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::child::dies_with_mewz(&mut cmd);
    if std::env::var_os("MEWZ_SHOW_QEMU").is_some() {
        eprintln!("mewz: {cmd:?}");
    }
    let stop_signals = crate::child::StopSignals::watch()?;
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "cannot start {} (run ci/setup to install QEMU)",
            boot.profile.qemu.binary
        )
    })?;
    let qemu_messages = collect_messages(&mut child, boot.verbose);
    let pumps = channels.connect(&mut child, &host_stdio, boot.timeout);
    let mut timed_out = false;
    let mut signal = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let sig = stop_signals.received();
        if sig.is_some() || start.elapsed() >= boot.timeout || pumps.is_err() {
            timed_out = sig.is_none() && pumps.is_ok();
            signal = sig;
            // The child may have exited just now; either way it is gone after wait().
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    // aarch64's notes come on the semihosting console, which is QEMU's stderr.
    let (mut notes, messages) = take_notes(qemu_messages.join().unwrap_or_default());
    let binary = &boot.profile.qemu.binary;
    let pumps = match (pumps, reason(&messages, binary)) {
        (Ok(p), _) => p,
        (Err(_), Some(why)) => anyhow::bail!("QEMU failed: {why}"),
        (Err(e), None) => return Err(e),
    };
    // Everything the guest wrote is passed on before mewz says anything itself.
    pumps.finish();
    // x86_64's status byte comes last on the debug port, its notes before it.
    let channel = std::fs::read(&exit_file).unwrap_or_default();
    let status_byte = channel.last().copied();
    let text = String::from_utf8_lossy(channel.split_last().map_or(&[][..], |(_, t)| t));
    notes.extend(take_notes(text.lines().map(String::from).collect()).0);
    let code = if timed_out || signal.is_some() {
        ExitCode::NO_STATUS
    } else {
        decode(boot.profile.exit, status, status_byte)
    };
    let qemu_error = (code == ExitCode::NO_STATUS && !timed_out && signal.is_none())
        .then(|| reason(&messages, binary))
        .flatten();
    Ok(Outcome {
        code,
        timed_out,
        signal,
        elapsed,
        qemu_error,
        notes,
    })
}

/// Separates the kernel's notes (without their prefix) from other lines.
fn take_notes(lines: Vec<String>) -> (Vec<String>, Vec<String>) {
    let (notes, other): (Vec<String>, Vec<String>) = lines
        .into_iter()
        .partition(|l| l.starts_with(mewz_abi::exit::NOTE_PREFIX));
    let notes = notes
        .iter()
        .map(|n| n[mewz_abi::exit::NOTE_PREFIX.len()..].trim().to_string())
        .collect();
    (notes, other)
}

/// Reads QEMU's stderr: passed on at once with `-v`, kept for an error message otherwise.
fn collect_messages(
    child: &mut std::process::Child,
    verbose: bool,
) -> std::thread::JoinHandle<Vec<String>> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        if let Some(stderr) = stderr {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if verbose && !line.starts_with(mewz_abi::exit::NOTE_PREFIX) {
                    eprintln!("{line}");
                }
                lines.push(line);
            }
        }
        lines
    })
}

/// QEMU's reason, from its messages: its last error line (QEMU starts those with its own
/// name, and may explain on further lines), else its last line.
fn reason(messages: &[String], binary: &str) -> Option<String> {
    let own = format!("{binary}: ");
    messages
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix(&own))
        .or_else(|| {
            messages
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(String::as_str)
        })
        .map(|l| l.trim().to_string())
}

/// Turns QEMU's process status (and the x86 status byte) into the guest's exit code.
pub fn decode(device: ExitDevice, status: ExitStatus, status_byte: Option<u8>) -> ExitCode {
    match (device, status.code()) {
        (_, None) => ExitCode::NO_STATUS,
        // isa-debug-exit makes QEMU exit with (v << 1) | 1; the byte carries all 8 bits of v.
        (ExitDevice::IsaDebugExit, Some(s)) => match status_byte {
            Some(b) if s & 1 == 1 && ((b as i32) << 1 | 1) & 0xff == s => ExitCode(b),
            _ => ExitCode::NO_STATUS,
        },
        (ExitDevice::Semihosting, Some(s)) => ExitCode(s as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn x86_status_needs_the_matching_byte() {
        let d = ExitDevice::IsaDebugExit;
        assert_eq!(decode(d, exited(1), Some(0)), ExitCode(0));
        assert_eq!(decode(d, exited(13), Some(134)), ExitCode::WASM_TRAP);
        assert_eq!(
            decode(d, exited(((250 << 1) | 1) & 0xff), Some(250)),
            ExitCode::KERNEL_PANIC
        );
        // QEMU exiting on its own (status 0 or 1 without a byte, or a byte that disagrees).
        assert_eq!(decode(d, exited(0), None), ExitCode::NO_STATUS);
        assert_eq!(decode(d, exited(1), None), ExitCode::NO_STATUS);
        assert_eq!(decode(d, exited(3), Some(7)), ExitCode::NO_STATUS);
        assert_eq!(
            decode(d, ExitStatus::from_raw(9), Some(0)),
            ExitCode::NO_STATUS
        );
    }

    #[test]
    fn notes_are_told_from_other_messages() {
        let lines = [
            "mewz: early boot failed: x",
            "mewz-note: declared-memory-mib=18",
        ];
        let (notes, other) = take_notes(lines.map(String::from).into());
        assert_eq!(notes, ["declared-memory-mib=18"]);
        assert_eq!(other, ["mewz: early boot failed: x"]);
        assert_eq!(take_notes(vec![]), (vec![], vec![]));
    }

    #[test]
    fn paths_with_commas_survive_qemus_option_syntax() {
        assert_eq!(crate::stdio::option_value("/tmp/a,b/x"), "/tmp/a,,b/x");
        assert_eq!(crate::stdio::option_value("/tmp/ab"), "/tmp/ab");
    }

    #[test]
    fn qemus_reason_is_its_last_error_line() {
        let messages: Vec<String> = [
            "qemu-system-x86_64: -m 12Q: Parameter 'size' expects a number",
            "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-",
            "and exabytes, respectively.",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            reason(&messages, "qemu-system-x86_64").as_deref(),
            Some("-m 12Q: Parameter 'size' expects a number")
        );
        let other = vec!["something odd".to_string(), " ".to_string()];
        assert_eq!(
            reason(&other, "qemu-system-x86_64").as_deref(),
            Some("something odd")
        );
        assert_eq!(reason(&[], "qemu-system-x86_64"), None);
    }

    #[test]
    fn semihosting_status_is_the_code() {
        let d = ExitDevice::Semihosting;
        assert_eq!(decode(d, exited(0), None), ExitCode(0));
        assert_eq!(decode(d, exited(251), None), ExitCode::CPU_EXCEPTION);
        assert_eq!(
            decode(d, ExitStatus::from_raw(15), None),
            ExitCode::NO_STATUS
        );
    }
}
