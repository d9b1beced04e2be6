//! The targets `mewz` builds for: their profiles (`targets/<name>/target.toml`, linker script)
//! and kernel archives, all embedded at build time (see `build.rs`).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use target_lexicon::{Architecture, OperatingSystem, Triple};

/// Where an app runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetName {
    X86_64,
    Aarch64,
    /// A native Linux executable on this machine.
    Host,
}

impl TargetName {
    pub const ALL: [TargetName; 3] = [TargetName::X86_64, TargetName::Aarch64, TargetName::Host];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetName::X86_64 => "x86_64",
            TargetName::Aarch64 => "aarch64",
            TargetName::Host => "host",
        }
    }

    /// The unikernel profile, `None` for the hosted target.
    pub fn unikernel(self) -> Option<&'static Unikernel> {
        match self {
            TargetName::X86_64 => Some(&X86_64),
            TargetName::Aarch64 => Some(&AARCH64),
            TargetName::Host => None,
        }
    }
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TargetName {
    type Err = anyhow::Error;

    /// Accepts a target name or, as an alias, any full triple naming the same machine.
    fn from_str(s: &str) -> Result<TargetName> {
        if let Some(t) = TargetName::ALL.iter().find(|t| t.as_str() == s) {
            return Ok(*t);
        }
        let supported = || TargetName::ALL.map(TargetName::as_str).join(", ");
        let triple = Triple::from_str(s)
            .map_err(|_| anyhow::anyhow!("unknown target '{s}' (supported: {})", supported()))?;
        match (triple.architecture, triple.operating_system) {
            (
                Architecture::X86_64 | Architecture::X86_64h,
                OperatingSystem::None_ | OperatingSystem::Unknown,
            ) => Ok(TargetName::X86_64),
            (Architecture::Aarch64(_), OperatingSystem::None_ | OperatingSystem::Unknown) => {
                Ok(TargetName::Aarch64)
            }
            (arch, OperatingSystem::Linux) if arch == Triple::host().architecture => {
                Ok(TargetName::Host)
            }
            _ => bail!("unsupported target '{s}' (supported: {})", supported()),
        }
    }
}

/// How the runner gets the guest's exit status out of QEMU.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExitDevice {
    /// x86: isa-debug-exit for the stop, isa-debugcon for the full status byte.
    IsaDebugExit,
    /// aarch64: semihosting SYS_EXIT; QEMU's process status is the code.
    Semihosting,
}

/// The file format of a bootable image.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// The linked ELF is the image (PVH on x86_64).
    Elf,
    /// A flat binary made with objcopy (arm64 Image).
    Binary,
}

/// `targets/<name>/target.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub rust_target: String,
    pub image: ImageFormat,
    pub link_args: Vec<String>,
    pub exit: ExitDevice,
    pub qemu: QemuProfile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuProfile {
    pub binary: String,
    pub args: Vec<String>,
    /// Physical address where the machine's RAM starts.
    pub ram_base: u64,
    /// Guest RAM up to this size (MiB) lies in one piece from `ram_base`, so that a second
    /// memory node (see `boot_files`) follows the first without a gap.
    pub contiguous_ram_mib: u64,
    /// The NIC device, given `,netdev=ID` when the machine gets a network.
    pub nic: String,
}

/// A bare-metal target: its profile, linker script and kernel archive.
pub struct Unikernel {
    name: &'static str,
    profile_toml: &'static str,
    pub linker_script: &'static str,
    pub kernel_archive: &'static [u8],
}

impl Unikernel {
    pub fn profile(&self) -> Result<Profile> {
        let p: Profile = toml::from_str(self.profile_toml).with_context(|| {
            format!(
                "embedded profile targets/{}/target.toml is invalid",
                self.name
            )
        })?;
        anyhow::ensure!(
            p.name == self.name,
            "targets/{}/target.toml names itself '{}'",
            self.name,
            p.name
        );
        Ok(p)
    }
}

static X86_64: Unikernel = Unikernel {
    name: "x86_64",
    profile_toml: include_str!("../../targets/x86_64/target.toml"),
    linker_script: include_str!("../../targets/x86_64/link.ld"),
    kernel_archive: include_bytes!(concat!(env!("OUT_DIR"), "/kernel-x86_64.a")),
};

static AARCH64: Unikernel = Unikernel {
    name: "aarch64",
    profile_toml: include_str!("../../targets/aarch64/target.toml"),
    linker_script: include_str!("../../targets/aarch64/link.ld"),
    kernel_archive: include_bytes!(concat!(env!("OUT_DIR"), "/kernel-aarch64.a")),
};

/// The hosted runtime archive, linked into native executables for `--target host`.
pub static HOST_RUNTIME_ARCHIVE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/runtime-host.a"));

/// The target a file name suggests when `--target` is not given: the host's architecture.
pub fn default_target() -> TargetName {
    match Triple::host().architecture {
        Architecture::Aarch64(_) => TargetName::Aarch64,
        _ => TargetName::X86_64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_triples_resolve() {
        assert_eq!("x86_64".parse::<TargetName>().unwrap(), TargetName::X86_64);
        assert_eq!(
            "aarch64".parse::<TargetName>().unwrap(),
            TargetName::Aarch64
        );
        assert_eq!("host".parse::<TargetName>().unwrap(), TargetName::Host);
        assert_eq!(
            "x86_64-unknown-none".parse::<TargetName>().unwrap(),
            TargetName::X86_64
        );
        assert_eq!(
            "aarch64-unknown-none-elf".parse::<TargetName>().unwrap(),
            TargetName::Aarch64
        );
        assert_eq!(
            "x86_64-unknown-linux-gnu".parse::<TargetName>().unwrap(),
            TargetName::Host
        );
    }

    #[test]
    fn unknown_targets_list_the_supported_ones() {
        let e = "riscv64".parse::<TargetName>().unwrap_err().to_string();
        assert!(e.contains("x86_64, aarch64, host"), "{e}");
        let e = "mips-unknown-linux-gnu"
            .parse::<TargetName>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported target"), "{e}");
    }

    #[test]
    fn embedded_profiles_parse_and_match_their_names() {
        for t in [TargetName::X86_64, TargetName::Aarch64] {
            let p = t.unikernel().unwrap().profile().unwrap();
            assert_eq!(p.name, t.as_str());
            assert!(p.rust_target.ends_with("-unknown-none"));
            assert!(
                t.unikernel()
                    .unwrap()
                    .kernel_archive
                    .starts_with(b"!<arch>\n")
            );
        }
    }
}
