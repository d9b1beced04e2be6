//! Where socket buffers come from. A stream's buffers are sized for a full window each way
//! (64 KiB at the default 512 MiB machine) but mostly hold a request and its answer: large
//! buffers are backed on touch ([`TouchBuffer`]), so an idle or lightly used socket costs the
//! pages it used, not its capacity. They are charged their capacity when made, so a machine
//! that could not back them refuses the socket with `ENOMEM` there, not later when a packet
//! arrives. Small buffers (a small machine's 4-8 KiB, a page or two) stay on the heap, where
//! they cost the same and need no page tables.

use crate::platform::Platform;
use crate::touch_buffer::TouchBuffer;
use crate::wasi::Errno;
use alloc::vec::Vec;
use managed::ManagedSlice;

/// Buffers at least this large are backed on touch.
pub const TOUCH_BACKED_FROM: usize = 16 * 1024;

#[derive(Clone, Copy)]
pub enum BufferSource {
    /// Large buffers backed on touch by this platform, small ones on the heap.
    Touch(&'static dyn Platform),
    /// Everything on the heap: the host unit tests, whose mock platform hands out address
    /// ranges nothing backs.
    Heap,
}

/// The touch-backed buffers a socket's storage borrows, kept until the socket is gone.
pub type Backing = Vec<TouchBuffer>;

impl BufferSource {
    /// The source for a stack on platform `p`.
    pub fn for_platform(p: &'static dyn Platform) -> BufferSource {
        if cfg!(test) {
            BufferSource::Heap
        } else {
            BufferSource::Touch(p)
        }
    }

    /// `len` zero bytes for a socket, or `ENOMEM`. A touch-backed buffer is pushed to
    /// `backing`, which must outlive the storage returned (the socket using it).
    pub fn buffer(
        self,
        len: usize,
        backing: &mut Backing,
    ) -> Result<ManagedSlice<'static, u8>, Errno> {
        match self {
            BufferSource::Touch(p) if len >= TOUCH_BACKED_FROM => {
                let mut buffer = TouchBuffer::new(p, len).map_err(|_| Errno::NOMEM)?;
                // SAFETY: the buffer's pages stay where they are for its life, and the caller
                // keeps it (in `backing`) until the socket that borrows them is dropped.
                let storage = unsafe { core::slice::from_raw_parts_mut(buffer.as_mut_ptr(), len) };
                backing.push(buffer);
                Ok(ManagedSlice::Borrowed(storage))
            }
            _ => heap_zeroed(len).map(ManagedSlice::Owned),
        }
    }
}

/// A heap buffer of `len` zero bytes, or `ENOMEM` instead of an allocation failure. Socket
/// buffers are the app's, like its pages and files: they leave the kernel's reserve alone
/// ([`crate::heap::reserve`]), or a full heap would end in an allocation failure inside the
/// kernel instead of an errno for the app.
fn heap_zeroed(len: usize) -> Result<Vec<u8>, Errno> {
    if crate::heap::available_beyond_reserve().is_some_and(|free| len > free) {
        return Err(Errno::NOMEM);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Errno::NOMEM)?;
    v.resize(len, 0);
    Ok(v)
}
