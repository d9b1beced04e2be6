//! The exception vector table (VBAR_EL1) and what each exception does.
//!
//! Kernel and app code run on SP_EL0; every exception is taken on SP_EL1, a separate stack
//! with its own guard page. A stack overflow into a guard page therefore still gets a working
//! stack for its report, and the app stack's guard fault can become a wasm trap.

use super::{gic, power, timer, virtio};
use crate::esr::{self, Syndrome};
use core::arch::global_asm;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set once a fault is being reported; every fault ends the machine, so it is never cleared.
static HANDLING_FAULT: AtomicBool = AtomicBool::new(false);

/// Saved state: x0..x30, SP_EL0, ELR, SPSR, then q0..q31.
#[repr(C)]
pub struct Frame {
    pub x: [u64; 31],
    pub sp_el0: u64,
    pub elr: u64,
    pub spsr: u64,
    pub q: [u128; 32],
}

const FRAME_SIZE: usize = core::mem::size_of::<Frame>();
const _: () = assert!(FRAME_SIZE == 17 * 16 + 32 * 16);

global_asm!(
    r#"
.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #16 * 0]
    mov     x0, #\kind
    b       mewz_exception_entry
.endm

// From code already on the exception stack: make sure the frame still fits above its guard
// page (a fault there would re-enter this vector forever). TPIDR_EL1 and TPIDRRO_EL0 are free
// scratch registers in this kernel.
.macro VECTOR_SPX kind
    .balign 0x80
    msr     tpidr_el1, x0
    msr     tpidrro_el0, x1
    mov     x0, sp
    sub     x0, x0, #{frame}
    adrp    x1, __exception_stack_bottom
    add     x1, x1, :lo12:__exception_stack_bottom
    cmp     x0, x1
    mrs     x1, tpidrro_el0
    mrs     x0, tpidr_el1
    b.lo    mewz_exception_stack_overflow
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #16 * 0]
    mov     x0, #\kind
    b       mewz_exception_entry
.endm

    .section .text.mewz_vectors, "ax"
    .balign 0x800
    .global mewz_exception_vectors
mewz_exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR_SPX 4
    VECTOR_SPX 5
    VECTOR_SPX 6
    VECTOR_SPX 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

mewz_exception_stack_overflow:
    // Start the exception stack afresh: the nested state below is lost, and we only report.
    adrp    x0, __exception_stack_top
    add     x0, x0, :lo12:__exception_stack_top
    mov     sp, x0
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #16 * 0]
    mov     x0, #{overflow}
    b       mewz_exception_entry

mewz_exception_entry:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x1, sp_el0
    stp     x30, x1, [sp, #16 * 15]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #16 * 16]
    add     x1, sp, #16 * 17
    stp     q0, q1, [x1, #32 * 0]
    stp     q2, q3, [x1, #32 * 1]
    stp     q4, q5, [x1, #32 * 2]
    stp     q6, q7, [x1, #32 * 3]
    stp     q8, q9, [x1, #32 * 4]
    stp     q10, q11, [x1, #32 * 5]
    stp     q12, q13, [x1, #32 * 6]
    stp     q14, q15, [x1, #32 * 7]
    stp     q16, q17, [x1, #32 * 8]
    stp     q18, q19, [x1, #32 * 9]
    stp     q20, q21, [x1, #32 * 10]
    stp     q22, q23, [x1, #32 * 11]
    stp     q24, q25, [x1, #32 * 12]
    stp     q26, q27, [x1, #32 * 13]
    stp     q28, q29, [x1, #32 * 14]
    stp     q30, q31, [x1, #32 * 15]
    mov     x1, x0
    mov     x0, sp
    bl      mewz_exception_dispatch

    add     x1, sp, #16 * 17
    ldp     q0, q1, [x1, #32 * 0]
    ldp     q2, q3, [x1, #32 * 1]
    ldp     q4, q5, [x1, #32 * 2]
    ldp     q6, q7, [x1, #32 * 3]
    ldp     q8, q9, [x1, #32 * 4]
    ldp     q10, q11, [x1, #32 * 5]
    ldp     q12, q13, [x1, #32 * 6]
    ldp     q14, q15, [x1, #32 * 7]
    ldp     q16, q17, [x1, #32 * 8]
    ldp     q18, q19, [x1, #32 * 9]
    ldp     q20, q21, [x1, #32 * 10]
    ldp     q22, q23, [x1, #32 * 11]
    ldp     q24, q25, [x1, #32 * 12]
    ldp     q26, q27, [x1, #32 * 13]
    ldp     q28, q29, [x1, #32 * 14]
    ldp     q30, q31, [x1, #32 * 15]
    ldp     x1, x2, [sp, #16 * 16]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x30, x1, [sp, #16 * 15]
    msr     sp_el0, x1
    ldp     x28, x29, [sp, #16 * 14]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x0, x1, [sp, #16 * 0]
    add     sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
    overflow = const EXCEPTION_STACK_OVERFLOW,
);

/// Pseudo vector number for "the exception stack itself overflowed".
const EXCEPTION_STACK_OVERFLOW: usize = 16;

/// Which vector: origin (current EL on SP0 / current EL on SPx / lower EL AArch64 / AArch32)
/// times kind (synchronous, IRQ, FIQ, SError).
const ORIGINS: [&str; 4] = [
    "EL1 on SP_EL0",
    "EL1 on SP_EL1 (exception stack)",
    "EL0 (AArch64)",
    "EL0 (AArch32)",
];
const KINDS: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];

/// The register dump printed for kernel faults.
struct Report<'a> {
    frame: &'a Frame,
    vector: usize,
    esr: u64,
    far: u64,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(
            f,
            "cpu exception: {} from {}",
            KINDS[r.vector % 4],
            ORIGINS[r.vector / 4]
        )?;
        writeln!(f, "  {}", Syndrome(r.esr))?;
        writeln!(
            f,
            "  ELR {:#018x}  FAR {:#018x}  SPSR {:#010x}",
            r.frame.elr, r.far, r.frame.spsr
        )?;
        if esr::is_abort(esr::exception_class(r.esr)) {
            writeln!(f, "  FAR is {}", describe_address(r.far))?;
        }
        // SPSR.M[0] says which stack the interrupted code used.
        let sp = if r.frame.spsr & 1 == 0 {
            r.frame.sp_el0
        } else {
            r.frame as *const Frame as u64 + FRAME_SIZE as u64
        };
        for (i, pair) in r.frame.x.chunks(4).enumerate() {
            f.write_str(" ")?;
            for (j, v) in pair.iter().enumerate() {
                write!(f, " x{:<2} {:#018x}", i * 4 + j, v)?;
            }
            if i * 4 + pair.len() == 31 {
                write!(f, " sp  {sp:#018x}")?;
            }
            f.write_str("\n")?;
        }
        Ok(())
    }
}

/// What a fault address belongs to, to tell stack overflows and stray pointers apart.
fn describe_address(addr: u64) -> &'static str {
    use super::paging::layout;
    let page = crate::mmu::PAGE_SIZE as u64;
    let in_page = |start: u64| (start..start + page).contains(&addr);
    if addr < page {
        "in the null page"
    } else if in_page(layout::boot_stack_guard()) {
        "in the guard page below the kernel stack (where a kernel stack overflow lands)"
    } else if in_page(layout::exception_stack_guard()) {
        "in the guard page below the exception stack"
    } else if (layout::kernel_start()..layout::text_end()).contains(&addr) {
        "in kernel text"
    } else if (layout::text_end()..layout::rodata_end()).contains(&addr) {
        "in kernel read-only data"
    } else if (layout::kernel_start()..layout::kernel_end()).contains(&addr) {
        "in kernel data"
    } else if addr >= mewz_abi::memory::UNIKERNEL_MEMORY_BASE {
        "in the app's reserved address space"
    } else {
        "outside the kernel image"
    }
}

fn syndrome_registers() -> (u64, u64) {
    use aarch64_cpu::registers::{ESR_EL1, FAR_EL1};
    use tock_registers::interfaces::Readable;
    (ESR_EL1.get(), FAR_EL1.get())
}

#[unsafe(no_mangle)]
extern "C" fn mewz_exception_dispatch(frame: &mut Frame, vector: usize) {
    if vector == EXCEPTION_STACK_OVERFLOW {
        mewz_kernel::kprintln!(
            "cpu exception: the exception stack overflowed (nested exceptions), ELR {:#018x}",
            frame.elr
        );
        mewz_kernel::kprintln!("kernel fault: unhandled cpu exception");
        power::exit(mewz_abi::ExitCode::CPU_EXCEPTION.0)
    }
    match vector % 4 {
        1 => return handle_irq(),
        0 => {
            let (esr, far) = syndrome_registers();
            // A first touch of a page backed on demand: mapped, the access is retried.
            if esr::is_translation_fault(esr) && mewz_kernel::fault::map_on_touch(far as usize) {
                return;
            }
            // QEMU without `-semihosting`: the semihosting `hlt` is an undefined instruction.
            // Skip it; the call then reports failure and the caller falls back to PSCI.
            if frame.elr == power::semihosting_trap_address()
                && esr::exception_class(esr) == esr::EC_UNKNOWN
            {
                power::note_semihosting_unavailable();
                frame.x[0] = u64::MAX;
                frame.elr += 4;
                return;
            }
        }
        _ => {}
    }
    // A fault while reporting a fault: printing is what failed, so just stop.
    if HANDLING_FAULT.swap(true, Ordering::Relaxed) {
        power::exit(mewz_abi::ExitCode::CPU_EXCEPTION.0)
    }
    let (esr, far) = syndrome_registers();
    let sync = vector.is_multiple_of(4);
    let report = Report {
        frame,
        vector,
        esr: if sync { esr } else { 0 },
        far: if sync { far } else { 0 },
    };
    let fault_addr = (sync && esr::is_abort(esr::exception_class(esr))).then_some(far as usize);
    mewz_kernel::fault::cpu_exception(fault_addr, &report)
}

fn handle_irq() {
    // One interrupt per entry: a line still asserted simply brings us back.
    if let Some(intid) = gic::acknowledge() {
        if Some(intid) == super::platform::timer_intid() {
            timer::on_interrupt();
        } else {
            virtio::on_interrupt(intid);
        }
        gic::end_of_interrupt(intid);
    }
}
