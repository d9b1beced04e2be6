//! The Wasm spec-suite harness: a driver (parses `.wast`, compiles every module with
//! mewz-compiler, links it into a shared object) and an executor (loads the shared objects
//! through the hosted runtime, links instances, invokes exports, catches traps) that talk
//! over a line protocol, so that the executor can run under qemu-user for aarch64.

pub mod expect;
pub mod protocol;

#[cfg(feature = "driver")]
pub mod driver;
pub mod exec;
