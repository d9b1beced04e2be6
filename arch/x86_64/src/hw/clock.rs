//! Monotonic time from the TSC, calibrated at boot against the 8254 PIT (which QEMU and real
//! chipsets have); the LAPIC timer is calibrated in the same window.

use super::lapic;
use crate::clock_math::{PIT_HZ, frequency_hz, resolution_ns, ticks_to_ns};
use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

/// 5 ms of PIT ticks: precise to ~0.02 %, cheap at boot.
const CALIBRATION_PIT_TICKS: u16 = (PIT_HZ / 200) as u16;
/// Bound on polls of the PIT, so a machine without one fails loudly instead of hanging.
const MAX_PIT_POLLS: u32 = 20_000_000;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and reads no memory.
    unsafe { _rdtsc() }
}

/// Calibrates the TSC and LAPIC timer; interrupts are off and the LAPIC is enabled.
pub fn init() {
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    let [lo, hi] = CALIBRATION_PIT_TICKS.to_le_bytes();
    // SAFETY: ports 0x42/0x43/0x61 are the PIT's channel 2 and its gate; using them touches no
    // memory and nothing else uses channel 2.
    let (tsc_ticks, lapic_ticks) = unsafe {
        // Gate high, speaker off; channel 2, lobyte/hibyte, mode 0 (OUT rises at terminal count).
        let saved = gate.read();
        gate.write((saved & !0x02) | 0x01);
        command.write(0b1011_0000);
        channel2.write(lo);
        channel2.write(hi);
        lapic::start_calibration();
        let t0 = rdtsc();
        let mut polls = 0;
        while gate.read() & 0x20 == 0 {
            polls += 1;
            assert!(
                polls < MAX_PIT_POLLS,
                "PIT channel 2 never counted down: no PIT to calibrate the TSC"
            );
        }
        let t1 = rdtsc();
        let lapic_ticks = lapic::finish_calibration();
        gate.write(saved);
        (t1 - t0, lapic_ticks)
    };
    let pit = CALIBRATION_PIT_TICKS as u64;
    TSC_HZ.store(frequency_hz(tsc_ticks, pit), Ordering::Relaxed);
    lapic::set_timer_hz(frequency_hz(lapic_ticks, pit));
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

pub fn monotonic_ns() -> u64 {
    let hz = tsc_hz();
    if hz == 0 {
        return 0;
    }
    ticks_to_ns(
        rdtsc().saturating_sub(TSC_AT_BOOT.load(Ordering::Relaxed)),
        hz,
    )
}

pub fn resolution() -> u64 {
    resolution_ns(tsc_hz())
}
