//! `poll_oneoff`: wait for clocks, console input and sockets; files are always ready.
//!
//! A subscription that cannot be waited for fails the whole call, as under wasmtime: a clock id
//! that is not a clock `EINVAL`; a descriptor that is not open, or not one to poll that way (a
//! directory, the console's input for writing, its output for reading), `EBADF`. Subscriptions
//! that are ready produce events at once; otherwise the call sleeps until the earliest clock
//! deadline, or until console input
//! interrupts (a console without input interrupts is looked at every
//! [`crate::console::INPUT_POLL_NS`]). Console output is
//! always writable (it blocks in `fd_write` instead), reported with `nbytes = 0` since there
//! is no buffer whose room could be reported. Sockets report what the stack says (bytes to
//! read, room to write, hangup at end of stream); while one is subscribed, the stack does the
//! waiting, so that traffic wakes the call as well as the clock.

use super::Ctx;
use super::clock;
use super::errno::{Errno, WasiResult};
use super::fd::FdKind;
use super::stdin::Available;
use super::types::{
    EVENT_FD_READWRITE_HANGUP, SUBSCRIPTION_CLOCK_ABSTIME, clockid, event, eventtype, subscription,
};
use crate::net::{Handle, Interest};
use alloc::vec::Vec;

/// Longest single wait: far deadlines are reached in steps, so no platform timer has to
/// represent a delay of centuries.
const MAX_WAIT_NS: u64 = 1_000_000_000;

/// What one subscription waits for, or why it cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// The monotonic time at which the clock fires.
    Clock(u64),
    Read(u32),
    Write(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Subscription {
    userdata: u64,
    kind: u8,
    wait: Wait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    userdata: u64,
    error: Errno,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

pub fn poll_oneoff(
    cx: &mut Ctx<'_>,
    subs: u32,
    events: u32,
    count: u32,
    nevents: u32,
) -> WasiResult {
    if count == 0 {
        return Err(Errno::INVAL);
    }
    cx.mem.array_range(subs, count, subscription::SIZE)?;
    cx.mem.array_range(events, count, event::SIZE)?;
    cx.mem.check(nevents, 4)?;
    let start = cx.platform.monotonic_ns();
    let parsed = (0..count)
        .map(|i| parse(cx, subs + i * subscription::SIZE, start))
        .collect::<Result<Vec<_>, _>>()?;
    let ready = loop {
        let now = cx.platform.monotonic_ns();
        // One look at the network per round, however many sockets are subscribed.
        if let Some(net) = cx.state.net.as_mut() {
            net.look();
        }
        let mut ready = Vec::new();
        let mut wake_at = u64::MAX;
        for s in &parsed {
            match readiness(cx, s.wait, now)? {
                Some((nbytes, flags)) => ready.push(s.event(Errno::SUCCESS, nbytes, flags)),
                None => {
                    let wake = match s.wait {
                        Wait::Clock(deadline) => deadline,
                        _ => crate::console::input_poll_interval()
                            .map_or(u64::MAX, |poll| now.saturating_add(poll)),
                    };
                    wake_at = wake_at.min(wake);
                }
            }
        }
        if !ready.is_empty() {
            break ready;
        }
        let interest = socket_interest(cx, &parsed);
        match cx.state.net.as_mut() {
            // Sockets wake the wait too: the stack knows how to wait for them, and a wait on
            // clocks alone is cut short by the stack's own timers (DHCP renewal, retransmits).
            Some(net) => net.wait(cx.platform, wake_at.min(now + MAX_WAIT_NS), &interest),
            _ => {
                cx.platform.arm_timer((wake_at - now).min(MAX_WAIT_NS));
                cx.platform.wait_for_interrupt();
            }
        }
    };
    for (i, e) in ready.iter().enumerate() {
        write_event(cx, events + i as u32 * event::SIZE, e)?;
    }
    cx.mem.write_u32(nevents, ready.len() as u32)
}

fn parse(cx: &Ctx<'_>, at: u32, now: u64) -> Result<Subscription, Errno> {
    let userdata = cx.mem.read_u64(at + subscription::USERDATA)?;
    let kind = cx.mem.read_u8(at + subscription::TAG)?;
    let wait = match kind {
        eventtype::CLOCK => {
            let id = cx.mem.read_u32(at + subscription::CLOCK_ID)?;
            let timeout = cx.mem.read_u64(at + subscription::CLOCK_TIMEOUT)?;
            let flags = cx.mem.read_u16(at + subscription::CLOCK_FLAGS)?;
            let absolute = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
            Wait::Clock(deadline(cx, id, timeout, absolute, now)?)
        }
        eventtype::FD_READ => Wait::Read(pollable(cx, at, true)?),
        eventtype::FD_WRITE => Wait::Write(pollable(cx, at, false)?),
        _ => return Err(Errno::INVAL),
    };
    Ok(Subscription {
        userdata,
        kind,
        wait,
    })
}

/// The descriptor of subscription `at`, if it can be polled for reading (`read`) or writing.
fn pollable(cx: &Ctx<'_>, at: u32, read: bool) -> Result<u32, Errno> {
    let fd = cx.mem.read_u32(at + subscription::FD)?;
    match cx.state.fds.get(fd)?.kind {
        FdKind::File { .. } | FdKind::Socket { .. } => Ok(fd),
        FdKind::Stdin if read => Ok(fd),
        FdKind::Console(_) if !read => Ok(fd),
        _ => Err(Errno::BADF),
    }
}

/// A clock subscription's deadline on the monotonic clock.
fn deadline(cx: &Ctx<'_>, id: u32, timeout: u64, absolute: bool, now: u64) -> Result<u64, Errno> {
    let clock_now = clock::now(cx.platform, id)?;
    if !absolute {
        return Ok(now.saturating_add(timeout));
    }
    Ok(match id {
        clockid::REALTIME => now.saturating_add(timeout.saturating_sub(clock_now)),
        _ => timeout,
    })
}

/// The sockets among the subscriptions, and what each waits for.
fn socket_interest(cx: &Ctx<'_>, subs: &[Subscription]) -> Vec<(Handle, Interest)> {
    subs.iter()
        .filter_map(|s| {
            let (fd, interest) = match s.wait {
                Wait::Read(fd) => (fd, Interest::Read),
                Wait::Write(fd) => (fd, Interest::Write),
                _ => return None,
            };
            let h = cx.state.fds.get(fd).ok()?.kind.socket()?;
            Some((h, interest))
        })
        .collect()
}

/// A socket's readiness as `(nbytes, flags)`, if it fires for `interest`.
fn socket_readiness(cx: &mut Ctx<'_>, h: Handle, interest: Interest) -> Option<(u64, u16)> {
    let r = cx.state.net.as_mut()?.stack().readiness(h);
    let hangup = if r.hangup {
        EVENT_FD_READWRITE_HANGUP
    } else {
        0
    };
    match interest {
        Interest::Read => r.readable.then_some((r.read_bytes, hangup)),
        Interest::Write => r.writable.then_some((r.write_room, hangup)),
    }
}

/// `Some((nbytes, flags))` when the subscription fires now.
fn readiness(cx: &mut Ctx<'_>, wait: Wait, now: u64) -> Result<Option<(u64, u16)>, Errno> {
    let (fd, interest) = match wait {
        Wait::Clock(deadline) => return Ok((now >= deadline).then_some((0, 0))),
        Wait::Read(fd) => (fd, Interest::Read),
        Wait::Write(fd) => (fd, Interest::Write),
    };
    let entry = *cx.state.fds.get(fd)?;
    Ok(match (entry.kind, interest) {
        (FdKind::Socket { handle, .. }, _) => socket_readiness(cx, handle, interest),
        // A regular file is always ready, whichever way it was opened (as on Linux); like
        // wasmtime, one byte is promised and the end of the file is reported as a hang-up.
        (FdKind::File { ino, .. }, Interest::Read) => {
            let at_end = cx.state.fs.size(ino)? <= entry.position;
            Some((1, if at_end { EVENT_FD_READWRITE_HANGUP } else { 0 }))
        }
        (FdKind::File { .. }, Interest::Write) => Some((1, 0)),
        (FdKind::Stdin, Interest::Read) => {
            cx.state.stdin.fill(cx.platform);
            match cx.state.stdin.available() {
                Available::Nothing => None,
                Available::EndOfFile => Some((0, EVENT_FD_READWRITE_HANGUP)),
                Available::Bytes(n) => Some((n as u64, 0)),
            }
        }
        // Console output is always writable: `fd_write` blocks instead, and there is no buffer
        // whose room could be reported.
        (FdKind::Console(_), Interest::Write) => Some((0, 0)),
        _ => return Err(Errno::BADF),
    })
}

impl Subscription {
    fn event(&self, error: Errno, nbytes: u64, flags: u16) -> Event {
        Event {
            userdata: self.userdata,
            error,
            kind: self.kind,
            nbytes,
            flags,
        }
    }
}

fn write_event(cx: &mut Ctx<'_>, at: u32, e: &Event) -> WasiResult {
    let mut raw = [0u8; event::SIZE as usize];
    let mut put = |off: u32, bytes: &[u8]| {
        raw[off as usize..off as usize + bytes.len()].copy_from_slice(bytes)
    };
    put(event::USERDATA, &e.userdata.to_le_bytes());
    put(event::ERROR, &e.error.0.to_le_bytes());
    put(event::TYPE, &[e.kind]);
    put(event::NBYTES, &e.nbytes.to_le_bytes());
    put(event::FLAGS, &e.flags.to_le_bytes());
    cx.mem.write_bytes(at, &raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::mock::WALL_OFFSET_NS;
    use crate::wasi::testing::Fixture;

    const SUBS: usize = 0;
    const EVENTS: usize = 512;
    const NEVENTS: usize = 1020;

    fn clock_sub(f: &mut Fixture, i: usize, userdata: u64, id: u32, timeout: u64, flags: u16) {
        let at = SUBS + 48 * i;
        f.put_u64(at, userdata);
        f.memory[at + 8] = eventtype::CLOCK;
        f.put_u32(at + 16, id);
        f.put_u64(at + 24, timeout);
        f.put_u64(at + 32, 1000);
        f.memory[at + 40..at + 42].copy_from_slice(&flags.to_le_bytes());
    }

    fn fd_sub(f: &mut Fixture, i: usize, userdata: u64, kind: u8, fd: u32) {
        let at = SUBS + 48 * i;
        f.put_u64(at, userdata);
        f.memory[at + 8] = kind;
        f.put_u32(at + 16, fd);
    }

    fn poll(f: &mut Fixture, n: u32) -> Result<Vec<Event>, Errno> {
        f.call(|cx| poll_oneoff(cx, SUBS as u32, EVENTS as u32, n, NEVENTS as u32))?;
        Ok((0..f.u32_at(NEVENTS) as usize)
            .map(|i| {
                let at = EVENTS + 32 * i;
                let m = &f.memory;
                Event {
                    userdata: f.u64_at(at),
                    error: Errno(u16::from_le_bytes([m[at + 8], m[at + 9]])),
                    kind: m[at + 10],
                    nbytes: f.u64_at(at + 16),
                    flags: u16::from_le_bytes([m[at + 24], m[at + 25]]),
                }
            })
            .collect())
    }

    fn ev(userdata: u64, error: Errno, kind: u8, nbytes: u64, flags: u16) -> Event {
        Event {
            userdata,
            error,
            kind,
            nbytes,
            flags,
        }
    }

    #[test]
    fn relative_sleep_waits_the_whole_time() {
        let mut f = Fixture::new(1024);
        clock_sub(&mut f, 0, 42, clockid::MONOTONIC, 50_000_000, 0);
        let t0 = f.platform.now();
        assert_eq!(
            poll(&mut f, 1),
            Ok(vec![ev(42, Errno::SUCCESS, eventtype::CLOCK, 0, 0)])
        );
        assert!(f.platform.now() >= t0 + 50_000_000);
        assert!(f.platform.now() < t0 + 51_000_000);
    }

    #[test]
    fn absolute_deadlines_on_both_clocks() {
        let mut f = Fixture::new(1024);
        let t0 = f.platform.now();
        clock_sub(
            &mut f,
            0,
            1,
            clockid::MONOTONIC,
            t0 + 30_000_000,
            SUBSCRIPTION_CLOCK_ABSTIME,
        );
        assert_eq!(poll(&mut f, 1).unwrap().len(), 1);
        assert_eq!(f.platform.now(), t0 + 30_000_000);
        let wall = f.platform.now() + WALL_OFFSET_NS;
        clock_sub(
            &mut f,
            0,
            2,
            clockid::REALTIME,
            wall + 20_000_000,
            SUBSCRIPTION_CLOCK_ABSTIME,
        );
        assert_eq!(poll(&mut f, 1).unwrap()[0].userdata, 2);
        assert_eq!(f.platform.now(), t0 + 50_000_000);
        clock_sub(
            &mut f,
            0,
            3,
            clockid::REALTIME,
            5,
            SUBSCRIPTION_CLOCK_ABSTIME,
        );
        let waits = f.platform.waits.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            poll(&mut f, 1).unwrap()[0].error,
            Errno::SUCCESS,
            "a past deadline fires at once"
        );
        assert_eq!(
            f.platform.waits.load(std::sync::atomic::Ordering::SeqCst),
            waits
        );
    }

    #[test]
    fn far_deadlines_are_waited_for_in_bounded_steps() {
        let mut f = Fixture::new(1024);
        clock_sub(&mut f, 0, 1, clockid::MONOTONIC, 3_500_000_000, 0);
        let t0 = f.platform.now();
        assert_eq!(poll(&mut f, 1).unwrap().len(), 1);
        assert_eq!(f.platform.now(), t0 + 3_500_000_000);
        assert_eq!(
            f.platform.waits.load(std::sync::atomic::Ordering::SeqCst),
            4
        );
    }

    #[test]
    fn earliest_clock_wins_and_bad_clock_ids_fail_the_call() {
        let mut f = Fixture::new(1024);
        clock_sub(&mut f, 0, 1, clockid::MONOTONIC, 90_000_000, 0);
        clock_sub(&mut f, 1, 2, clockid::MONOTONIC, 10_000_000, 0);
        assert_eq!(
            poll(&mut f, 2)
                .unwrap()
                .iter()
                .map(|e| e.userdata)
                .collect::<Vec<_>>(),
            [2]
        );
        clock_sub(&mut f, 1, 3, 17, 10_000_000, 0);
        f.put_u32(NEVENTS, 99);
        assert_eq!(poll(&mut f, 2), Err(Errno::INVAL));
        assert_eq!(f.u32_at(NEVENTS), 99, "no events");
    }

    #[test]
    fn stdin_readiness_and_eof() {
        let mut f = Fixture::new(1024);
        let t0 = f.platform.now();
        f.platform.input_at(t0 + 25_000_000, b"hey");
        fd_sub(&mut f, 0, 7, eventtype::FD_READ, 0);
        clock_sub(&mut f, 1, 8, clockid::MONOTONIC, 1_000_000_000, 0);
        assert_eq!(
            poll(&mut f, 2),
            Ok(vec![ev(7, Errno::SUCCESS, eventtype::FD_READ, 3, 0)])
        );
        assert!(
            f.platform.now() < t0 + 40_000_000,
            "input noticed within a poll interval"
        );
        f.state.stdin.take(3);
        f.platform.push_input(b"\x04");
        assert_eq!(
            poll(&mut f, 1),
            Ok(vec![ev(
                7,
                Errno::SUCCESS,
                eventtype::FD_READ,
                0,
                EVENT_FD_READWRITE_HANGUP
            )])
        );
    }

    #[test]
    fn write_subscriptions_and_descriptor_errors() {
        let mut f = Fixture::new(1024);
        fd_sub(&mut f, 0, 1, eventtype::FD_WRITE, 1);
        fd_sub(&mut f, 1, 4, eventtype::FD_READ, 0);
        assert_eq!(
            poll(&mut f, 2),
            Ok(vec![ev(1, Errno::SUCCESS, eventtype::FD_WRITE, 0, 0)]),
            "stdin has no input, so it is not reported"
        );
        // What cannot be polled fails the whole call (wasmtime), wherever it stands.
        for (kind, fd) in [
            (eventtype::FD_WRITE, 9),
            (eventtype::FD_READ, 9),
            (eventtype::FD_READ, 2),
            (eventtype::FD_WRITE, 0),
        ] {
            fd_sub(&mut f, 2, 3, kind, fd);
            f.put_u32(NEVENTS, 99);
            assert_eq!(poll(&mut f, 3), Err(Errno::BADF), "{kind} on {fd}");
            assert_eq!(f.u32_at(NEVENTS), 99, "no events");
        }
    }

    #[test]
    fn closed_and_renumbered_descriptors() {
        let mut f = Fixture::new(1024);
        f.state.fds.close(0).unwrap();
        fd_sub(&mut f, 0, 1, eventtype::FD_READ, 0);
        assert_eq!(poll(&mut f, 1), Err(Errno::BADF));
        f.state.fds.renumber(2, 1).unwrap();
        fd_sub(&mut f, 0, 2, eventtype::FD_WRITE, 1);
        assert_eq!(
            poll(&mut f, 1),
            Ok(vec![ev(2, Errno::SUCCESS, eventtype::FD_WRITE, 0, 0)])
        );
        fd_sub(&mut f, 1, 3, eventtype::FD_WRITE, 2);
        assert_eq!(poll(&mut f, 2), Err(Errno::BADF), "2 moved to 1");
    }

    #[test]
    fn malformed_calls() {
        let mut f = Fixture::new(1024);
        assert_eq!(poll(&mut f, 0), Err(Errno::INVAL));
        fd_sub(&mut f, 0, 1, 3, 1);
        assert_eq!(poll(&mut f, 1), Err(Errno::INVAL), "unknown tag");
        fd_sub(&mut f, 0, 1, eventtype::FD_WRITE, 1);
        assert_eq!(
            f.call(|cx| poll_oneoff(cx, 1000, 512, 1, 1020)),
            Err(Errno::FAULT)
        );
        assert_eq!(
            f.call(|cx| poll_oneoff(cx, 0, 1000, 1, 1020)),
            Err(Errno::FAULT)
        );
        assert_eq!(
            f.call(|cx| poll_oneoff(cx, 0, 512, 1, 1021)),
            Err(Errno::FAULT)
        );
        assert_eq!(
            f.call(|cx| poll_oneoff(cx, 0, 512, u32::MAX, 1020)),
            Err(Errno::FAULT)
        );
        assert_eq!(f.u32_at(NEVENTS), 0, "nothing written");
    }
}
