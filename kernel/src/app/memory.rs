//! Linear memories: a fixed reservation per memory, pages backed when the app touches them.
//!
//! The whole reservation ([`RESERVATION_BYTES`]) is registered as a guard range, so a fault
//! anywhere in it that is not a committed page (beyond `current_bytes`, or in the guard after
//! the 4 GiB) is the out-of-bounds trap. `[base, base + current_bytes)` is backed on touch
//! ([`crate::demand`]): instantiation and `memory.grow` map nothing. What may be committed is
//! the overcommit policy of [`crate::footprint`].

use crate::demand::{self, Backed};
use crate::fault::{GuardKind, register_guard};
use crate::footprint::{self, MachineTooSmall};
use crate::platform::{MapError, Platform};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use mewz_abi::memory::{
    MAX_USABLE_PAGES, MAX_WASM_PAGES, MemoryDescriptor, RESERVATION_BYTES, WASM_PAGE_SIZE,
};

/// Largest size any linear memory may grow to (`mewz.memory`); no limit by default.
static LIMIT_BYTES: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the limit every later [`grow`] honours (`None`: only the module's own maximum).
pub fn set_limit(bytes: Option<u64>) {
    LIMIT_BYTES.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn limit_pages() -> u64 {
    LIMIT_BYTES.load(Ordering::Relaxed) / WASM_PAGE_SIZE
}

/// Why a memory could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The descriptor's minimum is above its maximum or above 4 GiB.
    InvalidLimits {
        minimum_pages: u64,
        maximum_pages: u64,
    },
    /// The minimum is above [`MAX_USABLE_PAGES`] (4 GiB - 64 KiB), mewz's implementation limit.
    TooLarge { minimum_pages: u64 },
    /// The minimum is above the `mewz.memory` limit.
    AboveLimit {
        minimum_pages: u64,
        limit_bytes: u64,
    },
    /// The minimum is larger than the machine's commit limit.
    MachineTooSmall(MachineTooSmall),
    /// The platform could not reserve or commit it.
    Map(MapError),
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemoryError::InvalidLimits {
                minimum_pages,
                maximum_pages,
            } => write!(
                f,
                "invalid memory limits: minimum {minimum_pages} pages, maximum {maximum_pages}"
            ),
            MemoryError::AboveLimit {
                minimum_pages,
                limit_bytes,
            } => write!(
                f,
                "the module needs {} KiB of memory but mewz.memory allows {} KiB",
                minimum_pages * WASM_PAGE_SIZE / 1024,
                limit_bytes / 1024
            ),
            MemoryError::TooLarge { minimum_pages } => write!(
                f,
                "the module needs {minimum_pages} pages of memory; mewz supports at most {MAX_USABLE_PAGES} (4 GiB - 64 KiB)"
            ),
            MemoryError::MachineTooSmall(e) => write!(f, "{e}"),
            MemoryError::Map(e) => write!(f, "cannot map the linear memory: {e}"),
        }
    }
}

/// Reserves the memory's address range, commits its `minimum_pages` (backed on touch), fills
/// in `base` and `current_bytes` and makes faults elsewhere in the reservation out-of-bounds
/// traps.
pub fn setup(p: &dyn Platform, desc: &mut MemoryDescriptor) -> Result<(), MemoryError> {
    let (minimum_pages, maximum_pages) = (desc.minimum_pages, desc.maximum_pages);
    if minimum_pages > maximum_pages || minimum_pages > MAX_WASM_PAGES {
        return Err(MemoryError::InvalidLimits {
            minimum_pages,
            maximum_pages,
        });
    }
    if minimum_pages > MAX_USABLE_PAGES {
        return Err(MemoryError::TooLarge { minimum_pages });
    }
    if minimum_pages > limit_pages() {
        let limit_bytes = LIMIT_BYTES.load(Ordering::Relaxed);
        return Err(MemoryError::AboveLimit {
            minimum_pages,
            limit_bytes,
        });
    }
    let bytes = minimum_pages * WASM_PAGE_SIZE;
    footprint::check_declared(bytes, p.ram_bytes() as u64).map_err(MemoryError::MachineTooSmall)?;
    let base = p
        .reserve(RESERVATION_BYTES as usize)
        .map_err(MemoryError::Map)?;
    desc.base = base as *mut u8;
    desc.current_bytes = 0;
    register_guard(
        GuardKind::LinearMemory,
        base,
        base + RESERVATION_BYTES as usize,
    );
    demand::register(Backed::LinearMemory, base, base);
    if bytes > 0 {
        p.commit(base, bytes as usize).map_err(MemoryError::Map)?;
    }
    desc.current_bytes = bytes;
    demand::set_end(Backed::LinearMemory, base + bytes as usize);
    Ok(())
}

/// `memory.grow`: the old size in pages, or `None` when the module's maximum,
/// [`MAX_USABLE_PAGES`], the `mewz.memory` limit, the commit limit or the machine's free
/// memory ([`crate::footprint`]) does not allow `delta_pages` more.
pub fn grow(p: &dyn Platform, desc: &mut MemoryDescriptor, delta_pages: u32) -> Option<u64> {
    if desc.base.is_null() {
        return None;
    }
    let old_pages = desc.current_bytes / WASM_PAGE_SIZE;
    let new_pages = old_pages + u64::from(delta_pages);
    if new_pages > desc.maximum_pages.min(MAX_USABLE_PAGES).min(limit_pages()) {
        return None;
    }
    if footprint::commit_limit(p.ram_bytes() as u64)
        .is_some_and(|limit| new_pages * WASM_PAGE_SIZE > limit)
    {
        return None;
    }
    if delta_pages > 0 {
        let start = desc.base as usize + desc.current_bytes as usize;
        let len = (u64::from(delta_pages) * WASM_PAGE_SIZE) as usize;
        if p.backable_bytes().is_some_and(|free| len > free) {
            return None;
        }
        p.commit(start, len).ok()?;
        demand::set_end(Backed::LinearMemory, start + len);
    }
    desc.current_bytes = new_pages * WASM_PAGE_SIZE;
    Some(old_pages)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demand::tests::RANGES_LOCK;
    use crate::wasi::mock::MockPlatform;
    use mewz_abi::memory::UNIKERNEL_MEMORY_BASE;
    use std::sync::atomic::Ordering;

    fn descriptor(minimum_pages: u64, maximum_pages: u64) -> MemoryDescriptor {
        MemoryDescriptor {
            base: core::ptr::null_mut(),
            current_bytes: 0,
            minimum_pages,
            maximum_pages,
        }
    }

    /// The limit and the ranges backed on touch are process-wide; tests that depend on them
    /// hold these locks.
    pub(crate) static LIMIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    pub(crate) fn locks() -> (
        std::sync::MutexGuard<'static, ()>,
        std::sync::MutexGuard<'static, ()>,
    ) {
        (
            LIMIT_LOCK.lock().unwrap_or_else(|e| e.into_inner()),
            RANGES_LOCK.lock().unwrap_or_else(|e| e.into_inner()),
        )
    }

    #[test]
    fn setup_commits_the_minimum_and_maps_nothing() {
        let _l = locks();
        let p = MockPlatform::new();
        let mut d = descriptor(3, 10);
        setup(&p, &mut d).unwrap();
        let base = UNIKERNEL_MEMORY_BASE as usize;
        assert_eq!(d.base as usize, base);
        assert_eq!(d.current_bytes, 3 * WASM_PAGE_SIZE);
        assert_eq!(*p.committed.lock().unwrap(), [(base, 3 * 65536)]);
        assert!(
            p.mapped.lock().unwrap().is_empty(),
            "nothing mapped up front"
        );
        assert_eq!(demand::find(base), Some(Backed::LinearMemory));
        assert_eq!(
            demand::find(base + 3 * 65536 - 1),
            Some(Backed::LinearMemory)
        );
        assert_eq!(demand::find(base + 3 * 65536), None, "beyond current_bytes");
        // (The guard registration is global state that `fault`'s own test overwrites in
        // parallel; the QEMU trap tests check that a fault there is the OOB trap.)
    }

    #[test]
    fn grow_honours_maximum_limit_and_free_memory() {
        let _l = locks();
        let p = MockPlatform::new();
        let mut d = descriptor(1, 5);
        setup(&p, &mut d).unwrap();
        assert_eq!(grow(&p, &mut d, 0), Some(1));
        assert_eq!(grow(&p, &mut d, 2), Some(1));
        assert_eq!(d.current_bytes, 3 * WASM_PAGE_SIZE);
        assert_eq!(
            p.committed.lock().unwrap()[1],
            (d.base as usize + 65536, 2 * 65536)
        );
        assert_eq!(
            demand::find(d.base as usize + 3 * 65536 - 1),
            Some(Backed::LinearMemory),
            "grown pages are backed on touch"
        );
        assert_eq!(grow(&p, &mut d, 3), None, "past the maximum");
        assert_eq!(grow(&p, &mut d, u32::MAX), None);
        assert_eq!(grow(&p, &mut d, 2), Some(3));
        assert_eq!(grow(&p, &mut d, 1), None);

        let mut d = descriptor(0, MAX_WASM_PAGES);
        setup(&p, &mut d).unwrap();
        set_limit(Some(4 * WASM_PAGE_SIZE + 100));
        assert_eq!(grow(&p, &mut d, 5), None, "past mewz.memory");
        assert_eq!(grow(&p, &mut d, 4), Some(0));
        set_limit(None);
        p.map_budget.store(65536, Ordering::SeqCst);
        assert_eq!(
            grow(&p, &mut d, 2),
            None,
            "the machine cannot back 2 more pages"
        );
        assert_eq!(
            d.current_bytes,
            4 * WASM_PAGE_SIZE,
            "a failed grow changes nothing"
        );
        assert_eq!(
            demand::find(d.base as usize + 4 * 65536),
            None,
            "nor the range backed on touch"
        );
        assert_eq!(grow(&p, &mut d, 1), Some(4), "one page it can back");
        assert_eq!(grow(&p, &mut d, u32::MAX), None);
    }

    #[test]
    fn a_memory_that_was_never_set_up_cannot_grow() {
        let p = MockPlatform::new();
        let mut d = descriptor(0, 10);
        assert_eq!(grow(&p, &mut d, 1), None);
        assert!(p.committed.lock().unwrap().is_empty());
    }

    #[test]
    fn a_minimum_beyond_the_commit_limit_is_refused_naming_both() {
        let _l = locks();
        let p = MockPlatform::new();
        p.ram.store(8 << 20, Ordering::SeqCst);
        let mut d = descriptor(257, 300);
        let err = setup(&p, &mut d).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the app declares 16448 KiB of initial memory, more than twice the machine's 8 MiB"
        );
        assert!(p.committed.lock().unwrap().is_empty());
        // Up to the limit it is committed: only touching it all would fail.
        let mut d = descriptor(255, 300);
        setup(&p, &mut d).unwrap();
        assert_eq!(d.current_bytes, 255 * 65536);
        assert_eq!(grow(&p, &mut d, 1), Some(255), "exactly the limit");
        assert_eq!(grow(&p, &mut d, 1), None, "past the commit limit");
    }

    #[test]
    fn setup_rejects_bad_limits() {
        let _l = locks();
        let p = MockPlatform::new();
        let mut d = descriptor(4, 2);
        assert!(matches!(
            setup(&p, &mut d),
            Err(MemoryError::InvalidLimits { .. })
        ));
        set_limit(Some(65536));
        let mut d = descriptor(2, 2);
        let err = setup(&p, &mut d).unwrap_err();
        assert_eq!(
            err,
            MemoryError::AboveLimit {
                minimum_pages: 2,
                limit_bytes: 65536
            }
        );
        assert_eq!(
            format!("{err}"),
            "the module needs 128 KiB of memory but mewz.memory allows 64 KiB"
        );
        set_limit(None);
        let mut d = descriptor(MAX_WASM_PAGES, MAX_WASM_PAGES);
        let err = setup(&p, &mut d).unwrap_err();
        assert_eq!(
            err,
            MemoryError::TooLarge {
                minimum_pages: 65536
            }
        );
        assert_eq!(
            format!("{err}"),
            "the module needs 65536 pages of memory; mewz supports at most 65535 (4 GiB - 64 KiB)"
        );
        let mut d = descriptor(0, MAX_WASM_PAGES);
        setup(&p, &mut d).unwrap();
        assert_eq!(grow(&p, &mut d, 65536), None, "4 GiB is past the limit");
    }
}
