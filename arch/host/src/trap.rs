//! Wasm traps on the hosted platform.
//!
//! Compiled code reports the traps it can see through `__mewz_trap` (the kernel's, which ends
//! in [`crate::HostPlatform`]'s `wasm_trap`, i.e. [`raise`]); out-of-bounds accesses
//! fault on the guard pages of a linear-memory reservation and arrive as SIGSEGV/SIGBUS,
//! handled on an alternate signal stack (so a stack overflow can be reported too).
//! Outside a [`catch`] frame a trap ends the process (`wasm trap: <name>`, exit 134); inside
//! one (the spec harness) it unwinds back to the frame.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};
use mewz_abi::{ExitCode, TrapCode};
use mewz_kernel::app::stack::STACK_LIMIT_MARGIN;
use std::cell::Cell;
use std::time::Duration;

/// Value thrown when an invocation's time limit expires (not a wasm trap code).
const TIMEOUT_THROW: c_int = 0x7fff_0001;
/// Signal used for invocation time limits.
const TIMEOUT_SIGNAL: c_int = libc::SIGALRM;
/// Size of the alternate stack signal handlers run on.
const ALT_STACK_BYTES: usize = 256 * 1024;

unsafe extern "C" {
    fn mewz_host_catch(body: extern "C" fn(*mut c_void), ctx: *mut c_void) -> c_int;
    fn mewz_host_can_throw() -> c_int;
    fn mewz_host_throw(code: c_int) -> !;
    fn mewz_host_thread_timer(signo: c_int, ms: libc::c_ulong) -> c_int;
}

/// The stack of the thread currently running wasm: `[low, high)`, for classifying faults in
/// its guard area as stack exhaustion.
static WASM_STACK_LOW: AtomicUsize = AtomicUsize::new(0);
static WASM_STACK_HIGH: AtomicUsize = AtomicUsize::new(0);

/// How a [`catch`] body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Returned,
    Trapped(TrapCode),
    TimedOut,
}

thread_local! {
    static THREAD_READY: Cell<bool> = const { Cell::new(false) };
}

/// Installs the process-wide SIGSEGV/SIGBUS/timeout handlers. Idempotent.
pub fn install_handlers() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS, TIMEOUT_SIGNAL] {
            // SAFETY: a zeroed sigaction with our handler, SA_SIGINFO and SA_ONSTACK is valid;
            // the handler only uses async-signal-safe operations.
            unsafe {
                let mut action: libc::sigaction = core::mem::zeroed();
                action.sa_sigaction = signal_handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, core::ptr::null_mut());
            }
        }
    });
}

/// Prepares the calling thread to run wasm: an alternate signal stack for the fault handler,
/// and `__mewz_stack_limit` from this thread's actual stack. Only one thread runs wasm at a
/// time (the limit is a single global, as compiled code expects).
pub fn prepare_wasm_thread() {
    install_handlers();
    if !THREAD_READY.get() {
        install_alt_stack();
        THREAD_READY.set(true);
    }
    if let Some((low, high)) = current_thread_stack() {
        WASM_STACK_LOW.store(low, Ordering::Relaxed);
        WASM_STACK_HIGH.store(high, Ordering::Relaxed);
        crate::runtime::set_stack_limit(low + STACK_LIMIT_MARGIN);
    }
}

fn install_alt_stack() {
    // The stack is leaked on purpose: it must outlive every signal this thread takes.
    let stack = Box::leak(vec![0u8; ALT_STACK_BYTES].into_boxed_slice());
    let ss = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: stack.len(),
    };
    // SAFETY: `ss` describes a live, never-freed buffer.
    unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
}

/// `[low, high)` of the calling thread's stack.
fn current_thread_stack() -> Option<(usize, usize)> {
    // SAFETY: pthread_getattr_np fills `attr` for the current thread; we destroy it after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (rc == 0).then(|| (addr as usize, addr as usize + size))
    }
}

struct Body<'a>(&'a mut dyn FnMut());

extern "C" fn run_body(ctx: *mut c_void) {
    // SAFETY: `ctx` is the `Body` that `catch` passed and keeps alive for the call.
    let body = unsafe { &mut *ctx.cast::<Body<'_>>() };
    (body.0)();
}

/// Runs `body`, returning how it ended: a wasm trap (from `__mewz_trap` or a guard-page fault)
/// or the expiry of `limit` unwinds straight back here.
///
/// `body` must not own anything with a destructor across the wasm code it calls: the frames
/// between the trap and this function are discarded without unwinding.
pub fn catch(limit: Option<Duration>, body: &mut dyn FnMut()) -> Outcome {
    prepare_wasm_thread();
    let mut ctx = Body(body);
    if let Some(limit) = limit {
        let ms = limit.as_millis().clamp(1, libc::c_ulong::MAX as u128) as libc::c_ulong;
        // SAFETY: the shim only creates and arms a timer aimed at this thread.
        unsafe { mewz_host_thread_timer(TIMEOUT_SIGNAL, ms) };
    }
    // SAFETY: `run_body` receives `ctx`, which outlives the call; see the contract above.
    let thrown = unsafe { mewz_host_catch(run_body, (&raw mut ctx).cast()) };
    if limit.is_some() {
        // SAFETY: disarming the timer armed above.
        unsafe { mewz_host_thread_timer(TIMEOUT_SIGNAL, 0) };
    }
    match thrown {
        0 => Outcome::Returned,
        TIMEOUT_THROW => Outcome::TimedOut,
        code => match TrapCode::from_u32(code as u32) {
            Some(trap) => Outcome::Trapped(trap),
            None => Outcome::TimedOut,
        },
    }
}

/// Whether a [`catch`] frame is active on this thread.
pub fn in_catch() -> bool {
    // SAFETY: reads a thread-local pointer in the shim.
    unsafe { mewz_host_can_throw() != 0 }
}

/// Ends the wasm computation with `trap`: unwinds to the innermost [`catch`] frame, or (in a
/// hosted executable) prints `wasm trap: <name>` and exits 134.
pub fn raise(trap: TrapCode) -> ! {
    if in_catch() {
        // SAFETY: a catch frame of this thread is live.
        unsafe { mewz_host_throw(trap as c_int) }
    }
    write_stderr(b"wasm trap: ");
    write_stderr(trap.spec_name().as_bytes());
    write_stderr(b"\n");
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { libc::_exit(ExitCode::WASM_TRAP.0.into()) }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: writing a live buffer to fd 2.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// Reports a runtime failure that is not a wasm trap and exits with `CPU_EXCEPTION`.
fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    use std::io::Write;
    let mut buf = [0u8; 256];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = writeln!(cursor, "{args}");
    let len = cursor.position() as usize;
    write_stderr(&buf[..len]);
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { libc::_exit(ExitCode::CPU_EXCEPTION.0.into()) }
}

/// The trap a fault at `addr` means, if any.
fn classify_fault(addr: usize) -> Option<TrapCode> {
    // The registered guards first: the app stack's guard is a reservation too.
    if let Some(trap) = mewz_kernel::fault::classify(addr) {
        return Some(trap);
    }
    if crate::memory::is_reserved(addr) {
        return Some(TrapCode::OutOfBoundsMemoryAccess);
    }
    let low = WASM_STACK_LOW.load(Ordering::Relaxed);
    let high = WASM_STACK_HIGH.load(Ordering::Relaxed);
    // The guard below a thread stack is at most a few pages; accept a generous band.
    let guard_band = 1024 * 1024;
    (low != 0 && addr >= low.saturating_sub(guard_band) && addr < high)
        .then_some(TrapCode::CallStackExhausted)
}

/// The interrupted program counter, from the signal context.
///
/// # Safety
/// `uctx` is the context the kernel passed to an `SA_SIGINFO` handler.
unsafe fn fault_pc(uctx: *mut c_void) -> usize {
    let uc = uctx.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: guaranteed by the caller.
    let pc = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: guaranteed by the caller.
    let pc = unsafe { (*uc).uc_mcontext.pc as usize };
    pc
}

extern "C" fn signal_handler(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) {
    if sig == TIMEOUT_SIGNAL {
        if in_catch() {
            // SAFETY: a catch frame of this thread is live.
            unsafe { mewz_host_throw(TIMEOUT_THROW) }
        }
        return;
    }
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers of SIGSEGV/SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    match classify_fault(addr) {
        Some(trap) => raise(trap),
        None => {
            // SAFETY: `uctx` is this handler's signal context.
            let pc = unsafe { fault_pc(uctx) };
            fatal(format_args!(
                "mewz-host: fatal signal {sig} at pc {pc:#x} (fault address {addr:#x}): not a wasm trap"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_reports_return_trap_and_timeout() {
        assert_eq!(catch(None, &mut || {}), Outcome::Returned);
        assert_eq!(
            catch(None, &mut || raise(TrapCode::IntegerOverflow)),
            Outcome::Trapped(TrapCode::IntegerOverflow)
        );
        let spin = &mut || loop {
            core::hint::spin_loop();
        };
        assert_eq!(
            catch(Some(Duration::from_millis(50)), spin),
            Outcome::TimedOut
        );
        // Catch frames nest: the inner trap does not escape the inner frame.
        let mut inner = Outcome::Returned;
        let outer = catch(None, &mut || {
            inner = catch(None, &mut || raise(TrapCode::Unreachable));
        });
        assert_eq!(
            (outer, inner),
            (Outcome::Returned, Outcome::Trapped(TrapCode::Unreachable))
        );
    }

    #[test]
    fn guard_page_fault_is_out_of_bounds_trap() {
        let page = crate::memory::page_size();
        let base = crate::memory::reserve(4 * page).unwrap();
        crate::memory::map_zeroed(base, page).unwrap();
        let outcome = catch(None, &mut || {
            // SAFETY: the first page is mapped; the second is a guard and faults on purpose.
            unsafe {
                ((base + 8) as *mut u64).write_volatile(1);
                ((base + page + 8) as *mut u64).write_volatile(1);
            }
        });
        assert_eq!(outcome, Outcome::Trapped(TrapCode::OutOfBoundsMemoryAccess));
    }
}
