//! Conversions between float and integer lanes (`trunc_sat`, `convert`) and between the float
//! widths (`demote`, `promote`).

use super::{FunctionTranslator, Result, Shape};
use inkwell::values::VectorValue;
use wasmparser::Operator;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn simd_convert(&mut self, op: &Operator<'a>) -> Result<bool> {
        use Operator as O;
        use Shape::*;
        let ctx = self.env.ctx;
        match op {
            O::I32x4TruncSatF32x4S | O::I32x4TruncSatF32x4U => {
                let signed = matches!(op, O::I32x4TruncSatF32x4S);
                let v = self.pop_vector(F32x4)?;
                let r = self.truncate_lanes_saturating(v, signed)?;
                self.push_vector(r)?;
            }
            O::I32x4TruncSatF64x2SZero | O::I32x4TruncSatF64x2UZero => {
                let signed = matches!(op, O::I32x4TruncSatF64x2SZero);
                let v = self.pop_vector(F64x2)?;
                let r = self.truncate_lanes_saturating(v, signed)?;
                let zero = r.get_type().const_zero();
                let r = self.concat(r, zero)?;
                self.push_vector(r)?;
            }
            O::F32x4ConvertI32x4S | O::F32x4ConvertI32x4U => {
                let v = self.pop_vector(I32x4)?;
                let r = self.int_to_float(v, matches!(op, O::F32x4ConvertI32x4S))?;
                self.push_vector(r)?;
            }
            O::F64x2ConvertLowI32x4S | O::F64x2ConvertLowI32x4U => {
                let v = self.pop_vector(I32x4)?;
                let low = self.half(v, false)?;
                let r = self.int_to_float(low, matches!(op, O::F64x2ConvertLowI32x4S))?;
                self.push_vector(r)?;
            }
            O::F32x4DemoteF64x2Zero => {
                let v = self.pop_vector(F64x2)?;
                let r = self
                    .b
                    .build_float_trunc(v, ctx.f32_type().vec_type(2), "")?;
                let zero = r.get_type().const_zero();
                let r = self.concat(r, zero)?;
                self.push_vector(r)?;
            }
            O::F64x2PromoteLowF32x4 => {
                let v = self.pop_vector(F32x4)?;
                let low = self.half(v, false)?;
                let r = self
                    .b
                    .build_float_ext(low, ctx.f64_type().vec_type(2), "")?;
                // demote(promote(x)) must still quiet a signalling NaN; LLVM would fold it to x.
                let r = self.vector_intrinsic(
                    "llvm.arithmetic.fence",
                    &[r.get_type().into()],
                    &[r.into()],
                )?;
                self.push_vector(r)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Each float lane to an i32 lane, NaN to 0 and out-of-range values to the nearest bound.
    fn truncate_lanes_saturating(
        &self,
        v: VectorValue<'ctx>,
        signed: bool,
    ) -> Result<VectorValue<'ctx>> {
        let lanes = v.get_type().get_size();
        let int = self.env.ctx.i32_type().vec_type(lanes);
        let name = if signed {
            "llvm.fptosi.sat"
        } else {
            "llvm.fptoui.sat"
        };
        self.vector_intrinsic(name, &[int.into(), v.get_type().into()], &[v.into()])
    }

    /// Each i32 lane to a float lane of the same count (f32 for 4 lanes, f64 for 2).
    fn int_to_float(&self, v: VectorValue<'ctx>, signed: bool) -> Result<VectorValue<'ctx>> {
        let ctx = self.env.ctx;
        let float = match v.get_type().get_size() {
            4 => ctx.f32_type().vec_type(4),
            _ => ctx.f64_type().vec_type(2),
        };
        Ok(if signed {
            self.b.build_signed_int_to_float(v, float, "")?
        } else {
            self.b.build_unsigned_int_to_float(v, float, "")?
        })
    }
}
