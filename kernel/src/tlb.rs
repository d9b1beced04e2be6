//! Flushes the TLB now and then so that an emulator's software TLB fits the app's working set.
//!
//! QEMU's TCG translates guest addresses through a direct-mapped software TLB that starts
//! with 256 entries (1 MiB) and is resized only when the guest flushes it, from how many
//! entries were in use since the last flush. A kernel that maps everything at boot and never
//! flushes keeps 256 entries for good, and a working set that spans more (the app's code and
//! stack, its linear memory, the kernel's buffers) evicts itself on nearly every access: on
//! x86_64 a byte-at-a-time `cat` spent over half of QEMU's time in its TLB-miss path, and
//! 5 MiB through it took 1.3 s of CPU instead of 0.45 s. Console reads and writes call
//! [`maybe_flush`]: a flush every [`INTERVAL_NS`] lets the TLB grow to the working set within
//! a few intervals, and costs one refill of the pages in use (also on hardware, where it is
//! as rare and as cheap).
use crate::platform::Platform;
use core::sync::atomic::{AtomicU64, Ordering};

/// Time between flushes.
pub const INTERVAL_NS: u64 = 10_000_000;

static LAST: AtomicU64 = AtomicU64::new(0);

/// Flushes if [`INTERVAL_NS`] passed since the last flush. Cheap: one clock read.
pub fn maybe_flush(p: &dyn Platform) {
    let now = p.monotonic_ns();
    if due(LAST.load(Ordering::Relaxed), now) {
        LAST.store(now, Ordering::Relaxed);
        p.flush_tlb();
    }
}

fn due(last_ns: u64, now_ns: u64) -> bool {
    now_ns.saturating_sub(last_ns) >= INTERVAL_NS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_once_per_interval() {
        assert!(!due(0, INTERVAL_NS - 1));
        assert!(due(0, INTERVAL_NS));
        assert!(!due(5 * INTERVAL_NS, 5 * INTERVAL_NS + 1));
        assert!(due(5 * INTERVAL_NS, 7 * INTERVAL_NS));
        assert!(
            !due(9 * INTERVAL_NS, INTERVAL_NS),
            "a clock read out of order waits"
        );
    }
}
