//! The second module of every fuzz script: calls through tables, which wasm-smith makes too
//! rarely to test (in 200 of its modules, one `call_indirect`).
//!
//! A few functions of a few types are placed in one or two tables by active segments that may
//! overlap and may leave elements null. The tables are hidden and never written, so mewz knows
//! their contents and may compile a call through them as direct calls (`call_indirect` in the
//! compiler's `translate/control.rs`), except that a quarter of the modules export table 0,
//! which keeps the plain table lookup. Each type gets two exported callers: one passes its
//! index through as given, one reduces it below the table's size + 2, so that most of its calls
//! land in the table. The types may repeat a signature, since `call_indirect` compares types by
//! structure. Each function returns values made from its own index and its argument, and
//! records its index in the exported global `last`.

use super::SplitMix64;
use std::borrow::Cow;
use wasm_encoder::{
    CodeSection, ConstExpr, ElementSection, Elements, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, HeapType, Module, RefType, TableSection, TableType,
    TypeSection, ValType,
};

/// The module's only table access is `call_indirect`, so an index out of a table's bounds is
/// the spec's "undefined element".
pub(super) const TABLE_OUT_OF_BOUNDS: &str = "undefined element";
/// The signatures a type is drawn from.
const SIGNATURES: [(&[ValType], &[ValType]); 5] = [
    (&[ValType::I32], &[ValType::I32]),
    (&[ValType::I32, ValType::I32], &[ValType::I32]),
    (&[], &[ValType::I32, ValType::I64]),
    (&[ValType::I64], &[ValType::F64]),
    (&[ValType::I32], &[]),
];
/// Up to this many elements per table: a little above the 64 up to which mewz makes direct
/// calls.
const MAX_TABLE: u64 = 72;

/// A module as described above, drawn from `rng`.
pub(super) fn module(rng: &mut SplitMix64) -> Vec<u8> {
    let mut pick = |n: u64| rng.next() % n;
    let signatures: Vec<usize> = (0..1 + pick(4))
        .map(|_| pick(SIGNATURES.len() as u64) as usize)
        .collect();
    let function_types: Vec<u32> = (0..1 + pick(8))
        .map(|_| pick(signatures.len() as u64) as u32)
        .collect();
    let table_sizes: Vec<u64> = (0..1 + pick(2)).map(|_| 1 + pick(MAX_TABLE)).collect();
    let export_table = pick(4) == 0;

    let mut types = TypeSection::new();
    for &s in &signatures {
        let (params, results) = SIGNATURES[s];
        types
            .ty()
            .function(params.iter().copied(), results.iter().copied());
    }
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    for (index, &ty) in function_types.iter().enumerate() {
        functions.function(ty);
        code.function(&callee(index as u32, SIGNATURES[signatures[ty as usize]]));
    }

    // Callers: per type, one passing the index through and one reducing it.
    let mut exports = ExportSection::new();
    // The callees are functions 0..callees; the callers follow them.
    let callees = function_types.len() as u32;
    for (ty, &s) in signatures.iter().enumerate() {
        let (params, results) = SIGNATURES[s];
        let caller_type = types.len();
        let caller_params: Vec<ValType> = [ValType::I32].iter().chain(params).copied().collect();
        types.ty().function(caller_params, results.iter().copied());
        let table = pick(table_sizes.len() as u64) as u32;
        for reduce in [false, true] {
            let index = callees + 2 * ty as u32 + reduce as u32;
            functions.function(caller_type);
            let mut f = Function::new([]);
            let mut body = f.instructions();
            for p in 0..params.len() {
                body.local_get(1 + p as u32);
            }
            body.local_get(0);
            if reduce {
                body.i32_const(table_sizes[table as usize] as i32 + 2)
                    .i32_rem_u();
            }
            body.call_indirect(table, ty as u32).end();
            code.function(&f);
            let name = format!("call{ty}{}", if reduce { "r" } else { "" });
            exports.export(&name, ExportKind::Func, index);
        }
    }

    let mut tables = TableSection::new();
    let mut elements = ElementSection::new();
    for (table, &size) in table_sizes.iter().enumerate() {
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: size,
            maximum: Some(size),
            shared: false,
        });
        for n in 0..1 + pick(3) {
            // Half the tables start with a segment that fills them; later ones may overlap.
            let (offset, length) = if n == 0 && pick(2) == 0 {
                (0, size)
            } else {
                let offset = pick(size);
                (offset, 1 + pick(size - offset))
            };
            let items: Vec<Option<u32>> = (0..length)
                .map(|_| (pick(8) != 0).then(|| pick(callees as u64) as u32))
                .collect();
            let segment = if items.iter().all(Option::is_some) {
                Elements::Functions(Cow::Owned(items.into_iter().flatten().collect()))
            } else {
                let exprs = items
                    .into_iter()
                    .map(|item| match item {
                        Some(f) => ConstExpr::ref_func(f),
                        None => ConstExpr::ref_null(HeapType::FUNC),
                    })
                    .collect();
                Elements::Expressions(RefType::FUNCREF, Cow::Owned(exprs))
            };
            let table = (table > 0).then_some(table as u32);
            elements.active(table, &ConstExpr::i32_const(offset as i32), segment);
        }
    }
    if export_table {
        exports.export("table", ExportKind::Table, 0);
    }
    let mut globals = GlobalSection::new();
    let last = GlobalType {
        val_type: ValType::I32,
        mutable: true,
        shared: false,
    };
    globals.global(last, &ConstExpr::i32_const(0));
    exports.export("last", ExportKind::Global, 0);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&tables)
        .section(&globals)
        .section(&exports)
        .section(&elements)
        .section(&code);
    module.finish()
}

/// Function `index` of signature `(params, results)`: sets `last` to `index + 1` and returns,
/// for result k, `16 * index + k`, plus its first argument where the types allow.
fn callee(index: u32, (params, results): (&[ValType], &[ValType])) -> Function {
    let mut f = Function::new([]);
    let mut body = f.instructions();
    body.i32_const(index as i32 + 1).global_set(0);
    for (k, result) in results.iter().enumerate() {
        let value = (16 * index + k as u32) as i32;
        match result {
            ValType::I32 => {
                body.i32_const(value);
                if params.first() == Some(&ValType::I32) {
                    body.local_get(0).i32_add();
                }
            }
            ValType::I64 => {
                body.i64_const(value.into());
            }
            ValType::F64 => {
                body.f64_const(f64::from(value).into());
                if params.first() == Some(&ValType::I64) {
                    body.local_get(0).f64_convert_i64_s().f64_add();
                }
            }
            other => unreachable!("no signature returns {other:?}"),
        }
    }
    body.end();
    f
}
