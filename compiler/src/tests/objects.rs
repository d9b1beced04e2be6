//! The objects: format, symbols, descriptor section, per target.

use super::{HELLO, compile_for};
use crate::Target;
use object::{Object, ObjectSection, ObjectSymbol, SymbolSection};

#[test]
fn every_target_exports_only_the_descriptor_and_imports_by_qualified_name() {
    for target in Target::all() {
        let compiled = compile_for(HELLO, *target);
        let file = object::File::parse(&*compiled.object).expect("ELF parses");
        assert_eq!(file.format(), object::BinaryFormat::Elf);
        let expected_arch = if target.is_x86() {
            object::Architecture::X86_64
        } else {
            object::Architecture::Aarch64
        };
        assert_eq!(file.architecture(), expected_arch, "{target}");
        let mut undefined = Vec::new();
        let mut defined_global = Vec::new();
        for sym in file.symbols() {
            if !sym.is_global() {
                continue;
            }
            let name = sym.name().unwrap().to_string();
            if sym.is_undefined() {
                undefined.push(name);
            } else {
                defined_global.push((name, sym.section()));
            }
        }
        assert_eq!(defined_global.len(), 1, "{target}: {defined_global:?}");
        let (name, section) = &defined_global[0];
        assert_eq!(name, mewz_abi::symbols::MODULE_DESCRIPTOR);
        let SymbolSection::Section(index) = section else {
            panic!("descriptor not in a section")
        };
        let section = file.section_by_index(*index).unwrap();
        assert_eq!(section.name().unwrap(), mewz_abi::symbols::MODULE_SECTION);
        for import in [
            "wasi_snapshot_preview1.fd_write",
            "wasi_snapshot_preview1.proc_exit",
        ] {
            assert!(
                undefined.iter().any(|u| u == import),
                "{target}: {undefined:?}"
            );
        }
        assert!(
            undefined
                .iter()
                .any(|u| u == mewz_abi::symbols::STACK_LIMIT),
            "{target}: {undefined:?}"
        );
        let allowed = [
            "wasi_snapshot_preview1.fd_write",
            "wasi_snapshot_preview1.proc_exit",
            mewz_abi::symbols::TRAP,
            mewz_abi::symbols::STACK_LIMIT,
            mewz_abi::symbols::MEMORY_GROW,
            mewz_abi::symbols::TABLE_GROW,
            "memcpy",
            "memmove",
            "memset",
            "_GLOBAL_OFFSET_TABLE_",
        ];
        for u in &undefined {
            assert!(
                allowed.contains(&u.as_str()),
                "{target}: unexpected undefined {u}"
            );
        }
        assert_eq!(compiled.imports.len(), 2);
        assert!(
            compiled
                .timings
                .iter()
                .any(|(stage, _)| *stage == "optimize")
        );
    }
}

#[test]
fn llvm_ir_is_returned_on_request() {
    let ir = super::llvm_ir(HELLO, 2);
    assert!(ir.contains("@__mewz_module"), "{ir}");
    assert!(ir.contains("wasi_snapshot_preview1.fd_write"));
    assert!(
        !ir.contains("optnone"),
        "small modules get the full back end"
    );
    // Recursion is stopped by the runtime's stack guard, which a frame larger than a page
    // could step over without probes.
    assert!(ir.contains("\"probe-stack\"=\"inline-asm\""), "{ir}");
}

/// Large modules hand big functions to the back end as `optnone` (fast instruction selection).
#[test]
fn fast_backend_marks_functions_big_enough() {
    let wat = r#"(module
      (func (export "small") (result i32) (i32.const 1))
      (func (export "big") (param i32) (result i32)
        (i32.add (i32.mul (local.get 0) (local.get 0)) (i32.const 12345678))))"#;
    let opts = crate::CompileOptions {
        emit_llvm: true,
        ..Default::default()
    };
    let tuning = crate::codegen::Tuning {
        fast_backend_function_bytes: Some(8),
        ..Default::default()
    };
    let ir = crate::compile_tuned(&super::wasm(wat), &opts, tuning, &crate::NoProgress)
        .unwrap()
        .llvm_ir
        .unwrap();
    let attributes_of = |name: &str| super::function_attributes(&ir, name);
    assert!(!attributes_of("wasm_function_0").contains("optnone"));
    assert!(attributes_of("wasm_function_1").contains("optnone"));
}

#[test]
fn partitioned_objects_keep_only_the_descriptor_global() {
    let wat = r#"(module
      (memory 1) (global $g (mut i32) (i32.const 0))
      (func $a (export "a") (result i32) (call $b))
      (func $b (result i32) (global.get $g))
      (func $c (export "c") (param i32) (result i32) (i32.load (local.get 0)))
      (func $d (export "d") (call $a) (drop)))"#;
    for target in Target::all() {
        let opts = crate::CompileOptions {
            target: *target,
            ..Default::default()
        };
        let tuning = crate::codegen::Tuning {
            partitions: Some(3),
            ..Default::default()
        };
        let m = crate::compile_tuned(&super::wasm(wat), &opts, tuning, &crate::NoProgress).unwrap();
        let file = object::File::parse(&*m.object).unwrap();
        let globals: Vec<String> = file
            .symbols()
            .filter(|s| s.is_global() && !s.is_undefined())
            .map(|s| s.name().unwrap().to_string())
            .collect();
        assert_eq!(globals, [mewz_abi::symbols::MODULE_DESCRIPTOR], "{target}");
        assert!(m.timings.iter().any(|(stage, _)| *stage == "merge"));
    }
}

/// A function of 64 KiB or more skips vectorization and gets the fast back end even in a small
/// module (the SLP vectorizer alone took 140 s on a 137 KiB function), and still computes
/// the right thing.
#[test]
fn huge_functions_skip_vectorization_and_get_the_fast_back_end() {
    let n = 6000u64;
    let mut wat = String::from(
        "(module (memory 1)\n (func (export \"small\") (result i32) (i32.const 1))\n (func (export \"big\") (result i64)",
    );
    for i in 0..n {
        wat += &format!(" (local $l{i} i64)");
    }
    for i in 0..n {
        wat += &format!(
            "\n (local.set $l{i} (i64.add (i64.load offset={} (i32.const 0)) (i64.const {i})))",
            (i % 8000) * 8
        );
    }
    wat += "\n (i64.const 0)";
    for i in 0..n {
        wat += &format!(" (i64.add (local.get $l{i}))");
    }
    // Explicit floating point still works in a noimplicitfloat function.
    wat += " (f64.convert_i64_s) (f64.const 0.5) (f64.add) (i64.trunc_f64_s)))";
    let ir = super::llvm_ir(&wat, 2);
    let attributes_of = |name: &str| super::function_attributes(&ir, name);
    let big = attributes_of("wasm_function_1");
    assert!(
        big.contains("noimplicitfloat") && big.contains("optnone"),
        "{big}"
    );
    let small = attributes_of("wasm_function_0");
    assert!(
        !small.contains("noimplicitfloat") && !small.contains("optnone"),
        "{small}"
    );
    let m = super::run::Instance::new(&wat);
    m.check(&[("big", &format!("ok {}", n * (n - 1) / 2))]);
}

/// The default options for `target`, with `cpu` named or not.
fn options(target: Target, cpu: Option<&str>) -> crate::CompileOptions {
    crate::CompileOptions {
        target,
        cpu: cpu.map(String::from),
        ..Default::default()
    }
}

/// Default x86 code is tuned for today's cores (tuning only: the CPU stays the portable
/// baseline); a CPU the user names brings its own tuning, and aarch64 keeps LLVM's.
#[test]
fn default_x86_code_is_tuned_for_todays_cores() {
    let wat = r#"(module (func (export "f") (param i32) (result i32) (i32.popcnt (local.get 0))))"#;
    let attributes = |target, cpu| {
        let ir = super::llvm_ir_with(wat, options(target, cpu));
        super::function_attributes(&ir, "wasm_function_0")
    };
    for target in [Target::X86_64, Target::HostX86_64] {
        let tuned = attributes(target, None);
        assert!(tuned.contains("\"tune-cpu\"=\"x86-64-v3\""), "{tuned}");
        assert!(!tuned.contains("target-cpu"), "{tuned}");
        assert!(!attributes(target, Some("x86-64")).contains("tune-cpu"));
    }
    assert!(!attributes(Target::Aarch64, None).contains("tune-cpu"));
}

/// The default x86 tuning is not Intel's alone: a rotate by a constant is `rol`, not the
/// `shld` that x86-64-v3's tuning picks (slow on AMD's Zen); and every function starts a
/// 64-byte line. A CPU the user names keeps LLVM's tuning: Sandy Bridge's (x86-64-v3's
/// without BMI2's `rorx`) picks `shld`.
#[test]
fn default_x86_code_rotates_with_rol_and_aligns_functions_to_lines() {
    let wat = r#"(module
      (func (export "rotl") (param i32) (result i32) (i32.rotl (local.get 0) (i32.const 13)))
      (func (export "add") (param i32) (result i32) (i32.add (local.get 0) (i32.const 7))))"#;
    // The bytes of each compiled function of the module, by symbol name, and their offsets.
    let functions = |target, cpu| {
        let compiled = crate::compile(&super::wasm(wat), &options(target, cpu)).unwrap();
        let file = object::File::parse(&*compiled.object).expect("ELF parses");
        let mut functions = Vec::new();
        for sym in file.symbols() {
            let name = sym.name().unwrap();
            if !name.starts_with("wasm_function_") {
                continue;
            }
            let SymbolSection::Section(index) = sym.section() else {
                continue;
            };
            let data = file.section_by_index(index).unwrap().data().unwrap();
            let start = sym.address() as usize;
            let bytes = data[start..start + sym.size() as usize].to_vec();
            functions.push((name.to_string(), sym.address(), bytes));
        }
        assert_eq!(functions.len(), 2, "{target}: {functions:?}");
        functions
    };
    // `rol r32, 13` is C1 /0 0D; `shld r32, r32, imm8` is 0F A4.
    let rol = |b: &[u8]| {
        b.windows(3)
            .any(|w| w[0] == 0xc1 && w[1] & 0xf8 == 0xc0 && w[2] == 13)
    };
    let shld = |b: &[u8]| b.windows(2).any(|w| w == [0x0f, 0xa4]);
    for target in [Target::X86_64, Target::HostX86_64] {
        for (name, address, bytes) in functions(target, None) {
            assert_eq!(address % 64, 0, "{target}: {name} at {address:#x}");
            if name == "wasm_function_0" {
                assert!(rol(&bytes) && !shld(&bytes), "{target}: {bytes:02x?}");
            }
        }
        let named = functions(target, Some("sandybridge"));
        assert!(
            shld(&named[0].2) || shld(&named[1].2),
            "{target}: {named:02x?}"
        );
    }
}
