//! The kernel heap: talc over the RAM the platform reports free.
//!
//! On the unikernel targets it is the global allocator, counted: the bytes in use and their
//! peak feed the memory report (`-v`) and the reserve that keeps app pages from taking the
//! kernel's last memory (see [`crate::frames`]). The hosted platform keeps the system
//! allocator, so this module only initialises talc where `target_os = "none"`.

use crate::platform::MemoryRegion;
use core::sync::atomic::{AtomicUsize, Ordering};

static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_os = "none")]
mod counted {
    use core::alloc::{GlobalAlloc, Layout};
    use core::sync::atomic::{AtomicUsize, Ordering};

    pub type Talc = talc::Talck<spin::Mutex<()>, talc::ErrOnOom>;

    /// Talc, with the bytes in use (by layout size) and their peak counted.
    pub struct CountedHeap {
        pub talc: Talc,
        pub in_use: AtomicUsize,
        pub peak: AtomicUsize,
    }

    impl CountedHeap {
        fn grew(&self, by: usize) {
            let now = self.in_use.fetch_add(by, Ordering::Relaxed) + by;
            self.peak.fetch_max(now, Ordering::Relaxed);
            crate::footprint::note_use();
        }
    }

    // SAFETY: every call is forwarded to talc unchanged; the counters only observe it.
    unsafe impl GlobalAlloc for CountedHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { self.talc.alloc(layout) };
            if !p.is_null() {
                self.grew(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { self.talc.dealloc(ptr, layout) };
            self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { self.talc.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
                self.grew(new_size);
            }
            p
        }
    }
}

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: counted::CountedHeap = counted::CountedHeap {
    talc: talc::Talc::new(talc::ErrOnOom).lock(),
    in_use: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

/// Hands the free regions to the allocator. Regions smaller than a page are skipped.
pub fn init(regions: &[MemoryRegion]) {
    let mut total = 0;
    for r in regions.iter().filter(|r| r.len >= 4096) {
        #[cfg(target_os = "none")]
        {
            let span = talc::Span::from_base_size(r.start as *mut u8, r.len);
            // SAFETY: the platform guarantees the region is RAM, mapped, and used by nobody else.
            if unsafe { ALLOCATOR.talc.lock().claim(span) }.is_err() {
                continue;
            }
        }
        total += r.len;
    }
    HEAP_BYTES.store(total, Ordering::Relaxed);
}

/// Bytes given to the heap at boot.
pub fn size() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}

/// Heap the kernel keeps for itself ([`crate::frames::reserve_bytes`] of it): neither the
/// app's pages ([`crate::frames`]) nor its files ([`crate::fs`]) may take it, so that running
/// out of room is an error the app sees (`ENOSPC`, a failed `memory.grow`, an out-of-memory
/// exit) and never a kernel that cannot allocate.
pub fn reserve() -> usize {
    crate::frames::reserve_bytes(size())
}

/// Free heap bytes beyond [`reserve`] and beyond what the frames charged to buffers backed on
/// touch may still need ([`crate::frames::charge`]): what the app's files and heap-held socket
/// buffers may take. `None` where the heap is not the kernel's own (the hosted platform uses
/// the system allocator).
pub fn available_beyond_reserve() -> Option<usize> {
    free_beyond_reserve().map(|free| free.saturating_sub(crate::frames::uncovered_charge_bytes()))
}

/// Free heap bytes beyond [`reserve`], charges or not (the frame pool weighs those itself).
pub fn free_beyond_reserve() -> Option<usize> {
    #[cfg(target_os = "none")]
    return Some(available().saturating_sub(reserve()));
    #[cfg(not(target_os = "none"))]
    None
}

/// `len` bytes aligned to `align`, left out of the counts: chunks for [`crate::frames`], which
/// counts the frames it hands out itself. `None` on the hosted platform, whose heap is the
/// system allocator's.
pub fn alloc_uncounted(len: usize, align: usize) -> Option<*mut u8> {
    #[cfg(target_os = "none")]
    {
        use core::alloc::{GlobalAlloc, Layout};
        let layout = Layout::from_size_align(len, align).ok()?;
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: a non-zero size; the block is never freed (the frame pool keeps it).
        let p = unsafe { ALLOCATOR.talc.alloc(layout) };
        (!p.is_null()).then_some(p)
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = (len, align);
        None
    }
}

/// Bytes the kernel heap has handed out and not got back, by the sizes asked for (talc's own
/// bookkeeping comes on top), not counting the chunks of the frame supply ([`crate::frames`]
/// counts the frames it hands out itself). `None` on the hosted platform, whose allocator is
/// the system's.
pub fn in_use() -> Option<usize> {
    #[cfg(target_os = "none")]
    return Some(ALLOCATOR.in_use.load(Ordering::Relaxed));
    #[cfg(not(target_os = "none"))]
    None
}

/// The most bytes that were ever allocated at once.
pub fn peak() -> usize {
    #[cfg(target_os = "none")]
    return ALLOCATOR.peak.load(Ordering::Relaxed);
    #[cfg(not(target_os = "none"))]
    0
}

/// Bytes the heap could still hand out (free, after talc's bookkeeping; fragmentation may
/// keep a single allocation of this size from succeeding).
pub fn available() -> usize {
    #[cfg(target_os = "none")]
    return ALLOCATOR.talc.lock().get_counters().available_bytes;
    #[cfg(not(target_os = "none"))]
    0
}
