//! `mewz`: one WebAssembly (WASI) binary in, bootable unikernel images for x86_64 and aarch64 out.

mod app;
mod boot_files;
mod cache;
mod child;
mod files;
mod footprint;
mod image;
mod network;
mod package;
mod progress_bar;
mod qemu;
mod stdio;
mod targets;
mod timings;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};
use files::DirSpec;
use image::{AppConfig, Progress};
use mewz_abi::ExitCode;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::time::Duration;
use targets::TargetName;

/// mimalloc for the whole process, LLVM's C++ allocations included (the `override` feature
/// replaces `malloc` and `free`): LLVM allocates and frees small objects at a high rate from
/// both compile threads, and glibc's malloc took 18% of a 2 MiB module's compile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Build an OCI image (layout directory or .tar archive) that urunc boots under QEMU.
    Package(PackageArgs),
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
#[command(group(ArgGroup::new("platforms").required(true).args(["target", "platform", "multi_arch"])))]
struct PackageArgs {
    /// The WebAssembly app.
    app: PathBuf,
    /// Target: x86_64 or aarch64.
    #[arg(long, short, value_parser = parse_target)]
    target: Option<TargetName>,
    /// OCI platform: linux/amd64 or linux/arm64 (comma-separated or repeated for several).
    #[arg(long, value_delimiter = ',', value_name = "OS/ARCH")]
    platform: Vec<String>,
    /// Both linux/amd64 and linux/arm64 behind one index (one tag for every node).
    #[arg(long)]
    multi_arch: bool,
    /// Output: an OCI image layout directory, or FILE.tar for an archive of one.
    #[arg(long, short)]
    output: PathBuf,
    /// The image's tag in the layout (`oci:DIR:TAG`).
    #[arg(long, default_value = "latest")]
    tag: String,
    #[command(flatten)]
    app_options: AppOptions,
    #[command(flatten)]
    compile_flags: CompileFlags,
    /// Arguments for the app, baked into the image (and the container's command).
    #[arg(last = true)]
    args: Vec<String>,
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
    /// A host directory the app gets as a preopened directory named GUEST (default: HOST as
    /// given), in RAM: packed into the image by `build`, handed over at boot by `run`
    /// (repeatable; fds 3, 4, ... in order).
    #[arg(long = "dir", value_name = "HOST[::GUEST]", value_parser = files::parse_dir)]
    dirs: Vec<DirSpec>,
    /// CPU the app is compiled for, as LLVM names it (e.g. x86-64-v3, neoverse-n1, native);
    /// the default is the architecture's portable baseline.
    #[arg(long, value_name = "CPU")]
    cpu: Option<String>,
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
    #[command(flatten)]
    listen: network::ListenOptions,
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
    #[command(flatten)]
    net: network::NetOptions,
    /// Show the kernel's log (and build steps).
    #[arg(long, short)]
    verbose: bool,
    /// Extra word for the kernel command line (repeatable), e.g. mewz.selftest=timer.
    #[arg(long = "kernel-arg", value_name = "WORD")]
    kernel_args: Vec<String>,
    /// Memory of the virtual machine (QEMU -m), e.g. 1G.
    #[arg(long = "vm-memory", value_name = "SIZE")]
    vm_memory: Option<String>,
    /// Stop the machine (or the hosted app) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// A .wasm app or a bootable image.
    file: PathBuf,
    /// Arguments for the app (override those baked into the image).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Memory of a machine `mewz run` starts when nothing asks for more (the profiles' `-m`).
const DEFAULT_VM_MIB: u64 = 512;

/// Images above this size get their own size added to the machine's memory.
const LARGE_IMAGE: u64 = 8 << 20;

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
            let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            // "the following required arguments were not provided:" names them on the next line.
            let what = match (first.ends_with(':'), lines.next()) {
                (true, Some(next)) => format!("{first} {}", next.trim()),
                _ => first.to_string(),
            };
            eprintln!(
                "mewz: {} (see 'mewz --help')",
                what.trim_start_matches("error: ")
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
        Cmd::Package(a) => package_cmd(a),
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
    files::check_dirs(&a.app_options.dirs)?;
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
        network: a.listen.tcplisten.iter().map(|l| l.kernel_word()).collect(),
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
    if a.app.is_none() && a.app_options.cpu.is_some() {
        return Err(usage(
            "--cpu is for an app; the kernel alone has none to compile",
        ));
    }
    build(
        a.target,
        a.app.as_deref(),
        &config,
        &a.app_options.dirs,
        &output,
        &Progress { quiet: false },
        &AppCompile {
            cpu: a.app_options.cpu.as_deref(),
            how: a.compile_flags.how(),
        },
    )?;
    let size = std::fs::metadata(&output)?.len();
    println!("{} ({} KiB)", output.display(), size.div_ceil(1024));
    Ok(0)
}

/// Compiles (if there is an app) and links an image, or a native executable for `host`, with
/// `dirs` packed into it.
/// How `build` compiles the app: for which CPU, and with or without the cache (`--timings`).
struct AppCompile<'a> {
    cpu: Option<&'a str>,
    how: app::CompileHow,
}

fn build(
    target: TargetName,
    app: Option<&Path>,
    config: &AppConfig,
    dirs: &[DirSpec],
    output: &Path,
    progress: &Progress,
    compile: &AppCompile,
) -> Result<()> {
    let kernel = target.unikernel();
    if kernel.is_none() {
        if app.is_none() {
            return Err(usage("the hosted target needs an app"));
        }
        if !config.env.is_empty() || !config.args.is_empty() || config.memory.is_some() {
            return Err(usage(
                "a hosted executable takes its arguments and environment when it runs",
            ));
        }
        if !config.network.is_empty() {
            return Err(usage(
                "a hosted executable takes --tcplisten when it runs (mewz run --target host --tcplisten ...)",
            ));
        }
    }
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let files = if dirs.is_empty() {
        None
    } else {
        let path = work.path().join("files.o");
        let (machine, unaligned) = match target {
            TargetName::X86_64 => (object::elf::EM_X86_64, false),
            TargetName::Aarch64 => (object::elf::EM_AARCH64, false),
            // A hosted executable maps no pages of its own: no alignment to pad for.
            TargetName::Host if cfg!(target_arch = "aarch64") => (object::elf::EM_AARCH64, true),
            TargetName::Host => (object::elf::EM_X86_64, true),
        };
        files::pack_object(
            dirs,
            files::Dates::reproducible()?,
            machine,
            unaligned,
            &path,
            progress,
        )?;
        Some(path)
    };
    let options = mewz_compiler::CompileOptions {
        target: app::compiler_target(target),
        cpu: compile.cpu.map(str::to_string),
        ..Default::default()
    };
    let Some(kernel) = kernel else {
        let wasm = app.ok_or_else(|| usage("the hosted target needs an app"))?;
        return app::build_host_executable(
            wasm,
            &options,
            files.as_deref(),
            output,
            progress,
            compile.how,
        );
    };
    let object = app
        .map(|wasm| {
            app::compile(
                wasm,
                &options,
                &work.path().join("app.o"),
                progress,
                compile.how,
            )
        })
        .transpose()?;
    // An app with sockets or preopened listeners says so in its image, for the runner.
    let mut config = config.clone();
    let imports = object.iter().flat_map(|o| o.imports.iter());
    if network::uses_sockets(imports.map(|(_, symbol)| symbol.as_str()))
        || !config.network.is_empty()
    {
        config.network.insert(0, network::NIC_WORD.into());
    }
    image::link_image(
        target,
        kernel,
        object.as_ref(),
        &config,
        files.as_deref(),
        output,
        progress,
    )
}

fn package_cmd(a: PackageArgs) -> Result<u8> {
    existing_file(&a.app)?;
    files::check_dirs(&a.app_options.dirs)?;
    package::check_output(&a.output).map_err(usage)?;
    package::check_tag(&a.tag).map_err(usage)?;
    let mut targets: Vec<TargetName> = a.target.into_iter().collect();
    for p in &a.platform {
        targets.push(package::target_of_platform(p).map_err(usage)?);
    }
    if a.multi_arch {
        targets = vec![TargetName::X86_64, TargetName::Aarch64];
    }
    targets.dedup();
    if targets.contains(&TargetName::Host) {
        return Err(usage(
            "the host target is a Linux executable, not a unikernel: package x86_64 or aarch64",
        ));
    }
    let name = a
        .app
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = AppConfig {
        name: name.clone(),
        env: a.app_options.env,
        memory: a.app_options.memory,
        args: a.args.clone(),
        network: Vec::new(),
    };
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let progress = Progress { quiet: false };
    // A bad SOURCE_DATE_EPOCH is one line before anything is built.
    let dates = files::Dates::reproducible()?;
    // The directories go in as the image's initrd (urunc passes it as `-initrd`), not baked:
    // the bootable image stays the same whatever the content, and the kernel takes a boot
    // module in place of baked directories anyway.
    let initrd = if a.app_options.dirs.is_empty() {
        None
    } else {
        let path = work.path().join("files.initrd");
        files::pack(&a.app_options.dirs, dates, &path, &progress)?;
        Some(path)
    };
    let mut platforms = Vec::new();
    let names: Vec<&str> = targets
        .iter()
        .filter_map(|t| package::platform_of(*t).map(|(_, name)| name))
        .collect();
    for target in targets {
        let image = work.path().join(format!("app.{target}.img"));
        build(
            target,
            Some(&a.app),
            &config,
            &[],
            &image,
            &progress,
            &AppCompile {
                cpu: a.app_options.cpu.as_deref(),
                how: a.compile_flags.how(),
            },
        )?;
        platforms.push(package::PlatformImage {
            target,
            image,
            initrd: initrd.clone(),
        });
    }
    package::write(
        &package::Package {
            platforms,
            name: &name,
            args: &a.args,
            tag: &a.tag,
        },
        &a.output,
    )?;
    println!(
        "{} ({}, tag {})",
        a.output.display(),
        names.join(", "),
        a.tag
    );
    Ok(0)
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

/// Which target an image was built for, from its first bytes (an image can be hundreds of
/// MiB: only its header is read).
fn image_target(head: &[u8]) -> Option<TargetName> {
    const ARM64_MAGIC_OFFSET: usize = 56;
    const ELF_MACHINE_OFFSET: usize = 18;
    const EM_X86_64: u16 = 62;
    if head.get(ARM64_MAGIC_OFFSET..ARM64_MAGIC_OFFSET + 4) == Some(b"ARM\x64") {
        return Some(TargetName::Aarch64);
    }
    let machine = head.get(ELF_MACHINE_OFFSET..ELF_MACHINE_OFFSET + 2)?;
    (head.starts_with(b"\x7fELF") && u16::from_le_bytes([machine[0], machine[1]]) == EM_X86_64)
        .then_some(TargetName::X86_64)
}

/// The first `len` bytes of `path` (fewer if it is shorter).
fn file_head(path: &Path, len: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(len);
    std::fs::File::open(path)
        .and_then(|f| f.take(len as u64).read_to_end(&mut head))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(head)
}

fn run_cmd(a: RunArgs) -> Result<u8> {
    existing_file(&a.file)?;
    files::check_dirs(&a.app_options.dirs)?;
    let bytes = file_head(&a.file, 4096)?;
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
    // Directories given at run time reach the machine as a boot module, replacing those baked
    // into an image.
    let archive = if a.app_options.dirs.is_empty() {
        None
    } else {
        let path = work.path().join("files.pack");
        files::pack(&a.app_options.dirs, files::Dates::AsFound, &path, &progress)?;
        Some(path)
    };
    let (target, image) = if bytes.starts_with(b"\0asm") {
        let target = a.target.unwrap_or_else(targets::default_target);
        if let Some(kernel) = target.unikernel() {
            // A module whose own minimum memory cannot fit the machine stops here, not at boot.
            // The size QEMU will be given (see below): whole MiB of a size mewz reads, else as
            // written.
            let vm_memory = match &a.vm_memory {
                Some(m) => Some(
                    parse_size(m)
                        .map(|b| format!("{}M", b.div_ceil(1 << 20)))
                        .unwrap_or_else(|_| m.clone()),
                ),
                None => a
                    .app_options
                    .memory
                    .map(|m| format!("{}M", (m >> 20) + 256)),
            };
            let machine = footprint::machine_bytes(vm_memory.as_deref(), &kernel.profile()?);
            let wasm =
                std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            if let Err(too_small) = footprint::check_before_boot(&wasm, machine) {
                eprintln!(
                    "mewz: {too_small}; {}",
                    footprint::hint_before_boot(&too_small)
                );
                return Ok(ExitCode::OUT_OF_MEMORY.0);
            }
        }
        if target == TargetName::Host {
            network::check_hosted(&a.net)?;
            kernel_words.extend(a.net.listen.tcplisten.iter().map(|l| l.kernel_word()));
            let exe = work.path().join("app");
            build(
                target,
                Some(&a.file),
                &AppConfig::default(),
                &[],
                &exe,
                &progress,
                &AppCompile {
                    cpu: a.app_options.cpu.as_deref(),
                    how: a.compile_flags.how(),
                },
            )?;
            let mut words = kernel_words;
            words.extend(a.app_options.memory.map(|m| format!("mewz.memory={m}")));
            words.extend(archive.map(|p| format!("mewz.files={}", p.display())));
            return app::run_host_executable(
                &exe,
                &name,
                &a.args,
                &a.app_options.env,
                &words,
                Duration::from_secs(a.timeout),
            );
        }
        let image = work.path().join("app.img");
        let config = AppConfig {
            name: name.clone(),
            ..Default::default()
        };
        // Bad or busy ports fail now, not after a compile.
        network::plan(&a.net, false, "")?;
        let compile = AppCompile {
            cpu: a.app_options.cpu.as_deref(),
            how: a.compile_flags.how(),
        };
        build(
            target,
            Some(&a.file),
            &config,
            &[],
            &image,
            &progress,
            &compile,
        )?;
        (target, image)
    } else {
        if a.app_options.cpu.is_some() {
            return Err(usage(format!(
                "{} is an image, compiled already: --cpu is for a .wasm app",
                a.file.display()
            )));
        }
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
    let net = network::plan(&a.net, network::image_wants_nic(&image)?, &profile.qemu.nic)?;
    kernel_words.extend(net.kernel_words);
    let runtime = AppConfig {
        name: String::new(),
        env: a.app_options.env,
        memory: a.app_options.memory,
        args: a.args,
        network: Vec::new(),
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
    // The app's linear memory comes out of the kernel heap: give the machine room for it, and
    // for a large image (its baked directories sit in guest RAM too). A `--vm-memory` that is
    // not a size goes to QEMU as given, which says what is wrong with it.
    let mut base_mib = match &a.vm_memory {
        Some(m) => parse_size(m).ok().map(|b| b.div_ceil(1 << 20)),
        None => Some(
            a.app_options
                .memory
                .map_or(DEFAULT_VM_MIB, |m| (m >> 20) + 256),
        ),
    };
    let asked_mib = base_mib;
    let image_bytes = std::fs::metadata(&image)?.len();
    if let Some(base) = &mut base_mib
        && image_bytes > LARGE_IMAGE
    {
        *base += image_bytes.div_ceil(1 << 20);
    }
    let plan = boot_files::plan(&profile, &image, archive.as_deref(), base_mib, work.path())?;
    let command_line = match &plan.kernel_word {
        Some(word) if command_line.is_empty() => word.clone(),
        Some(word) => format!("{word} {command_line}"),
        None => command_line,
    };
    let machine_memory = match (plan.memory_mib, &a.vm_memory) {
        (Some(mib), _) => Some(format!("{mib}M")),
        (None, given) => given.clone(),
    };
    // What the machine got beyond the --vm-memory asked for: hints speak of --vm-memory.
    let added_mib = match (asked_mib, plan.memory_mib) {
        (Some(asked), Some(total)) => total.saturating_sub(asked),
        _ => 0,
    };
    let machine = footprint::machine_bytes(machine_memory.as_deref(), &profile);
    if let (Some(need), Some(machine)) = (
        footprint::boot_need(&plan.image, profile.qemu.ram_base),
        machine,
    ) && let Err(too_small) = footprint::check_image_fits(need, machine, added_mib)
    {
        eprintln!("mewz: {too_small}");
        return Ok(ExitCode::OUT_OF_MEMORY.0);
    }
    let outcome = qemu::run(&qemu::Boot {
        profile: &profile,
        image: &plan.image,
        command_line: &command_line,
        initrd: plan.initrd.as_deref(),
        extra_args: &plan.qemu_args,
        machine_memory: machine_memory.as_deref(),
        network: &net.qemu_args,
        timeout: Duration::from_secs(a.timeout),
        verbose: a.verbose,
    })?;
    if outcome.code == ExitCode::OUT_OF_MEMORY && outcome.signal.is_none() && !outcome.timed_out {
        eprintln!(
            "mewz: {}",
            footprint::hint_after_exit(&outcome.notes, machine, added_mib)
        );
    }
    Ok(outcome.report(a.timeout, a.verbose))
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
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[18] = 62;
        assert_eq!(image_target(&elf), Some(TargetName::X86_64));
        elf[18] = 183;
        assert_eq!(image_target(&elf), None, "an aarch64 ELF is no mewz image");
        assert_eq!(image_target(&elf[..10]), None);
    }
}
