//! The architecture-independent part of the mewz unikernel.
//!
//! An arch crate (`arch/x86_64`, `arch/aarch64`) or the Linux-hosted platform (`arch/host`)
//! implements [`Platform`] and hands control to [`boot::main`]. Nothing in this crate names a
//! register, a port or a device address; it builds and unit-tests on the host with `cargo test`.
#![cfg_attr(not(test), no_std)]

#[macro_use]
extern crate alloc;

pub mod app;
pub mod boot;
pub mod cmdline;
pub mod console;
pub mod demand;
pub mod fault;
pub mod footprint;
pub mod frames;
pub mod fs;
pub mod heap;
pub mod net;
pub mod platform;
pub mod selftest;
pub mod time;
pub mod tlb;
pub mod touch_buffer;
pub mod virtio;
pub mod wasi;

#[cfg(target_os = "none")]
mod panic;

pub use platform::{MapError, MemoryRegion, Platform, Stream, platform};
