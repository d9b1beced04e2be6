//! Wall clock: the CMOS RTC read once at boot, then advanced by the monotonic clock.

use super::clock;
use crate::clock_math::NS_PER_SEC;
use crate::rtc_time::{RtcRegisters, decode, unix_seconds};
use spin::Once;
use x86_64::instructions::port::Port;

/// (Unix time in ns, monotonic ns) at the moment the RTC was read.
static AT_BOOT: Once<Option<(u64, u64)>> = Once::new();

const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;
const UPDATE_IN_PROGRESS: u8 = 0x80;
const CENTURY: u8 = 0x32;
/// Keeps NMIs masked while the index register is set, as the chipset expects.
const NMI_DISABLE: u8 = 0x80;

fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index/data pair; reading a register has no effect
    // on memory.
    unsafe {
        Port::<u8>::new(0x70).write(NMI_DISABLE | reg);
        Port::<u8>::new(0x71).read()
    }
}

fn read_registers() -> RtcRegisters {
    // An update takes < 2 ms after UIP rises; bounded so a missing RTC cannot hang the boot.
    for _ in 0..100_000 {
        if cmos(STATUS_A) & UPDATE_IN_PROGRESS == 0 {
            break;
        }
    }
    RtcRegisters {
        seconds: cmos(0x00),
        minutes: cmos(0x02),
        hours: cmos(0x04),
        day: cmos(0x07),
        month: cmos(0x08),
        year: cmos(0x09),
        century: cmos(CENTURY),
        status_b: cmos(STATUS_B),
    }
}

pub fn init() {
    AT_BOOT.call_once(|| {
        // Two equal reads in a row cannot straddle an update.
        let mut regs = read_registers();
        for _ in 0..5 {
            let again = read_registers();
            if again == regs {
                break;
            }
            regs = again;
        }
        let seconds = unix_seconds(&decode(&regs)?);
        Some((seconds * NS_PER_SEC, clock::monotonic_ns()))
    });
}

pub fn wall_clock_ns() -> Option<u64> {
    let (wall, mono) = (*AT_BOOT.get()?)?;
    Some(wall + clock::monotonic_ns().saturating_sub(mono))
}
