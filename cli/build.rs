//! Builds the kernel archives `mewz build` links apps with, and embeds them in the binary.
//!
//! For each bare-metal target under `targets/` it runs
//! `cargo build -p mewz-arch-<arch> --target <arch>-unknown-none --profile kernel`, and for the
//! hosted target `cargo build -p mewz-host --profile kernel`, in a target directory of their own
//! (`<target-dir>/kernels`), then copies the archives into OUT_DIR where `src/targets.rs`
//! `include_bytes!`s them. So `cargo build --release` yields a `mewz` that needs no other file.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (crate, rust target triple or None for the host, archive file name, name in OUT_DIR)
const ARCHIVES: &[(&str, Option<&str>, &str, &str)] = &[
    (
        "mewz-arch-x86_64",
        Some("x86_64-unknown-none"),
        "libmewz_arch_x86_64.a",
        "kernel-x86_64.a",
    ),
    (
        "mewz-arch-aarch64",
        Some("aarch64-unknown-none"),
        "libmewz_arch_aarch64.a",
        "kernel-aarch64.a",
    ),
    ("mewz-host", None, "libmewz_host.a", "runtime-host.a"),
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    for dir in [
        "abi",
        "kernel",
        "arch",
        "targets",
        "Cargo.lock",
        "Cargo.toml",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let kernels_dir = target_dir(&root, &out).join("kernels");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for (krate, triple, file, embedded) in ARCHIVES {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args(["build", "--quiet", "--profile", "kernel", "-p", krate])
            .arg("--target-dir")
            .arg(&kernels_dir);
        // The outer build's flags and target dir are for the CLI, not for the kernels.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            cmd.env_remove(var);
        }
        let triple = triple
            .map(str::to_owned)
            .unwrap_or_else(|| env::var("HOST").unwrap());
        cmd.args(["--target", &triple]);
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("running cargo for {krate}: {e}"));
        assert!(
            status.success(),
            "building the {krate} archive for {triple} failed"
        );
        let built = kernels_dir.join(&triple).join("kernel").join(file);
        std::fs::copy(&built, out.join(embedded))
            .unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    }
    // The hosted runtime's identity: the cache of linked hosted executables keys on it.
    let runtime = std::fs::read(out.join("runtime-host.a")).expect("reading the hosted runtime");
    println!(
        "cargo:rustc-env=MEWZ_HOST_RUNTIME_ID={}",
        blake3::hash(&runtime).to_hex()
    );
}

/// The workspace's target directory: OUT_DIR is `<target-dir>/[<triple>/]<profile>/build/<pkg>/out`.
fn target_dir(root: &Path, out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            root.join(dir)
        };
    }
    out.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"))
}
