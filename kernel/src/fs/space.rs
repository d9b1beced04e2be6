//! How much memory the filesystem may still take. Files live in the kernel heap, which also
//! backs the app's linear memory and the kernel itself: a write that would eat into the
//! kernel's reserve ([`crate::heap::reserve`]) fails with `ENOSPC` instead, and allocations are
//! fallible, so a full heap is an errno for the app, never an abort of the kernel.

use crate::wasi::Errno;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Bookkeeping cost charged per node and per directory entry, on top of names and chunks.
pub const NODE_COST: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    /// The heap's own free bytes, beyond the kernel's reserve.
    Heap,
    /// A fixed budget (tests, and whoever wants one).
    Bytes(u64),
}

#[derive(Debug)]
pub struct Space {
    used: u64,
    limit: Limit,
}

impl Space {
    /// Bounded by the kernel heap (on the hosted platform: by the process's allocator only).
    pub fn heap() -> Space {
        Space {
            used: 0,
            limit: Limit::Heap,
        }
    }

    /// At most `bytes` in all.
    pub fn limited(bytes: u64) -> Space {
        Space {
            used: 0,
            limit: Limit::Bytes(bytes),
        }
    }

    #[cfg(test)]
    pub fn unlimited() -> Space {
        Space::limited(u64::MAX)
    }

    /// Bytes taken so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// `ENOSPC` unless `bytes` more would fit.
    pub fn check(&self, bytes: usize) -> Result<(), Errno> {
        let fits = match self.limit {
            Limit::Heap => crate::heap::available_beyond_reserve().is_none_or(|free| bytes <= free),
            Limit::Bytes(max) => self.used.saturating_add(bytes as u64) <= max,
        };
        if fits { Ok(()) } else { Err(Errno::NOSPC) }
    }

    /// Counts `bytes` of bookkeeping (names, nodes) as taken, if they fit.
    pub fn charge(&mut self, bytes: usize) -> Result<(), Errno> {
        self.check(bytes)?;
        self.used += bytes as u64;
        Ok(())
    }

    /// `len` zeroed bytes, counted as taken; `ENOSPC` when they do not fit or the heap cannot
    /// give them.
    pub fn allocate(&mut self, len: usize) -> Result<Box<[u8]>, Errno> {
        self.check(len)?;
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(len).map_err(|_| Errno::NOSPC)?;
        v.resize(len, 0);
        self.used += len as u64;
        Ok(v.into_boxed_slice())
    }

    /// Gives back `bytes` taken by [`Space::allocate`] or [`Space::charge`].
    pub fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_budget_is_all_or_nothing() {
        let mut s = Space::limited(10_000);
        let a = s.allocate(6000).unwrap();
        assert_eq!(a.len(), 6000);
        assert!(a.iter().all(|&b| b == 0));
        assert_eq!(s.allocate(6000).unwrap_err(), Errno::NOSPC);
        assert_eq!(s.charge(5000), Err(Errno::NOSPC));
        s.charge(4000).unwrap();
        assert_eq!(s.used(), 10_000);
        s.release(10_000);
        assert_eq!(s.check(10_000), Ok(()));
        assert_eq!(s.check(10_001), Err(Errno::NOSPC));
    }

    #[test]
    fn the_heap_limit_is_open_on_the_host() {
        let mut s = Space::heap();
        s.charge(1 << 40).unwrap();
        assert_eq!(s.used(), 1 << 40);
    }
}
