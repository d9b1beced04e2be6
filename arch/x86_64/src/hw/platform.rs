//! `mewz_kernel::Platform` for x86_64.

use super::boot::BootInfo;
use super::serial::COM1;
use super::{clock, cpu, lapic, paging, pci, rtc, serial, virtio};
use crate::memory_layout::MAX_RANGES;
use crate::pci_config::Bar;
use alloc::vec::Vec;
use core::arch::asm;
use core::arch::x86_64::_rdrand64_step;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};
use mewz_kernel::{MapError, MemoryRegion, Platform, Stream, klog};
use spin::Once;
use x86_64::instructions::port::Port;

pub struct X86Platform;

pub static PLATFORM: X86Platform = X86Platform;

/// isa-debugcon, the debug port the runner reads: notes first, the whole exit status byte
/// last (isa-debug-exit keeps 7 bits).
const DEBUGCON_PORT: u16 = 0xe9;
/// isa-debug-exit where `mewz run` attaches it (`iobase=0xf4,iosize=4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;
/// isa-debug-exit where urunc attaches it (`iobase=0x501,iosize=2`).
const URUNC_DEBUG_EXIT_PORT: u16 = 0x501;

struct FreeRegions {
    regions: [MemoryRegion; MAX_RANGES],
    len: usize,
}

static CMDLINE: Once<&'static str> = Once::new();
static MODULE: Once<&'static [u8]> = Once::new();
static FREE: Once<FreeRegions> = Once::new();
static RAM_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Writes text to [`DEBUGCON_PORT`].
struct DebugPort;

impl fmt::Write for DebugPort {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut port = Port::<u8>::new(DEBUGCON_PORT);
        for b in s.bytes() {
            // SAFETY: 0xe9 (debugcon) only records the byte for the runner.
            unsafe { port.write(b) };
        }
        Ok(())
    }
}

/// Records what the boot found, once the direct map exists.
pub fn set_boot_state(boot: &BootInfo) {
    let cmdline = boot.cmdline;
    // SAFETY: the command line copy is RAM the heap never gets, mapped in the direct map, and
    // nothing writes it after boot.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            paging::phys_to_virt(cmdline.start) as *const u8,
            cmdline.len() as usize,
        )
    };
    let text = core::str::from_utf8(bytes).unwrap_or_else(|e| {
        panic!(
            "kernel command line is not UTF-8 (byte {})",
            e.valid_up_to()
        )
    });
    CMDLINE.call_once(|| text);
    if let Some(m) = boot.module {
        // SAFETY: the module is RAM (checked at boot), in the direct map, kept from the heap
        // and never written.
        let bytes = unsafe {
            core::slice::from_raw_parts(
                paging::phys_to_virt(m.start) as *const u8,
                m.len() as usize,
            )
        };
        MODULE.call_once(|| bytes);
    }
    RAM_BYTES.store(boot.ram.total() as usize, Ordering::Relaxed);
    FREE.call_once(|| {
        let mut free = FreeRegions {
            regions: [MemoryRegion { start: 0, len: 0 }; MAX_RANGES],
            len: 0,
        };
        for r in boot.free.as_slice() {
            free.regions[free.len] = MemoryRegion {
                start: paging::phys_to_virt(r.start) as usize,
                len: r.len() as usize,
            };
            free.len += 1;
        }
        free
    });
}

/// BARs for the PCI log line: ", bars: mem32 0xfe641000+0x1000, io 0xc040+0x20".
struct BarList([Option<Bar>; 6]);

impl fmt::Display for BarList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, bar) in self.0.iter().flatten().enumerate() {
            write!(f, "{}{bar}", if i == 0 { ", bars: " } else { ", " })?;
        }
        Ok(())
    }
}

/// Capability IDs for the PCI log line: ", capabilities: 09 09 11".
struct CapabilityList<'a>(&'a pci::PciDevice);

impl fmt::Display for CapabilityList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cap) in self.0.capabilities().enumerate() {
            write!(
                f,
                "{}{:02x}",
                if i == 0 { ", capabilities: " } else { " " },
                cap.id
            )?;
        }
        Ok(())
    }
}

#[target_feature(enable = "rdrand")]
fn rdrand64() -> Option<u64> {
    // The DRNG may be briefly exhausted; Intel recommends 10 retries.
    for _ in 0..10 {
        let mut v = 0;
        if _rdrand64_step(&mut v) == 1 {
            return Some(v);
        }
    }
    None
}

impl Platform for X86Platform {
    fn name(&self) -> &'static str {
        "x86_64"
    }

    fn command_line(&self) -> &str {
        CMDLINE.get().copied().unwrap_or("")
    }

    fn boot_module(&self) -> Option<&'static [u8]> {
        MODULE.get().copied()
    }

    fn console_write(&self, stream: Stream, bytes: &[u8]) {
        match stream {
            Stream::Out => COM1.write(bytes),
            Stream::Err => serial::error_uart().write(bytes),
        }
    }

    fn console_read(&self, buf: &mut [u8]) -> usize {
        serial::console_read(buf)
    }

    fn free_memory(&self) -> &[MemoryRegion] {
        FREE.get().map_or(&[], |f| &f.regions[..f.len])
    }

    fn ram_bytes(&self) -> usize {
        RAM_BYTES.load(Ordering::Relaxed)
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
        clock::monotonic_ns()
    }

    fn monotonic_resolution_ns(&self) -> u64 {
        clock::resolution()
    }

    fn wall_clock_ns(&self) -> Option<u64> {
        rtc::wall_clock_ns()
    }

    fn arm_timer(&self, delay_ns: u64) {
        lapic::arm(delay_ns)
    }

    fn timer_interrupts(&self) -> u64 {
        lapic::timer_interrupts()
    }

    fn wait_for_interrupt(&self) {
        // SAFETY: STI's one-instruction delay makes `sti; hlt` atomic: an interrupt pending
        // before it wakes the HLT instead of being lost. The kernel otherwise runs with
        // interrupts off, so they are disabled again at once.
        unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) }
    }

    fn flush_tlb(&self) {
        x86_64::instructions::tlb::flush_all();
    }

    fn init_devices(&self) {
        let (since_entry, entry) = clock::since_entry_ns();
        klog!(
            "boot: entered at tsc {} us, {} us ago",
            entry / 1000,
            since_entry / 1000
        );
        let f = cpu::features();
        klog!(
            "cpu: {} nx={} xsave={} avx={} avx2={} avx512f={} rdrand={} invariant-tsc={} xcr0={:#x}",
            core::str::from_utf8(&f.vendor).unwrap_or("?"),
            f.nx,
            f.xsave,
            f.avx,
            f.avx2,
            f.avx512f,
            f.rdrand,
            f.invariant_tsc,
            f.xcr0
        );
        klog!(
            "clock: tsc {} kHz, lapic timer {} kHz, wall clock {}",
            clock::tsc_hz() / 1000,
            lapic::timer_hz() / 1000,
            match rtc::wall_clock_ns() {
                Some(ns) => alloc::format!("{} s since the epoch", ns / 1_000_000_000),
                None => "unreadable".into(),
            }
        );
        for dev in pci::devices() {
            klog!("pci {dev}{}{}", BarList(dev.bars()), CapabilityList(dev));
        }
        virtio::discover();
    }

    fn random_bytes(&self, buf: &mut [u8]) -> bool {
        if !cpu::features().rdrand {
            return false;
        }
        for chunk in buf.chunks_mut(8) {
            // SAFETY: CPUID reported RDRAND.
            match unsafe { rdrand64() } {
                Some(v) => chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]),
                None => return false,
            }
        }
        true
    }

    fn take_virtio_devices(&self) -> Vec<mewz_kernel::virtio::FoundDevice> {
        virtio::take()
    }

    fn dma_address(&self, virt: usize, len: usize) -> Option<u64> {
        paging::dma_address(virt, len)
    }

    fn map_device_memory(&self, phys: u64, len: usize) -> Result<usize, MapError> {
        paging::map_mmio(phys, len as u64).map(|v| v as usize)
    }

    fn exit_note(&self, note: fmt::Arguments<'_>) {
        let _ = writeln!(DebugPort, "{}{note}", mewz_abi::exit::NOTE_PREFIX);
    }

    fn exit(&self, code: u8) -> ! {
        // SAFETY: 0xe9 (debugcon) records the status byte for the runner; an isa-debug-exit
        // device ends QEMU with status (code << 1) | 1: `mewz run` puts it at 0xf4, urunc at
        // 0x501 (16 bits wide). A port without a device ignores the write, so the first that
        // has one stops the machine. None of them touches memory.
        unsafe {
            Port::<u8>::new(DEBUGCON_PORT).write(code);
            Port::<u32>::new(DEBUG_EXIT_PORT).write(code as u32);
            Port::<u16>::new(URUNC_DEBUG_EXIT_PORT).write(code as u16);
        }
        // No exit device (another machine or VMM): stop here for good.
        loop {
            // SAFETY: halting with interrupts off only stops this CPU.
            unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
        }
    }

    fn call_on_stack(&self, stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
        // SAFETY: the kernel hands the 16-byte aligned top of a mapped stack it owns; `entry`
        // returns, or a trap ends the program.
        unsafe { mewz_isa::call_on_stack(stack_top, entry, arg) }
    }

    fn trigger_cpu_fault(&self) -> ! {
        // Page 1 (0x1000) is below the kernel image and deliberately never mapped.
        let unmapped = 0x1000 as *mut u64;
        // SAFETY: this write is meant to fault; the page-fault handler never returns here.
        unsafe { unmapped.write_volatile(0xdead) };
        unreachable!("write to unmapped address {unmapped:p} did not fault")
    }
}
