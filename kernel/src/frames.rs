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

use core::sync::atomic::{AtomicUsize, Ordering};
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
}

/// The free list: each free frame's first word points to the next free frame.
pub struct FramePool {
    head: *mut u8,
    free: usize,
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
            total: 0,
        }
    }

    pub fn free_frames(&self) -> usize {
        self.free
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

    /// A zeroed frame, refilling from `source` when the list is empty.
    pub fn take(&mut self, source: &mut dyn ChunkSource) -> Option<*mut u8> {
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

/// Chunks of the kernel heap, as long as the reserve stays free.
struct HeapChunks;

impl ChunkSource for HeapChunks {
    fn chunk(&mut self, max_len: usize) -> Option<(*mut u8, usize)> {
        let allowed = crate::heap::available_beyond_reserve().unwrap_or(0);
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

/// A zeroed 4 KiB frame (its kernel address, where it is also accessible), or `None` when only
/// the kernel reserve is left.
pub fn take() -> Option<*mut u8> {
    let frame = POOL.lock().take(&mut HeapChunks)?;
    IN_USE.fetch_add(1, Ordering::Relaxed);
    crate::footprint::note_use();
    Some(frame)
}

/// Gives back a frame from [`take`].
///
/// # Safety
/// `frame` came from [`take`] and is no longer mapped or used (TLBs included).
pub unsafe fn give(frame: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { POOL.lock().give(frame) };
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

/// Bytes of new pages [`take`] could still back: the pool's free frames and the heap above the
/// reserve (the heap's fragmentation may make it somewhat less).
pub fn available_bytes() -> usize {
    let pooled = POOL.lock().free_frames() * FRAME_SIZE;
    let heap = crate::heap::available_beyond_reserve().unwrap_or(0);
    pooled + heap / FRAME_SIZE * FRAME_SIZE
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
    fn the_reserve_grows_with_the_heap_within_bounds() {
        assert_eq!(reserve_bytes(6 << 20), 384 << 10, "an 8 MiB machine");
        assert_eq!(reserve_bytes(64 << 20), 2 << 20);
        assert_eq!(reserve_bytes(4 << 30), 16 << 20);
    }
}
