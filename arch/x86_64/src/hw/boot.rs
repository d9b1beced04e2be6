//! PVH entry: the ELF note that tells the loader where to start, the 32-bit entry code that
//! reaches long mode, and the Rust boot sequence that ends in `mewz_kernel::boot::main`.

use super::{clock, cpu, gdt, idt, lapic, paging, pci, pic, platform, rtc, serial};
use crate::memory_layout::{PAGE_SIZE, Range, RangeSet, align_up};
use crate::pvh::{self, MEMMAP_ENTRY_SIZE, MODLIST_ENTRY_SIZE, START_INFO_SIZE};
use core::arch::global_asm;

/// Boot stack size; the app runs on its own stack (WASI calls included), so this only holds
/// the boot flow's frames: 54 KiB at the deepest when measured (device and network start-up,
/// every self-check), 8 KiB before the virtio console and the network came. Part of the image:
/// each 4 KiB of it is a page of RAM.
const BOOT_STACK_SIZE: usize = 128 * 1024;

// The loader enters `_pvh_start` in 32-bit protected mode, paging off, `ebx` = physical address
// of `hvm_start_info`. We clear .bss, identity-map the first 4 GiB with 2 MiB pages (enough to
// reach the kernel, the start info and the LAPIC until Rust builds the real tables), enable
// long mode and call `x86_64_boot(start_info)` on the boot stack.
global_asm!(
    r#"
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4                     /* name size: "Xen\0" */
    .long 8                     /* descriptor size */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad _pvh_start
    .balign 4
    .popsection

    .pushsection .text.boot, "ax"
    .code32
    .global _pvh_start
_pvh_start:
    cli
    cld
    mov %ebx, %esi

    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4

    mov $boot_pdpt, %edi
    mov $boot_pd, %eax
    or $0x3, %eax
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $0x1000, %eax
    add $8, %edi
    loop 1b

    mov $boot_pd, %edi
    mov $0x83, %eax             /* present, writable, 2 MiB page */
    mov $2048, %ecx
2:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 2b
    /* The upper dwords of entries 1536..2047 (3..4 GiB) stay 0: addresses are below 4 GiB. */

    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx       /* EFER */
    rdmsr
    or $0x100, %eax             /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* PG | PE */
    mov %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov $__boot_stack_top, %rsp
    mov %esi, %edi
    call x86_64_boot
    ud2
    .popsection

    .pushsection .rodata.boot_gdt, "a"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
boot_gdt_pointer:
    .word boot_gdt_pointer - boot_gdt - 1
    .long boot_gdt
    .popsection

    .pushsection .bss.boot_tables, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
    .popsection

    .pushsection .bss.boot_stack, "aw", @nobits
    .balign 4096
    .global __boot_stack_guard
__boot_stack_guard:
    .skip 4096
__boot_stack_bottom:
    .skip {stack_size}
    .global __boot_stack_top
__boot_stack_top:
    .popsection
"#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);

/// The most E820 entries we copy; QEMU gives fewer than 10.
const MAX_MEMMAP_ENTRIES: usize = 128;
/// The first page holds the real-mode interrupt table and BIOS data, and physical address 0 is
/// better never handed out. The rest of the low 640 KiB is RAM like any other where the memory
/// map says so (the loader's own structures are reserved one by one below): a sixteenth of an
/// 8 MiB machine.
const FIRST_PAGE_END: u64 = 0x1000;
/// A command line longer than this is a loader bug, not something to copy.
const MAX_CMDLINE: usize = 1 << 20;

/// What the PVH loader told us, copied out of the loader's memory.
pub struct BootInfo {
    /// Usable RAM.
    pub ram: RangeSet,
    /// RAM the kernel may hand to its heap (RAM minus everything boot uses).
    pub free: RangeSet,
    /// Our copy of the loader's command line (physical, in RAM the heap does not get).
    pub cmdline: Range,
    /// The first boot module (physical, in RAM the heap does not get), if any.
    pub module: Option<Range>,
}

/// Rust entry from the 32-bit stub: 64-bit mode, identity-mapped low 4 GiB, interrupts off.
#[unsafe(no_mangle)]
extern "C" fn x86_64_boot(start_info_paddr: u32) -> ! {
    clock::mark_entry();
    serial::init();
    // Install the platform at once so that panics and faults from here on are reported and
    // exit with a status instead of hanging.
    mewz_kernel::platform::install(&platform::PLATFORM);
    // Exception handlers before anything that could fault, so a fault is reported.
    gdt::init();
    idt::init();
    cpu::init();
    pic::disable();

    let mut boot = match read_boot_info(start_info_paddr as u64) {
        Ok(b) => b,
        Err(why) => panic!("PVH boot: {why}"),
    };
    paging::init(&mut boot, &[lapic::phys_base()]);
    lapic::enable();
    clock::init();
    rtc::init();
    platform::set_boot_state(&boot);
    pci::set_ram_top_below_4g(
        boot.ram
            .as_slice()
            .iter()
            .filter(|r| r.start < paging::BOOT_IDENTITY_END)
            .map(|r| r.end.min(paging::BOOT_IDENTITY_END))
            .max()
            .unwrap_or(0),
    );
    mewz_kernel::boot::main(&platform::PLATFORM)
}

/// `len` bytes the loader left at `paddr`, if they lie inside the boot identity map.
fn loader_bytes(paddr: u64, len: usize) -> Result<&'static [u8], &'static str> {
    let end = paddr
        .checked_add(len as u64)
        .ok_or("boot structure wraps around")?;
    if paddr == 0 || end > paging::BOOT_IDENTITY_END {
        return Err("boot structure outside the first 4 GiB");
    }
    // SAFETY: the range is identity mapped by the loader-time tables, and the loader's
    // structures are not written by anyone while we read them.
    Ok(unsafe { core::slice::from_raw_parts(paddr as *const u8, len) })
}

/// Reads `hvm_start_info`, its memory map and command line through the boot identity map.
fn read_boot_info(paddr: u64) -> Result<BootInfo, &'static str> {
    let raw = loader_bytes(paddr, START_INFO_SIZE).map_err(|_| "no hvm_start_info in ebx")?;
    let info = pvh::parse_start_info(raw.try_into().unwrap()).map_err(|e| {
        mewz_kernel::kprintln!("mewz: {e}");
        "invalid hvm_start_info"
    })?;
    let entries = info.memmap_entries as usize;
    if entries > MAX_MEMMAP_ENTRIES {
        return Err("memory map has too many entries");
    }
    let memmap = loader_bytes(info.memmap_paddr, entries * MEMMAP_ENTRY_SIZE)?;
    let mut ram = RangeSet::new();
    for raw_entry in memmap.chunks_exact(MEMMAP_ENTRY_SIZE) {
        let e = pvh::parse_memmap_entry(raw_entry.try_into().unwrap());
        if e.is_ram() {
            let r = Range::new(e.addr, e.addr.saturating_add(e.size));
            ram.insert(r).map_err(|_| "memory map too fragmented")?;
        }
    }
    let cmdline = if info.cmdline_paddr == 0 {
        Range::new(0, 0)
    } else {
        let start = info.cmdline_paddr;
        let room = paging::BOOT_IDENTITY_END
            .saturating_sub(start)
            .min(MAX_CMDLINE as u64);
        let len = loader_bytes(start, room as usize)?
            .iter()
            .position(|&b| b == 0)
            .ok_or("command line is not NUL-terminated within 1 MiB")?;
        Range::new(start, start + len as u64)
    };

    // `mewz run` maps large archives as RAM of their own and says where; else a PVH module.
    let text = if cmdline.is_empty() {
        ""
    } else {
        core::str::from_utf8(loader_bytes(cmdline.start, cmdline.len() as usize)?).unwrap_or("")
    };
    let module = match mewz_kernel::cmdline::files_at(text) {
        Some((addr, len)) => Some(Range::new(
            addr,
            addr.checked_add(len).ok_or("mewz.files-at wraps around")?,
        )),
        None => boot_module(&info)?,
    };
    if let Some(m) = module
        && !ram
            .as_slice()
            .iter()
            .any(|r| r.start <= m.start && m.end <= r.end)
    {
        return Err("the boot module is not in RAM");
    }
    let mut free = ram;
    free.shrink_to_pages();
    for r in module.iter().chain(&[Range::new(
        info.modlist_paddr,
        info.modlist_paddr + u64::from(info.nr_modules.min(1)) * MODLIST_ENTRY_SIZE as u64,
    )]) {
        free.remove(r.grow_to_pages())
            .map_err(|_| "memory map too fragmented")?;
    }
    let reserved = [
        Range::new(0, FIRST_PAGE_END),
        paging::kernel_image(),
        Range::new(paddr, paddr + START_INFO_SIZE as u64),
        Range::new(
            info.memmap_paddr,
            info.memmap_paddr + (entries * MEMMAP_ENTRY_SIZE) as u64,
        ),
        Range::new(cmdline.start, cmdline.end + 1),
    ];
    for r in reserved {
        free.remove(r.grow_to_pages())
            .map_err(|_| "memory map too fragmented")?;
    }
    // Copy the command line into RAM we keep, so the direct map reaches it wherever the loader
    // put it (possibly outside RAM the kernel maps).
    let copy = free
        .find_below(
            align_up(cmdline.len().max(1), PAGE_SIZE),
            paging::BOOT_IDENTITY_END,
        )
        .ok_or("no RAM for the command line")?;
    free.remove(copy).map_err(|_| "memory map too fragmented")?;
    // SAFETY: both ranges are identity mapped; `copy` is RAM nobody else uses, disjoint from
    // the loader's string (which is reserved above).
    unsafe {
        core::ptr::copy_nonoverlapping(
            cmdline.start as *const u8,
            copy.start as *mut u8,
            cmdline.len() as usize,
        )
    };
    let cmdline = Range::new(copy.start, copy.start + cmdline.len());
    Ok(BootInfo {
        ram,
        free,
        cmdline,
        module,
    })
}

/// The first boot module the loader passed (QEMU `-initrd`), which must lie in RAM below
/// 4 GiB; the others, if any, are not used.
fn boot_module(info: &pvh::StartInfo) -> Result<Option<Range>, &'static str> {
    if info.nr_modules == 0 || info.modlist_paddr == 0 {
        return Ok(None);
    }
    let raw = loader_bytes(info.modlist_paddr, MODLIST_ENTRY_SIZE)?;
    let m = pvh::parse_module(raw.try_into().unwrap());
    let end = m
        .paddr
        .checked_add(m.size)
        .filter(|&e| e <= paging::BOOT_IDENTITY_END)
        .ok_or("the boot module lies outside the first 4 GiB")?;
    Ok(Some(Range::new(m.paddr, end)))
}
