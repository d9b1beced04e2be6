//! Physical and virtual memory bookkeeping that needs no hardware: sets of address ranges
//! (RAM minus what boot uses), the direct-map page plan and the linear-memory reservations.
//! Everything here runs before the heap exists, so it uses fixed-capacity storage.

use core::fmt;
use mewz_abi::memory::{ADDRESSABLE_BYTES, UNIKERNEL_MEMORY_BASE};

pub const PAGE_SIZE: u64 = 4096;

/// Virtual address of physical address 0 in the direct map (start of the upper half).
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;
/// How much physical address space the direct map spans (PML4 slots 256..384).
pub const DIRECT_MAP_SPAN: u64 = 64 << 40;
/// The loader-time tables identity map this much; early allocations must lie below it.
pub const BOOT_IDENTITY_END: u64 = 4 << 30;

pub const HUGE_PAGE_SIZE: u64 = 2 << 20;

pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

pub const fn align_up(x: u64, align: u64) -> u64 {
    align_down(x.saturating_add(align - 1), align)
}

/// A half-open range of addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The largest page-aligned range inside this one.
    pub const fn shrink_to_pages(&self) -> Range {
        Range::new(
            align_up(self.start, PAGE_SIZE),
            align_down(self.end, PAGE_SIZE),
        )
    }

    /// The smallest page-aligned range covering this one.
    pub const fn grow_to_pages(&self) -> Range {
        Range::new(
            align_down(self.start, PAGE_SIZE),
            align_up(self.end, PAGE_SIZE),
        )
    }
}

/// Room for the memory maps of real machines after the boot carve-outs split them.
pub const MAX_RANGES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyRanges;

impl fmt::Display for TooManyRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memory map has more than {MAX_RANGES} ranges")
    }
}

/// A set of addresses, kept as sorted, disjoint, non-adjacent ranges.
#[derive(Clone, Copy, Debug)]
pub struct RangeSet {
    ranges: [Range; MAX_RANGES],
    len: usize,
}

impl Default for RangeSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeSet {
    pub const fn new() -> RangeSet {
        RangeSet {
            ranges: [Range::new(0, 0); MAX_RANGES],
            len: 0,
        }
    }

    pub fn as_slice(&self) -> &[Range] {
        &self.ranges[..self.len]
    }

    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(Range::len).sum()
    }

    /// Adds `r`, merging it with the ranges it overlaps or touches.
    pub fn insert(&mut self, r: Range) -> Result<(), TooManyRanges> {
        if r.is_empty() {
            return Ok(());
        }
        let mut merged = r;
        let mut out = RangeSet::new();
        for &cur in self.as_slice() {
            if cur.end < merged.start || cur.start > merged.end {
                out.push_sorted(cur)?;
            } else {
                merged = Range::new(merged.start.min(cur.start), merged.end.max(cur.end));
            }
        }
        out.push_sorted(merged)?;
        *self = out;
        Ok(())
    }

    /// Removes every address of `r`.
    pub fn remove(&mut self, r: Range) -> Result<(), TooManyRanges> {
        if r.is_empty() {
            return Ok(());
        }
        let mut out = RangeSet::new();
        for &cur in self.as_slice() {
            let below = Range::new(cur.start, cur.end.min(r.start));
            let above = Range::new(cur.start.max(r.end), cur.end);
            for piece in [below, above] {
                if !piece.is_empty() {
                    out.push_sorted(piece)?;
                }
            }
        }
        *self = out;
        Ok(())
    }

    /// Keeps only whole pages.
    pub fn shrink_to_pages(&mut self) {
        let mut out = RangeSet::new();
        for &cur in self.as_slice() {
            let p = cur.shrink_to_pages();
            if !p.is_empty() {
                // Shrinking never adds ranges, so there is room.
                let _ = out.push_sorted(p);
            }
        }
        *self = out;
    }

    /// Inserts keeping order; callers guarantee `r` is disjoint from every range.
    fn push_sorted(&mut self, r: Range) -> Result<(), TooManyRanges> {
        if self.len == MAX_RANGES {
            return Err(TooManyRanges);
        }
        let at = self.ranges[..self.len]
            .iter()
            .position(|c| c.start > r.start)
            .unwrap_or(self.len);
        self.ranges.copy_within(at..self.len, at + 1);
        self.ranges[at] = r;
        self.len += 1;
        Ok(())
    }

    /// The first page-aligned run of `len` bytes that ends at or below `limit`.
    pub fn find_below(&self, len: u64, limit: u64) -> Option<Range> {
        self.as_slice().iter().find_map(|r| {
            let start = align_up(r.start, PAGE_SIZE);
            let end = start.checked_add(len)?;
            (end <= r.end && end <= limit).then_some(Range::new(start, end))
        })
    }
}

/// One page of the direct map: 2 MiB where a whole aligned block is RAM, else 4 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectPage {
    Huge(u64),
    Small(u64),
}

/// The pages mapping the page-aligned part of `r`, largest first where alignment allows.
pub fn direct_map_pages(r: Range) -> impl Iterator<Item = DirectPage> {
    let r = r.shrink_to_pages();
    let mut at = r.start;
    core::iter::from_fn(move || {
        if at >= r.end {
            return None;
        }
        let page = if at.is_multiple_of(HUGE_PAGE_SIZE) && r.end - at >= HUGE_PAGE_SIZE {
            DirectPage::Huge(at)
        } else {
            DirectPage::Small(at)
        };
        at += match page {
            DirectPage::Huge(_) => HUGE_PAGE_SIZE,
            DirectPage::Small(_) => PAGE_SIZE,
        };
        Some(page)
    })
}

/// Reservations for linear memories: the first starts at [`UNIKERNEL_MEMORY_BASE`], each next
/// one at the following 4 GiB boundary. Nothing in them is mapped until asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservations {
    next: u64,
}

/// End of the lower canonical half: reservations must stay below it.
pub const LOWER_HALF_END: u64 = 0x0000_8000_0000_0000;

impl Default for Reservations {
    fn default() -> Self {
        Self::new()
    }
}

impl Reservations {
    pub const fn new() -> Reservations {
        Reservations {
            next: UNIKERNEL_MEMORY_BASE,
        }
    }

    /// Start of a fresh reservation of `len` bytes, or `None` when `len` is 0 or the address
    /// space is used up.
    pub fn reserve(&mut self, len: u64) -> Option<u64> {
        if len == 0 {
            return None;
        }
        let start = self.next;
        let end = start.checked_add(len)?;
        if end > LOWER_HALF_END {
            return None;
        }
        self.next = align_up(end, ADDRESSABLE_BYTES);
        Some(start)
    }

    /// Whether `[start, start + len)` lies inside the reserved space.
    pub fn covers(&self, start: u64, len: u64) -> bool {
        start >= UNIKERNEL_MEMORY_BASE && start.checked_add(len).is_some_and(|e| e <= self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mewz_abi::memory::RESERVATION_BYTES;

    fn set(rs: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(a, b) in rs {
            s.insert(Range::new(a, b)).unwrap();
        }
        s
    }

    fn pairs(s: &RangeSet) -> std::vec::Vec<(u64, u64)> {
        s.as_slice().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn insert_sorts_and_merges() {
        let s = set(&[
            (0x5000, 0x6000),
            (0x1000, 0x2000),
            (0x2000, 0x3000),
            (0x5800, 0x9000),
        ]);
        assert_eq!(pairs(&s), [(0x1000, 0x3000), (0x5000, 0x9000)]);
        assert_eq!(s.total(), 0x2000 + 0x4000);
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s = set(&[(0, 0x10_0000), (0x20_0000, 0x40_0000)]);
        s.remove(Range::new(0x8_0000, 0x9_0000)).unwrap();
        s.remove(Range::new(0x30_0000, 0x50_0000)).unwrap();
        s.remove(Range::new(0, 0x1000)).unwrap();
        assert_eq!(
            pairs(&s),
            [
                (0x1000, 0x8_0000),
                (0x9_0000, 0x10_0000),
                (0x20_0000, 0x30_0000)
            ]
        );
    }

    #[test]
    fn too_many_ranges_is_an_error_not_a_panic() {
        let mut s = set(&[(0, 1 << 40)]);
        let mut result = Ok(());
        for i in 0..=MAX_RANGES as u64 {
            result = result.and(s.remove(Range::new(i * 0x2000 + 0x1000, i * 0x2000 + 0x2000)));
        }
        assert_eq!(result, Err(TooManyRanges));
    }

    #[test]
    fn shrink_to_pages_drops_partial_pages() {
        let mut s = set(&[(0x10, 0x1010), (0x2100, 0x5f00)]);
        s.shrink_to_pages();
        assert_eq!(pairs(&s), [(0x3000, 0x5000)]);
    }

    #[test]
    fn find_below_respects_the_limit() {
        let s = set(&[(0x1000, 0x3000), (0x10_0000, 0x20_0000), (1 << 33, 1 << 34)]);
        assert_eq!(
            s.find_below(0x4000, 1 << 32),
            Some(Range::new(0x10_0000, 0x10_4000))
        );
        assert_eq!(
            s.find_below(0x10_0000, 1 << 32),
            Some(Range::new(0x10_0000, 0x20_0000))
        );
        assert_eq!(s.find_below(0x20_0000, 1 << 32), None);
        assert_eq!(
            s.find_below(0x20_0000, u64::MAX),
            Some(Range::new(1 << 33, (1 << 33) + 0x20_0000))
        );
    }

    #[test]
    fn direct_map_uses_huge_pages_where_aligned() {
        let pages: std::vec::Vec<_> = direct_map_pages(Range::new(0x1f_f000, 0x60_1000)).collect();
        assert_eq!(pages.first(), Some(&DirectPage::Small(0x1f_f000)));
        assert_eq!(pages[1], DirectPage::Huge(0x20_0000));
        assert_eq!(pages[2], DirectPage::Huge(0x40_0000));
        assert_eq!(pages[3], DirectPage::Small(0x60_0000));
        assert_eq!(pages.len(), 4);
        // Covers exactly the range.
        let covered: u64 = pages
            .iter()
            .map(|p| match p {
                DirectPage::Huge(_) => HUGE_PAGE_SIZE,
                DirectPage::Small(_) => PAGE_SIZE,
            })
            .sum();
        assert_eq!(covered, 0x60_1000 - 0x1f_f000);
    }

    #[test]
    fn reservations_start_at_the_abi_base_and_stay_4gib_aligned() {
        let mut r = Reservations::new();
        let a = r.reserve(RESERVATION_BYTES).unwrap();
        let b = r.reserve(4096).unwrap();
        let c = r.reserve(1).unwrap();
        assert_eq!(a, UNIKERNEL_MEMORY_BASE);
        assert!(b >= a + RESERVATION_BYTES);
        assert_eq!(b % ADDRESSABLE_BYTES, 0);
        assert_eq!(c, b + ADDRESSABLE_BYTES);
        assert!(r.covers(a, RESERVATION_BYTES));
        assert!(r.covers(c, 1));
        assert!(!r.covers(c, ADDRESSABLE_BYTES + 1));
        assert!(!r.covers(a - 4096, 4096));
        assert_eq!(r.reserve(0), None);
        assert_eq!(r.reserve(LOWER_HALF_END), None);
    }

    #[test]
    fn regions_use_disjoint_top_level_slots() {
        use x86_64::VirtAddr;
        let slot = |a: u64| usize::from(VirtAddr::new(a).p4_index());
        // The kernel image (identity, below 2 GiB) and the loader-time identity map: slot 0.
        assert_eq!(slot(0x10_0000), 0);
        assert_eq!(slot(BOOT_IDENTITY_END - 1), 0);
        // Linear memories: from the ABI base to the end of the lower half.
        let reservations = slot(UNIKERNEL_MEMORY_BASE)..=slot(LOWER_HALF_END - 1);
        assert_eq!(reservations, 128..=255);
        // The direct map of up to 64 TiB of RAM.
        let direct = slot(PHYS_OFFSET)..=slot(PHYS_OFFSET + DIRECT_MAP_SPAN - 1);
        assert_eq!(direct, 256..=383);
        assert!(!reservations.contains(&0) && !reservations.contains(direct.start()));
    }
}
