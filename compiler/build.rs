//! Builds the C++ side of `src/observe` against the LLVM that llvm-sys links, and derives the
//! compiler's build id (`src/identity.rs`) from everything that decides the objects it makes.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let llvm_config = llvm_config();
    build_shim(&manifest, &llvm_config);
    let id = build_id(&manifest, &llvm_config);
    println!("cargo:rustc-env=MEWZ_COMPILER_BUILD_ID={id}");
}

/// The llvm-config of the LLVM llvm-sys links (it looks in `LLVM_SYS_191_PREFIX`, then PATH).
fn llvm_config() -> PathBuf {
    println!("cargo:rerun-if-env-changed=LLVM_SYS_191_PREFIX");
    match env::var_os("LLVM_SYS_191_PREFIX") {
        Some(prefix) => Path::new(&prefix).join("bin/llvm-config"),
        None => PathBuf::from("llvm-config"),
    }
}

fn llvm_config_output(llvm_config: &Path, arg: &str) -> String {
    let out = Command::new(llvm_config)
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("running {} {arg}: {e}", llvm_config.display()));
    assert!(
        out.status.success(),
        "{} {arg} failed",
        llvm_config.display()
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn build_shim(manifest: &Path, llvm_config: &Path) {
    let shim = manifest.join("src/observe/shim.cpp");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file(&shim)
        .warnings(true)
        .extra_warnings(false);
    for flag in llvm_config_output(llvm_config, "--cxxflags").split_whitespace() {
        build.flag(flag);
    }
    // The shim subclasses an LLVM pass: it must match LLVM's own choice of RTTI.
    if llvm_config_output(llvm_config, "--has-rtti") != "YES" {
        build.flag("-fno-rtti");
    }
    build.compile("mewz_llvm_shim");
}

/// A hash of the compiler's and the ABI crate's sources and manifests, `Cargo.lock` (the
/// versions of wasmparser, inkwell and every other crate), the Rust compiler and LLVM.
fn build_id(manifest: &Path, llvm_config: &Path) -> String {
    let root = manifest.parent().unwrap();
    let mut hasher = blake3::Hasher::new();
    let mut inputs = vec![
        manifest.join("build.rs"),
        manifest.join("Cargo.toml"),
        root.join("abi/Cargo.toml"),
        root.join("Cargo.lock"),
    ];
    for dir in [manifest.join("src"), root.join("abi/src")] {
        println!("cargo:rerun-if-changed={}", dir.display());
        files_under(&dir, &mut inputs);
    }
    inputs.sort();
    for path in &inputs {
        println!("cargo:rerun-if-changed={}", path.display());
        // Cargo.lock is absent when the crate is built on its own.
        if let Ok(contents) = std::fs::read(path) {
            let name = path.strip_prefix(root).unwrap_or(path);
            hasher.update(name.to_string_lossy().as_bytes());
            hasher.update(&(contents.len() as u64).to_le_bytes());
            hasher.update(&contents);
        }
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("-vV")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    hasher.update(&rustc_version);
    hasher.update(llvm_config_output(llvm_config, "--version").as_bytes());
    hasher.update(env::var("PROFILE").unwrap_or_default().as_bytes());
    hasher.finalize().to_hex()[..32].to_string()
}

fn files_under(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, files);
        } else {
            files.push(path);
        }
    }
}
