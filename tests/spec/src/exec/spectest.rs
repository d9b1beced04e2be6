//! The `spectest` module every spec script may import from.

use super::instance::{Extern, FuncSig};
use mewz_abi::memory::MemoryDescriptor;
use mewz_abi::module::{TableDescriptor, ValType};
use std::collections::HashMap;

fn print_line(text: &str) {
    // Straight to fd 2 with no lock: a time-limit signal may unwind through this frame.
    let line = format!("spectest: {text}\n");
    // SAFETY: writing a live buffer.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

extern "C" fn print() {
    print_line("");
}
extern "C" fn print_i32(v: i32) {
    print_line(&format!("{v} : i32"));
}
extern "C" fn print_i64(v: i64) {
    print_line(&format!("{v} : i64"));
}
extern "C" fn print_f32(v: f32) {
    print_line(&format!("{v} : f32"));
}
extern "C" fn print_f64(v: f64) {
    print_line(&format!("{v} : f64"));
}
extern "C" fn print_i32_f32(a: i32, b: f32) {
    print_line(&format!("{a} : i32, {b} : f32"));
}
extern "C" fn print_f64_f64(a: f64, b: f64) {
    print_line(&format!("{a} : f64, {b} : f64"));
}

fn leak<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// A fresh `spectest` instance's exports: print functions, globals holding 666, a table of 10
/// (max 20) funcrefs and a memory of 1 (max 2) pages.
pub fn exports() -> HashMap<String, Extern> {
    use ValType::*;
    let mut out = HashMap::new();
    let funcs: [(&str, *const u8, &[ValType]); 7] = [
        ("print", print as *const u8, &[]),
        ("print_i32", print_i32 as *const u8, &[I32]),
        ("print_i64", print_i64 as *const u8, &[I64]),
        ("print_f32", print_f32 as *const u8, &[F32]),
        ("print_f64", print_f64 as *const u8, &[F64]),
        ("print_i32_f32", print_i32_f32 as *const u8, &[I32, F32]),
        ("print_f64_f64", print_f64_f64 as *const u8, &[F64, F64]),
    ];
    for (name, code, params) in funcs {
        let sig = FuncSig::new(params.to_vec(), vec![]);
        out.insert(
            name.into(),
            Extern::Func {
                code,
                sig,
                array_call: None,
            },
        );
    }
    let globals: [(&str, ValType, u64); 4] = [
        ("global_i32", I32, 666),
        ("global_i64", I64, 666),
        ("global_f32", F32, u64::from(666.6f32.to_bits())),
        ("global_f64", F64, 666.6f64.to_bits()),
    ];
    for (name, ty, bits) in globals {
        out.insert(
            name.into(),
            Extern::Global {
                cell: leak(bits),
                ty,
                mutable: false,
            },
        );
    }
    let table: TableDescriptor = mewz_host::runtime::new_table(10, 20);
    out.insert(
        "table".into(),
        Extern::Table {
            table: leak(table),
            element: ValType::FuncRef,
            maximum: Some(20),
        },
    );
    let memory: MemoryDescriptor =
        mewz_host::runtime::new_memory(1, 2).expect("reserving the spectest memory");
    out.insert(
        "memory".into(),
        Extern::Memory {
            memory: leak(memory),
            maximum: Some(2),
        },
    );
    out
}
