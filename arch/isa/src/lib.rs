//! What depends on the instruction set alone, not on the platform: the bare-metal platforms
//! (`arch/x86_64`, `arch/aarch64`) and the hosted one (`arch/host`, on either instruction set)
//! share it, so it is written once per instruction set.
#![no_std]

/// Calls `entry(arg)` on the stack whose top is `stack_top`, then returns on the caller's
/// stack. The caller's stack pointer is kept in a callee-saved register across the call.
///
/// # Safety
/// `stack_top` must be the 16-byte aligned top of a mapped, writable stack that nothing else
/// uses during the call, large enough for `entry`. `entry` either returns or never comes
/// back: it may end the program or jump to a frame older than this call (as the hosted
/// platform's trap path does), but nothing may resume this call halfway.
pub unsafe fn call_on_stack(stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
    // SAFETY: per this function's contract the new stack is valid; `entry` follows the C ABI,
    // so all caller-saved registers are declared clobbered and the callee-saved one holding the
    // old stack pointer (r12 / x20) survives the call.
    unsafe { switch(stack_top, entry, arg) }
}

#[cfg(target_arch = "x86_64")]
unsafe fn switch(stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
    // SAFETY: see `call_on_stack`.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {entry}",
            "mov rsp, r12",
            top = in(reg) stack_top,
            entry = in(reg) entry,
            in("rdi") arg,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

#[cfg(target_arch = "aarch64")]
unsafe fn switch(stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
    // SAFETY: see `call_on_stack`.
    unsafe {
        core::arch::asm!(
            "mov x20, sp",
            "mov sp, {top}",
            "blr {entry}",
            "mov sp, x20",
            top = in(reg) stack_top,
            entry = in(reg) entry,
            in("x0") arg,
            out("x20") _,
            clobber_abi("C"),
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::vec;

    static SEEN: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn record_stack(arg: usize) {
        let local = 0u8;
        SEEN.store(arg ^ (&raw const local as usize), Ordering::SeqCst);
    }

    #[test]
    fn the_callee_runs_on_the_given_stack_and_the_caller_gets_its_own_back() {
        let mut stack = vec![0u128; 4096]; // 64 KiB, 16-byte aligned
        let low = stack.as_mut_ptr() as usize;
        let top = low + stack.len() * 16;
        let local = 0u8;
        let before = &raw const local as usize;
        // SAFETY: `stack` is a 16-byte aligned, writable 64 KiB stack used by nothing else;
        // `record_stack` needs a few bytes of it and returns.
        unsafe { super::call_on_stack(top, record_stack, 0) };
        let sp = SEEN.load(Ordering::SeqCst);
        assert!(
            (low..top).contains(&sp),
            "callee ran on {sp:#x}, not in {low:#x}..{top:#x}"
        );
        let local = 0u8;
        let after = &raw const local as usize;
        assert!(!(low..top).contains(&after) && after.abs_diff(before) < 4096);
    }
}
