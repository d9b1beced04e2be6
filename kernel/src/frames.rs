//! Page frames for mappings made after boot: the app's pages (linear memory, stack), touched
//! on demand, and the page tables that map them. Both unikernel platforms take their frames
//! here, so the reserve and the accounting below hold for every architecture.
//!
//! Frames come from the kernel heap in chunks and are recycled through a free list kept inside
//! the free frames themselves. Asking the heap for each 4 KiB-aligned page separately would
//! cost a whole extra page per frame (the allocator's bookkeeping word pushes the next aligned
//! block one page further), halving the memory an app can use.
//!
//! **The kernel reserve.** Frames never take the heap's last [`reserve_bytes`]: whatever the app
//! touches, the kernel keeps room for its own allocations (WASI calls, the report of the very
//! failure), so running out of memory is a clean, named error and never a kernel panic.
//!
//! **Charges.** A kernel buffer backed on touch ([`crate::touch_buffer`]) is charged its
//! worst case, in frames, when it is made: [`charge`] fails (the buffer's maker reports
//! `ENOMEM`) unless the pool's free frames and the heap beyond the reserve could back every
//! charge. Nothing is taken then; a touched page of such a buffer takes a frame and turns one
//! frame of its charge into use ([`map_charged`]); freeing the buffer gives its frames back and
//! drops the rest of its charge ([`uncharge`]). Everything else that draws on the same heap
//! leaves the charged frames alone: the app's pages ([`take`], `memory.grow`'s bound
//! [`available_bytes`]), its files and heap-held socket buffers
//! ([`crate::heap::available_beyond_reserve`]). So a packet that lands in an untouched page of
//! a socket buffer always finds its frame, and running out of memory stays an errno at socket
//! creation. A charged touch may also use the upper half of the kernel reserve, for the heap's
//! bookkeeping and fragmentation, which can keep the last charged bytes from making whole frames.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spin::Mutex;

pub const FRAME_SIZE: usize = 4096;

/// Bytes asked of the heap at once when the free list is empty: large enough that the heap's
/// per-allocation cost (up to a page of alignment) stays near 1/64, small enough that frames
/// parked in the pool do not starve the kernel heap of a small machine.
pub const CHUNK_BYTES: usize = 256 << 10;

/// Heap bytes frames leave to the kernel: 1/32 of the heap, at least 384 KiB, at most 16 MiB.
pub fn reserve_bytes(heap_bytes: usize) -> usize {
    (heap_bytes / 32).clamp(384 << 10, 16 << 20)
}

/// Where chunks come from: page-aligned, `len` a multiple of the page size, accessible at
/// their kernel address.
pub trait ChunkSource {
    /// A chunk of at most `max_len` bytes (smaller if memory is tight); `None` when empty.
    fn chunk(&mut self, max_len: usize) -> Option<(*mut u8, usize)>;
    /// Bytes the source could still hand out.
    fn available(&self) -> usize;
}

/// The free list: each free frame's first word points to the next free frame.
pub struct FramePool {
    head: *mut u8,
    free: usize,
    /// Frames promised to buffers backed on touch and not taken yet.
    charged: usize,
    /// Frames ever taken from the chunk source.
    pub total: usize,
}

// SAFETY: the pool's frames belong to it alone; users keep it behind a mutex.
unsafe impl Send for FramePool {}

impl Default for FramePool {
    fn default() -> Self {
        Self::new()
    }
}

impl FramePool {
    pub const fn new() -> FramePool {
        FramePool {
            head: core::ptr::null_mut(),
            free: 0,
            charged: 0,
            total: 0,
        }
    }

    pub fn free_frames(&self) -> usize {
        self.free
    }

    pub fn charged_frames(&self) -> usize {
        self.charged
    }

    /// Frames that could still be handed out beyond the charges, the source holding
    /// `source_bytes` more.
    pub fn headroom(&self, source_bytes: usize) -> usize {
        (self.free + source_bytes / FRAME_SIZE).saturating_sub(self.charged)
    }

    /// Promises `frames` frames, if they could be backed beside every earlier promise.
    pub fn charge(&mut self, frames: usize, source_bytes: usize) -> bool {
        if frames > self.headroom(source_bytes) {
            return false;
        }
        self.charged += frames;
        true
    }

    /// Drops a promise of `frames` frames that will not be taken.
    pub fn uncharge(&mut self, frames: usize) {
        debug_assert!(frames <= self.charged, "uncharging more than was charged");
        self.charged -= frames.min(self.charged);
    }

    /// Returns a frame to the pool.
    ///
    /// # Safety
    /// `frame` came from [`FramePool::take`] of this pool and is no longer used or mapped.
    pub unsafe fn give(&mut self, frame: *mut u8) {
        // SAFETY: the frame is ours and page sized; its first word holds the link.
        unsafe { (frame as *mut *mut u8).write(self.head) };
        self.head = frame;
        self.free += 1;
    }

    /// A zeroed frame no charge needs (`None` when the rest is promised), refilling from
    /// `source` when the list is empty.
    pub fn take(&mut self, source: &mut dyn ChunkSource) -> Option<*mut u8> {
        if self.headroom(source.available()) == 0 {
            return None;
        }
        self.take_any(source)
    }

    /// A zeroed frame for a page of a charged buffer: one charged frame is taken.
    pub fn take_charged(&mut self, source: &mut dyn ChunkSource) -> Option<*mut u8> {
        let frame = self.take_any(source)?;
        self.charged = self.charged.saturating_sub(1);
        Some(frame)
    }

    fn take_any(&mut self, source: &mut dyn ChunkSource) -> Option<*mut u8> {
        if self.head.is_null() {
            let (chunk, len) = source.chunk(CHUNK_BYTES)?;
            for i in (0..len / FRAME_SIZE).rev() {
                // SAFETY: each page of the fresh chunk is handed to the pool once.
                unsafe { self.give(chunk.add(i * FRAME_SIZE)) };
                self.total += 1;
            }
        }
        let frame = self.head;
        // SAFETY: `frame` is a free frame of the pool: its first word is the next link.
        self.head = unsafe { (frame as *const *mut u8).read() };
        self.free -= 1;
        // SAFETY: the frame is page sized and now exclusively the caller's.
        unsafe { zero_frame(frame) };
        Some(frame)
    }
}

/// Clears a frame with plain 8-byte stores, eight per iteration. Not `memset`: on x86_64 it
/// becomes `rep stos`, which QEMU's TCG runs one emulated iteration at a time, several times
/// slower than this loop; on hardware a 4 KiB clear is bound by memory either way.
///
/// # Safety
/// `frame` is a writable, exclusively owned, 8-byte aligned frame.
unsafe fn zero_frame(frame: *mut u8) {
    let words = frame as *mut u64;
    for i in (0..FRAME_SIZE / 8).step_by(8) {
        for j in 0..8 {
            // SAFETY: inside the frame (i + j < FRAME_SIZE / 8); volatile so that the loop is
            // not turned back into a `memset` call.
            unsafe { words.add(i + j).write_volatile(0) };
        }
    }
}

/// The unikernels' frame supply: the pool, refilled from the kernel heap above the reserve.
static POOL: Mutex<FramePool> = Mutex::new(FramePool::new());
/// Frames handed out by [`take`] and not given back.
static IN_USE: AtomicUsize = AtomicUsize::new(0);
/// Heap bytes the pool holds in chunks (free or handed out).
static CHUNKED: AtomicUsize = AtomicUsize::new(0);
/// The pool's free and charged frames, readable without its lock (for the heap's checks).
static FREE: AtomicUsize = AtomicUsize::new(0);
static CHARGED: AtomicUsize = AtomicUsize::new(0);
/// Set by [`map_charged`]: the next frame [`take`] hands out is a charged one.
static CHARGED_TAKE: AtomicBool = AtomicBool::new(false);

/// Chunks of the kernel heap, down to `floor` bytes of it left free.
struct HeapChunks {
    floor: usize,
}

impl HeapChunks {
    /// Leaves the whole reserve.
    fn beyond_reserve() -> HeapChunks {
        HeapChunks {
            floor: crate::heap::reserve(),
        }
    }

    /// For a charged page: may take the upper half of the reserve (see the module docs).
    fn for_charged_page() -> HeapChunks {
        HeapChunks {
            floor: crate::heap::reserve() / 2,
        }
    }
}

impl ChunkSource for HeapChunks {
    fn available(&self) -> usize {
        crate::heap::available().saturating_sub(self.floor)
    }

    fn chunk(&mut self, max_len: usize) -> Option<(*mut u8, usize)> {
        let allowed = self.available();
        // Smaller and smaller requests as the budget or the heap runs out or fragments.
        let mut len = max_len.min(allowed) / FRAME_SIZE * FRAME_SIZE;
        while len >= FRAME_SIZE {
            if let Some(p) = crate::heap::alloc_uncounted(len, FRAME_SIZE) {
                CHUNKED.fetch_add(len, Ordering::Relaxed);
                return Some((p, len));
            }
            len = len / 2 / FRAME_SIZE * FRAME_SIZE;
        }
        None
    }
}

/// Mirrors the pool's counts for readers without the lock.
fn publish(pool: &FramePool) {
    FREE.store(pool.free_frames(), Ordering::Relaxed);
    CHARGED.store(pool.charged_frames(), Ordering::Relaxed);
}

/// A zeroed 4 KiB frame (its kernel address, where it is also accessible), or `None` when only
/// the kernel reserve and the charged frames are left.
pub fn take() -> Option<*mut u8> {
    let charged = CHARGED_TAKE.swap(false, Ordering::Relaxed);
    let mut pool = POOL.lock();
    let frame = if charged {
        pool.take_charged(&mut HeapChunks::for_charged_page())
    } else {
        pool.take(&mut HeapChunks::beyond_reserve())
    };
    publish(&pool);
    drop(pool);
    let frame = frame?;
    IN_USE.fetch_add(1, Ordering::Relaxed);
    crate::footprint::note_use();
    Some(frame)
}

/// Runs `map`, the platform's mapping of one page of a charged buffer: the frame it takes
/// first (the page's own; the tables that map it exist already) is one of the charged ones.
pub fn map_charged<R>(map: impl FnOnce() -> R) -> R {
    CHARGED_TAKE.store(true, Ordering::Relaxed);
    let result = map();
    CHARGED_TAKE.store(false, Ordering::Relaxed);
    result
}

/// Promises `frames` frames to a buffer backed on touch: `false` when the pool and the heap
/// beyond the reserve could not back them beside every earlier promise. Where the heap is not
/// the kernel's own (the hosted platform, whose pages come from Linux) the promise is only
/// counted.
pub fn charge(frames: usize) -> bool {
    let mut pool = POOL.lock();
    let ok = match crate::heap::free_beyond_reserve() {
        Some(heap) => pool.charge(frames, heap),
        None => {
            pool.charged += frames;
            true
        }
    };
    publish(&pool);
    ok
}

/// Drops the part of a promise that was not taken (a buffer freed).
pub fn uncharge(frames: usize) {
    let mut pool = POOL.lock();
    pool.uncharge(frames);
    publish(&pool);
}

/// Frames promised and not taken yet.
pub fn charged() -> usize {
    CHARGED.load(Ordering::Relaxed)
}

/// Heap bytes that must stay free for the charges the pool's free frames do not cover.
pub fn uncovered_charge_bytes() -> usize {
    charged().saturating_sub(FREE.load(Ordering::Relaxed)) * FRAME_SIZE
}

/// Gives back a frame from [`take`].
///
/// # Safety
/// `frame` came from [`take`] and is no longer mapped or used (TLBs included).
pub unsafe fn give(frame: *mut u8) {
    let mut pool = POOL.lock();
    // SAFETY: guaranteed by the caller.
    unsafe { pool.give(frame) };
    publish(&pool);
    IN_USE.fetch_sub(1, Ordering::Relaxed);
}

/// Frames handed out now.
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Heap bytes the pool has taken in chunks.
pub fn chunked_bytes() -> usize {
    CHUNKED.load(Ordering::Relaxed)
}

/// Bytes of new pages [`take`] could still back with the page tables that map them: the
/// pool's free frames and the heap above the reserve, less the charges (the heap's
/// fragmentation may make it somewhat less).
pub fn available_bytes() -> usize {
    let heap = crate::heap::free_beyond_reserve().unwrap_or(0);
    pages_with_tables(POOL.lock().headroom(heap)) * FRAME_SIZE
}

/// How many pages `frames` frames can back and map: a last-level table per 512 pages, one
/// more where they cross a table's edge, and the levels above.
fn pages_with_tables(frames: usize) -> usize {
    frames.saturating_sub(frames / 512 + 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::alloc::{Layout, alloc};
    use alloc::vec::Vec;

    /// Chunks from the host allocator, leaked; `budget` bytes in all.
    struct HostChunks {
        budget: usize,
        handed: Vec<(usize, usize)>,
    }

    impl ChunkSource for HostChunks {
        fn available(&self) -> usize {
            self.budget
        }

        fn chunk(&mut self, max_len: usize) -> Option<(*mut u8, usize)> {
            let len = max_len.min(self.budget);
            if len < FRAME_SIZE {
                return None;
            }
            self.budget -= len;
            // SAFETY: non-zero size.
            let p = unsafe { alloc(Layout::from_size_align(len, FRAME_SIZE).unwrap()) };
            // SAFETY: `p` is a fresh allocation of `len` bytes; garbage proves zeroing later.
            unsafe { core::ptr::write_bytes(p, 0xa5, len) };
            self.handed.push((p as usize, len));
            Some((p, len))
        }
    }

    #[test]
    fn hands_out_zeroed_distinct_frames_from_few_chunks() {
        let mut src = HostChunks {
            budget: 4 * CHUNK_BYTES,
            handed: Vec::new(),
        };
        let mut pool = FramePool::new();
        let n = CHUNK_BYTES / FRAME_SIZE + 3;
        let frames: Vec<usize> = (0..n)
            .map(|_| pool.take(&mut src).unwrap() as usize)
            .collect();
        assert_eq!(
            src.handed.len(),
            2,
            "one heap request per chunk, not per frame"
        );
        let mut sorted = frames.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), n);
        for f in &frames {
            assert_eq!(f % FRAME_SIZE, 0);
            // SAFETY: a frame the pool handed out: page sized, inside a live chunk.
            let page = unsafe { core::slice::from_raw_parts(*f as *const u8, FRAME_SIZE) };
            assert!(page.iter().all(|&b| b == 0), "frames are zeroed");
            assert!(src.handed.iter().any(|(s, l)| (*s..s + l).contains(f)));
        }
        assert_eq!(pool.total, 2 * CHUNK_BYTES / FRAME_SIZE);
    }

    #[test]
    fn recycles_given_frames_and_reports_exhaustion() {
        let mut src = HostChunks {
            budget: 2 * FRAME_SIZE,
            handed: Vec::new(),
        };
        let mut pool = FramePool::new();
        let a = pool.take(&mut src).unwrap();
        let b = pool.take(&mut src).unwrap();
        assert!(pool.take(&mut src).is_none(), "budget spent");
        // SAFETY: `a` is a frame we own; dirty it, then give it back unused.
        unsafe { a.write_bytes(0xff, FRAME_SIZE) };
        // SAFETY: `a` came from this pool and is no longer used.
        unsafe { pool.give(a) };
        assert_eq!(pool.free_frames(), 1);
        let again = pool.take(&mut src).unwrap();
        assert_eq!(again, a);
        // SAFETY: a frame the pool handed out: page sized, inside a live chunk.
        let page = unsafe { core::slice::from_raw_parts(again, FRAME_SIZE) };
        assert!(
            page.iter().all(|&x| x == 0),
            "recycled frames are zeroed again"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn charged_frames_are_left_to_their_buffers() {
        let mut src = HostChunks {
            budget: 10 * FRAME_SIZE,
            handed: Vec::new(),
        };
        let mut pool = FramePool::new();
        let app = pool.take(&mut src).unwrap();
        assert_eq!(pool.headroom(src.available()), 9);
        assert!(
            !pool.charge(10, src.available()),
            "more than could be backed"
        );
        assert!(pool.charge(6, src.available()));
        assert!(pool.charge(3, src.available()));
        assert!(!pool.charge(1, src.available()), "all promised");
        assert_eq!(pool.headroom(src.available()), 0);
        assert!(
            pool.take(&mut src).is_none(),
            "the app may not take promised frames"
        );
        // The buffers' pages are touched: each takes one of its charged frames.
        let touched: Vec<*mut u8> = (0..9)
            .map(|_| pool.take_charged(&mut src).unwrap())
            .collect();
        assert_eq!(pool.charged_frames(), 0);
        assert!(pool.take(&mut src).is_none() && pool.take_charged(&mut src).is_none());
        // A buffer freed after two of its pages were touched: its frames come back, and the
        // rest of its charge (none here) is dropped; the app may take them now.
        for f in &touched[..2] {
            // SAFETY: frames from this pool, no longer used.
            unsafe { pool.give(*f) };
        }
        assert_eq!(pool.headroom(src.available()), 2);
        assert!(pool.take(&mut src).is_some());
        // SAFETY: a frame from this pool, no longer used.
        unsafe { pool.give(app) };
        assert!(pool.charge(2, src.available()));
        pool.uncharge(2);
        assert_eq!(
            (pool.charged_frames(), pool.headroom(src.available())),
            (0, 2)
        );
    }

    #[test]
    fn a_charge_counts_free_pool_frames_and_the_source_alike() {
        let mut src = HostChunks {
            budget: CHUNK_BYTES + 4 * FRAME_SIZE,
            handed: Vec::new(),
        };
        let mut pool = FramePool::new();
        let f = pool.take(&mut src).unwrap();
        // SAFETY: a frame from this pool, no longer used.
        unsafe { pool.give(f) };
        let chunk = CHUNK_BYTES / FRAME_SIZE;
        assert_eq!(pool.free_frames(), chunk);
        assert!(
            pool.charge(chunk + 4, src.available()),
            "pool and source together"
        );
        assert!(pool.take(&mut src).is_none());
        for _ in 0..chunk + 4 {
            assert!(
                pool.take_charged(&mut src).is_some(),
                "every charged page is backed"
            );
        }
        assert_eq!(pool.charged_frames(), 0);
    }

    #[test]
    fn pages_leave_room_for_their_page_tables() {
        assert_eq!(pages_with_tables(2), 0);
        assert_eq!(pages_with_tables(256), 253);
        // 1 MiB of pages needs 256 frames and at most 3 tables: 260 frames suffice.
        assert_eq!(pages_with_tables(260), 257);
        assert_eq!(pages_with_tables(513 * 4), 513 * 4 - 4 - 3);
    }

    #[test]
    fn the_reserve_grows_with_the_heap_within_bounds() {
        assert_eq!(reserve_bytes(6 << 20), 384 << 10, "an 8 MiB machine");
        assert_eq!(reserve_bytes(64 << 20), 2 << 20);
        assert_eq!(reserve_bytes(4 << 30), 16 << 20);
    }
}
