//! The local APIC (xAPIC, memory-mapped): one-shot timer interrupts for `arm_timer`.

use super::idt::{SPURIOUS_VECTOR, TIMER_VECTOR};
use super::paging::phys_to_virt;
use crate::clock_math::ns_to_ticks;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

const ID: usize = 0x20;
const TPR: usize = 0x80;
const EOI: usize = 0xb0;
const SVR: usize = 0xf0;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_ERROR: usize = 0x370;
const TIMER_INITIAL_COUNT: usize = 0x380;
const TIMER_CURRENT_COUNT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
/// Divide configuration 0b0011: the timer counts at bus clock / 16.
const DIVIDE_BY_16: u32 = 0b0011;

static BASE: AtomicU64 = AtomicU64::new(0);
static TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static TIMER_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Physical address of the registers, to be mapped before [`enable`].
pub fn phys_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no side effects.
    unsafe { Msr::new(IA32_APIC_BASE).read() & APIC_BASE_ADDRESS_MASK }
}

fn register(offset: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `register` points into the uncached LAPIC page mapped by `enable`'s caller.
    unsafe { register(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { register(offset).write_volatile(value) }
}

/// Enables the LAPIC (its page must be mapped in the direct map), with every local interrupt
/// source masked and the timer stopped.
pub fn enable() {
    let phys = phys_base();
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: sets the global enable bit, keeping the base address.
    unsafe { msr.write(msr.read() | APIC_BASE_ENABLE) };
    BASE.store(phys_to_virt(phys), Ordering::Relaxed);
    write(SVR, SVR_ENABLE | SPURIOUS_VECTOR as u32);
    write(TPR, 0);
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_ERROR, LVT_MASKED);
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(TIMER_INITIAL_COUNT, 0);
}

/// Starts the (masked) timer counting down from its maximum, for calibration.
pub fn start_calibration() {
    write(TIMER_INITIAL_COUNT, u32::MAX);
}

pub fn current_count() -> u32 {
    read(TIMER_CURRENT_COUNT)
}

pub fn stop_timer() {
    write(TIMER_INITIAL_COUNT, 0);
}

pub fn set_timer_hz(hz: u64) {
    TIMER_HZ.store(hz, Ordering::Relaxed);
}

pub fn timer_hz() -> u64 {
    TIMER_HZ.load(Ordering::Relaxed)
}

/// One-shot interrupt `delay_ns` from now. Delays beyond the counter's range fire early;
/// sleepers re-arm.
pub fn arm(delay_ns: u64) {
    let ticks = ns_to_ticks(delay_ns, timer_hz()).clamp(1, u32::MAX as u64);
    write(LVT_TIMER, TIMER_VECTOR as u32);
    write(TIMER_INITIAL_COUNT, ticks as u32);
}

/// From the timer's interrupt handler.
pub fn timer_fired() {
    TIMER_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    end_of_interrupt();
}

/// Ends the interrupt being handled (every fixed, edge-triggered one needs it).
pub fn end_of_interrupt() {
    write(EOI, 0);
}

/// This CPU's local APIC ID: where message-signalled interrupts are addressed.
pub fn id() -> u8 {
    (read(ID) >> 24) as u8
}

pub fn timer_interrupts() -> u64 {
    TIMER_INTERRUPTS.load(Ordering::Relaxed)
}
