//! The IDT and the assembly entry stubs. Exceptions 0–31 all enter one common stub that saves
//! every general register and calls `exceptions::x86_64_exception` with the frame, which returns
//! only when the faulting instruction is to be retried (a page mapped on touch); the LAPIC
//! timer and the devices' message-signalled interrupts have stubs that save the caller-saved
//! registers and return with `iretq`.

use super::gdt::{self, InterruptStack};
use core::arch::global_asm;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;

/// Vector of the LAPIC timer.
pub const TIMER_VECTOR: u8 = 0x30;
/// LAPIC spurious-interrupt vector (low 4 bits all ones, as old APICs require).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Where the (masked) 8259 PICs would deliver, should one ever raise a spurious IRQ 7 or 15.
pub const PIC_VECTORS: core::ops::Range<u8> = 0x20..0x30;
/// One vector per device interrupting by message (MSI-X), in discovery order.
pub const DEVICE_VECTORS: core::ops::Range<u8> = 0x40..0x50;

global_asm!(
    r#"
    .pushsection .text.exception_stubs, "ax"
    .macro exception_stub vector, has_error
    .balign 16
exception_stub_\vector:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vector
    jmp exception_common
    .endm

    exception_stub 0, 0
    exception_stub 1, 0
    exception_stub 2, 0
    exception_stub 3, 0
    exception_stub 4, 0
    exception_stub 5, 0
    exception_stub 6, 0
    exception_stub 7, 0
    exception_stub 8, 1
    exception_stub 9, 0
    exception_stub 10, 1
    exception_stub 11, 1
    exception_stub 12, 1
    exception_stub 13, 1
    exception_stub 14, 1
    exception_stub 15, 0
    exception_stub 16, 0
    exception_stub 17, 1
    exception_stub 18, 0
    exception_stub 19, 0
    exception_stub 20, 0
    exception_stub 21, 1
    exception_stub 22, 0
    exception_stub 23, 0
    exception_stub 24, 0
    exception_stub 25, 0
    exception_stub 26, 0
    exception_stub 27, 0
    exception_stub 28, 0
    exception_stub 29, 1
    exception_stub 30, 1
    exception_stub 31, 0

exception_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    cld
    call x86_64_exception
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp               /* the vector and the error code */
    iretq

    .global x86_64_timer_stub
x86_64_timer_stub:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    cld
    call x86_64_timer_interrupt
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    iretq

    .global x86_64_ignore_stub
x86_64_ignore_stub:
    iretq

    /* Device interrupts: the stub of vector 0x40 + i calls x86_64_device_interrupt(i). */
    .macro device_stub index
    .balign 16
device_stub_\index:
    push %rdi
    mov $\index, %edi
    jmp device_common
    .endm
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    device_stub \n
    .endr

device_common:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %r8
    push %r9
    push %r10
    push %r11
    cld
    call x86_64_device_interrupt
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    pop %rdi
    iretq
    .popsection

    .pushsection .rodata.device_stub_table, "a"
    .balign 8
    .global x86_64_device_stubs
x86_64_device_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .quad device_stub_\n
    .endr
    .popsection

    .pushsection .rodata.exception_stub_table, "a"
    .balign 8
    .global x86_64_exception_stubs
x86_64_exception_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exception_stub_\n
    .endr
    .popsection
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static x86_64_exception_stubs: [u64; 32];
    static x86_64_device_stubs: [u64; DEVICE_VECTORS.end as usize - DEVICE_VECTORS.start as usize];
    fn x86_64_timer_stub();
    fn x86_64_ignore_stub();
}

/// One 64-bit interrupt gate.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// Present, DPL 0, 64-bit interrupt gate (interrupts stay off in handlers).
const INTERRUPT_GATE: u8 = 0x8e;

impl Gate {
    fn new(handler: u64, stack: Option<InterruptStack>) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: gdt::kernel_code_selector(),
            ist: stack.map_or(0, |s| s as u8),
            type_attributes: INTERRUPT_GATE,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: Once<Idt> = Once::new();

fn exception_stack(vector: usize) -> Option<InterruptStack> {
    match vector {
        2 | 18 => Some(InterruptStack::Nmi),
        8 => Some(InterruptStack::DoubleFault),
        14 => Some(InterruptStack::PageFault),
        _ => None,
    }
}

pub fn init() {
    let idt = IDT.call_once(|| {
        let mut gates = [Gate::default(); 256];
        // SAFETY: the table is 32 addresses defined in the asm above, immutable.
        let stubs = unsafe { &x86_64_exception_stubs };
        for (vector, &stub) in stubs.iter().enumerate() {
            gates[vector] = Gate::new(stub, exception_stack(vector));
        }
        let ignore = x86_64_ignore_stub as *const () as u64;
        for v in PIC_VECTORS {
            gates[v as usize] = Gate::new(ignore, Some(InterruptStack::Irq));
        }
        gates[SPURIOUS_VECTOR as usize] = Gate::new(ignore, Some(InterruptStack::Irq));
        // SAFETY: as above, one address per device vector.
        let device_stubs = unsafe { &x86_64_device_stubs };
        for (vector, &stub) in DEVICE_VECTORS.zip(device_stubs) {
            gates[vector as usize] = Gate::new(stub, Some(InterruptStack::Irq));
        }
        gates[TIMER_VECTOR as usize] = Gate::new(
            x86_64_timer_stub as *const () as u64,
            Some(InterruptStack::Irq),
        );
        Idt(gates)
    });
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: VirtAddr::new(idt as *const Idt as u64),
    };
    // SAFETY: the IDT is static and every present gate points at a stub defined above.
    unsafe { lidt(&pointer) };
}
