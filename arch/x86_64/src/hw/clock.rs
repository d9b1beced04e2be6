//! Monotonic time from the TSC, calibrated at boot against the 8254 PIT (which QEMU and real
//! chipsets have); the LAPIC timer is calibrated in the same window.

use super::lapic;
use crate::clock_math::{PIT_HZ, frequency_hz, resolution_ns, ticks_to_ns};
use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
static TSC_AT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// 5 ms of PIT ticks: with bracketed samples precise to ~0.05 %, cheap at boot.
const CALIBRATION_PIT_TICKS: u64 = PIT_HZ / 200;
/// Bound on polls of the PIT, so a machine without one fails loudly instead of hanging.
const MAX_PIT_POLLS: u32 = 10_000_000;
/// Samples per calibration end point; the tightest TSC bracket wins.
const SAMPLES: usize = 5;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and reads no memory.
    unsafe { _rdtsc() }
}

/// Reads the PIT's channel 2 count (latched, so both bytes belong together).
fn pit_count() -> u16 {
    // SAFETY: ports 0x42/0x43 are the PIT's channel 2 and command register; reading the
    // latched count touches no memory and nothing else uses channel 2.
    unsafe {
        Port::<u8>::new(0x43).write(0b1000_0000); // latch channel 2
        let lo = Port::<u8>::new(0x42).read();
        let hi = Port::<u8>::new(0x42).read();
        u16::from_le_bytes([lo, hi])
    }
}

/// The three counters read at (nearly) one instant.
#[derive(Clone, Copy)]
struct Sample {
    tsc: u64,
    pit: u16,
    lapic: u32,
    /// TSC ticks between the reads before and after: how blurred the instant is.
    width: u64,
}

fn sample() -> Sample {
    let mut best: Option<Sample> = None;
    for _ in 0..SAMPLES {
        let before = rdtsc();
        let pit = pit_count();
        let lapic = lapic::current_count();
        let after = rdtsc();
        let s = Sample {
            tsc: before / 2 + after / 2,
            pit,
            lapic,
            width: after - before,
        };
        if best.is_none_or(|b| s.width < b.width) {
            best = Some(s);
        }
    }
    // SAMPLES > 0.
    best.unwrap()
}

/// Calibrates the TSC and LAPIC timer against the PIT; interrupts are off and the LAPIC is
/// enabled. Reading the counters back to back, rather than waiting for the PIT to signal the
/// end, keeps a vCPU preempted on a busy host from stretching the measured interval.
pub fn init() {
    let mut gate = Port::<u8>::new(0x61);
    // SAFETY: port 0x61 gates PIT channel 2 (and the speaker, kept off); 0x42/0x43 program
    // channel 2, which nothing else uses. No memory is touched.
    let saved_gate = unsafe {
        let saved = gate.read();
        gate.write((saved & !0x02) | 0x01);
        // Channel 2, lobyte/hibyte, mode 0, counting down from 0xffff (55 ms).
        Port::<u8>::new(0x43).write(0b1011_0000);
        Port::<u8>::new(0x42).write(0xff);
        Port::<u8>::new(0x42).write(0xff);
        saved
    };
    lapic::start_calibration();
    // The first pass also pays for the emulator translating this code; only time the second.
    sample();
    let start = sample();
    let mut polls = 0;
    while (start.pit.wrapping_sub(pit_count()) as u64) < CALIBRATION_PIT_TICKS {
        polls += 1;
        assert!(
            polls < MAX_PIT_POLLS,
            "PIT channel 2 does not count: cannot calibrate the TSC"
        );
    }
    let end = sample();
    lapic::stop_timer();
    // SAFETY: as above; restores the gate.
    unsafe { gate.write(saved_gate) };
    let pit_ticks = start.pit.wrapping_sub(end.pit) as u64;
    TSC_HZ.store(
        frequency_hz(end.tsc - start.tsc, pit_ticks),
        Ordering::Relaxed,
    );
    lapic::set_timer_hz(frequency_hz(
        start.lapic.wrapping_sub(end.lapic) as u64,
        pit_ticks,
    ));
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
}

/// Notes the TSC at the kernel's first instruction in Rust, for [`since_entry_ns`].
pub fn mark_entry() {
    TSC_AT_ENTRY.store(rdtsc(), Ordering::Relaxed);
}

/// Nanoseconds since [`mark_entry`], and the TSC's reading at entry in nanoseconds (the time
/// since the machine's reset where the TSC starts at zero then, as QEMU's does).
pub fn since_entry_ns() -> (u64, u64) {
    let entry = TSC_AT_ENTRY.load(Ordering::Relaxed);
    let hz = tsc_hz().max(1);
    (
        ticks_to_ns(rdtsc().saturating_sub(entry), hz),
        ticks_to_ns(entry, hz),
    )
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
