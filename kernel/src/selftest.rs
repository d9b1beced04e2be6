//! Boot-time self checks, chosen with `mewz.selftest=NAME` on the command line
//! (`fault`, `panic` and `hang` test the failure paths; `none` boots and stops; `virtio` needs
//! a virtio entropy device, so `all` leaves it out).
//!
//! They run on the real machine (QEMU) and are what the integration tests assert on: each
//! prints `selftest NAME: ok ...` or `selftest NAME: FAILED ...` and the kernel exits with 0 or 1.

use crate::kprintln;
use crate::platform::platform;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A check: `Err` says what went wrong.
type Check = fn() -> Result<(), &'static str>;

/// Runs the named check (`all` runs every non-destructive one) and returns the exit status.
pub fn run(name: &str) -> u8 {
    let checks: &[(&str, Check)] = &[
        ("heap", heap),
        ("timer", timer),
        ("clock", clock),
        ("random", random),
        ("touch", touch),
    ];
    // Checks that need a device the machine may not have: only run when named.
    let on_request: &[(&str, Check)] = &[(
        "virtio",
        crate::virtio::selftest::entropy_interrupt_wakes_the_cpu,
    )];
    match name {
        "fault" => {
            kprintln!("selftest fault: touching an unmapped address");
            platform().trigger_cpu_fault()
        }
        "panic" => panic!("selftest: deliberate panic"),
        // Boot and stop: what benchmarks compare an app's start-up with.
        "none" => return 0,
        // Never stops: tests the runner's timeout.
        "hang" => loop {
            platform().wait_for_interrupt();
        },
        _ => {}
    }
    let selected: Vec<_> = checks
        .iter()
        .filter(|(n, _)| name == "all" || *n == name)
        .chain(on_request.iter().filter(|(n, _)| *n == name))
        .collect();
    if selected.is_empty() {
        kprintln!("selftest {name}: unknown check");
        return 2;
    }
    let mut failed = 0;
    for (n, check) in selected {
        match check() {
            Ok(()) => kprintln!("selftest {n}: ok"),
            Err(why) => {
                kprintln!("selftest {n}: FAILED: {why}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        kprintln!("selftest: all passed");
        0
    } else {
        1
    }
}

fn heap() -> Result<(), &'static str> {
    // Many small objects, freed out of order, then one large block.
    let mut boxes: Vec<Box<[u64]>> = (0..512u64)
        .map(|i| vec![i; (i % 61 + 1) as usize].into_boxed_slice())
        .collect();
    for (i, b) in boxes.iter().enumerate() {
        if b.iter().any(|&v| v != i as u64) {
            return Err("small allocation corrupted");
        }
    }
    let mut i = 0;
    boxes.retain(|_| {
        i += 1;
        i % 2 == 0
    });
    let big_len = 16 << 20;
    let mut big = Vec::<u8>::new();
    big.try_reserve_exact(big_len)
        .map_err(|_| "16 MiB allocation failed")?;
    big.resize(big_len, 0xa5);
    if big.iter().step_by(4093).any(|&b| b != 0xa5) {
        return Err("large allocation corrupted");
    }
    if boxes
        .iter()
        .enumerate()
        .any(|(i, b)| b[0] != (2 * i + 1) as u64)
    {
        return Err("allocation corrupted by a neighbour");
    }
    kprintln!(
        "selftest heap: {} KiB heap, 16 MiB block at {:p}",
        crate::heap::size() / 1024,
        big.as_ptr()
    );
    Ok(())
}

/// Five sleeps of 10 ms, each ended only by a timer interrupt that comes at or after its
/// deadline: the timer fires and the clock moves with it. (Not `time::sleep_ns`: a sleep whose
/// deadline has passed before it first looks, as when a busy host holds up the vCPU, rightly
/// ends without an interrupt; and an interrupt still pending from an earlier timer may come
/// first, so a wake-up before the deadline arms the timer again.)
fn timer() -> Result<(), &'static str> {
    const SLEEPS: u64 = 5;
    const DELAY_NS: u64 = 10_000_000;
    let p = platform();
    let ticks0 = p.timer_interrupts();
    let t0 = p.monotonic_ns();
    for _ in 0..SLEEPS {
        let deadline = p.monotonic_ns() + DELAY_NS;
        loop {
            let seen = p.timer_interrupts();
            p.arm_timer(deadline.saturating_sub(p.monotonic_ns()).max(1));
            while p.timer_interrupts() == seen {
                p.wait_for_interrupt();
            }
            if p.monotonic_ns() >= deadline {
                break;
            }
        }
    }
    let elapsed = p.monotonic_ns() - t0;
    let ticks = p.timer_interrupts() - ticks0;
    kprintln!(
        "selftest timer: {SLEEPS} sleeps of {} ms took {} us, {} timer interrupt(s)",
        DELAY_NS / 1_000_000,
        elapsed / 1000,
        ticks
    );
    if ticks < SLEEPS {
        return Err("fewer timer interrupts than sleeps");
    }
    if elapsed < SLEEPS * DELAY_NS {
        return Err("clock advanced less than the time slept");
    }
    Ok(())
}

fn clock() -> Result<(), &'static str> {
    let p = platform();
    let a = p.monotonic_ns();
    let b = p.monotonic_ns();
    if b < a {
        return Err("monotonic clock went backwards");
    }
    match p.wall_clock_ns() {
        // 2020-01-01 .. 2200-01-01: a real clock, not zero or garbage.
        Some(ns) if (1_577_836_800_000_000_000..7_258_118_400_000_000_000).contains(&ns) => {
            kprintln!(
                "selftest clock: wall clock {} s since the epoch, resolution {} ns",
                ns / 1_000_000_000,
                p.monotonic_resolution_ns()
            );
            Ok(())
        }
        Some(_) => Err("wall clock out of range"),
        None => Err("no wall clock"),
    }
}

fn random() -> Result<(), &'static str> {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    if !platform().random_bytes(&mut a) || !platform().random_bytes(&mut b) {
        return Err("no hardware random source");
    }
    if a == b || a == [0; 32] {
        return Err("random source repeats itself");
    }
    Ok(())
}

/// A 4 MiB buffer backed on touch: made, it is charged its pages and takes only the frames of
/// the page tables that map it; the pages written take one frame each, they read back, and
/// dropping the buffer gives them and its charge back.
fn touch() -> Result<(), &'static str> {
    use crate::frames;
    const LEN: usize = 4 << 20;
    const STRIDE: usize = 64 << 10;
    let (frames_before, charged_before) = (frames::in_use(), frames::charged());
    let mut buffer = crate::touch_buffer::TouchBuffer::new(platform(), LEN)
        .map_err(|_| "cannot make a buffer")?;
    let pages = LEN / platform().page_size();
    if frames::charged() != charged_before + pages {
        return Err("the buffer was not charged its pages");
    }
    // The tables that map 4 MiB; none where pages come from Linux, not from the frame pool.
    let counted = cfg!(target_os = "none");
    let tables = frames::in_use() - frames_before;
    if counted && tables > 8 {
        kprintln!("selftest touch: {tables} frames taken before the buffer was touched");
        return Err("frames taken before the buffer was touched");
    }
    for (i, at) in (0..LEN).step_by(STRIDE).enumerate() {
        if buffer[at] != 0 {
            return Err("a fresh page is not zero");
        }
        buffer[at + 8] = i as u8 + 1;
    }
    let touched = LEN / STRIDE;
    let taken = frames::in_use() - frames_before - tables;
    if counted && taken != touched {
        kprintln!("selftest touch: {touched} pages touched took {taken} frames");
        return Err("frames taken do not match the pages touched");
    }
    if counted && frames::charged() != charged_before + pages - touched {
        return Err("touched pages did not take their charged frames");
    }
    if (0..LEN)
        .step_by(STRIDE)
        .enumerate()
        .any(|(i, at)| buffer[at + 8] != i as u8 + 1 || buffer[at + 9] != 0)
    {
        return Err("a touched page lost its contents");
    }
    drop(buffer);
    let kept = frames::in_use() - frames_before;
    kprintln!(
        "selftest touch: {} KiB buffer, {touched} pages touched took {taken} frames, {kept} kept for page tables after it was dropped",
        LEN >> 10
    );
    if counted && kept > tables {
        return Err("dropping the buffer did not give its pages back");
    }
    if frames::charged() != charged_before {
        return Err("dropping the buffer did not drop its charge");
    }
    Ok(())
}
