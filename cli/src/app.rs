//! The app side of `mewz`: compiling a .wasm, making a hosted executable, running it.

use crate::cache::{Entry, Key};
use crate::image::{AppObject, Progress, run_tool};
use crate::progress_bar::CompileBar;
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

/// How [`compile`] and [`compile_object`] go about it (the `--no-cache` and `--timings` flags).
#[derive(Clone, Copy, Debug)]
pub struct CompileHow {
    /// Use the cache of compiled objects (see `cache.rs`).
    pub cache: bool,
    /// Compile (even when the cache has the object) and report where the time went.
    pub timings: bool,
}

/// A compiled app.
pub struct Compiled {
    pub object: Vec<u8>,
    /// Every import the module declares, as `(kind, symbol name)`.
    pub imports: Vec<(mewz_compiler::ExportKind, String)>,
    pub llvm_ir: Option<String>,
    /// Found in the cache, not compiled.
    pub cached: bool,
    /// Time per compile stage (none when cached).
    pub stages: Vec<(&'static str, std::time::Duration)>,
}

/// Compiles the module `wasm` (read from `path`), or finds it compiled in the cache.
pub fn compile_object(
    path: &Path,
    wasm: &[u8],
    options: &CompileOptions,
    how: CompileHow,
) -> Result<Compiled> {
    // The cache holds objects, not IR.
    let cache = (how.cache && !options.emit_llvm)
        .then(crate::cache::open_or_warn)
        .flatten();
    let key = cache
        .as_ref()
        .map(|_| Key::new(wasm, &mewz_compiler::code_identity(options)));
    if let (Some(cache), Some(key), false) = (&cache, &key, how.timings)
        && let Some(entry) = crate::cache::load_or_warn(cache, key)
    {
        return Ok(Compiled {
            object: entry.object,
            imports: entry.imports,
            llvm_ir: None,
            cached: true,
            stages: Vec::new(),
        });
    }
    let options = CompileOptions {
        profile: how.timings,
        ..options.clone()
    };
    let bar = CompileBar::new();
    let compiled = mewz_compiler::compile_with_progress(wasm, &options, &bar);
    bar.finish();
    let module = compiled.with_context(|| path.display().to_string())?;
    if let Some(profile) = &module.profile {
        let names = mewz_compiler::function_names(wasm);
        eprint!(
            "{}",
            crate::timings::report(&module.timings, profile, &names)
        );
    }
    let imports: Vec<(mewz_compiler::ExportKind, String)> = module
        .imports
        .iter()
        .map(|i| (i.kind, i.symbol.clone()))
        .collect();
    if let (Some(cache), Some(key)) = (&cache, &key) {
        crate::cache::store_or_warn(
            cache,
            key,
            &Entry {
                object: module.object.clone(),
                imports: imports.clone(),
            },
        );
    }
    Ok(Compiled {
        object: module.object,
        imports,
        llvm_ir: module.llvm_ir,
        cached: false,
        stages: module.timings,
    })
}

/// Compiles `wasm` to an object file at `output`; the one-line error names the file.
pub fn compile(
    wasm: &Path,
    options: &CompileOptions,
    output: &Path,
    progress: &Progress,
    how: CompileHow,
) -> Result<AppObject> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    progress.stage("compile", || {
        let compiled = compile_object(wasm, &bytes, options, how)?;
        std::fs::write(output, &compiled.object)
            .with_context(|| format!("writing {}", output.display()))?;
        let detail = format!(
            "{} ({} KiB wasm -> {} KiB {} object{})",
            wasm.display(),
            bytes.len().div_ceil(1024),
            compiled.object.len().div_ceil(1024),
            options.target.name(),
            if compiled.cached { ", cached" } else { "" }
        );
        Ok((
            AppObject {
                path: output.to_path_buf(),
                imports: compiled.imports,
            },
            detail,
        ))
    })
}

/// The identity of the hosted runtime `mewz` links apps with (a hash made by build.rs).
const HOST_RUNTIME_ID: &str = env!("MEWZ_HOST_RUNTIME_ID");

/// Compiles `wasm` and links it with the hosted runtime into the executable `output`, or
/// finds that executable in the cache. With packed directories (`files`) only the object is
/// cached: the executable holds the files too.
pub fn build_host_executable(
    wasm: &Path,
    options: &CompileOptions,
    files: Option<&Path>,
    output: &Path,
    progress: &Progress,
    how: CompileHow,
) -> Result<()> {
    if files.is_some() {
        let work = tempfile::tempdir().context("creating a temporary directory")?;
        let object = compile(wasm, options, &work.path().join("app.o"), progress, how)?;
        return link_host_executable(&object, files, output, progress);
    }
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let cache = (how.cache && !how.timings)
        .then(crate::cache::open_or_warn)
        .flatten();
    let recipe = mewz_host::link::link_args(
        host_arch(),
        Path::new("app.o"),
        Path::new("runtime.a"),
        Path::new("app"),
    );
    let identity = format!(
        "{} | hosted executable, runtime {HOST_RUNTIME_ID}, linked with {recipe:?}",
        mewz_compiler::code_identity(options)
    );
    let key = Key::new(&bytes, &identity);
    if let Some(entry) = cache
        .as_ref()
        .and_then(|cache| crate::cache::load_or_warn(cache, &key))
    {
        return progress.stage("compile", || {
            write_executable(output, &entry.object)?;
            Ok(((), format!("{} (cached hosted executable)", wasm.display())))
        });
    }
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let object = compile(wasm, options, &work.path().join("app.o"), progress, how)?;
    link_host_executable(&object, None, output, progress)?;
    if let Some(cache) = &cache {
        let executable =
            std::fs::read(output).with_context(|| format!("reading {}", output.display()))?;
        crate::cache::store_or_warn(
            cache,
            &key,
            &Entry {
                object: executable,
                imports: Vec::new(),
            },
        );
    }
    Ok(())
}

fn write_executable(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

fn host_arch() -> mewz_host::link::HostArch {
    if cfg!(target_arch = "aarch64") {
        mewz_host::link::HostArch::Aarch64
    } else {
        mewz_host::link::HostArch::X86_64
    }
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
    progress.stage("link", || {
        let mut cmd = mewz_host::link::link_command(host_arch(), &app.path, &archive, output);
        run_tool(cmd.args(files))?;
        Ok(((), format!("{} + hosted runtime", app.path.display())))
    })
}

/// Runs a hosted executable with exactly the given arguments and environment (nothing of
/// mewz's own environment leaks into the app, as with the unikernel targets). `kernel_words`
/// (`mewz.*` options) travel in the variable the hosted runtime reads and hides from the app.
/// As a machine would be, the app is stopped on SIGINT, SIGTERM or SIGHUP to mewz and after
/// `timeout`, and never outlives mewz.
pub fn run_host_executable(
    exe: &Path,
    name: &str,
    args: &[String],
    env: &[(String, String)],
    kernel_words: &[String],
    timeout: std::time::Duration,
) -> Result<u8> {
    use std::os::unix::process::ExitStatusExt;
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
    crate::child::dies_with_mewz(&mut cmd);
    let stop_signals = crate::child::StopSignals::watch()?;
    let start = std::time::Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running {}", exe.display()))?;
    let pid = child.id() as libc::pid_t;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let sig = stop_signals.received();
        if sig.is_some() || start.elapsed() >= timeout {
            // The app hears the signal (from a terminal it may have heard it already) and
            // has a moment to end on it; a timeout or an app that stays is killed.
            if let Some(sig) = sig {
                // SAFETY: kill(2) only sends a signal to the app, which is still our child.
                unsafe { libc::kill(pid, sig) };
                let grace = std::time::Instant::now();
                while child.try_wait()?.is_none() && grace.elapsed().as_millis() < 2000 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
            let _ = child.kill();
            child.wait()?;
            if let Some(sig) = sig {
                eprintln!("mewz: {}; stopped the app", crate::child::signal_name(sig));
                return Ok(128 + sig as u8);
            }
            eprintln!(
                "mewz: the app did not stop within {} s; stopped it",
                timeout.as_secs()
            );
            return Ok(mewz_abi::ExitCode::NO_STATUS.0);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => 128 + sig as u8,
        (None, None) => mewz_abi::ExitCode::NO_STATUS.0,
    })
}

use std::os::unix::process::CommandExt;
