//! Large kernel buffers that cost RAM only where they are touched: a zeroed buffer whose pages
//! are backed by the page-fault handler on first use ([`crate::demand`]) and given back when
//! the buffer is dropped. Meant for big, mostly empty CPU-side buffers sized for the worst case
//! (socket buffers, say), where a heap allocation would pay for all of it up front.
//!
//! Not for device DMA: the pages are not physically contiguous. Not to be touched while the
//! heap's or the page tables' lock is held: backing a page takes them.
//!
//! The buffers share one reservation of [`REGION_BYTES`] of address space, handed out in
//! order and never reused: a million 64 KiB buffers over the kernel's life.

use crate::demand::{self, Backed};
use crate::platform::{MapError, Platform};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use spin::Mutex;

/// Address space for all touch-backed buffers.
pub const REGION_BYTES: usize = 64 << 30;

/// The shared reservation: its start and the first address not handed out yet.
static REGION: Mutex<Option<(usize, usize)>> = Mutex::new(None);

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
    /// A zeroed buffer of `len` bytes (nothing backed yet). Fails when the address space for
    /// such buffers is used up or the platform cannot reserve or commit it.
    pub fn new(p: &'static dyn Platform, len: usize) -> Result<TouchBuffer, MapError> {
        let span = len
            .max(1)
            .checked_next_multiple_of(p.page_size())
            .ok_or(MapError::InvalidRange)?;
        let start = {
            let mut region = REGION.lock();
            let (base, next) = match *region {
                Some(r) => r,
                None => {
                    let base = p.reserve(REGION_BYTES)?;
                    demand::register(Backed::KernelBuffers, base, base);
                    (base, base)
                }
            };
            let end = next
                .checked_add(span)
                .filter(|&e| e <= base + REGION_BYTES)
                .ok_or(MapError::OutOfMemory)?;
            p.commit(next, span)?;
            *region = Some((base, end));
            demand::set_end(Backed::KernelBuffers, end);
            next
        };
        Ok(TouchBuffer {
            start: NonNull::new(start as *mut u8).ok_or(MapError::InvalidRange)?,
            len,
            span,
            platform: p,
        })
    }
}

impl TouchBuffer {
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
        // The pages it touched go back to the frame supply; its addresses are not reused.
        self.platform.unmap(self.start.as_ptr() as usize, self.span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::mock::MockPlatform;

    #[test]
    fn buffers_are_committed_in_order_and_backed_on_touch() {
        let _l = crate::app::memory::tests::locks();
        let p: &'static MockPlatform = Box::leak(Box::new(MockPlatform::new()));
        let a = TouchBuffer::new(p, 10_000).unwrap();
        let b = TouchBuffer::new(p, 4096).unwrap();
        assert_eq!(a.len(), 10_000);
        let (a_start, b_start) = (a.as_ptr() as usize, b.as_ptr() as usize);
        assert_eq!(
            b_start,
            a_start + 3 * 4096,
            "page-rounded, one after the other"
        );
        let committed = p.committed.lock().unwrap().clone();
        assert_eq!(
            committed[committed.len() - 2..],
            [(a_start, 3 * 4096), (b_start, 4096)]
        );
        assert!(
            p.mapped.lock().unwrap().is_empty(),
            "nothing backed up front"
        );
        assert_eq!(demand::find(a_start + 9_999), Some(Backed::KernelBuffers));
        assert_eq!(demand::find(b_start + 4095), Some(Backed::KernelBuffers));
        assert_eq!(demand::find(b_start + 4096), None, "not handed out yet");
        assert!(TouchBuffer::new(p, usize::MAX).is_err());
    }
}
