//! What `mewz run` starts (QEMU, or a hosted app): it never outlives mewz, and the signals that
//! stop mewz stop it.

use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals that stop what mewz runs (and mewz with 128 + the signal).
const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Makes the process `cmd` starts die with mewz, however mewz ends.
pub fn dies_with_mewz(cmd: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only makes one
    // async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The stop signals mewz has received, instead of the default action (mewz ending at once).
pub struct StopSignals(Arc<AtomicUsize>);

impl StopSignals {
    pub fn watch() -> Result<StopSignals> {
        let received = Arc::new(AtomicUsize::new(0));
        for sig in STOP_SIGNALS {
            signal_hook::flag::register_usize(sig, received.clone(), sig as usize)
                .context("installing the signal handlers")?;
        }
        Ok(StopSignals(received))
    }

    /// The last stop signal received, if any.
    pub fn received(&self) -> Option<i32> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            sig => Some(sig as i32),
        }
    }
}

/// How mewz says that a stop signal came.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "interrupted".to_string(),
        libc::SIGTERM => "terminated".to_string(),
        libc::SIGHUP => "hung up".to_string(),
        other => format!("signal {other}"),
    }
}
