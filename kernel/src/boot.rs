//! The boot flow shared by every platform, after the arch's early init.

use crate::cmdline::CommandLine;
use crate::platform::{self, Platform};
use crate::{app, console, heap, klog, kprintln, selftest, virtio};
use mewz_abi::ExitCode;

/// Version printed in the boot banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Entered by the arch crate once it has a console, a memory map, its page tables and its
/// exception vectors. Never returns: it ends with [`Platform::exit`].
pub fn main(p: &'static dyn Platform) -> ! {
    platform::install(p);
    let boot_start_ns = p.monotonic_ns();
    heap::init(p.free_memory());
    let cmdline = CommandLine::parse(p.command_line());
    // Without an app the kernel is its own demo and says what it finds; with one, the console
    // belongs to the app unless `mewz.verbose` asks for the kernel's log too.
    let module = app::image::module();
    let has_app = !matches!(module, Ok(None));
    console::set_verbose(!has_app || cmdline.flag("verbose"));

    klog!("mewz-rs {} booting on {}", VERSION, p.name());
    klog!("command line: {:?}", p.command_line());
    klog!(
        "heap: {} KiB in {} region(s)",
        heap::size() / 1024,
        p.free_memory().iter().filter(|r| r.len >= 4096).count()
    );
    p.init_devices();
    virtio::discover(p);
    console::init(p);
    crate::net::virtio_net::start(p, &cmdline.plain);
    let init_ns = p.monotonic_ns().saturating_sub(boot_start_ns);
    klog!("kernel init took {} us", init_ns / 1000);

    let code = match (cmdline.option("selftest"), module) {
        (Some(name), _) => selftest::run(name),
        (None, Ok(Some(module))) => app::start(p, module),
        (None, Ok(None)) => selftest::run("all"),
        (None, Err(e)) => {
            kprintln!("mewz: cannot start the app: {e}");
            ExitCode::APP_NOT_STARTED.0
        }
    };
    crate::wasi::flush_network();
    crate::footprint::log_report();
    klog!("exit {}", code);
    if code != 0 {
        kprintln!("mewz: exiting with status {}", code);
    }
    console::flush(p);
    p.exit(code)
}
