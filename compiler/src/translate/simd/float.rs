//! Lane-wise float arithmetic, comparisons, `min`/`max` (NaN-propagating, -0 < +0),
//! `pmin`/`pmax` (`b < a ? b : a`), rounding, `abs`, `neg` and `sqrt`, with the spec's NaN
//! rules: a NaN result is quiet, and canonical when every NaN operand is.

use super::{FunctionTranslator, Result, Shape};
use inkwell::FloatPredicate;
use inkwell::builder::{Builder, BuilderError};
use inkwell::types::BasicTypeEnum;
use inkwell::values::VectorValue;
use wasmparser::Operator;

/// What a lane-wise float operation built by `arithmetic` returns.
type Built<'ctx> = core::result::Result<VectorValue<'ctx>, BuilderError>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rounding {
    Ceil,
    Floor,
    Trunc,
    Nearest,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn simd_float(&mut self, op: &Operator<'a>) -> Result<bool> {
        use FloatPredicate as P;
        use Operator as O;
        use Shape::*;
        match op {
            O::F32x4Eq => self.float_compare(F32x4, P::OEQ)?,
            O::F32x4Ne => self.float_compare(F32x4, P::UNE)?,
            O::F32x4Lt => self.float_compare(F32x4, P::OLT)?,
            O::F32x4Gt => self.float_compare(F32x4, P::OGT)?,
            O::F32x4Le => self.float_compare(F32x4, P::OLE)?,
            O::F32x4Ge => self.float_compare(F32x4, P::OGE)?,
            O::F64x2Eq => self.float_compare(F64x2, P::OEQ)?,
            O::F64x2Ne => self.float_compare(F64x2, P::UNE)?,
            O::F64x2Lt => self.float_compare(F64x2, P::OLT)?,
            O::F64x2Gt => self.float_compare(F64x2, P::OGT)?,
            O::F64x2Le => self.float_compare(F64x2, P::OLE)?,
            O::F64x2Ge => self.float_compare(F64x2, P::OGE)?,

            O::F32x4Add => self.arithmetic(F32x4, |b, l, r| b.build_float_add(l, r, ""))?,
            O::F32x4Sub => self.arithmetic(F32x4, |b, l, r| b.build_float_sub(l, r, ""))?,
            O::F32x4Mul => self.arithmetic(F32x4, |b, l, r| b.build_float_mul(l, r, ""))?,
            O::F32x4Div => self.arithmetic(F32x4, |b, l, r| b.build_float_div(l, r, ""))?,
            O::F64x2Add => self.arithmetic(F64x2, |b, l, r| b.build_float_add(l, r, ""))?,
            O::F64x2Sub => self.arithmetic(F64x2, |b, l, r| b.build_float_sub(l, r, ""))?,
            O::F64x2Mul => self.arithmetic(F64x2, |b, l, r| b.build_float_mul(l, r, ""))?,
            O::F64x2Div => self.arithmetic(F64x2, |b, l, r| b.build_float_div(l, r, ""))?,
            O::F32x4Min => self.float_min_max(F32x4, true)?,
            O::F32x4Max => self.float_min_max(F32x4, false)?,
            O::F64x2Min => self.float_min_max(F64x2, true)?,
            O::F64x2Max => self.float_min_max(F64x2, false)?,
            O::F32x4PMin => self.pseudo_min_max(F32x4, true)?,
            O::F32x4PMax => self.pseudo_min_max(F32x4, false)?,
            O::F64x2PMin => self.pseudo_min_max(F64x2, true)?,
            O::F64x2PMax => self.pseudo_min_max(F64x2, false)?,

            O::F32x4Abs => self.float_unary(F32x4, "llvm.fabs")?,
            O::F64x2Abs => self.float_unary(F64x2, "llvm.fabs")?,
            O::F32x4Sqrt => self.float_unary(F32x4, "llvm.sqrt")?,
            O::F64x2Sqrt => self.float_unary(F64x2, "llvm.sqrt")?,
            O::F32x4Neg | O::F64x2Neg => {
                let shape = if matches!(op, O::F32x4Neg) {
                    F32x4
                } else {
                    F64x2
                };
                let v = self.pop_vector(shape)?;
                let r = self.b.build_float_neg(v, "")?;
                self.push_vector(r)?;
            }
            O::F32x4Ceil => self.round_lanes(F32x4, Rounding::Ceil)?,
            O::F32x4Floor => self.round_lanes(F32x4, Rounding::Floor)?,
            O::F32x4Trunc => self.round_lanes(F32x4, Rounding::Trunc)?,
            O::F32x4Nearest => self.round_lanes(F32x4, Rounding::Nearest)?,
            O::F64x2Ceil => self.round_lanes(F64x2, Rounding::Ceil)?,
            O::F64x2Floor => self.round_lanes(F64x2, Rounding::Floor)?,
            O::F64x2Trunc => self.round_lanes(F64x2, Rounding::Trunc)?,
            O::F64x2Nearest => self.round_lanes(F64x2, Rounding::Nearest)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Pops a float vector for arithmetic. LLVM's default floating-point environment folds
    /// `x * 1`, `x - 0`, `x / -1` ... into `x` or `-x`, which loses the quieting of a
    /// signalling NaN that wasm requires; an arithmetic fence (no code) makes a constant
    /// operand opaque to those folds.
    fn pop_arithmetic_operand(&mut self, shape: Shape) -> Result<VectorValue<'ctx>> {
        let v = self.pop_vector(shape)?;
        if !v.is_const() {
            return Ok(v);
        }
        self.vector_intrinsic("llvm.arithmetic.fence", &[v.get_type().into()], &[v.into()])
    }

    fn arithmetic(
        &mut self,
        shape: Shape,
        f: impl FnOnce(&Builder<'ctx>, VectorValue<'ctx>, VectorValue<'ctx>) -> Built<'ctx>,
    ) -> Result<()> {
        let r = self.pop_arithmetic_operand(shape)?;
        let l = self.pop_arithmetic_operand(shape)?;
        let v = f(&self.b, l, r)?;
        self.push_vector(v)
    }

    fn float_unary(&mut self, shape: Shape, intrinsic: &str) -> Result<()> {
        let v = self.pop_arithmetic_operand(shape)?;
        let r = self.vector_intrinsic(intrinsic, &[v.get_type().into()], &[v.into()])?;
        self.push_vector(r)
    }

    /// Lane-wise comparison: all ones where it holds, zero elsewhere.
    fn float_compare(&mut self, shape: Shape, predicate: FloatPredicate) -> Result<()> {
        let r = self.pop_vector(shape)?;
        let l = self.pop_vector(shape)?;
        let c = self.b.build_float_compare(predicate, l, r, "")?;
        let mask = shape.integer().vector_type(self.env.ctx);
        let v = self.b.build_int_s_extend(c, mask, "")?;
        self.push_vector(v)
    }

    /// `min`/`max`. NEON's `fmin`/`fmax` are wasm's (`llvm.minimum`/`maximum`). x86 has no
    /// such instruction (`minps` returns its second operand for a NaN or two zeros), so there
    /// it is built lane-wise: a NaN operand gives their sum (a quiet NaN, of one operand's
    /// payload), a smaller/larger operand wins, and of two equal ones (also -0 and +0) the
    /// bitwise OR (min: -0 wins) or AND (max: +0 wins) is taken.
    fn float_min_max(&mut self, shape: Shape, min: bool) -> Result<()> {
        let r = self.pop_arithmetic_operand(shape)?;
        let l = self.pop_arithmetic_operand(shape)?;
        let ty: BasicTypeEnum<'ctx> = l.get_type().into();
        if !self.env.opts.target.is_x86() {
            let name = if min { "llvm.minimum" } else { "llvm.maximum" };
            let v = self.vector_intrinsic(name, &[ty], &[l.into(), r.into()])?;
            return self.push_vector(v);
        }
        let (wins_left, wins_right) = if min {
            (FloatPredicate::OLT, FloatPredicate::OGT)
        } else {
            (FloatPredicate::OGT, FloatPredicate::OLT)
        };
        let bits = shape.integer().vector_type(self.env.ctx);
        let (li, ri) = (
            self.b.build_bit_cast(l, bits, "")?.into_vector_value(),
            self.b.build_bit_cast(r, bits, "")?.into_vector_value(),
        );
        let equal = if min {
            self.b.build_or(li, ri, "")?
        } else {
            self.b.build_and(li, ri, "")?
        };
        let equal = self.b.build_bit_cast(equal, ty, "")?;
        let left = self.b.build_float_compare(wins_left, l, r, "")?;
        let right = self.b.build_float_compare(wins_right, l, r, "")?;
        let v = self
            .b
            .build_select(right, r, equal.into_vector_value(), "")?;
        let v = self.b.build_select(left, l, v.into_vector_value(), "")?;
        let nan = self.b.build_float_compare(FloatPredicate::UNO, l, r, "")?;
        let sum = self.b.build_float_add(l, r, "")?;
        let v = self.b.build_select(nan, sum, v.into_vector_value(), "")?;
        self.push_vector(v.into_vector_value())
    }

    /// `pmin`: `b < a ? b : a`; `pmax`: `a < b ? b : a` (one operand's bits, NaNs included).
    fn pseudo_min_max(&mut self, shape: Shape, min: bool) -> Result<()> {
        let b = self.pop_vector(shape)?;
        let a = self.pop_vector(shape)?;
        let (x, y) = if min { (b, a) } else { (a, b) };
        let b_wins = self.b.build_float_compare(FloatPredicate::OLT, x, y, "")?;
        let v = self.b.build_select(b_wins, b, a, "")?;
        self.push_vector(v.into_vector_value())
    }

    /// Rounding to an integral value. Without SSE4.1 (the x86-64 baseline) LLVM would call
    /// libm for each lane, which no runtime links, so there it is built from vector
    /// arithmetic instead (see [`Self::round_lanes_in_software`]).
    fn round_lanes(&mut self, shape: Shape, mode: Rounding) -> Result<()> {
        let x = self.pop_arithmetic_operand(shape)?;
        let r = if self.hardware_rounding() {
            let name = match mode {
                Rounding::Ceil => "llvm.ceil",
                Rounding::Floor => "llvm.floor",
                Rounding::Trunc => "llvm.trunc",
                Rounding::Nearest => "llvm.roundeven",
            };
            self.vector_intrinsic(name, &[x.get_type().into()], &[x.into()])?
        } else {
            self.round_lanes_in_software(shape, mode, x)?
        };
        self.push_vector(r)
    }

    /// Each lane with |x| < 2^M (M the mantissa width) is rounded to the nearest even
    /// integer by `(|x| + 2^M) - 2^M` (exact in the default rounding mode), moved by one
    /// towards the wanted direction where that overshot, and given `x`'s sign (which every
    /// ceil/floor/trunc/nearest result has, zeros included). Other lanes are integers, infinite
    /// or NaN already: `x + 0` leaves them as they are and quiets a signalling NaN.
    fn round_lanes_in_software(
        &mut self,
        shape: Shape,
        mode: Rounding,
        x: VectorValue<'ctx>,
    ) -> Result<VectorValue<'ctx>> {
        use FloatPredicate::{OGT, OLT};
        let ty: BasicTypeEnum<'ctx> = x.get_type().into();
        let mantissa_bits = if shape == Shape::F32x4 { 23 } else { 52 };
        let two_pow_m = self.splat_float(shape, (1u64 << mantissa_bits) as f64);
        let one = self.splat_float(shape, 1.0);
        let ax = self.vector_intrinsic("llvm.fabs", &[ty], &[x.into()])?;
        let up = self.b.build_float_add(ax, two_pow_m, "")?;
        let nearest = self.b.build_float_sub(up, two_pow_m, "")?;
        let with_sign = |t: &Self, v: VectorValue<'ctx>| -> Result<VectorValue<'ctx>> {
            t.vector_intrinsic("llvm.copysign", &[ty], &[v.into(), x.into()])
        };
        let step = |t: &Self,
                    overshot: FloatPredicate,
                    of: VectorValue<'ctx>,
                    than: VectorValue<'ctx>,
                    down: bool| {
            let c = t.b.build_float_compare(overshot, of, than, "")?;
            let moved = if down {
                t.b.build_float_sub(of, one, "")?
            } else {
                t.b.build_float_add(of, one, "")?
            };
            Ok::<_, crate::CompileError>(t.b.build_select(c, moved, of, "")?.into_vector_value())
        };
        let rounded = match mode {
            Rounding::Nearest => nearest,
            Rounding::Trunc => step(self, OGT, nearest, ax, true)?,
            Rounding::Floor => {
                let n = with_sign(self, nearest)?;
                step(self, OGT, n, x, true)?
            }
            Rounding::Ceil => {
                let n = with_sign(self, nearest)?;
                step(self, OLT, n, x, false)?
            }
        };
        let rounded = with_sign(self, rounded)?;
        let small = self.b.build_float_compare(OLT, ax, two_pow_m, "")?;
        let as_is = self.b.build_float_add(x, x.get_type().const_zero(), "")?;
        Ok(self
            .b
            .build_select(small, rounded, as_is, "")?
            .into_vector_value())
    }
}
