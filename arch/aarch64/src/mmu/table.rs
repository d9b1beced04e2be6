//! Walking and editing a four-level translation table.
//!
//! Tables are reached through their physical address, so this code assumes every table is
//! accessible at `virtual == physical` (true for the identity-mapped kernel image, the boot
//! table pool and the direct-mapped heap; on the host the "physical" address is the pointer).

use super::descriptor::{self, Access};
use super::{LEVEL_SPAN, PAGE_SIZE, VA_BITS};
use mewz_kernel::MapError;

/// One translation table: 512 descriptors, page aligned.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Table {
    pub const fn empty() -> Table {
        Table([0; 512])
    }
}

/// Where new tables come from.
pub trait FrameSource {
    /// A zeroed table whose physical address equals its address.
    fn zeroed_table(&mut self) -> Option<*mut Table>;
}

/// A table tree rooted at an L0 table.
pub struct PageTable {
    root: *mut Table,
}

// SAFETY: the tree is only edited through `&mut PageTable`; the platform keeps it in a mutex.
unsafe impl Send for PageTable {}

fn index(virt: u64, level: usize) -> usize {
    ((virt / LEVEL_SPAN[level]) % 512) as usize
}

impl PageTable {
    /// # Safety
    /// `root` must point to a valid (e.g. zeroed) table that, like every table linked from it,
    /// stays accessible at its physical address for the life of the `PageTable`.
    pub unsafe fn from_root(root: *mut Table) -> PageTable {
        PageTable { root }
    }

    /// The value for TTBR0_EL1.
    pub fn root_phys(&self) -> u64 {
        self.root as u64
    }

    /// Maps `[virt, virt + len)` to `[phys, phys + len)`. With `blocks`, aligned stretches use
    /// 1 GiB / 2 MiB block descriptors. Fails without side effects on the range check only:
    /// an overlap with an existing mapping is reported after the pages before it were mapped.
    pub fn map(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        access: Access,
        blocks: bool,
        frames: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        let page = PAGE_SIZE as u64;
        if !virt.is_multiple_of(page) || !phys.is_multiple_of(page) || !len.is_multiple_of(page) {
            return Err(MapError::InvalidRange);
        }
        match virt.checked_add(len) {
            Some(end) if end <= 1 << VA_BITS => {}
            _ => return Err(MapError::InvalidRange),
        }
        let (mut va, mut pa, mut left) = (virt, phys, len);
        while left > 0 {
            let step = self.map_one(va, pa, left, access, blocks, frames)?;
            va += step;
            pa += step;
            left -= step;
        }
        Ok(())
    }

    /// Maps the largest block or page that fits at `va`; returns the bytes it covers.
    fn map_one(
        &mut self,
        va: u64,
        pa: u64,
        left: u64,
        access: Access,
        blocks: bool,
        frames: &mut dyn FrameSource,
    ) -> Result<u64, MapError> {
        let mut table = self.root;
        for (level, &span) in LEVEL_SPAN.iter().enumerate() {
            // SAFETY: `table` is a live table of this tree (see `from_root`), index < 512.
            let entry = unsafe { &mut (*table).0[index(va, level)] };
            let leaf_here = level == 3
                || (blocks
                    && level >= 1
                    && va.is_multiple_of(span)
                    && pa.is_multiple_of(span)
                    && left >= span);
            if leaf_here {
                if descriptor::is_valid(*entry) {
                    return Err(MapError::InvalidRange);
                }
                *entry = if level == 3 {
                    descriptor::page(pa, access)
                } else {
                    descriptor::block(pa, access)
                };
                return Ok(span);
            }
            if !descriptor::is_valid(*entry) {
                let next = frames.zeroed_table().ok_or(MapError::OutOfMemory)?;
                *entry = descriptor::table(next as u64);
            } else if !descriptor::is_table(*entry) {
                // A block already covers this address.
                return Err(MapError::InvalidRange);
            }
            table = descriptor::output_address(*entry) as *mut Table;
        }
        unreachable!("level 3 always maps a page")
    }

    /// The leaf descriptor slot for `virt`, if the walk reaches a level-3 entry.
    fn leaf_slot(&self, virt: u64) -> Option<*mut u64> {
        let mut table = self.root;
        for level in 0..4 {
            // SAFETY: `table` is a live table of this tree, index < 512.
            let slot = unsafe { &raw mut (*table).0[index(virt, level)] };
            if level == 3 {
                return Some(slot);
            }
            // SAFETY: `slot` points into a live table.
            let desc = unsafe { *slot };
            if !descriptor::is_table(desc) {
                return None;
            }
            table = descriptor::output_address(desc) as *mut Table;
        }
        None
    }

    /// Physical address and leaf descriptor `virt` translates through, if mapped.
    pub fn translate(&self, virt: u64) -> Option<(u64, u64)> {
        let mut table = self.root;
        for (level, &span) in LEVEL_SPAN.iter().enumerate() {
            // SAFETY: `table` is a live table of this tree, index < 512.
            let desc = unsafe { (*table).0[index(virt, level)] };
            if !descriptor::is_valid(desc) {
                return None;
            }
            if level == 3 || !descriptor::is_table(desc) {
                return Some((descriptor::output_address(desc) + virt % span, desc));
            }
            table = descriptor::output_address(desc) as *mut Table;
        }
        None
    }

    /// Clears the page mapping at `virt` and returns the physical page it mapped. The caller
    /// invalidates the TLB before reusing the page. Blocks are never unmapped this way.
    pub fn unmap_page(&mut self, virt: u64) -> Option<u64> {
        let slot = self.leaf_slot(virt)?;
        // SAFETY: `slot` points into a live level-3 table of this tree.
        let desc = unsafe { *slot };
        if !descriptor::is_valid(desc) {
            return None;
        }
        // SAFETY: as above; the entry becomes invalid.
        unsafe { *slot = 0 };
        Some(descriptor::output_address(desc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    /// Tables from the host heap; their pointers are their "physical" addresses.
    struct HostFrames {
        tables: Vec<Box<Table>>,
        limit: usize,
    }

    impl FrameSource for HostFrames {
        fn zeroed_table(&mut self) -> Option<*mut Table> {
            if self.tables.len() >= self.limit {
                return None;
            }
            self.tables.push(Box::new(Table::empty()));
            Some(&mut **self.tables.last_mut().unwrap() as *mut Table)
        }
    }

    fn new_tree(limit: usize) -> (PageTable, HostFrames) {
        let mut frames = HostFrames {
            tables: Vec::new(),
            limit,
        };
        let root = frames.zeroed_table().unwrap();
        // SAFETY: `root` is a zeroed table kept alive by `frames`.
        (unsafe { PageTable::from_root(root) }, frames)
    }

    #[test]
    fn maps_pages_and_translates() {
        let (mut pt, mut frames) = new_tree(16);
        pt.map(
            0x4000_0000_0000,
            0x4100_0000,
            0x3000,
            Access::ReadWrite,
            false,
            &mut frames,
        )
        .unwrap();
        let (pa, desc) = pt.translate(0x4000_0000_2123).unwrap();
        assert_eq!(pa, 0x4100_2123);
        assert_eq!(descriptor::access_of(desc), Some(Access::ReadWrite));
        assert_eq!(pt.translate(0x4000_0000_3000), None);
        assert_eq!(frames.tables.len(), 4, "root + L1 + L2 + L3");
    }

    #[test]
    fn uses_blocks_when_aligned_and_pages_at_the_edges() {
        let (mut pt, mut frames) = new_tree(16);
        // 4 KiB below a 2 MiB boundary up to 2 MiB + 4 KiB past it.
        let start = 0x4020_0000 - 0x1000;
        pt.map(
            start,
            start,
            0x20_2000,
            Access::ReadWrite,
            true,
            &mut frames,
        )
        .unwrap();
        let (_, edge) = pt.translate(start).unwrap();
        assert!(descriptor::is_table(edge), "page at the unaligned start");
        let (pa, middle) = pt.translate(0x4030_0000).unwrap();
        assert_eq!(pa, 0x4030_0000);
        assert_eq!(
            middle & descriptor::TABLE_OR_PAGE,
            0,
            "2 MiB block in the middle"
        );
        assert!(pt.translate(0x4040_1000).is_none());
        assert!(pt.translate(0x4040_0000).is_some());
        let (mut pt1, mut frames1) = new_tree(4);
        pt1.map(
            1 << 30,
            1 << 30,
            1 << 30,
            Access::Device,
            true,
            &mut frames1,
        )
        .unwrap();
        assert_eq!(frames1.tables.len(), 2, "a 1 GiB block needs only L0 + L1");
    }

    #[test]
    fn rejects_overlaps_misalignment_and_out_of_range() {
        let (mut pt, mut frames) = new_tree(16);
        pt.map(0x1000, 0x1000, 0x1000, Access::ReadOnly, false, &mut frames)
            .unwrap();
        let again = pt.map(0x1000, 0x5000, 0x1000, Access::ReadOnly, false, &mut frames);
        assert_eq!(again, Err(MapError::InvalidRange));
        assert_eq!(
            pt.map(0x1800, 0x1000, 0x1000, Access::ReadOnly, false, &mut frames),
            Err(MapError::InvalidRange)
        );
        assert_eq!(
            pt.map(1 << 48, 0, 0x1000, Access::ReadOnly, false, &mut frames),
            Err(MapError::InvalidRange)
        );
    }

    #[test]
    fn reports_table_exhaustion_and_unmaps_pages() {
        let (mut pt, mut frames) = new_tree(2);
        assert_eq!(
            pt.map(
                0x2000,
                0x2000,
                0x1000,
                Access::ReadWrite,
                false,
                &mut frames
            ),
            Err(MapError::OutOfMemory)
        );
        let (mut pt, mut frames) = new_tree(8);
        pt.map(
            0x7000_0000,
            0x9000,
            0x2000,
            Access::ReadWrite,
            false,
            &mut frames,
        )
        .unwrap();
        assert_eq!(pt.unmap_page(0x7000_1000), Some(0xa000));
        assert_eq!(pt.unmap_page(0x7000_1000), None);
        assert!(pt.translate(0x7000_0000).is_some());
        assert!(pt.translate(0x7000_1000).is_none());
        assert_eq!(pt.unmap_page(0x1234_5000_0000), None, "never mapped");
    }
}
