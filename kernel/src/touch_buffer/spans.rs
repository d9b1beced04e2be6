//! The address space of the touch-backed buffers: spans handed out first fit by address, given
//! back and coalesced, so that a server opening and closing connections forever reuses the
//! same addresses (and the page tables that map them) instead of walking through the region.

use alloc::collections::BTreeMap;

/// Spans of `[base, limit)`: everything at or above `top` is free, and below it the free
/// spans are kept by start address, coalesced (no two touch, none ends at `top`).
pub struct Spans {
    limit: usize,
    top: usize,
    free: BTreeMap<usize, usize>,
}

impl Spans {
    pub const fn new(base: usize, len: usize) -> Spans {
        Spans {
            limit: base.saturating_add(len),
            top: base,
            free: BTreeMap::new(),
        }
    }

    /// The start of a free span of `len` bytes (`len` > 0): the lowest that fits, or fresh
    /// address space at the top; `None` when the region has no such span.
    pub fn take(&mut self, len: usize) -> Option<usize> {
        debug_assert!(len > 0);
        let fit = self
            .free
            .iter()
            .find(|&(_, &free)| free >= len)
            .map(|(&start, &free)| (start, free));
        if let Some((start, free)) = fit {
            self.free.remove(&start);
            if free > len {
                self.free.insert(start + len, free - len);
            }
            return Some(start);
        }
        let start = self.top;
        self.top = start.checked_add(len).filter(|&end| end <= self.limit)?;
        Some(start)
    }

    /// Gives back `[start, start + len)`, a span [`Spans::take`] handed out.
    pub fn give(&mut self, start: usize, len: usize) {
        debug_assert!(start + len <= self.top, "a span beyond the top");
        let (mut start, mut len) = (start, len);
        if let Some(next) = self.free.remove(&(start + len)) {
            len += next;
        }
        if let Some((&before, &before_len)) = self.free.range(..start).next_back() {
            debug_assert!(before + before_len <= start, "a span given back twice");
            if before + before_len == start {
                self.free.remove(&before);
                start = before;
                len += before_len;
            }
        }
        if start + len == self.top {
            self.top = start;
        } else {
            self.free.insert(start, len);
        }
    }

    /// The first address never handed out, or free from there on.
    #[cfg(test)]
    pub fn top(&self) -> usize {
        self.top
    }

    /// Free spans below the top.
    #[cfg(test)]
    pub fn free_spans(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 4096;

    #[test]
    fn hands_out_in_order_and_refuses_past_the_limit() {
        let mut s = Spans::new(0x1000_0000, 10 * K);
        assert_eq!(s.take(4 * K), Some(0x1000_0000));
        assert_eq!(s.take(4 * K), Some(0x1000_0000 + 4 * K));
        assert_eq!(s.take(3 * K), None, "only 2 pages left");
        assert_eq!(s.take(2 * K), Some(0x1000_0000 + 8 * K));
        assert_eq!(s.top(), 0x1000_0000 + 10 * K);
        assert_eq!(Spans::new(usize::MAX - K, 4 * K).take(2 * K), None);
    }

    #[test]
    fn reuses_the_lowest_free_span_that_fits_and_splits_it() {
        let mut s = Spans::new(0, 1 << 30);
        let a = s.take(16 * K).unwrap();
        let b = s.take(16 * K).unwrap();
        let c = s.take(16 * K).unwrap();
        s.give(a, 16 * K);
        s.give(c, 16 * K);
        assert_eq!(s.top(), b + 16 * K, "the top span went back to the top");
        assert_eq!(s.free_spans(), 1);
        assert_eq!(s.take(4 * K), Some(a), "first fit, split");
        assert_eq!(s.take(12 * K), Some(a + 4 * K), "the rest of it");
        assert_eq!(s.free_spans(), 0);
        assert_eq!(
            s.take(32 * K),
            Some(b + 16 * K),
            "nothing below fits: the top"
        );
    }

    #[test]
    fn coalesces_neighbours_in_any_order() {
        let mut s = Spans::new(0, 1 << 30);
        let spans: Vec<usize> = (0..5).map(|_| s.take(K).unwrap()).collect();
        let guard = s.take(K).unwrap();
        for i in [1, 3, 0, 2, 4] {
            s.give(spans[i], K);
        }
        assert_eq!(s.free_spans(), 1, "five neighbours make one span");
        assert_eq!(s.take(5 * K), Some(0));
        s.give(0, 5 * K);
        s.give(guard, K);
        assert_eq!(
            (s.top(), s.free_spans()),
            (0, 0),
            "all free: back to the start"
        );
    }

    #[test]
    fn a_million_connections_reuse_the_same_addresses() {
        // More buffers over time than the region could hold side by side.
        let mut s = Spans::new(0, 64 * 64 * K);
        let mut live = std::collections::VecDeque::new();
        for i in 0..1_000_000usize {
            let len = if i % 7 == 0 { 32 * K } else { 16 * K };
            let start = s.take(len).expect("the region is reused");
            live.push_back((start, len));
            if live.len() > 100 {
                let (start, len) = live.pop_front().unwrap();
                s.give(start, len);
            }
        }
        assert!(s.top() <= 64 * 64 * K);
        while let Some((start, len)) = live.pop_front() {
            s.give(start, len);
        }
        assert_eq!((s.top(), s.free_spans()), (0, 0));
    }
}
