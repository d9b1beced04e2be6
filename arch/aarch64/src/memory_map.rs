//! Arithmetic on physical address ranges: what RAM is left for the heap once the kernel image,
//! the device tree and reserved regions are taken out. No allocation (it runs before the heap).

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, len: u64) -> Range {
        Range {
            start,
            end: start.saturating_add(len),
        }
    }

    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub const fn contains(&self, other: &Range) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The smallest page-aligned range covering `self`.
    pub const fn page_outer(&self, page: u64) -> Range {
        Range {
            start: self.start / page * page,
            end: self.end.div_ceil(page) * page,
        }
    }

    /// The largest page-aligned range inside `self` (possibly empty).
    pub const fn page_inner(&self, page: u64) -> Range {
        Range {
            start: self.start.div_ceil(page) * page,
            end: self.end / page * page,
        }
    }
}

/// A fixed-capacity list of ranges.
#[derive(Clone, Copy, Debug)]
pub struct RangeList<const N: usize> {
    items: [Range; N],
    len: usize,
    /// Ranges dropped because the list was full.
    pub overflowed: usize,
}

impl<const N: usize> Default for RangeList<N> {
    fn default() -> Self {
        RangeList {
            items: [Range::default(); N],
            len: 0,
            overflowed: 0,
        }
    }
}

impl<const N: usize> RangeList<N> {
    pub fn push(&mut self, r: Range) {
        if r.is_empty() {
            return;
        }
        if self.len == N {
            self.overflowed += 1;
            return;
        }
        self.items[self.len] = r;
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[Range] {
        &self.items[..self.len]
    }
}

/// `ram` minus every range in `holes`, each result page-aligned inwards and in address order.
pub fn subtract<const N: usize>(ram: &[Range], holes: &[Range], page: u64) -> RangeList<N> {
    let mut out = RangeList::<N>::default();
    for r in ram {
        let mut cursor = r.start;
        // Visit the holes in address order without sorting (no allocation, few holes).
        loop {
            let next_hole = holes
                .iter()
                .filter(|h| !h.is_empty() && h.end > cursor && h.start < r.end)
                .min_by_key(|h| h.start);
            match next_hole {
                Some(h) => {
                    if h.start > cursor {
                        out.push(
                            Range {
                                start: cursor,
                                end: h.start,
                            }
                            .page_inner(page),
                        );
                    }
                    cursor = cursor.max(h.end);
                }
                None => {
                    out.push(
                        Range {
                            start: cursor,
                            end: r.end,
                        }
                        .page_inner(page),
                    );
                    break;
                }
            }
            if cursor >= r.end {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;

    #[test]
    fn carves_kernel_and_dtb_out_of_qemu_ram() {
        // QEMU virt, 512 MiB: kernel at +2 MiB, DTB at +128 MiB.
        let ram = [Range::new(0x4000_0000, 512 << 20)];
        let kernel = Range {
            start: 0x4020_0000,
            end: 0x4035_1000,
        };
        let dtb = Range::new(0x4800_0000, 0x10_0000);
        let free = subtract::<8>(&ram, &[dtb, kernel], PAGE);
        assert_eq!(
            free.as_slice(),
            &[
                Range {
                    start: 0x4000_0000,
                    end: 0x4020_0000
                },
                Range {
                    start: 0x4035_1000,
                    end: 0x4800_0000
                },
                Range {
                    start: 0x4810_0000,
                    end: 0x6000_0000
                },
            ]
        );
    }

    #[test]
    fn rounds_inwards_and_handles_overlapping_and_outside_holes() {
        let ram = [Range::new(0x1000, 0x9000), Range::new(0x10_0000, 0x1000)];
        let holes = [
            Range {
                start: 0x2800,
                end: 0x3100,
            },
            Range {
                start: 0x3000,
                end: 0x4000,
            },
            Range::new(0x50_0000, 0x1000),
            Range::new(0x10_0000, 0x1000),
        ];
        let free = subtract::<8>(&ram, &holes, PAGE);
        assert_eq!(
            free.as_slice(),
            &[
                Range {
                    start: 0x1000,
                    end: 0x2000
                },
                Range {
                    start: 0x4000,
                    end: 0xa000
                },
            ]
        );
    }

    #[test]
    fn counts_what_does_not_fit() {
        let ram = [Range::new(0, 0x10_0000)];
        let holes = [Range::new(0x1000, 0x1000), Range::new(0x3000, 0x1000)];
        let free = subtract::<2>(&ram, &holes, PAGE);
        assert_eq!(free.as_slice().len(), 2);
        assert_eq!(free.overflowed, 1);
    }

    #[test]
    fn page_rounding() {
        let r = Range {
            start: 0x1001,
            end: 0x2fff,
        };
        assert_eq!(
            r.page_outer(PAGE),
            Range {
                start: 0x1000,
                end: 0x3000
            }
        );
        assert!(r.page_inner(PAGE).is_empty());
        assert_eq!(Range::new(5, 10).len(), 10);
    }
}
