//! The kernel's own 4-level page tables, built once at boot (replacing the loader-time
//! identity map), and the mapping services the kernel asks for.
//!
//! Layout: the kernel image stays identity mapped where it was loaded (1 MiB up) with
//! per-section rights — text RX, rodata R+NX, data/bss RW+NX — and unmapped guard pages below
//! the boot stack and below each interrupt stack. All RAM is also mapped RW+NX at
//! [`PHYS_OFFSET`] (the direct map, where the heap lives, so heap virt→phys is a subtraction).
//! Linear memories get reservations from `mewz_abi::memory::UNIKERNEL_MEMORY_BASE` up, backed
//! page by page from the kernel's frame supply on request.

use super::boot::BootInfo;
use super::{cpu, gdt};
use crate::memory_layout::{
    DirectPage, HUGE_PAGE_SIZE, PAGE_SIZE, Range, RangeSet, Reservations, align_down, align_up,
    direct_map_pages,
};
use mewz_kernel::MapError;
use spin::Mutex;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{MapToError, UnmapError};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame,
    Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

pub use crate::memory_layout::{BOOT_IDENTITY_END, DIRECT_MAP_SPAN, PHYS_OFFSET};

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
    static __boot_stack_guard: u8;
    static __start_mewz_files: u8;
    static __stop_mewz_files: u8;
}

/// Address of a linker-defined symbol (taking it reads nothing).
macro_rules! symbol_address {
    ($s:ident) => {
        (&raw const $s) as u64
    };
}

/// Physical (= virtual) range of the loaded kernel image, page aligned.
pub fn kernel_image() -> Range {
    Range::new(
        symbol_address!(__kernel_start),
        align_up(symbol_address!(__kernel_end), PAGE_SIZE),
    )
}

pub fn phys_to_virt(phys: u64) -> u64 {
    phys + PHYS_OFFSET
}

fn nx() -> Flags {
    if cpu::features().nx {
        Flags::NO_EXECUTE
    } else {
        Flags::empty()
    }
}

/// Flags of intermediate tables: every restriction is expressed in the leaves.
const TABLE_FLAGS: Flags = Flags::PRESENT.union(Flags::WRITABLE);

/// Page-table frames for the boot-time build, taken from a run of RAM the heap never gets.
struct EarlyFrames {
    next: u64,
    end: u64,
}

// SAFETY: hands out each frame of the run once; the run is RAM reserved from the heap.
unsafe impl FrameAllocator<Size4KiB> for EarlyFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        if self.next + PAGE_SIZE > self.end {
            return None;
        }
        let frame = PhysFrame::containing_address(PhysAddr::new(self.next));
        self.next += PAGE_SIZE;
        Some(frame)
    }
}

/// Frames from the kernel's frame supply (`mewz_kernel::frames`): zeroed 4 KiB blocks of the
/// heap, in the direct map; never the heap's reserve.
struct HeapFrames;

// SAFETY: each frame is a distinct frame of the supply, owned by the page tables from now on.
unsafe impl FrameAllocator<Size4KiB> for HeapFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let block = mewz_kernel::frames::take()?;
        Some(PhysFrame::containing_address(PhysAddr::new(
            block as u64 - PHYS_OFFSET,
        )))
    }
}

fn free_heap_frame(frame: PhysFrame) {
    // SAFETY: the frame came from `HeapFrames` and is no longer mapped (callers flushed it).
    unsafe { mewz_kernel::frames::give(phys_to_virt(frame.start_address().as_u64()) as *mut u8) }
}

static KERNEL_PAGES: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);
static RESERVATIONS: Mutex<Reservations> = Mutex::new(Reservations::new());

fn early_frames_needed(ram: &RangeSet, kernel: Range, mmio_pages: usize) -> u64 {
    let tables_per_range: u64 = ram
        .as_slice()
        .iter()
        .map(
            |r| (r.len() >> 30) + 2 /* PDs */ + 2 /* edge PTs */ + (r.len() >> 39) + 1, /* PDPTs */
        )
        .sum();
    1 + 3 + (kernel.len() >> 21) + 2 + tables_per_range + 3 * mmio_pages as u64 + 8
}

/// Builds the kernel's page tables, switches to them and takes the frames they use out of
/// `boot.free`. `mmio` lists device pages (physical) to map uncached in the direct map.
pub fn init(boot: &mut BootInfo, mmio: &[u64]) {
    let kernel = kernel_image();
    let needed = early_frames_needed(&boot.ram, kernel, mmio.len());
    let chunk = boot
        .free
        .find_below(needed * PAGE_SIZE, BOOT_IDENTITY_END)
        .expect("no RAM below 4 GiB for the page tables");
    let mut early = EarlyFrames {
        next: chunk.start,
        end: chunk.end,
    };
    let pml4_frame = early.allocate_frame().expect("page-table run is empty");
    let pml4_phys = pml4_frame.start_address().as_u64();
    // SAFETY: the frame is ours and identity mapped by the loader-time tables.
    let pml4 = unsafe { &mut *(pml4_phys as *mut PageTable) };
    pml4.zero();
    // SAFETY: all page-table frames are below BOOT_IDENTITY_END, reachable at offset 0 now.
    let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(0)) };

    map_kernel_image(&mut mapper, &mut early, kernel);

    let mut direct = boot.ram;
    direct.shrink_to_pages();
    direct.remove(kernel).expect("memory map too fragmented");
    for range in direct.as_slice() {
        for page in direct_map_pages(*range) {
            map_direct(&mut mapper, &mut early, page);
        }
    }
    for &phys in mmio {
        map_page(
            &mut mapper,
            &mut early,
            phys_to_virt(phys),
            phys,
            Flags::PRESENT | Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH | nx(),
        )
        .expect("mapping device memory");
    }

    // SAFETY: the new tables map the running code, its stack and every structure in use
    // (kernel image identity-mapped as before; everything else reached via the direct map).
    unsafe { Cr3::write(pml4_frame, Cr3Flags::empty()) };
    boot.free
        .remove(Range::new(chunk.start, early.next))
        .expect("memory map too fragmented");

    // SAFETY: the PML4 is now reached through the direct map, which maps all page tables.
    let pml4 = unsafe { &mut *(phys_to_virt(pml4_phys) as *mut PageTable) };
    // SAFETY: every page-table frame is RAM, so it is in the direct map at PHYS_OFFSET.
    let mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(PHYS_OFFSET)) };
    *KERNEL_PAGES.lock() = Some(mapper);
}

/// The whole pages of the packed directories baked into the image (`mewz_files`, which the CLI
/// aligns and pads to pages); empty without.
fn baked_files() -> Range {
    Range::new(
        symbol_address!(__start_mewz_files),
        symbol_address!(__stop_mewz_files),
    )
    .shrink_to_pages()
}

fn map_kernel_image(mapper: &mut OffsetPageTable<'_>, early: &mut EarlyFrames, kernel: Range) {
    let text = Range::new(symbol_address!(__text_start), symbol_address!(__text_end));
    let files = baked_files();
    let rodata = Range::new(
        symbol_address!(__rodata_start),
        symbol_address!(__rodata_end),
    );
    let boot_stack_guard = symbol_address!(__boot_stack_guard);
    let is_guard = |page: u64| page == boot_stack_guard || gdt::guard_pages().any(|g| g == page);
    let mut at = kernel.start;
    while at < kernel.end {
        if (files.start..files.end).contains(&at) {
            // Read-only, and in 2 MiB pages where they fit: a 200 MiB archive is 100 entries.
            let huge = at.is_multiple_of(HUGE_PAGE_SIZE) && files.end - at >= HUGE_PAGE_SIZE;
            if huge {
                map_huge_identity(mapper, early, at, Flags::PRESENT | nx());
                at += HUGE_PAGE_SIZE;
            } else {
                map_page(mapper, early, at, at, Flags::PRESENT | nx()).expect("mapping files");
                at += PAGE_SIZE;
            }
            continue;
        }
        let flags = if (text.start..text.end).contains(&at) {
            Flags::PRESENT
        } else if (rodata.start..rodata.end).contains(&at) {
            Flags::PRESENT | nx()
        } else {
            Flags::PRESENT | Flags::WRITABLE | nx()
        };
        if !is_guard(at) {
            map_page(mapper, early, at, at, flags).expect("mapping the kernel image");
        }
        at += PAGE_SIZE;
    }
}

fn map_huge_identity(
    mapper: &mut OffsetPageTable<'_>,
    early: &mut EarlyFrames,
    at: u64,
    flags: Flags,
) {
    let page = Page::<Size2MiB>::containing_address(VirtAddr::new(at));
    let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(at));
    // SAFETY: maps part of the loaded kernel image at its own address, read-only.
    unsafe {
        mapper
            .map_to_with_table_flags(page, frame, flags, TABLE_FLAGS, early)
            .expect("mapping files")
            .ignore()
    };
}

fn map_direct(mapper: &mut OffsetPageTable<'_>, early: &mut EarlyFrames, page: DirectPage) {
    let flags = Flags::PRESENT | Flags::WRITABLE | nx();
    match page {
        DirectPage::Small(phys) => {
            map_page(mapper, early, phys_to_virt(phys), phys, flags).expect("mapping RAM");
        }
        DirectPage::Huge(phys) => {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(phys_to_virt(phys)));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys));
            // SAFETY: maps RAM at its direct-map address, which nothing else uses.
            unsafe {
                mapper
                    .map_to_with_table_flags(page, frame, flags, TABLE_FLAGS, early)
                    .expect("mapping RAM")
                    .ignore()
            };
        }
    }
}

fn map_page(
    mapper: &mut OffsetPageTable<'_>,
    frames: &mut impl FrameAllocator<Size4KiB>,
    virt: u64,
    phys: u64,
    flags: Flags,
) -> Result<(), MapToError<Size4KiB>> {
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
    let frame = PhysFrame::containing_address(PhysAddr::new(phys));
    // SAFETY: callers map either fresh frames or the frame's own direct-map/identity address;
    // no live reference aliases it with different rights.
    unsafe { mapper.map_to_with_table_flags(page, frame, flags, TABLE_FLAGS, frames) }
        // The page was not present, and x86 never caches not-present translations: nothing
        // to invalidate.
        .map(|flush| flush.ignore())
}

fn with_kernel_pages<R>(f: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> R {
    let mut guard = KERNEL_PAGES.lock();
    f(guard.as_mut().expect("kernel page tables not built"))
}

pub fn reserve(len: usize) -> Result<usize, MapError> {
    RESERVATIONS
        .lock()
        .reserve(len as u64)
        .map(|a| a as usize)
        .ok_or(MapError::InvalidRange)
}

fn check_range(virt: usize, len: usize) -> Result<(), MapError> {
    let aligned = (virt as u64).is_multiple_of(PAGE_SIZE) && (len as u64).is_multiple_of(PAGE_SIZE);
    if aligned && RESERVATIONS.lock().covers(virt as u64, len as u64) {
        Ok(())
    } else {
        Err(MapError::InvalidRange)
    }
}

pub fn map_zeroed(virt: usize, len: usize) -> Result<(), MapError> {
    check_range(virt, len)?;
    let flags = Flags::PRESENT | Flags::WRITABLE | nx();
    with_kernel_pages(|mapper| {
        for offset in (0..len).step_by(PAGE_SIZE as usize) {
            let at = (virt + offset) as u64;
            let result = match HeapFrames.allocate_frame() {
                None => Err(MapError::OutOfMemory),
                Some(frame) => map_page(
                    mapper,
                    &mut HeapFrames,
                    at,
                    frame.start_address().as_u64(),
                    flags,
                )
                .map_err(|e| {
                    free_heap_frame(frame);
                    match e {
                        MapToError::FrameAllocationFailed => MapError::OutOfMemory,
                        _ => MapError::InvalidRange,
                    }
                }),
            };
            if let Err(e) = result {
                unmap_pages(mapper, virt, offset);
                return Err(e);
            }
        }
        Ok(())
    })
}

pub fn unmap(virt: usize, len: usize) {
    if check_range(virt, len).is_err() {
        return;
    }
    with_kernel_pages(|mapper| unmap_pages(mapper, virt, len));
}

fn unmap_pages(mapper: &mut OffsetPageTable<'static>, virt: usize, len: usize) {
    for offset in (0..len).step_by(PAGE_SIZE as usize) {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new((virt + offset) as u64));
        match mapper.unmap(page) {
            Ok((frame, flush)) => {
                flush.flush();
                free_heap_frame(frame);
            }
            Err(UnmapError::PageNotMapped) => {}
            Err(e) => panic!("unmapping {:#x}: {e:?}", virt + offset),
        }
    }
}

/// Maps device registers at `[phys, phys + len)` uncached into the direct map and returns
/// their virtual address (for drivers found on the PCI bus).
pub fn map_mmio(phys: u64, len: u64) -> Result<u64, MapError> {
    let start = align_down(phys, PAGE_SIZE);
    let end = align_up(
        phys.checked_add(len).ok_or(MapError::InvalidRange)?,
        PAGE_SIZE,
    );
    let flags = Flags::PRESENT | Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH | nx();
    with_kernel_pages(|mapper| {
        for at in (start..end).step_by(PAGE_SIZE as usize) {
            match map_page(mapper, &mut HeapFrames, phys_to_virt(at), at, flags) {
                Ok(()) => {}
                Err(MapToError::PageAlreadyMapped(f)) if f.start_address().as_u64() == at => {}
                Err(MapToError::FrameAllocationFailed) => return Err(MapError::OutOfMemory),
                Err(_) => return Err(MapError::InvalidRange),
            }
        }
        Ok(phys_to_virt(phys))
    })
}

/// The bus address of `[virt, virt + len)` if it is physically contiguous kernel memory: the
/// direct map (where the heap lives) or the identity-mapped kernel image.
pub fn dma_address(virt: usize, len: usize) -> Option<u64> {
    let start = virt as u64;
    let end = start.checked_add(len as u64)?;
    let image = kernel_image();
    if start >= PHYS_OFFSET && end <= PHYS_OFFSET + DIRECT_MAP_SPAN {
        Some(start - PHYS_OFFSET)
    } else if start >= image.start && end <= image.end {
        Some(start)
    } else {
        None
    }
}
