//! Rust side of the exception and interrupt stubs in `idt.rs`.

use super::lapic;
use crate::exception_report::{ExceptionFrame, ExceptionReport, PAGE_FAULT};
use x86_64::registers::control::Cr2;

/// Every CPU exception ends here: the kernel decides whether it is a wasm trap (guard-page
/// fault of the app) or a kernel fault, and exits either way.
#[unsafe(no_mangle)]
extern "C" fn x86_64_exception(frame: &ExceptionFrame) -> ! {
    let cr2 = Cr2::read_raw();
    let report = ExceptionReport { frame, cr2 };
    let fault_addr = (frame.vector == PAGE_FAULT).then_some(cr2 as usize);
    mewz_kernel::fault::cpu_exception(fault_addr, &report)
}

#[unsafe(no_mangle)]
extern "C" fn x86_64_timer_interrupt() {
    lapic::timer_fired();
}
