//! The driver: runs `.wast` scripts, compiling each module with mewz-compiler into a shared
//! object and letting an executor process (native, or under qemu-user) run it.

pub mod client;
pub mod compile;
pub mod convert;
pub mod fuzz;
pub mod loops;
pub mod report;
pub mod runner;

/// The architecture the modules are compiled for and the executor runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "x86-64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    pub fn compiler_target(self) -> mewz_compiler::Target {
        match self {
            Arch::X86_64 => mewz_compiler::Target::HostX86_64,
            Arch::Aarch64 => mewz_compiler::Target::HostAarch64,
        }
    }

    /// Per-invocation time limit: generous under qemu-user's emulation.
    pub fn invoke_timeout_ms(self) -> u64 {
        match self {
            Arch::X86_64 => 10_000,
            Arch::Aarch64 => 30_000,
        }
    }
}
