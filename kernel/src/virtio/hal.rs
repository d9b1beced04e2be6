//! virtio-drivers' [`Hal`] over the kernel heap and the platform's address translation.
//!
//! Queues and buffers live in the kernel heap, which every platform maps physically
//! contiguous (the direct map), so sharing a buffer with a device is an address translation,
//! never a copy. A driver must share only heap or static memory: the app's stack and linear
//! memory are mapped page by page and are not contiguous (sharing them is a driver bug and
//! panics with the address).

use crate::platform::platform;
use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// The kernel's [`Hal`]: DMA pages from the heap, translated by the platform.
#[derive(Debug)]
pub struct KernelHal;

fn pages_layout(pages: usize) -> Option<Layout> {
    Layout::from_size_align(pages.checked_mul(PAGE_SIZE)?, PAGE_SIZE).ok()
}

/// The device's address for `len` bytes at `virt`; panics (a driver bug) if there is none.
fn bus_address(virt: usize, len: usize) -> PhysAddr {
    platform().dma_address(virt, len).unwrap_or_else(|| {
        panic!("virtio: {len} bytes at {virt:#x} are not physically contiguous kernel memory")
    })
}

// SAFETY: `dma_alloc` returns fresh, zeroed, page-aligned heap blocks owned by the caller until
// `dma_dealloc`; `mmio_phys_to_virt` returns the platform's own mapping of device memory;
// `share` returns the device's address of memory the caller keeps alive.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(layout) = pages_layout(pages).filter(|l| l.size() > 0) else {
            return (0, NonNull::dangling());
        };
        // SAFETY: the layout has a non-zero size.
        let Some(block) = NonNull::new(unsafe { alloc_zeroed(layout) }) else {
            // virtio-drivers reads a zero address as "out of DMA memory".
            return (0, NonNull::dangling());
        };
        (bus_address(block.as_ptr() as usize, layout.size()), block)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let Some(layout) = pages_layout(pages) else {
            return -1;
        };
        // SAFETY: the caller passes back a block from `dma_alloc` with the same page count.
        unsafe { dealloc(vaddr.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let virt = platform()
            .map_device_memory(paddr, size)
            .unwrap_or_else(|e| {
                panic!("virtio: cannot map device memory {paddr:#x}+{size:#x}: {e}")
            });
        NonNull::new(virt as *mut u8).expect("device memory mapped at address 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        bus_address(buffer.as_ptr() as *mut u8 as usize, buffer.len())
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Shared in place: nothing to copy back.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_pages_are_zeroed_aligned_translated_and_freed() {
        crate::wasi::testing::installed_platform();
        let (paddr, vaddr) = KernelHal::dma_alloc(3, BufferDirection::Both);
        let v = vaddr.as_ptr() as usize;
        assert_eq!(v % PAGE_SIZE, 0);
        // The mock platform's bus addresses are the virtual ones.
        assert_eq!(paddr, v as u64);
        // SAFETY: the block is 3 pages we own until `dma_dealloc`.
        let bytes = unsafe { core::slice::from_raw_parts(v as *const u8, 3 * PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        // SAFETY: the block and page count from `dma_alloc` above.
        assert_eq!(unsafe { KernelHal::dma_dealloc(paddr, vaddr, 3) }, 0);
    }

    #[test]
    fn an_impossible_allocation_reads_as_out_of_dma_memory() {
        crate::wasi::testing::installed_platform();
        assert_eq!(
            KernelHal::dma_alloc(usize::MAX / 2, BufferDirection::Both).0,
            0
        );
        assert_eq!(KernelHal::dma_alloc(0, BufferDirection::Both).0, 0);
    }

    #[test]
    fn shared_buffers_are_translated_in_place() {
        crate::wasi::testing::installed_platform();
        let buf = [1u8; 100];
        let ptr = NonNull::from(&buf[..]);
        // SAFETY: a live buffer nobody else touches during the call.
        let paddr = unsafe { KernelHal::share(ptr, BufferDirection::DriverToDevice) };
        assert_eq!(paddr, buf.as_ptr() as u64);
    }
}
