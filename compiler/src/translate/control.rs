//! Control flow: blocks, branches, calls, `select`, `drop`, `unreachable`.

use super::address::ScopeKind;
use super::{Frame, FrameKind, FunctionTranslator, Result};
use crate::env::{Callee, function_type};
use crate::module_info::FuncType;
use inkwell::IntPredicate;
use inkwell::types::BasicType;
use inkwell::values::{BasicMetadataValueEnum, BasicValue, BasicValueEnum, CallSiteValue};
use mewz_abi::TrapCode;
use mewz_abi::module::{ValType, funcref_offsets, table_descriptor_offsets};
use wasmparser::{BlockType, Operator};

/// Most functions a `call_indirect` is compiled to direct calls for.
const DIRECT_TARGETS: usize = 4;
/// Most table elements the switch of those direct calls tests.
const DIRECT_ELEMENTS: usize = 64;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn control(&mut self, op: &Operator<'a>) -> Result<bool> {
        if matches!(
            op,
            Operator::Unreachable
                | Operator::Block { .. }
                | Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::Else
                | Operator::End
                | Operator::Br { .. }
                | Operator::BrIf { .. }
                | Operator::BrTable { .. }
                | Operator::Return
        ) {
            self.addresses.control();
        }
        match op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.call_trap(TrapCode::Unreachable)?;
                self.unreachable = Some(0);
            }
            Operator::Block { blockty } => self.block(*blockty)?,
            Operator::Loop { blockty } => self.loop_(*blockty)?,
            Operator::If { blockty } => self.if_(*blockty)?,
            Operator::Else => self.else_()?,
            Operator::End => self.end()?,
            Operator::Br { relative_depth } => {
                self.branch(*relative_depth)?;
                self.unreachable = Some(0);
            }
            Operator::BrIf { relative_depth } => self.branch_if(*relative_depth)?,
            Operator::BrTable { targets } => {
                let mut depths = Vec::new();
                for t in targets.targets() {
                    depths.push(t?);
                }
                self.branch_table(&depths, targets.default())?;
                self.unreachable = Some(0);
            }
            Operator::Return => {
                self.branch(self.frames.len() as u32 - 1)?;
                self.unreachable = Some(0);
            }
            Operator::Call { function_index } => self.call(*function_index)?,
            Operator::CallIndirect {
                type_index,
                table_index,
            } => self.call_indirect(*type_index, *table_index)?,
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let condition = self.pop_int();
                let if_false = self.pop();
                let if_true = self.pop();
                let zero = condition.get_type().const_zero();
                let c = self
                    .b
                    .build_int_compare(IntPredicate::NE, condition, zero, "")?;
                let v = self.b.build_select(c, if_true, if_false, "select")?;
                self.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn block_signature(&self, blockty: BlockType) -> Result<(Vec<ValType>, Vec<ValType>)> {
        Ok(match blockty {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![crate::module_info::convert_type(t)]),
            BlockType::FuncType(i) => {
                let ty = &self.env.info.types[i as usize];
                (ty.params.clone(), ty.results.clone())
            }
        })
    }

    fn block(&mut self, blockty: BlockType) -> Result<()> {
        let (params, results) = self.block_signature(blockty)?;
        let next = self.env.ctx.append_basic_block(self.function, "block.end");
        let end_phis = self.phis_at(next, &results)?;
        self.open(Frame {
            kind: FrameKind::Block,
            results,
            next,
            end_phis,
            header: None,
            else_block: None,
            height: self.stack.len() - params.len(),
        });
        Ok(())
    }

    fn loop_(&mut self, blockty: BlockType) -> Result<()> {
        let (params, results) = self.block_signature(blockty)?;
        self.version_loop_start();
        let header = self.env.ctx.append_basic_block(self.function, "loop");
        let header_phis = self.phis_at(header, &params)?;
        let values = self.pop_n(params.len());
        let current = self.current_block();
        for (phi, v) in header_phis.iter().zip(&values) {
            phi.add_incoming(&[(v, current)]);
        }
        self.b.build_unconditional_branch(header)?;
        self.b.position_at_end(header);
        let next = self.env.ctx.append_basic_block(self.function, "loop.end");
        let end_phis = self.phis_at(next, &results)?;
        let height = self.stack.len();
        for phi in &header_phis {
            self.stack.push(phi.as_basic_value());
        }
        self.open(Frame {
            kind: FrameKind::Loop,
            results,
            next,
            end_phis,
            header: Some((header, header_phis)),
            else_block: None,
            height,
        });
        self.version_loop_opened();
        Ok(())
    }

    fn if_(&mut self, blockty: BlockType) -> Result<()> {
        let (params, results) = self.block_signature(blockty)?;
        let condition = self.pop_int();
        let ctx = self.env.ctx;
        let then_block = ctx.append_basic_block(self.function, "then");
        let else_block = ctx.append_basic_block(self.function, "else");
        let next = ctx.append_basic_block(self.function, "if.end");
        let end_phis = self.phis_at(next, &results)?;
        let c = self.b.build_int_compare(
            IntPredicate::NE,
            condition,
            condition.get_type().const_zero(),
            "",
        )?;
        self.b.build_conditional_branch(c, then_block, else_block)?;
        self.b.position_at_end(then_block);
        let param_values = self.stack[self.stack.len() - params.len()..].to_vec();
        self.open(Frame {
            kind: FrameKind::If,
            results,
            next,
            end_phis,
            header: None,
            else_block: Some((else_block, param_values)),
            height: self.stack.len() - params.len(),
        });
        Ok(())
    }

    /// Pushes the frame of a `block`, `loop` or `if`; what straight-line code proved about
    /// addresses is scoped to it (`end` leaves the scope).
    fn open(&mut self, frame: Frame<'ctx>) {
        let kind = match frame.kind {
            FrameKind::Loop => ScopeKind::Loop,
            FrameKind::If => ScopeKind::If,
            _ => ScopeKind::Block,
        };
        let assigned = self.assigned.get(&self.at).map_or(&[][..], Vec::as_slice);
        self.addresses.enter(kind, assigned);
        self.frames.push(frame);
    }

    /// Sends the top `phis.len()` operands along an edge from the current block.
    fn add_incoming_from_stack(&self, phis: &[inkwell::values::PhiValue<'ctx>]) {
        let current = self.current_block();
        let values = &self.stack[self.stack.len() - phis.len()..];
        for (phi, v) in phis.iter().zip(values) {
            phi.add_incoming(&[(v, current)]);
        }
    }

    /// `else` reached with the then-branch's end reachable (`self.unreachable` is None) or not.
    pub(super) fn else_(&mut self) -> Result<()> {
        let reachable = self.unreachable.is_none() && !self.block_terminated();
        let frame = self.frames.last_mut().expect("else inside if");
        let (else_block, params) = frame.else_block.take().expect("validated if/else");
        let (next, phis, height) = (frame.next, frame.end_phis.clone(), frame.height);
        if reachable {
            self.add_incoming_from_stack(&phis);
            self.b.build_unconditional_branch(next)?;
        }
        self.stack.truncate(height);
        self.stack.extend(params);
        self.b.position_at_end(else_block);
        self.unreachable = None;
        self.addresses.else_branch();
        Ok(())
    }

    fn block_terminated(&self) -> bool {
        self.current_block().get_terminator().is_some()
    }

    pub(super) fn end(&mut self) -> Result<()> {
        let reachable = self.unreachable.is_none() && !self.block_terminated();
        self.unreachable = None;
        let frame = self.frames.pop().expect("validated end");
        if frame.kind != FrameKind::Function {
            self.addresses.leave();
        }
        if reachable {
            self.add_incoming_from_stack(&frame.end_phis);
            self.b.build_unconditional_branch(frame.next)?;
        }
        if let Some((else_block, params)) = &frame.else_block {
            // `if` without `else`: the parameters flow through unchanged.
            self.b.position_at_end(*else_block);
            for (phi, v) in frame.end_phis.iter().zip(params) {
                phi.add_incoming(&[(v, *else_block)]);
            }
            self.b.build_unconditional_branch(frame.next)?;
        }
        self.stack.truncate(frame.height);
        self.b.position_at_end(frame.next);
        if frame.next.get_first_use().is_none() {
            // Nothing reaches the end of this block: its results are never produced.
            for phi in &frame.end_phis {
                phi.as_instruction().erase_from_basic_block();
            }
            self.b.build_unreachable()?;
            if frame.kind != FrameKind::Function {
                self.unreachable = Some(0);
            }
            return Ok(());
        }
        if frame.kind == FrameKind::Function {
            return self.build_return(&frame);
        }
        for phi in &frame.end_phis {
            self.stack.push(phi.as_basic_value());
        }
        Ok(())
    }

    fn build_return(&mut self, frame: &Frame<'ctx>) -> Result<()> {
        let values: Vec<BasicValueEnum<'ctx>> =
            frame.end_phis.iter().map(|p| p.as_basic_value()).collect();
        match values.len() {
            0 => {
                self.b.build_return(None)?;
            }
            1 => {
                self.b.build_return(Some(&values[0]))?;
            }
            _ => {
                self.b.build_aggregate_return(&values)?;
            }
        }
        debug_assert_eq!(values.len(), frame.results.len());
        Ok(())
    }

    /// Where a branch to the frame `depth` levels out goes, and the phis receiving its values.
    fn branch_destination(
        &mut self,
        depth: u32,
    ) -> (
        inkwell::basic_block::BasicBlock<'ctx>,
        Vec<inkwell::values::PhiValue<'ctx>>,
    ) {
        let index = self.frames.len() - 1 - depth as usize;
        if let Some(block) = self.back_edge(index) {
            return (block, Vec::new());
        }
        let (target, phis) = self.frames[index].branch_target();
        (target, phis.to_vec())
    }

    fn branch(&mut self, depth: u32) -> Result<()> {
        let (target, phis) = self.branch_destination(depth);
        self.add_incoming_from_stack(&phis);
        self.b.build_unconditional_branch(target)?;
        Ok(())
    }

    fn branch_if(&mut self, depth: u32) -> Result<()> {
        let condition = self.pop_int();
        let c = self.b.build_int_compare(
            IntPredicate::NE,
            condition,
            condition.get_type().const_zero(),
            "",
        )?;
        let (target, phis) = self.branch_destination(depth);
        self.add_incoming_from_stack(&phis);
        let cont = self.env.ctx.append_basic_block(self.function, "br_if.cont");
        self.b.build_conditional_branch(c, target, cont)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    fn branch_table(&mut self, depths: &[u32], default: u32) -> Result<()> {
        let index = self.pop_int();
        let ctx = self.env.ctx;
        let current = self.current_block();
        // Each distinct target gets one edge block so its phis see one edge per predecessor.
        let mut edge_blocks: Vec<(u32, inkwell::basic_block::BasicBlock<'ctx>)> = Vec::new();
        let mut edge_for =
            |t: &mut Self, depth: u32| -> Result<inkwell::basic_block::BasicBlock<'ctx>> {
                if let Some((_, bb)) = edge_blocks.iter().find(|(d, _)| *d == depth) {
                    return Ok(*bb);
                }
                let (target, phis) = t.branch_destination(depth);
                let bb = if phis.is_empty() {
                    target
                } else {
                    let bb = ctx.append_basic_block(t.function, "br_table.edge");
                    t.b.position_at_end(bb);
                    t.add_incoming_from_stack(&phis);
                    t.b.build_unconditional_branch(target)?;
                    t.b.position_at_end(current);
                    bb
                };
                edge_blocks.push((depth, bb));
                Ok(bb)
            };
        let default_block = edge_for(self, default)?;
        let mut cases = Vec::new();
        for (i, depth) in depths.iter().enumerate() {
            let bb = edge_for(self, *depth)?;
            cases.push((index.get_type().const_int(i as u64, false), bb));
        }
        self.b.position_at_end(current);
        self.b.build_switch(index, default_block, &cases)?;
        Ok(())
    }

    /// The value `call` returns (`None` for no results). Never a tail call: LLVM's
    /// tail-recursion elimination would turn unbounded wasm recursion (which must trap with
    /// call stack exhausted) into an endless loop.
    fn call_value(&self, call: CallSiteValue<'ctx>) -> Option<BasicValueEnum<'ctx>> {
        call.set_tail_call_kind(inkwell::values::LLVMTailCallKind::LLVMTailCallKindNoTail);
        call.try_as_basic_value().basic()
    }

    /// Pushes what a call returned: one value, or each field of a multi-value aggregate.
    fn push_results(
        &mut self,
        value: Option<BasicValueEnum<'ctx>>,
        results: &[ValType],
    ) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let value =
            value.ok_or_else(|| crate::CompileError::Backend("call without result".into()))?;
        if results.len() == 1 {
            self.push(value);
            return Ok(());
        }
        let aggregate = value.into_struct_value();
        for i in 0..results.len() {
            let v = self.b.build_extract_value(aggregate, i as u32, "")?;
            self.push(v);
        }
        Ok(())
    }

    /// Calls function `function` of the module (defined or imported) directly.
    fn call_function(
        &mut self,
        function: u32,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<Option<BasicValueEnum<'ctx>>> {
        let call = match self.env.callee(&self.b, function)? {
            Callee::Direct(f) => self.b.build_call(f, args, "")?,
            Callee::Indirect(fty, code) => self.b.build_indirect_call(fty, code, args, "")?,
        };
        Ok(self.call_value(call))
    }

    fn call(&mut self, function: u32) -> Result<()> {
        let ty = self.env.info.func_type(function).clone();
        let args: Vec<_> = self
            .pop_n(ty.params.len())
            .into_iter()
            .map(Into::into)
            .collect();
        let value = self.call_function(function, &args)?;
        self.push_results(value, &ty.results)
    }

    /// `call_indirect`. When the table is frozen (`module_info::frozen_tables`) and its
    /// elements of the call's type hold at most [`DIRECT_TARGETS`] functions in at most
    /// [`DIRECT_ELEMENTS`] elements, a switch on the index first calls those directly (so
    /// LLVM may inline them, as it would a `call`). Any other index takes the table lookup
    /// with all its checks, which then traps as the spec says: no other element of a
    /// frozen table can hold a function of this type.
    fn call_indirect(&mut self, type_index: u32, table: u32) -> Result<()> {
        let ctx = self.env.ctx;
        let ty = self.env.info.types[type_index as usize].clone();
        let index = self.pop_int();
        let args: Vec<_> = self
            .pop_n(ty.params.len())
            .into_iter()
            .map(Into::into)
            .collect();
        let targets = self.direct_targets(table, &ty);
        if targets.is_empty() {
            let value = self.call_through_table(&ty, table, index, &args)?;
            return self.push_results(value, &ty.results);
        }
        let end = ctx.append_basic_block(self.function, "call_indirect.end");
        let lookup = ctx.append_basic_block(self.function, "call_indirect.lookup");
        let mut cases = Vec::new();
        let mut arms = Vec::new();
        for (function, elements) in targets {
            let bb = ctx.append_basic_block(self.function, "call_indirect.direct");
            for element in elements {
                cases.push((ctx.i32_type().const_int(u64::from(element), false), bb));
            }
            arms.push((function, bb));
        }
        self.b.build_switch(index, lookup, &cases)?;
        let mut incoming = Vec::new();
        for (function, bb) in arms {
            self.b.position_at_end(bb);
            let value = self.call_function(function, &args)?;
            incoming.push((value, self.current_block()));
            self.b.build_unconditional_branch(end)?;
        }
        self.b.position_at_end(lookup);
        let value = self.call_through_table(&ty, table, index, &args)?;
        incoming.push((value, self.current_block()));
        self.b.build_unconditional_branch(end)?;
        self.b.position_at_end(end);
        let value = match incoming.first() {
            Some((Some(first), _)) => {
                let phi = self.b.build_phi(first.get_type(), "")?;
                for (value, bb) in &incoming {
                    let value = value.ok_or_else(|| {
                        crate::CompileError::Backend("call without result".into())
                    })?;
                    phi.add_incoming(&[(&value as &dyn BasicValue, *bb)]);
                }
                Some(phi.as_basic_value())
            }
            _ => None,
        };
        self.push_results(value, &ty.results)
    }

    /// The functions (with the elements holding each, in element order) a `call_indirect` of
    /// type `ty` through `table` is compiled to direct calls for; empty when the table is not
    /// frozen or the calls would be too many (see [`FunctionTranslator::call_indirect`]).
    fn direct_targets(&self, table: u32, ty: &FuncType) -> Vec<(u32, Vec<u32>)> {
        let Some(elements) = self.env.info.indirect_targets[table as usize].get(ty) else {
            return Vec::new();
        };
        if elements.len() > DIRECT_ELEMENTS {
            return Vec::new();
        }
        let mut targets: Vec<(u32, Vec<u32>)> = Vec::new();
        for &(element, function) in elements {
            match targets.iter_mut().find(|(f, _)| *f == function) {
                Some((_, at)) => at.push(element),
                None => targets.push((function, vec![element])),
            }
        }
        if targets.len() > DIRECT_TARGETS {
            return Vec::new();
        }
        targets
    }

    /// Calls element `index` of `table` as type `ty`, after the checks `call_indirect` makes:
    /// the index is in range, the element is not null, and its function has type `ty`.
    fn call_through_table(
        &mut self,
        ty: &FuncType,
        table: u32,
        index: inkwell::values::IntValue<'ctx>,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<Option<BasicValueEnum<'ctx>>> {
        let ctx = self.env.ctx;
        let funcref = self.table_element_checked(table, index, TrapCode::UndefinedElement)?;
        let is_null = self.b.build_is_null(funcref, "")?;
        self.trap_if(is_null, TrapCode::UninitializedElement)?;
        let i64t = ctx.i64_type();
        let type_id_ptr = self.byte_offset(funcref, funcref_offsets::TYPE_ID)?;
        let actual = self
            .funcref_field(i64t, type_id_ptr, "type_id")?
            .into_int_value();
        let expected = i64t.const_int(ty.type_id(), false);
        let mismatch = self
            .b
            .build_int_compare(IntPredicate::NE, actual, expected, "")?;
        self.trap_if(mismatch, TrapCode::IndirectCallTypeMismatch)?;
        let code_ptr = self.byte_offset(funcref, funcref_offsets::CODE)?;
        let code = self.funcref_field(self.ptr_type(), code_ptr, "code")?;
        let call = self.b.build_indirect_call(
            function_type(ctx, ty),
            code.into_pointer_value(),
            args,
            "",
        )?;
        Ok(self.call_value(call))
    }

    /// Loads a field of a `FuncRef`. A `FuncRef` never changes once it exists, so the load is
    /// `!invariant.load`: a `call_indirect` through a loop-invariant element then checks the
    /// type and finds the code once, before the loop.
    fn funcref_field<T: BasicType<'ctx>>(
        &self,
        ty: T,
        field: inkwell::values::PointerValue<'ctx>,
        name: &str,
    ) -> Result<BasicValueEnum<'ctx>> {
        let ctx = self.env.ctx;
        let value = self.b.build_load(ty, field, name)?;
        let load = value.as_instruction_value().expect("a load instruction");
        load.set_metadata(ctx.metadata_node(&[]), ctx.get_kind_id("invariant.load"))
            .expect("metadata on a load");
        Ok(value)
    }

    /// `ptr + offset` bytes.
    pub(super) fn byte_offset(
        &self,
        ptr: inkwell::values::PointerValue<'ctx>,
        offset: u32,
    ) -> Result<inkwell::values::PointerValue<'ctx>> {
        if offset == 0 {
            return Ok(ptr);
        }
        let ctx = self.env.ctx;
        // SAFETY: a plain (not inbounds) byte GEP; no Rust memory is touched.
        Ok(unsafe {
            self.b.build_gep(
                ctx.i8_type(),
                ptr,
                &[ctx.i64_type().const_int(offset as u64, false)],
                "",
            )?
        })
    }

    /// Loads element `index` of `table`, trapping with `oob` when it is out of range.
    pub(super) fn table_element_checked(
        &mut self,
        table: u32,
        index: inkwell::values::IntValue<'ctx>,
        oob: TrapCode,
    ) -> Result<inkwell::values::PointerValue<'ctx>> {
        let slot = self.table_slot_checked(table, index, oob)?;
        Ok(self
            .b
            .build_load(self.ptr_type(), slot, "element")?
            .into_pointer_value())
    }

    /// Address of element `index` of `table`, trapping with `oob` when it is out of range.
    pub(super) fn table_slot_checked(
        &mut self,
        table: u32,
        index: inkwell::values::IntValue<'ctx>,
        oob: TrapCode,
    ) -> Result<inkwell::values::PointerValue<'ctx>> {
        let ctx = self.env.ctx;
        let desc = self.env.table_descriptor(&self.b, table)?;
        let size = self.table_size(desc)?;
        let out = self
            .b
            .build_int_compare(IntPredicate::UGE, index, size, "")?;
        self.trap_if(out, oob)?;
        let elements = self.table_elements(desc)?;
        let wide = self.b.build_int_z_extend(index, ctx.i64_type(), "")?;
        // SAFETY: a GEP within the element array (index checked above).
        Ok(unsafe {
            self.b
                .build_gep(self.ptr_type(), elements, &[wide], "element.slot")?
        })
    }

    pub(super) fn table_size(
        &self,
        desc: inkwell::values::PointerValue<'ctx>,
    ) -> Result<inkwell::values::IntValue<'ctx>> {
        let p = self.byte_offset(desc, table_descriptor_offsets::CURRENT_ELEMENTS)?;
        Ok(self
            .b
            .build_load(self.env.ctx.i32_type(), p, "table.size")?
            .into_int_value())
    }

    pub(super) fn table_elements(
        &self,
        desc: inkwell::values::PointerValue<'ctx>,
    ) -> Result<inkwell::values::PointerValue<'ctx>> {
        let p = self.byte_offset(desc, table_descriptor_offsets::ELEMENTS)?;
        Ok(self
            .b
            .build_load(self.ptr_type(), p, "table.elements")?
            .into_pointer_value())
    }
}
