//! Tables and references.

use super::{FunctionTranslator, Result};
use inkwell::IntPredicate;
use inkwell::values::{IntValue, PointerValue};
use mewz_abi::TrapCode;
use wasmparser::Operator;

const OOB: TrapCode = TrapCode::OutOfBoundsTableAccess;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn table(&mut self, op: &Operator<'a>) -> Result<bool> {
        let ctx = self.env.ctx;
        match op {
            Operator::RefNull { .. } => self.push(self.ptr_type().const_null()),
            Operator::RefIsNull => {
                let r = self.pop().into_pointer_value();
                let null = self.b.build_is_null(r, "")?;
                let v = self.b.build_int_z_extend(null, ctx.i32_type(), "")?;
                self.push(v);
            }
            Operator::RefFunc { function_index } => {
                let f = self.env.funcref(*function_index);
                self.push(f);
            }
            Operator::TableGet { table } => {
                let index = self.pop_int();
                let v = self.table_element_checked(*table, index, OOB)?;
                self.push(v);
            }
            Operator::TableSet { table } => {
                let value = self.pop();
                let index = self.pop_int();
                let slot = self.table_slot_checked(*table, index, OOB)?;
                self.b.build_store(slot, value)?;
            }
            Operator::TableSize { table } => {
                let desc = self.env.table_descriptor(&self.b, *table)?;
                let size = self.table_size(desc)?;
                self.push(size);
            }
            Operator::TableGrow { table } => {
                let delta = self.pop_int();
                let init = self.pop();
                let desc = self.env.table_descriptor(&self.b, *table)?;
                let old = self
                    .b
                    .build_call(
                        self.env.table_grow_fn,
                        &[desc.into(), delta.into(), init.into()],
                        "",
                    )?
                    .try_as_basic_value()
                    .basic()
                    .expect("table.grow returns i32");
                self.push(old);
            }
            Operator::TableFill { table } => {
                let n = self.pop_wide()?;
                let value = self.pop();
                let start = self.pop_wide()?;
                let desc = self.env.table_descriptor(&self.b, *table)?;
                let size = self.wide_table_size(desc)?;
                self.check_range(start, n, size, OOB)?;
                let elements = self.table_elements(desc)?;
                self.fill_loop(elements, start, n, value.into_pointer_value())?;
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let n = self.pop_wide()?;
                let source = self.pop_wide()?;
                let destination = self.pop_wide()?;
                let dst = self.env.table_descriptor(&self.b, *dst_table)?;
                let src = self.env.table_descriptor(&self.b, *src_table)?;
                let dst_size = self.wide_table_size(dst)?;
                let src_size = self.wide_table_size(src)?;
                self.check_range(source, n, src_size, OOB)?;
                self.check_range(destination, n, dst_size, OOB)?;
                let d = self.element_address(self.table_elements(dst)?, destination)?;
                let s = self.element_address(self.table_elements(src)?, source)?;
                let bytes = self.element_bytes(n)?;
                self.b.build_memmove(d, 8, s, 8, bytes)?;
            }
            Operator::TableInit { elem_index, table } => {
                let n = self.pop_wide()?;
                let source = self.pop_wide()?;
                let destination = self.pop_wide()?;
                let segment = &self.env.elem_segments[*elem_index as usize];
                let (contents, length) = (segment.contents, segment.length);
                let available = self
                    .b
                    .build_load(ctx.i32_type(), length.as_pointer_value(), "elem.length")?
                    .into_int_value();
                let available = self.b.build_int_z_extend(available, ctx.i64_type(), "")?;
                let desc = self.env.table_descriptor(&self.b, *table)?;
                let size = self.wide_table_size(desc)?;
                self.check_range(source, n, available, OOB)?;
                self.check_range(destination, n, size, OOB)?;
                let d = self.element_address(self.table_elements(desc)?, destination)?;
                let s = self.element_address(contents.as_pointer_value(), source)?;
                let bytes = self.element_bytes(n)?;
                self.b.build_memcpy(d, 8, s, 8, bytes)?;
            }
            Operator::ElemDrop { elem_index } => {
                let length = self.env.elem_segments[*elem_index as usize].length;
                self.b
                    .build_store(length.as_pointer_value(), ctx.i32_type().const_zero())?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn wide_table_size(&self, desc: PointerValue<'ctx>) -> Result<IntValue<'ctx>> {
        let size = self.table_size(desc)?;
        Ok(self
            .b
            .build_int_z_extend(size, self.env.ctx.i64_type(), "")?)
    }

    fn element_address(
        &self,
        elements: PointerValue<'ctx>,
        index: IntValue<'ctx>,
    ) -> Result<PointerValue<'ctx>> {
        // SAFETY: GEP inside an element array (ranges checked by the caller).
        Ok(unsafe {
            self.b
                .build_gep(self.ptr_type(), elements, &[index], "element")?
        })
    }

    fn element_bytes(&self, n: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        Ok(self
            .b
            .build_int_mul(n, self.env.ctx.i64_type().const_int(8, false), "")?)
    }

    /// Stores `value` into `elements[start..start + n]`.
    fn fill_loop(
        &mut self,
        elements: PointerValue<'ctx>,
        start: IntValue<'ctx>,
        n: IntValue<'ctx>,
        value: PointerValue<'ctx>,
    ) -> Result<()> {
        let ctx = self.env.ctx;
        let i64t = ctx.i64_type();
        let before = self.current_block();
        let header = ctx.append_basic_block(self.function, "fill");
        let body = ctx.append_basic_block(self.function, "fill.body");
        let done = ctx.append_basic_block(self.function, "fill.done");
        self.b.build_unconditional_branch(header)?;
        self.b.position_at_end(header);
        let k = self.b.build_phi(i64t, "k")?;
        k.add_incoming(&[(&i64t.const_zero(), before)]);
        let kv = k.as_basic_value().into_int_value();
        let more = self.b.build_int_compare(IntPredicate::ULT, kv, n, "")?;
        self.b.build_conditional_branch(more, body, done)?;
        self.b.position_at_end(body);
        let index = self.b.build_int_add(start, kv, "")?;
        let slot = self.element_address(elements, index)?;
        self.b.build_store(slot, value)?;
        let next = self.b.build_int_add(kv, i64t.const_int(1, false), "")?;
        k.add_incoming(&[(&next, body)]);
        self.b.build_unconditional_branch(header)?;
        self.b.position_at_end(done);
        Ok(())
    }
}
