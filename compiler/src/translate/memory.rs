//! Linear-memory operators. Addresses are `base + zext(index) + offset` with no check: the
//! runtime's reservation and guard turn an out-of-bounds access into a fault it reports as a
//! trap. With `bounds_checks` (runtimes without guard pages) each access is compared with
//! `current_bytes` first.

use super::{FunctionTranslator, Result};
use inkwell::IntPredicate;
use inkwell::types::BasicTypeEnum;
use inkwell::values::{IntValue, PointerValue};
use mewz_abi::TrapCode;
use mewz_abi::memory::memory_descriptor_offsets;
use wasmparser::{MemArg, Operator};

/// How a loaded value becomes the operand: its width in memory and the extension to apply.
#[derive(Clone, Copy)]
enum Extend {
    None,
    Signed,
    Unsigned,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn memory(&mut self, op: &Operator<'a>) -> Result<bool> {
        let ctx = self.env.ctx;
        let (i8t, i16t, i32t, i64t) = (
            ctx.i8_type(),
            ctx.i16_type(),
            ctx.i32_type(),
            ctx.i64_type(),
        );
        let (f32t, f64t) = (ctx.f32_type(), ctx.f64_type());
        match op {
            Operator::I32Load { memarg } => self.load(memarg, i32t.into(), Extend::None, i32t)?,
            Operator::I64Load { memarg } => self.load(memarg, i64t.into(), Extend::None, i64t)?,
            Operator::F32Load { memarg } => self.load(memarg, f32t.into(), Extend::None, i32t)?,
            Operator::F64Load { memarg } => self.load(memarg, f64t.into(), Extend::None, i64t)?,
            Operator::I32Load8S { memarg } => {
                self.load(memarg, i8t.into(), Extend::Signed, i32t)?
            }
            Operator::I32Load8U { memarg } => {
                self.load(memarg, i8t.into(), Extend::Unsigned, i32t)?
            }
            Operator::I32Load16S { memarg } => {
                self.load(memarg, i16t.into(), Extend::Signed, i32t)?
            }
            Operator::I32Load16U { memarg } => {
                self.load(memarg, i16t.into(), Extend::Unsigned, i32t)?
            }
            Operator::I64Load8S { memarg } => {
                self.load(memarg, i8t.into(), Extend::Signed, i64t)?
            }
            Operator::I64Load8U { memarg } => {
                self.load(memarg, i8t.into(), Extend::Unsigned, i64t)?
            }
            Operator::I64Load16S { memarg } => {
                self.load(memarg, i16t.into(), Extend::Signed, i64t)?
            }
            Operator::I64Load16U { memarg } => {
                self.load(memarg, i16t.into(), Extend::Unsigned, i64t)?
            }
            Operator::I64Load32S { memarg } => {
                self.load(memarg, i32t.into(), Extend::Signed, i64t)?
            }
            Operator::I64Load32U { memarg } => {
                self.load(memarg, i32t.into(), Extend::Unsigned, i64t)?
            }
            Operator::I32Store { memarg }
            | Operator::I64Store { memarg }
            | Operator::F32Store { memarg }
            | Operator::F64Store { memarg } => self.store(memarg, None)?,
            Operator::I32Store8 { memarg } | Operator::I64Store8 { memarg } => {
                self.store(memarg, Some(i8t))?
            }
            Operator::I32Store16 { memarg } | Operator::I64Store16 { memarg } => {
                self.store(memarg, Some(i16t))?
            }
            Operator::I64Store32 { memarg } => self.store(memarg, Some(i32t))?,
            Operator::MemorySize { .. } => {
                let bytes = self.current_bytes()?;
                let pages =
                    self.b
                        .build_right_shift(bytes, i64t.const_int(16, false), false, "")?;
                let pages = self.b.build_int_truncate(pages, i32t, "pages")?;
                self.push(pages);
            }
            Operator::MemoryGrow { .. } => {
                let delta = self.pop_int();
                let desc = self.descriptor();
                let old = self
                    .b
                    .build_call(self.env.memory_grow_fn, &[desc.into(), delta.into()], "")?
                    .try_as_basic_value()
                    .basic()
                    .expect("memory.grow returns i32");
                self.push(old);
            }
            Operator::MemoryInit { data_index, .. } => self.memory_init(*data_index)?,
            Operator::DataDrop { data_index } => {
                let length = self.env.data_segments[*data_index as usize].length;
                self.b
                    .build_store(length.as_pointer_value(), i32t.const_zero())?;
            }
            Operator::MemoryCopy { .. } => {
                let n = self.pop_wide()?;
                let source = self.pop_wide()?;
                let destination = self.pop_wide()?;
                let size = self.current_bytes()?;
                self.check_range(source, n, size, TrapCode::OutOfBoundsMemoryAccess)?;
                self.check_range(destination, n, size, TrapCode::OutOfBoundsMemoryAccess)?;
                let d = self.linear_address(self.memory_base(), destination)?;
                let s = self.linear_address(self.memory_base(), source)?;
                self.b.build_memmove(d, 1, s, 1, n)?;
            }
            Operator::MemoryFill { .. } => {
                let n = self.pop_wide()?;
                let value = self.pop_int();
                let destination = self.pop_wide()?;
                let size = self.current_bytes()?;
                self.check_range(destination, n, size, TrapCode::OutOfBoundsMemoryAccess)?;
                let d = self.linear_address(self.memory_base(), destination)?;
                let byte = self.b.build_int_truncate(value, i8t, "")?;
                self.b.build_memset(d, 1, byte, n)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn descriptor(&self) -> PointerValue<'ctx> {
        self.memory_descriptor
            .expect("validated memory operators imply a memory")
    }

    fn current_bytes(&self) -> Result<IntValue<'ctx>> {
        let p = self.byte_offset(self.descriptor(), memory_descriptor_offsets::CURRENT_BYTES)?;
        Ok(self
            .b
            .build_load(self.env.ctx.i64_type(), p, "memory.bytes")?
            .into_int_value())
    }

    /// Pops an i32 operand, zero-extended to i64.
    pub(super) fn pop_wide(&mut self) -> Result<IntValue<'ctx>> {
        let v = self.pop_int();
        Ok(self.b.build_int_z_extend(v, self.env.ctx.i64_type(), "")?)
    }

    /// Traps with `code` unless `start + length <= limit` (all i64, no overflow possible for
    /// zero-extended 32-bit operands).
    pub(super) fn check_range(
        &mut self,
        start: IntValue<'ctx>,
        length: IntValue<'ctx>,
        limit: IntValue<'ctx>,
        code: TrapCode,
    ) -> Result<()> {
        let end = self.b.build_int_add(start, length, "")?;
        let out = self
            .b
            .build_int_compare(IntPredicate::UGT, end, limit, "")?;
        self.trap_if(out, code)
    }

    /// The memory's base, loaded once per function.
    pub(super) fn memory_base(&self) -> PointerValue<'ctx> {
        self.memory_base
            .expect("validated memory operators imply a memory")
    }

    /// `base + offset` for an i64 byte offset into linear memory (through `base`, the memory's
    /// base or a per-root copy of it).
    fn linear_address(
        &self,
        base: PointerValue<'ctx>,
        offset: IntValue<'ctx>,
    ) -> Result<PointerValue<'ctx>> {
        // SAFETY: a plain byte GEP into the memory reservation; the runtime's guard region
        // catches anything out of bounds.
        Ok(unsafe {
            self.b
                .build_gep(self.env.ctx.i8_type(), base, &[offset], "addr")?
        })
    }

    /// Effective address of an access of `size` bytes at the popped index + `memarg.offset`.
    fn effective_address(&mut self, memarg: &MemArg, size: u32) -> Result<PointerValue<'ctx>> {
        let i64t = self.env.ctx.i64_type();
        let index32 = self.pop_int();
        self.addresses
            .accessed(index32, memarg.offset, u64::from(size));
        let offset = self.widened_plus(index32, memarg.offset)?;
        if self.env.opts.bounds_checks {
            let size_value = i64t.const_int(size as u64, false);
            let limit = self.current_bytes()?;
            self.check_range(offset, size_value, limit, TrapCode::OutOfBoundsMemoryAccess)?;
        }
        if let Some((value, addend)) = self.addresses.parts(index32) {
            // `value + addend` does not wrap: address `value` first, so that in a loop where
            // only `addend` varies, that part is computed once (`table[x & 255]`).
            let base = self.base_for(value)?;
            let start = self.linear_address(base, self.widened_plus(value, 0)?)?;
            return self.linear_address(start, self.widened_plus(addend, memarg.offset)?);
        }
        let base = self.base_for(index32)?;
        self.linear_address(base, offset)
    }

    /// Whether the access about to be made (its index on top of the stack) is at a constant
    /// address inside the memory's minimum size: it can never trap, a memory never shrinks.
    fn always_in_bounds(&self, memarg: &MemArg, size: u32) -> bool {
        let index = self
            .stack
            .last()
            .and_then(|v| v.into_int_value().get_zero_extended_constant());
        let minimum = self.env.info.memories.first().map_or(0, |m| m.minimum);
        index.is_some_and(|i| {
            i + memarg.offset + u64::from(size)
                <= minimum.saturating_mul(mewz_abi::memory::WASM_PAGE_SIZE)
        })
    }

    /// `zext(v) + offset` as an i64.
    fn widened_plus(&self, v: IntValue<'ctx>, offset: u64) -> Result<IntValue<'ctx>> {
        let i64t = self.env.ctx.i64_type();
        let wide = self.b.build_int_z_extend(v, i64t, "")?;
        if offset == 0 {
            return Ok(wide);
        }
        Ok(self
            .b
            .build_int_add(wide, i64t.const_int(offset, false), "")?)
    }

    fn load(
        &mut self,
        memarg: &MemArg,
        memory_type: BasicTypeEnum<'ctx>,
        extend: Extend,
        result: inkwell::types::IntType<'ctx>,
    ) -> Result<()> {
        let size = match memory_type {
            BasicTypeEnum::IntType(t) => t.get_bit_width() / 8,
            BasicTypeEnum::FloatType(t) if t == self.env.ctx.f32_type() => 4,
            _ => 8,
        };
        let value = self.load_at(memarg, memory_type, size)?;
        let value = match extend {
            Extend::Signed => self
                .b
                .build_int_s_extend(value.into_int_value(), result, "")?
                .into(),
            Extend::Unsigned => {
                let v = self
                    .b
                    .build_int_z_extend(value.into_int_value(), result, "")?;
                self.addresses.set_bound(v, (1 << (8 * size)) - 1);
                v.into()
            }
            Extend::None => value,
        };
        self.push(value);
        Ok(())
    }

    /// Loads a `memory_type` of `size` bytes from the popped index + `memarg.offset`, the way
    /// every load is made: unaligned, and kept where wasm runs it (it may trap).
    pub(super) fn load_at(
        &mut self,
        memarg: &MemArg,
        memory_type: BasicTypeEnum<'ctx>,
        size: u32,
    ) -> Result<inkwell::values::BasicValueEnum<'ctx>> {
        let never_traps = self.always_in_bounds(memarg, size);
        let address = self.effective_address(memarg, size)?;
        let value = self.b.build_load(memory_type, address, "load")?;
        let instruction = inkwell::values::BasicValue::as_instruction_value(&value)
            .ok_or_else(|| crate::CompileError::Backend("load is not an instruction".into()))?;
        instruction
            .set_alignment(1)
            .map_err(|e| crate::CompileError::Backend(e.to_string()))?;
        if !never_traps {
            // Kept if its value turns out unused.
            super::dead_loads::protect(self.env.ctx, instruction);
        }
        Ok(value)
    }

    /// Stores `value` (`size` bytes) at the popped index + `memarg.offset`, unaligned.
    pub(super) fn store_at(
        &mut self,
        memarg: &MemArg,
        value: inkwell::values::BasicValueEnum<'ctx>,
        size: u32,
    ) -> Result<()> {
        let address = self.effective_address(memarg, size)?;
        let store = self.b.build_store(address, value)?;
        store
            .set_alignment(1)
            .map_err(|e| crate::CompileError::Backend(e.to_string()))?;
        Ok(())
    }

    fn store(
        &mut self,
        memarg: &MemArg,
        narrow: Option<inkwell::types::IntType<'ctx>>,
    ) -> Result<()> {
        let value = self.pop();
        let (value, size) = match narrow {
            Some(t) => (
                self.b
                    .build_int_truncate(value.into_int_value(), t, "")?
                    .into(),
                t.get_bit_width() / 8,
            ),
            None => {
                let size = match value.get_type() {
                    BasicTypeEnum::IntType(t) => t.get_bit_width() / 8,
                    BasicTypeEnum::FloatType(t) if t == self.env.ctx.f32_type() => 4,
                    _ => 8,
                };
                (value, size)
            }
        };
        self.store_at(memarg, value, size)
    }

    fn memory_init(&mut self, data_index: u32) -> Result<()> {
        let ctx = self.env.ctx;
        let n = self.pop_wide()?;
        let source = self.pop_wide()?;
        let destination = self.pop_wide()?;
        let segment = &self.env.data_segments[data_index as usize];
        let (contents, length) = (segment.contents, segment.length);
        let available = self
            .b
            .build_load(ctx.i32_type(), length.as_pointer_value(), "data.length")?
            .into_int_value();
        let available = self.b.build_int_z_extend(available, ctx.i64_type(), "")?;
        self.check_range(source, n, available, TrapCode::OutOfBoundsMemoryAccess)?;
        let size = self.current_bytes()?;
        self.check_range(destination, n, size, TrapCode::OutOfBoundsMemoryAccess)?;
        let d = self.linear_address(self.memory_base(), destination)?;
        // SAFETY: byte GEP inside the segment (range checked above).
        let s = unsafe {
            self.b
                .build_gep(ctx.i8_type(), contents.as_pointer_value(), &[source], "")?
        };
        self.b.build_memcpy(d, 1, s, 1, n)?;
        Ok(())
    }
}
