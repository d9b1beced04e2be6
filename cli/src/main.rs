//! `mewz`: one WebAssembly (WASI) binary in, bootable unikernel images for x86_64 and aarch64 out.

mod app;
mod cache;
mod image;
mod progress_bar;
mod qemu;
mod targets;
mod timings;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use image::{AppConfig, Progress};
use mewz_abi::ExitCode;
use object::Object;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::time::Duration;
use targets::TargetName;

#[derive(Parser)]
#[command(
    name = "mewz",
    version,
    about = "WebAssembly (WASI) to unikernel images for x86_64 and aarch64"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the supported targets.
    Targets,
    /// Build a bootable image (with no APP: the bare kernel, which runs its self-checks).
    Build(BuildArgs),
    /// Boot an image (or build one from a .wasm first) under QEMU and exit with the app's status.
    Run(RunArgs),
    /// Compile a .wasm to a native object file (imports stay undefined symbols).
    Compile(CompileArgs),
    /// Manage the cache of compiled objects ($XDG_CACHE_HOME/mewz, default ~/.cache/mewz).
    #[command(subcommand)]
    Cache(cache::CacheCommand),
}

#[derive(Args)]
struct CompileFlags {
    /// Compile even if the cache of compiled objects has this one, and leave the cache alone.
    #[arg(long)]
    no_cache: bool,
    /// Print where the compile's time goes: stages, LLVM passes, functions (compiles even
    /// when the object is cached).
    #[arg(long)]
    timings: bool,
}

impl CompileFlags {
    fn how(&self) -> app::CompileHow {
        app::CompileHow {
            cache: !self.no_cache,
            timings: self.timings,
        }
    }
}

#[derive(Args)]
struct CompileArgs {
    /// The WebAssembly module.
    app: PathBuf,
    /// x86_64, aarch64 (unikernels), host or aarch64-linux (hosted); triples accepted.
    #[arg(long, short, value_parser = parse_compiler_target)]
    target: mewz_compiler::Target,
    /// Output object file (default: APP with .o).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Also write the optimised LLVM IR here.
    #[arg(long, value_name = "FILE")]
    emit_llvm: Option<PathBuf>,
    /// LLVM optimisation level.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=3))]
    opt_level: u8,
    /// LLVM CPU name (default: a portable baseline for the architecture; on x86_64 tuned for
    /// x86-64-v3-era cores, without using their features).
    #[arg(long)]
    cpu: Option<String>,
    /// Explicit bounds checks on memory accesses instead of guard pages.
    #[arg(long)]
    bounds_checks: bool,
    #[command(flatten)]
    compile_flags: CompileFlags,
}

#[derive(Args)]
struct AppOptions {
    /// Environment variable for the app (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Cap on the app's linear memory (e.g. 64M, 1G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
}

#[derive(Args)]
struct BuildArgs {
    /// The WebAssembly app (omit to build the bare kernel).
    app: Option<PathBuf>,
    /// Target: x86_64 or aarch64 (full triples are accepted too); host makes a native executable.
    #[arg(long, short, value_parser = parse_target)]
    target: TargetName,
    /// Output image (default: APP name + .<target>.img, or kernel.<target>.img).
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    app_options: AppOptions,
    #[command(flatten)]
    compile_flags: CompileFlags,
    /// Arguments for the app, baked into the image.
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    /// Target to run on (default: the image's own, or this machine's architecture).
    #[arg(long, short, value_parser = parse_target)]
    target: Option<TargetName>,
    #[command(flatten)]
    app_options: AppOptions,
    #[command(flatten)]
    compile_flags: CompileFlags,
    /// Show the kernel's log (and build steps).
    #[arg(long, short)]
    verbose: bool,
    /// Extra word for the kernel command line (repeatable), e.g. mewz.selftest=timer.
    #[arg(long = "kernel-arg", value_name = "WORD")]
    kernel_args: Vec<String>,
    /// Memory of the virtual machine (QEMU -m), e.g. 1G.
    #[arg(long = "vm-memory", value_name = "SIZE")]
    vm_memory: Option<String>,
    /// Stop the machine after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// A .wasm app or a bootable image.
    file: PathBuf,
    /// Arguments for the app (override those baked into the image).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Longest kernel command line `mewz run` passes (see `run_cmd`).
const MAX_COMMAND_LINE: usize = 4000;

/// An error in how mewz was invoked (exit status 2), as opposed to a failed build or run.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

fn parse_target(s: &str) -> Result<TargetName, String> {
    s.parse().map_err(|e: anyhow::Error| e.to_string())
}

fn parse_compiler_target(s: &str) -> Result<mewz_compiler::Target, String> {
    s.parse()
        .map_err(|e: mewz_compiler::UnknownTarget| e.to_string())
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("'{s}' is not K=V")),
    }
}

/// `4096`, `64K`, `64M`, `1G`, with an optional `iB`/`B` (all powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim_end_matches("iB").trim_end_matches('B');
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (like 64M or 1G)"))?;
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("size '{s}' is out of range"))
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            print!("{e}");
            exit(0)
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "mewz: {} (see 'mewz --help')",
                first.trim_start_matches("error: ")
            );
            exit(2)
        }
    };
    match dispatch(cli.command) {
        Ok(code) => exit(code.into()),
        Err(e) => {
            eprintln!("mewz: {e:#}");
            exit(if e.is::<UsageError>() { 2 } else { 1 })
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<u8> {
    match cmd {
        Cmd::Targets => targets_cmd(),
        Cmd::Build(a) => build_cmd(a),
        Cmd::Run(a) => run_cmd(a),
        Cmd::Compile(a) => compile_cmd(a),
        Cmd::Cache(action) => cache::command(action),
    }
}

fn targets_cmd() -> Result<u8> {
    for t in TargetName::ALL {
        match t.unikernel() {
            Some(k) => {
                let p = k.profile()?;
                let format = match p.image {
                    targets::ImageFormat::Elf => "ELF image (PVH boot)",
                    targets::ImageFormat::Binary => "arm64 Image",
                };
                println!(
                    "{:<8} {:<22} {format}, runs on {}",
                    t, p.rust_target, p.qemu.binary
                );
            }
            None => println!(
                "{:<8} {:<22} native Linux executable",
                t,
                target_lexicon::Triple::host()
            ),
        }
    }
    Ok(0)
}

fn existing_file(path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(usage(format!("{}: no such file", path.display())));
    }
    Ok(())
}

fn build_cmd(a: BuildArgs) -> Result<u8> {
    if let Some(app) = &a.app {
        existing_file(app)?;
    }
    let config = AppConfig {
        name: a
            .app
            .as_deref()
            .and_then(Path::file_name)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        env: a.app_options.env,
        memory: a.app_options.memory,
        args: a.args,
    };
    let stem = a
        .app
        .as_deref()
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned());
    let output = a.output.unwrap_or_else(|| match (&stem, a.target) {
        (Some(stem), TargetName::Host) => PathBuf::from(stem),
        (Some(stem), t) => PathBuf::from(format!("{stem}.{t}.img")),
        (None, t) => PathBuf::from(format!("kernel.{t}.img")),
    });
    build(
        a.target,
        a.app.as_deref(),
        &config,
        &output,
        &Progress { quiet: false },
        a.compile_flags.how(),
    )?;
    let size = std::fs::metadata(&output)?.len();
    println!("{} ({} KiB)", output.display(), size.div_ceil(1024));
    Ok(0)
}

/// Compiles (if there is an app) and links an image, or a native executable for `host`.
fn build(
    target: TargetName,
    app: Option<&Path>,
    config: &AppConfig,
    output: &Path,
    progress: &Progress,
    how: app::CompileHow,
) -> Result<()> {
    let Some(kernel) = target.unikernel() else {
        let wasm = app.ok_or_else(|| usage("the hosted target needs an app"))?;
        if !config.env.is_empty() || !config.args.is_empty() || config.memory.is_some() {
            return Err(usage(
                "a hosted executable takes its arguments and environment when it runs",
            ));
        }
        return app::build_host_executable(wasm, output, progress, how);
    };
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let object = app
        .map(|wasm| {
            let options = mewz_compiler::CompileOptions {
                target: app::compiler_target(target),
                ..Default::default()
            };
            app::compile(wasm, &options, &work.path().join("app.o"), progress, how)
        })
        .transpose()?;
    image::link_image(target, kernel, object.as_ref(), config, output, progress)
}

fn compile_cmd(a: CompileArgs) -> Result<u8> {
    existing_file(&a.app)?;
    let output = a.output.unwrap_or_else(|| a.app.with_extension("o"));
    let options = mewz_compiler::CompileOptions {
        target: a.target,
        opt_level: a.opt_level,
        cpu: a.cpu,
        bounds_checks: a.bounds_checks,
        emit_llvm: a.emit_llvm.is_some(),
        import_linkage: mewz_compiler::ImportLinkage::Symbols,
        ..Default::default()
    };
    let bytes = std::fs::read(&a.app).with_context(|| format!("reading {}", a.app.display()))?;
    let start = std::time::Instant::now();
    let compiled = app::compile_object(&a.app, &bytes, &options, a.compile_flags.how())?;
    std::fs::write(&output, &compiled.object)
        .with_context(|| format!("writing {}", output.display()))?;
    if let (Some(path), Some(ir)) = (&a.emit_llvm, &compiled.llvm_ir) {
        std::fs::write(path, ir).with_context(|| format!("writing {}", path.display()))?;
    }
    let stages: Vec<String> = compiled
        .stages
        .iter()
        .map(|(n, d)| format!("{n} {:.3} s", d.as_secs_f64()))
        .collect();
    eprintln!(
        "compiled in {:.3} s ({})",
        start.elapsed().as_secs_f64(),
        if compiled.cached {
            "cached".to_string()
        } else {
            stages.join(", ")
        }
    );
    println!(
        "{} ({} KiB)",
        output.display(),
        compiled.object.len().div_ceil(1024)
    );
    Ok(0)
}

/// Which target an image was built for, from its header.
fn image_target(image: &[u8]) -> Option<TargetName> {
    const ARM64_MAGIC_OFFSET: usize = 56;
    if image.get(ARM64_MAGIC_OFFSET..ARM64_MAGIC_OFFSET + 4) == Some(b"ARM\x64") {
        return Some(TargetName::Aarch64);
    }
    match object::File::parse(image).ok()?.architecture() {
        object::Architecture::X86_64 => Some(TargetName::X86_64),
        _ => None,
    }
}

fn run_cmd(a: RunArgs) -> Result<u8> {
    existing_file(&a.file)?;
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let progress = Progress { quiet: !a.verbose };
    // argv[0] is the file name, as wasmtime gives it.
    let name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Kernel options in the order given: for a repeated option the last one wins.
    let mut kernel_words = a.kernel_args.clone();
    kernel_words.extend(a.verbose.then(|| "mewz.verbose".to_string()));
    let (target, image) = if bytes.starts_with(b"\0asm") {
        let target = a.target.unwrap_or_else(targets::default_target);
        if target == TargetName::Host {
            let exe = work.path().join("app");
            build(
                target,
                Some(&a.file),
                &AppConfig::default(),
                &exe,
                &progress,
                a.compile_flags.how(),
            )?;
            let mut words = kernel_words;
            words.extend(a.app_options.memory.map(|m| format!("mewz.memory={m}")));
            return app::run_host_executable(&exe, &name, &a.args, &a.app_options.env, &words);
        }
        let image = work.path().join("app.img");
        let config = AppConfig {
            name: name.clone(),
            ..Default::default()
        };
        build(
            target,
            Some(&a.file),
            &config,
            &image,
            &progress,
            a.compile_flags.how(),
        )?;
        (target, image)
    } else {
        let found = image_target(&bytes).ok_or_else(|| {
            usage(format!(
                "{}: neither a .wasm app nor a mewz image",
                a.file.display()
            ))
        })?;
        let target = a.target.unwrap_or(found);
        if target != found {
            return Err(usage(format!(
                "{} is an image for {found}, not {target}",
                a.file.display()
            )));
        }
        (target, a.file.clone())
    };
    let kernel = target.unikernel().expect("images are unikernels");
    let profile = kernel.profile()?;
    let runtime = AppConfig {
        name: String::new(),
        env: a.app_options.env,
        memory: a.app_options.memory,
        args: a.args,
    };
    let command_line = kernel_words
        .iter()
        .map(|w| mewz_kernel::cmdline::quote(w))
        .chain(Some(runtime.command_line()).filter(|l| !l.is_empty()))
        .collect::<Vec<_>>()
        .join(" ");
    // QEMU's PVH loader overwrites its own boot structure past ~4 KiB of command line; keep
    // every target to the same bound (bake long arguments into the image instead).
    if command_line.len() > MAX_COMMAND_LINE {
        return Err(usage(format!(
            "arguments and environment make a {}-byte kernel command line; at most {MAX_COMMAND_LINE} fit (bake them in with `mewz build ... -- ARGS`)",
            command_line.len()
        )));
    }
    // The app's linear memory comes out of the kernel heap: give the machine room for it.
    let vm_memory = a.vm_memory.clone().or_else(|| {
        a.app_options
            .memory
            .map(|m| format!("{}M", (m >> 20) + 256))
    });
    let outcome = qemu::run(&qemu::Boot {
        profile: &profile,
        image: &image,
        command_line: &command_line,
        machine_memory: vm_memory.as_deref(),
        timeout: Duration::from_secs(a.timeout),
    })?;
    if outcome.interrupted {
        eprintln!("mewz: interrupted");
        return Ok(130);
    }
    if outcome.timed_out {
        eprintln!(
            "mewz: the machine did not stop within {} s; stopped it",
            a.timeout
        );
    } else if outcome.code == ExitCode::NO_STATUS {
        eprintln!("mewz: the machine stopped without an exit status (reset or QEMU error)");
    }
    if a.verbose {
        eprintln!(
            "mewz: exit status {} after {:.3} s",
            outcome.code.0,
            outcome.elapsed.as_secs_f64()
        );
    }
    Ok(outcome.code.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn env_pairs_parse() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("noequals").is_err());
    }

    #[test]
    fn images_are_recognised() {
        let mut arm = vec![0u8; 64];
        arm[56..60].copy_from_slice(b"ARM\x64");
        assert_eq!(image_target(&arm), Some(TargetName::Aarch64));
        assert_eq!(image_target(b"not an image"), None);
    }
}
