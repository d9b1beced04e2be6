//! Where CPU exceptions end up: a wasm trap if the fault is the app's, a kernel fault otherwise.

use crate::demand;
use crate::kprintln;
use crate::platform::MapError;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use mewz_abi::{ExitCode, TrapCode};

/// Virtual ranges whose faults are the app's: `[start, end)`. Registered by the linear-memory
/// manager (memory reservation → out of bounds) and the app stack (guard → stack exhausted).
static GUARDS: [(AtomicUsize, AtomicUsize); 2] = [
    (AtomicUsize::new(0), AtomicUsize::new(0)),
    (AtomicUsize::new(0), AtomicUsize::new(0)),
];

/// Which guarded range a fault address falls into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardKind {
    LinearMemory = 0,
    AppStack = 1,
}

pub fn register_guard(kind: GuardKind, start: usize, end: usize) {
    let (s, e) = &GUARDS[kind as usize];
    s.store(start, Ordering::Relaxed);
    e.store(end, Ordering::Relaxed);
}

/// The wasm trap a fault at `addr` means, if any.
pub fn classify(addr: usize) -> Option<TrapCode> {
    let hit = |k: GuardKind| {
        let (s, e) = &GUARDS[k as usize];
        (s.load(Ordering::Relaxed)..e.load(Ordering::Relaxed)).contains(&addr)
    };
    if hit(GuardKind::LinearMemory) {
        Some(TrapCode::OutOfBoundsMemoryAccess)
    } else if hit(GuardKind::AppStack) {
        Some(TrapCode::CallStackExhausted)
    } else {
        None
    }
}

/// Ends the app with a wasm trap (by default `wasm trap: <name>` and exit status 134).
pub fn wasm_trap(code: TrapCode) -> ! {
    crate::footprint::log_report();
    crate::platform::platform().wasm_trap(code)
}

/// Called by the arch exception handler for an access to a page that is not mapped (not for
/// a permission fault). Inside a range backed on touch ([`crate::demand`]) it maps a zeroed
/// page there and returns `true`: the access is to be retried. Ends the app with
/// `out of memory` when no RAM is left for the page. `false`: not such a range.
pub fn map_on_touch(addr: usize) -> bool {
    let Some(what) = demand::find(addr) else {
        return false;
    };
    let p = crate::platform::platform();
    let page = addr & !(p.page_size() - 1);
    let mapped = match what {
        // Only inside a live buffer (freed ones are stray accesses), with a frame charged to it.
        demand::Backed::KernelBuffers => match crate::touch_buffer::back_page(p, page) {
            Some(result) => result,
            None => return false,
        },
        _ => p
            .map_zeroed(page, p.page_size())
            .inspect(|_| demand::note_touched(what)),
    };
    match mapped {
        Ok(()) => true,
        Err(MapError::OutOfMemory) => crate::footprint::out_of_memory(what),
        Err(e) => {
            kprintln!(
                "kernel fault: cannot map {page:#x} of {}: {e}",
                what.owner()
            );
            crate::console::flush(p);
            p.exit(ExitCode::CPU_EXCEPTION.0)
        }
    }
}

/// Called by the arch exception handler. `report` prints the architecture's register dump; it
/// is shown only for kernel faults.
pub fn cpu_exception(fault_addr: Option<usize>, report: &dyn fmt::Display) -> ! {
    if let Some(trap) = fault_addr.and_then(classify) {
        wasm_trap(trap)
    }
    kprintln!("{report}");
    kprintln!("kernel fault: unhandled cpu exception");
    let p = crate::platform::platform();
    crate::console::flush(p);
    p.exit(ExitCode::CPU_EXCEPTION.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_guard_ranges() {
        register_guard(GuardKind::LinearMemory, 0x1000, 0x3000);
        register_guard(GuardKind::AppStack, 0x8000, 0x9000);
        assert_eq!(classify(0x1000), Some(TrapCode::OutOfBoundsMemoryAccess));
        assert_eq!(classify(0x2fff), Some(TrapCode::OutOfBoundsMemoryAccess));
        assert_eq!(classify(0x3000), None);
        assert_eq!(classify(0x8800), Some(TrapCode::CallStackExhausted));
        assert_eq!(classify(0), None);
    }
}
