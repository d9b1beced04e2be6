//! The mewz unikernel platform for aarch64: boots as an arm64 Linux `Image` (QEMU `-M virt`,
//! or any loader that passes a device tree in `x0`), discovers its devices from the FDT and
//! implements [`mewz_kernel::Platform`].
//!
//! Pure logic (descriptor encoding, ESR decoding, the Image header, FDT parsing and memory-map
//! arithmetic) builds on any host so that `cargo test -p mewz-arch-aarch64` runs on the
//! developer's machine; everything that touches the CPU or a device is compiled only for the
//! bare-metal target.
// On the host (unit tests, `cargo build --workspace`) the crate links std, which supplies the
// panic handler a staticlib needs; the kernel supplies it on the bare-metal target.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod counter;
pub mod dtb_extent;
pub mod esr;
pub mod image_header;
pub mod machine;
pub mod memory_map;
pub mod mmu;
pub mod pcie_host;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod bare;
