//! Rust side of the exception and interrupt stubs in `idt.rs`.

use super::lapic;
use crate::exception_report::{ExceptionFrame, ExceptionReport, PAGE_FAULT};
use x86_64::registers::control::Cr2;

/// Page-fault error code bit: set when the page was present (a protection violation).
const PAGE_FAULT_PRESENT: u64 = 1 << 0;

/// Every CPU exception ends here. A touch of a page backed on demand is mapped and the stub
/// returns to retry the access; anything else the kernel decides to be a wasm trap (guard-page
/// fault of the app) or a kernel fault, and exits either way.
#[unsafe(no_mangle)]
extern "C" fn x86_64_exception(frame: &ExceptionFrame) {
    let cr2 = Cr2::read_raw();
    if frame.vector == PAGE_FAULT
        && frame.error_code & PAGE_FAULT_PRESENT == 0
        && mewz_kernel::fault::map_on_touch(cr2 as usize)
    {
        return;
    }
    let report = ExceptionReport { frame, cr2 };
    let fault_addr = (frame.vector == PAGE_FAULT).then_some(cr2 as usize);
    mewz_kernel::fault::cpu_exception(fault_addr, &report)
}

#[unsafe(no_mangle)]
extern "C" fn x86_64_timer_interrupt() {
    lapic::timer_fired();
}
