//! Errors: one line, with the offset; never a panic, whatever the input.

use crate::{CompileError, CompileOptions, Target, compile, validate};

fn error_of(wasm: &[u8]) -> String {
    let e = compile(wasm, &CompileOptions::default()).expect_err("must fail");
    let validate_error = validate(wasm).expect_err("validate must fail too");
    assert_eq!(e, validate_error);
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    text
}

#[test]
fn invalid_module_names_the_offset_and_problem() {
    let wasm = super::wasm("(module (func (result i32) (i64.const 1)))");
    let text = error_of(&wasm);
    assert!(text.starts_with("invalid wasm at offset 0x"), "{text}");
    assert!(text.contains("type mismatch"), "{text}");
}

#[test]
fn malformed_bytes_are_invalid() {
    let text = error_of(b"\0asm\x01\0\0\0\x01\xff");
    assert!(text.starts_with("invalid wasm at offset 0x"), "{text}");
    let text = error_of(b"not wasm at all");
    assert!(text.starts_with("invalid wasm at offset 0x0:"), "{text}");
}

#[test]
fn relaxed_simd_is_an_unsupported_feature_by_name() {
    let wasm = super::wasm(
        "(module (func (param v128 v128 v128) (result v128)
            (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))",
    );
    let e = compile(&wasm, &CompileOptions::default()).unwrap_err();
    let CompileError::Unsupported { offset, .. } = &e else {
        panic!("{e}")
    };
    assert!(*offset > 0);
    assert_eq!(
        e.to_string(),
        format!("unsupported feature at offset {offset:#x}: relaxed SIMD is not supported")
    );
    assert_eq!(validate(&wasm).unwrap_err(), e);
}

#[test]
fn invalid_simd_gets_the_validators_message() {
    let text = error_of(&super::wasm(
        "(module (func (result i32) (i32x4.extract_lane 0 (i32.const 1))))",
    ));
    assert!(text.starts_with("invalid wasm at offset 0x"), "{text}");
    assert!(text.contains("type mismatch"), "{text}");
    // A lane index past the shape's lanes is caught by the validator, not the code generator.
    let mut wasm = super::wasm(
        "(module (func (param v128) (result i32) (i32x4.extract_lane 3 (local.get 0))))",
    );
    let at = wasm.windows(3).rposition(|w| w == [0xfd, 0x1b, 3]).unwrap();
    wasm[at + 2] = 4;
    let text = error_of(&wasm);
    assert!(text.contains("SIMD index out of bounds"), "{text}");
}

#[test]
fn other_proposals_are_unsupported_features() {
    let wasm = super::wasm("(module (memory 1 1 shared))");
    let text = error_of(&wasm);
    assert!(text.starts_with("unsupported feature at offset"), "{text}");
    let wasm = super::wasm("(module (memory 1) (memory 1))");
    let text = error_of(&wasm);
    assert!(text.starts_with("unsupported feature at offset"), "{text}");
}

#[test]
fn unknown_cpu_is_rejected() {
    let opts = CompileOptions {
        cpu: Some("pentium-9000".into()),
        ..Default::default()
    };
    let e = compile(&super::wasm(super::HELLO), &opts).unwrap_err();
    assert!(e.to_string().contains("unknown CPU `pentium-9000`"), "{e}");
}

/// Valid random modules (wasm-smith, Wasm 2.0 with SIMD) compile for every target, and
/// byte-mutated ones give an error or an object, never a panic.
#[test]
fn random_and_mutated_modules_never_panic() {
    use arbitrary::{Arbitrary, Unstructured};
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut compiled = 0;
    for round in 0..48 {
        let bytes: Vec<u8> = (0..2048).map(|_| next() as u8).collect();
        let mut u = Unstructured::new(&bytes);
        let Ok(mut config) = wasm_smith::Config::arbitrary(&mut u) else {
            continue;
        };
        config.simd_enabled = true;
        config.relaxed_simd_enabled = false;
        config.threads_enabled = false;
        config.exceptions_enabled = false;
        config.gc_enabled = false;
        config.compact_imports_enabled = false;
        config.tail_call_enabled = false;
        config.memory64_enabled = false;
        config.multi_value_enabled = true;
        config.bulk_memory_enabled = true;
        config.reference_types_enabled = true;
        config.extended_const_enabled = false;
        config.custom_page_sizes_enabled = false;
        config.wide_arithmetic_enabled = false;
        config.max_memories = 1;
        config.max_tables = 3;
        config.min_funcs = 1;
        config.max_funcs = 12;
        config.max_instructions = 200;
        config.allow_invalid_funcs = false;
        let Ok(module) = wasm_smith::Module::new(config, &mut u) else {
            continue;
        };
        let wasm = module.to_bytes();
        let target = Target::all()[round % 4];
        let opts = CompileOptions {
            target,
            opt_level: (round % 3) as u8,
            ..Default::default()
        };
        match compile(&wasm, &opts) {
            Ok(_) => compiled += 1,
            // Valid wasm-smith output must compile, except features outside Wasm 2.0 the
            // config could not switch off.
            Err(e @ CompileError::Unsupported { .. }) => eprintln!("round {round}: {e}"),
            Err(e) => panic!("round {round} ({target}): {e}"),
        }
        let mut mutated = wasm.clone();
        for _ in 0..4 {
            let i = next() as usize % mutated.len();
            mutated[i] = next() as u8;
        }
        let _ = compile(&mutated, &opts);
    }
    assert!(compiled >= 16, "only {compiled} random modules compiled");
}

#[test]
fn named_and_native_cpus_compile() {
    for (target, cpu) in [
        (Target::X86_64, "x86-64-v3"),
        (Target::HostX86_64, "native"),
        (Target::Aarch64, "neoverse-n1"),
        (Target::HostAarch64, "cortex-a72"),
    ] {
        let opts = CompileOptions {
            target,
            cpu: Some(cpu.into()),
            ..Default::default()
        };
        compile(&super::wasm(super::HELLO), &opts).unwrap_or_else(|e| panic!("{cpu}: {e}"));
    }
}
