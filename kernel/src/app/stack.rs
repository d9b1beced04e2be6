//! The app's stack: its own reservation, backed page by page as it is touched, with an
//! unmapped guard region below it.

use crate::demand::{self, Backed};
use crate::fault::{GuardKind, register_guard};
use crate::platform::{MapError, Platform};

/// Usable size of the app's stack (what a Linux main thread gets by default). Only the pages
/// the app reaches are backed, so a deep stack costs nothing until it is used.
pub const APP_STACK_BYTES: usize = 8 << 20;

/// Room kept between the bottom of the stack and the stack limit: functions that call into the
/// runtime (WASI, `memory.grow`, ...) check the limit on entry, and the runtime code they call
/// then runs in this room.
pub const STACK_LIMIT_MARGIN: usize = 256 << 10;

/// Unmapped space below the stack. Wasm-to-wasm recursion is not checked: it runs into this
/// guard (compiled frames are probed page by page), and the fault is the
/// call-stack-exhausted trap.
pub const STACK_GUARD_BYTES: usize = 64 << 10;

const _: () = assert!(STACK_LIMIT_MARGIN >= mewz_abi::symbols::STACK_LIMIT_MARGIN);
const _: () = assert!(STACK_GUARD_BYTES >= mewz_abi::symbols::STACK_GUARD_MIN);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppStack {
    /// The unmapped region below the stack: `[guard, guard + STACK_GUARD_BYTES)`.
    pub guard: usize,
    /// Initial stack pointer (16-byte aligned; the stack grows down from here).
    pub top: usize,
    /// Value for `__mewz_stack_limit`.
    pub limit: usize,
}

/// Reserves a stack of `bytes` (a page multiple) above its guard region, commits it (backed
/// on touch) and makes faults in the guard the call-stack-exhausted trap.
pub fn allocate(p: &dyn Platform, bytes: usize) -> Result<AppStack, MapError> {
    let page = p.page_size();
    if bytes == 0 || !bytes.is_multiple_of(page) || bytes <= STACK_LIMIT_MARGIN {
        return Err(MapError::InvalidRange);
    }
    let guard_bytes = STACK_GUARD_BYTES.next_multiple_of(page);
    let guard = p.reserve(guard_bytes + bytes)?;
    let bottom = guard + guard_bytes;
    p.commit(bottom, bytes)?;
    register_guard(GuardKind::AppStack, guard, bottom);
    demand::register(Backed::AppStack, bottom, bottom + bytes);
    Ok(AppStack {
        guard,
        top: bottom + bytes,
        limit: bottom + STACK_LIMIT_MARGIN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::mock::MockPlatform;

    #[test]
    fn stack_sits_above_an_unmapped_guard_region_backed_on_touch() {
        let _l = crate::app::memory::tests::locks();
        let p = MockPlatform::new();
        let s = allocate(&p, APP_STACK_BYTES).unwrap();
        let bottom = s.guard + STACK_GUARD_BYTES;
        assert_eq!(*p.committed.lock().unwrap(), [(bottom, APP_STACK_BYTES)]);
        assert!(p.mapped.lock().unwrap().is_empty());
        assert_eq!(crate::demand::find(s.top - 8), Some(Backed::AppStack));
        assert_eq!(crate::demand::find(bottom), Some(Backed::AppStack));
        assert_eq!(
            crate::demand::find(bottom - 1),
            None,
            "the guard is not backed"
        );
        assert_eq!(s.top, bottom + APP_STACK_BYTES);
        assert_eq!(s.top % 16, 0);
        assert_eq!(s.limit, bottom + STACK_LIMIT_MARGIN);
        assert_eq!(allocate(&p, 100), Err(MapError::InvalidRange));
        assert_eq!(
            allocate(&p, STACK_LIMIT_MARGIN),
            Err(MapError::InvalidRange)
        );
    }
}
