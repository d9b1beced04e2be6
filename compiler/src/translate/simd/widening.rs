//! Operations between lane widths: `extend_low/high` (half the lanes, twice as wide),
//! `extmul_low/high` (products of those), `extadd_pairwise` (sums of neighbours),
//! `i32x4.dot_i16x8_s`, and `narrow` (two vectors into one of lanes half as wide, saturated).

use super::{FunctionTranslator, Result, Shape, int_type};
use inkwell::types::VectorType;
use inkwell::values::VectorValue;
use wasmparser::Operator;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Low,
    High,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn simd_widening(&mut self, op: &Operator<'a>) -> Result<bool> {
        use Half::*;
        use Operator as O;
        use Shape::*;
        match op {
            O::I16x8ExtendLowI8x16S => self.extend(I8x16, Low, true)?,
            O::I16x8ExtendHighI8x16S => self.extend(I8x16, High, true)?,
            O::I16x8ExtendLowI8x16U => self.extend(I8x16, Low, false)?,
            O::I16x8ExtendHighI8x16U => self.extend(I8x16, High, false)?,
            O::I32x4ExtendLowI16x8S => self.extend(I16x8, Low, true)?,
            O::I32x4ExtendHighI16x8S => self.extend(I16x8, High, true)?,
            O::I32x4ExtendLowI16x8U => self.extend(I16x8, Low, false)?,
            O::I32x4ExtendHighI16x8U => self.extend(I16x8, High, false)?,
            O::I64x2ExtendLowI32x4S => self.extend(I32x4, Low, true)?,
            O::I64x2ExtendHighI32x4S => self.extend(I32x4, High, true)?,
            O::I64x2ExtendLowI32x4U => self.extend(I32x4, Low, false)?,
            O::I64x2ExtendHighI32x4U => self.extend(I32x4, High, false)?,
            O::I16x8ExtMulLowI8x16S => self.extended_multiply(I8x16, Low, true)?,
            O::I16x8ExtMulHighI8x16S => self.extended_multiply(I8x16, High, true)?,
            O::I16x8ExtMulLowI8x16U => self.extended_multiply(I8x16, Low, false)?,
            O::I16x8ExtMulHighI8x16U => self.extended_multiply(I8x16, High, false)?,
            O::I32x4ExtMulLowI16x8S => self.extended_multiply(I16x8, Low, true)?,
            O::I32x4ExtMulHighI16x8S => self.extended_multiply(I16x8, High, true)?,
            O::I32x4ExtMulLowI16x8U => self.extended_multiply(I16x8, Low, false)?,
            O::I32x4ExtMulHighI16x8U => self.extended_multiply(I16x8, High, false)?,
            O::I64x2ExtMulLowI32x4S => self.extended_multiply(I32x4, Low, true)?,
            O::I64x2ExtMulHighI32x4S => self.extended_multiply(I32x4, High, true)?,
            O::I64x2ExtMulLowI32x4U => self.extended_multiply(I32x4, Low, false)?,
            O::I64x2ExtMulHighI32x4U => self.extended_multiply(I32x4, High, false)?,
            O::I16x8ExtAddPairwiseI8x16S => self.add_pairs(I8x16, true)?,
            O::I16x8ExtAddPairwiseI8x16U => self.add_pairs(I8x16, false)?,
            O::I32x4ExtAddPairwiseI16x8S => self.add_pairs(I16x8, true)?,
            O::I32x4ExtAddPairwiseI16x8U => self.add_pairs(I16x8, false)?,
            O::I32x4DotI16x8S => {
                let r = self.pop_vector(I16x8)?;
                let l = self.pop_vector(I16x8)?;
                let (l, r) = (self.widen(l, true)?, self.widen(r, true)?);
                let products = self.b.build_int_mul(l, r, "")?;
                let v = self.sum_of_pairs(products)?;
                self.push_vector(v)?;
            }
            O::I8x16NarrowI16x8S => self.narrow(I16x8, true)?,
            O::I8x16NarrowI16x8U => self.narrow(I16x8, false)?,
            O::I16x8NarrowI32x4S => self.narrow(I32x4, true)?,
            O::I16x8NarrowI32x4U => self.narrow(I32x4, false)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Every lane of `v` extended to twice its width.
    fn widen(&self, v: VectorValue<'ctx>, signed: bool) -> Result<VectorValue<'ctx>> {
        let ty = v.get_type();
        let bits = ty.get_element_type().into_int_type().get_bit_width();
        let wide = int_type(self.env.ctx, 2 * bits).vec_type(ty.get_size());
        Ok(if signed {
            self.b.build_int_s_extend(v, wide, "")?
        } else {
            self.b.build_int_z_extend(v, wide, "")?
        })
    }

    /// Half of the lanes of a popped `narrow` vector, each twice as wide.
    fn pop_widened_half(
        &mut self,
        narrow: Shape,
        half: Half,
        signed: bool,
    ) -> Result<VectorValue<'ctx>> {
        let v = self.pop_vector(narrow)?;
        let v = self.half(v, half == Half::High)?;
        self.widen(v, signed)
    }

    fn extend(&mut self, narrow: Shape, half: Half, signed: bool) -> Result<()> {
        let v = self.pop_widened_half(narrow, half, signed)?;
        self.push_vector(v)
    }

    fn extended_multiply(&mut self, narrow: Shape, half: Half, signed: bool) -> Result<()> {
        let r = self.pop_widened_half(narrow, half, signed)?;
        let l = self.pop_widened_half(narrow, half, signed)?;
        let v = self.b.build_int_mul(l, r, "")?;
        self.push_vector(v)
    }

    /// Lane i of the result is lane 2i + lane 2i+1 of `v`.
    fn sum_of_pairs(&self, v: VectorValue<'ctx>) -> Result<VectorValue<'ctx>> {
        let even = self.every_other(v, 0)?;
        let odd = self.every_other(v, 1)?;
        Ok(self.b.build_int_add(even, odd, "")?)
    }

    fn add_pairs(&mut self, narrow: Shape, signed: bool) -> Result<()> {
        let v = self.pop_vector(narrow)?;
        let wide = self.widen(v, signed)?;
        let v = self.sum_of_pairs(wide)?;
        self.push_vector(v)
    }

    /// `narrow_s`/`narrow_u`: the lanes of `a` then `b` (of shape `wide`, read as signed),
    /// each clamped to the signed or unsigned range of half its width.
    fn narrow(&mut self, wide: Shape, signed: bool) -> Result<()> {
        let b = self.pop_vector(wide)?;
        let a = self.pop_vector(wide)?;
        let both = self.concat(a, b)?;
        let ty = both.get_type();
        let half_bits = wide.lane_bits() / 2;
        let (low, high) = if signed {
            (-(1i64 << (half_bits - 1)), (1i64 << (half_bits - 1)) - 1)
        } else {
            (0, (1i64 << half_bits) - 1)
        };
        let lane = ty.get_element_type().into_int_type();
        let splat = |v: i64| {
            VectorType::const_vector(&vec![
                lane.const_int(v as u64, true);
                ty.get_size() as usize
            ])
        };
        let clamped =
            self.vector_intrinsic("llvm.smax", &[ty.into()], &[both.into(), splat(low).into()])?;
        let clamped = self.vector_intrinsic(
            "llvm.smin",
            &[ty.into()],
            &[clamped.into(), splat(high).into()],
        )?;
        let narrow = int_type(self.env.ctx, half_bits).vec_type(ty.get_size());
        let v = self.b.build_int_truncate(clamped, narrow, "")?;
        self.push_vector(v)
    }
}
