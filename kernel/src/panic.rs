//! The unikernel's panic handler: print the message, exit with the panic status.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};
use mewz_abi::ExitCode;

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // A panic while printing a panic must not recurse forever.
    if !PANICKING.swap(true, Ordering::SeqCst) {
        crate::kprintln!("kernel panic: {}", info);
    }
    match crate::platform::try_platform() {
        Some(p) => {
            crate::console::flush(p);
            p.exit(ExitCode::KERNEL_PANIC.0)
        }
        None => loop {
            core::hint::spin_loop();
        },
    }
}
