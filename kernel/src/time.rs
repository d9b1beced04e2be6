//! Sleeping on the platform's one-shot timer.

use crate::platform::platform;

/// Sleeps at least `ns` nanoseconds, halting the CPU between timer interrupts.
pub fn sleep_ns(ns: u64) {
    let p = platform();
    let deadline = p.monotonic_ns().saturating_add(ns);
    loop {
        let now = p.monotonic_ns();
        if now >= deadline {
            return;
        }
        p.arm_timer(deadline - now);
        p.wait_for_interrupt();
    }
}
