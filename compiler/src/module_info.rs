//! A validated module, parsed into the plain data the code generator needs.

use crate::error::CompileError;
use mewz_abi::module::ValType;
use std::collections::HashMap;
use wasmparser::{
    DataKind, ElementItems, ElementKind, ExternalKind, FunctionBody, Operator, Parser, Payload,
    TypeRef, Validator, WasmFeatures,
};

/// Wasm 2.0, fixed-width SIMD included: everything the compiler translates. Relaxed SIMD (a
/// later proposal) stays out, so that wasmparser refuses it by name.
pub fn features() -> WasmFeatures {
    let mut f = WasmFeatures::WASM2;
    f.remove(WasmFeatures::RELAXED_SIMD);
    f
}

/// Validates `wasm` as a Wasm 2.0 module.
pub fn validate(wasm: &[u8]) -> Result<(), CompileError> {
    Validator::new_with_features(features()).validate_all(wasm)?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl FuncType {
    pub fn type_id(&self) -> u64 {
        mewz_abi::module::func_type_id(&self.params, &self.results)
    }
}

/// A constant expression as Wasm 2.0 allows them (one instruction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstExpr {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    /// A `v128.const`, its 16 bytes as a little-endian number (lane 0 lowest).
    V128(u128),
    RefNull,
    RefFunc(u32),
    GlobalGet(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Func(u32),
    Table,
    Memory,
    Global,
}

#[derive(Clone, Debug)]
pub struct ImportEntry<'a> {
    pub module: &'a str,
    pub field: &'a str,
    pub kind: ImportKind,
}

#[derive(Clone, Debug)]
pub struct TableInfo {
    pub element: ValType,
    pub minimum: u32,
    pub maximum: Option<u32>,
    /// Import index when imported.
    pub import: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct MemoryInfo {
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub import: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct GlobalInfo {
    pub ty: ValType,
    pub mutable: bool,
    /// `None` for imported globals.
    pub init: Option<ConstExpr>,
    pub import: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKindIndex {
    Func(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
}

#[derive(Clone, Debug)]
pub struct ExportEntry<'a> {
    pub name: &'a str,
    pub kind: ExportKindIndex,
}

#[derive(Clone, Debug)]
pub enum SegmentMode {
    Passive,
    Active { index: u32, offset: ConstExpr },
    Declared,
}

#[derive(Clone, Debug)]
pub struct ElemSegment {
    pub mode: SegmentMode,
    pub items: Vec<ConstExpr>,
}

#[derive(Clone, Debug)]
pub struct DataSegment<'a> {
    pub mode: SegmentMode,
    pub bytes: &'a [u8],
}

#[derive(Default)]
pub struct ModuleInfo<'a> {
    pub types: Vec<FuncType>,
    pub imports: Vec<ImportEntry<'a>>,
    /// Type index of every function, imported ones first.
    pub functions: Vec<u32>,
    pub imported_functions: usize,
    pub tables: Vec<TableInfo>,
    pub memories: Vec<MemoryInfo>,
    pub globals: Vec<GlobalInfo>,
    pub exports: Vec<ExportEntry<'a>>,
    pub start: Option<u32>,
    pub elems: Vec<ElemSegment>,
    pub datas: Vec<DataSegment<'a>>,
    pub bodies: Vec<FunctionBody<'a>>,
    /// Per table, its contents if they are fixed at compile time (see [`frozen_tables`]).
    pub frozen_tables: Vec<Option<Vec<ConstExpr>>>,
    /// Per table, whether a `call_indirect` through it can only reach functions defined here:
    /// frozen and holding no import.
    pub calls_stay_in_module: Vec<bool>,
    /// Per frozen table and function type, the elements holding a function of that type, as
    /// `(element, function)`: the only ones a `call_indirect` of that type can call without
    /// trapping (see [`indirect_targets`]).
    pub indirect_targets: Vec<HashMap<FuncType, Vec<(u32, u32)>>>,
}

impl<'a> ModuleInfo<'a> {
    pub fn func_type(&self, function: u32) -> &FuncType {
        &self.types[self.functions[function as usize] as usize]
    }

    pub fn is_imported_function(&self, function: u32) -> bool {
        (function as usize) < self.imported_functions
    }

    /// Parses an already validated module.
    pub fn parse(wasm: &'a [u8]) -> Result<ModuleInfo<'a>, CompileError> {
        let mut info = ModuleInfo::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        let ty = ty?;
                        info.types.push(FuncType {
                            params: convert_types(ty.params()),
                            results: convert_types(ty.results()),
                        });
                    }
                }
                Payload::ImportSection(reader) => {
                    let offset = reader.range().start as usize;
                    for import in reader.into_imports() {
                        let import = import?;
                        let index = info.imports.len();
                        let kind = match import.ty {
                            TypeRef::Func(ty) => {
                                info.functions.push(ty);
                                info.imported_functions += 1;
                                ImportKind::Func(ty)
                            }
                            TypeRef::Table(t) => {
                                info.tables.push(TableInfo {
                                    element: ref_type(t.element_type),
                                    minimum: t.initial as u32,
                                    maximum: t.maximum.map(|m| m as u32),
                                    import: Some(index),
                                });
                                ImportKind::Table
                            }
                            TypeRef::Memory(m) => {
                                info.memories.push(MemoryInfo {
                                    minimum: m.initial,
                                    maximum: m.maximum,
                                    import: Some(index),
                                });
                                ImportKind::Memory
                            }
                            TypeRef::Global(g) => {
                                info.globals.push(GlobalInfo {
                                    ty: convert_type(g.content_type),
                                    mutable: g.mutable,
                                    init: None,
                                    import: Some(index),
                                });
                                ImportKind::Global
                            }
                            _ => return Err(unsupported(offset, "this import kind")),
                        };
                        info.imports.push(ImportEntry {
                            module: import.module,
                            field: import.name,
                            kind,
                        });
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        info.functions.push(ty?);
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        let table = table?;
                        if !matches!(table.init, wasmparser::TableInit::RefNull) {
                            return Err(unsupported(0, "table initialiser expressions"));
                        }
                        info.tables.push(TableInfo {
                            element: ref_type(table.ty.element_type),
                            minimum: table.ty.initial as u32,
                            maximum: table.ty.maximum.map(|m| m as u32),
                            import: None,
                        });
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory?;
                        info.memories.push(MemoryInfo {
                            minimum: memory.initial,
                            maximum: memory.maximum,
                            import: None,
                        });
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        let global = global?;
                        info.globals.push(GlobalInfo {
                            ty: convert_type(global.ty.content_type),
                            mutable: global.ty.mutable,
                            init: Some(const_expr(&global.init_expr)?),
                            import: None,
                        });
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        let kind = match export.kind {
                            ExternalKind::Func | ExternalKind::FuncExact => {
                                ExportKindIndex::Func(export.index)
                            }
                            ExternalKind::Table => ExportKindIndex::Table(export.index),
                            ExternalKind::Memory => ExportKindIndex::Memory(export.index),
                            ExternalKind::Global => ExportKindIndex::Global(export.index),
                            ExternalKind::Tag => return Err(unsupported(0, "exceptions")),
                        };
                        info.exports.push(ExportEntry {
                            name: export.name,
                            kind,
                        });
                    }
                }
                Payload::StartSection { func, .. } => info.start = Some(func),
                Payload::ElementSection(reader) => {
                    for elem in reader {
                        let elem = elem?;
                        let mode = match elem.kind {
                            ElementKind::Passive => SegmentMode::Passive,
                            ElementKind::Declared => SegmentMode::Declared,
                            ElementKind::Active {
                                table_index,
                                offset_expr,
                            } => SegmentMode::Active {
                                index: table_index.unwrap_or(0),
                                offset: const_expr(&offset_expr)?,
                            },
                        };
                        let items = match elem.items {
                            ElementItems::Functions(functions) => {
                                let mut items = Vec::new();
                                for f in functions {
                                    items.push(ConstExpr::RefFunc(f?));
                                }
                                items
                            }
                            ElementItems::Expressions(ty, exprs) => {
                                let mut items = Vec::new();
                                for e in exprs {
                                    items.push(const_expr(&e?)?);
                                }
                                let _ = ty;
                                items
                            }
                        };
                        info.elems.push(ElemSegment { mode, items });
                    }
                }
                Payload::DataSection(reader) => {
                    for data in reader {
                        let data = data?;
                        let mode = match data.kind {
                            DataKind::Passive => SegmentMode::Passive,
                            DataKind::Active {
                                memory_index,
                                offset_expr,
                            } => SegmentMode::Active {
                                index: memory_index,
                                offset: const_expr(&offset_expr)?,
                            },
                        };
                        info.datas.push(DataSegment {
                            mode,
                            bytes: data.data,
                        });
                    }
                }
                Payload::CodeSectionEntry(body) => info.bodies.push(body),
                _ => {}
            }
        }
        info.frozen_tables = frozen_tables(&info)?;
        info.calls_stay_in_module = info
            .frozen_tables
            .iter()
            .map(|t| {
                t.as_ref().is_some_and(|items| {
                    items.iter().all(|i| match i {
                        ConstExpr::RefFunc(f) => !info.is_imported_function(*f),
                        _ => true,
                    })
                })
            })
            .collect();
        info.indirect_targets = indirect_targets(&info);
        Ok(info)
    }
}

/// Groups each frozen table's elements by the type of the function they hold. Null elements
/// are left out, and so are all elements of tables that are not frozen (their contents are
/// not known). Types compare structurally, as `call_indirect`'s check does in Wasm 2.0.
fn indirect_targets(info: &ModuleInfo<'_>) -> Vec<HashMap<FuncType, Vec<(u32, u32)>>> {
    info.frozen_tables
        .iter()
        .map(|items| {
            let mut by_type: HashMap<FuncType, Vec<(u32, u32)>> = HashMap::new();
            for (element, item) in items.iter().flatten().enumerate() {
                if let ConstExpr::RefFunc(f) = item {
                    by_type
                        .entry(info.func_type(*f).clone())
                        .or_default()
                        .push((element as u32, *f));
                }
            }
            by_type
        })
        .collect()
}

/// Most elements a frozen table may have (8 bytes each in the image).
pub const FROZEN_TABLE_LIMIT: u32 = 1 << 16;

/// The tables whose contents are known at compile time and never change, with those contents
/// (`RefFunc` or `RefNull` per element).
///
/// A table is frozen when it is defined here and not exported (no other module or host sees
/// it), no instruction writes it (`table.set`, `table.grow`, `table.fill`, `table.init`, or
/// the destination of `table.copy`), and every active segment into it has a constant offset
/// and constant items and fits in its initial size. Its contents after instantiation are then
/// the segments applied in order, and stay so: the code generator makes it a constant, so
/// LLVM folds a `call_indirect` through a constant index into a direct call and hoists the
/// lookup of a loop-invariant one out of loops. Tables larger than [`FROZEN_TABLE_LIMIT`]
/// stay variables: as constants they would be stored in the image.
fn frozen_tables(info: &ModuleInfo<'_>) -> Result<Vec<Option<Vec<ConstExpr>>>, CompileError> {
    let mut contents: Vec<Option<Vec<ConstExpr>>> = info
        .tables
        .iter()
        .map(|t| {
            (t.import.is_none() && t.minimum <= FROZEN_TABLE_LIMIT)
                .then(|| vec![ConstExpr::RefNull; t.minimum as usize])
        })
        .collect();
    for export in &info.exports {
        if let ExportKindIndex::Table(t) = export.kind {
            contents[t as usize] = None;
        }
    }
    for elem in &info.elems {
        let SegmentMode::Active { index, offset } = &elem.mode else {
            continue;
        };
        let Some(table) = contents[*index as usize].as_mut() else {
            continue;
        };
        let fits = match offset {
            ConstExpr::I32(o) => {
                let start = *o as u32 as usize;
                (start + elem.items.len() <= table.len()).then_some(start)
            }
            _ => None,
        };
        let constant = elem
            .items
            .iter()
            .all(|i| matches!(i, ConstExpr::RefFunc(_) | ConstExpr::RefNull));
        match fits {
            Some(start) if constant => {
                table[start..start + elem.items.len()].clone_from_slice(&elem.items);
            }
            _ => contents[*index as usize] = None,
        }
    }
    if contents.iter().all(Option::is_none) {
        return Ok(contents);
    }
    for body in &info.bodies {
        for op in body.get_operators_reader()? {
            let written = match op? {
                Operator::TableSet { table }
                | Operator::TableGrow { table }
                | Operator::TableFill { table }
                | Operator::TableInit { table, .. } => table,
                Operator::TableCopy { dst_table, .. } => dst_table,
                _ => continue,
            };
            contents[written as usize] = None;
        }
    }
    Ok(contents)
}

fn unsupported(offset: usize, feature: &str) -> CompileError {
    CompileError::Unsupported {
        offset,
        feature: feature.to_string(),
    }
}

fn ref_type(r: wasmparser::RefType) -> ValType {
    if r.is_func_ref() {
        ValType::FuncRef
    } else {
        ValType::ExternRef
    }
}

pub fn convert_type(t: wasmparser::ValType) -> ValType {
    match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(r) => ref_type(r),
    }
}

fn convert_types(ts: &[wasmparser::ValType]) -> Vec<ValType> {
    ts.iter().map(|t| convert_type(*t)).collect()
}

fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, CompileError> {
    let mut reader = expr.get_operators_reader();
    let offset = reader.original_position() as usize;
    let op = reader.read()?;
    Ok(match op {
        Operator::I32Const { value } => ConstExpr::I32(value),
        Operator::I64Const { value } => ConstExpr::I64(value),
        Operator::F32Const { value } => ConstExpr::F32(value.bits()),
        Operator::F64Const { value } => ConstExpr::F64(value.bits()),
        Operator::V128Const { value } => ConstExpr::V128(value.i128() as u128),
        Operator::RefNull { .. } => ConstExpr::RefNull,
        Operator::RefFunc { function_index } => ConstExpr::RefFunc(function_index),
        Operator::GlobalGet { global_index } => ConstExpr::GlobalGet(global_index),
        _ => return Err(unsupported(offset, "extended constant expressions")),
    })
}
