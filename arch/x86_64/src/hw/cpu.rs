//! CPU feature discovery and the control-register state compiled code needs: SSE (wasm floats
//! and SIMD), XSAVE with AVX state when present (LLVM may emit AVX for some `--cpu` choices),
//! no-execute pages and write protection in ring 0.

use core::arch::asm;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use spin::Once;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub vendor: [u8; 12],
    pub nx: bool,
    pub rdrand: bool,
    pub xsave: bool,
    pub avx: bool,
    pub avx2: bool,
    pub avx512f: bool,
    pub invariant_tsc: bool,
    /// Value written to XCR0 (0 without XSAVE).
    pub xcr0: u64,
}

static FEATURES: Once<Features> = Once::new();

pub fn features() -> Features {
    FEATURES.get().copied().unwrap_or_default()
}

const XCR0_X87: u64 = 1 << 0;
const XCR0_SSE: u64 = 1 << 1;
const XCR0_AVX: u64 = 1 << 2;
/// opmask, ZMM_Hi256, Hi16_ZMM: AVX-512 needs all three.
const XCR0_AVX512: u64 = 0b111 << 5;

fn detect() -> Features {
    let leaf0 = __cpuid(0);
    let leaf1 = __cpuid(1);
    let max_ext = __cpuid(0x8000_0000).eax;
    let ext1 = (max_ext >= 0x8000_0001).then(|| __cpuid(0x8000_0001));
    let ext7 = (max_ext >= 0x8000_0007).then(|| __cpuid(0x8000_0007));
    let leaf7 = (leaf0.eax >= 7).then(|| __cpuid_count(7, 0));
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&leaf0.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&leaf0.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&leaf0.ecx.to_le_bytes());
    Features {
        vendor,
        nx: ext1.is_some_and(|r| r.edx & (1 << 20) != 0),
        rdrand: leaf1.ecx & (1 << 30) != 0,
        xsave: leaf1.ecx & (1 << 26) != 0,
        avx: leaf1.ecx & (1 << 28) != 0,
        avx2: leaf7.is_some_and(|r| r.ebx & (1 << 5) != 0),
        avx512f: leaf7.is_some_and(|r| r.ebx & (1 << 16) != 0),
        invariant_tsc: ext7.is_some_and(|r| r.edx & (1 << 8) != 0),
        xcr0: 0,
    }
}

/// Enables SSE, XSAVE/AVX (as far as CPUID allows), NX and WP. Runs once, at boot.
pub fn init() {
    let mut f = detect();
    // SAFETY: setting MP/clearing EM and setting WP only changes how the FPU and ring-0 writes
    // to read-only pages behave; the boot code relies on neither.
    unsafe {
        Cr0::update(|cr0| {
            cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            cr0.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::WRITE_PROTECT);
        });
    }
    let mut cr4 = Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
    if f.xsave {
        cr4 |= Cr4Flags::OSXSAVE;
    }
    // SAFETY: enables the SSE and XSAVE state management the CPU reported.
    unsafe { Cr4::update(|c| c.insert(cr4)) };
    if f.xsave {
        let supported = {
            let d = __cpuid_count(0xd, 0);
            (d.edx as u64) << 32 | d.eax as u64
        };
        let mut xcr0 = XCR0_X87 | XCR0_SSE;
        if f.avx && supported & XCR0_AVX != 0 {
            xcr0 |= XCR0_AVX;
            if supported & XCR0_AVX512 == XCR0_AVX512 {
                xcr0 |= XCR0_AVX512;
            }
        }
        // SAFETY: CR4.OSXSAVE is set and `xcr0` only contains components CPUID.0xD reports.
        unsafe {
            asm!("xsetbv", in("ecx") 0, in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32,
                 options(nomem, nostack, preserves_flags));
        }
        f.xcr0 = xcr0;
    } else {
        f.avx = false;
        f.avx2 = false;
        f.avx512f = false;
    }
    if f.nx {
        // SAFETY: the CPU supports NX; until our page tables use the bit, setting it is inert.
        unsafe { Efer::update(|e| e.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    }
    FEATURES.call_once(|| f);
}
