//! How much of the machine's memory the guest uses, and the clean ends when it is not enough.
//!
//! "In use" is the kernel heap's allocations plus the frames mapped after boot (the app's
//! touched pages and their page tables); its peak is tracked at every allocation and every
//! frame taken. `-v` (`mewz.verbose`) prints it when the app ends ([`log_report`]). The kernel
//! image and the boot-time page tables come on top: they are fixed per image.
//!
//! Overcommit policy: committing memory (the declared minimum, `memory.grow`, the stack) maps
//! nothing; pages are backed when first touched. A declared minimum larger than the machine's
//! RAM is refused at instantiation (it could never be touched in full). `memory.grow` fails
//! with -1 when the pages it adds could not be backed by the RAM free at that moment, not
//! counting pages committed before but never touched (each request judged alone, like Linux's
//! default heuristic). So a machine can hold more committed memory than RAM, and a touch can
//! still find no RAM left: the app then ends with `out of memory` and
//! [`ExitCode::OUT_OF_MEMORY`], the kernel keeping its reserve ([`crate::frames`]) to say so.

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
    heap::in_use() + frames::in_use() * FRAME_SIZE
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

/// Size of the smallest machine whose RAM could hold a linear memory of `bytes`.
pub fn machine_mib_for(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
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
        let app_pages = touched(Backed::LinearMemory) + touched(Backed::AppStack);
        write!(
            f,
            "memory: peak {} in use (kernel heap now {}, peak {}; app pages {}, page tables {}); ",
            Kib(peak_bytes() as u64),
            Kib(heap::in_use() as u64),
            Kib(heap::peak() as u64),
            Kib(app_pages),
            Kib(frames_now.saturating_sub(app_pages)),
        )?;
        for (i, what) in Backed::ALL.into_iter().enumerate() {
            write!(
                f,
                "{}{} {} pages touched of {}",
                if i == 0 { "" } else { ", " },
                what.name(),
                demand::touched_pages(what),
                Kib(demand::committed_bytes(what) as u64)
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
        "out of memory: no RAM left for a page of the app's {} (it touched {} of linear memory and {} of stack; the machine has {} MiB)",
        what.name(),
        Kib((demand::touched_pages(Backed::LinearMemory) * FRAME_SIZE) as u64),
        Kib((demand::touched_pages(Backed::AppStack) * FRAME_SIZE) as u64),
        machine_mib(ram),
    );
    p.exit_note(format_args!(
        "{NOTE_MEMORY_EXHAUSTED_MIB}={}",
        machine_mib(ram)
    ));
    log_report();
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
        machine_mib_for(self.minimum_bytes)
    }
}

impl fmt::Display for MachineTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the app declares {} of initial memory but the machine has {} MiB",
            Kib(self.minimum_bytes),
            machine_mib(self.ram_bytes)
        )
    }
}

/// Checks a declared minimum against RAM of `ram_bytes` (0: unknown, always fits).
pub fn check_declared(minimum_bytes: u64, ram_bytes: u64) -> Result<(), MachineTooSmall> {
    if ram_bytes == 0 || machine_mib_for(minimum_bytes) <= machine_mib(ram_bytes) {
        Ok(())
    } else {
        Err(MachineTooSmall {
            minimum_bytes,
            ram_bytes,
        })
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
    fn a_declared_minimum_fits_a_machine_of_at_least_its_size() {
        // x86's memory map of a 16 MiB machine: the legacy hole is missing.
        let q35_16m = (16 << 20) - (384 << 10);
        assert_eq!(machine_mib(q35_16m), 16);
        assert_eq!(check_declared(16 << 20, q35_16m), Ok(()));
        let go = 273 * 65536;
        let err = check_declared(go, q35_16m).unwrap_err();
        assert_eq!(err.needed_mib(), 18);
        assert_eq!(
            err.to_string(),
            "the app declares 17472 KiB of initial memory but the machine has 16 MiB"
        );
        assert_eq!(check_declared(go, 18 << 20), Ok(()));
        assert_eq!(check_declared(u64::from(u32::MAX), 0), Ok(()), "unknown");
    }
}
