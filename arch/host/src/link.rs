//! The one recipe for linking a compiled app object with `libmewz_host.a` into a native
//! executable (used by `mewz run --target host` and by tests).

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// Architectures the hosted platform builds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostArch {
    X86_64,
    Aarch64,
}

impl HostArch {
    /// The Rust target `libmewz_host.a` must be built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            HostArch::X86_64 => "x86_64-unknown-linux-gnu",
            HostArch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The C compiler driver that links for this architecture (it knows the libc and crt files).
    pub fn linker(self) -> &'static str {
        match self {
            HostArch::X86_64 => "clang-19",
            HostArch::Aarch64 => "aarch64-linux-gnu-gcc",
        }
    }
}

/// System libraries the Rust standard library inside `libmewz_host.a` needs
/// (`rustc --print native-static-libs`).
const SYSTEM_LIBS: [&str; 6] = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"];

/// The command that links `object` (compiled wasm) and `archive` (`libmewz_host.a` for the
/// same architecture) into the executable `output`.
///
/// Non-PIE because compiled wasm objects need not be position independent. No
/// `--gc-sections`: the module descriptor is only reached through its section bounds.
pub fn link_command(arch: HostArch, object: &Path, archive: &Path, output: &Path) -> Command {
    let mut cmd = Command::new(arch.linker());
    cmd.args(link_args(arch, object, archive, output));
    cmd
}

/// The arguments of [`link_command`] (without the program).
pub fn link_args(arch: HostArch, object: &Path, archive: &Path, output: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if arch == HostArch::X86_64 {
        args.push("-fuse-ld=lld".into());
    }
    args.push("-no-pie".into());
    args.push("-o".into());
    args.push(output.into());
    // GNU ld does not pull an archive member in for a `--defsym` expression: ask for the
    // entry explicitly, before the archive.
    args.push(format!("-Wl,--undefined={}", crate::entry::ENTRY_SYMBOL).into());
    args.push(object.into());
    args.push(archive.into());
    args.push(format!("-Wl,--defsym=main={}", crate::entry::ENTRY_SYMBOL).into());
    args.extend(SYSTEM_LIBS.iter().map(OsString::from));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_names_inputs_output_and_entry() {
        let cmd = link_command(
            HostArch::X86_64,
            Path::new("app.o"),
            Path::new("libmewz_host.a"),
            Path::new("app"),
        );
        assert_eq!(cmd.get_program(), "clang-19");
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        let o = args.iter().position(|a| *a == "-o").unwrap();
        assert_eq!(args[o + 1], "app");
        let obj = args.iter().position(|a| *a == "app.o").unwrap();
        let lib = args.iter().position(|a| *a == "libmewz_host.a").unwrap();
        assert!(obj < lib, "the archive must follow the object that uses it");
        assert!(args.contains(&"-Wl,--defsym=main=mewz_host_main"));
        let undefined = args
            .iter()
            .position(|a| *a == "-Wl,--undefined=mewz_host_main")
            .unwrap();
        assert!(undefined < lib);
        let a64 = link_command(
            HostArch::Aarch64,
            Path::new("a.o"),
            Path::new("l.a"),
            Path::new("x"),
        );
        assert_eq!(a64.get_program(), "aarch64-linux-gnu-gcc");
    }
}
