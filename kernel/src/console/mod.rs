//! Kernel logging over the platform console. Kernel messages go to [`Stream::Err`].
//!
//! `kprintln!` always prints (banners, fault reports); `klog!` prints only when the kernel runs
//! verbose (`mewz.verbose` on the command line), so that by default the console carries the
//! app's output alone.

use crate::platform::Stream;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(true);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// A `fmt::Write` over one console stream.
pub struct Console(pub Stream);

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(p) = crate::platform::try_platform() {
            p.console_write(self.0, s.as_bytes());
        }
        Ok(())
    }
}

/// Formats `args` onto `stream`.
pub fn _print_to(stream: Stream, args: fmt::Arguments<'_>) {
    // Console writes cannot fail; the result carries no information.
    let _ = Console(stream).write_fmt(args);
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    _print_to(Stream::Err, args);
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Log line, shown only in verbose mode. Prefixed so it is told apart from app output.
#[macro_export]
macro_rules! klog {
    ($($arg:tt)*) => {
        if $crate::console::verbose() {
            $crate::console::_print(format_args!("[mewz] {}\n", format_args!($($arg)*)))
        }
    };
}
