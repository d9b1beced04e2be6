//! Constants and lane movement: `v128.const`, splats, lane extraction and replacement,
//! `i8x16.shuffle` (constant lane indices) and `i8x16.swizzle` (lane indices in a vector).

use super::{FunctionTranslator, Result, Shape};
use inkwell::IntPredicate;
use inkwell::types::VectorType;
use inkwell::values::{BasicValueEnum, IntValue, VectorValue};
use wasmparser::Operator;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn simd_lanes(&mut self, op: &Operator<'a>) -> Result<bool> {
        use Operator as O;
        use Shape::*;
        match op {
            O::V128Const { value } => {
                let bits = value.i128() as u128;
                let i64t = self.env.ctx.i64_type();
                let halves = [
                    i64t.const_int(bits as u64, false),
                    i64t.const_int((bits >> 64) as u64, false),
                ];
                self.push_vector(VectorType::const_vector(&halves))?;
            }
            O::I8x16Splat => self.splat_operand(I8x16)?,
            O::I16x8Splat => self.splat_operand(I16x8)?,
            O::I32x4Splat => self.splat_operand(I32x4)?,
            O::I64x2Splat => self.splat_operand(I64x2)?,
            O::F32x4Splat => self.splat_operand(F32x4)?,
            O::F64x2Splat => self.splat_operand(F64x2)?,
            O::I8x16ExtractLaneS { lane } => self.extract_lane(I8x16, *lane, Some(true))?,
            O::I8x16ExtractLaneU { lane } => self.extract_lane(I8x16, *lane, Some(false))?,
            O::I16x8ExtractLaneS { lane } => self.extract_lane(I16x8, *lane, Some(true))?,
            O::I16x8ExtractLaneU { lane } => self.extract_lane(I16x8, *lane, Some(false))?,
            O::I32x4ExtractLane { lane } => self.extract_lane(I32x4, *lane, None)?,
            O::I64x2ExtractLane { lane } => self.extract_lane(I64x2, *lane, None)?,
            O::F32x4ExtractLane { lane } => self.extract_lane(F32x4, *lane, None)?,
            O::F64x2ExtractLane { lane } => self.extract_lane(F64x2, *lane, None)?,
            O::I8x16ReplaceLane { lane } => self.replace_lane(I8x16, *lane)?,
            O::I16x8ReplaceLane { lane } => self.replace_lane(I16x8, *lane)?,
            O::I32x4ReplaceLane { lane } => self.replace_lane(I32x4, *lane)?,
            O::I64x2ReplaceLane { lane } => self.replace_lane(I64x2, *lane)?,
            O::F32x4ReplaceLane { lane } => self.replace_lane(F32x4, *lane)?,
            O::F64x2ReplaceLane { lane } => self.replace_lane(F64x2, *lane)?,
            O::I8x16Shuffle { lanes } => {
                let b = self.pop_vector(I8x16)?;
                let a = self.pop_vector(I8x16)?;
                let v = self.shuffle(a, b, lanes.iter().map(|&l| u32::from(l)))?;
                self.push_vector(v)?;
            }
            O::I8x16Swizzle => self.swizzle()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// An i32/i64/f32/f64 operand as a lane of `shape` (i8 and i16 lanes take the low bits).
    fn lane_operand(&mut self, shape: Shape) -> Result<BasicValueEnum<'ctx>> {
        let v = self.pop();
        Ok(match shape {
            Shape::I8x16 | Shape::I16x8 => {
                let lane = shape.lane_type(self.env.ctx).into_int_type();
                self.b
                    .build_int_truncate(v.into_int_value(), lane, "")?
                    .into()
            }
            _ => v,
        })
    }

    fn splat_operand(&mut self, shape: Shape) -> Result<()> {
        let value = self.lane_operand(shape)?;
        let v = self.splat(value, shape.lanes())?;
        self.push_vector(v)
    }

    /// `extract_lane`; `extend` says how an i8/i16 lane becomes an i32 (signed or not).
    fn extract_lane(&mut self, shape: Shape, lane: u8, extend: Option<bool>) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let value = self
            .b
            .build_extract_element(v, self.i32_constant(u64::from(lane)), "")?;
        let i32t = self.env.ctx.i32_type();
        let value: BasicValueEnum<'ctx> = match extend {
            Some(true) => self
                .b
                .build_int_s_extend(value.into_int_value(), i32t, "")?
                .into(),
            Some(false) => self
                .b
                .build_int_z_extend(value.into_int_value(), i32t, "")?
                .into(),
            None => value,
        };
        self.push(value);
        Ok(())
    }

    fn replace_lane(&mut self, shape: Shape, lane: u8) -> Result<()> {
        let value = self.lane_operand(shape)?;
        let v = self.pop_vector(shape)?;
        let v = self
            .b
            .build_insert_element(v, value, self.i32_constant(u64::from(lane)), "")?;
        self.push_vector(v)
    }

    /// `i8x16.swizzle`: lane i of the result is lane `s[i]` of `a`, or 0 when `s[i] >= 16`.
    /// aarch64's `tbl` is exactly that. Elsewhere: the lanes picked by `s[i] & 15`, then zeroed
    /// where `s[i] > 15`; x86 back ends turn the picking into one `pshufb` when the CPU has
    /// SSSE3 (the x86-64 baseline does not: there it goes through memory, lane by lane).
    fn swizzle(&mut self) -> Result<()> {
        let s = self.pop_vector(Shape::I8x16)?;
        let a = self.pop_vector(Shape::I8x16)?;
        if !self.env.opts.target.is_x86() {
            let ty = a.get_type().into();
            let v =
                self.vector_intrinsic("llvm.aarch64.neon.tbl1", &[ty], &[a.into(), s.into()])?;
            return self.push_vector(v);
        }
        let fifteen = self.splat_constant(Shape::I8x16, 15);
        let index = self.b.build_and(s, fifteen, "")?;
        let mut picked: VectorValue<'ctx> = a.get_type().get_poison();
        for lane in 0..16u64 {
            let at = self.i32_constant(lane);
            let i: IntValue<'ctx> = self
                .b
                .build_extract_element(index, at, "")?
                .into_int_value();
            let value = self.b.build_extract_element(a, i, "")?;
            picked = self.b.build_insert_element(picked, value, at, "")?;
        }
        let in_range = self
            .b
            .build_int_compare(IntPredicate::ULE, s, fifteen, "")?;
        let zero = a.get_type().const_zero();
        let v = self
            .b
            .build_select(in_range, picked, zero, "")?
            .into_vector_value();
        self.push_vector(v)
    }
}
