//! ARM PL031 real-time clock: whole seconds since the Unix epoch.

use core::ptr::read_volatile;

const RTCDR: usize = 0x00;

/// # Safety
/// `base` is a PL031's register frame, mapped as Device memory.
pub unsafe fn read_seconds(base: usize) -> u64 {
    // SAFETY: RTCDR is a register of the mapped frame (caller's contract).
    u64::from(unsafe { read_volatile((base + RTCDR) as *const u32) })
}
