//! Compiles one wasm file to an object and prints the stage timings:
//! `cargo run --release -p mewz-compiler --example mewzc -- IN.wasm OUT.o [TARGET] [--slots] [-O N]`
use mewz_compiler::{CompileOptions, ImportLinkage, compile};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: mewzc IN.wasm OUT.o [TARGET] [--slots] [-O N]");
        std::process::exit(2);
    }
    let mut opts = CompileOptions::default();
    let mut rest = args[2..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--slots" => opts.import_linkage = ImportLinkage::Slots,
            "--bounds-checks" => opts.bounds_checks = true,
            "--emit-llvm" => opts.emit_llvm = true,
            "-O" => opts.opt_level = rest.next().and_then(|n| n.parse().ok()).unwrap_or(2),
            t => match t.parse() {
                Ok(t) => opts.target = t,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            },
        }
    }
    let wasm = std::fs::read(&args[0]).expect("read input");
    let started = std::time::Instant::now();
    match compile(&wasm, &opts) {
        Ok(m) => {
            std::fs::write(&args[1], &m.object).expect("write output");
            if let Some(ir) = &m.llvm_ir {
                std::fs::write(format!("{}.ll", args[1]), ir).expect("write IR");
            }
            for (stage, t) in &m.timings {
                eprintln!("{stage:>10}: {:.3}s", t.as_secs_f64());
            }
            eprintln!("     total: {:.3}s", started.elapsed().as_secs_f64());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
