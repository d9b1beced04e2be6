//! The [`Platform`] implementation: the machine found in the device tree, its consoles, its
//! free memory, and the hand-over to `mewz_kernel::boot::main`.

use super::paging::{self, layout};
use super::pl011::Pl011;
use super::{gic, pcie, pl031, power, random, timer, virtio};
use crate::machine::{self, Gic, Machine};
use crate::memory_map::{self, Range, RangeList};
use crate::mmu::PAGE_SIZE;
use alloc::vec::Vec;
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
    // SAFETY: the boot loader placed a device tree at `dtb`; the boot map covers it; its memory
    // is never handed to the heap (see `free_regions`), so it lives as long as the kernel.
    let fdt = unsafe { Fdt::from_ptr(dtb as *const u8) }.map_err(|_| "invalid device tree")?;
    FDT_ADDRESS.store(dtb as u64, Ordering::Relaxed);
    let fdt = FDT.call_once(|| fdt);
    let m = machine::describe(fdt);
    if m.memory.as_slice().is_empty() {
        return Err("the device tree describes no memory");
    }
    Ok(m)
}

fn dtb_range() -> Range {
    Range::new(
        FDT_ADDRESS.load(Ordering::Relaxed),
        fdt().total_size() as u64,
    )
}

/// RAM minus the kernel image (with its tables and stacks), the device tree and reservations.
fn free_regions(m: &Machine<'_>) -> RangeList<MAX_FREE_REGIONS> {
    let mut holes = RangeList::<{ 2 + machine::MAX_RESERVED_RANGES }>::default();
    holes.push(Range {
        start: layout::kernel_start(),
        end: layout::kernel_end(),
    });
    holes.push(dtb_range());
    for r in m.reserved.as_slice() {
        holes.push(*r);
    }
    memory_map::subtract(m.memory.as_slice(), holes.as_slice(), PAGE_SIZE as u64)
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
