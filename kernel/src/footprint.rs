//! How much of the machine's memory the guest uses, and the clean ends when it is not enough.
//!
//! "In use" is the kernel heap's allocations plus the frames mapped after boot (the app's
//! touched pages and their page tables); its peak is tracked at every allocation and every
//! frame taken. `-v` (`mewz.verbose`) prints it when the app ends ([`log_report`]). The kernel
//! image and the boot-time page tables come on top: they are fixed per image.
//!
//! Overcommit policy: committing memory (the declared minimum, `memory.grow`, the stack) maps
//! nothing; pages are backed when first touched, so only touched pages cost RAM. An app may
//! commit linear memory up to [`COMMIT_RATIO`] times the machine's RAM: toolchains declare
//! headroom they seldom touch (Go: its data + 16 MiB), and a declared minimum beyond that
//! cannot be meant for this machine, so it is refused at start (before boot, when `mewz run`
//! can tell). `memory.grow` fails with -1 past that limit, and also when the pages it adds
//! could not be backed by the RAM free at that moment (each request judged alone, not counting
//! pages committed before but never touched, like Linux's default heuristic). So a touch can
//! still find no RAM left: the app then ends with `out of memory` and
//! [`ExitCode::OUT_OF_MEMORY`], the kernel keeping its reserve ([`crate::frames`]) to say so.
//! The app stack (8 MiB, the kernel's choice) is committed outside this limit.

use crate::demand::{self, Backed};
use crate::frames::{self, FRAME_SIZE};
use crate::platform::platform;
use crate::{heap, klog, kprintln};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use mewz_abi::ExitCode;
use mewz_abi::exit::{NOTE_DECLARED_MEMORY_MIB, NOTE_MEMORY_EXHAUSTED_MIB};

const MIB: u64 = 1 << 20;

static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Bytes in use now: the kernel heap's allocations and the frames mapped after boot.
pub fn in_use_bytes() -> usize {
    heap::in_use().unwrap_or(0) + frames::in_use() * FRAME_SIZE
}

/// Records the current use if it is the highest so far.
pub fn note_use() {
    PEAK.fetch_max(in_use_bytes(), Ordering::Relaxed);
}

/// The most bytes that were ever in use at once.
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed).max(in_use_bytes())
}

/// The machine size, in whole MiB, that RAM of `ram_bytes` stands for: the memory map leaves
/// out what firmware keeps (x86's legacy hole), so a 16 MiB machine reports a little less.
pub fn machine_mib(ram_bytes: u64) -> u64 {
    ram_bytes.div_ceil(MIB)
}

/// How many times the machine's RAM an app may commit as linear memory (see the module docs).
pub const COMMIT_RATIO: u64 = 2;

/// The most linear memory an app may commit in a machine with `ram_bytes` of RAM (`None`:
/// the RAM is unknown, a hosted process).
pub fn commit_limit(ram_bytes: u64) -> Option<u64> {
    (ram_bytes > 0).then(|| machine_mib(ram_bytes) * MIB * COMMIT_RATIO)
}

/// KiB, rounded up, for messages.
struct Kib(u64);

impl fmt::Display for Kib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KiB", self.0.div_ceil(1024))
    }
}

/// One line: peak use, what is in use now, and what the app touched of what it committed.
pub struct Report;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frames_now = (frames::in_use() * FRAME_SIZE) as u64;
        let touched = |what| (demand::touched_pages(what) * FRAME_SIZE) as u64;
        // The app's pages stay mapped until it ends; the rest of the frames are page tables
        // and the kernel buffers' pages.
        let app_pages = touched(Backed::LinearMemory) + touched(Backed::AppStack);
        write!(
            f,
            "memory: peak {} in use (kernel heap now {}, peak {}; app pages {}, page tables and kernel buffers {}); ",
            Kib(peak_bytes() as u64),
            Kib(heap::in_use().unwrap_or(0) as u64),
            Kib(heap::peak() as u64),
            Kib(app_pages),
            Kib(frames_now.saturating_sub(app_pages)),
        )?;
        for (i, what) in Backed::ALL.into_iter().enumerate() {
            // The kernel buffers come and go: the pages backed now, of the buffers alive now.
            let (touched, committed) = match what {
                Backed::KernelBuffers => (
                    crate::touch_buffer::touched_pages(),
                    crate::touch_buffer::live_bytes(),
                ),
                _ => (demand::touched_pages(what), demand::committed_bytes(what)),
            };
            write!(
                f,
                "{}{} {} pages touched of {}",
                if i == 0 { "" } else { ", " },
                what.name(),
                touched,
                Kib(committed as u64)
            )?;
        }
        let ram = platform().ram_bytes() as u64;
        if ram > 0 {
            write!(f, "; machine {}", Kib(ram))?;
        }
        Ok(())
    }
}

/// Logs the [`Report`] (verbose mode only).
pub fn log_report() {
    klog!("{}", Report);
}

/// A page of `what` was touched and no RAM is left to back it: ends the app.
pub fn out_of_memory(what: Backed) -> ! {
    let p = platform();
    let ram = p.ram_bytes() as u64;
    kprintln!(
        "out of memory: no RAM left for a page of {} (the app touched {} of linear memory and {} of stack; the machine has {} MiB)",
        what.owner(),
        Kib((demand::touched_pages(Backed::LinearMemory) * FRAME_SIZE) as u64),
        Kib((demand::touched_pages(Backed::AppStack) * FRAME_SIZE) as u64),
        machine_mib(ram),
    );
    p.exit_note(format_args!(
        "{NOTE_MEMORY_EXHAUSTED_MIB}={}",
        machine_mib(ram)
    ));
    log_report();
    crate::console::flush(p);
    p.exit(ExitCode::OUT_OF_MEMORY.0)
}

/// Why the machine cannot take the app's declared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineTooSmall {
    pub minimum_bytes: u64,
    pub ram_bytes: u64,
}

impl MachineTooSmall {
    /// The size of machine, in MiB, the declaration needs.
    pub fn needed_mib(&self) -> u64 {
        self.minimum_bytes.div_ceil(COMMIT_RATIO * MIB)
    }
}

impl fmt::Display for MachineTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const _: () = assert!(COMMIT_RATIO == 2, "the message says twice");
        write!(
            f,
            "the app declares {} of initial memory, more than twice the machine's {} MiB",
            Kib(self.minimum_bytes),
            machine_mib(self.ram_bytes)
        )
    }
}

/// Checks a declared minimum against a machine with `ram_bytes` of RAM (0: unknown, fits).
pub fn check_declared(minimum_bytes: u64, ram_bytes: u64) -> Result<(), MachineTooSmall> {
    match commit_limit(ram_bytes) {
        Some(limit) if minimum_bytes > limit => Err(MachineTooSmall {
            minimum_bytes,
            ram_bytes,
        }),
        _ => Ok(()),
    }
}

/// Leaves the runner the note that goes with a [`MachineTooSmall`] exit.
pub fn note_machine_too_small(e: &MachineTooSmall) {
    platform().exit_note(format_args!(
        "{NOTE_DECLARED_MEMORY_MIB}={}",
        e.needed_mib()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_minimum_may_be_up_to_twice_the_machine() {
        // x86's memory map of a 16 MiB machine: the legacy hole is missing.
        let q35_16m = (16 << 20) - (384 << 10);
        assert_eq!(machine_mib(q35_16m), 16);
        assert_eq!(commit_limit(q35_16m), Some(32 << 20));
        let go = 273 * 65536;
        assert_eq!(check_declared(go, q35_16m), Ok(()), "Go's headroom fits");
        assert_eq!(check_declared(32 << 20, q35_16m), Ok(()));
        let err = check_declared((32 << 20) + 65536, q35_16m).unwrap_err();
        assert_eq!(err.needed_mib(), 17);
        assert_eq!(
            err.to_string(),
            "the app declares 32832 KiB of initial memory, more than twice the machine's 16 MiB"
        );
        assert_eq!(check_declared((32 << 20) + 65536, 17 << 20), Ok(()));
        assert_eq!(check_declared(u64::from(u32::MAX), 0), Ok(()), "unknown");
        assert_eq!(commit_limit(0), None);
    }
}
