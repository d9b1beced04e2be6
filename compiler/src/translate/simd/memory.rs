//! `v128` loads and stores: whole vectors, extending loads, splats, zero-filling loads and the
//! lane forms. They follow the scalar rules (`translate/memory.rs`): unaligned, and an access
//! any byte of which is out of bounds traps, kept where wasm makes it.

use super::{FunctionTranslator, Result, Shape, int_type};
use crate::env::v128_type;
use inkwell::types::BasicTypeEnum;
use wasmparser::{MemArg, Operator};

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn simd_memory(&mut self, op: &Operator<'a>) -> Result<bool> {
        use Operator as O;
        use Shape::*;
        match op {
            O::V128Load { memarg } => {
                let v = self.load_at(memarg, v128_type(self.env.ctx).into(), 16)?;
                self.push(v);
            }
            O::V128Store { memarg } => {
                let v = self.pop();
                self.store_at(memarg, v, 16)?;
            }
            O::V128Load8x8S { memarg } => self.load_extend(memarg, I8x16, true)?,
            O::V128Load8x8U { memarg } => self.load_extend(memarg, I8x16, false)?,
            O::V128Load16x4S { memarg } => self.load_extend(memarg, I16x8, true)?,
            O::V128Load16x4U { memarg } => self.load_extend(memarg, I16x8, false)?,
            O::V128Load32x2S { memarg } => self.load_extend(memarg, I32x4, true)?,
            O::V128Load32x2U { memarg } => self.load_extend(memarg, I32x4, false)?,
            O::V128Load8Splat { memarg } => self.load_splat(memarg, I8x16)?,
            O::V128Load16Splat { memarg } => self.load_splat(memarg, I16x8)?,
            O::V128Load32Splat { memarg } => self.load_splat(memarg, I32x4)?,
            O::V128Load64Splat { memarg } => self.load_splat(memarg, I64x2)?,
            O::V128Load32Zero { memarg } => self.load_zero(memarg, I32x4)?,
            O::V128Load64Zero { memarg } => self.load_zero(memarg, I64x2)?,
            O::V128Load8Lane { memarg, lane } => self.load_lane(memarg, I8x16, *lane)?,
            O::V128Load16Lane { memarg, lane } => self.load_lane(memarg, I16x8, *lane)?,
            O::V128Load32Lane { memarg, lane } => self.load_lane(memarg, I32x4, *lane)?,
            O::V128Load64Lane { memarg, lane } => self.load_lane(memarg, I64x2, *lane)?,
            O::V128Store8Lane { memarg, lane } => self.store_lane(memarg, I8x16, *lane)?,
            O::V128Store16Lane { memarg, lane } => self.store_lane(memarg, I16x8, *lane)?,
            O::V128Store32Lane { memarg, lane } => self.store_lane(memarg, I32x4, *lane)?,
            O::V128Store64Lane { memarg, lane } => self.store_lane(memarg, I64x2, *lane)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// One lane of `shape` from memory.
    fn load_lane_value(
        &mut self,
        memarg: &MemArg,
        shape: Shape,
    ) -> Result<inkwell::values::BasicValueEnum<'ctx>> {
        let ty: BasicTypeEnum<'ctx> = shape.lane_type(self.env.ctx);
        self.load_at(memarg, ty, shape.lane_bits() / 8)
    }

    /// `v128.loadNxM_s/u`: 8 bytes, half the lanes of `narrow`, each extended to twice its
    /// width.
    fn load_extend(&mut self, memarg: &MemArg, narrow: Shape, signed: bool) -> Result<()> {
        let ctx = self.env.ctx;
        let half = narrow.lanes() / 2;
        let lane = int_type(ctx, narrow.lane_bits());
        let v = self
            .load_at(memarg, lane.vec_type(half).into(), 8)?
            .into_vector_value();
        let wide = int_type(ctx, 2 * narrow.lane_bits()).vec_type(half);
        let v = if signed {
            self.b.build_int_s_extend(v, wide, "")?
        } else {
            self.b.build_int_z_extend(v, wide, "")?
        };
        self.push_vector(v)
    }

    fn load_splat(&mut self, memarg: &MemArg, shape: Shape) -> Result<()> {
        let value = self.load_lane_value(memarg, shape)?;
        let v = self.splat(value, shape.lanes())?;
        self.push_vector(v)
    }

    /// `v128.load32_zero`/`load64_zero`: lane 0 from memory, the others zero.
    fn load_zero(&mut self, memarg: &MemArg, shape: Shape) -> Result<()> {
        let value = self.load_lane_value(memarg, shape)?;
        let zero = shape.vector_type(self.env.ctx).const_zero();
        let v = self
            .b
            .build_insert_element(zero, value, self.i32_constant(0), "")?;
        self.push_vector(v)
    }

    fn load_lane(&mut self, memarg: &MemArg, shape: Shape, lane: u8) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let value = self.load_lane_value(memarg, shape)?;
        let v = self
            .b
            .build_insert_element(v, value, self.i32_constant(u64::from(lane)), "")?;
        self.push_vector(v)
    }

    fn store_lane(&mut self, memarg: &MemArg, shape: Shape, lane: u8) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let value = self
            .b
            .build_extract_element(v, self.i32_constant(u64::from(lane)), "")?;
        self.store_at(memarg, value, shape.lane_bits() / 8)
    }
}
