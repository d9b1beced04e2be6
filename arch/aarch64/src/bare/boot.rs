//! Entry from the boot loader: the `Image` header, EL2 → EL1, FP/SIMD, stacks, the early
//! identity map, then the real page tables and `mewz_kernel::boot::main`.

use super::{paging, platform, power};
use crate::image_header;
use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    // Image header: code0/code1, text_offset, image_size, flags, res2-4, magic, res5.
    b       1f
    .word   0
    .quad   {text_offset}
    .quad   __kernel_image_size
    .quad   {flags}
    .quad   0, 0, 0
    .word   {magic}
    .word   0

1:  mov     x19, x0                     // the device tree's physical address
    mrs     x9, CurrentEL
    ubfx    x9, x9, #2, #2
    mov     x20, x9                     // the EL we were entered at, for the log
    cmp     x9, #2
    b.ne    2f

    // Entered at EL2 (e.g. `virtualization=on`): run EL1 in AArch64, give it the timers and
    // the GICv3 system registers, then drop to EL1h with every exception masked.
    mov     x9, #(1 << 31)              // HCR_EL2.RW
    msr     hcr_el2, x9
    mrs     x9, cnthctl_el2
    orr     x9, x9, #3                  // EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #0x33ff                 // CPTR_EL2: RES1 bits, no FP/SIMD trap
    msr     cptr_el2, x9
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #24, #4             // GIC system register interface?
    cbz     x9, 3f
    mrs     x9, s3_4_c12_c9_5           // ICC_SRE_EL2
    mov     x10, #0x9                   // SRE | Enable (EL1 may use ICC_SRE_EL1)
    orr     x9, x9, x10
    msr     s3_4_c12_c9_5, x9
    isb
3:  mov     x9, #0x0800                 // SCTLR_EL1 RES1 bits only: MMU and caches off
    movk    x9, #0x30d0, lsl #16
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                  // SPSR: EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, 2f
    msr     elr_el2, x9
    eret

2:  msr     daifset, #0xf
    mov     x9, #(3 << 20)              // CPACR_EL1.FPEN: no FP/SIMD trap
    msr     cpacr_el1, x9
    isb

    // The image is linked at 0 as a position-independent executable: apply its
    // R_AARCH64_RELATIVE relocations for wherever the loader put it (the MMU is off, so
    // addresses are physical, and the entries and targets are 8-byte aligned).
    adr     x9, _start                  // load base = link base + x9
    adrp    x10, __rela_start
    add     x10, x10, :lo12:__rela_start
    adrp    x11, __rela_end
    add     x11, x11, :lo12:__rela_end
8:  cmp     x10, x11
    b.hs    9f
    ldp     x12, x13, [x10], #16        // r_offset, r_info
    ldr     x14, [x10], #8              // r_addend
    cmp     x13, #1027                  // R_AARCH64_RELATIVE, no symbol
    b.ne    unsupported_relocation
    add     x14, x14, x9
    str     x14, [x12, x9]
    b       8b
9:
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
4:  cmp     x9, x10
    b.hs    5f
    stp     xzr, xzr, [x9], #16
    b       4b

    // Exceptions run on SP_EL1 (their own stack), everything else on SP_EL0, so that a stack
    // overflow into a guard page still has a working stack to report it on.
5:  msr     spsel, #1
    adrp    x9, __exception_stack_top
    add     x9, x9, :lo12:__exception_stack_top
    mov     sp, x9
    msr     spsel, #0
    adrp    x9, __boot_stack_top
    add     x9, x9, :lo12:__boot_stack_top
    mov     sp, x9
    adrp    x9, mewz_exception_vectors
    add     x9, x9, :lo12:mewz_exception_vectors
    msr     vbar_el1, x9
    isb
    mov     x0, x19
    mov     x1, x20
    bl      mewz_aarch64_early_main
6:  wfe
    b       6b

unsupported_relocation:
    // Absolute pointers cannot be trusted now: say so via semihosting, then park.
    mov     x0, #4                      // SYS_WRITE0
    adr     x1, 7f
    hlt     #0xf000
    b       6b
7:  .asciz  "mewz: the image has a relocation other than R_AARCH64_RELATIVE; cannot boot\n"
    .balign 4
"#,
    text_offset = const image_header::TEXT_OFFSET,
    flags = const image_header::FLAGS,
    magic = const image_header::MAGIC,
);

/// First Rust code, on the boot stack with the MMU still off.
#[unsafe(no_mangle)]
extern "C" fn mewz_aarch64_early_main(dtb: usize, entry_el: u64) -> ! {
    // SAFETY: called once, MMU off, from the boot path above.
    unsafe { paging::enable_boot_map(dtb) };
    // Installed before the device tree is read so that a panic or fault this early is still
    // reported (through semihosting) and still exits.
    mewz_kernel::platform::install(&platform::PLATFORM);
    let machine = match platform::discover(dtb) {
        Ok(m) => m,
        Err(why) => power::early_fatal(why),
    };
    paging::init_kernel_map(&machine);
    platform::install(machine, entry_el)
}
