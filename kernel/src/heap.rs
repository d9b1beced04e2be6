//! The kernel heap: talc over the RAM the platform reports free.
//!
//! On the unikernel targets it is the global allocator. The hosted platform keeps the system
//! allocator, so this module only initialises talc where `target_os = "none"`.

use crate::platform::MemoryRegion;
use core::sync::atomic::{AtomicUsize, Ordering};

static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: talc::Talck<spin::Mutex<()>, talc::ErrOnOom> =
    talc::Talc::new(talc::ErrOnOom).lock();

/// Hands the free regions to the allocator. Regions smaller than a page are skipped.
pub fn init(regions: &[MemoryRegion]) {
    let mut total = 0;
    for r in regions.iter().filter(|r| r.len >= 4096) {
        #[cfg(target_os = "none")]
        {
            let span = talc::Span::from_base_size(r.start as *mut u8, r.len);
            // SAFETY: the platform guarantees the region is RAM, mapped, and used by nobody else.
            if unsafe { ALLOCATOR.lock().claim(span) }.is_err() {
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

/// Bytes the kernel heap has handed out and not got back (`None` on the hosted platform, whose
/// allocator is the system's).
pub fn in_use() -> Option<usize> {
    #[cfg(target_os = "none")]
    {
        Some(ALLOCATOR.lock().get_counters().allocated_bytes)
    }
    #[cfg(not(target_os = "none"))]
    {
        None
    }
}
