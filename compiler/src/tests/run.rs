//! Execution: link a compiled object with a tiny C runtime (`driver.c`, built with clang-19)
//! and call exports through the array-call trampolines.

use crate::codegen::Tuning;
use crate::{CompileOptions, ImportLinkage, Target};
use mewz_abi::TrapCode;
use std::io::Write;
use std::process::{Command, Stdio};

const DRIVER: &str = include_str!("driver.c");

/// A compiled module linked into an executable.
pub struct Instance {
    _dir: tempfile::TempDir,
    exe: std::path::PathBuf,
}

impl Instance {
    pub fn new(wat: &str) -> Instance {
        Self::with_options(wat, CompileOptions::default())
    }

    pub fn with_options(wat: &str, opts: CompileOptions) -> Instance {
        Self::tuned(wat, opts, Tuning::default())
    }

    /// Compiled with the size-based code generation choices overridden.
    pub fn tuned(wat: &str, mut opts: CompileOptions, tuning: Tuning) -> Instance {
        opts.target = Target::HostX86_64;
        opts.import_linkage = ImportLinkage::Symbols;
        let module = crate::compile_tuned(&super::wasm(wat), &opts, tuning, &crate::NoProgress)
            .unwrap_or_else(|e| panic!("{e}"));
        Self::link(&module.object)
    }

    /// An object compiled for the host with symbol imports, linked with the driver.
    pub fn link(module: &[u8]) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let object = dir.path().join("module.o");
        std::fs::write(&object, module).unwrap();
        let driver = dir.path().join("driver.c");
        std::fs::write(&driver, DRIVER).unwrap();
        let exe = dir.path().join("module");
        let status = Command::new("clang-19")
            .arg("-O1")
            .arg(format!(
                "-DWASM_PAGE_SIZE={}ULL",
                mewz_abi::memory::WASM_PAGE_SIZE
            ))
            .arg(format!(
                "-DRESERVATION_BYTES={}ULL",
                mewz_abi::memory::RESERVATION_BYTES
            ))
            .arg(format!("-DABI_VERSION={}", mewz_abi::module::ABI_VERSION))
            .arg(format!(
                "-DOOB_CODE={}",
                TrapCode::OutOfBoundsMemoryAccess as u32
            ))
            .arg(format!(
                "-DSTACK_CODE={}",
                TrapCode::CallStackExhausted as u32
            ))
            .arg(&driver)
            .arg(&object)
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("clang-19 runs");
        assert!(status.success(), "linking the test driver failed");
        Instance { _dir: dir, exe }
    }

    /// Runs `calls` (one `invoke NAME ARGS` each) in one process; one output line per call.
    pub fn run(&self, calls: &[&str]) -> Vec<String> {
        // A hang (e.g. recursion turned into a loop) must fail the test, not stall it.
        let mut child = Command::new("timeout")
            .arg("20")
            .arg(&self.exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = String::new();
        for c in calls {
            input.push_str("invoke ");
            input.push_str(c);
            input.push('\n');
        }
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Asserts each `(call, expected line)`.
    pub fn check(&self, cases: &[(&str, &str)]) {
        let calls: Vec<&str> = cases.iter().map(|(c, _)| *c).collect();
        let got = self.run(&calls);
        for (i, (call, expected)) in cases.iter().enumerate() {
            assert_eq!(
                got.get(i).map(String::as_str),
                Some(*expected),
                "invoke {call}\nall output: {got:?}"
            );
        }
    }
}

pub fn trap(code: TrapCode) -> String {
    format!("trap {}", code as u32)
}

/// The default back end, and the fast one large modules get, forced on every function.
fn both_back_ends() -> [Tuning; 2] {
    [
        Tuning::default(),
        Tuning {
            fast_backend_function_bytes: Some(0),
            ..Tuning::default()
        },
    ]
}

#[test]
fn arithmetic_and_control_flow() {
    for tuning in both_back_ends() {
        let m = Instance::tuned(
            r#"(module
      (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
      (func $fac (export "fac") (param i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
          (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
      (func (export "sum") (param i32) (result i32) (local i32)
        (block $done (loop $l
          (br_if $done (i32.eqz (local.get 0)))
          (local.set 1 (i32.add (local.get 1) (local.get 0)))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br $l)))
        (local.get 1))
      (func (export "switch") (param i32) (result i32)
        (block $c (block $b (block $a (br_table $a $b $c (local.get 0)))
          (return (i32.const 10))) (return (i32.const 20))) (i32.const 30))
      (func (export "swap") (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
      (func (export "multi") (result i32)
        (call 4 (i32.const 7) (i32.const 3)) (i32.sub))
      (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
      (func (export "rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
      (func (export "shl") (param i32 i32) (result i32) (i32.shl (local.get 0) (local.get 1)))
      (func (export "clz") (param i32) (result i32) (i32.clz (local.get 0)))
      (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
      (func (export "trunc_sat") (param f32) (result i32) (i32.trunc_sat_f32_u (local.get 0)))
      (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
      (func (export "floor") (param f32) (result f32) (f32.floor (local.get 0)))
      (func (export "ceil") (param f64) (result f64) (f64.ceil (local.get 0)))
      (func (export "min") (param f64 f64) (result f64) (f64.min (local.get 0) (local.get 1)))
      (func (export "unreachable") (unreachable))
      (func $deep (export "deep") (param i32) (result i32) (i32.add (call $deep (local.get 0)) (i32.const 1)))
      (func (export "block_params") (result i32)
        (i32.const 5) (block (param i32) (result i32) (i32.const 2) (i32.mul)))
    )"#,
            CompileOptions::default(),
            tuning,
        );
        let f64_bits = |x: f64| x.to_bits().to_string();
        let f32_bits = |x: f32| x.to_bits().to_string();
        m.check(&[
            ("add 2 3", "ok 5"),
            ("add 4294967295 1", "ok 0"),
            ("fac 20", "ok 2432902008176640000"),
            ("sum 100", "ok 5050"),
            ("switch 0", "ok 10"),
            ("switch 1", "ok 20"),
            ("switch 7", "ok 30"),
            ("swap 1 2", "ok 2 1"),
            ("multi", "ok 4294967292"),
            ("div_s 7 0", &trap(TrapCode::IntegerDivideByZero)),
            (
                "div_s 2147483648 4294967295",
                &trap(TrapCode::IntegerOverflow),
            ),
            ("rem_s 2147483648 4294967295", "ok 0"),
            ("div_s 4294967289 2", "ok 4294967293"),
            ("shl 1 33", "ok 2"),
            ("clz 0", "ok 32"),
            (
                &format!("trunc {}", f64_bits(-2147483648.9)),
                "ok 2147483648",
            ),
            (
                &format!("trunc {}", f64_bits(2147483648.0)),
                &trap(TrapCode::IntegerOverflow),
            ),
            (
                &format!("trunc {}", f64_bits(f64::NAN)),
                &trap(TrapCode::InvalidConversionToInteger),
            ),
            (&format!("trunc_sat {}", f32_bits(-5.0)), "ok 0"),
            (&format!("trunc_sat {}", f32_bits(1e20)), "ok 4294967295"),
            (
                &format!("nearest {}", f64_bits(2.5)),
                &format!("ok {}", f64_bits(2.0)),
            ),
            (
                &format!("nearest {}", f64_bits(-3.5)),
                &format!("ok {}", f64_bits(-4.0)),
            ),
            (
                &format!("nearest {}", f64_bits(-0.4)),
                &format!("ok {}", f64_bits(-0.0)),
            ),
            (
                &format!("floor {}", f32_bits(-0.5)),
                &format!("ok {}", f32_bits(-1.0)),
            ),
            (
                &format!("floor {}", f32_bits(1e30)),
                &format!("ok {}", f32_bits(1e30)),
            ),
            (
                &format!("ceil {}", f64_bits(-0.5)),
                &format!("ok {}", f64_bits(-0.0)),
            ),
            (
                &format!("ceil {}", f64_bits(4.1)),
                &format!("ok {}", f64_bits(5.0)),
            ),
            (
                &format!("min {} {}", f64_bits(0.0), f64_bits(-0.0)),
                &format!("ok {}", f64_bits(-0.0)),
            ),
            ("unreachable", &trap(TrapCode::Unreachable)),
            ("deep 0", &trap(TrapCode::CallStackExhausted)),
            ("add 1 1", "ok 2"),
            ("block_params", "ok 10"),
        ]);
    }
}

#[test]
fn memory_data_grow_and_out_of_bounds() {
    for tuning in both_back_ends() {
        let m = Instance::tuned(
            r#"(module
      (import "env" "add_one" (func $add_one (param i32) (result i32)))
      (memory 1 3)
      (data (i32.const 16) "\2a\00\00\00")
      (data $passive "abcd")
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "load8") (param i32) (result i32) (i32.load8_s offset=1 (local.get 0)))
      (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
      (func (export "probe") (param i32) (drop (i64.load (local.get 0))))
      (func (export "size") (result i32) (memory.size))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "import") (param i32) (result i32) (call $add_one (local.get 0)))
      (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
      (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
      (func (export "init") (param i32 i32 i32) (memory.init $passive (local.get 0) (local.get 1) (local.get 2)))
      (func (export "drop") (data.drop $passive))
    )"#,
            CompileOptions::default(),
            tuning,
        );
        m.check(&[
            ("load 16", "ok 42"),
            ("store 20 4294967295", "ok"),
            ("load8 19", "ok 4294967295"),
            ("load 65532", "ok 0"),
            ("load 65533", &trap(TrapCode::OutOfBoundsMemoryAccess)),
            ("probe 65535", &trap(TrapCode::OutOfBoundsMemoryAccess)),
            ("probe 4294967295", &trap(TrapCode::OutOfBoundsMemoryAccess)),
            ("size", "ok 1"),
            ("grow 1", "ok 1"),
            ("load 65536", "ok 0"),
            ("grow 5", "ok 4294967295"),
            ("size", "ok 2"),
            ("import 41", "ok 42"),
            ("copy 17 16 4", "ok"),
            ("load 16", "ok 10794"),
            ("copy 131070 0 3", &trap(TrapCode::OutOfBoundsMemoryAccess)),
            ("fill 100 7 4", "ok"),
            ("load 100", "ok 117901063"),
            ("init 200 1 3", "ok"),
            ("load 200", "ok 6579042"),
            ("init 200 2 3", &trap(TrapCode::OutOfBoundsMemoryAccess)),
            ("drop", "ok"),
            ("init 200 0 0", "ok"),
            ("init 200 0 1", &trap(TrapCode::OutOfBoundsMemoryAccess)),
        ]);
    }
}

/// A load whose value nothing uses still traps out of bounds (`translate/dead_loads.rs`):
/// LLVM would delete it, and the trap with it.
#[test]
fn a_load_nothing_uses_still_traps() {
    let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
    check_in_both_pipelines(
        r#"(module
      (memory 1)
      (func (export "left_on_stack") (param i32)
        (i32.load (local.get 0)) (br 0))
      (func (export "into_a_dead_local") (param i32) (local i64)
        (local.set 1 (i64.load (local.get 0))))
      (func (export "through_arithmetic") (param i32) (result i32)
        (f64.trunc (f64.load (local.get 0)))
        (f64.const 1) (f64.add) (i32.const 7) (br 0))
      (func (export "through_a_select") (param i32) (param i32)
        (select (i32.load8_u (local.get 0)) (i32.const 3) (local.get 1))
        (i32.eqz) (local.set 1))
      (func (export "constant_inside") (drop (i32.load offset=65530 (i32.const 2))))
      (func (export "constant_past_the_end") (drop (i32.load offset=65530 (i32.const 3))))
    )"#,
        &[
            ("left_on_stack 65532", "ok"),
            ("left_on_stack 65533", &oob),
            ("into_a_dead_local 65528", "ok"),
            ("into_a_dead_local 65529", &oob),
            ("through_arithmetic 65528", "ok 7"),
            ("through_arithmetic 65529", &oob),
            ("through_a_select 65535 1", "ok"),
            ("through_a_select 65536 1", &oob),
            ("through_a_select 4294967295 0", &oob),
            ("constant_inside", "ok"),
            ("constant_past_the_end", &oob),
        ],
    );
}

/// Compiles `wat` with both ways of settling the loads (from a copy before the full pipeline,
/// and after the light one) and checks each.
fn check_in_both_pipelines(wat: &str, expected: &[(&str, &str)]) {
    for light_pipeline in [false, true] {
        let tuning = Tuning {
            light_pipeline,
            ..Tuning::default()
        };
        Instance::tuned(wat, CompileOptions::default(), tuning).check(expected);
    }
}

/// A load whose value is used on some ways on from it only (or only after something that may
/// end the run) is not moved there: it traps first, as in wasm.
#[test]
fn a_used_load_traps_before_what_follows_it() {
    let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
    check_in_both_pipelines(
        r#"(module
      (memory 1)
      (func $traps (unreachable))
      (func (export "used_on_one_branch") (param i32 i32) (result i32) (local i32)
        (local.set 2 (i32.load (local.get 0)))
        (if (local.get 1) (then (return (local.get 2))))
        (i32.const 5))
      (func (export "used_after_a_division") (param i32 i32) (result i32)
        (i32.load (local.get 0)) (i32.div_s (i32.const 1) (local.get 1)) (i32.add))
      (func (export "used_after_a_call_that_traps") (param i32) (result i64) (local i64)
        (local.set 1 (i64.load (local.get 0))) (call $traps) (local.get 1))
      (func (export "used_in_a_loop") (param i32 i32) (result f64) (local f64)
        (local.set 2 (f64.load (local.get 0)))
        (block $done
          (loop $l
            (br_if $done (i32.eqz (local.get 1)))
            (local.set 1 (i32.sub (local.get 1) (i32.const 1)))
            (br $l)))
        (local.get 2))
    )"#,
        &[
            ("used_on_one_branch 0 0", "ok 5"),
            ("used_on_one_branch 65533 0", &oob),
            ("used_on_one_branch 65533 1", &oob),
            ("used_after_a_division 0 1", "ok 1"),
            ("used_after_a_division 65533 0", &oob),
            (
                "used_after_a_division 0 0",
                &trap(TrapCode::IntegerDivideByZero),
            ),
            ("used_after_a_call_that_traps 65529", &oob),
            (
                "used_after_a_call_that_traps 0",
                &trap(TrapCode::Unreachable),
            ),
            ("used_in_a_loop 65529 3", &oob),
            ("used_in_a_loop 0 3", "ok 0"),
        ],
    );
}

/// A memory access traps where wasm executes it also where only a later step of the pipeline
/// finds the load's value irrelevant (pure code on it runs before a call that never returns;
/// it is stored back where it was read; the branch on it has two equal sides once a store
/// nothing reads is gone).
#[test]
fn an_access_traps_where_wasm_runs_it_whatever_the_pipeline_finds_later() {
    let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
    let unreachable = trap(TrapCode::Unreachable);
    check_in_both_pipelines(
        r#"(module
      (memory 1)
      (data $unused "x")
      (func $traps (unreachable))
      (func (export "computed_on_before_a_call_that_traps") (param i32) (result i32) (local i32)
        (local.set 1 (i32.eqz (i32.load (local.get 0)))) (call $traps) (local.get 1))
      (func (export "stored_back") (param i32)
        (i32.store (local.get 0) (i32.load (local.get 0))) (unreachable))
      (func (export "branched_on_to_equal_sides") (param i32)
        (if (i32.load (local.get 0)) (then (data.drop $unused))))
    )"#,
        &[
            ("computed_on_before_a_call_that_traps 65533", &oob),
            ("computed_on_before_a_call_that_traps 0", &unreachable),
            ("stored_back 65533", &oob),
            ("stored_back 0", &unreachable),
            ("branched_on_to_equal_sides 65533", &oob),
            ("branched_on_to_equal_sides 0", "ok"),
        ],
    );
}

#[test]
fn tables_and_indirect_calls() {
    check_tables(Instance::new(TABLES));
}

/// Functions, funcrefs, tables and segments split over parallel partitions behave the same.
#[test]
fn tables_and_indirect_calls_across_partitions() {
    check_tables(Instance::tuned(
        TABLES,
        CompileOptions::default(),
        Tuning {
            partitions: Some(3),
            ..Tuning::default()
        },
    ));
}

/// A module of 64 KiB of code whose `run` calls 150 loop functions once each: split across the
/// cores at the calls LLVM keeps out of line, it computes what it computes whole.
#[test]
fn loop_functions_split_across_cores_compute_the_same() {
    const KERNELS: u32 = 150;
    const STEPS: u32 = 40;
    let multiplier = |k: u32, s: u32| 3 + 2 * ((k * 7 + s * 13) % 97);
    let mut wat = String::from("(module (memory 1)");
    for k in 0..KERNELS {
        wat.push_str(&format!(
            "(func $k{k} (param $n i32) (result i32) (local $acc i32) (local $j i32)
               (local.set $acc (i32.const {k}))
               (block $done (loop $next
                 (br_if $done (i32.ge_u (local.get $j) (local.get $n)))"
        ));
        for s in 0..STEPS {
            wat.push_str(&format!(
                "(local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const {})) (local.get $j)))",
                multiplier(k, s)
            ));
        }
        wat.push_str(
            "(i32.store (i32.shl (i32.and (local.get $j) (i32.const 255)) (i32.const 2))
                 (local.get $acc))
               (local.set $j (i32.add (local.get $j) (i32.const 1)))
               (br $next)))
             (i32.add (local.get $acc) (i32.load (i32.const 4))))",
        );
    }
    wat.push_str(r#"(func (export "run") (param $n i32) (result i32) (local $sum i32)"#);
    for k in 0..KERNELS {
        wat.push_str(&format!(
            "(local.set $sum (i32.add (local.get $sum) (call $k{k} (local.get $n))))"
        ));
    }
    wat.push_str("(local.get $sum)))");
    let expected = |n: u32| {
        let mut memory = [0u32; 256];
        let mut sum = 0u32;
        for k in 0..KERNELS {
            let mut acc = k;
            for j in 0..n {
                for s in 0..STEPS {
                    acc = acc.wrapping_mul(multiplier(k, s)).wrapping_add(j);
                }
                memory[(j & 255) as usize] = acc;
            }
            sum = sum.wrapping_add(acc.wrapping_add(memory[1]));
        }
        // The driver prints an i32 result as its 32 bits, unsigned.
        sum
    };

    let opts = CompileOptions {
        target: Target::HostX86_64,
        import_linkage: ImportLinkage::Symbols,
        emit_llvm: true,
        ..CompileOptions::default()
    };
    let module = crate::compile(&super::wasm(&wat), &opts).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 && crate::merge::available() {
        assert!(module.timings.iter().any(|(stage, _)| *stage == "merge"));
        // Functions only their own partition calls stay internal; those called from the other
        // partition are hidden symbols.
        let ir = module.llvm_ir.as_deref().unwrap();
        assert!(ir.contains("define internal "), "no internal function");
        assert!(ir.contains("define hidden "), "no function called across");
    }
    let m = Instance::link(&module.object);
    for n in [0, 1, 2, 300] {
        m.check(&[(&format!("run {n}"), &format!("ok {}", expected(n)))]);
    }
}

const TABLES: &str = r#"(module
      (type $ii (func (param i32) (result i32)))
      (table $t 4 10 funcref)
      (table $e 2 externref)
      (elem (table $t) (i32.const 1) func $double $triple)
      (elem $p func $triple)
      (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
      (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func $other (param i64) (result i64) (local.get 0))
      (func (export "call") (param i32 i32) (result i32)
        (call_indirect $t (type $ii) (local.get 1) (local.get 0)))
      (func (export "size") (result i32) (table.size $t))
      (func (export "grow") (param i32) (result i32) (table.grow $t (ref.func $double) (local.get 0)))
      (func (export "set_other") (param i32) (table.set $t (local.get 0) (ref.func $other)))
      (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
      (func (export "init") (param i32) (table.init $t $p (local.get 0) (i32.const 0) (i32.const 1)))
      (func (export "copy") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
      (func (export "fill") (param i32 i32) (table.fill $t (local.get 0) (ref.null func) (local.get 1)))
      (func (export "ext") (param externref) (result externref)
        (table.set $e (i32.const 1) (local.get 0)) (table.get $e (i32.const 1)))
      (elem declare func $double $other)
    )"#;

fn check_tables(m: Instance) {
    m.check(&[
        ("call 1 5", "ok 10"),
        ("call 2 5", "ok 15"),
        ("call 0 5", &trap(TrapCode::UninitializedElement)),
        ("call 4 5", &trap(TrapCode::UndefinedElement)),
        ("set_other 3", "ok"),
        ("call 3 5", &trap(TrapCode::IndirectCallTypeMismatch)),
        ("size", "ok 4"),
        ("grow 2", "ok 4"),
        ("call 5 21", "ok 42"),
        ("grow 5", "ok 4294967295"),
        ("is_null 0", "ok 1"),
        ("is_null 6", &trap(TrapCode::OutOfBoundsTableAccess)),
        ("init 0", "ok"),
        ("call 0 3", "ok 9"),
        ("copy 1 0 3", "ok"),
        ("call 1 3", "ok 9"),
        ("call 2 3", "ok 6"),
        ("copy 5 0 2", &trap(TrapCode::OutOfBoundsTableAccess)),
        ("fill 0 6", "ok"),
        ("is_null 5", "ok 1"),
        ("fill 1 6", &trap(TrapCode::OutOfBoundsTableAccess)),
        ("ext 1234", "ok 1234"),
    ]);
}

/// A table no code can change (defined, not exported, never written) is a constant
/// (`module_info::frozen_tables`): a `call_indirect` through a constant index folds to a
/// direct call, and every check still traps as the spec says for the others.
#[test]
fn frozen_tables_are_constants_and_keep_every_check() {
    let wat = r#"(module
      (type $ii (func (param i32) (result i32)))
      (table $f 5 funcref)
      (table $w 2 funcref)
      (table $x (export "exported") 1 funcref)
      (table $g 2 funcref)
      (elem (table $f) (i32.const 0) func $double $triple)
      (elem (table $f) (i32.const 3) func $other)
      (elem (table $f) (i32.const 1) func $double)
      (elem (table $x) (i32.const 0) func $double)
      (elem (table $g) (i32.const 0) func $triple)
      (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
      (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func $other (param i64) (result i64) (local.get 0))
      (func (export "call") (param i32 i32) (result i32)
        (call_indirect $f (type $ii) (local.get 1) (local.get 0)))
      (func (export "constant") (param i32) (result i32)
        (call_indirect $f (type $ii) (local.get 0) (i32.const 1)))
      (func (export "sum") (param i32 i32) (result i32) (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s)
            (call_indirect $f (type $ii) (local.get 1) (local.get 0))))
          (br_if $l (local.tee 1 (i32.sub (local.get 1) (i32.const 1)))))
        (local.get $s))
      (func (export "size") (result i32) (table.size $f))
      (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $f (local.get 0))))
      (func (export "copy") (param i32 i32) (result i32)
        (table.copy $w $f (i32.const 0) (local.get 0) (i32.const 2))
        (call_indirect $w (type $ii) (local.get 1) (i32.const 0)))
      (func (export "call_g") (param i32) (result i32)
        (call_indirect $g (type $ii) (local.get 0) (i32.const 0)))
      (func (export "set_g") (table.set $g (i32.const 0) (ref.func $double)))
    )"#;
    for tuning in both_back_ends() {
        let m = Instance::tuned(wat, CompileOptions::default(), tuning);
        m.check(&[
            ("call 0 5", "ok 10"),
            // The third segment overwrote element 1.
            ("call 1 5", "ok 10"),
            ("call 2 5", &trap(TrapCode::UninitializedElement)),
            ("call 3 5", &trap(TrapCode::IndirectCallTypeMismatch)),
            ("call 5 5", &trap(TrapCode::UndefinedElement)),
            ("call 4294967295 5", &trap(TrapCode::UndefinedElement)),
            ("constant 7", "ok 14"),
            ("sum 0 4", "ok 20"),
            ("sum 2 4", &trap(TrapCode::UninitializedElement)),
            ("size", "ok 5"),
            ("is_null 2", "ok 1"),
            ("is_null 4", "ok 1"),
            ("is_null 5", &trap(TrapCode::OutOfBoundsTableAccess)),
            ("copy 0 4", "ok 8"),
            ("copy 4 4", &trap(TrapCode::OutOfBoundsTableAccess)),
            // A written table is not frozen: the write is seen.
            ("call_g 4", "ok 12"),
            ("set_g", "ok"),
            ("call_g 4", "ok 8"),
        ]);
    }
    let ir = super::llvm_ir(wat, 2);
    let storage = |t: usize| {
        ir.lines()
            .find(|l| l.starts_with(&format!("@table{t}.elements = ")))
            .unwrap_or_else(|| panic!("no table{t} in {ir}"))
    };
    assert!(storage(0).contains(" constant "), "{}", storage(0));
    for written_or_exported in [1, 2, 3] {
        let line = storage(written_or_exported);
        assert!(!line.contains(" constant "), "{line}");
    }
    // `constant` (function 4) is `x * 2`: no lookup, no check, and no stack check either (it
    // can only call functions of the module).
    let constant = super::function_ir(&ir, "wasm_function_4");
    assert!(!constant.contains(mewz_abi::symbols::TRAP), "{constant}");
    assert!(!constant.contains("table"), "{constant}");
}

/// A `call_indirect` through a frozen table, whose elements of the call's type hold a few
/// functions, switches on the index to direct calls of them (`control.rs`): each element
/// calls its function, with one result or several, and every other index still traps as
/// the spec says. With more functions of the type than the switch takes, the call goes
/// through the table alone.
#[test]
fn indirect_calls_through_a_frozen_table_become_direct_calls() {
    let wat = r#"(module
      (type $ii (func (param i32) (result i32)))
      (type $pair (func (param i32) (result i32 i32)))
      (type $v (func (param i32)))
      (table $f 9 funcref)
      (table $many 5 funcref)
      (elem (table $f) (i32.const 0) func $double $triple $double $other $swap)
      (elem (table $f) (i32.const 6) func $double)
      (elem (table $many) (i32.const 0) func $v0 $v1 $v2 $v3 $v4)
      (global $g (mut i32) (i32.const 0))
      (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
      (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func $other (param i64) (result i64) (local.get 0))
      (func $swap (param i32) (result i32 i32) (i32.const 7) (local.get 0))
      (func $v0 (param i32) (global.set $g (local.get 0)))
      (func $v1 (param i32) (global.set $g (i32.add (local.get 0) (i32.const 1))))
      (func $v2 (param i32) (global.set $g (i32.add (local.get 0) (i32.const 2))))
      (func $v3 (param i32) (global.set $g (i32.add (local.get 0) (i32.const 3))))
      (func $v4 (param i32) (global.set $g (i32.add (local.get 0) (i32.const 4))))
      (func (export "call") (param i32 i32) (result i32)
        (call_indirect $f (type $ii) (local.get 1) (local.get 0)))
      (func (export "pair") (param i32 i32) (result i32 i32)
        (call_indirect $f (type $pair) (local.get 1) (local.get 0)))
      (func (export "many") (param i32 i32) (result i32)
        (call_indirect $many (type $v) (local.get 1) (local.get 0))
        (global.get $g))
      (func (export "sum") (param i32 i32) (result i32) (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s)
            (call_indirect $f (type $ii) (local.get 1) (local.get 0))))
          (br_if $l (local.tee 1 (i32.sub (local.get 1) (i32.const 1)))))
        (local.get $s))
    )"#;
    for tuning in both_back_ends() {
        let m = Instance::tuned(wat, CompileOptions::default(), tuning);
        m.check(&[
            ("call 0 5", "ok 10"),
            ("call 1 5", "ok 15"),
            ("call 2 5", "ok 10"),
            ("call 3 5", &trap(TrapCode::IndirectCallTypeMismatch)),
            ("call 4 5", &trap(TrapCode::IndirectCallTypeMismatch)),
            ("call 5 5", &trap(TrapCode::UninitializedElement)),
            ("call 6 5", "ok 10"),
            ("call 8 5", &trap(TrapCode::UninitializedElement)),
            ("call 9 5", &trap(TrapCode::UndefinedElement)),
            ("call 4294967295 5", &trap(TrapCode::UndefinedElement)),
            ("pair 4 9", "ok 7 9"),
            ("pair 0 9", &trap(TrapCode::IndirectCallTypeMismatch)),
            ("pair 7 9", &trap(TrapCode::UninitializedElement)),
            ("many 0 10", "ok 10"),
            ("many 4 10", "ok 14"),
            ("many 5 10", &trap(TrapCode::UndefinedElement)),
            ("sum 1 4", "ok 30"),
            ("sum 3 4", &trap(TrapCode::IndirectCallTypeMismatch)),
        ]);
    }
    // Unoptimised, the switch and its direct calls are plain to see: to $double (function 0)
    // and $triple (1) for `call`, to $swap (3) for `pair`, none for `many`.
    let ir = super::llvm_ir(wat, 0);
    let direct = |name: &str| {
        super::function_ir(&ir, name)
            .lines()
            .filter(|l| l.starts_with("call_indirect.direct"))
            .count()
    };
    assert_eq!(direct("wasm_function_9"), 2);
    assert_eq!(direct("wasm_function_10"), 1);
    assert_eq!(direct("wasm_function_11"), 0);
    let call = super::function_ir(&ir, "wasm_function_9");
    assert!(
        call.contains("@wasm_function_0(") && call.contains("@wasm_function_1("),
        "{call}"
    );
    assert!(super::function_ir(&ir, "wasm_function_10").contains("@wasm_function_3("));
    // Optimised, `sum`'s loop calls nothing: both functions are inlined, and the table
    // lookup is left only for the indices that trap.
    let ir = super::llvm_ir(wat, 2);
    let sum = super::function_ir(&ir, "wasm_function_12");
    assert!(
        !sum.contains("@wasm_function_0(") && !sum.contains("@wasm_function_1("),
        "{sum}"
    );
}

/// A segment that does not fit traps at instantiation, frozen candidate or not.
#[test]
fn a_segment_out_of_bounds_still_traps_at_instantiation() {
    let m = Instance::new(
        r#"(module
      (type $ii (func (param i32) (result i32)))
      (table $f 2 funcref)
      (elem (table $f) (i32.const 1) func $double $double)
      (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
      (func (export "call") (param i32 i32) (result i32)
        (call_indirect $f (type $ii) (local.get 1) (local.get 0))))"#,
    );
    let out = m.run(&["call 1 1"]);
    assert_eq!(
        out.first().map(String::as_str),
        Some(
            format!(
                "instantiate trap {}",
                TrapCode::OutOfBoundsTableAccess as u32
            )
            .as_str()
        ),
        "{out:?}"
    );
}

#[test]
fn start_function_and_globals() {
    let m = Instance::new(
        r#"(module
      (global $g (mut i32) (i32.const 1))
      (global $c i64 (i64.const -1))
      (func $start (global.set $g (i32.const 99)))
      (start $start)
      (func (export "get") (result i32 i64) (global.get $g) (global.get $c))
    )"#,
    );
    m.check(&[("get", "ok 99 18446744073709551615")]);
}

#[test]
fn explicit_bounds_checks_trap_without_the_guard() {
    let opts = CompileOptions {
        bounds_checks: true,
        ..CompileOptions::default()
    };
    let m = Instance::with_options(
        r#"(module (memory 1)
      (func (export "load") (param i32) (result i32) (i32.load offset=4 (local.get 0))))"#,
        opts,
    );
    m.check(&[
        ("load 65528", "ok 0"),
        ("load 65529", &trap(TrapCode::OutOfBoundsMemoryAccess)),
        ("load 4294967295", &trap(TrapCode::OutOfBoundsMemoryAccess)),
    ]);
}

/// `p + constant` becomes `add nuw` only where an earlier access proved it cannot wrap
/// (`translate/address.rs`): everywhere else a wrapped index must still reach low memory.
/// Each case would trap (index past 4 GiB) if a fact leaked out of the construct that proved it.
#[test]
fn index_arithmetic_wraps_unless_an_access_proved_otherwise() {
    let wat = r#"(module
      (memory 1)
      (data (i32.const 4) "\2a\00\00\00")
      (func (export "after_if") (param $p i32) (param $c i32) (result i32)
        (if (local.get $c) (then (drop (i32.load (local.get $p)))))
        (i32.load (i32.add (local.get $p) (i32.const 8))))
      (func (export "in_else") (param $p i32) (param $c i32) (result i32)
        (if (result i32) (local.get $c)
          (then (drop (i32.load (local.get $p))) (i32.const 0))
          (else (i32.load (i32.add (local.get $p) (i32.const 8))))))
      (func (export "kept_on_stack") (param $p i32) (param $c i32) (result i32)
        (local.get $p)
        (if (local.get $c) (then (drop (i32.load (local.get $p)))))
        (i32.const 8) (i32.add) (i32.load))
      (func (export "in_block") (param $p i32) (param $c i32) (result i32)
        (local.get $p)
        (block (br_if 0 (i32.eqz (local.get $c))) (drop (i32.load (local.get $p))))
        (i32.load (i32.add (i32.const 8))))
      (func (export "reassigned") (param $p i32) (param $q i32) (result i32)
        (drop (i32.load (local.get $p)))
        (local.set $p (local.get $q))
        (i32.load (i32.add (local.get $p) (i32.const 8))))
      (func (export "next_iteration") (param $p i32) (param $n i32) (result i32) (local $s i32)
        (drop (i32.load (local.get $p)))
        (block $done
          (loop $l
            (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 8)))))
            (br_if $done (i32.eq (local.get $p) (local.get $n)))
            (local.set $p (local.get $n))
            (br $l)))
        (local.get $s))
      (func (export "pair") (param $p i32) (result i32)
        (i32.add (i32.load (local.get $p)) (i32.load (i32.add (local.get $p) (i32.const 4)))))
      (func (export "block_prefix") (param $p i32) (param $c i32) (result i32)
        (block (drop (i32.load (local.get $p))) (br_if 0 (local.get $c)))
        (i32.load (i32.add (local.get $p) (i32.const 8))))
      (func (export "loop_invariant") (param $p i32) (param $n i32) (result i32) (local $s i32)
        (drop (i32.load (local.get $p)))
        (loop $l
          (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 4)))))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $s))
      (func (export "loop_exit_first") (param $p i32) (param $c i32) (result i32)
        (block $done
          (loop $l
            (br_if $done (local.get $c))
            (drop (i32.load (local.get $p)))
            (local.set $c (i32.const 1))
            (br $l)))
        (i32.load (i32.add (local.get $p) (i32.const 8))))
      (func (export "first_iteration") (param $p i32) (param $x i32) (param $n i32) (result i32)
        (local $q i32)
        (local.set $q (i32.add (local.get $p) (i32.const 16)))
        (loop $l
          (drop (i32.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (i32.load (i32.add (i32.add (local.get $p) (i32.const 16))
          (i32.shl (i32.and (local.get $x) (i32.const 255)) (i32.const 2)))))
      (func (export "bounded_unproven") (param $p i32) (param $x i32) (result i32)
        (i32.load (i32.add (local.get $p) (i32.and (local.get $x) (i32.const 255)))))
      (func (export "bounded_too_far") (param $p i32) (param $x i32) (result i32)
        (drop (i32.load (local.get $p)))
        (i32.load (i32.add (local.get $p) (i32.and (local.get $x) (i32.const 0x1ffff)))))
      (func (export "teed") (param $p i32) (param $x i32) (result i32) (local $q i32)
        (i32.add
          (i32.load (local.tee $q (i32.add (local.get $p) (local.get $x))))
          (i32.load (i32.add (local.get $q) (i32.const 4)))))
    )"#;
    // The translator's own output (no pipeline at -O0): only these may have an `add nuw`.
    let proven = [
        "pair",
        "block_prefix",
        "loop_invariant",
        "first_iteration",
        "teed",
    ];
    let ir = super::llvm_ir(wat, 0);
    for (index, name) in [
        "after_if",
        "in_else",
        "kept_on_stack",
        "in_block",
        "reassigned",
        "next_iteration",
        "pair",
        "block_prefix",
        "loop_invariant",
        "loop_exit_first",
        "first_iteration",
        "bounded_unproven",
        "bounded_too_far",
        "teed",
    ]
    .iter()
    .enumerate()
    {
        let body = super::function_ir(&ir, &format!("wasm_function_{index}"));
        assert_eq!(
            body.contains("add nuw i32"),
            proven.contains(name),
            "{name}:\n{body}"
        );
    }
    for tuning in both_back_ends() {
        let m = Instance::tuned(wat, CompileOptions::default(), tuning);
        let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
        m.check(&[
            ("after_if 4294967292 0", "ok 42"),
            ("in_else 4294967292 0", "ok 42"),
            ("kept_on_stack 4294967292 0", "ok 42"),
            ("in_block 4294967292 0", "ok 42"),
            ("after_if 4294967292 1", &oob),
            ("reassigned 0 4294967292", "ok 42"),
            ("next_iteration 0 4294967292", "ok 42"),
            ("pair 0", "ok 42"),
            ("pair 65532", &oob),
            ("pair 4294967292", &oob),
            ("block_prefix 4294967292 1", &oob),
            ("block_prefix 65528 0", &oob),
            ("block_prefix 65524 0", "ok 0"),
            ("loop_invariant 0 3", "ok 126"),
            ("loop_exit_first 4294967292 1", "ok 42"),
            ("loop_exit_first 65532 0", &oob),
            // p + 16 wraps to 4 (42), 8, 12; then the table at 4: x = 0 reads 42.
            ("first_iteration 4294967284 0 3", "ok 42"),
            ("first_iteration 4294967284 1 3", "ok 0"),
            ("first_iteration 65520 0 1", &oob),
            ("bounded_unproven 4294967292 8", "ok 42"),
            ("bounded_too_far 0 4", "ok 42"),
            // p + x wraps to 4 (42); its access proves q + 4 = 8 cannot wrap.
            ("teed 4294967292 8", "ok 42"),
            ("teed 65528 4", &oob),
        ]);
    }
}

/// A loop stepping a pointer it reads at `p + 8` (nbody's shape) gets a second copy whose
/// header knows what the back edges proved, so `p + 8` is an `add nuw` there; the first
/// iteration, and any entered from an edge that proved nothing, run in the first copy, where
/// `p + 8` may wrap (at p = 2^32 - 8 it reads address 0).
#[test]
fn a_loop_stepping_a_pointer_runs_its_later_iterations_in_a_copy_that_knows_it() {
    let wat = r#"(module
      (memory 1)
      (data (i32.const 0) "\01\00\00\00\02\00\00\00\04\00\00\00\08\00\00\00\10\00\00\00\20\00\00\00")
      (func (export "walk") (param $p i32) (param $q i32) (param $n i32) (result i32)
        (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 8)))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (if (i32.eq (local.get $n) (i32.const 2))
            (then (local.set $p (local.get $q)) (br $l)))
          (local.set $s (i32.add (local.get $s)
            (i32.load (local.tee $p (i32.add (local.get $p) (i32.const 8))))))
          (br_if $l (local.get $n)))
        (local.get $s))
      (func (export "walk_table") (param $p i32) (param $n i32) (result i32) (local $s i32)
        (block $done
          (loop $l
            (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 8)))))
            (local.set $s (i32.add (local.get $s)
              (i32.load (local.tee $p (i32.add (local.get $p) (i32.const 4))))))
            (br_table $l $done (i32.eqz (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
        (local.get $s))
      ;; What the second copy assumes about p is no fact about the p the loop began with.
      (func (export "after_loop") (param $p i32) (param $n i32) (result i32)
        (local $p0 i32) (local $s i32)
        (local.set $p0 (local.get $p))
        (loop $l
          (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 8)))))
          (local.set $s (i32.add (local.get $s)
            (i32.load (local.tee $p (i32.add (local.get $p) (i32.const 8))))))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (i32.add (local.get $s) (i32.load (i32.add (local.get $p0) (i32.const 12)))))
      ;; clang's shape: the loop's end is never reached, the way out is a branch.
      (func (export "walk_to") (param $p i32) (param $end i32) (result i32) (local $s i32)
        (block $done
          (loop $l
            (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 8)))))
            (local.set $s (i32.add (local.get $s)
              (i32.load (local.tee $p (i32.add (local.get $p) (i32.const 8))))))
            (br_if $done (i32.eq (local.get $p) (local.get $end)))
            (br $l)))
        (local.get $s))
      ;; p + 12 is never accessed: no back edge knows anything about p.
      (func (export "no_fact") (param $p i32) (param $n i32) (result i32) (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $p) (i32.const 8)))))
          (local.set $p (i32.add (local.get $p) (i32.const 12)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $s))
    )"#;
    let ir = super::llvm_ir(wat, 0);
    for (index, twice) in [(0, true), (1, true), (2, true), (3, true), (4, false)] {
        let body = super::function_ir(&ir, &format!("wasm_function_{index}"));
        assert_eq!(
            body.contains("loop.fast"),
            twice,
            "function {index}:\n{body}"
        );
        assert_eq!(
            body.contains("add nuw i32"),
            twice,
            "function {index}:\n{body}"
        );
    }
    // After the loop, `p0 + 12` wraps: the assumption stayed in the second copy.
    let body = super::function_ir(&ir, "wasm_function_2");
    assert!(
        !body
            .lines()
            .any(|l| l.contains("add nuw i32") && l.ends_with(", 12")),
        "{body}"
    );
    let every = CompileOptions {
        every_loop_twice: true,
        ..CompileOptions::default()
    };
    // The testing aid makes a second copy of `no_fact`'s loop too, assuming nothing.
    let ir = super::llvm_ir_with(
        wat,
        CompileOptions {
            opt_level: 0,
            ..every.clone()
        },
    );
    let body = super::function_ir(&ir, "wasm_function_4");
    assert!(
        body.contains("loop.fast") && !body.contains("add nuw i32"),
        "{body}"
    );
    for tuning in both_back_ends() {
        for opts in [CompileOptions::default(), every.clone()] {
            let m = Instance::tuned(wat, opts, tuning);
            let oob = trap(TrapCode::OutOfBoundsMemoryAccess);
            m.check(&[
                // Reads 8, 8 (first copy); 16 (second), then p = q = 2^32 - 8 on an edge
                // that proved nothing: back to the first copy, which reads 0 (p + 8 wraps),
                // 0; then the second again: 8, 8.
                ("walk 0 4294967288 4", "ok 34"),
                ("walk 0 4294967288 5", "ok 50"),
                // The same edge in the first copy: 8, then 0, 0 in the first copy again, then
                // 8, 8 in the second.
                ("walk 0 4294967288 3", "ok 14"),
                // Entered with p + 8 wrapping: the first iteration is the first copy's.
                ("walk 4294967288 0 1", "ok 2"),
                ("walk 65528 0 2", &oob),
                ("walk 65520 0 2", &oob),
                ("walk_table 4294967292 3", "ok 21"),
                ("walk_table 65528 1", &oob),
                // 0, 0 in the loop, then p0 + 12 wraps to 4.
                ("after_loop 4294967288 1", "ok 4"),
                ("after_loop 4294967288 3", "ok 44"),
                ("walk_to 4294967288 8", "ok 10"),
                ("walk_to 4294967288 16", "ok 42"),
                ("no_fact 4294967288 2", "ok 9"),
            ]);
        }
    }
}

/// Two indices into one array (clang's `perm[i]`, `perm[j]` as two pointers stepped in
/// opposite directions) share the array's root, so they stay one object to LLVM: the swap loop
/// is not turned into a vector loop behind run-time overlap checks it would pay for on every
/// (short) run, as native code isn't.
#[test]
fn indices_into_one_array_stay_one_object() {
    let wat = r#"(module
      (memory 1)
      (func (export "flips") (param $perm i32) (result i32)
        (local $k i32) (local $n i32) (local $hi i32) (local $i i32) (local $lo i32) (local $t i32)
        (block $none
          (br_if $none (local.tee $k (i32.load (local.get $perm))))
          (return (i32.const 0)))
        (loop $again
          (block $short
            (br_if $short (i32.lt_s (local.get $k) (i32.const 1)))
            (local.set $hi (i32.add (local.get $perm) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $i (i32.const 1))
            (local.set $lo (local.get $perm))
            (loop $swap
              (local.set $t (i32.load (local.get $lo)))
              (i32.store (local.get $lo) (i32.load (local.get $hi)))
              (i32.store (local.get $hi) (local.get $t))
              (local.set $lo (i32.add (local.get $lo) (i32.const 4)))
              (local.set $hi (i32.add (local.get $hi) (i32.const -4)))
              (local.set $t (i32.lt_s (local.get $i)
                (local.tee $k (i32.add (local.get $k) (i32.const -1)))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $swap (local.get $t)))
            (local.set $k (i32.load (local.get $perm))))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br_if $again (local.get $k)))
        (local.get $n))
      (func (export "set") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    )"#;
    let ir = super::llvm_ir(wat, 2);
    let flips = super::function_ir(&ir, "wasm_function_0");
    assert!(!flips.contains("x i32>"), "vectorized:\n{flips}");
    // [3, 0, 2, 1] -> [1, 2, 0, 3] -> [2, 1, 0, 3] -> [0, 1, 2, 3]: three flips.
    let m = Instance::new(wat);
    m.check(&[
        ("set 0 3", "ok"),
        ("set 4 0", "ok"),
        ("set 8 2", "ok"),
        ("set 12 1", "ok"),
        ("flips 0", "ok 3"),
        ("flips 0", "ok 0"),
    ]);
}

/// The shape clang gives a loop it unrolled by two (`p`, `p + 8` per iteration) is vectorized,
/// and stays right when the two arrays overlap (the runtime alias check takes the scalar loop).
/// The base copies that told the optimiser the two roots apart are gone before the back end.
#[test]
fn unrolled_loops_over_linear_memory_vectorize_and_respect_overlap() {
    let wat = r#"(module
      (memory 1)
      (func $add (export "add") (param $c i32) (param $b i32) (param $n i32) (local $t i32)
        (loop $l
          (i32.store (local.get $c) (i32.add (i32.load (local.get $c)) (i32.load (local.get $b))))
          (local.set $t (i32.add (local.get $c) (i32.const 4)))
          (i32.store (local.get $t)
            (i32.add (i32.load (local.get $t)) (i32.load (i32.add (local.get $b) (i32.const 4)))))
          (local.set $c (i32.add (local.get $c) (i32.const 8)))
          (local.set $b (i32.add (local.get $b) (i32.const 8)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
      (func (export "fill") (param $p i32) (param $n i32) (local $i i32)
        (loop $l
          (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $i))
          (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
      (func (export "get") (param i32) (result i32) (i32.load (local.get 0))))"#;
    let ir = super::llvm_ir(wat, 2);
    let add = super::function_ir(&ir, "wasm_function_0");
    assert!(add.contains("x i32>"), "not vectorized:\n{add}");
    assert!(
        !ir.contains(" asm \""),
        "base copies left for the back end:\n{add}"
    );
    let m = Instance::new(wat);
    // Disjoint: c[0..64] += b[0..64] with b[i] = i and c[i] = i: c[i] = 2i.
    // Overlapping (c = b + 4): each pair reads what the previous pair wrote, as scalar code
    // does: c[k] = b[k] + b[k-1] chains into a running sum.
    m.check(&[
        ("fill 1024 64", "ok"),
        ("fill 2048 64", "ok"),
        ("add 2048 1024 32", "ok"),
        ("get 2048", "ok 0"),
        ("get 2052", "ok 2"),
        ("get 2300", "ok 126"),
        ("fill 4096 64", "ok"),
        ("add 4100 4096 16", "ok"),
        ("get 4100", "ok 1"),
        ("get 4104", "ok 3"),
        ("get 4108", "ok 6"),
        ("get 4224", "ok 528"),
    ]);
}
