//! Module-level code and data the runtime uses: the instantiate function, array-call
//! trampolines, and the `__mewz_module` descriptor (layout: `mewz_abi::module`).

use crate::ImportLinkage;
use crate::env::{Callee, Env, add_function_attribute, function_type, llvm_type, v128_type};
use crate::error::CompileError;
use crate::module_info::{ConstExpr, ExportKindIndex, FuncType, ImportKind, SegmentMode};
use inkwell::builder::Builder;
use inkwell::module::Linkage;
use inkwell::types::{BasicType, StructType};
use inkwell::values::{BasicValueEnum, FunctionValue, GlobalValue, IntValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate};
use mewz_abi::TrapCode;
use mewz_abi::memory::memory_descriptor_offsets;
use mewz_abi::module::{
    ABI_VERSION, EXPORT_INDIRECT, ExportKind, ValType, array_call_slots, table_descriptor_offsets,
};
use mewz_abi::symbols;

type Result<T> = core::result::Result<T, CompileError>;

/// The LLVM mirrors of the `repr(C)` structs in `mewz_abi::module`, field for field.
pub struct AbiTypes<'ctx> {
    pub module: StructType<'ctx>,
    pub export: StructType<'ctx>,
    pub import: StructType<'ctx>,
    pub signature: StructType<'ctx>,
    pub exported_function: StructType<'ctx>,
}

impl<'ctx> AbiTypes<'ctx> {
    pub fn new(ctx: &'ctx inkwell::context::Context) -> Self {
        let ptr = ctx.ptr_type(AddressSpace::default());
        let (i8t, i32t, i64t) = (ctx.i8_type(), ctx.i32_type(), ctx.i64_type());
        let signature = ctx.struct_type(
            &[
                i64t.into(),
                ptr.into(),
                ptr.into(),
                i32t.into(),
                i32t.into(),
            ],
            false,
        );
        AbiTypes {
            module: ctx.struct_type(
                &[
                    i32t.into(),
                    i32t.into(),
                    ptr.into(),
                    ptr.into(),
                    ptr.into(),
                    i32t.into(),
                    i32t.into(),
                    ptr.into(),
                ],
                false,
            ),
            export: ctx.struct_type(
                &[
                    ptr.into(),
                    i32t.into(),
                    i32t.into(),
                    ptr.into(),
                    ptr.into(),
                    i8t.into(),
                    i8t.into(),
                    i32t.into(),
                ],
                false,
            ),
            import: ctx.struct_type(
                &[
                    ptr.into(),
                    i32t.into(),
                    i32t.into(),
                    ptr.into(),
                    i32t.into(),
                    signature.into(),
                    ptr.into(),
                    i8t.into(),
                    i8t.into(),
                    i8t.into(),
                    i64t.into(),
                    i64t.into(),
                ],
                false,
            ),
            signature,
            exported_function: ctx.struct_type(&[signature.into(), ptr.into(), ptr.into()], false),
        }
    }
}

fn set_alignment(v: BasicValueEnum<'_>, bytes: u32) -> Result<()> {
    inkwell::values::BasicValue::as_instruction_value(&v)
        .ok_or_else(|| CompileError::Backend("load is not an instruction".into()))?
        .set_alignment(bytes)
        .map_err(|e| CompileError::Backend(e.to_string()))
}

struct Emitter<'e, 'ctx, 'a> {
    env: &'e Env<'ctx, 'a>,
    types: AbiTypes<'ctx>,
    counter: std::cell::Cell<u32>,
}

pub fn emit(env: &Env<'_, '_>) -> Result<()> {
    let e = Emitter {
        env,
        types: AbiTypes::new(env.ctx),
        counter: std::cell::Cell::new(0),
    };
    let instantiate = e.instantiate()?;
    let exports = e.exports()?;
    let imports = e.imports()?;
    let ctx = env.ctx;
    let (i32t, ptr) = (ctx.i32_type(), ctx.ptr_type(AddressSpace::default()));
    let memory = match env.memory {
        Some(crate::env::Location::Defined(g)) => g.as_pointer_value(),
        _ => ptr.const_null(),
    };
    let descriptor = env
        .module
        .add_global(e.types.module, None, symbols::MODULE_DESCRIPTOR);
    descriptor.set_initializer(&e.types.module.const_named_struct(&[
        i32t.const_int(ABI_VERSION as u64, false).into(),
        i32t.const_int(env.info.exports.len() as u64, false).into(),
        memory.into(),
        instantiate.as_global_value().as_pointer_value().into(),
        exports.into(),
        i32t.const_int(env.info.imports.len() as u64, false).into(),
        i32t.const_zero().into(),
        imports.into(),
    ]));
    descriptor.set_linkage(Linkage::External);
    descriptor.set_section(Some(symbols::MODULE_SECTION));
    descriptor.set_alignment(8);
    // Keep it through --gc-sections (llvm.used also sets SHF_GNU_RETAIN on its section).
    let used_type = ptr.array_type(1);
    let used = env.module.add_global(used_type, None, "llvm.used");
    used.set_linkage(Linkage::Appending);
    used.set_section(Some("llvm.metadata"));
    used.set_initializer(&ptr.const_array(&[descriptor.as_pointer_value()]));
    Ok(())
}

impl<'e, 'ctx, 'a> Emitter<'e, 'ctx, 'a> {
    fn ptr(&self) -> inkwell::types::PointerType<'ctx> {
        self.env.ctx.ptr_type(AddressSpace::default())
    }

    fn private_constant(
        &self,
        value: &dyn inkwell::values::BasicValue<'ctx>,
        ty: impl BasicType<'ctx>,
    ) -> GlobalValue<'ctx> {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let g = self.env.module.add_global(ty, None, &format!("mewz.{n}"));
        g.set_linkage(Linkage::Private);
        g.set_initializer(value);
        g.set_constant(true);
        g
    }

    fn bytes(&self, bytes: &[u8]) -> PointerValue<'ctx> {
        let v = self.env.ctx.const_string(bytes, false);
        self.private_constant(&v, v.get_type()).as_pointer_value()
    }

    fn internal_function(
        &self,
        name: &str,
        ty: inkwell::types::FunctionType<'ctx>,
    ) -> FunctionValue<'ctx> {
        let f = self
            .env
            .module
            .add_function(name, ty, Some(Linkage::Internal));
        add_function_attribute(self.env.ctx, f, "nounwind");
        f
    }

    fn trap_unless(
        &self,
        b: &Builder<'ctx>,
        f: FunctionValue<'ctx>,
        ok: IntValue<'ctx>,
        code: TrapCode,
    ) -> Result<()> {
        let ctx = self.env.ctx;
        let trap = ctx.append_basic_block(f, "trap");
        let cont = ctx.append_basic_block(f, "ok");
        b.build_conditional_branch(ok, cont, trap)?;
        b.position_at_end(trap);
        b.build_call(
            self.env.trap_fn,
            &[ctx.i32_type().const_int(code as u64, false).into()],
            "",
        )?;
        b.build_unreachable()?;
        b.position_at_end(cont);
        Ok(())
    }

    fn eval_offset(&self, b: &Builder<'ctx>, expr: ConstExpr) -> Result<IntValue<'ctx>> {
        let i32t = self.env.ctx.i32_type();
        Ok(match expr {
            ConstExpr::I32(v) => i32t.const_int(v as u32 as u64, false),
            ConstExpr::GlobalGet(g) => {
                let cell = self.env.global_cell(b, g)?;
                b.build_load(i32t, cell, "")?.into_int_value()
            }
            _ => return Err(CompileError::Backend("segment offset is not i32".into())),
        })
    }

    fn gep(
        &self,
        b: &Builder<'ctx>,
        ty: impl BasicType<'ctx>,
        p: PointerValue<'ctx>,
        i: IntValue<'ctx>,
    ) -> Result<PointerValue<'ctx>> {
        // SAFETY: plain GEP arithmetic in IR, no Rust memory involved.
        Ok(unsafe { b.build_gep(ty, p, &[i], "")? })
    }

    /// `instantiate`: global initialisers reading imports, active element segments, active
    /// data segments, start function (the spec's order).
    fn instantiate(&self) -> Result<FunctionValue<'ctx>> {
        let env = self.env;
        let info = env.info;
        let ctx = env.ctx;
        let (i8t, i32t, i64t) = (ctx.i8_type(), ctx.i32_type(), ctx.i64_type());
        let f = self.internal_function("mewz_instantiate", ctx.void_type().fn_type(&[], false));
        let b = ctx.create_builder();
        b.position_at_end(ctx.append_basic_block(f, "entry"));

        for (index, global) in info.globals.iter().enumerate() {
            if let Some(ConstExpr::GlobalGet(source)) = global.init {
                let ty = llvm_type(ctx, global.ty);
                let v = b.build_load(ty, env.global_cell(&b, source)?, "")?;
                b.build_store(env.global_cell(&b, index as u32)?, v)?;
            }
        }
        for (segment, elem) in env.elem_segments.iter().zip(&info.elems) {
            for (k, item) in elem.items.iter().enumerate() {
                if let ConstExpr::GlobalGet(source) = item {
                    let v = b.build_load(self.ptr(), env.global_cell(&b, *source)?, "")?;
                    let slot = self.gep(
                        &b,
                        self.ptr(),
                        segment.contents.as_pointer_value(),
                        i64t.const_int(k as u64, false),
                    )?;
                    b.build_store(slot, v)?;
                }
            }
        }
        for (segment, elem) in env.elem_segments.iter().zip(&info.elems) {
            let SegmentMode::Active { index, offset } = elem.mode else {
                continue;
            };
            if info.frozen_tables[index as usize].is_some() {
                // Already in the table's constant contents.
                continue;
            }
            let offset = self.eval_offset(&b, offset)?;
            let offset = b.build_int_z_extend(offset, i64t, "")?;
            let desc = env.table_descriptor(&b, index)?;
            let size_ptr = self.gep(
                &b,
                i8t,
                desc,
                i64t.const_int(table_descriptor_offsets::CURRENT_ELEMENTS as u64, false),
            )?;
            let size = b.build_load(i32t, size_ptr, "")?.into_int_value();
            let size = b.build_int_z_extend(size, i64t, "")?;
            let n = i64t.const_int(segment.static_length as u64, false);
            let end = b.build_int_add(offset, n, "")?;
            let ok = b.build_int_compare(IntPredicate::ULE, end, size, "")?;
            self.trap_unless(&b, f, ok, TrapCode::OutOfBoundsTableAccess)?;
            if segment.static_length > 0 {
                let elements = b.build_load(self.ptr(), desc, "")?.into_pointer_value();
                let d = self.gep(&b, self.ptr(), elements, offset)?;
                let bytes = i64t.const_int(segment.static_length as u64 * 8, false);
                b.build_memcpy(d, 8, segment.contents.as_pointer_value(), 8, bytes)?;
            }
        }
        let constant_offsets = info.datas.iter().all(|d| match d.mode {
            SegmentMode::Active { offset, .. } => matches!(offset, ConstExpr::I32(_)),
            _ => true,
        });
        if constant_offsets {
            self.copy_data_segments_by_table(&b, f)?;
        }
        for (segment, data) in env.data_segments.iter().zip(&info.datas) {
            if constant_offsets {
                break;
            }
            let SegmentMode::Active { offset, .. } = data.mode else {
                continue;
            };
            let offset = self.eval_offset(&b, offset)?;
            let offset = b.build_int_z_extend(offset, i64t, "")?;
            let desc = env
                .memory_descriptor(&b)?
                .ok_or_else(|| CompileError::Backend("data segment without memory".into()))?;
            let bytes_ptr = self.gep(
                &b,
                i8t,
                desc,
                i64t.const_int(memory_descriptor_offsets::CURRENT_BYTES as u64, false),
            )?;
            let size = b.build_load(i64t, bytes_ptr, "")?.into_int_value();
            let n = i64t.const_int(segment.static_length as u64, false);
            let end = b.build_int_add(offset, n, "")?;
            let ok = b.build_int_compare(IntPredicate::ULE, end, size, "")?;
            self.trap_unless(&b, f, ok, TrapCode::OutOfBoundsMemoryAccess)?;
            if segment.static_length > 0 {
                let base = b.build_load(self.ptr(), desc, "")?.into_pointer_value();
                let d = self.gep(&b, i8t, base, offset)?;
                b.build_memcpy(d, 1, segment.contents.as_pointer_value(), 1, n)?;
            }
        }
        if let Some(start) = info.start {
            match env.callee(&b, start)? {
                Callee::Direct(s) => b.build_call(s, &[], "")?,
                Callee::Indirect(ty, code) => b.build_indirect_call(ty, code, &[], "")?,
            };
        }
        b.build_return(None)?;
        Ok(f)
    }

    /// Active data segments with constant offsets (the usual case; Go emits tens of
    /// thousands) are copied by one loop over a table of `{ offset: i64, length: i64,
    /// bytes: ptr }` records, in order, trapping at the first one out of bounds: unrolled
    /// code for each would make `instantiate` enormous and slow to compile.
    fn copy_data_segments_by_table(&self, b: &Builder<'ctx>, f: FunctionValue<'ctx>) -> Result<()> {
        let env = self.env;
        let ctx = env.ctx;
        let (i8t, i64t) = (ctx.i8_type(), ctx.i64_type());
        let record = ctx.struct_type(&[i64t.into(), i64t.into(), self.ptr().into()], false);
        let mut records = Vec::new();
        for (segment, data) in env.data_segments.iter().zip(&env.info.datas) {
            if let SegmentMode::Active {
                offset: ConstExpr::I32(offset),
                ..
            } = data.mode
            {
                records.push(record.const_named_struct(&[
                    i64t.const_int(offset as u32 as u64, false).into(),
                    i64t.const_int(segment.static_length as u64, false).into(),
                    segment.contents.as_pointer_value().into(),
                ]));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        let count = records.len() as u64;
        let array = record.const_array(&records);
        let table = self
            .private_constant(&array, array.get_type())
            .as_pointer_value();
        let desc = env
            .memory_descriptor(b)?
            .ok_or_else(|| CompileError::Backend("data segment without memory".into()))?;
        let before = b.get_insert_block().expect("positioned");
        let header = ctx.append_basic_block(f, "data");
        let done = ctx.append_basic_block(f, "data.done");
        b.build_unconditional_branch(header)?;
        b.position_at_end(header);
        let k = b.build_phi(i64t, "k")?;
        k.add_incoming(&[(&i64t.const_zero(), before)]);
        let kv = k.as_basic_value().into_int_value();
        // SAFETY: GEPs into the record table built above (k < count).
        let entry = unsafe { b.build_gep(record, table, &[kv], "")? };
        let offset = b.build_load(i64t, entry, "offset")?.into_int_value();
        let length_ptr = self.gep(b, i8t, entry, i64t.const_int(8, false))?;
        let length = b.build_load(i64t, length_ptr, "length")?.into_int_value();
        let bytes_ptr = self.gep(b, i8t, entry, i64t.const_int(16, false))?;
        let bytes = b
            .build_load(self.ptr(), bytes_ptr, "bytes")?
            .into_pointer_value();
        let size_ptr = self.gep(
            b,
            i8t,
            desc,
            i64t.const_int(memory_descriptor_offsets::CURRENT_BYTES as u64, false),
        )?;
        let size = b.build_load(i64t, size_ptr, "")?.into_int_value();
        let end = b.build_int_add(offset, length, "")?;
        let ok = b.build_int_compare(IntPredicate::ULE, end, size, "")?;
        self.trap_unless(b, f, ok, TrapCode::OutOfBoundsMemoryAccess)?;
        let base = b.build_load(self.ptr(), desc, "")?.into_pointer_value();
        let d = self.gep(b, i8t, base, offset)?;
        b.build_memcpy(d, 1, bytes, 1, length)?;
        let next = b.build_int_add(kv, i64t.const_int(1, false), "")?;
        let latch = b.get_insert_block().expect("positioned");
        k.add_incoming(&[(&next, latch)]);
        let more =
            b.build_int_compare(IntPredicate::ULT, next, i64t.const_int(count, false), "")?;
        b.build_conditional_branch(more, header, done)?;
        b.position_at_end(done);
        Ok(())
    }

    /// Native code address of a function: defined functions and symbol-linked imports
    /// directly; slot-linked imports through a small wrapper that calls via the slot.
    fn native_entry(&self, function: u32) -> Result<PointerValue<'ctx>> {
        let env = self.env;
        let info = env.info;
        let b = env.ctx.create_builder();
        if !info.is_imported_function(function) || env.opts.import_linkage == ImportLinkage::Symbols
        {
            // callee() only builds instructions for slot-linked imports.
            let Callee::Direct(f) = env.callee(&b, function)? else {
                unreachable!("direct callee")
            };
            return Ok(f.as_global_value().as_pointer_value());
        }
        let ty = info.func_type(function);
        let wrapper =
            self.internal_function(&format!("reexport_{function}"), function_type(env.ctx, ty));
        b.position_at_end(env.ctx.append_basic_block(wrapper, "entry"));
        let args: Vec<_> = wrapper.get_param_iter().map(Into::into).collect();
        let Callee::Indirect(fty, code) = env.callee(&b, function)? else {
            unreachable!("slot-linked import")
        };
        let call = b.build_indirect_call(fty, code, &args, "")?;
        match call.try_as_basic_value().basic() {
            Some(v) => b.build_return(Some(&v))?,
            None => b.build_return(None)?,
        };
        Ok(wrapper.as_global_value().as_pointer_value())
    }

    /// `extern "C" fn(args: *const u64, results: *mut u64)` calling `function` (slots:
    /// `mewz_abi::module::ArrayCall`).
    fn trampoline(&self, function: u32) -> Result<FunctionValue<'ctx>> {
        let env = self.env;
        let ctx = env.ctx;
        let ty = env.info.func_type(function).clone();
        let ptr = self.ptr();
        let i64t = ctx.i64_type();
        let i32t = ctx.i32_type();
        let f = self.internal_function(
            &format!("array_call_{function}"),
            ctx.void_type().fn_type(&[ptr.into(), ptr.into()], false),
        );
        let b = ctx.create_builder();
        b.position_at_end(ctx.append_basic_block(f, "entry"));
        let args_ptr = f.get_nth_param(0).expect("param").into_pointer_value();
        let results_ptr = f.get_nth_param(1).expect("param").into_pointer_value();
        let mut args = Vec::new();
        let mut next_slot = 0u64;
        for t in &ty.params {
            let slot = self.gep(&b, i64t, args_ptr, i64t.const_int(next_slot, false))?;
            next_slot += array_call_slots(*t) as u64;
            if *t == ValType::V128 {
                // Two slots, read as one 16-byte value (8-aligned).
                let v = b.build_load(v128_type(ctx), slot, "")?;
                set_alignment(v, 8)?;
                args.push(v.into());
                continue;
            }
            let raw = b.build_load(i64t, slot, "")?.into_int_value();
            let v: BasicValueEnum<'ctx> = match t {
                ValType::I32 => b.build_int_truncate(raw, i32t, "")?.into(),
                ValType::I64 => raw.into(),
                ValType::F32 => {
                    let bits = b.build_int_truncate(raw, i32t, "")?;
                    b.build_bit_cast(bits, ctx.f32_type(), "")?
                }
                ValType::F64 => b.build_bit_cast(raw, ctx.f64_type(), "")?,
                ValType::FuncRef | ValType::ExternRef => b.build_int_to_ptr(raw, ptr, "")?.into(),
                ValType::V128 => unreachable!("read above"),
            };
            args.push(v.into());
        }
        let call = match env.callee(&b, function)? {
            Callee::Direct(callee) => b.build_call(callee, &args, "")?,
            Callee::Indirect(fty, code) => b.build_indirect_call(fty, code, &args, "")?,
        };
        let mut results = Vec::new();
        if let Some(v) = call.try_as_basic_value().basic() {
            if ty.results.len() == 1 {
                results.push(v);
            } else {
                for i in 0..ty.results.len() {
                    results.push(b.build_extract_value(v.into_struct_value(), i as u32, "")?);
                }
            }
        }
        let mut next_slot = 0u64;
        for (v, t) in results.iter().zip(&ty.results) {
            let slot = self.gep(&b, i64t, results_ptr, i64t.const_int(next_slot, false))?;
            next_slot += array_call_slots(*t) as u64;
            if *t == ValType::V128 {
                let store = b.build_store(slot, *v)?;
                store
                    .set_alignment(8)
                    .map_err(|e| CompileError::Backend(e.to_string()))?;
                continue;
            }
            let raw: IntValue<'ctx> = match t {
                ValType::I32 => b.build_int_z_extend(v.into_int_value(), i64t, "")?,
                ValType::I64 => v.into_int_value(),
                ValType::F32 => {
                    let bits = b.build_bit_cast(*v, i32t, "")?.into_int_value();
                    b.build_int_z_extend(bits, i64t, "")?
                }
                ValType::F64 => b.build_bit_cast(*v, i64t, "")?.into_int_value(),
                ValType::FuncRef | ValType::ExternRef => {
                    b.build_ptr_to_int(v.into_pointer_value(), i64t, "")?
                }
                ValType::V128 => unreachable!("stored above"),
            };
            b.build_store(slot, raw)?;
        }
        b.build_return(None)?;
        Ok(f)
    }

    fn val_types(&self, types: &[ValType]) -> PointerValue<'ctx> {
        let bytes: Vec<u8> = types.iter().map(|t| *t as u8).collect();
        self.bytes(&bytes)
    }

    fn signature(&self, ty: Option<&FuncType>) -> BasicValueEnum<'ctx> {
        let ctx = self.env.ctx;
        let (i32t, i64t) = (ctx.i32_type(), ctx.i64_type());
        match ty {
            Some(ty) => self
                .types
                .signature
                .const_named_struct(&[
                    i64t.const_int(ty.type_id(), false).into(),
                    self.val_types(&ty.params).into(),
                    self.val_types(&ty.results).into(),
                    i32t.const_int(ty.params.len() as u64, false).into(),
                    i32t.const_int(ty.results.len() as u64, false).into(),
                ])
                .into(),
            None => self.types.signature.const_zero().into(),
        }
    }

    fn exports(&self) -> Result<PointerValue<'ctx>> {
        let env = self.env;
        let info = env.info;
        let ctx = env.ctx;
        let (i8t, i32t) = (ctx.i8_type(), ctx.i32_type());
        let mut entries = Vec::new();
        for export in &info.exports {
            let mut function = self.ptr().const_null();
            let mut global = (0u64, 0u64);
            let mut flags = 0u64;
            let (kind, address) = match export.kind {
                ExportKindIndex::Func(f) => {
                    let ty = info.func_type(f);
                    let trampoline = self.trampoline(f)?;
                    let record = self.types.exported_function.const_named_struct(&[
                        self.signature(Some(ty)),
                        trampoline.as_global_value().as_pointer_value().into(),
                        env.funcref(f).into(),
                    ]);
                    function = self
                        .private_constant(&record, self.types.exported_function)
                        .as_pointer_value();
                    (ExportKind::Function, self.native_entry(f)?)
                }
                ExportKindIndex::Table(t) => (
                    ExportKind::Table,
                    self.location(env.tables[t as usize], &mut flags),
                ),
                ExportKindIndex::Memory(_) => (
                    ExportKind::Memory,
                    self.location(env.memory.expect("validated memory export"), &mut flags),
                ),
                ExportKindIndex::Global(g) => {
                    let info = &info.globals[g as usize];
                    global = (info.ty as u8 as u64, info.mutable as u64);
                    (
                        ExportKind::Global,
                        self.location(env.globals[g as usize], &mut flags),
                    )
                }
            };
            entries.push(self.types.export.const_named_struct(&[
                self.bytes(export.name.as_bytes()).into(),
                i32t.const_int(export.name.len() as u64, false).into(),
                i32t.const_int(kind as u64, false).into(),
                address.into(),
                function.into(),
                i8t.const_int(global.0, false).into(),
                i8t.const_int(global.1, false).into(),
                i32t.const_int(flags, false).into(),
            ]));
        }
        let array = self.types.export.const_array(&entries);
        Ok(self
            .private_constant(&array, array.get_type())
            .as_pointer_value())
    }

    fn location(
        &self,
        location: crate::env::Location<'ctx>,
        flags: &mut u64,
    ) -> PointerValue<'ctx> {
        match location {
            crate::env::Location::Defined(g) => g.as_pointer_value(),
            crate::env::Location::Imported(slot) => {
                *flags |= EXPORT_INDIRECT as u64;
                slot.as_pointer_value()
            }
        }
    }

    fn imports(&self) -> Result<PointerValue<'ctx>> {
        let env = self.env;
        let info = env.info;
        let ctx = env.ctx;
        let (i8t, i32t, i64t) = (ctx.i8_type(), ctx.i32_type(), ctx.i64_type());
        let mut entries = Vec::new();
        let (mut tables, mut memories, mut globals) = (0usize, 0usize, 0usize);
        for (index, import) in info.imports.iter().enumerate() {
            let slot = match env.import_slots[index] {
                Some(g) => g.as_pointer_value(),
                None => self.ptr().const_null(),
            };
            let mut signature = self.signature(None);
            let mut global = (0u64, 0u64);
            let mut table_element = 0u64;
            let (mut minimum, mut maximum) = (0u64, u64::MAX);
            let kind = match import.kind {
                ImportKind::Func(ty) => {
                    signature = self.signature(Some(&info.types[ty as usize]));
                    ExportKind::Function
                }
                ImportKind::Table => {
                    let t = info
                        .tables
                        .iter()
                        .filter(|t| t.import.is_some())
                        .nth(tables)
                        .expect("imported table");
                    tables += 1;
                    table_element = t.element as u8 as u64;
                    minimum = t.minimum as u64;
                    maximum = t.maximum.map_or(u64::MAX, |m| m as u64);
                    ExportKind::Table
                }
                ImportKind::Memory => {
                    let m = info
                        .memories
                        .iter()
                        .filter(|m| m.import.is_some())
                        .nth(memories)
                        .expect("imported memory");
                    memories += 1;
                    minimum = m.minimum;
                    maximum = m.maximum.unwrap_or(u64::MAX);
                    ExportKind::Memory
                }
                ImportKind::Global => {
                    let g = info
                        .globals
                        .iter()
                        .filter(|g| g.import.is_some())
                        .nth(globals)
                        .expect("imported global");
                    globals += 1;
                    global = (g.ty as u8 as u64, g.mutable as u64);
                    ExportKind::Global
                }
            };
            entries.push(self.types.import.const_named_struct(&[
                self.bytes(import.module.as_bytes()).into(),
                i32t.const_int(import.module.len() as u64, false).into(),
                i32t.const_int(kind as u64, false).into(),
                self.bytes(import.field.as_bytes()).into(),
                i32t.const_int(import.field.len() as u64, false).into(),
                signature,
                slot.into(),
                i8t.const_int(global.0, false).into(),
                i8t.const_int(global.1, false).into(),
                i8t.const_int(table_element, false).into(),
                i64t.const_int(minimum, false).into(),
                i64t.const_int(maximum, false).into(),
            ]));
        }
        let array = self.types.import.const_array(&entries);
        Ok(self
            .private_constant(&array, array.get_type())
            .as_pointer_value())
    }
}
