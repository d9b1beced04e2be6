//! The operator translator: turns one wasm function body into LLVM IR, one family of operators
//! per file. It reaches module state only through [`Env`].

mod address;
mod control;
mod dead_loads;
mod memory;
mod numeric;
mod simd;
mod table;
mod variable;
mod versioning;

use crate::env::{Env, llvm_type};
use crate::error::CompileError;
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::types::BasicTypeEnum;
use inkwell::values::{BasicValueEnum, FunctionValue, IntValue, PhiValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate};
use mewz_abi::TrapCode;
use mewz_abi::module::ValType;
use std::collections::HashMap;
use wasmparser::{FunctionBody, Operator};

pub(crate) use address::strip_base_copies;
pub(crate) use dead_loads::{keep_loads_whole, settle_loads, settle_loads_in_place};

pub type Result<T> = core::result::Result<T, CompileError>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Function,
    Block,
    Loop,
    If,
}

/// One entry of the control stack.
struct Frame<'ctx> {
    kind: FrameKind,
    results: Vec<ValType>,
    /// Block after `end`, and the phis receiving the results there.
    next: BasicBlock<'ctx>,
    end_phis: Vec<PhiValue<'ctx>>,
    /// Loops: the header and its parameter phis (the branch target).
    header: Option<(BasicBlock<'ctx>, Vec<PhiValue<'ctx>>)>,
    /// `if`: the else block and the parameter values it starts with, until `else` is seen.
    else_block: Option<(BasicBlock<'ctx>, Vec<BasicValueEnum<'ctx>>)>,
    /// Operand stack height below the frame's parameters.
    height: usize,
}

impl<'ctx> Frame<'ctx> {
    fn branch_target(&self) -> (BasicBlock<'ctx>, &[PhiValue<'ctx>]) {
        match &self.header {
            Some((header, phis)) => (*header, phis),
            None => (self.next, &self.end_phis),
        }
    }
}

pub struct FunctionTranslator<'e, 'ctx, 'a> {
    env: &'e Env<'ctx, 'a>,
    b: Builder<'ctx>,
    function: FunctionValue<'ctx>,
    locals: Vec<(PointerValue<'ctx>, BasicTypeEnum<'ctx>)>,
    stack: Vec<BasicValueEnum<'ctx>>,
    frames: Vec<Frame<'ctx>>,
    /// Code after `br`/`return`/`unreachable` up to the end of the frame is skipped; this counts
    /// the blocks opened inside the skipped code.
    unreachable: Option<u32>,
    memory_base: Option<PointerValue<'ctx>>,
    memory_descriptor: Option<PointerValue<'ctx>>,
    trap_blocks: HashMap<u32, BasicBlock<'ctx>>,
    addresses: address::AddressFacts<'ctx>,
    /// The locals each construct assigns, by the index of its first operator.
    assigned: HashMap<usize, Vec<u32>>,
    /// Index of the operator being translated.
    at: usize,
    /// Innermost loops to translate twice (see [`versioning`]): `loop` index -> `end` index.
    versionable: HashMap<usize, usize>,
    /// The loop being translated twice, and one about to be (its `end` and the state at
    /// its `loop`).
    versioned: Option<versioning::Versioned<'ctx>>,
    pending: Option<(usize, versioning::Snapshot<'ctx>)>,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    /// Translates the body of defined function `index` (function index space).
    pub fn translate(env: &'e Env<'ctx, 'a>, index: u32, body: &FunctionBody<'a>) -> Result<()> {
        let info = env.info;
        let function = env.defined[index as usize - info.imported_functions];
        let ty = info.func_type(index);
        let ctx = env.ctx;
        let mut reader = body.get_operators_reader()?;
        let mut operators = Vec::new();
        while !reader.eof() {
            let offset = reader.original_position() as usize;
            operators.push((reader.read()?, offset));
        }
        let huge =
            (body.range().end - body.range().start) as usize >= crate::codegen::HUGE_FUNCTION_BYTES;
        if huge {
            crate::env::add_function_attribute(ctx, function, "noimplicitfloat");
        }
        let b = ctx.create_builder();
        let entry = ctx.append_basic_block(function, "entry");
        b.position_at_end(entry);

        let mut t = FunctionTranslator {
            env,
            b,
            function,
            locals: Vec::new(),
            stack: Vec::new(),
            frames: Vec::new(),
            unreachable: None,
            memory_base: None,
            memory_descriptor: None,
            trap_blocks: HashMap::new(),
            addresses: address::AddressFacts::new(0, 0),
            assigned: address::assigned_locals(&operators),
            at: 0,
            // A huge function is compiled for speed of compilation (see `codegen`).
            versionable: if huge {
                HashMap::new()
            } else {
                versioning::versionable_loops(&operators, |blockty| match blockty {
                    wasmparser::BlockType::FuncType(i) => {
                        !info.types[*i as usize].params.is_empty()
                    }
                    _ => false,
                })
            },
            versioned: None,
            pending: None,
        };
        // Calls that can leave compiled code: to an import (directly or through a table) or
        // into the runtime.
        let leaves_wasm = operators.iter().any(|(op, _)| match op {
            Operator::Call { function_index } => info.is_imported_function(*function_index),
            Operator::CallIndirect { table_index, .. } => {
                !info.calls_stay_in_module[*table_index as usize]
            }
            Operator::MemoryGrow { .. } | Operator::TableGrow { .. } => true,
            _ => false,
        });
        // Every slot lives in the entry block, before any branch: only entry-block allocas are
        // part of the static frame (others are dynamic stack allocations) and only they are
        // promoted to SSA registers by SROA. The stack check below then measures the stack
        // pointer after the whole frame is reserved, before anything is written to it.
        let mut initial_values = Vec::new();
        for (i, param) in ty.params.iter().enumerate() {
            let llty = llvm_type(ctx, *param);
            let slot = t.b.build_alloca(llty, "param")?;
            let value = function
                .get_nth_param(i as u32)
                .ok_or_else(|| CompileError::Backend("parameter count mismatch".into()))?;
            initial_values.push(value);
            t.locals.push((slot, llty));
        }
        for local in body.get_locals_reader()? {
            let (count, local_ty) = local?;
            let llty = llvm_type(ctx, crate::module_info::convert_type(local_ty));
            for _ in 0..count {
                let slot = t.b.build_alloca(llty, "local")?;
                initial_values.push(zero(llty));
                t.locals.push((slot, llty));
            }
        }
        let maximum_pages = info
            .memories
            .first()
            .map_or(0, |m| m.maximum.unwrap_or(mewz_abi::memory::MAX_WASM_PAGES));
        t.addresses = address::AddressFacts::new(t.locals.len(), maximum_pages);
        // Wasm-to-wasm calls need no check: recursion ends in the runtime's guard below the
        // stack (frames are probed, see `Env`), which it reports as call stack exhausted. Only
        // code the runtime runs on this stack needs room, so only functions that call it check.
        if leaves_wasm {
            t.check_stack()?;
        }
        for (&(slot, _), value) in t.locals.iter().zip(initial_values) {
            t.b.build_store(slot, value)?;
        }
        if let Some(desc) = env.memory_descriptor(&t.b)? {
            let base = t.b.build_load(t.ptr_type(), desc, "memory.base")?;
            t.memory_base = Some(base.into_pointer_value());
            t.memory_descriptor = Some(desc);
        }

        let ret = ctx.append_basic_block(function, "return");
        let end_phis = t.phis_at(ret, &ty.results)?;
        t.frames.push(Frame {
            kind: FrameKind::Function,
            results: ty.results.clone(),
            next: ret,
            end_phis,
            header: None,
            else_block: None,
            height: 0,
        });

        let mut i = 0;
        while i < operators.len() {
            let (op, offset) = &operators[i];
            t.at = i;
            t.operator(op, *offset)?;
            i += 1;
            if matches!(op, Operator::End) {
                // The end of a loop's first copy may send us back for its second.
                if let Some(next) = t.version_loop_end()? {
                    i = next;
                }
            }
            if t.frames.is_empty() {
                break;
            }
        }
        Ok(())
    }

    fn operator(&mut self, op: &Operator<'a>, offset: usize) -> Result<()> {
        if let Some(depth) = self.unreachable {
            return self.skip_unreachable(op, depth);
        }
        if self.control(op)?
            || self.variable(op)?
            || self.memory(op)?
            || self.table(op)?
            || self.numeric(op)?
            || self.simd(op)?
        {
            return Ok(());
        }
        Err(CompileError::Unsupported {
            offset,
            feature: format!("operator {op:?}"),
        })
    }

    fn skip_unreachable(&mut self, op: &Operator<'a>, depth: u32) -> Result<()> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.unreachable = Some(depth + 1)
            }
            Operator::End if depth > 0 => self.unreachable = Some(depth - 1),
            Operator::Else if depth == 0 => {
                self.unreachable = None;
                self.else_()?;
            }
            Operator::End => {
                self.unreachable = None;
                self.end()?;
            }
            _ => {}
        }
        Ok(())
    }

    fn ptr_type(&self) -> inkwell::types::PointerType<'ctx> {
        self.env.ctx.ptr_type(AddressSpace::default())
    }

    fn push(&mut self, v: impl Into<BasicValueEnum<'ctx>>) {
        self.stack.push(v.into());
    }

    fn pop(&mut self) -> BasicValueEnum<'ctx> {
        self.stack
            .pop()
            .expect("validated wasm never underflows the operand stack")
    }

    fn pop_n(&mut self, n: usize) -> Vec<BasicValueEnum<'ctx>> {
        let at = self.stack.len() - n;
        self.stack.split_off(at)
    }

    fn pop_int(&mut self) -> IntValue<'ctx> {
        self.pop().into_int_value()
    }

    /// Creates phis for `types` at the start of (empty) block `bb`.
    fn phis_at(&self, bb: BasicBlock<'ctx>, types: &[ValType]) -> Result<Vec<PhiValue<'ctx>>> {
        let current = self.b.get_insert_block();
        self.b.position_at_end(bb);
        let mut phis = Vec::new();
        for t in types {
            phis.push(self.b.build_phi(llvm_type(self.env.ctx, *t), "")?);
        }
        if let Some(current) = current {
            self.b.position_at_end(current);
        }
        Ok(phis)
    }

    fn current_block(&self) -> BasicBlock<'ctx> {
        self.b
            .get_insert_block()
            .expect("builder is always positioned")
    }

    /// Branches to `code`'s trap block when `condition` holds, then continues in a new block.
    fn trap_if(&mut self, condition: IntValue<'ctx>, code: TrapCode) -> Result<()> {
        let trap = self.trap_block(code)?;
        let cont = self.env.ctx.append_basic_block(self.function, "ok");
        self.b.build_conditional_branch(condition, trap, cont)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    fn trap_block(&mut self, code: TrapCode) -> Result<BasicBlock<'ctx>> {
        if let Some(bb) = self.trap_blocks.get(&(code as u32)) {
            return Ok(*bb);
        }
        let current = self.current_block();
        let bb = self.env.ctx.append_basic_block(self.function, "trap");
        self.b.position_at_end(bb);
        self.call_trap(code)?;
        self.b.position_at_end(current);
        self.trap_blocks.insert(code as u32, bb);
        Ok(bb)
    }

    /// Calls the runtime's trap entry (never returns) and ends the block.
    fn call_trap(&mut self, code: TrapCode) -> Result<()> {
        let c = self.env.ctx.i32_type().const_int(code as u64, false);
        self.b.build_call(self.env.trap_fn, &[c.into()], "")?;
        self.b.build_unreachable()?;
        Ok(())
    }

    /// Prologue: trap with `CallStackExhausted` when the stack pointer is below the runtime's
    /// limit (one load, one compare, one unlikely branch).
    fn check_stack(&mut self) -> Result<()> {
        let ctx = self.env.ctx;
        let i64t = ctx.i64_type();
        let stacksave = inkwell::intrinsics::Intrinsic::find("llvm.stacksave")
            .and_then(|i| i.get_declaration(&self.env.module, &[self.ptr_type().into()]))
            .ok_or_else(|| CompileError::Backend("llvm.stacksave missing".into()))?;
        let sp = self.b.build_call(stacksave, &[], "sp")?;
        let sp = sp
            .try_as_basic_value()
            .basic()
            .ok_or_else(|| CompileError::Backend("stacksave returned nothing".into()))?
            .into_pointer_value();
        let sp = self.b.build_ptr_to_int(sp, i64t, "sp.int")?;
        let limit = self
            .b
            .build_load(i64t, self.env.stack_limit.as_pointer_value(), "stack.limit")?
            .into_int_value();
        let exhausted =
            self.b
                .build_int_compare(IntPredicate::ULT, sp, limit, "stack.exhausted")?;
        self.trap_if(exhausted, TrapCode::CallStackExhausted)
    }

    fn call_intrinsic(
        &self,
        name: &str,
        types: &[BasicTypeEnum<'ctx>],
        args: &[BasicValueEnum<'ctx>],
    ) -> Result<BasicValueEnum<'ctx>> {
        let f = inkwell::intrinsics::Intrinsic::find(name)
            .and_then(|i| i.get_declaration(&self.env.module, types))
            .ok_or_else(|| CompileError::Backend(format!("intrinsic {name} missing")))?;
        let args: Vec<_> = args.iter().map(|a| (*a).into()).collect();
        let call = self.b.build_call(f, &args, "")?;
        call.try_as_basic_value()
            .basic()
            .ok_or_else(|| CompileError::Backend(format!("intrinsic {name} returned nothing")))
    }
}

pub fn zero(t: BasicTypeEnum<'_>) -> BasicValueEnum<'_> {
    match t {
        BasicTypeEnum::IntType(t) => t.const_zero().into(),
        BasicTypeEnum::FloatType(t) => t.const_zero().into(),
        BasicTypeEnum::PointerType(t) => t.const_null().into(),
        BasicTypeEnum::StructType(t) => t.const_zero().into(),
        BasicTypeEnum::ArrayType(t) => t.const_zero().into(),
        BasicTypeEnum::VectorType(t) => t.const_zero().into(),
        BasicTypeEnum::ScalableVectorType(t) => t.const_zero().into(),
    }
}
