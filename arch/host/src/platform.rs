//! [`Platform`] for a Linux process.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mewz_abi::TrapCode;
use mewz_kernel::{MapError, MemoryRegion, Platform, Stream};
use std::sync::OnceLock;

/// The hosted platform. Stateless apart from the command line and the emulated timer.
pub struct HostPlatform {
    command_line: OnceLock<String>,
    /// The packed directories mapped from the file `mewz.files` names.
    boot_module: OnceLock<&'static [u8]>,
    /// Monotonic deadline of the armed one-shot timer, or 0.
    timer_deadline_ns: AtomicU64,
    timer_interrupts: AtomicU64,
    /// Set once stdin reported end of file: it then stops waking [`Platform::wait_for_interrupt`].
    stdin_closed: AtomicBool,
    /// Stdin woke a wait and nobody has read it since: like a level-triggered interrupt that is
    /// masked until serviced, it does not wake another wait until [`Platform::console_read`].
    stdin_pending: AtomicBool,
}

/// The one instance, handed to the kernel.
pub static HOST: HostPlatform = HostPlatform {
    command_line: OnceLock::new(),
    boot_module: OnceLock::new(),
    timer_deadline_ns: AtomicU64::new(0),
    timer_interrupts: AtomicU64::new(0),
    stdin_closed: AtomicBool::new(false),
    stdin_pending: AtomicBool::new(false),
};

impl HostPlatform {
    /// Sets the kernel command line (once; later calls are ignored).
    pub fn set_command_line(&self, line: String) {
        let _ = self.command_line.set(line);
    }

    /// Sets the boot module (once; later calls are ignored).
    pub fn set_boot_module(&self, bytes: &'static [u8]) {
        let _ = self.boot_module.set(bytes);
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a live buffer.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return; // closed or broken output: nothing sensible left to do
        }
    }
}

/// Polls stdin; `Some(true)` readable (or at EOF), `Some(false)` not yet, `None` on error.
fn poll_stdin(timeout_ms: i32) -> Option<bool> {
    let mut fds = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut fds, 1, timeout_ms) };
    (n >= 0).then_some(n > 0 && fds.revents & (libc::POLLIN | libc::POLLHUP) != 0)
}

impl Platform for HostPlatform {
    fn name(&self) -> &'static str {
        "host"
    }

    fn command_line(&self) -> &str {
        self.command_line.get().map_or("", String::as_str)
    }

    fn boot_module(&self) -> Option<&'static [u8]> {
        self.boot_module.get().copied()
    }

    fn console_write(&self, stream: Stream, bytes: &[u8]) {
        write_all(if stream == Stream::Out { 1 } else { 2 }, bytes);
    }

    fn console_read(&self, buf: &mut [u8]) -> usize {
        self.stdin_pending.store(false, Ordering::Relaxed);
        if buf.is_empty()
            || self.stdin_closed.load(Ordering::Relaxed)
            || poll_stdin(0) != Some(true)
        {
            return 0;
        }
        // SAFETY: reading into a live buffer.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            self.stdin_closed.store(true, Ordering::Relaxed);
            return 0;
        }
        n as usize
    }

    /// Stdin reached end of file (a read returned 0 after poll said it was readable).
    fn console_input_ended(&self) -> bool {
        self.stdin_closed.load(Ordering::Relaxed)
    }

    /// A process's stdin ends: no byte of it is taken for end of file.
    fn console_input_can_end(&self) -> bool {
        true
    }

    fn free_memory(&self) -> &[MemoryRegion] {
        // The process keeps the system allocator; the kernel heap gets nothing.
        &[]
    }

    fn page_size(&self) -> usize {
        crate::memory::page_size()
    }

    fn map_zeroed(&self, virt: usize, len: usize) -> Result<(), MapError> {
        crate::memory::map_zeroed(virt, len)
    }

    /// Makes the range accessible: Linux backs its pages when they are touched, and refuses
    /// (ENOMEM: `memory.grow` returns -1) what its own limits do not allow, e.g. `ulimit -d`.
    fn commit(&self, virt: usize, len: usize) -> Result<(), MapError> {
        crate::memory::map_zeroed(virt, len)
    }

    /// Linux decides at [`Platform::commit`].
    fn backable_bytes(&self) -> Option<usize> {
        None
    }

    fn unmap(&self, virt: usize, len: usize) {
        crate::memory::unmap(virt, len)
    }

    fn reserve(&self, len: usize) -> Result<usize, MapError> {
        crate::memory::reserve(len)
    }

    fn monotonic_ns(&self) -> u64 {
        clock_ns(libc::CLOCK_MONOTONIC)
    }

    fn monotonic_resolution_ns(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer.
        unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64).max(1)
    }

    fn wall_clock_ns(&self) -> Option<u64> {
        Some(clock_ns(libc::CLOCK_REALTIME))
    }

    fn arm_timer(&self, delay_ns: u64) {
        // A timer that already expired has "interrupted" by now, whether or not anyone waited.
        self.expire_timer();
        let deadline = self.monotonic_ns().saturating_add(delay_ns).max(1);
        self.timer_deadline_ns.store(deadline, Ordering::Relaxed);
    }

    fn timer_interrupts(&self) -> u64 {
        self.expire_timer();
        self.timer_interrupts.load(Ordering::Relaxed)
    }

    /// The "interrupts" of a process: the armed timer expiring, or console input arriving.
    fn wait_for_interrupt(&self) {
        if self.expire_timer() {
            return;
        }
        let deadline = self.timer_deadline_ns.load(Ordering::Relaxed);
        let watch_stdin = !self.stdin_closed.load(Ordering::Relaxed)
            && !self.stdin_pending.load(Ordering::Relaxed);
        if watch_stdin {
            let timeout_ms = if deadline == 0 {
                -1
            } else {
                let left = deadline.saturating_sub(self.monotonic_ns());
                left.div_ceil(1_000_000).min(i32::MAX as u64) as i32
            };
            if poll_stdin(timeout_ms) == Some(true) {
                self.stdin_pending.store(true, Ordering::Relaxed);
            }
        } else if deadline != 0 {
            sleep_until(deadline);
        } else {
            // Nothing can ever wake us; sleeping forever is what a halted CPU would do.
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
        self.expire_timer();
    }

    fn init_devices(&self) {
        crate::trap::install_handlers();
    }

    /// The host's own sockets (see [`crate::net`]).
    fn host_sockets(&self) -> Option<mewz_kernel::net::BoxedStack> {
        Some(Box::new(crate::net::HostSockets::new()))
    }

    fn random_bytes(&self, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            // SAFETY: filling the rest of a live buffer.
            let n =
                unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
            if n <= 0 {
                return false;
            }
            done += n as usize;
        }
        true
    }

    fn exit(&self, code: u8) -> ! {
        // Console writes are unbuffered syscalls, so nothing needs flushing.
        // SAFETY: ends the process.
        unsafe { libc::_exit(code.into()) }
    }

    fn call_on_stack(&self, stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
        // SAFETY: the kernel hands the 16-byte aligned top of a mapped stack it owns; `entry`
        // returns, or a trap ends the process or jumps to a `trap::catch` frame older than
        // this call.
        unsafe { mewz_isa::call_on_stack(stack_top, entry, arg) }
    }

    fn wasm_trap(&self, code: TrapCode) -> ! {
        crate::trap::raise(code)
    }

    fn trigger_cpu_fault(&self) -> ! {
        // SAFETY: deliberately writes to an address that is never mapped in a Linux process.
        unsafe { (16 as *mut u64).write_volatile(0) };
        unreachable!("the write above faults")
    }
}

impl HostPlatform {
    /// Counts the armed timer's interrupt if its deadline has passed; whether it did.
    fn expire_timer(&self) -> bool {
        let deadline = self.timer_deadline_ns.load(Ordering::Relaxed);
        if deadline == 0 || self.monotonic_ns() < deadline {
            return false;
        }
        let fired = self
            .timer_deadline_ns
            .compare_exchange(deadline, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if fired {
            self.timer_interrupts.fetch_add(1, Ordering::Relaxed);
        }
        fired
    }
}

/// Sleeps until the monotonic clock reaches `deadline_ns`.
fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: a valid absolute time; an interrupted sleep just returns early (the caller loops).
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            core::ptr::null_mut(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_timer_counts_even_without_a_wait() {
        let before = HOST.timer_interrupts();
        HOST.arm_timer(1);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(HOST.timer_interrupts() > before);
    }

    #[test]
    fn clocks_timer_and_random_work() {
        let a = HOST.monotonic_ns();
        HOST.arm_timer(2_000_000);
        let before = HOST.timer_interrupts();
        HOST.wait_for_interrupt();
        // stdin may wake us early; wait until the timer really fired.
        while HOST.timer_interrupts() == before {
            HOST.wait_for_interrupt();
        }
        assert!(HOST.monotonic_ns() - a >= 2_000_000);
        assert!(HOST.wall_clock_ns().unwrap() > 1_600_000_000 * 1_000_000_000);
        let mut buf = [0u8; 64];
        assert!(HOST.random_bytes(&mut buf));
        assert!(buf.iter().any(|&b| b != 0));
    }
}
