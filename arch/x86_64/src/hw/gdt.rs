//! GDT and TSS. The TSS exists for its interrupt stack table: page faults and double faults
//! switch to stacks of their own, so a fault caused by running off the bottom of a stack (the
//! app stack's guard page, or the kernel's) is still reported.

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// Interrupt stack table slots (IDT gates name them 1-based).
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum InterruptStack {
    PageFault = 1,
    DoubleFault = 2,
    /// NMI and machine check: they can arrive at any point, even mid stack switch.
    Nmi = 3,
    /// Device interrupts, so they never touch (or need) the interrupted stack.
    Irq = 4,
}

const IST_COUNT: usize = 4;
/// Each handler runs on a fresh one; the deepest measured, a kernel fault's report and the
/// console's flush that follows it, takes 5.7 KiB.
const IST_STACK_SIZE: usize = 32 * 1024;
const PAGE: usize = 4096;

/// One interrupt stack with a page below it that the kernel's page tables leave unmapped, so
/// an overflowing handler faults instead of silently corrupting its neighbour.
#[repr(C, align(4096))]
struct GuardedStack {
    guard: [u8; PAGE],
    stack: [u8; IST_STACK_SIZE],
}

static mut IST_STACKS: [GuardedStack; IST_COUNT] = [const {
    GuardedStack {
        guard: [0; PAGE],
        stack: [0; IST_STACK_SIZE],
    }
}; IST_COUNT];

/// Addresses of the interrupt stacks' guard pages, for the page tables.
pub fn guard_pages() -> impl Iterator<Item = u64> {
    let base = (&raw const IST_STACKS) as u64;
    (0..IST_COUNT).map(move |i| base + (i * size_of::<GuardedStack>()) as u64)
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(
    GlobalDescriptorTable,
    SegmentSelector,
    SegmentSelector,
    SegmentSelector,
)> = Once::new();

/// Code segment selector, for IDT gates.
pub fn kernel_code_selector() -> u16 {
    GDT.get().map_or(0x08, |g| g.1.0)
}

pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        for (i, guard) in guard_pages().enumerate() {
            let top = guard + size_of::<GuardedStack>() as u64;
            tss.interrupt_stack_table[i] = VirtAddr::new(top);
        }
        tss
    });
    let (gdt, code, data, tss_sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_sel = gdt.append(Descriptor::tss_segment(tss));
        (gdt, code, data, tss_sel)
    });
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, which lives for ever.
    unsafe {
        CS::set_reg(*code);
        SS::set_reg(*data);
        DS::set_reg(*data);
        ES::set_reg(*data);
        load_tss(*tss_sel);
    }
}
