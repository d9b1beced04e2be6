//! The EL1 virtual generic timer: monotonic clock (CNTVCT_EL0) and a one-shot interrupt
//! (CNTV_CVAL_EL0), counted in [`interrupts`].

use crate::counter;
use aarch64_cpu::registers::*;
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

pub fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

pub fn read_counter() -> u64 {
    // SAFETY: keeps the counter read from being hoisted above earlier instructions.
    unsafe { asm!("isb", options(nomem, nostack)) };
    CNTVCT_EL0.get()
}

pub fn monotonic_ns() -> u64 {
    counter::ticks_to_ns(read_counter(), frequency())
}

pub fn resolution_ns() -> u64 {
    counter::resolution_ns(frequency())
}

/// Fires the timer interrupt `delay_ns` from now, replacing any armed deadline.
pub fn arm(delay_ns: u64) {
    let deadline = read_counter().saturating_add(counter::ns_to_ticks(delay_ns, frequency()));
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Called from the IRQ handler: the timer's interrupt is level triggered, so disarm it.
pub fn on_interrupt() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
    INTERRUPTS.fetch_add(1, Ordering::Relaxed);
}

pub fn interrupts() -> u64 {
    INTERRUPTS.load(Ordering::Relaxed)
}

/// Waits for an interrupt with IRQs masked everywhere else in the kernel: `wfi` wakes on a
/// pending interrupt even while masked, so unmasking right after it cannot lose a wake-up.
pub fn wait_for_interrupt() {
    // SAFETY: the IRQ is taken between `daifclr` and `daifset`; the handler preserves all
    // registers and returns here.
    unsafe {
        asm!(
            "dsb sy",
            "wfi",
            "msr daifclr, #2",
            "isb",
            "msr daifset, #2",
            options(nostack)
        )
    };
}
