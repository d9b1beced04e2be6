//! The Linux-hosted mewz platform.
//!
//! Implements [`mewz_kernel::Platform`] for an ordinary Linux process, so the kernel's own boot
//! flow, WASI layer and app runtime run natively: compiled wasm + `libmewz_host.a` link into a
//! plain executable ([`link`] has the recipe, [`entry`] the C `main`). Linear memories are
//! `mmap` reservations; guard-page faults and `__mewz_trap` become wasm traps ([`trap`]), which
//! either end the process (exit 134) or, under the spec harness, unwind to a catch frame.
//! The runtime entries compiled code calls (`__mewz_trap`, `__mewz_memory_grow`, ...) are the
//! kernel's own (its `runtime-symbols` feature), running over this platform.
//!
//! Build: `cargo build -p mewz-host --release [--target aarch64-unknown-linux-gnu]` gives
//! `libmewz_host.a`; a hosted executable takes kernel options from `MEWZ_OPTIONS`
//! ([`entry::OPTIONS_VARIABLE`]), e.g. `MEWZ_OPTIONS=mewz.verbose ./app`.

pub mod entry;
pub mod files;
pub mod link;
pub mod memory;
pub mod net;
pub mod platform;
pub mod runtime;
pub mod stdio;
pub mod trap;

pub use platform::{HOST, HostPlatform};

/// Makes [`HOST`] the kernel's platform (for embedders that do not go through
/// [`entry::mewz_host_main`], like the spec executor).
pub fn install() {
    mewz_kernel::platform::install(&HOST);
}
