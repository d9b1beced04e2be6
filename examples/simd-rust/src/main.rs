//! A SIMD workload: BLAKE3 (hand-written wasm SIMD in the `blake3` crate) over generated data,
//! and an image filter (grayscale, Gaussian blur, Sobel edges; loops the compiler vectorises)
//! over a generated picture. The same source builds for wasm with SIMD
//! (`-C target-feature=+simd128 --features simd`), without, and natively; every build prints
//! the same lines, since all arithmetic is on integers.
//!
//! Usage: `simd-rust [hash MIB] [filter SIZE ROUNDS]...` (default: `hash 8 filter 512 4`).

mod filter;

use std::process::ExitCode;

const USAGE: &str = "usage: simd-rust [hash MIB] [filter SIZE ROUNDS]...";

/// One piece of work from the command line.
enum Work {
    Hash { mib: usize },
    Filter { size: usize, rounds: usize },
}

fn parse(args: &[String]) -> Result<Vec<Work>, String> {
    let number = |s: Option<&String>, what: &str, min: usize, max: usize| {
        let s = s.ok_or(format!("{what} is missing"))?;
        match s.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "{what} must be a number from {min} to {max}, not {s:?}"
            )),
        }
    };
    let mut work = Vec::new();
    let mut args = args.iter();
    while let Some(command) = args.next() {
        work.push(match command.as_str() {
            "hash" => Work::Hash {
                mib: number(args.next(), "MIB", 1, 4096)?,
            },
            "filter" => Work::Filter {
                size: number(args.next(), "SIZE", 3, 8192)?,
                rounds: number(args.next(), "ROUNDS", 1, 1000)?,
            },
            other => return Err(format!("unknown command {other:?}")),
        });
    }
    if work.is_empty() {
        work = vec![
            Work::Hash { mib: 8 },
            Work::Filter {
                size: 512,
                rounds: 4,
            },
        ];
    }
    Ok(work)
}

/// BLAKE3 of `mib` MiB: one generated MiB, its first byte changed to the MiB's number.
fn hash(mib: usize) -> blake3::Hash {
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for word in block.chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
    let mut hasher = blake3::Hasher::new();
    for i in 0..mib {
        block[0] = i as u8;
        hasher.update(&block);
    }
    hasher.finalize()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let work = match parse(&args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("simd-rust: {e} ({USAGE})");
            return ExitCode::from(2);
        }
    };
    for w in work {
        match w {
            Work::Hash { mib } => println!("blake3 of {mib} MiB: {}", hash(mib).to_hex()),
            Work::Filter { size, rounds } => {
                let edges = filter::run(size, rounds);
                let strong = edges.iter().filter(|&&e| e >= 128).count();
                println!(
                    "filter {size}x{size}, {rounds} blurs: {strong} strong edge pixels, blake3 {}",
                    blake3::hash(&edges).to_hex()
                );
            }
        }
    }
    ExitCode::SUCCESS
}
