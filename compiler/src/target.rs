//! The targets the compiler emits objects for.

use core::fmt;
use core::str::FromStr;
use target_lexicon::Triple;

/// An object-file target: an architecture plus the environment the object is linked into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The x86_64 unikernel (static, small code model, linked below 4 GiB).
    X86_64,
    /// The aarch64 unikernel (static, small code model).
    Aarch64,
    /// x86_64 Linux, position independent (PIE executables, shared objects).
    HostX86_64,
    /// aarch64 Linux, position independent.
    HostAarch64,
}

const ALL: [Target; 4] = [
    Target::X86_64,
    Target::Aarch64,
    Target::HostX86_64,
    Target::HostAarch64,
];

impl Target {
    /// The short name the CLI uses.
    pub fn name(&self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64",
            Target::Aarch64 => "aarch64",
            Target::HostX86_64 => "host",
            Target::HostAarch64 => "aarch64-linux",
        }
    }

    /// The LLVM triple of the objects.
    pub fn triple(&self) -> Triple {
        self.triple_str()
            .parse()
            .expect("built-in target triples parse")
    }

    pub(crate) fn triple_str(&self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-none-elf",
            Target::Aarch64 => "aarch64-unknown-none-elf",
            Target::HostX86_64 => "x86_64-unknown-linux-gnu",
            Target::HostAarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    pub fn all() -> &'static [Target] {
        &ALL
    }

    pub(crate) fn is_x86(&self) -> bool {
        matches!(self, Target::X86_64 | Target::HostX86_64)
    }

    /// Hosted targets produce position-independent code.
    pub(crate) fn is_pic(&self) -> bool {
        matches!(self, Target::HostX86_64 | Target::HostAarch64)
    }

    /// How the default code is tuned: scheduling, instruction choice and layout only. It uses
    /// no feature beyond [`Target::default_cpu`]'s, so it runs on every CPU of the
    /// architecture. A CPU the user names brings LLVM's own tuning instead.
    pub(crate) fn default_tuning(&self) -> Option<DefaultTuning> {
        self.is_x86().then_some(DefaultTuning {
            // LLVM's own `generic` x86 tuning schedules for Sandy Bridge (2011); the x86-64-v3
            // generation (Haswell and Zen onwards) is what clouds run today.
            cpu: "x86-64-v3",
            // That tuning is Intel's, and rotates by a constant with `shld`: slow on AMD's Zen,
            // where it made a loop of xxHash32 rounds twice as slow as `rol` (an EPYC of Zen
            // 4). On Intel cores `rol` by a constant is one micro-op of one cycle, no slower.
            features: "-fast-shld-rotate",
            // With LLVM's 16-byte alignment a small function may straddle two 64-byte fetch
            // lines: a recursive 45-byte function ran 5% slower than the same bytes in one
            // line (Zen 4). Costs 24 bytes of padding per function on average.
            function_alignment: 64,
        })
    }

    /// The portable baseline CPU and features used unless the user names a CPU.
    pub(crate) fn default_cpu(&self) -> (&'static str, &'static str) {
        if self.is_x86() {
            ("x86-64", "")
        } else {
            ("generic", "+neon,+fp-armv8")
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// See [`Target::default_tuning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DefaultTuning {
    /// The `tune-cpu` of every function.
    pub cpu: &'static str,
    /// Tuning features changed on top of `cpu`'s (never instruction-set features).
    pub features: &'static str,
    /// The alignment of every function, in bytes.
    pub function_alignment: u32,
}

/// Error of [`Target::from_str`]: names the supported targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTarget(pub String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ALL.iter().map(|t| t.name()).collect();
        write!(
            f,
            "unknown target `{}`; supported: {} (or their triples)",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownTarget {}

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(t) = ALL.iter().find(|t| t.name() == s) {
            return Ok(*t);
        }
        // Full triples are aliases: compare what matters (arch, OS), so `x86_64-unknown-none`
        // and `x86_64-unknown-none-elf` both work.
        let triple: Triple = s.parse().map_err(|_| UnknownTarget(s.to_string()))?;
        ALL.iter()
            .find(|t| {
                let own = t.triple();
                own.architecture == triple.architecture
                    && own.operating_system == triple.operating_system
            })
            .copied()
            .ok_or_else(|| UnknownTarget(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_triples_round_trip() {
        for t in Target::all() {
            assert_eq!(t.name().parse::<Target>(), Ok(*t));
            assert_eq!(t.triple_str().parse::<Target>(), Ok(*t));
            assert_eq!(t.triple().to_string().parse::<Target>(), Ok(*t));
        }
        assert_eq!("x86_64-unknown-none".parse::<Target>(), Ok(Target::X86_64));
        assert_eq!(
            "aarch64-unknown-linux-gnu".parse::<Target>(),
            Ok(Target::HostAarch64)
        );
        let err = "riscv64".parse::<Target>().unwrap_err().to_string();
        assert!(
            err.contains("x86_64, aarch64, host, aarch64-linux"),
            "{err}"
        );
    }
}
