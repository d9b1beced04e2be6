//! 4 KiB page frames for mappings made after boot (the app's linear memory and stack, and
//! their page tables).
//!
//! Frames come from the kernel heap in large chunks and are recycled through a free list kept
//! inside the free frames themselves. Asking the heap for each 4 KiB-aligned page separately
//! would cost a whole extra page per frame (the allocator's bookkeeping word pushes the next
//! aligned block one page further), halving the memory an app can use.

use super::PAGE_SIZE;
use super::table::{FrameSource, Table};

/// Where chunks come from: page-aligned, `len` a multiple of the page size, accessible at
/// their physical address.
pub trait ChunkSource {
    /// A chunk of at most `max_len` bytes (smaller if memory is tight); `None` when empty.
    fn chunk(&mut self, max_len: usize) -> Option<(*mut u8, usize)>;
}

/// Bytes asked of the heap at once when the free list is empty.
pub const CHUNK_BYTES: usize = 2 << 20;

/// The free list: each free frame's first word points to the next free frame.
pub struct FramePool {
    head: *mut u8,
    free: usize,
    /// Frames ever taken from the heap.
    pub total: usize,
}

// SAFETY: the pool's frames belong to it alone; the platform keeps it behind a mutex.
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
            for i in (0..len / PAGE_SIZE).rev() {
                // SAFETY: each page of the fresh chunk is handed to the pool once.
                unsafe { self.give(chunk.add(i * PAGE_SIZE)) };
                self.total += 1;
            }
        }
        let frame = self.head;
        // SAFETY: `frame` is a free frame of the pool: its first word is the next link.
        self.head = unsafe { (frame as *const *mut u8).read() };
        self.free -= 1;
        // SAFETY: the frame is page sized and now exclusively the caller's.
        unsafe { core::ptr::write_bytes(frame, 0, PAGE_SIZE) };
        Some(frame)
    }
}

/// A [`FrameSource`] for new page tables, drawing on a pool.
pub struct PoolTables<'a> {
    pub pool: &'a mut FramePool,
    pub source: &'a mut dyn ChunkSource,
}

impl FrameSource for PoolTables<'_> {
    fn zeroed_table(&mut self) -> Option<*mut Table> {
        self.pool.take(self.source).map(|f| f as *mut Table)
    }
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
            if len < PAGE_SIZE {
                return None;
            }
            self.budget -= len;
            // SAFETY: non-zero size.
            let p = unsafe { alloc(Layout::from_size_align(len, PAGE_SIZE).unwrap()) };
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
        let n = CHUNK_BYTES / PAGE_SIZE + 3;
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
            assert_eq!(f % PAGE_SIZE, 0);
            // SAFETY: a frame the pool handed out: page sized, inside a live chunk.
            let page = unsafe { core::slice::from_raw_parts(*f as *const u8, PAGE_SIZE) };
            assert!(page.iter().all(|&b| b == 0), "frames are zeroed");
            assert!(src.handed.iter().any(|(s, l)| (*s..s + l).contains(f)));
        }
        assert_eq!(pool.total, 2 * CHUNK_BYTES / PAGE_SIZE);
    }

    #[test]
    fn recycles_given_frames_and_reports_exhaustion() {
        let mut src = HostChunks {
            budget: 2 * PAGE_SIZE,
            handed: Vec::new(),
        };
        let mut pool = FramePool::new();
        let a = pool.take(&mut src).unwrap();
        let b = pool.take(&mut src).unwrap();
        assert!(pool.take(&mut src).is_none(), "budget spent");
        // SAFETY: `a` is a frame we own; dirty it, then give it back unused.
        unsafe { a.write_bytes(0xff, PAGE_SIZE) };
        // SAFETY: `a` came from this pool and is no longer used.
        unsafe { pool.give(a) };
        assert_eq!(pool.free_frames(), 1);
        let again = pool.take(&mut src).unwrap();
        assert_eq!(again, a);
        // SAFETY: a frame the pool handed out: page sized, inside a live chunk.
        let page = unsafe { core::slice::from_raw_parts(again, PAGE_SIZE) };
        assert!(
            page.iter().all(|&x| x == 0),
            "recycled frames are zeroed again"
        );
        assert_ne!(a, b);
    }
}
