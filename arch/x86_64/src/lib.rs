//! The mewz platform for x86_64: PVH boot (QEMU `-M q35`, Firecracker), its own page tables,
//! exceptions, 16550 serial console, TSC/LAPIC time, CMOS wall clock, PCI enumeration.
//!
//! The hardware parts exist only on the bare-metal target (`target_os = "none"`); the pure
//! logic they rely on (PVH parsing, memory ranges, RTC decoding, tick arithmetic, fault
//! reports) also builds on the host, so `cargo test -p mewz-arch-x86_64` runs it there.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

#[cfg(target_os = "none")]
extern crate alloc;

pub mod clock_math;
pub mod exception_report;
pub mod memory_layout;
pub mod pci_config;
pub mod pvh;
pub mod rtc_time;

#[cfg(target_os = "none")]
mod hw;
