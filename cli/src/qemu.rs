//! Boots an image under QEMU and decodes the guest's exit status — the one place that does.

use crate::targets::{ExitDevice, Profile};
use anyhow::{Context, Result};
use mewz_abi::ExitCode;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The byte the kernel reads as end of file on the console (EOT, ^D).
const END_OF_INPUT: u8 = 0x04;

/// What to boot and how.
pub struct Boot<'a> {
    pub profile: &'a Profile,
    pub image: &'a Path,
    pub command_line: &'a str,
    /// Memory for the machine, e.g. "512M"; the profile's default when `None`.
    pub machine_memory: Option<&'a str>,
    pub timeout: Duration,
}

/// How a boot ended.
#[derive(Debug)]
pub struct Outcome {
    /// The guest's exit status, or [`ExitCode::NO_STATUS`] when it gave none.
    pub code: ExitCode,
    pub timed_out: bool,
    pub interrupted: bool,
    pub elapsed: Duration,
    /// The kernel's notes for the runner (`KEY=VALUE`, see `mewz_abi::exit::NOTE_PREFIX`).
    pub notes: Vec<String>,
}

/// The full QEMU command line for a boot; `exit_file` receives the x86 status byte.
pub fn command(boot: &Boot<'_>, exit_file: &Path) -> Command {
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
    cmd.args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(boot.image)
        .args(["-append", boot.command_line])
        // First UART: the app's stdout and the console input. Second: stderr and kernel messages.
        .args(["-serial", "stdio"])
        .args([
            "-chardev",
            "file,id=mewzerr,path=/dev/stderr,append=on",
            "-serial",
            "chardev:mewzerr",
        ]);
    match boot.profile.exit {
        ExitDevice::IsaDebugExit => {
            cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
                .arg("-chardev")
                .arg(format!("file,id=mewzexit,path={}", exit_file.display()))
                .args(["-device", "isa-debugcon,iobase=0xe9,chardev=mewzexit"]);
        }
        ExitDevice::Semihosting => {
            // The semihosting console carries the kernel's notes (and messages from before
            // it has a UART); the runner reads them from the file afterwards.
            cmd.args([
                "-semihosting-config",
                "enable=on,target=native,chardev=mewzexit",
            ])
            .arg("-chardev")
            .arg(format!("file,id=mewzexit,path={}", exit_file.display()));
        }
    }
    cmd
}

/// Boots and waits, passing the console through. Ctrl-C stops the machine.
pub fn run(boot: &Boot<'_>) -> Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let exit_file = dir.path().join("exit");
    let mut cmd = command(boot, &exit_file);
    // A terminal goes straight to the guest (the user types ^D for end of file). Piped or
    // file input is forwarded, and its end becomes the EOT byte the kernel reads as end of file,
    // since a serial line cannot signal it otherwise.
    let forward_stdin = !std::io::stdin().is_terminal();
    cmd.stdin(if forward_stdin {
        Stdio::piped()
    } else {
        Stdio::inherit()
    })
    .stdout(Stdio::inherit())
    .stderr(Stdio::inherit());
    if std::env::var_os("MEWZ_SHOW_QEMU").is_some() {
        eprintln!("mewz: {cmd:?}");
    }
    // QEMU takes Ctrl-C itself (its stdio console keeps signals on) and stops; we only must
    // not die before it, so that its exit and the terminal restore are seen through.
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())
        .context("installing the Ctrl-C handler")?;
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "cannot start {} (run ci/setup to install QEMU)",
            boot.profile.qemu.binary
        )
    })?;
    if let Some(mut guest_input) = child.stdin.take() {
        std::thread::spawn(move || {
            // The guest may stop before reading everything: a broken pipe is not an error here.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut guest_input);
            let _ = guest_input.write_all(&[END_OF_INPUT]);
            // Keep the pipe open: QEMU treats a closed stdin as a hang-up of the console.
            std::thread::park();
        });
    }
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= boot.timeout {
            timed_out = true;
            // The child may have exited just now; either way it is gone after wait().
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let channel = std::fs::read(&exit_file).unwrap_or_default();
    let (text, status_byte) = match boot.profile.exit {
        ExitDevice::IsaDebugExit => match channel.split_last() {
            Some((&status, text)) => (text, Some(status)),
            None => (&channel[..], None),
        },
        ExitDevice::Semihosting => (&channel[..], None),
    };
    let (notes, other) = split_notes(&String::from_utf8_lossy(text));
    eprint!("{other}");
    let code = if timed_out {
        ExitCode::NO_STATUS
    } else {
        decode(boot.profile.exit, status, status_byte)
    };
    Ok(Outcome {
        code,
        timed_out,
        interrupted: interrupted.load(Ordering::Relaxed),
        elapsed,
        notes,
    })
}

/// The kernel's notes (without their prefix) and the rest of the exit channel's text.
fn split_notes(text: &str) -> (Vec<String>, String) {
    let mut notes = Vec::new();
    let mut other = String::new();
    for line in text.split_inclusive('\n') {
        match line.strip_prefix(mewz_abi::exit::NOTE_PREFIX) {
            Some(note) => notes.push(note.trim_end().to_string()),
            None => other.push_str(line),
        }
    }
    (notes, other)
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
    fn notes_are_told_from_other_text() {
        let (notes, other) =
            split_notes("mewz: early boot failed: x\nmewz-note: declared-memory-mib=18\n");
        assert_eq!(notes, ["declared-memory-mib=18"]);
        assert_eq!(other, "mewz: early boot failed: x\n");
        assert_eq!(split_notes(""), (vec![], String::new()));
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
