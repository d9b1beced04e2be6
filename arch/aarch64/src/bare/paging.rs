//! The kernel's translation tables: the early identity map, the real kernel map built from
//! the device tree, and the app's reservations (`reserve` / `map_zeroed` / `unmap`).

use crate::machine::{self, Machine};
use crate::memory_map::Range;
use crate::mmu::descriptor::{self, Access};
use crate::mmu::table::{FrameSource, PageTable, Table};
use crate::mmu::{LEVEL_SPAN, MAIR_VALUE, PAGE_SIZE, VA_BITS};
use aarch64_cpu::registers::*;
use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mewz_abi::memory::{ADDRESSABLE_BYTES, UNIKERNEL_MEMORY_BASE};
use mewz_kernel::MapError;
use spin::Mutex;

const PAGE: u64 = PAGE_SIZE as u64;

/// Addresses the linker script defines around the kernel image.
pub mod layout {
    unsafe extern "C" {
        static __kernel_start: u8;
        static __text_end: u8;
        static __rodata_end: u8;
        static __boot_stack_guard: u8;
        static __boot_stack_bottom: u8;
        static __exception_stack_guard: u8;
        static __exception_stack_bottom: u8;
        static __kernel_end: u8;
        static __start_mewz_files: u8;
        static __stop_mewz_files: u8;
    }

    macro_rules! addr {
        ($name:ident, $sym:ident) => {
            pub fn $name() -> u64 {
                // Only the address of the linker-defined symbol is taken.
                &raw const $sym as u64
            }
        };
    }
    addr!(kernel_start, __kernel_start);
    addr!(text_end, __text_end);
    addr!(rodata_end, __rodata_end);
    addr!(boot_stack_guard, __boot_stack_guard);
    addr!(boot_stack_bottom, __boot_stack_bottom);
    addr!(exception_stack_guard, __exception_stack_guard);
    addr!(exception_stack_bottom, __exception_stack_bottom);
    addr!(kernel_end, __kernel_end);
    addr!(files_start, __start_mewz_files);
    addr!(files_end, __stop_mewz_files);
}

/// Page-aligned static memory for tables, written before any other code can see it.
struct TableArea<const N: usize>(UnsafeCell<[Table; N]>);
// SAFETY: handed out once each (boot map: single-threaded early boot; pool: under a bump index).
unsafe impl<const N: usize> Sync for TableArea<N> {}

static BOOT_TABLES: TableArea<2> = TableArea(UnsafeCell::new([Table::empty(), Table::empty()]));

/// Tables for the kernel map. Enough for the image, the devices and 64 GiB of RAM in 2 MiB
/// blocks; a machine that needs more reports it clearly (see `init_kernel_map`). What the map
/// leaves unused goes to the heap ([`unused_boot_tables`]): a small machine needs a few.
const POOL_TABLES: usize = 96;
static POOL: TableArea<POOL_TABLES> =
    TableArea(UnsafeCell::new([const { Table::empty() }; POOL_TABLES]));
static POOL_USED: AtomicU64 = AtomicU64::new(0);
/// Set once the kernel map is built: the pool's rest then belongs to the heap.
static POOL_CLOSED: AtomicBool = AtomicBool::new(false);

struct BootPool;
impl FrameSource for BootPool {
    fn zeroed_table(&mut self) -> Option<*mut Table> {
        if POOL_CLOSED.load(Ordering::Relaxed) {
            return None;
        }
        let i = POOL_USED.fetch_add(1, Ordering::Relaxed) as usize;
        // SAFETY: index `i` is handed out once; the pool is in .bss (zeroed) and identity mapped.
        (i < POOL_TABLES).then(|| unsafe { (POOL.0.get() as *mut Table).add(i) })
    }
}

/// The boot table pool's tables the kernel map did not use (RAM for the heap; the kernel map
/// maps it read-write like the rest of the image's data).
pub fn unused_boot_tables() -> Range {
    let start = POOL.0.get() as u64;
    Range {
        start: start + pool_tables_used() * PAGE,
        end: start + (POOL_TABLES * PAGE_SIZE) as u64,
    }
}

/// Tables and pages mapped after boot come from the kernel's frame supply
/// (`mewz_kernel::frames`: the heap, never its reserve). Frames are accessible at their
/// physical address (the heap is in the identity-mapped RAM).
struct KernelFrames;

impl FrameSource for KernelFrames {
    fn zeroed_table(&mut self) -> Option<*mut Table> {
        mewz_kernel::frames::take().map(|f| f as *mut Table)
    }
}

/// The kernel's translation tables.
struct Mappings {
    tables: PageTable,
}

static MAPPINGS: Mutex<Option<Mappings>> = Mutex::new(None);
/// End of the highest physical address the direct map covers; reservations must lie above.
static DIRECT_MAP_END: AtomicU64 = AtomicU64::new(0);
static NEXT_RESERVATION: AtomicU64 = AtomicU64::new(UNIKERNEL_MEMORY_BASE);

/// Writes MAIR/TCR/TTBR0 and turns the MMU and caches on.
fn enable_mmu(root: u64) {
    MAIR_EL1.set(MAIR_VALUE);
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(64 - VA_BITS as u64)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS.val(pa_range),
    );
    TTBR0_EL1.set(root);
    // SAFETY: barriers and a local TLB flush; the new tables map the running code identically.
    unsafe {
        asm!(
            "dsb ish",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            options(nostack)
        )
    };
    // Unaligned accesses are allowed (compiled wasm makes them); W^X comes from the tables.
    SCTLR_EL1.modify(
        SCTLR_EL1::M::Enable
            + SCTLR_EL1::C::Cacheable
            + SCTLR_EL1::I::Cacheable
            + SCTLR_EL1::SA::Enable
            + SCTLR_EL1::A::Disable
            + SCTLR_EL1::WXN::Disable,
    );
    // SAFETY: instruction barrier after enabling translation.
    unsafe { asm!("isb", options(nostack)) };
}

/// Identity-maps, with 1 GiB blocks, the gigabytes holding the kernel and the device tree, so
/// that Rust code can run with caches on (and unaligned accesses allowed) while it parses the
/// device tree. Replaced by [`init_kernel_map`].
///
/// # Safety
/// Once, with the MMU off, before anything else uses the boot tables.
pub unsafe fn enable_boot_map(dtb: usize) {
    let tables = BOOT_TABLES.0.get() as *mut Table;
    let (l0, l1) = (tables, tables.wrapping_add(1));
    let gib = LEVEL_SPAN[1];
    let map_gib = |addr: u64| {
        if addr < LEVEL_SPAN[0] {
            let i = (addr / gib) as usize;
            // SAFETY: boot tables are ours alone now; i < 512.
            unsafe { (*l1).0[i] = descriptor::block(i as u64 * gib, Access::BootAll) };
        }
    };
    map_gib(layout::kernel_start());
    map_gib(layout::kernel_end() - 1);
    if dtb != 0 && dtb.is_multiple_of(8) {
        // SAFETY: with the MMU off every address is accessible; the FDT header's totalsize is
        // an aligned big-endian u32 at offset 4.
        let total = u32::from_be(unsafe { core::ptr::read_volatile((dtb + 4) as *const u32) });
        map_gib(dtb as u64);
        map_gib(dtb as u64 + u64::from(total).max(1) - 1);
    }
    // SAFETY: as above.
    unsafe { (*l0).0[0] = descriptor::table(l1 as u64) };
    enable_mmu(l0 as u64);
}

fn map_or_die(pt: &mut PageTable, r: Range, access: Access, blocks: bool, what: &str) {
    if r.is_empty() {
        return;
    }
    if let Err(e) = pt.map(r.start, r.start, r.len(), access, blocks, &mut BootPool) {
        super::power::early_fatal_fmt(format_args!(
            "mewz: cannot map {what} {:#x}..{:#x}: {e} (boot table pool of {POOL_TABLES})\n",
            r.start, r.end
        ));
    }
}

/// Maps MMIO pages one by one, skipping pages another device already shares.
fn map_device(pt: &mut PageTable, r: Range) {
    let r = r.page_outer(PAGE);
    let mut page = r.start;
    while page < r.end {
        if pt.translate(page).is_none() {
            map_or_die(pt, Range::new(page, PAGE), Access::Device, false, "device");
        }
        page += PAGE;
    }
}

/// Builds the kernel's own tables and switches to them: kernel text RX, rodata R, data RW,
/// guard pages below both stacks, all RAM as a RW direct map, the devices as Device memory.
pub fn init_kernel_map(machine: &Machine<'_>) {
    use layout::*;
    let root = BootPool.zeroed_table().expect("the pool has a root table");
    // SAFETY: a zeroed table from the identity-mapped pool.
    let mut pt = unsafe { PageTable::from_root(root) };
    let image = Range {
        start: kernel_start(),
        end: kernel_end(),
    };
    map_or_die(
        &mut pt,
        Range {
            start: kernel_start(),
            end: text_end(),
        },
        Access::ReadExecute,
        false,
        "kernel text",
    );
    map_or_die(
        &mut pt,
        Range {
            start: text_end(),
            end: rodata_end(),
        },
        Access::ReadOnly,
        false,
        "kernel rodata",
    );
    // The packed directories baked into the image sit among the data: their whole pages are
    // mapped read-only, in 2 MiB blocks where aligned (the CLI aligns them so).
    let files = Range {
        start: files_start(),
        end: files_end() / PAGE * PAGE,
    };
    let files = if files.start.is_multiple_of(PAGE) && files.start < files.end {
        files
    } else {
        Range {
            start: rodata_end(),
            end: rodata_end(),
        }
    };
    for (range, access, blocks, what) in [
        (
            Range {
                start: rodata_end(),
                end: files.start,
            },
            Access::ReadWrite,
            false,
            "kernel data",
        ),
        (files, Access::ReadOnly, true, "packed files"),
        (
            Range {
                start: files.end,
                end: boot_stack_guard(),
            },
            Access::ReadWrite,
            false,
            "kernel data",
        ),
    ] {
        map_or_die(&mut pt, range, access, blocks, what);
    }
    map_or_die(
        &mut pt,
        Range {
            start: boot_stack_bottom(),
            end: exception_stack_guard(),
        },
        Access::ReadWrite,
        false,
        "boot stack",
    );
    map_or_die(
        &mut pt,
        Range {
            start: exception_stack_bottom(),
            end: kernel_end(),
        },
        Access::ReadWrite,
        false,
        "exception stack",
    );
    let mut direct_end = 0;
    for ram in machine.memory.as_slice() {
        let ram = ram.page_inner(PAGE);
        direct_end = direct_end.max(ram.end);
        let below = Range {
            start: ram.start,
            end: image.start.min(ram.end),
        };
        let above = Range {
            start: image.end.max(ram.start),
            end: ram.end,
        };
        map_or_die(&mut pt, below, Access::ReadWrite, true, "RAM");
        map_or_die(&mut pt, above, Access::ReadWrite, true, "RAM");
    }
    for r in machine.device_ranges().as_slice() {
        direct_end = direct_end.max(r.end);
        map_device(&mut pt, *r);
    }
    // SAFETY: the device tree is mapped by the boot map and by the direct map (it is in RAM).
    for v in machine::virtio_mmio(super::platform::fdt()) {
        direct_end = direct_end.max(v.registers.end);
        map_device(&mut pt, v.registers);
    }
    DIRECT_MAP_END.store(direct_end, Ordering::Relaxed);
    enable_mmu(pt.root_phys());
    POOL_CLOSED.store(true, Ordering::Relaxed);
    *MAPPINGS.lock() = Some(Mappings { tables: pt });
}

/// Tables used by the kernel map (for the boot log).
pub fn pool_tables_used() -> u64 {
    POOL_USED.load(Ordering::Relaxed).min(POOL_TABLES as u64)
}

pub fn reserve(len: usize) -> Result<usize, MapError> {
    let len = (len as u64).div_ceil(ADDRESSABLE_BYTES).max(1) * ADDRESSABLE_BYTES;
    let mut start = NEXT_RESERVATION.load(Ordering::Relaxed);
    loop {
        let end = start.checked_add(len).ok_or(MapError::InvalidRange)?;
        if end > 1 << VA_BITS || start < DIRECT_MAP_END.load(Ordering::Relaxed) {
            return Err(MapError::InvalidRange);
        }
        match NEXT_RESERVATION.compare_exchange(start, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(start as usize),
            Err(now) => start = now,
        }
    }
}

fn in_reservations(virt: u64, len: u64) -> bool {
    virt >= UNIKERNEL_MEMORY_BASE
        && virt
            .checked_add(len)
            .is_some_and(|end| end <= NEXT_RESERVATION.load(Ordering::Relaxed))
}

/// Invalidates the TLB entries of `[virt, virt + len)` on every CPU of the inner domain.
fn flush_tlb(virt: u64, len: u64) {
    // SAFETY: make the cleared descriptors visible to the table walker first.
    unsafe { asm!("dsb ishst", options(nostack)) };
    let mut va = virt;
    while va < virt + len {
        // SAFETY: TLB maintenance by VA (bits [43:0] = VA[55:12]), last level, all ASIDs.
        unsafe { asm!("tlbi vaale1is, {}", in(reg) va >> 12, options(nostack)) };
        va += PAGE;
    }
    // SAFETY: wait for the invalidation to complete before the frames are reused.
    unsafe { asm!("dsb ish", "isb", options(nostack)) };
}

/// Invalidates the whole TLB of this CPU (the tables are unchanged: a hint to an emulator,
/// see `Platform::flush_tlb`).
pub fn flush_whole_tlb() {
    // SAFETY: TLB maintenance only; every mapping stays as it is and is walked again.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            options(nostack)
        )
    };
}

fn unmap_locked(m: &mut Mappings, virt: u64, len: u64) {
    let mut freed = [0u64; 64];
    let mut va = virt;
    while va < virt + len {
        // Batch: clear up to 64 pages, flush once, then recycle their frames.
        let batch_start = va;
        let mut n = 0;
        while va < virt + len && n < freed.len() {
            if let Some(pa) = m.tables.unmap_page(va) {
                freed[n] = pa;
                n += 1;
            }
            va += PAGE;
        }
        flush_tlb(batch_start, va - batch_start);
        for pa in &freed[..n] {
            // SAFETY: each frame came from the supply in `map_zeroed` and is no longer
            // reachable through the tables or the TLB.
            unsafe { mewz_kernel::frames::give(*pa as *mut u8) };
        }
    }
}

pub fn map_zeroed(virt: usize, len: usize) -> Result<(), MapError> {
    let (virt, len) = (virt as u64, len as u64);
    if !virt.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) || !in_reservations(virt, len) {
        return Err(MapError::InvalidRange);
    }
    let mut guard = MAPPINGS.lock();
    let m = guard.as_mut().ok_or(MapError::InvalidRange)?;
    let mut va = virt;
    while va < virt + len {
        let result = match mewz_kernel::frames::take() {
            None => Err(MapError::OutOfMemory),
            Some(frame) => {
                let r = m.tables.map(
                    va,
                    frame as u64,
                    PAGE,
                    Access::ReadWrite,
                    false,
                    &mut KernelFrames,
                );
                if r.is_err() {
                    // SAFETY: the frame was just taken and never mapped.
                    unsafe { mewz_kernel::frames::give(frame) };
                }
                r
            }
        };
        if let Err(e) = result {
            unmap_locked(m, virt, va - virt);
            return Err(e);
        }
        va += PAGE;
    }
    // SAFETY: new valid descriptors replace invalid ones: no TLB maintenance is needed, only
    // ordering before the first access.
    unsafe { asm!("dsb ishst", "isb", options(nostack)) };
    Ok(())
}

pub fn unmap(virt: usize, len: usize) {
    let (virt, len) = (virt as u64, len as u64);
    if !virt.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) || !in_reservations(virt, len) {
        return;
    }
    if let Some(m) = MAPPINGS.lock().as_mut() {
        unmap_locked(m, virt, len);
    }
}

/// Maps device registers at `[phys, phys + len)` at their own address (Device memory), for
/// devices found after boot (e.g. behind a PCI host bridge); pages already mapped as the same
/// address are kept. Returns the virtual address.
pub fn map_device_memory(phys: u64, len: u64) -> Result<u64, MapError> {
    let end = phys.checked_add(len).ok_or(MapError::InvalidRange)?;
    let r = Range { start: phys, end }.page_outer(PAGE);
    if r.end > UNIKERNEL_MEMORY_BASE {
        return Err(MapError::InvalidRange);
    }
    let mut guard = MAPPINGS.lock();
    let m = guard.as_mut().ok_or(MapError::InvalidRange)?;
    let mut page = r.start;
    while page < r.end {
        match m.tables.translate(page) {
            Some((pa, _)) if pa == page => {}
            Some(_) => return Err(MapError::InvalidRange),
            None => {
                m.tables
                    .map(page, page, PAGE, Access::Device, false, &mut KernelFrames)?;
            }
        }
        page += PAGE;
    }
    // SAFETY: new valid descriptors replace invalid ones: only ordering before first use.
    unsafe { asm!("dsb ishst", "isb", options(nostack)) };
    Ok(phys)
}
