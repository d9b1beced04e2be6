//! Stopping the machine: semihosting SYS_EXIT (the QEMU process exits with the code), else
//! PSCI SYSTEM_OFF through the conduit the device tree names.

use crate::machine::PsciConduit;
use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const SYS_WRITE0: u64 = 0x04;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// Set when a semihosting call trapped (QEMU without `-semihosting`).
static SEMIHOSTING_BROKEN: AtomicBool = AtomicBool::new(false);
/// 0 = unknown (try hvc), 1 = hvc, 2 = smc.
static PSCI: AtomicU8 = AtomicU8::new(0);

global_asm!(
    r#"
    .section .text.mewz_semihosting, "ax"
    .global mewz_semihosting_call
    .global mewz_semihosting_trap
mewz_semihosting_call:
mewz_semihosting_trap:
    hlt     #0xf000
    ret
"#
);

unsafe extern "C" {
    /// `x0` = operation, `x1` = parameter; returns the host's result in `x0`.
    fn mewz_semihosting_call(op: u64, param: u64) -> u64;
    static mewz_semihosting_trap: u8;
}

/// Address of the `hlt` that the exception handler recognises when semihosting is off.
pub fn semihosting_trap_address() -> u64 {
    // Only the address of the label is taken.
    &raw const mewz_semihosting_trap as u64
}

/// Called by the exception handler when the semihosting `hlt` trapped: the call then returns
/// (to the instruction after `hlt`) and everything else falls back to PSCI.
pub fn note_semihosting_unavailable() {
    SEMIHOSTING_BROKEN.store(true, Ordering::Relaxed);
}

pub fn semihosting_available() -> bool {
    !SEMIHOSTING_BROKEN.load(Ordering::Relaxed)
}

pub fn set_psci(conduit: Option<PsciConduit>) {
    let v = match conduit {
        Some(PsciConduit::Hvc) | None => 1,
        Some(PsciConduit::Smc) => 2,
    };
    PSCI.store(v, Ordering::Relaxed);
}

fn semihosting(op: u64, param: u64) -> u64 {
    if !semihosting_available() {
        return u64::MAX;
    }
    // SAFETY: a semihosting request; the host reads `param` (a pointer to live memory or a
    // value, per `op`). If semihosting is off, the trap is caught and the call returns.
    unsafe { mewz_semihosting_call(op, param) }
}

fn psci_system_off() -> ! {
    // SAFETY: PSCI SYSTEM_OFF does not return when the firmware implements it.
    unsafe {
        if PSCI.load(Ordering::Relaxed) == 2 {
            asm!("smc #0", inout("x0") PSCI_SYSTEM_OFF => _, options(nostack));
        } else {
            asm!("hvc #0", inout("x0") PSCI_SYSTEM_OFF => _, options(nostack));
        }
    }
    loop {
        // SAFETY: nothing left to do; park the CPU.
        unsafe { asm!("msr daifset, #0xf", "wfi", options(nostack)) };
    }
}

/// Exits with `code` (semihosting), or powers off (PSCI: the status is then always 0).
pub fn exit(code: u8) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    semihosting(SYS_EXIT, block.as_ptr() as u64);
    if code != 0 {
        super::platform::console_err(
            b"mewz: no semihosting: powering off with PSCI, the exit status is lost\n",
        );
    }
    psci_system_off()
}

/// A failure before the console exists: tell the semihosting host, exit with 250.
pub fn early_fatal(why: &str) -> ! {
    early_fatal_fmt(format_args!("mewz: early boot failed: {why}\n"))
}

pub fn early_fatal_fmt(args: fmt::Arguments<'_>) -> ! {
    semihosting_print(args);
    exit(mewz_abi::ExitCode::KERNEL_PANIC.0)
}

/// Formats `args` onto the semihosting host's console.
pub fn semihosting_print(args: fmt::Arguments<'_>) {
    struct Semihosting;
    impl Write for Semihosting {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            semihosting_write(s.as_bytes());
            Ok(())
        }
    }
    let _ = fmt::write(&mut Semihosting, args);
}

/// Writes to the semihosting host's console (QEMU: its stderr), if semihosting is on.
pub fn semihosting_write(bytes: &[u8]) {
    for chunk in bytes.chunks(63) {
        // SYS_WRITE0 takes a NUL-terminated string.
        let mut buf = [0u8; 64];
        buf[..chunk.len()].copy_from_slice(chunk);
        semihosting(SYS_WRITE0, buf.as_ptr() as u64);
    }
}
