//! Differential fuzzing: a random valid Wasm 2.0 module (wasm-smith, SIMD included) is run in a
//! reference interpreter (wasmi, with its SIMD), and what it answered becomes a `.wast` script that the runner checks
//! against mewz like any spec script.
//!
//! A script is a function of its seed alone: `fuzz-SEED.wast` is the same on every machine, so
//! a failure in CI is reproduced with `ci/spec --fuzz 1 --seed SEED`.
//!
//! Every wasm-smith module exports all it defines, except that the tables of every other pair
//! of seeds stay hidden: a table no other module sees, and no instruction writes, is fixed, and
//! mewz compiles calls through it differently (`module_info::frozen_tables` in the compiler).
//!
//! A second module follows in every script, made here to test calls through tables
//! (`fuzz/indirect.rs`), which wasm-smith almost never makes, and a third of mostly SIMD
//! instructions (`fuzz/vector.rs`), which it makes too rarely.
//!
//! Each module is instantiated (or its instantiation trap expected), then every exported
//! function is invoked with a few argument sets, in export order, each call seeing the
//! memory, tables and globals the calls before it left; last, every exported global is read.
//! Modules cannot loop or recurse without end: wasm-smith's `ensure_termination` gives each
//! module a budget of fuel, spent at every function entry and loop iteration and shared by all
//! its calls, and traps with `unreachable` once it is gone.

mod indirect;
mod vector;

use arbitrary::Unstructured;
use std::fmt::Write;
use wasmi::{Engine, ExternType, Linker, Module, Store, TrapCode, Val, ValType};

/// Fuel of one module, over all its calls.
const FUEL: u32 = 10_000;
/// Argument sets per exported function.
const CALLS_PER_EXPORT: usize = 3;

/// The script for `seed`, or why there is none (the generator or the interpreter gave up: not
/// a failure of mewz).
pub fn script(seed: u64) -> Result<String, String> {
    let mut rng = SplitMix64(seed);
    let len = 2048 + (rng.next() % 65_536) as usize;
    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    // Half the modules avoid traps (wasm-smith guards divisions, accesses and the like), so
    // that their calls run to the end and return what they computed.
    let mut module = wasm_smith::Module::new(
        generator(seed.is_multiple_of(2)),
        &mut Unstructured::new(&bytes),
    )
    .map_err(|e| format!("wasm-smith: {e}"))?;
    module
        .ensure_termination(FUEL)
        .map_err(|e| format!("wasm-smith: {e}"))?;
    let wasm = module.to_bytes();
    let wasm = if (seed / 2).is_multiple_of(2) {
        wasm
    } else {
        without_table_exports(&wasm)?
    };
    let mut script = reference(&wasm, &mut rng, ANY_TABLE_ACCESS)?;
    let calls = indirect::module(&mut rng);
    script.push_str(&reference(&calls, &mut rng, indirect::TABLE_OUT_OF_BOUNDS)?);
    let vectors = vector::module(&mut rng, seed.is_multiple_of(2))?;
    script.push_str(&reference(&vectors, &mut rng, ANY_TABLE_ACCESS)?);
    Ok(script)
}

/// `wasm` with its table exports left out; every other section as it was.
fn without_table_exports(wasm: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("re-reading the module: {e}"))?;
        if let wasmparser::Payload::ExportSection(reader) = &payload {
            let mut exports = wasm_encoder::ExportSection::new();
            for export in reader.clone() {
                let export = export.map_err(|e| format!("re-reading the module: {e}"))?;
                if export.kind != wasmparser::ExternalKind::Table {
                    exports.export(export.name, export.kind.into(), export.index);
                }
            }
            out.section(&exports);
        } else if let Some((id, range)) = payload.as_section() {
            out.section(&wasm_encoder::RawSection {
                id,
                data: &wasm[range.start as usize..range.end as usize],
            });
        }
    }
    Ok(out.finish())
}

/// What the generator may use: Wasm 2.0 (fixed-width SIMD included), which is what mewz compiles; no imports
/// (both engines would need the same host); memories and tables with a declared maximum, so
/// that `memory.grow`/`table.grow` fail at the same size in both.
fn generator(disallow_traps: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        disallow_traps,
        simd_enabled: true,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        custom_page_sizes_enabled: false,
        max_memories: 1,
        max_tables: 3,
        max_imports: 0,
        export_everything: true,
        // Float results and stores are then the same bits in any engine.
        canonicalize_nans: true,
        memory_max_size_required: true,
        max_memory32_bytes: 16 << 16,
        table_max_size_required: true,
        max_table_elements: 1000,
        min_funcs: 2,
        max_funcs: 20,
        max_instructions: 300,
        ..wasm_smith::Config::default()
    }
}

/// Runs `wasm` in wasmi and writes down what it did; `table_out_of_bounds` is the message for
/// wasmi's `TableOutOfBounds` trap in this module (see [`ANY_TABLE_ACCESS`]).
fn reference(
    wasm: &[u8],
    rng: &mut SplitMix64,
    table_out_of_bounds: &'static str,
) -> Result<String, String> {
    let mut config = wasmi::Config::default();
    config
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_multi_memory(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .wasm_simd(true)
        .wasm_relaxed_simd(false)
        // Deeper than FUEL calls can go, so that wasmi never runs out of stack where mewz
        // would not.
        .set_max_recursion_depth(4 * FUEL as usize)
        .set_max_stack_height(64 << 20);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, wasm).map_err(|e| format!("wasmi rejects it: {e}"))?;
    let mut store = Store::new(&engine, ());
    let mut out = String::new();
    let binary = wast_string(wasm);
    let instance = match Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => {
            let message = instantiation_trap(&e).ok_or_else(|| format!("wasmi: {e}"))?;
            writeln!(out, "(assert_trap (module binary {binary}) {message:?})").unwrap();
            return Ok(out);
        }
    };
    writeln!(out, "(module binary {binary})").unwrap();

    let exports: Vec<(String, ExternType)> = module
        .exports()
        .map(|e| (e.name().to_string(), e.ty().clone()))
        .collect();
    for (name, ty) in &exports {
        let ExternType::Func(ty) = ty else { continue };
        let func = instance
            .get_func(&store, name)
            .expect("an exported function");
        for _ in 0..CALLS_PER_EXPORT {
            let args: Vec<Val> = ty.params().iter().map(|&t| argument(t, rng)).collect();
            let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default(t)).collect();
            let call = format!(
                "(invoke {} {})",
                wast_string(name.as_bytes()),
                args.iter().map(wast_value).collect::<Vec<_>>().join(" ")
            );
            match func.call(&mut store, &args, &mut results) {
                Ok(()) => {
                    let want: Vec<String> = results.iter().map(wast_result).collect();
                    writeln!(out, "(assert_return {call} {})", want.join(" ")).unwrap();
                }
                Err(e) => match e
                    .as_trap_code()
                    .and_then(|code| trap_message(code, table_out_of_bounds))
                {
                    Some(message) => writeln!(out, "(assert_trap {call} {message:?})").unwrap(),
                    // Out of stack (or anything else wasmi may not share with mewz): the
                    // state it leaves is not comparable, so the script ends here.
                    None => return Ok(out),
                },
            }
        }
    }
    for (name, ty) in &exports {
        if let ExternType::Global(_) = ty {
            let value = instance
                .get_global(&store, name)
                .expect("an exported global")
                .get(&store);
            let get = format!("(get {})", wast_string(name.as_bytes()));
            writeln!(out, "(assert_return {get} {})", wast_result(&value)).unwrap();
        }
    }
    Ok(out)
}

/// wasmi's `TableOutOfBounds` is both the spec's "out of bounds table access" (`table.get` and
/// the like) and its "undefined element" (`call_indirect`), so in a module that may do both it
/// gets the empty message, which any trap matches.
const ANY_TABLE_ACCESS: &str = "";

/// The spec's message for a trap, as the scripts write it, with `table_out_of_bounds` for
/// `TableOutOfBounds`. `None`: not a trap both engines must agree on.
fn trap_message(code: TrapCode, table_out_of_bounds: &'static str) -> Option<&'static str> {
    Some(match code {
        TrapCode::UnreachableCodeReached => "unreachable",
        TrapCode::MemoryOutOfBounds => "out of bounds memory access",
        TrapCode::TableOutOfBounds => table_out_of_bounds,
        TrapCode::IndirectCallToNull => "uninitialized element",
        TrapCode::IntegerDivisionByZero => "integer divide by zero",
        TrapCode::IntegerOverflow => "integer overflow",
        TrapCode::BadConversionToInteger => "invalid conversion to integer",
        TrapCode::BadSignature => "indirect call type mismatch",
        _ => return None,
    })
}

/// The spec's message for a failed instantiation: a trap in the start function, or a segment
/// that does not fit (wasmi reports those as errors of its own, the spec as traps).
fn instantiation_trap(e: &wasmi::Error) -> Option<&'static str> {
    use wasmi::errors::{ErrorKind, InstantiationError, MemoryError};
    match e.kind() {
        ErrorKind::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. }) => {
            Some("out of bounds table access")
        }
        ErrorKind::Memory(MemoryError::OutOfBoundsAccess) => Some("out of bounds memory access"),
        _ => e
            .as_trap_code()
            .and_then(|code| trap_message(code, ANY_TABLE_ACCESS)),
    }
}

/// An argument: mostly the values where arithmetic has its edges, sometimes random bits.
/// References are passed as null (a non-null one would need a host value in both engines).
fn argument(ty: ValType, rng: &mut SplitMix64) -> Val {
    let pick = rng.next();
    let bits = rng.next();
    let int = |edges: &[u64]| {
        if pick.is_multiple_of(3) {
            bits
        } else {
            edges[(pick / 3) as usize % edges.len()]
        }
    };
    match ty {
        ValType::I32 => Val::I32(int(&[
            0,
            1,
            2,
            7,
            0xffff_ffff,
            0x8000_0000,
            0x7fff_ffff,
            0x1_0000,
            0xfff0,
        ]) as i32),
        ValType::I64 => Val::I64(int(&[
            0,
            1,
            3,
            u64::MAX,
            1 << 63,
            i64::MAX as u64,
            1 << 32,
            0xffff_fff0,
        ]) as i64),
        ValType::F32 => Val::F32(wasmi::F32::from_bits(int(&[
            0,
            0x8000_0000,
            1.5f32.to_bits().into(),
            (-2.0f32).to_bits().into(),
            f32::INFINITY.to_bits().into(),
            0x7fc0_0000,
            0x7fa0_0001,
            4_294_967_296f32.to_bits().into(),
        ]) as u32)),
        ValType::F64 => Val::F64(wasmi::F64::from_bits(int(&[
            0,
            1 << 63,
            1.5f64.to_bits(),
            (-2.0f64).to_bits(),
            f64::NEG_INFINITY.to_bits(),
            0x7ff8_0000_0000_0000,
            0x7ff4_0000_0000_0001,
            9_223_372_036_854_775_808f64.to_bits(),
        ]))),
        ValType::V128 => {
            // Lanes where integer and float arithmetic have their edges, as every shape sees
            // them: sign bits, the largest magnitudes, NaNs (a signalling one too), zeros.
            let edges: [u128; 8] = [
                0,
                u128::MAX,
                0x8080_8080_8080_8080_8080_8080_8080_8080,
                0x7fff_ffff_8000_0000_0000_0001_ffff_fffe,
                0x7fc0_0000_ff80_0000_8000_0000_3fc0_0000,
                0x7ff4_0000_0000_0001_c000_0000_0000_0000,
                0x4f80_0000_cf00_0000_4b80_0000_cb00_0001,
                0x0001_00ff_7f80_8000_ff01_0100_7fff_8001,
            ];
            let random = u128::from(bits) << 64 | u128::from(rng.next());
            Val::V128(
                if pick.is_multiple_of(3) {
                    random
                } else {
                    edges[(pick / 3) as usize % edges.len()]
                }
                .into(),
            )
        }
        ValType::FuncRef | ValType::ExternRef => Val::default(ty),
    }
}

fn wast_value(v: &Val) -> String {
    match v {
        Val::I32(x) => format!("(i32.const {x})"),
        Val::I64(x) => format!("(i64.const {x})"),
        Val::F32(x) => format!("(f32.const {})", float_text(x.to_bits().into(), 8, 23)),
        Val::F64(x) => format!("(f64.const {})", float_text(x.to_bits(), 11, 52)),
        Val::FuncRef(_) => "(ref.null func)".into(),
        Val::ExternRef(_) => "(ref.null extern)".into(),
        Val::V128(x) => {
            let bits = x.as_u128();
            let lanes: Vec<String> = (0..4)
                .map(|i| format!("{:#x}", (bits >> (32 * i)) as u32))
                .collect();
            format!("(v128.const i32x4 {})", lanes.join(" "))
        }
    }
}

/// A result. A NaN with its quiet bit set may be any arithmetic NaN (the spec lets an engine
/// pick the payload of an operation's NaN result); one without is bits a bitwise operation
/// copied, which must be exact. A `v128` is exact bits: its lanes' type is not known, and the
/// generator canonicalises the NaNs of vector float arithmetic.
fn wast_result(v: &Val) -> String {
    let quiet_nan = match v {
        Val::F32(x) => x.to_float().is_nan() && x.to_bits() & (1 << 22) != 0,
        Val::F64(x) => x.to_float().is_nan() && x.to_bits() & (1 << 51) != 0,
        _ => false,
    };
    match v {
        Val::F32(_) if quiet_nan => "(f32.const nan:arithmetic)".into(),
        Val::F64(_) if quiet_nan => "(f64.const nan:arithmetic)".into(),
        Val::FuncRef(r) if !r.is_null() => "(ref.func)".into(),
        Val::ExternRef(r) if !r.is_null() => "(ref.extern)".into(),
        other => wast_value(other),
    }
}

/// The exact text of a float's bits: `nan:0x…`, `inf`, or a hexadecimal float.
fn float_text(bits: u64, exponent_bits: u32, mantissa_bits: u32) -> String {
    let sign = if bits >> (exponent_bits + mantissa_bits) & 1 == 1 {
        "-"
    } else {
        ""
    };
    let exponent_max = (1u64 << exponent_bits) - 1;
    let exponent = (bits >> mantissa_bits) & exponent_max;
    let mantissa = bits & ((1u64 << mantissa_bits) - 1);
    let bias = (exponent_max >> 1) as i64;
    match (exponent, mantissa) {
        (e, 0) if e == exponent_max => format!("{sign}inf"),
        (e, m) if e == exponent_max => format!("{sign}nan:0x{m:x}"),
        (0, 0) => format!("{sign}0x0p+0"),
        // Subnormal: 0.mantissa × 2^(1 - bias).
        (0, m) => format!("{sign}0x0.{}p{}", hex_fraction(m, mantissa_bits), 1 - bias),
        (e, m) => format!(
            "{sign}0x1.{}p{}",
            hex_fraction(m, mantissa_bits),
            e as i64 - bias
        ),
    }
}

/// The mantissa's bits as hexadecimal fraction digits (shifted left to whole digits).
fn hex_fraction(mantissa: u64, bits: u32) -> String {
    let digits = bits.div_ceil(4);
    format!(
        "{:0width$x}",
        mantissa << (digits * 4 - bits),
        width = digits as usize
    )
}

/// A `.wast` string literal holding exactly `bytes`.
fn wast_string(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            write!(s, "\\{b:02x}").unwrap();
        }
    }
    s.push('"');
    s
}

/// The seeded generator of the generator's input bytes (SplitMix64: small, and the same
/// stream on every platform and release, which a script's reproducibility needs).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_exactly() {
        for x in [
            1.5f64,
            -2.0,
            0.1,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            -0.0,
            1e300,
        ] {
            let text = float_text(x.to_bits(), 11, 52);
            let parsed = wast_float64(&text);
            assert_eq!(parsed.to_bits(), x.to_bits(), "{x} written as {text}");
        }
        for x in [1.5f32, -2.0, 0.1, f32::MIN_POSITIVE, 1e-45, f32::MAX] {
            let text = float_text(x.to_bits().into(), 8, 23);
            let buf = wast::parser::ParseBuffer::new(&text).unwrap();
            let parsed: wast::token::F32 = wast::parser::parse(&buf).unwrap();
            assert_eq!(parsed.bits, x.to_bits(), "{x} written as {text}");
        }
        assert_eq!(
            float_text(0x7ff8_0000_0000_0001, 11, 52),
            "nan:0x8000000000001"
        );
        assert_eq!(float_text(0xff80_0000, 8, 23), "-inf");
    }

    fn wast_float64(text: &str) -> f64 {
        let buf = wast::parser::ParseBuffer::new(text).unwrap();
        let parsed: wast::token::F64 = wast::parser::parse(&buf).unwrap();
        f64::from_bits(parsed.bits)
    }

    #[test]
    fn a_seed_always_gives_the_same_script() {
        let scripts: Vec<_> = (0..2).map(|_| script(7)).collect();
        assert_eq!(scripts[0], scripts[1]);
        assert!(
            scripts[0]
                .as_ref()
                .unwrap()
                .contains("(module binary \"\\00asm")
        );
    }
}
