//! The app side of `mewz`: compiling a .wasm, making a hosted executable, running it.

use crate::image::{AppObject, Progress, run_tool};
use crate::targets::{HOST_RUNTIME_ARCHIVE, TargetName};
use anyhow::{Context, Result};
use mewz_compiler::{CompileOptions, Target};
use std::path::Path;
use std::process::Command;

/// The compiler target for a `mewz` target.
pub fn compiler_target(target: TargetName) -> Target {
    match target {
        TargetName::X86_64 => Target::X86_64,
        TargetName::Aarch64 => Target::Aarch64,
        TargetName::Host if cfg!(target_arch = "aarch64") => Target::HostAarch64,
        TargetName::Host => Target::HostX86_64,
    }
}

/// Compiles `wasm` to an object file at `output`; the one-line error names the file.
pub fn compile(
    wasm: &Path,
    options: &CompileOptions,
    output: &Path,
    progress: &Progress,
) -> Result<AppObject> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    progress
        .stage("compile", || {
            let module = mewz_compiler::compile(&bytes, options)
                .with_context(|| wasm.display().to_string())?;
            std::fs::write(output, &module.object)
                .with_context(|| format!("writing {}", output.display()))?;
            let detail = format!(
                "{} ({} KiB wasm -> {} KiB {} object)",
                wasm.display(),
                bytes.len().div_ceil(1024),
                module.object.len().div_ceil(1024),
                options.target.name()
            );
            Ok((module, detail))
        })
        .map(|module| AppObject {
            path: output.to_path_buf(),
            imports: module
                .imports
                .iter()
                .map(|i| (i.kind, i.symbol.clone()))
                .collect(),
        })
}

/// Links a compiled app with the hosted runtime (and the packed directories, if any) into a
/// native executable.
pub fn link_host_executable(
    app: &AppObject,
    files: Option<&Path>,
    output: &Path,
    progress: &Progress,
) -> Result<()> {
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let archive = work.path().join("libmewz_host.a");
    std::fs::write(&archive, HOST_RUNTIME_ARCHIVE)?;
    crate::image::check_imports(app, HOST_RUNTIME_ARCHIVE, "the hosted runtime", progress)?;
    let arch = if cfg!(target_arch = "aarch64") {
        mewz_host::link::HostArch::Aarch64
    } else {
        mewz_host::link::HostArch::X86_64
    };
    progress.stage("link", || {
        let mut cmd = mewz_host::link::link_command(arch, &app.path, &archive, output);
        run_tool(cmd.args(files))?;
        Ok(((), format!("{} + hosted runtime", app.path.display())))
    })
}

/// Runs a hosted executable with exactly the given arguments and environment (nothing of
/// mewz's own environment leaks into the app, as with the unikernel targets). `kernel_words`
/// (`mewz.*` options) travel in the variable the hosted runtime reads and hides from the app.
pub fn run_host_executable(
    exe: &Path,
    name: &str,
    args: &[String],
    env: &[(String, String)],
    kernel_words: &[String],
) -> Result<u8> {
    let mut cmd = Command::new(exe);
    cmd.arg0(name)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    if !kernel_words.is_empty() {
        let words: Vec<String> = kernel_words
            .iter()
            .map(|w| mewz_kernel::cmdline::quote(w))
            .collect();
        cmd.env(mewz_host::entry::OPTIONS_VARIABLE, words.join(" "));
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => 128 + sig as u8,
        (None, None) => mewz_abi::ExitCode::NO_STATUS.0,
    })
}

use std::os::unix::process::CommandExt;
