//! The EL1 virtual generic timer: monotonic clock (CNTVCT_EL0) and a one-shot interrupt
//! (CNTV_CVAL_EL0), counted in [`interrupts`].

use aarch64_cpu::registers::*;
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
const NS_PER_S: u128 = 1_000_000_000;

pub fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

pub fn counter() -> u64 {
    // SAFETY: keeps the counter read from being hoisted above earlier instructions.
    unsafe { asm!("isb", options(nomem, nostack)) };
    CNTVCT_EL0.get()
}

pub fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as u128 * NS_PER_S / frequency() as u128) as u64
}

pub fn monotonic_ns() -> u64 {
    ticks_to_ns(counter())
}

pub fn resolution_ns() -> u64 {
    (NS_PER_S as u64).div_ceil(frequency())
}

/// Fires the timer interrupt `delay_ns` from now, replacing any armed deadline.
pub fn arm(delay_ns: u64) {
    let ticks = (delay_ns as u128 * frequency() as u128).div_ceil(NS_PER_S);
    let deadline = counter().saturating_add((ticks as u64).max(1));
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
