//! Compiler tests: objects and their symbols, error messages, robustness, and execution of
//! compiled code through a tiny C runtime.

mod errors;
mod objects;
mod run;
mod simd;

use crate::{CompileOptions, CompiledModule, Target, compile};

pub fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test WAT parses")
}

/// The LLVM IR of `wat` compiled with the default options at `opt_level`.
pub fn llvm_ir(wat: &str, opt_level: u8) -> String {
    llvm_ir_with(
        wat,
        CompileOptions {
            opt_level,
            ..CompileOptions::default()
        },
    )
}

/// The LLVM IR of `wat` compiled with `opts`.
pub fn llvm_ir_with(wat: &str, opts: CompileOptions) -> String {
    let opts = CompileOptions {
        emit_llvm: true,
        ..opts
    };
    compile(&wasm(wat), &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .llvm_ir
        .expect("IR was asked for")
}

/// The text of function `name` (`define ...` to its end) in printed LLVM IR.
pub fn function_ir<'a>(ir: &'a str, name: &str) -> &'a str {
    ir.split("\ndefine ")
        .find(|f| f.contains(&format!("@{name}(")))
        .unwrap_or_else(|| panic!("no {name} in the IR"))
}

/// The attribute group of function `name` in printed LLVM IR.
pub fn function_attributes(ir: &str, name: &str) -> String {
    let define = ir
        .lines()
        .find(|l| l.starts_with("define") && l.contains(&format!("@{name}(")))
        .unwrap_or_else(|| panic!("no {name} in {ir}"));
    // `define ... #N [align A] {`
    let group = define.rsplit('#').next().unwrap();
    let group = group.split_whitespace().next().unwrap();
    ir.lines()
        .find(|l| l.starts_with(&format!("attributes #{group} ")))
        .unwrap()
        .to_string()
}

pub fn compile_for(wat: &str, target: Target) -> CompiledModule {
    let opts = CompileOptions {
        target,
        ..CompileOptions::default()
    };
    match compile(&wasm(wat), &opts) {
        Ok(m) => m,
        Err(e) => panic!("compile for {target}: {e}"),
    }
}

pub const HELLO: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "hello\n")
  (global $counter (mut i32) (i32.const 0))
  (func $main (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (call $proc_exit (i32.const 0)))
)
"#;
