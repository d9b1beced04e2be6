//! Memory that is paid for when touched: address ranges whose pages are mapped (zeroed) by the
//! page-fault handler the first time they are used, not when they are set up.
//!
//! The app's linear memory (`[base, base + current_bytes)`), its stack and the kernel's
//! [`crate::touch_buffer`]s are such ranges.
//! A not-present fault inside one maps that page and the access is retried ([`crate::fault`]);
//! a fault in a guard next to one (beyond `current_bytes`, below the stack) stays a wasm trap.
//! Each range of the app counts the pages it has had mapped, for the memory report; the kernel
//! buffers, which come and go, count theirs in [`crate::touch_buffer`].

use core::sync::atomic::{AtomicUsize, Ordering};

/// Stack backed below the caller by [`back_stack_below`]: more than any WASI call or kernel
/// buffer operation uses.
const STACK_PROBE_BYTES: usize = 64 << 10;

/// Backs the next [`STACK_PROBE_BYTES`] of the stack below the caller. Kernel code runs on the
/// app's stack, which is backed on touch, and backing a page takes the frame pool's lock, the
/// heap's and the page tables': a fresh stack page first touched while one of those is held
/// (inside an allocation, a mapping) would fault and wait for that lock forever. Called on
/// the way into the kernel (every WASI call, buffer set-up and drop), before any lock is
/// taken, it backs the pages the kernel's work then uses. Near the stack's end the probe
/// reaches the guard page, which is the app's stack overflow, a little early.
#[inline(never)]
pub fn back_stack_below() {
    let mut probe = core::mem::MaybeUninit::<[u8; STACK_PROBE_BYTES]>::uninit();
    let bytes = probe.as_mut_ptr().cast::<u8>();
    // From the top down, as the stack grows: the guard page is met before anything beyond it.
    for offset in (0..STACK_PROBE_BYTES).step_by(4096).rev() {
        // SAFETY: inside the local array; volatile, so that the store is made.
        unsafe { bytes.add(offset).write_volatile(0) };
    }
    core::hint::black_box(&mut probe);
}

/// What a range backed on touch holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backed {
    LinearMemory = 0,
    AppStack = 1,
    KernelBuffers = 2,
}

impl Backed {
    pub const ALL: [Backed; 3] = [
        Backed::LinearMemory,
        Backed::AppStack,
        Backed::KernelBuffers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backed::LinearMemory => "linear memory",
            Backed::AppStack => "stack",
            Backed::KernelBuffers => "kernel buffers",
        }
    }

    /// Whose memory it is, for messages: "a page of {the app's stack}".
    pub fn owner(self) -> &'static str {
        match self {
            Backed::LinearMemory => "the app's linear memory",
            Backed::AppStack => "the app's stack",
            Backed::KernelBuffers => "a kernel buffer",
        }
    }
}

struct Range {
    start: AtomicUsize,
    end: AtomicUsize,
    touched_pages: AtomicUsize,
}

static RANGES: [Range; Backed::ALL.len()] = [const {
    Range {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        touched_pages: AtomicUsize::new(0),
    }
}; Backed::ALL.len()];

/// Makes `[start, end)` backed on touch, replacing the range `what` had before.
pub fn register(what: Backed, start: usize, end: usize) {
    let r = &RANGES[what as usize];
    r.end.store(start, Ordering::Relaxed);
    r.start.store(start, Ordering::Relaxed);
    r.end.store(end, Ordering::Relaxed);
    r.touched_pages.store(0, Ordering::Relaxed);
}

/// Moves the end of `what`'s range (a linear memory that grew).
pub fn set_end(what: Backed, end: usize) {
    RANGES[what as usize].end.store(end, Ordering::Relaxed);
}

/// The range `addr` falls into, if any.
pub fn find(addr: usize) -> Option<Backed> {
    Backed::ALL.into_iter().find(|&what| {
        let r = &RANGES[what as usize];
        (r.start.load(Ordering::Relaxed)..r.end.load(Ordering::Relaxed)).contains(&addr)
    })
}

/// Counts a page mapped for `what`.
pub fn note_touched(what: Backed) {
    RANGES[what as usize]
        .touched_pages
        .fetch_add(1, Ordering::Relaxed);
}

/// Pages mapped for `what` so far.
pub fn touched_pages(what: Backed) -> usize {
    RANGES[what as usize].touched_pages.load(Ordering::Relaxed)
}

/// Bytes `what`'s range spans now (committed, touched or not).
pub fn committed_bytes(what: Backed) -> usize {
    let r = &RANGES[what as usize];
    r.end
        .load(Ordering::Relaxed)
        .saturating_sub(r.start.load(Ordering::Relaxed))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The ranges are process-wide; tests that register them hold this lock.
    pub(crate) static RANGES_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn finds_the_range_and_follows_its_end() {
        let _l = RANGES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        register(Backed::LinearMemory, 0x10_0000, 0x12_0000);
        register(Backed::AppStack, 0x40_0000, 0x48_0000);
        assert_eq!(find(0x10_0000), Some(Backed::LinearMemory));
        assert_eq!(find(0x11_ffff), Some(Backed::LinearMemory));
        assert_eq!(find(0x12_0000), None, "the end is exclusive");
        assert_eq!(find(0x47_fff8), Some(Backed::AppStack));
        assert_eq!(find(0x3f_ffff), None);
        set_end(Backed::LinearMemory, 0x13_0000);
        assert_eq!(find(0x12_0000), Some(Backed::LinearMemory));
        assert_eq!(committed_bytes(Backed::LinearMemory), 0x3_0000);
        note_touched(Backed::AppStack);
        note_touched(Backed::AppStack);
        assert_eq!(touched_pages(Backed::AppStack), 2);
        register(Backed::AppStack, 0x40_0000, 0x48_0000);
        assert_eq!(
            touched_pages(Backed::AppStack),
            0,
            "a new range starts afresh"
        );
    }
}
