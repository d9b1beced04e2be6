//! The console: the app's stdio and the kernel's messages.
//!
//! Where a virtio console with the runner's ports exists (`mewz run` attaches one: ports
//! [`STDIN_PORT`], [`STDOUT_PORT`], [`STDERR_PORT`]), each stream goes through its port, in
//! page-sized buffers; end of input is the host closing the stdin port. When stdout and stderr
//! end up in the same place (a terminal, `2>&1`), the runner attaches one port for both,
//! [`STDOUT_STDERR_PORT`], which keeps their writes in the order the app made them.
//! Otherwise, and before it is up, the platform's console (the UARTs) carries the streams, as
//! it always carries panics when the virtio console is busy.
//!
//! Kernel messages go to [`Stream::Err`]. `kprintln!` always prints (banners, fault reports);
//! `klog!` prints only when the kernel runs verbose (`mewz.verbose` on the command line), so that
//! by default the console carries the app's output alone.

mod control;
#[cfg(test)]
mod fake_device;
pub mod multiport;
#[cfg(test)]
mod tests;
mod virtio;

use crate::platform::{Platform, Stream};
use crate::wasi::stdio::{HostStdio, HostStream, OPTION as HOST_STDIO_OPTION};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
pub use multiport::{Closed, Input};
use spin::Mutex;
use virtio::VirtioConsole;
use virtio_drivers::transport::DeviceType;

/// Names of the virtio console ports for the app's stdio (QEMU `virtserialport,name=...`).
pub const STDIN_PORT: &str = "mewz.stdin";
pub const STDOUT_PORT: &str = "mewz.stdout";
pub const STDERR_PORT: &str = "mewz.stderr";
/// One port for both output streams, in place of the two above.
pub const STDOUT_STDERR_PORT: &str = "mewz.stdout+stderr";
/// Sent on the stdin port when the app waits for input from a terminal: the runner then reads
/// the terminal once (see `virtio`).
pub const INPUT_REQUEST: u8 = b'?';

static VIRTIO: Mutex<Option<VirtioConsole>> = Mutex::new(None);

/// Takes the virtio console, if the machine has one, for stdio (once, at boot, after
/// `virtio::discover`).
pub fn init(p: &dyn Platform) {
    let Some(device) = crate::virtio::take(DeviceType::Console) else {
        return;
    };
    let location = device.location.clone();
    let (transport, irq) = device.into_parts();
    match multiport::MultiportConsole::new(transport) {
        Ok(driver) => {
            // Only a runner that says stdin is a terminal answers input requests.
            let line = crate::cmdline::CommandLine::parse(p.command_line());
            let told = line
                .option(HOST_STDIO_OPTION)
                .map(|v| HostStdio::parse(Some(v)));
            let on_request = told.is_some_and(|s| s.0[0] == HostStream::Terminal);
            let console = VirtioConsole::start(p, driver, irq, on_request);
            let ports = [
                ("stdin", console.input_port()),
                ("stdout", console.port(Stream::Out)),
                ("stderr", console.port(Stream::Err)),
            ];
            *VIRTIO.lock() = Some(console);
            for (stream, port) in ports {
                match port {
                    Some(id) => crate::klog!("console: {stream} on virtio console port {id}"),
                    None => crate::klog!("console: {stream} on the UART (no port for it)"),
                }
            }
        }
        Err(e) => crate::klog!("console: virtio console at {location}: {e}; the UART serves"),
    }
}

/// Writes all of `bytes` to `stream`. `Err(Closed)` when the reader on the host went away.
pub fn write(p: &dyn Platform, stream: Stream, bytes: &[u8]) -> Result<(), Closed> {
    // Busy means a message from inside the console itself (a panic): the UART takes it.
    if let Some(mut guard) = VIRTIO.try_lock()
        && let Some(console) = guard.as_mut()
        && let Some(id) = console.port(stream)
    {
        return console.write(p, id, bytes);
    }
    p.console_write(stream, bytes);
    Ok(())
}

/// Reads console input without waiting.
pub fn read(p: &dyn Platform, buf: &mut [u8]) -> Input {
    if let Some(console) = VIRTIO.lock().as_mut()
        && console.has_input()
    {
        return console.read(buf);
    }
    match p.console_read(buf) {
        0 if p.console_input_ended() => Input::Ended,
        0 => Input::Nothing,
        n => Input::Bytes(n),
    }
}

/// Whether end of input is an in-band EOT byte (a serial line, which cannot signal it
/// otherwise), rather than the source ending.
pub fn input_has_in_band_eof(p: &dyn Platform) -> bool {
    let virtio_input = VIRTIO.lock().as_ref().is_some_and(|c| c.has_input());
    !virtio_input && !p.console_input_can_end()
}

/// How long a reader may sleep before looking at the input again: `None` when new input
/// interrupts (the wait needs no timer).
pub fn input_poll_interval() -> Option<u64> {
    match VIRTIO.lock().as_ref() {
        Some(c) if c.has_input() && c.interrupts() => None,
        _ => Some(INPUT_POLL_NS),
    }
}

/// How often a reader of a console without input interrupts looks for input.
pub const INPUT_POLL_NS: u64 = 10_000_000;

/// Waits until everything written has left the machine (before it stops).
pub fn flush(p: &dyn Platform) {
    let stats = VIRTIO
        .try_lock()
        .and_then(|c| c.as_ref().map(VirtioConsole::waits));
    if let Some((waits, timer_wakes)) = stats {
        crate::klog!(
            "console: waited for the device {waits} time(s), {timer_wakes} ended by the timer"
        );
    }
    if let Some(mut guard) = VIRTIO.try_lock()
        && let Some(console) = guard.as_mut()
    {
        console.flush(p);
    }
}

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
            // A closed stream loses kernel messages as it loses the app's output.
            let _ = write(p, self.0, s.as_bytes());
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
