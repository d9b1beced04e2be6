//! The contract between code compiled by `mewz-compiler` and the runtimes that run it
//! (the unikernel on x86_64/aarch64 and the Linux-hosted platform).
//!
//! Everything both sides must agree on lives here and only here: symbol names, trap codes,
//! exit codes, the linear-memory layout and the layout of the structures the compiled module
//! shares with the runtime. `no_std`, no dependencies, so every crate can use it.
#![no_std]

pub mod exit;
pub mod memory;
pub mod module;
pub mod symbols;
pub mod trap;

pub use exit::ExitCode;
pub use trap::TrapCode;
