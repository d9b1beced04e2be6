//! The [`Platform`] implementation: the machine found in the device tree, its consoles, its
//! free memory, and the hand-over to `mewz_kernel::boot::main`.

use super::paging::{self, layout};
use super::pl011::Pl011;
use super::{gic, pcie, pl031, power, random, timer, virtio};
use crate::dtb_extent;
use crate::machine::{self, Gic, Machine};
use crate::memory_map::{self, Range, RangeList};
use crate::mmu::PAGE_SIZE;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use fdt::Fdt;
use mewz_kernel::{MapError, MemoryRegion, Platform, Stream, klog};
use spin::Once;

const MAX_FREE_REGIONS: usize = 16;

struct State {
    machine: Machine<'static>,
    free: [MemoryRegion; MAX_FREE_REGIONS],
    free_count: usize,
    uarts: [Option<Pl011>; 2],
}

static FDT: Once<Fdt<'static>> = Once::new();
static FDT_ADDRESS: AtomicU64 = AtomicU64::new(0);
/// Exception level the boot loader entered the kernel at (2 = dropped to EL1 by us).
static ENTRY_EL: AtomicU64 = AtomicU64::new(1);
static STATE: Once<State> = Once::new();
/// GIC interrupt ID of the virtual timer, 0 until the GIC is up.
static TIMER_INTID: AtomicU32 = AtomicU32::new(0);
/// RTC seconds and the monotonic clock when they were read; `u64::MAX` = no RTC.
static RTC_SECONDS_AT: AtomicU64 = AtomicU64::new(u64::MAX);
static RTC_MONOTONIC_AT: AtomicU64 = AtomicU64::new(0);

pub fn fdt() -> &'static Fdt<'static> {
    FDT.get().expect("device tree parsed")
}

pub fn timer_intid() -> Option<u32> {
    match TIMER_INTID.load(Ordering::Relaxed) {
        0 => None,
        id => Some(id),
    }
}

/// Parses the device tree the boot loader passed (identity-mapped by the boot map).
pub fn discover(dtb: usize) -> Result<Machine<'static>, &'static str> {
    if dtb == 0 {
        return Err("no device tree (x0 = 0): boot the Image the Linux way, e.g. QEMU -kernel");
    }
    if !dtb.is_multiple_of(8) {
        return Err("the device tree address is not 8-byte aligned");
    }
    let image = layout::kernel_start() as usize..layout::kernel_end() as usize;
    if image.contains(&dtb) {
        return Err("the device tree lies inside the kernel image (the loader ignored image_size)");
    }
    // SAFETY: the boot loader placed a device tree at `dtb`, in RAM the boot map covers and
    // nothing else uses yet.
    unsafe { trim_device_tree(dtb) };
    // SAFETY: as above; the blob's memory (up to its `totalsize`) is never handed to the heap
    // (see `free_regions`), so it lives as long as the kernel.
    let fdt = unsafe { Fdt::from_ptr(dtb as *const u8) }.map_err(|_| "invalid device tree")?;
    FDT_ADDRESS.store(dtb as u64, Ordering::Relaxed);
    let fdt = FDT.call_once(|| fdt);
    let m = machine::describe(fdt);
    if m.memory.as_slice().is_empty() {
        return Err("the device tree describes no memory");
    }
    if m.boot_module.is_some_and(|r| !in_ram(&m, r)) {
        return Err("the boot module (initrd or mewz.files-at) is not in RAM");
    }
    Ok(m)
}

fn in_ram(m: &Machine<'_>, r: Range) -> bool {
    m.memory.as_slice().iter().any(|ram| ram.contains(&r))
}

/// Loaders give the device tree more room than it fills (QEMU: 1 MiB). Sets its `totalsize` to
/// the part in use, so that the rest goes to the heap; a blob that does not add up is left
/// as it is.
///
/// # Safety
/// A device tree lies at `dtb`, readable and writable, used by nobody else.
unsafe fn trim_device_tree(dtb: usize) {
    /// Larger blobs are not QEMU's, nor trusted to be mapped whole by the boot map.
    const MAX_BLOB: usize = 64 << 20;
    // SAFETY: a device tree starts with its 40-byte header (guaranteed by the caller).
    let head = unsafe { core::slice::from_raw_parts(dtb as *const u8, 8) };
    let Some(total) = dtb_extent::total_size(head).filter(|&t| t <= MAX_BLOB) else {
        return;
    };
    // SAFETY: the blob spans its `totalsize` (the boot map covers it); no reference to it
    // outlives this line.
    let used =
        dtb_extent::used_size(unsafe { core::slice::from_raw_parts(dtb as *const u8, total) });
    if let Some(used) = used.filter(|&u| u < total) {
        // SAFETY: the `totalsize` field of the blob, ours to edit (see above).
        unsafe {
            core::ptr::write_volatile(
                (dtb + dtb_extent::TOTAL_SIZE_OFFSET) as *mut [u8; 4],
                (used as u32).to_be_bytes(),
            )
        };
    }
}

fn dtb_range() -> Range {
    Range::new(
        FDT_ADDRESS.load(Ordering::Relaxed),
        fdt().total_size() as u64,
    )
}

/// RAM minus the kernel image (with its stacks and the boot tables it used), the device tree
/// and reservations.
fn free_regions(m: &Machine<'_>) -> RangeList<MAX_FREE_REGIONS> {
    let mut holes = RangeList::<{ 3 + machine::MAX_RESERVED_RANGES }>::default();
    holes.push(Range {
        start: layout::kernel_start(),
        end: layout::kernel_end(),
    });
    holes.push(dtb_range());
    if let Some(r) = m.boot_module {
        holes.push(r);
    }
    for r in m.reserved.as_slice() {
        holes.push(*r);
    }
    let mut free = memory_map::subtract(m.memory.as_slice(), holes.as_slice(), PAGE_SIZE as u64);
    free.push(paging::unused_boot_tables());
    free
}

/// Installs the platform and enters the kernel.
pub fn install(machine: Machine<'static>, entry_el: u64) -> ! {
    ENTRY_EL.store(entry_el, Ordering::Relaxed);
    let free = free_regions(&machine);
    let mut regions = [MemoryRegion { start: 0, len: 0 }; MAX_FREE_REGIONS];
    for (slot, r) in regions.iter_mut().zip(free.as_slice()) {
        *slot = MemoryRegion {
            start: r.start as usize,
            len: r.len() as usize,
        };
    }
    let uart = |r: Option<Range>| {
        // SAFETY: UART frames from the device tree are mapped as Device memory by the kernel map.
        r.map(|r| unsafe { Pl011::new(r.start as usize) })
    };
    STATE.call_once(|| State {
        machine,
        free: regions,
        free_count: free.as_slice().len(),
        uarts: [uart(machine.uarts[0]), uart(machine.uarts[1])],
    });
    power::set_psci(machine.psci);
    mewz_kernel::boot::main(&PLATFORM)
}

fn state() -> &'static State {
    STATE.get().expect("platform state")
}

/// Writes to the error console, if there is one yet (for the power-off path).
pub fn console_err(bytes: &[u8]) {
    if STATE.get().is_some() {
        PLATFORM.console_write(Stream::Err, bytes);
    }
}

fn log_machine(s: &State) {
    let m = &s.machine;
    klog!(
        "fdt: model {:?}, {} bytes at {:#x}",
        m.model,
        fdt().total_size(),
        FDT_ADDRESS.load(Ordering::Relaxed)
    );
    for r in m.memory.as_slice() {
        klog!(
            "fdt: memory {:#x}..{:#x} ({} MiB)",
            r.start,
            r.end,
            r.len() >> 20
        );
    }
    for r in m.reserved.as_slice() {
        klog!("fdt: reserved {:#x}..{:#x}", r.start, r.end);
    }
    for r in &s.free[..s.free_count] {
        klog!(
            "heap region {:#x}..{:#x} ({} KiB)",
            r.start,
            r.start + r.len,
            r.len >> 10
        );
    }
    klog!(
        "kernel image {:#x}..{:#x} (text ..{:#x}, rodata ..{:#x}), {} page tables at boot",
        layout::kernel_start(),
        layout::kernel_end(),
        layout::text_end(),
        layout::rodata_end(),
        paging::pool_tables_used()
    );
    match m.uarts {
        [Some(out), Some(err)] => {
            klog!(
                "fdt: pl011 {:#x} (stdout, console input), pl011 {:#x} (stderr, kernel log)",
                out.start,
                err.start
            )
        }
        [Some(out), None] => klog!(
            "fdt: pl011 {:#x} (stdout, stderr and console input)",
            out.start
        ),
        _ => klog!("fdt: no pl011 UART"),
    }
    match m.gic {
        Some(Gic::V2 {
            distributor,
            cpu_interface,
        }) => {
            klog!(
                "fdt: GICv2 distributor {:#x}, cpu interface {:#x}",
                distributor.start,
                cpu_interface.start
            )
        }
        Some(Gic::V3 {
            distributor,
            redistributors,
        }) => klog!(
            "fdt: GICv3 distributor {:#x}, redistributors {:#x}..{:#x}",
            distributor.start,
            redistributors.start,
            redistributors.end
        ),
        None => klog!("fdt: no supported interrupt controller"),
    }
    match m.timer {
        Some(t) => klog!(
            "fdt: armv8 timer PPIs: secure phys {}, phys {}, virt {}, hyp {:?}; {} Hz",
            t.secure_physical.intid(),
            t.physical.intid(),
            t.virtual_timer.intid(),
            t.hypervisor.map(|i| i.intid()),
            timer::frequency()
        ),
        None => klog!("fdt: no armv8 timer node"),
    }
    match m.rtc {
        Some(r) => klog!("fdt: pl031 rtc {:#x}", r.start),
        None => klog!("fdt: no pl031 rtc (no wall clock)"),
    }
    klog!("fdt: psci {:?}", m.psci);
    if let Some(r) = m.boot_module {
        klog!(
            "boot module {:#x}..{:#x} ({} KiB)",
            r.start,
            r.end,
            r.len() >> 10
        );
    }
    let (mut empty, mut total) = (0, 0);
    for v in machine::virtio_mmio(fdt()) {
        total += 1;
        let base = v.registers.start as usize;
        // SAFETY: virtio-mmio frames are mapped as Device memory by the kernel map; the
        // magic, version and device ID registers are plain reads.
        let (magic, version, device) = unsafe {
            (
                core::ptr::read_volatile(base as *const u32),
                core::ptr::read_volatile((base + 4) as *const u32),
                core::ptr::read_volatile((base + 8) as *const u32),
            )
        };
        if magic != u32::from_le_bytes(*b"virt") {
            klog!("fdt: virtio-mmio {base:#x}: bad magic {magic:#x}");
        } else if device == 0 {
            empty += 1;
        } else {
            klog!(
                "fdt: virtio-mmio {base:#x} irq {:?}: version {version}, device id {device}",
                v.interrupt.map(|i| i.intid())
            );
        }
    }
    klog!("fdt: {total} virtio-mmio transport(s), {empty} without a device");
    let el = ENTRY_EL.load(Ordering::Relaxed);
    klog!(
        "cpu: entered at EL{el}{}, RNDR {}",
        if el == 2 { " (dropped to EL1)" } else { "" },
        if random::available() {
            "present"
        } else {
            "absent"
        }
    );
}

pub struct Aarch64;
pub static PLATFORM: Aarch64 = Aarch64;

impl Platform for Aarch64 {
    fn name(&self) -> &'static str {
        "aarch64"
    }

    fn command_line(&self) -> &str {
        state().machine.bootargs
    }

    fn boot_module(&self) -> Option<&'static [u8]> {
        let r = state().machine.boot_module?;
        let in_ram = state()
            .machine
            .memory
            .as_slice()
            .iter()
            .any(|m| m.start <= r.start && r.end <= m.end);
        // SAFETY: the initrd lies in RAM (checked), which the kernel map covers identically;
        // it is kept from the heap (a hole in `free_regions`) and never written.
        in_ram
            .then(|| unsafe { core::slice::from_raw_parts(r.start as *const u8, r.len() as usize) })
    }

    fn console_write(&self, stream: Stream, bytes: &[u8]) {
        let Some(state) = STATE.get() else {
            // Before the device tree is read (early boot failures): the semihosting host.
            power::semihosting_write(bytes);
            return;
        };
        let [out, err] = state.uarts;
        let uart = match stream {
            Stream::Out => out,
            Stream::Err => err.or(out),
        };
        if let Some(u) = uart {
            u.write(bytes);
        }
    }

    fn console_read(&self, buf: &mut [u8]) -> usize {
        state().uarts[0].map_or(0, |u| u.read(buf))
    }

    fn free_memory(&self) -> &[MemoryRegion] {
        let s = state();
        &s.free[..s.free_count]
    }

    fn ram_bytes(&self) -> usize {
        state()
            .machine
            .memory
            .as_slice()
            .iter()
            .map(|r| r.len() as usize)
            .sum()
    }

    fn map_zeroed(&self, virt: usize, len: usize) -> Result<(), MapError> {
        paging::map_zeroed(virt, len)
    }

    fn unmap(&self, virt: usize, len: usize) {
        paging::unmap(virt, len)
    }

    fn reserve(&self, len: usize) -> Result<usize, MapError> {
        paging::reserve(len)
    }

    fn monotonic_ns(&self) -> u64 {
        timer::monotonic_ns()
    }

    fn monotonic_resolution_ns(&self) -> u64 {
        timer::resolution_ns()
    }

    fn wall_clock_ns(&self) -> Option<u64> {
        let secs = RTC_SECONDS_AT.load(Ordering::Relaxed);
        if secs == u64::MAX {
            return None;
        }
        let since = timer::monotonic_ns().saturating_sub(RTC_MONOTONIC_AT.load(Ordering::Relaxed));
        Some(secs.saturating_mul(1_000_000_000).saturating_add(since))
    }

    fn arm_timer(&self, delay_ns: u64) {
        timer::arm(delay_ns)
    }

    fn timer_interrupts(&self) -> u64 {
        timer::interrupts()
    }

    fn wait_for_interrupt(&self) {
        if timer_intid().is_some() {
            timer::wait_for_interrupt()
        } else {
            // No interrupt would ever wake a `wfi`: let the caller poll its clock instead.
            core::hint::spin_loop()
        }
    }

    fn flush_tlb(&self) {
        paging::flush_whole_tlb();
    }

    fn init_devices(&self) {
        let s = state();
        log_machine(s);
        match (s.machine.gic, s.machine.timer) {
            (Some(g), Some(t)) => match gic::init(g) {
                Ok(kind) => {
                    let intid = t.virtual_timer.intid();
                    gic::enable_ppi(intid);
                    TIMER_INTID.store(intid, Ordering::Relaxed);
                    klog!(
                        "{kind} up ({} lines), virtual timer on interrupt {intid}",
                        gic::lines()
                    );
                }
                Err(why) => klog!("interrupt controller: {why}; no timer interrupts"),
            },
            _ => klog!("no interrupt controller or timer: sleeping polls the clock"),
        }
        virtio::discover(fdt());
        pcie::discover(fdt());
        if let Some(rtc) = s.machine.rtc {
            RTC_MONOTONIC_AT.store(timer::monotonic_ns(), Ordering::Relaxed);
            // SAFETY: the RTC frame from the device tree is mapped as Device memory.
            let secs = unsafe { pl031::read_seconds(rtc.start as usize) };
            RTC_SECONDS_AT.store(secs, Ordering::Relaxed);
            klog!("rtc: {secs} s since the epoch");
        }
    }

    fn random_bytes(&self, buf: &mut [u8]) -> bool {
        random::fill(buf)
    }

    fn take_virtio_devices(&self) -> Vec<mewz_kernel::virtio::FoundDevice> {
        virtio::take()
    }

    fn dma_address(&self, virt: usize, len: usize) -> Option<u64> {
        // RAM is mapped at its own address (the direct map, the kernel image inside it).
        let start = virt as u64;
        let end = start.checked_add(len as u64)?;
        let in_ram = state()
            .machine
            .memory
            .as_slice()
            .iter()
            .any(|r| r.start <= start && end <= r.end);
        in_ram.then_some(start)
    }

    fn map_device_memory(&self, phys: u64, len: usize) -> Result<usize, MapError> {
        paging::map_device_memory(phys, len as u64).map(|v| v as usize)
    }

    fn unmask_device_interrupt(&self, line: u32) {
        virtio::unmask(line)
    }

    fn exit_note(&self, note: fmt::Arguments<'_>) {
        power::semihosting_print(format_args!("{}{note}\n", mewz_abi::exit::NOTE_PREFIX));
    }

    fn exit(&self, code: u8) -> ! {
        if let Some(s) = STATE.get() {
            s.uarts.iter().flatten().for_each(Pl011::flush);
        }
        power::exit(code)
    }

    fn call_on_stack(&self, stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
        // SAFETY: the kernel hands the 16-byte aligned top of a mapped stack it owns; `entry`
        // returns, or a trap ends the program.
        unsafe { mewz_isa::call_on_stack(stack_top, entry, arg) }
    }

    fn trigger_cpu_fault(&self) -> ! {
        // The page below the boot stack is never mapped.
        let guard = layout::boot_stack_guard() as *mut u64;
        // SAFETY: deliberately faults; the exception handler reports it and exits.
        unsafe { core::ptr::write_volatile(guard.wrapping_add(8), 0xdead) };
        unreachable!("a write to the boot stack guard page returned")
    }
}
