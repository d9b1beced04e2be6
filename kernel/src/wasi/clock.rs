//! Clocks, randomness, scheduling and signals.
//!
//! `REALTIME` is the platform's wall clock (`ENOTSUP` on a machine without one: reporting
//! time since boot as a date would be a lie); `MONOTONIC` is the monotonic clock; the CPU-time
//! clocks are the monotonic clock too, since the app owns the whole machine. `random_get`
//! fails with `EIO` when the machine has no hardware random source: an app must never get
//! predictable bytes it believes are random.

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::types::clockid;
use crate::platform::Platform;

/// The current time of clock `id`, in nanoseconds.
pub fn now(p: &dyn Platform, id: u32) -> Result<u64, Errno> {
    match id {
        clockid::REALTIME => p.wall_clock_ns().ok_or(Errno::NOTSUP),
        clockid::MONOTONIC | clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => {
            Ok(p.monotonic_ns())
        }
        _ => Err(Errno::INVAL),
    }
}

pub fn clock_res_get(cx: &mut Ctx<'_>, id: u32, resolution: u32) -> WasiResult {
    now(cx.platform, id)?;
    cx.mem
        .write_u64(resolution, cx.platform.monotonic_resolution_ns().max(1))
}

pub fn clock_time_get(cx: &mut Ctx<'_>, id: u32, _precision: u64, time: u32) -> WasiResult {
    cx.mem.check(time, 8)?;
    let t = now(cx.platform, id)?;
    cx.mem.write_u64(time, t)
}

pub fn random_get(cx: &mut Ctx<'_>, buf: u32, len: u32) -> WasiResult {
    let bytes = cx.mem.slice_mut(buf, len)?;
    if bytes.is_empty() || cx.platform.random_bytes(bytes) {
        Ok(())
    } else {
        Err(Errno::IO)
    }
}

/// One app, one thread: there is nobody to yield to.
pub fn sched_yield(_cx: &mut Ctx<'_>) -> WasiResult {
    Ok(())
}

/// Signals do not exist here (wasmtime does not implement `proc_raise` either).
pub fn proc_raise(_cx: &mut Ctx<'_>, _signal: u32) -> WasiResult {
    Err(Errno::NOSYS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::mock::WALL_OFFSET_NS;
    use crate::wasi::testing::Fixture;
    use std::sync::atomic::Ordering;

    #[test]
    fn clocks_by_id() {
        let mut f = Fixture::new(64);
        let now = f.platform.now();
        f.call(|cx| clock_time_get(cx, clockid::REALTIME, 0, 0))
            .unwrap();
        assert_eq!(f.u64_at(0), now + WALL_OFFSET_NS);
        for id in [
            clockid::MONOTONIC,
            clockid::PROCESS_CPUTIME_ID,
            clockid::THREAD_CPUTIME_ID,
        ] {
            f.call(|cx| clock_time_get(cx, id, 0, 8)).unwrap();
            assert_eq!(f.u64_at(8), now);
            f.call(|cx| clock_res_get(cx, id, 16)).unwrap();
            assert_eq!(f.u64_at(16), 100);
        }
        assert_eq!(f.call(|cx| clock_time_get(cx, 4, 0, 0)), Err(Errno::INVAL));
        assert_eq!(
            f.call(|cx| clock_res_get(cx, u32::MAX, 0)),
            Err(Errno::INVAL)
        );
        assert_eq!(f.call(|cx| clock_time_get(cx, 1, 0, 57)), Err(Errno::FAULT));
        assert_eq!(f.call(|cx| clock_time_get(cx, 1, 0, 56)), Ok(()));
        f.platform.has_wall_clock.store(false, Ordering::SeqCst);
        assert_eq!(f.call(|cx| clock_time_get(cx, 0, 0, 0)), Err(Errno::NOTSUP));
    }

    #[test]
    fn random_fills_exactly_the_buffer() {
        let mut f = Fixture::new(64);
        f.call(|cx| random_get(cx, 8, 4)).unwrap();
        assert_eq!(&f.memory[6..14], &[0, 0, 7, 38, 69, 100, 0, 0]);
        assert_eq!(f.call(|cx| random_get(cx, 60, 5)), Err(Errno::FAULT));
        assert_eq!(f.call(|cx| random_get(cx, 64, 0)), Ok(()));
        f.platform.has_random.store(false, Ordering::SeqCst);
        assert_eq!(f.call(|cx| random_get(cx, 0, 4)), Err(Errno::IO));
        assert_eq!(
            f.call(|cx| random_get(cx, 0, 0)),
            Ok(()),
            "nothing asked, nothing missing"
        );
    }

    #[test]
    fn yield_and_raise() {
        let mut f = Fixture::new(0);
        assert_eq!(f.call(sched_yield), Ok(()));
        assert_eq!(f.call(|cx| proc_raise(cx, 6)), Err(Errno::NOSYS));
    }
}
