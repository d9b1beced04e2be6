//! What, besides the wasm bytes, decides the object [`crate::compile`] makes: for caches of
//! compiled objects, which must never hand out an object another compiler or other options
//! made.

use crate::CompileOptions;
use inkwell::targets::TargetMachine;

/// A hash of this compiler's sources, the crates it is built from (`Cargo.lock`), the Rust
/// compiler and LLVM: see `build.rs`.
const BUILD_ID: &str = env!("MEWZ_COMPILER_BUILD_ID");

/// A text that differs whenever `compile(wasm, opts)` may make a different object for the
/// same `wasm`: another build of this compiler, another LLVM, another option that changes
/// code (target, opt level, CPU, bounds checks, import linkage, ...), or, for `--cpu native`,
/// another machine. Options that change nothing in the object (`emit_llvm`, `profile`) are
/// left out. An object made with another partitioning (the number of cores) is the same
/// code, split differently: not part of it.
pub fn code_identity(opts: &CompileOptions) -> String {
    let mut options = opts.clone();
    options.emit_llvm = false;
    options.profile = false;
    let (major, minor, patch) = inkwell::support::get_llvm_version();
    let mut identity = format!(
        "mewz-compiler {} build {BUILD_ID} llvm {major}.{minor}.{patch} {options:?}",
        env!("CARGO_PKG_VERSION")
    );
    if opts.cpu.as_deref() == Some("native") {
        identity.push_str(&format!(
            " native {} {}",
            TargetMachine::get_host_cpu_name().to_string_lossy(),
            TargetMachine::get_host_cpu_features().to_string_lossy()
        ));
    }
    identity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;

    #[test]
    fn every_code_changing_option_changes_the_identity() {
        let base = CompileOptions::default();
        let variants = [
            CompileOptions {
                target: Target::Aarch64,
                ..base.clone()
            },
            CompileOptions {
                opt_level: 1,
                ..base.clone()
            },
            CompileOptions {
                cpu: Some("znver4".into()),
                ..base.clone()
            },
            CompileOptions {
                bounds_checks: true,
                ..base.clone()
            },
            CompileOptions {
                import_linkage: crate::ImportLinkage::Slots,
                ..base.clone()
            },
            CompileOptions {
                every_loop_twice: true,
                ..base.clone()
            },
        ];
        let mut identities: Vec<String> = variants.iter().map(code_identity).collect();
        identities.push(code_identity(&base));
        let count = identities.len();
        identities.sort();
        identities.dedup();
        assert_eq!(identities.len(), count, "{identities:#?}");
        assert!(code_identity(&base).contains(BUILD_ID));
    }

    #[test]
    fn options_that_change_no_code_leave_it_alone() {
        let base = CompileOptions::default();
        let observed = CompileOptions {
            emit_llvm: true,
            profile: true,
            ..base.clone()
        };
        assert_eq!(code_identity(&base), code_identity(&observed));
    }

    #[test]
    fn native_names_the_machine() {
        let native = CompileOptions {
            cpu: Some("native".into()),
            ..CompileOptions::default()
        };
        let host = TargetMachine::get_host_cpu_name()
            .to_string_lossy()
            .into_owned();
        assert!(code_identity(&native).contains(&format!(" native {host} ")));
    }
}
