//! Large kernel buffers that cost RAM only where they are touched: a zeroed buffer whose pages
//! are backed by the page-fault handler on first use ([`crate::demand`]) and given back when
//! the buffer is dropped. Meant for big, mostly empty CPU-side buffers sized for the worst case
//! (socket buffers), where a heap allocation would pay for all of it up front.
//!
//! A buffer is charged its pages when it is made ([`crate::frames::charge`]): making it fails
//! with [`MapError::OutOfMemory`] when they could not all be backed, so a touch always finds
//! its frame and running out of memory is an error at creation, never a fault later. The
//! page tables that map a buffer are made with it, so a touch takes just the page's frame.
//!
//! Not for device DMA: the pages are not physically contiguous. Not to be touched while the
//! heap's, the frame pool's or the page tables' lock is held: backing a page takes them.
//!
//! The buffers share one reservation of [`REGION_BYTES`] of address space; freed spans are
//! reused lowest first ([`spans`]), so the addresses (and page tables) in use follow the
//! buffers alive at once, not all the buffers ever made.

mod spans;

use crate::demand::{self, Backed};
use crate::frames;
use crate::platform::{MapError, Platform};
use alloc::collections::BTreeMap;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use spans::Spans;
use spin::Mutex;

/// Address space for all touch-backed buffers.
pub const REGION_BYTES: usize = 64 << 30;

/// A live buffer's span and the pages of it that are backed.
struct Live {
    span: usize,
    touched: usize,
}

struct Region {
    spans: Spans,
    /// The buffers alive, by start address.
    live: BTreeMap<usize, Live>,
    /// The end of the address space whose page tables are made.
    tables_end: usize,
}

static REGION: Mutex<Option<Region>> = Mutex::new(None);
/// Bytes of the buffers alive, and their pages backed now.
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static TOUCHED_PAGES: AtomicUsize = AtomicUsize::new(0);

/// Bytes of the touch-backed buffers alive now (touched or not).
pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Pages of the buffers alive that are backed now.
pub fn touched_pages() -> usize {
    TOUCHED_PAGES.load(Ordering::Relaxed)
}

/// A zeroed buffer of kernel memory backed on touch.
pub struct TouchBuffer {
    start: NonNull<u8>,
    len: usize,
    /// Bytes reserved for it (`len` rounded up to pages).
    span: usize,
    platform: &'static dyn Platform,
}

// SAFETY: the buffer owns its pages exclusively, like a `Box<[u8]>`.
unsafe impl Send for TouchBuffer {}
// SAFETY: shared access only reads, like a `Box<[u8]>`.
unsafe impl Sync for TouchBuffer {}

impl TouchBuffer {
    /// A zeroed buffer of `len` bytes (nothing backed yet). Fails with
    /// [`MapError::OutOfMemory`] when its pages could not be backed beside every other charge,
    /// or the address space for such buffers is used up.
    pub fn new(p: &'static dyn Platform, len: usize) -> Result<TouchBuffer, MapError> {
        let page = p.page_size();
        let span = len
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or(MapError::InvalidRange)?;
        if span > REGION_BYTES {
            return Err(MapError::OutOfMemory);
        }
        let pages = span / page;
        crate::demand::back_stack_below();
        if !frames::charge(pages) {
            return Err(MapError::OutOfMemory);
        }
        let start = place(p, span).inspect_err(|_| frames::uncharge(pages))?;
        LIVE_BYTES.fetch_add(span, Ordering::Relaxed);
        Ok(TouchBuffer {
            start: NonNull::new(start as *mut u8).ok_or(MapError::InvalidRange)?,
            len,
            span,
            platform: p,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the buffer starts (reading through it backs the page, like any access).
    pub fn as_ptr(&self) -> *const u8 {
        self.start.as_ptr()
    }

    /// Where the buffer starts, for writing.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.start.as_ptr()
    }
}

/// Finds address space for a span (reserving the region on first use), makes the page tables
/// that map it and commits it.
fn place(p: &'static dyn Platform, span: usize) -> Result<usize, MapError> {
    let mut guard = REGION.lock();
    let region = match &mut *guard {
        Some(region) => region,
        none => {
            let base = p.reserve(REGION_BYTES)?;
            demand::register(Backed::KernelBuffers, base, base + REGION_BYTES);
            none.insert(Region {
                spans: Spans::new(base, REGION_BYTES),
                live: BTreeMap::new(),
                tables_end: base,
            })
        }
    };
    let start = region.spans.take(span).ok_or(MapError::OutOfMemory)?;
    let made = make_tables(p, region, start, span).and_then(|()| p.commit(start, span));
    if let Err(e) = made {
        region.spans.give(start, span);
        return Err(e);
    }
    region.live.insert(start, Live { span, touched: 0 });
    Ok(start)
}

/// Makes the page tables for `[start, start + span)` where the region has none yet: mapping
/// and unmapping one page in each stretch a last-level table covers leaves that table (and
/// those above it) in place, as neither unikernel frees page tables. Their frames are taken
/// now, when failing is still an errno; a touch later needs only the page's own frame.
fn make_tables(
    p: &dyn Platform,
    region: &mut Region,
    start: usize,
    span: usize,
) -> Result<(), MapError> {
    if p.backable_bytes().is_none() {
        // Pages from the host's kernel: no tables of ours.
        return Ok(());
    }
    let page = p.page_size();
    // A last-level table holds a page of 8-byte entries.
    let table_covers = page * (page / 8);
    let end = start + span;
    let mut at = start.max(region.tables_end);
    while at < end {
        p.map_zeroed(at, page)?;
        p.unmap(at, page);
        at = (at / table_covers + 1) * table_covers;
    }
    region.tables_end = region.tables_end.max(end);
    Ok(())
}

/// Backs the page at `addr` if it lies in a live buffer (`None`: it does not, a stray
/// access), taking one of the buffer's charged frames. Called by the fault handler.
pub fn back_page(p: &dyn Platform, addr: usize) -> Option<Result<(), MapError>> {
    let page = addr & !(p.page_size() - 1);
    {
        let mut guard = REGION.lock();
        let (&start, live) = guard.as_mut()?.live.range_mut(..=page).next_back()?;
        if page >= start + live.span {
            return None;
        }
        live.touched += 1;
    }
    TOUCHED_PAGES.fetch_add(1, Ordering::Relaxed);
    Some(frames::map_charged(|| p.map_zeroed(page, p.page_size())))
}

impl Deref for TouchBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes of a committed range this buffer owns; untouched pages read as
        // zero once the fault handler backs them.
        unsafe { core::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl DerefMut for TouchBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl Drop for TouchBuffer {
    fn drop(&mut self) {
        crate::demand::back_stack_below();
        let start = self.start.as_ptr() as usize;
        // The pages it touched go back to the frame pool, the rest of its charge is dropped,
        // and its addresses are free for the next buffer.
        self.platform.unmap(start, self.span);
        let mut guard = REGION.lock();
        let Some(region) = guard.as_mut() else { return };
        let touched = region.live.remove(&start).map_or(0, |l| l.touched);
        region.spans.give(start, self.span);
        drop(guard);
        frames::uncharge(self.span / self.platform.page_size() - touched);
        TOUCHED_PAGES.fetch_sub(touched, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(self.span, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::mock::MockPlatform;

    /// The region is process-wide, and so are the charges: tests that make buffers hold this.
    pub(crate) fn lock() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mock() -> &'static MockPlatform {
        Box::leak(Box::new(MockPlatform::new()))
    }

    #[test]
    fn buffers_are_charged_placed_and_given_back() {
        let _l = (crate::app::memory::tests::locks(), lock());
        let p = mock();
        let (charged, live, top) = (frames::charged(), live_bytes(), {
            let a = TouchBuffer::new(p, 1).unwrap();
            a.as_ptr() as usize
        });
        assert_eq!((frames::charged(), live_bytes()), (charged, live));
        // Dropped: its span is the first reused.
        let a = TouchBuffer::new(p, 10_000).unwrap();
        let b = TouchBuffer::new(p, 4096).unwrap();
        assert_eq!(a.len(), 10_000);
        let (a_start, b_start) = (a.as_ptr() as usize, b.as_ptr() as usize);
        assert_eq!(a_start, top, "the freed span is reused");
        assert_eq!(
            b_start,
            a_start + 3 * 4096,
            "page-rounded, one after the other"
        );
        assert_eq!(frames::charged(), charged + 4, "charged their pages");
        assert_eq!(live_bytes(), live + 4 * 4096);
        let committed = p.committed.lock().unwrap().clone();
        assert_eq!(
            committed[committed.len() - 2..],
            [(a_start, 3 * 4096), (b_start, 4096)]
        );
        assert_eq!(demand::find(a_start + 9_999), Some(Backed::KernelBuffers));
        assert!(TouchBuffer::new(p, usize::MAX).is_err());
        assert!(TouchBuffer::new(p, REGION_BYTES + 1).is_err());
        assert_eq!(frames::charged(), charged + 4, "failures charge nothing");
        // A touch of `a` takes one of its charged frames; a stray access is no buffer's.
        let mapped = p.mapped.lock().unwrap().len();
        assert_eq!(back_page(p, a_start + 5_000), Some(Ok(())));
        assert_eq!(p.mapped.lock().unwrap()[mapped], (a_start + 4096, 4096));
        assert_eq!(touched_pages(), 1);
        // The unikernels' mapping takes that frame from the pool, which drops one frame of the
        // charge ([`frames::map_charged`]; the `touch` selftest checks it there); the mock
        // takes none, so do it here.
        frames::uncharge(1);
        drop(a);
        assert_eq!(
            frames::charged(),
            charged + 1,
            "a's untouched pages uncharged"
        );
        assert_eq!(touched_pages(), 0);
        assert_eq!(back_page(p, a_start), None, "freed: a stray access");
        drop(b);
        assert_eq!((frames::charged(), live_bytes()), (charged, live));
    }

    #[test]
    fn page_tables_are_made_once_per_table_with_the_buffer() {
        let _l = (crate::app::memory::tests::locks(), lock());
        let p = mock();
        let before = p.mapped.lock().unwrap().len();
        // 3 MiB: in two or three stretches of 2 MiB, one page mapped (and unmapped) in each.
        let big = TouchBuffer::new(p, 3 << 20).unwrap();
        let made: Vec<(usize, usize)> = p.mapped.lock().unwrap()[before..].to_vec();
        assert!((2..=3).contains(&made.len()), "{made:x?}");
        let start = big.as_ptr() as usize;
        assert!(made[0].0 >= start && made[0].1 == 4096, "{made:x?}");
        for (at, len) in &made[1..] {
            assert_eq!((at % (2 << 20), *len), (0, 4096), "a table's first page");
            assert!((start..start + (3 << 20)).contains(at));
        }
        drop(big);
        let again = TouchBuffer::new(p, 3 << 20).unwrap();
        assert_eq!(again.as_ptr() as usize, start);
        assert_eq!(
            p.mapped.lock().unwrap().len(),
            before + made.len(),
            "its tables exist already"
        );
    }
}
