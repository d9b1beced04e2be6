//! The Generic Interrupt Controller, v2 (memory-mapped CPU interface) or v3 (system-register
//! CPU interface + redistributors), just enough for one CPU: per-CPU interrupts (the timer) and
//! shared peripheral interrupts routed to it (virtio devices).

use crate::machine::Gic;
use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};
use spin::Once;

// Distributor (both versions).
const GICD_CTLR: usize = 0x000;
const GICD_TYPER: usize = 0x004;
const GICD_IGROUPR: usize = 0x080;
const GICD_ISENABLER: usize = 0x100;
const GICD_ICENABLER: usize = 0x180;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_ICFGR: usize = 0xc00;
const GICD_IROUTER: usize = 0x6000;
/// Shared peripheral interrupts: IDs 32..1020.
const SPI_FIRST: u32 = 32;
// GICv2 CPU interface.
const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_BPR: usize = 0x08;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;
// GICv3 redistributor: RD frame, then the SGI/PPI frame 64 KiB above it.
const GICR_TYPER: usize = 0x08;
const GICR_WAKER: usize = 0x14;
const GICR_SGI_FRAME: usize = 0x1_0000;
const GICR_IGROUPR0: usize = 0x080;
const GICR_ISENABLER0: usize = 0x100;
const GICR_IPRIORITYR: usize = 0x400;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_TYPER_VLPIS: u64 = 1 << 1;

/// Priority given to every interrupt we enable; the mask lets all of them through.
const PRIORITY: u8 = 0x80;
const PRIORITY_MASK: u32 = 0xf0;
/// Interrupt IDs 1020..=1023 are special (spurious).
const SPURIOUS_FROM: u32 = 1020;

#[derive(Clone, Copy, Debug)]
enum Driver {
    V2 { gicd: usize, gicc: usize },
    V3 { gicd: usize, sgi: usize },
}

static DRIVER: Once<Driver> = Once::new();

fn read32(addr: usize) -> u32 {
    // SAFETY: `addr` is a register of a GIC frame mapped as Device memory.
    unsafe { read_volatile(addr as *const u32) }
}
fn write32(addr: usize, v: u32) {
    // SAFETY: as in `read32`.
    unsafe { write_volatile(addr as *mut u32, v) }
}
fn write8(addr: usize, v: u8) {
    // SAFETY: as in `read32`; GIC priority registers are byte accessible.
    unsafe { write_volatile(addr as *mut u8, v) }
}
fn read64(addr: usize) -> u64 {
    // SAFETY: as in `read32`.
    unsafe { read_volatile(addr as *const u64) }
}
fn write64(addr: usize, v: u64) {
    // SAFETY: as in `read32`; GICD_IROUTER registers are 64 bits wide.
    unsafe { write_volatile(addr as *mut u64, v) }
}
fn read8(addr: usize) -> u8 {
    // SAFETY: as in `read32`; GICD_ITARGETSR registers are byte accessible.
    unsafe { read_volatile(addr as *const u8) }
}

/// This CPU's affinity (Aff3.Aff2.Aff1.Aff0), as GICv3 routing registers take it.
fn affinity() -> u64 {
    let mpidr: u64;
    // SAFETY: reading this CPU's affinity register.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    (mpidr & 0xff_ffff) | ((mpidr >> 32 & 0xff) << 32)
}

/// This CPU's redistributor: the frame whose GICR_TYPER affinity matches MPIDR_EL1.
fn find_redistributor(base: usize, len: usize) -> Option<usize> {
    let mpidr: u64;
    // SAFETY: reading this CPU's affinity register.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32 & 0xff) << 24);
    let mut frame = base;
    while frame + 2 * GICR_SGI_FRAME <= base + len {
        let typer = read64(frame + GICR_TYPER);
        if typer >> 32 == affinity {
            return Some(frame);
        }
        if typer & GICR_TYPER_LAST != 0 {
            return None;
        }
        frame += if typer & GICR_TYPER_VLPIS != 0 { 4 } else { 2 } * GICR_SGI_FRAME;
    }
    None
}

/// Initialises the distributor and this CPU's interface. Returns a description for the log.
pub fn init(gic: Gic) -> Result<&'static str, &'static str> {
    match gic {
        Gic::V2 {
            distributor,
            cpu_interface,
        } => {
            let (gicd, gicc) = (distributor.start as usize, cpu_interface.start as usize);
            write32(gicd + GICD_CTLR, 0);
            write32(gicc + GICC_PMR, PRIORITY_MASK);
            write32(gicc + GICC_BPR, 0);
            write32(gicc + GICC_CTLR, 1);
            write32(gicd + GICD_CTLR, 1);
            DRIVER.call_once(|| Driver::V2 { gicd, gicc });
            Ok("GICv2")
        }
        Gic::V3 {
            distributor,
            redistributors,
        } => {
            let gicd = distributor.start as usize;
            let rd =
                find_redistributor(redistributors.start as usize, redistributors.len() as usize)
                    .ok_or("no GICv3 redistributor for this CPU")?;
            // Affinity routing, both groups (a single security state, as QEMU and EL1 see it).
            write32(gicd + GICD_CTLR, 1 << 4);
            while read32(gicd + GICD_CTLR) & (1 << 31) != 0 {}
            write32(gicd + GICD_CTLR, (1 << 4) | 0b11);
            // Wake the redistributor.
            write32(rd + GICR_WAKER, read32(rd + GICR_WAKER) & !(1 << 1));
            while read32(rd + GICR_WAKER) & (1 << 2) != 0 {}
            // SAFETY: enabling the system-register CPU interface (ICC_SRE_EL1.SRE), opening the
            // priority mask and enabling group 1 interrupts for this CPU.
            unsafe {
                asm!(
                    "mrs {t}, s3_0_c12_c12_5",
                    "orr {t}, {t}, #1",
                    "msr s3_0_c12_c12_5, {t}",
                    "isb",
                    "msr s3_0_c4_c6_0, {pmr}",
                    "msr s3_0_c12_c12_3, xzr",
                    "mov {t}, #1",
                    "msr s3_0_c12_c12_7, {t}",
                    "isb",
                    t = out(reg) _,
                    pmr = in(reg) PRIORITY_MASK as u64,
                    options(nostack),
                )
            };
            DRIVER.call_once(|| Driver::V3 {
                gicd,
                sgi: rd + GICR_SGI_FRAME,
            });
            Ok("GICv3")
        }
    }
}

/// Number of interrupt lines the distributor implements (for the log).
pub fn lines() -> u32 {
    match DRIVER.get() {
        Some(Driver::V2 { gicd, .. } | Driver::V3 { gicd, .. }) => {
            32 * ((read32(gicd + GICD_TYPER) & 0x1f) + 1)
        }
        None => 0,
    }
}

/// Enables a private (PPI, intid 16..32) interrupt for this CPU.
pub fn enable_ppi(intid: u32) {
    debug_assert!((16..32).contains(&intid));
    match DRIVER.get() {
        Some(Driver::V2 { gicd, .. }) => {
            write8(gicd + GICD_IPRIORITYR + intid as usize, PRIORITY);
            write32(gicd + GICD_ISENABLER, 1 << intid);
        }
        Some(Driver::V3 { sgi, .. }) => {
            write32(
                sgi + GICR_IGROUPR0,
                read32(sgi + GICR_IGROUPR0) | (1 << intid),
            );
            write8(sgi + GICR_IPRIORITYR + intid as usize, PRIORITY);
            write32(sgi + GICR_ISENABLER0, 1 << intid);
        }
        None => {}
    }
}

/// Routes a shared peripheral interrupt to this CPU, edge- or level-triggered, and enables it.
pub fn enable_spi(intid: u32, edge: bool) -> Result<(), &'static str> {
    let Some(&driver) = DRIVER.get() else {
        return Err("no interrupt controller");
    };
    if intid < SPI_FIRST || intid >= lines().min(SPURIOUS_FROM) {
        return Err("not a shared peripheral interrupt of this controller");
    }
    let (gicd, n) = match driver {
        Driver::V2 { gicd, .. } | Driver::V3 { gicd, .. } => (gicd, intid as usize),
    };
    let word = 4 * (n / 32);
    let bit = 1 << (n % 32);
    let config = gicd + GICD_ICFGR + 4 * (n / 16);
    let edge_bit = 1 << (2 * (n % 16) + 1);
    write32(
        config,
        if edge {
            read32(config) | edge_bit
        } else {
            read32(config) & !edge_bit
        },
    );
    write8(gicd + GICD_IPRIORITYR + n, PRIORITY);
    match driver {
        Driver::V2 { .. } => {
            // The target register of an SGI reads back this CPU's own interface bit.
            let this_cpu = (0..32)
                .map(|i| read8(gicd + GICD_ITARGETSR + i))
                .find(|&m| m != 0);
            write8(gicd + GICD_ITARGETSR + n, this_cpu.unwrap_or(1));
        }
        Driver::V3 { .. } => {
            write32(
                gicd + GICD_IGROUPR + word,
                read32(gicd + GICD_IGROUPR + word) | bit,
            );
            write64(gicd + GICD_IROUTER + 8 * n, affinity());
        }
    }
    write32(gicd + GICD_ISENABLER + word, bit);
    Ok(())
}

/// Stops a shared peripheral interrupt from being signalled (it can still become pending).
pub fn mask_spi(intid: u32) {
    if let Some(Driver::V2 { gicd, .. } | Driver::V3 { gicd, .. }) = DRIVER.get() {
        write32(
            gicd + GICD_ICENABLER + 4 * (intid as usize / 32),
            1 << (intid % 32),
        );
    }
}

/// Lets a masked shared peripheral interrupt be signalled again.
pub fn unmask_spi(intid: u32) {
    if let Some(Driver::V2 { gicd, .. } | Driver::V3 { gicd, .. }) = DRIVER.get() {
        write32(
            gicd + GICD_ISENABLER + 4 * (intid as usize / 32),
            1 << (intid % 32),
        );
    }
}

/// Acknowledges the highest-priority pending interrupt: its ID, or `None` if spurious.
pub fn acknowledge() -> Option<u32> {
    let id = match DRIVER.get()? {
        Driver::V2 { gicc, .. } => read32(gicc + GICC_IAR) & 0x3ff,
        Driver::V3 { .. } => {
            let v: u64;
            // SAFETY: ICC_IAR1_EL1 read acknowledges the interrupt.
            unsafe { asm!("mrs {}, s3_0_c12_c12_0", out(reg) v, options(nostack)) };
            v as u32 & 0xff_ffff
        }
    };
    (id < SPURIOUS_FROM).then_some(id)
}

/// Signals the end of handling `intid`.
pub fn end_of_interrupt(intid: u32) {
    match DRIVER.get() {
        Some(Driver::V2 { gicc, .. }) => write32(gicc + GICC_EOIR, intid),
        Some(Driver::V3 { .. }) => {
            // SAFETY: ICC_EOIR1_EL1 write drops the running priority for `intid`.
            unsafe { asm!("msr s3_0_c12_c12_1, {}", "isb", in(reg) intid as u64, options(nostack)) }
        }
        None => {}
    }
}
