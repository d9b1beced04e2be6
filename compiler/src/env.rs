//! The environment: everything the operator translator needs to know about where the module's
//! state lives (memory, tables, globals, segments, functions) and how the runtime is reached
//! (trap, grow, stack limit). The translator never names a symbol or an offset itself.

use crate::module_info::{ConstExpr, FuncType, ImportKind, ModuleInfo, SegmentMode};
use crate::partition::Partition;
use crate::{CompileOptions, ImportLinkage};
use inkwell::AddressSpace;
use inkwell::GlobalVisibility;
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicType, BasicTypeEnum, FunctionType, StructType, VectorType};
use inkwell::values::{BasicValueEnum, FunctionValue, GlobalValue, PointerValue};
use mewz_abi::module::ValType;
use mewz_abi::symbols;
use std::cell::RefCell;

/// Where a memory, table or global lives: defined here (the global is the item) or imported
/// (the global is a slot holding the item's address, filled by the runtime).
#[derive(Clone, Copy)]
pub enum Location<'ctx> {
    Defined(GlobalValue<'ctx>),
    Imported(GlobalValue<'ctx>),
}

pub struct Segment<'ctx> {
    /// The segment's contents (bytes, or an array of references).
    pub contents: GlobalValue<'ctx>,
    /// Current length (elements or bytes); 0 once dropped, and for active/declared segments.
    pub length: GlobalValue<'ctx>,
    /// Static length.
    pub static_length: u32,
}

pub struct Env<'ctx, 'a> {
    pub ctx: &'ctx Context,
    pub partition: Partition,
    pub module: Module<'ctx>,
    pub info: &'a ModuleInfo<'a>,
    pub opts: &'a CompileOptions,
    /// LLVM function of every defined function (index = function index - imported count).
    pub defined: Vec<FunctionValue<'ctx>>,
    /// Imported functions with symbol linkage: their undefined symbol.
    pub import_symbols: Vec<Option<FunctionValue<'ctx>>>,
    /// `FuncRef` objects, created on first use (imported functions with slot linkage get theirs
    /// eagerly: its `code` field is the import slot).
    funcrefs: RefCell<Vec<Option<GlobalValue<'ctx>>>>,
    pub memory: Option<Location<'ctx>>,
    pub tables: Vec<Location<'ctx>>,
    pub globals: Vec<Location<'ctx>>,
    /// Slot global per import (None for function imports linked by symbol).
    pub import_slots: Vec<Option<GlobalValue<'ctx>>>,
    pub data_segments: Vec<Segment<'ctx>>,
    pub elem_segments: Vec<Segment<'ctx>>,
    pub trap_fn: FunctionValue<'ctx>,
    pub memory_grow_fn: FunctionValue<'ctx>,
    pub table_grow_fn: FunctionValue<'ctx>,
    pub stack_limit: GlobalValue<'ctx>,
    /// `{ ptr code, i64 type_id }`
    pub funcref_type: StructType<'ctx>,
    pub memory_descriptor_type: StructType<'ctx>,
    pub table_descriptor_type: StructType<'ctx>,
}

pub fn llvm_type<'ctx>(ctx: &'ctx Context, t: ValType) -> BasicTypeEnum<'ctx> {
    match t {
        ValType::I32 => ctx.i32_type().into(),
        ValType::I64 => ctx.i64_type().into(),
        ValType::F32 => ctx.f32_type().into(),
        ValType::F64 => ctx.f64_type().into(),
        ValType::V128 => v128_type(ctx).into(),
        ValType::FuncRef | ValType::ExternRef => ctx.ptr_type(AddressSpace::default()).into(),
    }
}

/// The one LLVM type of a `v128` value wherever it is stored or passed (operand stack, locals,
/// globals, calls): `<4 x i32>`. Each operator views it in its own lane shape through a
/// bitcast, which costs no instruction.
pub fn v128_type(ctx: &Context) -> VectorType<'_> {
    ctx.i32_type().vec_type(4)
}

/// Native signature of a wasm function type: C calling convention, one result returned
/// directly, several as a first-class struct.
pub fn function_type<'ctx>(ctx: &'ctx Context, ty: &FuncType) -> FunctionType<'ctx> {
    let params: Vec<_> = ty
        .params
        .iter()
        .map(|p| llvm_type(ctx, *p).into())
        .collect();
    match ty.results.len() {
        0 => ctx.void_type().fn_type(&params, false),
        1 => llvm_type(ctx, ty.results[0]).fn_type(&params, false),
        _ => results_struct(ctx, &ty.results).fn_type(&params, false),
    }
}

pub fn results_struct<'ctx>(ctx: &'ctx Context, results: &[ValType]) -> StructType<'ctx> {
    let fields: Vec<_> = results.iter().map(|r| llvm_type(ctx, *r)).collect();
    ctx.struct_type(&fields, false)
}

/// The LLVM name of function `index` (function index space).
const FUNCTION_SYMBOL_PREFIX: &str = "wasm_function_";

pub fn function_symbol(index: usize) -> String {
    format!("{FUNCTION_SYMBOL_PREFIX}{index}")
}

/// The wasm function index of a [`function_symbol`], None for any other symbol.
pub fn function_index(symbol: &str) -> Option<u32> {
    symbol.strip_prefix(FUNCTION_SYMBOL_PREFIX)?.parse().ok()
}

pub fn add_function_attribute<'ctx>(ctx: &'ctx Context, f: FunctionValue<'ctx>, name: &str) {
    let kind = Attribute::get_named_enum_kind_id(name);
    f.add_attribute(AttributeLoc::Function, ctx.create_enum_attribute(kind, 0));
}

impl<'ctx, 'a> Env<'ctx, 'a> {
    pub fn new(
        ctx: &'ctx Context,
        name: &str,
        info: &'a ModuleInfo<'a>,
        opts: &'a CompileOptions,
        partition: Partition,
    ) -> Env<'ctx, 'a> {
        let module = ctx.create_module(name);
        let ptr = ctx.ptr_type(AddressSpace::default());
        let i32t = ctx.i32_type();
        let i64t = ctx.i64_type();
        let funcref_type = ctx.struct_type(&[ptr.into(), i64t.into()], false);
        let memory_descriptor_type =
            ctx.struct_type(&[ptr.into(), i64t.into(), i64t.into(), i64t.into()], false);
        let table_descriptor_type = ctx.struct_type(&[ptr.into(), i32t.into(), i32t.into()], false);

        let trap_fn = module.add_function(
            symbols::TRAP,
            ctx.void_type().fn_type(&[i32t.into()], false),
            Some(Linkage::External),
        );
        for attr in ["noreturn", "nounwind", "cold"] {
            add_function_attribute(ctx, trap_fn, attr);
        }
        let memory_grow_fn = module.add_function(
            symbols::MEMORY_GROW,
            i32t.fn_type(&[ptr.into(), i32t.into()], false),
            Some(Linkage::External),
        );
        add_function_attribute(ctx, memory_grow_fn, "nounwind");
        let table_grow_fn = module.add_function(
            symbols::TABLE_GROW,
            i32t.fn_type(&[ptr.into(), i32t.into(), ptr.into()], false),
            Some(Linkage::External),
        );
        add_function_attribute(ctx, table_grow_fn, "nounwind");
        let stack_limit = module.add_global(i64t, None, symbols::STACK_LIMIT);
        stack_limit.set_linkage(Linkage::External);

        let mut env = Env {
            ctx,
            partition,
            module,
            info,
            opts,
            defined: Vec::new(),
            import_symbols: Vec::new(),
            funcrefs: RefCell::new(vec![None; info.functions.len()]),
            memory: None,
            tables: Vec::new(),
            globals: Vec::new(),
            import_slots: Vec::new(),
            data_segments: Vec::new(),
            elem_segments: Vec::new(),
            trap_fn,
            memory_grow_fn,
            table_grow_fn,
            stack_limit,
            funcref_type,
            memory_descriptor_type,
            table_descriptor_type,
        };
        env.declare_imports();
        env.declare_functions();
        env.define_memory();
        env.define_tables();
        env.define_globals();
        env.define_segments();
        env.define_referenced_funcrefs();
        env
    }

    /// Functions a `ref.func` may name (validation limits it to those referenced by element
    /// segments, exports and global initialisers) get their `FuncRef` up front, so every
    /// partition agrees on which exist.
    fn define_referenced_funcrefs(&self) {
        let info = self.info;
        let mut referenced: Vec<u32> = Vec::new();
        for elem in &info.elems {
            for item in &elem.items {
                if let ConstExpr::RefFunc(f) = item {
                    referenced.push(*f);
                }
            }
        }
        for global in &info.globals {
            if let Some(ConstExpr::RefFunc(f)) = global.init {
                referenced.push(f);
            }
        }
        for export in &info.exports {
            if let crate::module_info::ExportKindIndex::Func(f) = export.kind {
                referenced.push(f);
            }
        }
        for f in referenced {
            self.funcref(f);
        }
    }

    fn ptr_type(&self) -> inkwell::types::PointerType<'ctx> {
        self.ctx.ptr_type(AddressSpace::default())
    }

    /// A global holding module state. One partition: private. Several: partition 0 defines it
    /// as a hidden symbol; the others see it `available_externally` (same initialiser, so
    /// constants still fold, but no definition emitted).
    fn private_global(&self, ty: impl BasicType<'ctx>, name: &str) -> GlobalValue<'ctx> {
        let g = self.module.add_global(ty, None, name);
        self.share(g);
        g
    }

    fn share(&self, g: GlobalValue<'ctx>) {
        if self.partition.count == 1 {
            g.set_linkage(Linkage::Private);
        } else if self.partition.defines_state() {
            g.set_linkage(Linkage::External);
            g.set_visibility(GlobalVisibility::Hidden);
        } else {
            g.set_linkage(Linkage::AvailableExternally);
            g.set_visibility(GlobalVisibility::Hidden);
        }
    }

    fn declare_imports(&mut self) {
        let info = self.info;
        for (index, import) in info.imports.iter().enumerate() {
            let mut slot = None;
            match import.kind {
                ImportKind::Func(ty) => {
                    let ty = &info.types[ty as usize];
                    match self.opts.import_linkage {
                        ImportLinkage::Symbols => {
                            let name =
                                crate::import_symbol(import.module, import.field, ty.params.len());
                            let f = match self.module.get_function(&name) {
                                Some(f) => f,
                                None => {
                                    let f = self.module.add_function(
                                        &name,
                                        function_type(self.ctx, ty),
                                        Some(Linkage::External),
                                    );
                                    add_function_attribute(self.ctx, f, "nounwind");
                                    f
                                }
                            };
                            self.import_symbols.push(Some(f));
                        }
                        ImportLinkage::Slots => {
                            // The import's own FuncRef; its `code` field is the slot.
                            let g =
                                self.private_global(self.funcref_type, &format!("import{index}"));
                            g.set_initializer(&self.funcref_type.const_named_struct(&[
                                self.ptr_type().const_null().into(),
                                self.ctx.i64_type().const_int(ty.type_id(), false).into(),
                            ]));
                            let function = self.import_symbols.len();
                            self.funcrefs.borrow_mut()[function] = Some(g);
                            self.import_symbols.push(None);
                            slot = Some(g);
                        }
                    }
                }
                ImportKind::Memory | ImportKind::Table | ImportKind::Global => {
                    let g = self.private_global(self.ptr_type(), &format!("import{index}"));
                    g.set_initializer(&self.ptr_type().const_null());
                    slot = Some(g);
                    let location = Location::Imported(g);
                    match import.kind {
                        ImportKind::Memory => self.memory = Some(location),
                        ImportKind::Table => self.tables.push(location),
                        _ => self.globals.push(location),
                    }
                }
            }
            self.import_slots.push(slot);
        }
    }

    fn declare_functions(&mut self) {
        let info = self.info;
        for function in info.imported_functions..info.functions.len() {
            let ty = info.func_type(function as u32);
            let local = self.partition.is_local(function);
            let linkage = if local {
                Linkage::Internal
            } else {
                Linkage::External
            };
            let f = self.module.add_function(
                &function_symbol(function),
                function_type(self.ctx, ty),
                Some(linkage),
            );
            if !local {
                f.as_global_value().set_visibility(GlobalVisibility::Hidden);
            }
            add_function_attribute(self.ctx, f, "nounwind");
            // Frames above a page touch every page on the way down, so deep recursion always
            // lands in the runtime's stack guard instead of stepping over it.
            f.add_attribute(
                AttributeLoc::Function,
                self.ctx
                    .create_string_attribute("probe-stack", "inline-asm"),
            );
            self.defined.push(f);
        }
    }

    fn define_memory(&mut self) {
        let info = self.info;
        for memory in info.memories.iter().filter(|m| m.import.is_none()) {
            let g = self.private_global(self.memory_descriptor_type, "memory0");
            let i64t = self.ctx.i64_type();
            let maximum = memory.maximum.unwrap_or(mewz_abi::memory::MAX_WASM_PAGES);
            g.set_initializer(&self.memory_descriptor_type.const_named_struct(&[
                self.ptr_type().const_null().into(),
                i64t.const_zero().into(),
                i64t.const_int(memory.minimum, false).into(),
                i64t.const_int(maximum, false).into(),
            ]));
            g.set_alignment(8);
            self.memory = Some(Location::Defined(g));
        }
    }

    fn define_tables(&mut self) {
        let info = self.info;
        // Imported tables were pushed in import order, which precedes defined ones.
        for (index, table) in info.tables.iter().enumerate() {
            if table.import.is_some() {
                continue;
            }
            let storage_type = self.ptr_type().array_type(table.minimum);
            let storage = self.private_global(storage_type, &format!("table{index}.elements"));
            let frozen = info.frozen_tables[index].as_ref();
            match frozen {
                // Its final contents, which nothing can change (see `frozen_tables`).
                Some(items) => {
                    let items: Vec<_> = items.iter().map(|i| self.reference(i)).collect();
                    storage.set_initializer(&self.ptr_type().const_array(&items));
                    storage.set_constant(true);
                }
                None => storage.set_initializer(&storage_type.const_zero()),
            }
            storage.set_alignment(8);
            let g = self.private_global(self.table_descriptor_type, &format!("table{index}"));
            // Nothing grows a frozen table, so its descriptor is constant too.
            g.set_constant(frozen.is_some());
            let i32t = self.ctx.i32_type();
            g.set_initializer(
                &self.table_descriptor_type.const_named_struct(&[
                    storage.as_pointer_value().into(),
                    i32t.const_int(table.minimum as u64, false).into(),
                    i32t.const_int(table.maximum.unwrap_or(u32::MAX) as u64, false)
                        .into(),
                ]),
            );
            g.set_alignment(8);
            self.tables.push(Location::Defined(g));
        }
    }

    fn define_globals(&mut self) {
        let info = self.info;
        for (index, global) in info.globals.iter().enumerate() {
            let Some(init) = global.init else { continue };
            let is_ref = matches!(global.ty, ValType::FuncRef | ValType::ExternRef);
            let i64t = self.ctx.i64_type();
            let (ty, value): (BasicTypeEnum<'ctx>, BasicValueEnum<'ctx>) = if is_ref {
                let v = match init {
                    ConstExpr::RefFunc(f) => self.funcref(f).into(),
                    _ => self.ptr_type().const_null().into(),
                };
                (self.ptr_type().into(), v)
            } else if global.ty == ValType::V128 {
                // 16 bytes, 16-aligned (`mewz_abi::module::Export::address`).
                let bits = match init {
                    ConstExpr::V128(v) => v,
                    _ => 0,
                };
                let i128t = self.ctx.i128_type();
                let words = [bits as u64, (bits >> 64) as u64];
                (
                    i128t.into(),
                    i128t.const_int_arbitrary_precision(&words).into(),
                )
            } else {
                let bits = match init {
                    ConstExpr::I32(v) => v as u32 as u64,
                    ConstExpr::I64(v) => v as u64,
                    ConstExpr::F32(v) => v as u64,
                    ConstExpr::F64(v) => v,
                    _ => 0,
                };
                (i64t.into(), i64t.const_int(bits, false).into())
            };
            let g = self.private_global(ty, &format!("global{index}"));
            g.set_initializer(&value);
            g.set_alignment(if global.ty == ValType::V128 { 16 } else { 8 });
            let set_at_instantiation = matches!(init, ConstExpr::GlobalGet(_));
            if !global.mutable && !set_at_instantiation {
                g.set_constant(true);
            }
            self.globals.push(Location::Defined(g));
        }
    }

    fn define_segments(&mut self) {
        let info = self.info;
        let i32t = self.ctx.i32_type();
        for (index, data) in info.datas.iter().enumerate() {
            let bytes = self.ctx.const_string(data.bytes, false);
            let contents = self.private_global(bytes.get_type(), &format!("data{index}"));
            contents.set_initializer(&bytes);
            contents.set_constant(true);
            let length = self.private_global(i32t, &format!("data{index}.length"));
            let live = matches!(data.mode, SegmentMode::Passive);
            let n = data.bytes.len() as u64;
            length.set_initializer(&i32t.const_int(if live { n } else { 0 }, false));
            self.data_segments.push(Segment {
                contents,
                length,
                static_length: n as u32,
            });
        }
        for (index, elem) in info.elems.iter().enumerate() {
            let items: Vec<PointerValue<'ctx>> =
                elem.items.iter().map(|i| self.reference(i)).collect();
            let array = self.ptr_type().const_array(&items);
            let contents = self.private_global(array.get_type(), &format!("elem{index}"));
            contents.set_initializer(&array);
            contents.set_alignment(8);
            let needs_evaluation = elem
                .items
                .iter()
                .any(|i| matches!(i, ConstExpr::GlobalGet(_)));
            contents.set_constant(!needs_evaluation);
            let length = self.private_global(i32t, &format!("elem{index}.length"));
            let live = matches!(elem.mode, SegmentMode::Passive);
            let n = elem.items.len() as u64;
            length.set_initializer(&i32t.const_int(if live { n } else { 0 }, false));
            self.elem_segments.push(Segment {
                contents,
                length,
                static_length: n as u32,
            });
        }
    }

    /// A reference constant: `ref.func`'s `FuncRef`, else null (`global.get` items are
    /// stored at instantiation).
    fn reference(&self, item: &ConstExpr) -> PointerValue<'ctx> {
        match item {
            ConstExpr::RefFunc(f) => self.funcref(*f),
            _ => self.ptr_type().const_null(),
        }
    }

    /// The `FuncRef` of a function (what `ref.func` yields).
    pub fn funcref(&self, function: u32) -> PointerValue<'ctx> {
        if let Some(g) = self.funcrefs.borrow()[function as usize] {
            return g.as_pointer_value();
        }
        let ty = self.info.func_type(function);
        let code = if self.info.is_imported_function(function) {
            self.import_symbols[function as usize]
                .expect("slot-linked imports have their FuncRef from the start")
                .as_global_value()
                .as_pointer_value()
        } else {
            self.defined[function as usize - self.info.imported_functions]
                .as_global_value()
                .as_pointer_value()
        };
        let g = self.private_global(self.funcref_type, &format!("funcref{function}"));
        g.set_initializer(&self.funcref_type.const_named_struct(&[
            code.into(),
            self.ctx.i64_type().const_int(ty.type_id(), false).into(),
        ]));
        g.set_constant(true);
        g.set_alignment(8);
        self.funcrefs.borrow_mut()[function as usize] = Some(g);
        g.as_pointer_value()
    }

    fn resolve(
        &self,
        b: &Builder<'ctx>,
        location: Location<'ctx>,
    ) -> Result<PointerValue<'ctx>, inkwell::builder::BuilderError> {
        Ok(match location {
            Location::Defined(g) => g.as_pointer_value(),
            Location::Imported(slot) => b
                .build_load(self.ptr_type(), slot.as_pointer_value(), "imported")?
                .into_pointer_value(),
        })
    }

    /// Address of memory 0's `MemoryDescriptor`.
    pub fn memory_descriptor(
        &self,
        b: &Builder<'ctx>,
    ) -> Result<Option<PointerValue<'ctx>>, inkwell::builder::BuilderError> {
        match self.memory {
            Some(m) => Ok(Some(self.resolve(b, m)?)),
            None => Ok(None),
        }
    }

    /// Address of a table's `TableDescriptor`.
    pub fn table_descriptor(
        &self,
        b: &Builder<'ctx>,
        table: u32,
    ) -> Result<PointerValue<'ctx>, inkwell::builder::BuilderError> {
        self.resolve(b, self.tables[table as usize])
    }

    /// Address of a global's cell.
    pub fn global_cell(
        &self,
        b: &Builder<'ctx>,
        global: u32,
    ) -> Result<PointerValue<'ctx>, inkwell::builder::BuilderError> {
        self.resolve(b, self.globals[global as usize])
    }

    /// The code to call for a direct call: a known function, or (slot-linked imports) a code
    /// pointer loaded from the import's slot.
    pub fn callee(
        &self,
        b: &Builder<'ctx>,
        function: u32,
    ) -> Result<Callee<'ctx>, inkwell::builder::BuilderError> {
        let info = self.info;
        if !info.is_imported_function(function) {
            return Ok(Callee::Direct(
                self.defined[function as usize - info.imported_functions],
            ));
        }
        if let Some(f) = self.import_symbols[function as usize] {
            return Ok(Callee::Direct(f));
        }
        let slot = self.funcref(function);
        let code = b.build_load(self.ptr_type(), slot, "import.code")?;
        Ok(Callee::Indirect(
            function_type(self.ctx, info.func_type(function)),
            code.into_pointer_value(),
        ))
    }
}

pub enum Callee<'ctx> {
    Direct(FunctionValue<'ctx>),
    Indirect(FunctionType<'ctx>, PointerValue<'ctx>),
}
