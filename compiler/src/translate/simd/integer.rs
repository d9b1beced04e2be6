//! Bitwise operations and lane-wise integer arithmetic: add/sub/mul, saturating add/sub,
//! min/max, rounding average, abs, neg, popcount, shifts, comparisons, `q15mulr_sat_s`, and
//! the reductions to a scalar (`any_true`, `all_true`, `bitmask`).

use super::{FunctionTranslator, Result, Shape, int_type};
use inkwell::IntPredicate;
use inkwell::builder::{Builder, BuilderError};
use inkwell::values::VectorValue;
use wasmparser::Operator;

/// What a lane-wise integer operation built by `binary` returns.
type Built<'ctx> = core::result::Result<VectorValue<'ctx>, BuilderError>;

#[derive(Clone, Copy)]
enum Shift {
    Left,
    RightSigned,
    RightUnsigned,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn simd_integer(&mut self, op: &Operator<'a>) -> Result<bool> {
        use IntPredicate as P;
        use Operator as O;
        use Shape::*;
        match op {
            O::V128Not => {
                let v = self.pop_vector(I64x2)?;
                let r = self.b.build_not(v, "")?;
                self.push_vector(r)?;
            }
            O::V128And => self.binary(I64x2, |b, l, r| b.build_and(l, r, ""))?,
            O::V128Or => self.binary(I64x2, |b, l, r| b.build_or(l, r, ""))?,
            O::V128Xor => self.binary(I64x2, |b, l, r| b.build_xor(l, r, ""))?,
            O::V128AndNot => self.binary(I64x2, |b, l, r| {
                let not_r = b.build_not(r, "")?;
                b.build_and(l, not_r, "")
            })?,
            O::V128Bitselect => {
                let mask = self.pop_vector(I64x2)?;
                let if_zero = self.pop_vector(I64x2)?;
                let if_one = self.pop_vector(I64x2)?;
                let ones = self.b.build_and(if_one, mask, "")?;
                let not_mask = self.b.build_not(mask, "")?;
                let zeros = self.b.build_and(if_zero, not_mask, "")?;
                let v = self.b.build_or(ones, zeros, "")?;
                self.push_vector(v)?;
            }
            O::V128AnyTrue => {
                let v = self.pop();
                let i128t = self.env.ctx.i128_type();
                let bits = self.b.build_bit_cast(v, i128t, "")?.into_int_value();
                let c = self
                    .b
                    .build_int_compare(P::NE, bits, i128t.const_zero(), "")?;
                self.push_flag(c)?;
            }
            O::I8x16AllTrue => self.all_true(I8x16)?,
            O::I16x8AllTrue => self.all_true(I16x8)?,
            O::I32x4AllTrue => self.all_true(I32x4)?,
            O::I64x2AllTrue => self.all_true(I64x2)?,
            O::I8x16Bitmask => self.bitmask(I8x16)?,
            O::I16x8Bitmask => self.bitmask(I16x8)?,
            O::I32x4Bitmask => self.bitmask(I32x4)?,
            O::I64x2Bitmask => self.bitmask(I64x2)?,

            O::I8x16Eq => self.compare(I8x16, P::EQ)?,
            O::I8x16Ne => self.compare(I8x16, P::NE)?,
            O::I8x16LtS => self.compare(I8x16, P::SLT)?,
            O::I8x16LtU => self.compare(I8x16, P::ULT)?,
            O::I8x16GtS => self.compare(I8x16, P::SGT)?,
            O::I8x16GtU => self.compare(I8x16, P::UGT)?,
            O::I8x16LeS => self.compare(I8x16, P::SLE)?,
            O::I8x16LeU => self.compare(I8x16, P::ULE)?,
            O::I8x16GeS => self.compare(I8x16, P::SGE)?,
            O::I8x16GeU => self.compare(I8x16, P::UGE)?,
            O::I16x8Eq => self.compare(I16x8, P::EQ)?,
            O::I16x8Ne => self.compare(I16x8, P::NE)?,
            O::I16x8LtS => self.compare(I16x8, P::SLT)?,
            O::I16x8LtU => self.compare(I16x8, P::ULT)?,
            O::I16x8GtS => self.compare(I16x8, P::SGT)?,
            O::I16x8GtU => self.compare(I16x8, P::UGT)?,
            O::I16x8LeS => self.compare(I16x8, P::SLE)?,
            O::I16x8LeU => self.compare(I16x8, P::ULE)?,
            O::I16x8GeS => self.compare(I16x8, P::SGE)?,
            O::I16x8GeU => self.compare(I16x8, P::UGE)?,
            O::I32x4Eq => self.compare(I32x4, P::EQ)?,
            O::I32x4Ne => self.compare(I32x4, P::NE)?,
            O::I32x4LtS => self.compare(I32x4, P::SLT)?,
            O::I32x4LtU => self.compare(I32x4, P::ULT)?,
            O::I32x4GtS => self.compare(I32x4, P::SGT)?,
            O::I32x4GtU => self.compare(I32x4, P::UGT)?,
            O::I32x4LeS => self.compare(I32x4, P::SLE)?,
            O::I32x4LeU => self.compare(I32x4, P::ULE)?,
            O::I32x4GeS => self.compare(I32x4, P::SGE)?,
            O::I32x4GeU => self.compare(I32x4, P::UGE)?,
            O::I64x2Eq => self.compare(I64x2, P::EQ)?,
            O::I64x2Ne => self.compare(I64x2, P::NE)?,
            O::I64x2LtS => self.compare(I64x2, P::SLT)?,
            O::I64x2GtS => self.compare(I64x2, P::SGT)?,
            O::I64x2LeS => self.compare(I64x2, P::SLE)?,
            O::I64x2GeS => self.compare(I64x2, P::SGE)?,

            O::I8x16Add => self.binary(I8x16, |b, l, r| b.build_int_add(l, r, ""))?,
            O::I16x8Add => self.binary(I16x8, |b, l, r| b.build_int_add(l, r, ""))?,
            O::I32x4Add => self.binary(I32x4, |b, l, r| b.build_int_add(l, r, ""))?,
            O::I64x2Add => self.binary(I64x2, |b, l, r| b.build_int_add(l, r, ""))?,
            O::I8x16Sub => self.binary(I8x16, |b, l, r| b.build_int_sub(l, r, ""))?,
            O::I16x8Sub => self.binary(I16x8, |b, l, r| b.build_int_sub(l, r, ""))?,
            O::I32x4Sub => self.binary(I32x4, |b, l, r| b.build_int_sub(l, r, ""))?,
            O::I64x2Sub => self.binary(I64x2, |b, l, r| b.build_int_sub(l, r, ""))?,
            O::I16x8Mul => self.binary(I16x8, |b, l, r| b.build_int_mul(l, r, ""))?,
            O::I32x4Mul => self.binary(I32x4, |b, l, r| b.build_int_mul(l, r, ""))?,
            O::I64x2Mul => self.binary(I64x2, |b, l, r| b.build_int_mul(l, r, ""))?,
            O::I8x16AddSatS => self.binary_intrinsic(I8x16, "llvm.sadd.sat")?,
            O::I8x16AddSatU => self.binary_intrinsic(I8x16, "llvm.uadd.sat")?,
            O::I8x16SubSatS => self.binary_intrinsic(I8x16, "llvm.ssub.sat")?,
            O::I8x16SubSatU => self.binary_intrinsic(I8x16, "llvm.usub.sat")?,
            O::I16x8AddSatS => self.binary_intrinsic(I16x8, "llvm.sadd.sat")?,
            O::I16x8AddSatU => self.binary_intrinsic(I16x8, "llvm.uadd.sat")?,
            O::I16x8SubSatS => self.binary_intrinsic(I16x8, "llvm.ssub.sat")?,
            O::I16x8SubSatU => self.binary_intrinsic(I16x8, "llvm.usub.sat")?,
            O::I8x16MinS => self.binary_intrinsic(I8x16, "llvm.smin")?,
            O::I8x16MinU => self.binary_intrinsic(I8x16, "llvm.umin")?,
            O::I8x16MaxS => self.binary_intrinsic(I8x16, "llvm.smax")?,
            O::I8x16MaxU => self.binary_intrinsic(I8x16, "llvm.umax")?,
            O::I16x8MinS => self.binary_intrinsic(I16x8, "llvm.smin")?,
            O::I16x8MinU => self.binary_intrinsic(I16x8, "llvm.umin")?,
            O::I16x8MaxS => self.binary_intrinsic(I16x8, "llvm.smax")?,
            O::I16x8MaxU => self.binary_intrinsic(I16x8, "llvm.umax")?,
            O::I32x4MinS => self.binary_intrinsic(I32x4, "llvm.smin")?,
            O::I32x4MinU => self.binary_intrinsic(I32x4, "llvm.umin")?,
            O::I32x4MaxS => self.binary_intrinsic(I32x4, "llvm.smax")?,
            O::I32x4MaxU => self.binary_intrinsic(I32x4, "llvm.umax")?,
            O::I8x16AvgrU => self.rounding_average(I8x16)?,
            O::I16x8AvgrU => self.rounding_average(I16x8)?,
            O::I8x16Abs => self.abs(I8x16)?,
            O::I16x8Abs => self.abs(I16x8)?,
            O::I32x4Abs => self.abs(I32x4)?,
            O::I64x2Abs => self.abs(I64x2)?,
            O::I8x16Neg => self.neg(I8x16)?,
            O::I16x8Neg => self.neg(I16x8)?,
            O::I32x4Neg => self.neg(I32x4)?,
            O::I64x2Neg => self.neg(I64x2)?,
            O::I8x16Popcnt => {
                let v = self.pop_vector(I8x16)?;
                let r = self.vector_intrinsic("llvm.ctpop", &[v.get_type().into()], &[v.into()])?;
                self.push_vector(r)?;
            }
            O::I16x8Q15MulrSatS => self.q15_multiply()?,

            O::I8x16Shl => self.shift_lanes(I8x16, Shift::Left)?,
            O::I8x16ShrS => self.shift_lanes(I8x16, Shift::RightSigned)?,
            O::I8x16ShrU => self.shift_lanes(I8x16, Shift::RightUnsigned)?,
            O::I16x8Shl => self.shift_lanes(I16x8, Shift::Left)?,
            O::I16x8ShrS => self.shift_lanes(I16x8, Shift::RightSigned)?,
            O::I16x8ShrU => self.shift_lanes(I16x8, Shift::RightUnsigned)?,
            O::I32x4Shl => self.shift_lanes(I32x4, Shift::Left)?,
            O::I32x4ShrS => self.shift_lanes(I32x4, Shift::RightSigned)?,
            O::I32x4ShrU => self.shift_lanes(I32x4, Shift::RightUnsigned)?,
            O::I64x2Shl => self.shift_lanes(I64x2, Shift::Left)?,
            O::I64x2ShrS => self.shift_lanes(I64x2, Shift::RightSigned)?,
            O::I64x2ShrU => self.shift_lanes(I64x2, Shift::RightUnsigned)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn binary(
        &mut self,
        shape: Shape,
        f: impl FnOnce(&Builder<'ctx>, VectorValue<'ctx>, VectorValue<'ctx>) -> Built<'ctx>,
    ) -> Result<()> {
        let r = self.pop_vector(shape)?;
        let l = self.pop_vector(shape)?;
        let v = f(&self.b, l, r)?;
        self.push_vector(v)
    }

    fn binary_intrinsic(&mut self, shape: Shape, name: &str) -> Result<()> {
        let r = self.pop_vector(shape)?;
        let l = self.pop_vector(shape)?;
        let v = self.vector_intrinsic(name, &[l.get_type().into()], &[l.into(), r.into()])?;
        self.push_vector(v)
    }

    /// An i1 as the i32 0 or 1.
    fn push_flag(&mut self, c: inkwell::values::IntValue<'ctx>) -> Result<()> {
        let v = self.b.build_int_z_extend(c, self.env.ctx.i32_type(), "")?;
        self.push(v);
        Ok(())
    }

    /// Lane-wise comparison: all ones where it holds, zero elsewhere.
    fn compare(&mut self, shape: Shape, predicate: IntPredicate) -> Result<()> {
        let r = self.pop_vector(shape)?;
        let l = self.pop_vector(shape)?;
        let c = self.b.build_int_compare(predicate, l, r, "")?;
        let v = self
            .b
            .build_int_s_extend(c, shape.vector_type(self.env.ctx), "")?;
        self.push_vector(v)
    }

    fn all_true(&mut self, shape: Shape) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let zero = v.get_type().const_zero();
        let nonzero = self.b.build_int_compare(IntPredicate::NE, v, zero, "")?;
        let all = self
            .call_intrinsic(
                "llvm.vector.reduce.and",
                &[nonzero.get_type().into()],
                &[nonzero.into()],
            )?
            .into_int_value();
        self.push_flag(all)
    }

    /// The lanes' sign bits, lane 0 in bit 0.
    fn bitmask(&mut self, shape: Shape) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let zero = v.get_type().const_zero();
        let negative = self.b.build_int_compare(IntPredicate::SLT, v, zero, "")?;
        let ctx = self.env.ctx;
        let bits = self
            .b
            .build_bit_cast(negative, int_type(ctx, shape.lanes()), "")?
            .into_int_value();
        let r = self.b.build_int_z_extend(bits, ctx.i32_type(), "")?;
        self.push(r);
        Ok(())
    }

    /// `avgr_u`: `(a + b + 1) / 2` without overflow, computed in lanes twice as wide.
    fn rounding_average(&mut self, shape: Shape) -> Result<()> {
        let r = self.pop_vector(shape)?;
        let l = self.pop_vector(shape)?;
        let ctx = self.env.ctx;
        let wide = int_type(ctx, 2 * shape.lane_bits()).vec_type(shape.lanes());
        let (wl, wr) = (
            self.b.build_int_z_extend(l, wide, "")?,
            self.b.build_int_z_extend(r, wide, "")?,
        );
        let sum = self.b.build_int_add(wl, wr, "")?;
        let one = inkwell::types::VectorType::const_vector(&vec![
            wide.get_element_type()
                .into_int_type()
                .const_int(1, false);
            shape.lanes() as usize
        ]);
        let sum = self.b.build_int_add(sum, one, "")?;
        let half = self.b.build_right_shift(sum, one, false, "")?;
        let v = self
            .b
            .build_int_truncate(half, shape.vector_type(ctx), "")?;
        self.push_vector(v)
    }

    /// `abs`: the most negative value stays itself (wraps).
    fn abs(&mut self, shape: Shape) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let poison_on_min = self.env.ctx.bool_type().const_zero();
        let r = self.vector_intrinsic(
            "llvm.abs",
            &[v.get_type().into()],
            &[v.into(), poison_on_min.into()],
        )?;
        self.push_vector(r)
    }

    fn neg(&mut self, shape: Shape) -> Result<()> {
        let v = self.pop_vector(shape)?;
        let r = self.b.build_int_sub(v.get_type().const_zero(), v, "")?;
        self.push_vector(r)
    }

    /// Shifts take the count modulo the lane width (LLVM would make larger counts poison).
    fn shift_lanes(&mut self, shape: Shape, kind: Shift) -> Result<()> {
        let count = self.pop_int();
        let v = self.pop_vector(shape)?;
        let lane = shape.lane_type(self.env.ctx).into_int_type();
        let mask = count
            .get_type()
            .const_int(u64::from(shape.lane_bits() - 1), false);
        let count = self.b.build_and(count, mask, "")?;
        let count = self.b.build_int_cast(count, lane, "")?;
        let counts = self.splat(count.into(), shape.lanes())?;
        let r = match kind {
            Shift::Left => self.b.build_left_shift(v, counts, "")?,
            Shift::RightSigned => self.b.build_right_shift(v, counts, true, "")?,
            Shift::RightUnsigned => self.b.build_right_shift(v, counts, false, "")?,
        };
        self.push_vector(r)
    }

    /// `i16x8.q15mulr_sat_s`: `(a * b + 0x4000) >> 15`, saturated (only -32768 * -32768
    /// overflows), computed in i32 lanes.
    fn q15_multiply(&mut self) -> Result<()> {
        let r = self.pop_vector(Shape::I16x8)?;
        let l = self.pop_vector(Shape::I16x8)?;
        let ctx = self.env.ctx;
        let wide = ctx.i32_type().vec_type(8);
        let splat32 = |v: u64| {
            inkwell::types::VectorType::const_vector(&[ctx.i32_type().const_int(v, false); 8])
        };
        let (wl, wr) = (
            self.b.build_int_s_extend(l, wide, "")?,
            self.b.build_int_s_extend(r, wide, "")?,
        );
        let product = self.b.build_int_mul(wl, wr, "")?;
        let rounded = self.b.build_int_add(product, splat32(0x4000), "")?;
        let shifted = self.b.build_right_shift(rounded, splat32(15), true, "")?;
        let clamped = self.vector_intrinsic(
            "llvm.smin",
            &[wide.into()],
            &[shifted.into(), splat32(0x7fff).into()],
        )?;
        let v = self
            .b
            .build_int_truncate(clamped, Shape::I16x8.vector_type(ctx), "")?;
        self.push_vector(v)
    }
}
