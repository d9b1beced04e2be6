//! Fixed-width SIMD: every operator compiles on every target and CPU to instructions alone (no
//! library call), the x86-64 baseline stays SSE2, and the lowerings built by hand (rounding
//! without SSE4.1, min/max, swizzle) compute what wasm says. The spec suite's SIMD scripts
//! (`ci/spec`) check every operator's results in depth.

use super::run::{Instance, trap};
use crate::{CompileOptions, Target, compile};
use mewz_abi::TrapCode;
use object::{Object, ObjectSymbol};
use std::collections::BTreeSet;

/// Every fixed-width SIMD operator of Wasm 2.0 (236), each in a function of its own.
fn every_simd_operator() -> String {
    const UNARY: &[&str] = &[
        "v128.not",
        "i8x16.abs",
        "i8x16.neg",
        "i8x16.popcnt",
        "i16x8.abs",
        "i16x8.neg",
        "i32x4.abs",
        "i32x4.neg",
        "i64x2.abs",
        "i64x2.neg",
        "f32x4.abs",
        "f32x4.neg",
        "f32x4.sqrt",
        "f32x4.ceil",
        "f32x4.floor",
        "f32x4.trunc",
        "f32x4.nearest",
        "f64x2.abs",
        "f64x2.neg",
        "f64x2.sqrt",
        "f64x2.ceil",
        "f64x2.floor",
        "f64x2.trunc",
        "f64x2.nearest",
        "i16x8.extadd_pairwise_i8x16_s",
        "i16x8.extadd_pairwise_i8x16_u",
        "i32x4.extadd_pairwise_i16x8_s",
        "i32x4.extadd_pairwise_i16x8_u",
        "i16x8.extend_low_i8x16_s",
        "i16x8.extend_high_i8x16_s",
        "i16x8.extend_low_i8x16_u",
        "i16x8.extend_high_i8x16_u",
        "i32x4.extend_low_i16x8_s",
        "i32x4.extend_high_i16x8_s",
        "i32x4.extend_low_i16x8_u",
        "i32x4.extend_high_i16x8_u",
        "i64x2.extend_low_i32x4_s",
        "i64x2.extend_high_i32x4_s",
        "i64x2.extend_low_i32x4_u",
        "i64x2.extend_high_i32x4_u",
        "i32x4.trunc_sat_f32x4_s",
        "i32x4.trunc_sat_f32x4_u",
        "f32x4.convert_i32x4_s",
        "f32x4.convert_i32x4_u",
        "i32x4.trunc_sat_f64x2_s_zero",
        "i32x4.trunc_sat_f64x2_u_zero",
        "f64x2.convert_low_i32x4_s",
        "f64x2.convert_low_i32x4_u",
        "f32x4.demote_f64x2_zero",
        "f64x2.promote_low_f32x4",
    ];
    const BINARY: &[&str] = &[
        "v128.and",
        "v128.andnot",
        "v128.or",
        "v128.xor",
        "i8x16.swizzle",
        "i8x16.narrow_i16x8_s",
        "i8x16.narrow_i16x8_u",
        "i16x8.narrow_i32x4_s",
        "i16x8.narrow_i32x4_u",
        "i8x16.add",
        "i8x16.add_sat_s",
        "i8x16.add_sat_u",
        "i8x16.sub",
        "i8x16.sub_sat_s",
        "i8x16.sub_sat_u",
        "i8x16.min_s",
        "i8x16.min_u",
        "i8x16.max_s",
        "i8x16.max_u",
        "i8x16.avgr_u",
        "i16x8.add",
        "i16x8.add_sat_s",
        "i16x8.add_sat_u",
        "i16x8.sub",
        "i16x8.sub_sat_s",
        "i16x8.sub_sat_u",
        "i16x8.mul",
        "i16x8.min_s",
        "i16x8.min_u",
        "i16x8.max_s",
        "i16x8.max_u",
        "i16x8.avgr_u",
        "i16x8.q15mulr_sat_s",
        "i16x8.extmul_low_i8x16_s",
        "i16x8.extmul_high_i8x16_s",
        "i16x8.extmul_low_i8x16_u",
        "i16x8.extmul_high_i8x16_u",
        "i32x4.add",
        "i32x4.sub",
        "i32x4.mul",
        "i32x4.min_s",
        "i32x4.min_u",
        "i32x4.max_s",
        "i32x4.max_u",
        "i32x4.dot_i16x8_s",
        "i32x4.extmul_low_i16x8_s",
        "i32x4.extmul_high_i16x8_s",
        "i32x4.extmul_low_i16x8_u",
        "i32x4.extmul_high_i16x8_u",
        "i64x2.add",
        "i64x2.sub",
        "i64x2.mul",
        "i64x2.extmul_low_i32x4_s",
        "i64x2.extmul_high_i32x4_s",
        "i64x2.extmul_low_i32x4_u",
        "i64x2.extmul_high_i32x4_u",
        "f32x4.add",
        "f32x4.sub",
        "f32x4.mul",
        "f32x4.div",
        "f32x4.min",
        "f32x4.max",
        "f32x4.pmin",
        "f32x4.pmax",
        "f64x2.add",
        "f64x2.sub",
        "f64x2.mul",
        "f64x2.div",
        "f64x2.min",
        "f64x2.max",
        "f64x2.pmin",
        "f64x2.pmax",
    ];
    const COMPARISONS: &[&str] = &[
        "i8x16.eq",
        "i8x16.ne",
        "i8x16.lt_s",
        "i8x16.lt_u",
        "i8x16.gt_s",
        "i8x16.gt_u",
        "i8x16.le_s",
        "i8x16.le_u",
        "i8x16.ge_s",
        "i8x16.ge_u",
        "i16x8.eq",
        "i16x8.ne",
        "i16x8.lt_s",
        "i16x8.lt_u",
        "i16x8.gt_s",
        "i16x8.gt_u",
        "i16x8.le_s",
        "i16x8.le_u",
        "i16x8.ge_s",
        "i16x8.ge_u",
        "i32x4.eq",
        "i32x4.ne",
        "i32x4.lt_s",
        "i32x4.lt_u",
        "i32x4.gt_s",
        "i32x4.gt_u",
        "i32x4.le_s",
        "i32x4.le_u",
        "i32x4.ge_s",
        "i32x4.ge_u",
        "i64x2.eq",
        "i64x2.ne",
        "i64x2.lt_s",
        "i64x2.gt_s",
        "i64x2.le_s",
        "i64x2.ge_s",
        "f32x4.eq",
        "f32x4.ne",
        "f32x4.lt",
        "f32x4.gt",
        "f32x4.le",
        "f32x4.ge",
        "f64x2.eq",
        "f64x2.ne",
        "f64x2.lt",
        "f64x2.gt",
        "f64x2.le",
        "f64x2.ge",
    ];
    const TO_I32: &[&str] = &[
        "v128.any_true",
        "i8x16.all_true",
        "i16x8.all_true",
        "i32x4.all_true",
        "i64x2.all_true",
        "i8x16.bitmask",
        "i16x8.bitmask",
        "i32x4.bitmask",
        "i64x2.bitmask",
    ];
    const SHAPES: &[(&str, &str, u8)] = &[
        ("i8x16", "i32", 16),
        ("i16x8", "i32", 8),
        ("i32x4", "i32", 4),
        ("i64x2", "i64", 2),
        ("f32x4", "f32", 4),
        ("f64x2", "f64", 2),
    ];
    let mut funcs: Vec<String> = Vec::new();
    let mut add = |signature: &str, body: String| {
        let name = funcs.len();
        funcs.push(format!("(func (export \"f{name}\") {signature} {body})"));
    };
    for op in UNARY {
        add(
            "(param v128) (result v128)",
            format!("({op} (local.get 0))"),
        );
    }
    for op in BINARY.iter().chain(COMPARISONS) {
        add(
            "(param v128 v128) (result v128)",
            format!("({op} (local.get 0) (local.get 1))"),
        );
    }
    add(
        "(param v128 v128 v128) (result v128)",
        "(v128.bitselect (local.get 0) (local.get 1) (local.get 2))".into(),
    );
    for op in TO_I32 {
        add("(param v128) (result i32)", format!("({op} (local.get 0))"));
    }
    for (shape, scalar, lanes) in SHAPES {
        let (last, signed) = (lanes - 1, *lanes > 4);
        add(
            &format!("(param {scalar}) (result v128)"),
            format!("({shape}.splat (local.get 0))"),
        );
        let extracts: &[&str] = if signed { &["_s", "_u"] } else { &[""] };
        for suffix in extracts {
            add(
                &format!("(param v128) (result {scalar})"),
                format!("({shape}.extract_lane{suffix} {last} (local.get 0))"),
            );
        }
        add(
            &format!("(param v128 {scalar}) (result v128)"),
            format!("({shape}.replace_lane {last} (local.get 0) (local.get 1))"),
        );
        if !shape.starts_with('f') {
            for shift in ["shl", "shr_s", "shr_u"] {
                add(
                    "(param v128 i32) (result v128)",
                    format!("({shape}.{shift} (local.get 0) (local.get 1))"),
                );
            }
        }
    }
    add("(result v128)", "(v128.const i32x4 1 2 3 -1)".into());
    add(
        "(param v128 v128) (result v128)",
        "(i8x16.shuffle 31 0 30 1 29 2 28 3 27 4 26 5 25 6 24 7 (local.get 0) (local.get 1))"
            .into(),
    );
    for load in [
        "v128.load",
        "v128.load8x8_s",
        "v128.load8x8_u",
        "v128.load16x4_s",
        "v128.load16x4_u",
        "v128.load32x2_s",
        "v128.load32x2_u",
        "v128.load8_splat",
        "v128.load16_splat",
        "v128.load32_splat",
        "v128.load64_splat",
        "v128.load32_zero",
        "v128.load64_zero",
    ] {
        add(
            "(param i32) (result v128)",
            format!("({load} offset=3 (local.get 0))"),
        );
    }
    add(
        "(param i32 v128)",
        "(v128.store offset=3 (local.get 0) (local.get 1))".into(),
    );
    for (bits, lane) in [(8, 15), (16, 7), (32, 3), (64, 1)] {
        add(
            "(param i32 v128) (result v128)",
            format!("(v128.load{bits}_lane offset=1 {lane} (local.get 0) (local.get 1))"),
        );
        add(
            "(param i32 v128)",
            format!("(v128.store{bits}_lane offset=1 {lane} (local.get 0) (local.get 1))"),
        );
    }
    format!("(module (memory 1)\n{})", funcs.join("\n"))
}

/// The distinct SIMD operators in `wasm`'s code.
fn simd_operators_in(wasm: &[u8]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() else {
            continue;
        };
        for op in body.get_operators_reader().unwrap() {
            let name = format!("{:?}", op.unwrap());
            let name = name.split([' ', '{']).next().unwrap().to_string();
            if ["V128", "I8x16", "I16x8", "I32x4", "I64x2", "F32x4", "F64x2"]
                .iter()
                .any(|shape| name.starts_with(shape))
            {
                found.insert(name);
            }
        }
    }
    found
}

/// The undefined symbols of an object.
fn undefined_symbols(object: &[u8]) -> Vec<String> {
    let file = object::File::parse(object).unwrap();
    file.symbols()
        .filter(|s| s.is_global() && s.is_undefined())
        .map(|s| s.name().unwrap().to_string())
        .collect()
}

/// Each target's baseline, and CPUs with more (SSE4.1 rounding, SSSE3 byte shuffles, AVX).
const TARGETS_AND_CPUS: &[(Target, Option<&str>)] = &[
    (Target::X86_64, None),
    (Target::X86_64, Some("x86-64-v2")),
    (Target::HostX86_64, Some("x86-64-v3")),
    (Target::HostX86_64, Some("x86-64-v4")),
    (Target::Aarch64, None),
    (Target::HostAarch64, Some("neoverse-n1")),
];

#[test]
fn every_simd_operator_becomes_instructions_on_every_target_and_cpu() {
    let wasm = super::wasm(&every_simd_operator());
    assert_eq!(
        simd_operators_in(&wasm).len(),
        236,
        "the module must hold every operator once at least"
    );
    let runtime = [
        mewz_abi::symbols::TRAP,
        mewz_abi::symbols::STACK_LIMIT,
        "_GLOBAL_OFFSET_TABLE_",
    ];
    for &(target, cpu) in TARGETS_AND_CPUS {
        for opt_level in [0, 2] {
            let opts = CompileOptions {
                target,
                cpu: cpu.map(str::to_string),
                opt_level,
                ..CompileOptions::default()
            };
            let object = compile(&wasm, &opts)
                .unwrap_or_else(|e| panic!("{target} {cpu:?} -O{opt_level}: {e}"))
                .object;
            for symbol in undefined_symbols(&object) {
                assert!(
                    runtime.contains(&symbol.as_str()),
                    "{target} {cpu:?} -O{opt_level}: calls {symbol}"
                );
            }
        }
    }
}

/// Mnemonics of x86 instruction sets past SSE2 (SSE3, SSSE3, SSE4.1/4.2, AVX*: VEX/EVEX
/// forms all start with `v`).
fn beyond_sse2(mnemonic: &str) -> bool {
    const LATER: &[&str] = &[
        "pshufb",
        "palignr",
        "pabs",
        "phadd",
        "phsub",
        "pmaddubsw",
        "pmulhrsw",
        "psign",
        "round",
        "pmins",
        "pmaxs",
        "pminu",
        "pmaxu",
        "pmulld",
        "pmuldq",
        "ptest",
        "pblend",
        "blendv",
        "pextr",
        "pinsr",
        "pmovsx",
        "pmovzx",
        "packusdw",
        "pcmpeqq",
        "pcmpgtq",
        "insertps",
        "extractps",
        "dpps",
        "dppd",
        "haddp",
        "hsubp",
        "movddup",
        "movshdup",
        "movsldup",
        "lddqu",
        "popcnt",
        "lzcnt",
        "tzcnt",
    ];
    // SSE2 has pminub/pmaxub and pminsw/pmaxsw, and pextrw/pinsrw.
    const SSE2: &[&str] = &["pminub", "pmaxub", "pminsw", "pmaxsw", "pextrw", "pinsrw"];
    (mnemonic.starts_with('v') && !mnemonic.starts_with("verw"))
        || (LATER.iter().any(|l| mnemonic.starts_with(l)) && !SSE2.contains(&mnemonic))
}

#[test]
fn the_x86_baseline_uses_nothing_past_sse2() {
    let wasm = super::wasm(&every_simd_operator());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simd.o");
    for cpu in [None, Some("x86-64-v3")] {
        let opts = CompileOptions {
            target: Target::X86_64,
            cpu: cpu.map(str::to_string),
            ..CompileOptions::default()
        };
        std::fs::write(&path, compile(&wasm, &opts).unwrap().object).unwrap();
        let out = std::process::Command::new("llvm-objdump-19")
            .args(["-d", "--no-show-raw-insn"])
            .arg(&path)
            .output()
            .expect("llvm-objdump-19 runs");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let mnemonics: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.split('\t').nth(1))
            .filter_map(|i| i.split_whitespace().next())
            .collect();
        assert!(
            mnemonics.contains("paddb") || mnemonics.contains("vpaddb"),
            "{mnemonics:?}"
        );
        let later: Vec<_> = mnemonics.iter().filter(|m| beyond_sse2(m)).collect();
        match cpu {
            None => assert!(later.is_empty(), "baseline uses {later:?}"),
            // The check must be able to see what a newer CPU brings.
            Some(_) => assert!(
                ["vroundps", "vpshufb"].iter().all(|m| later.contains(&m)),
                "{later:?}"
            ),
        }
    }
}

/// The lowerings built by hand, at the baseline and with a CPU that has the instructions (the
/// two must agree), seen through scalar exports: rounding (ties, -0, large values, NaN
/// quieting), min/max (-0 against +0, NaN), swizzle (out-of-range indices), shifts (counts
/// modulo the lane width), and a v128 access that crosses the end of memory.
#[test]
fn hand_built_lowerings_agree_at_the_baseline_and_beyond() {
    let wat = r#"(module (memory 1)
      (func (export "nearest") (param f32) (result i32)
        (i32.reinterpret_f32 (f32x4.extract_lane 1 (f32x4.nearest (f32x4.splat (local.get 0))))))
      (func (export "floor") (param f64) (result i64)
        (i64.reinterpret_f64 (f64x2.extract_lane 1 (f64x2.floor (f64x2.splat (local.get 0))))))
      (func (export "ceil") (param f32) (result i32)
        (i32.reinterpret_f32 (f32x4.extract_lane 3 (f32x4.ceil (f32x4.splat (local.get 0))))))
      (func (export "trunc") (param f64) (result i64)
        (i64.reinterpret_f64 (f64x2.extract_lane 0 (f64x2.trunc (f64x2.splat (local.get 0))))))
      (func (export "min") (param f32 f32) (result i32)
        (i32.reinterpret_f32 (f32x4.extract_lane 2
          (f32x4.min (f32x4.splat (local.get 0)) (f32x4.splat (local.get 1))))))
      (func (export "max") (param f64 f64) (result i64)
        (i64.reinterpret_f64 (f64x2.extract_lane 1
          (f64x2.max (f64x2.splat (local.get 0)) (f64x2.splat (local.get 1))))))
      (func (export "swizzle") (param i64 i64) (result i64)
        (i64x2.extract_lane 0 (i8x16.swizzle
          (v128.const i8x16 0x10 0x11 0x12 0x13 0x14 0x15 0x16 0x17 0x18 0x19 0x1a 0x1b 0x1c 0x1d 0x1e 0x1f)
          (i64x2.replace_lane 1 (i64x2.splat (local.get 0)) (local.get 1)))))
      (func (export "shl") (param i32 i32) (result i32)
        (i32x4.extract_lane 0 (i32x4.shl (i32x4.splat (local.get 0)) (local.get 1))))
      (func (export "shr_s") (param i32 i32) (result i32)
        (i8x16.extract_lane_s 5 (i8x16.shr_s (i8x16.splat (local.get 0)) (local.get 1))))
      (func (export "load") (param i32) (result i64)
        (i64x2.extract_lane 1 (v128.load (local.get 0))))
      (func (export "store") (param i32)
        (v128.store (local.get 0) (v128.const i64x2 1 2))))"#;
    let f32 = |x: f32| u64::from(x.to_bits()).to_string();
    let f64 = |x: f64| x.to_bits().to_string();
    let cases: Vec<(String, String)> = [
        (format!("nearest {}", f32(2.5)), f32(2.0)),
        (format!("nearest {}", f32(-3.5)), f32(-4.0)),
        (format!("nearest {}", f32(-0.25)), f32(-0.0)),
        (format!("nearest {}", f32(8388609.0)), f32(8388609.0)),
        // A signalling NaN comes out quiet, payload kept.
        ("nearest 2141192192".into(), "2145386496".into()),
        (format!("floor {}", f64(-2.5)), f64(-3.0)),
        (format!("floor {}", f64(-0.0)), f64(-0.0)),
        (
            format!("floor {}", f64(4503599627370497.0)),
            f64(4503599627370497.0),
        ),
        (format!("ceil {}", f32(-0.5)), f32(-0.0)),
        (format!("ceil {}", f32(1.0001)), f32(2.0)),
        (
            format!("ceil {}", f32(f32::NEG_INFINITY)),
            f32(f32::NEG_INFINITY),
        ),
        (format!("trunc {}", f64(-7.9)), f64(-7.0)),
        (format!("trunc {}", f64(0.9)), f64(0.0)),
        (format!("min {} {}", f32(0.0), f32(-0.0)), f32(-0.0)),
        (format!("min {} {}", f32(-0.0), f32(0.0)), f32(-0.0)),
        (format!("min {} {}", f32(1.0), f32(-2.0)), f32(-2.0)),
        (format!("min 2141192192 {}", f32(1.0)), "2145386496".into()),
        (format!("max {} {}", f64(-0.0), f64(0.0)), f64(0.0)),
        (
            format!("max {} {}", f64(f64::INFINITY), f64(1.0)),
            f64(f64::INFINITY),
        ),
        (format!("max {} {}", f64(1.0), f64(f64::NAN)), f64(f64::NAN)),
        // Indices 0..15 pick, 16 and above (also 0x80 and 0xff) give 0.
        (
            "swizzle 506097522914230528 0".into(),
            "1663540288323457296".into(),
        ),
        ("swizzle 1157442765409226768 0".into(), "0".into()),
        ("swizzle 18446744073709551487 0".into(), "0".into()),
        (
            "swizzle 1084818905618843919 0".into(),
            "2242261671028070687".into(),
        ),
        ("shl 1 33".into(), "2".into()),
        ("shl 3 31".into(), "2147483648".into()),
        ("shr_s 128 9".into(), "4294967232".into()),
        ("load 65520".into(), "0".into()),
        ("load 65521".into(), trap(TrapCode::OutOfBoundsMemoryAccess)),
        (
            "load 4294967295".into(),
            trap(TrapCode::OutOfBoundsMemoryAccess),
        ),
        (
            "store 65521".into(),
            trap(TrapCode::OutOfBoundsMemoryAccess),
        ),
        ("store 65520".into(), "ok".into()),
        ("load 65520".into(), "2".into()),
    ]
    .into_iter()
    .map(|(call, result)| {
        let line = if result.starts_with("trap") || result == "ok" {
            result
        } else {
            format!("ok {result}")
        };
        (call, line)
    })
    .collect();
    let cases: Vec<(&str, &str)> = cases
        .iter()
        .map(|(c, r)| (c.as_str(), r.as_str()))
        .collect();
    // x86-64-v2 has SSE4.1 and SSSE3 (and runs on every x86-64 machine of the last 15 years).
    for cpu in [None, Some("x86-64-v2")] {
        let opts = CompileOptions {
            cpu: cpu.map(str::to_string),
            ..CompileOptions::default()
        };
        Instance::with_options(wat, opts).check(&cases);
    }
}

/// With explicit bounds checks (runtimes without guard pages) every byte of a vector or lane
/// access is checked, as it is by the guard.
#[test]
fn explicit_bounds_checks_cover_every_byte_of_an_access() {
    let opts = CompileOptions {
        bounds_checks: true,
        ..CompileOptions::default()
    };
    let m = Instance::with_options(
        r#"(module (memory 1)
      (func (export "load") (param i32) (result i64)
        (i64x2.extract_lane 1 (v128.load offset=1 (local.get 0))))
      (func (export "store_lane") (param i32)
        (v128.store16_lane 7 (local.get 0) (v128.const i16x8 0 0 0 0 0 0 0 5)))
      (func (export "splat") (param i32) (result i32)
        (i32x4.extract_lane 3 (v128.load32_splat (local.get 0)))))"#,
        opts,
    );
    let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
    m.check(&[
        ("load 65519", "ok 0"),
        ("load 65520", &oob),
        ("load 4294967295", &oob),
        ("splat 65532", "ok 0"),
        ("splat 65533", &oob),
        ("store_lane 65535", &oob),
        ("store_lane 65534", "ok"),
        ("splat 65532", "ok 327680"),
    ]);
}

/// A function of 64 KiB or more is `noimplicitfloat` with the fast back end
/// (`codegen::HUGE_FUNCTION_BYTES`); its explicit SIMD code still compiles on every target and
/// computes the right thing (run on x86_64, compiled for aarch64 too).
#[test]
fn simd_in_a_huge_function_compiles_everywhere_and_computes() {
    let n = 1400u64;
    let mut wat = String::from(
        "(module (memory 1)\n (func (export \"big\") (result i64) (local $v v128) (local $f v128)",
    );
    for i in 0..n {
        // Memory is zero: each step adds i to lane 0 and 1.5 to every f32 lane.
        wat += &format!(
            "\n (local.set $v (i64x2.add (local.get $v) (i64x2.add (v128.load offset={} (i32.const 0)) (v128.const i64x2 {i} 0))))
             (local.set $f (f32x4.add (local.get $f) (f32x4.splat (f32.const 1.5))))",
            i * 16
        );
    }
    wat += "\n (i64.add (i64x2.extract_lane 0 (local.get $v))
                (i64.trunc_f32_s (f32x4.extract_lane 3 (local.get $f))))))";
    let wasm = super::wasm(&wat);
    assert!(
        wasm.len() > crate::codegen::HUGE_FUNCTION_BYTES,
        "{}",
        wasm.len()
    );
    let opts = CompileOptions {
        target: Target::Aarch64,
        ..CompileOptions::default()
    };
    compile(&wasm, &opts).unwrap_or_else(|e| panic!("aarch64: {e}"));
    let m = Instance::new(&wat);
    m.check(&[("big", &format!("ok {}", n * (n - 1) / 2 + n * 3 / 2))]);
}

/// An access that crosses the end of memory traps however little of its value matters: LLVM
/// narrows a load whose value is used in part (one lane, the low half) to a load of that part,
/// in the pipeline (vectors) and in the back end (`trunc` of a scalar), which would leave the
/// bytes past the end unread (`translate/dead_loads.rs`). The back end also deletes a load
/// whose value it finds does not matter where the pipeline did not (fuzz seed 375, cut down:
/// after the extensions and shuffles, `max_s` with those constants keeps none of the lanes the
/// loaded bytes reach).
#[test]
fn an_access_traps_however_little_of_its_value_matters() {
    let m = Instance::new(
        r#"(module (memory 1)
      (func (export "wrap") (param i32) (result i32) (i32.wrap_i64 (i64.load (local.get 0))))
      (func (export "lane0") (param i32) (result i64)
        (i64x2.extract_lane 0 (v128.load (local.get 0))))
      (func (export "byte0") (param i32) (result i32)
        (i8x16.extract_lane_u 0 (v128.load (local.get 0))))
      (func (export "low_half") (param i32) (result i32)
        (i32x4.extract_lane 0 (v128.load8x8_u (local.get 0)))))"#,
    );
    let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
    m.check(&[
        ("wrap 65528", "ok 0"),
        ("wrap 65532", &oob),
        ("lane0 65520", "ok 0"),
        ("lane0 65528", &oob),
        ("byte0 65535", &oob),
        ("low_half 65528", "ok 0"),
        ("low_half 65529", &oob),
    ]);
    let irrelevant = Instance::new(
        r#"(module (memory 0 1) (global $g (mut v128) (v128.const i64x2 0 0))
      (func (export "f") (param i32) (result i32) (local v128 v128)
        (v128.load16_splat offset=128163 (local.get 0))
        f32x4.ceil local.tee 1
        (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000)
        (f32x4.eq (local.get 1) (local.get 1)) v128.bitselect
        f64x2.promote_low_f32x4 i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_s f32x4.abs
        i32x4.extend_low_i16x8_s i16x8.extadd_pairwise_i8x16_u i32x4.extend_low_i16x8_s
        (v128.const i32x4 0x5b226d45 0x783e7599 0x57df26e6 0xdd80cea7) i32x4.max_s
        i64x2.extend_low_i32x4_u f64x2.ceil local.tee 2
        (v128.const i32x4 0 0x7ff80000 0 0x7ff80000)
        (f64x2.eq (local.get 2) (local.get 2)) v128.bitselect
        (global.set $g (v128.xor (global.get $g)))
        (i32.const 7)))"#,
    );
    irrelevant.check(&[("f 0", &oob)]);
}
