//! Constants, integer and float arithmetic, comparisons and conversions, with the spec's trap
//! and NaN semantics (nothing is left to LLVM's undefined behaviour or poison).

use super::{FunctionTranslator, Result};
use inkwell::builder::{Builder, BuilderError};
use inkwell::types::{BasicTypeEnum, FloatType, IntType};
use inkwell::values::{BasicValueEnum, FloatValue, IntValue};
use inkwell::{FloatPredicate, IntPredicate};
use mewz_abi::TrapCode;
use wasmparser::Operator;

/// What an integer operation built by `ibin`/`shift` returns.
type Built<'ctx> = core::result::Result<IntValue<'ctx>, BuilderError>;

#[derive(Clone, Copy)]
enum Rounding {
    Ceil,
    Floor,
    Trunc,
    Nearest,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn numeric(&mut self, op: &Operator<'a>) -> Result<bool> {
        use Operator as O;
        let ctx = self.env.ctx;
        let (i32t, i64t, f32t, f64t) = (
            ctx.i32_type(),
            ctx.i64_type(),
            ctx.f32_type(),
            ctx.f64_type(),
        );
        let bound = match op {
            O::I32And | O::I32Shl | O::I32ShrU => self.result_bound(op),
            _ => None,
        };
        match op {
            O::I32Const { value } => self.push(i32t.const_int(*value as u32 as u64, false)),
            O::I64Const { value } => self.push(i64t.const_int(*value as u64, false)),
            O::F32Const { value } => {
                let bits = i32t.const_int(value.bits() as u64, false);
                let v = self.b.build_bit_cast(bits, f32t, "")?;
                let v = self.fence_identity_constant(v, f32::from_bits(value.bits()) as f64)?;
                self.push(v);
            }
            O::F64Const { value } => {
                let bits = i64t.const_int(value.bits(), false);
                let v = self.b.build_bit_cast(bits, f64t, "")?;
                let v = self.fence_identity_constant(v, f64::from_bits(value.bits()))?;
                self.push(v);
            }

            O::I32Eqz | O::I64Eqz => {
                let v = self.pop_int();
                let c =
                    self.b
                        .build_int_compare(IntPredicate::EQ, v, v.get_type().const_zero(), "")?;
                self.push_bool(c)?;
            }
            O::I32Eq | O::I64Eq => self.icmp(IntPredicate::EQ)?,
            O::I32Ne | O::I64Ne => self.icmp(IntPredicate::NE)?,
            O::I32LtS | O::I64LtS => self.icmp(IntPredicate::SLT)?,
            O::I32LtU | O::I64LtU => self.icmp(IntPredicate::ULT)?,
            O::I32GtS | O::I64GtS => self.icmp(IntPredicate::SGT)?,
            O::I32GtU | O::I64GtU => self.icmp(IntPredicate::UGT)?,
            O::I32LeS | O::I64LeS => self.icmp(IntPredicate::SLE)?,
            O::I32LeU | O::I64LeU => self.icmp(IntPredicate::ULE)?,
            O::I32GeS | O::I64GeS => self.icmp(IntPredicate::SGE)?,
            O::I32GeU | O::I64GeU => self.icmp(IntPredicate::UGE)?,
            O::F32Eq | O::F64Eq => self.fcmp(FloatPredicate::OEQ)?,
            O::F32Ne | O::F64Ne => self.fcmp(FloatPredicate::UNE)?,
            O::F32Lt | O::F64Lt => self.fcmp(FloatPredicate::OLT)?,
            O::F32Gt | O::F64Gt => self.fcmp(FloatPredicate::OGT)?,
            O::F32Le | O::F64Le => self.fcmp(FloatPredicate::OLE)?,
            O::F32Ge | O::F64Ge => self.fcmp(FloatPredicate::OGE)?,

            O::I32Clz | O::I64Clz => self.count("llvm.ctlz", true)?,
            O::I32Ctz | O::I64Ctz => self.count("llvm.cttz", true)?,
            O::I32Popcnt | O::I64Popcnt => self.count("llvm.ctpop", false)?,
            O::I32Add => self.i32_add()?,
            O::I64Add => self.ibin(|b, l, r| b.build_int_add(l, r, ""))?,
            O::I32Sub | O::I64Sub => self.ibin(|b, l, r| b.build_int_sub(l, r, ""))?,
            O::I32Mul | O::I64Mul => self.ibin(|b, l, r| b.build_int_mul(l, r, ""))?,
            O::I32And | O::I64And => self.ibin(|b, l, r| b.build_and(l, r, ""))?,
            O::I32Or | O::I64Or => self.ibin(|b, l, r| b.build_or(l, r, ""))?,
            O::I32Xor | O::I64Xor => self.ibin(|b, l, r| b.build_xor(l, r, ""))?,
            O::I32Shl | O::I64Shl => self.shift(|b, l, r| b.build_left_shift(l, r, ""))?,
            O::I32ShrS | O::I64ShrS => self.shift(|b, l, r| b.build_right_shift(l, r, true, ""))?,
            O::I32ShrU | O::I64ShrU => {
                self.shift(|b, l, r| b.build_right_shift(l, r, false, ""))?
            }
            O::I32Rotl | O::I64Rotl => self.rotate("llvm.fshl")?,
            O::I32Rotr | O::I64Rotr => self.rotate("llvm.fshr")?,
            O::I32DivU | O::I64DivU => self.divide(false, false)?,
            O::I32DivS | O::I64DivS => self.divide(true, false)?,
            O::I32RemU | O::I64RemU => self.divide(false, true)?,
            O::I32RemS | O::I64RemS => self.divide(true, true)?,

            O::F32Abs | O::F64Abs => self.funary("llvm.fabs")?,
            O::F32Sqrt | O::F64Sqrt => self.funary("llvm.sqrt")?,
            O::F32Neg | O::F64Neg => {
                let v = self.pop().into_float_value();
                let r = self.b.build_float_neg(v, "")?;
                self.push(r);
            }
            O::F32Ceil | O::F64Ceil => self.round(Rounding::Ceil)?,
            O::F32Floor | O::F64Floor => self.round(Rounding::Floor)?,
            O::F32Trunc | O::F64Trunc => self.round(Rounding::Trunc)?,
            O::F32Nearest | O::F64Nearest => self.round(Rounding::Nearest)?,
            O::F32Add | O::F64Add => self.fbin(|b, l, r| b.build_float_add(l, r, ""))?,
            O::F32Sub | O::F64Sub => self.fbin(|b, l, r| b.build_float_sub(l, r, ""))?,
            O::F32Mul | O::F64Mul => self.fbin(|b, l, r| b.build_float_mul(l, r, ""))?,
            O::F32Div | O::F64Div => self.fbin(|b, l, r| b.build_float_div(l, r, ""))?,
            O::F32Min | O::F64Min => self.min_max("llvm.minimum")?,
            O::F32Max | O::F64Max => self.min_max("llvm.maximum")?,
            O::F32Copysign | O::F64Copysign => self.fbinary_intrinsic("llvm.copysign")?,

            O::I32WrapI64 => {
                let v = self.pop_int();
                let r = self.b.build_int_truncate(v, i32t, "")?;
                self.push(r);
            }
            O::I64ExtendI32S => {
                let v = self.pop_int();
                let r = self.b.build_int_s_extend(v, i64t, "")?;
                self.push(r);
            }
            O::I64ExtendI32U => {
                let v = self.pop_int();
                let r = self.b.build_int_z_extend(v, i64t, "")?;
                self.push(r);
            }
            O::I32Extend8S => self.sign_extend_from(8)?,
            O::I32Extend16S => self.sign_extend_from(16)?,
            O::I64Extend8S => self.sign_extend_from(8)?,
            O::I64Extend16S => self.sign_extend_from(16)?,
            O::I64Extend32S => self.sign_extend_from(32)?,

            O::I32TruncF32S | O::I32TruncF64S => self.truncate_checked(i32t, true)?,
            O::I32TruncF32U | O::I32TruncF64U => self.truncate_checked(i32t, false)?,
            O::I64TruncF32S | O::I64TruncF64S => self.truncate_checked(i64t, true)?,
            O::I64TruncF32U | O::I64TruncF64U => self.truncate_checked(i64t, false)?,
            O::I32TruncSatF32S | O::I32TruncSatF64S => self.truncate_saturating(i32t, true)?,
            O::I32TruncSatF32U | O::I32TruncSatF64U => self.truncate_saturating(i32t, false)?,
            O::I64TruncSatF32S | O::I64TruncSatF64S => self.truncate_saturating(i64t, true)?,
            O::I64TruncSatF32U | O::I64TruncSatF64U => self.truncate_saturating(i64t, false)?,

            O::F32ConvertI32S | O::F32ConvertI64S => self.convert(f32t, true)?,
            O::F32ConvertI32U | O::F32ConvertI64U => self.convert(f32t, false)?,
            O::F64ConvertI32S | O::F64ConvertI64S => self.convert(f64t, true)?,
            O::F64ConvertI32U | O::F64ConvertI64U => self.convert(f64t, false)?,
            O::F32DemoteF64 => {
                let v = self.pop().into_float_value();
                let r = self.b.build_float_trunc(v, f32t, "")?;
                self.push(r);
            }
            O::F64PromoteF32 => {
                let v = self.pop().into_float_value();
                let r = self.b.build_float_ext(v, f64t, "")?;
                // demote(promote(x)) must still quiet a signalling NaN; LLVM would fold it to x.
                let r =
                    self.call_intrinsic("llvm.arithmetic.fence", &[f64t.into()], &[r.into()])?;
                self.push(r);
            }
            O::I32ReinterpretF32 => self.reinterpret(i32t.into())?,
            O::I64ReinterpretF64 => self.reinterpret(i64t.into())?,
            O::F32ReinterpretI32 => self.reinterpret(f32t.into())?,
            O::F64ReinterpretI64 => self.reinterpret(f64t.into())?,
            _ => return Ok(false),
        }
        if let (Some(b), Some(top)) = (bound, self.stack.last()) {
            self.addresses.set_bound(*top, b);
        }
        Ok(true)
    }

    /// LLVM's default floating-point environment folds `x * 1`, `x / -1`, `x - 0`, `-0 - x` ...
    /// into `x` or `-x`, which loses the quieting of a signalling NaN that wasm requires.
    /// An arithmetic fence (no code) makes the constants ±0 and ±1 opaque to those folds.
    fn fence_identity_constant(
        &self,
        v: BasicValueEnum<'ctx>,
        value: f64,
    ) -> Result<BasicValueEnum<'ctx>> {
        if value == 0.0 || value.abs() == 1.0 {
            return self.call_intrinsic("llvm.arithmetic.fence", &[v.get_type()], &[v]);
        }
        Ok(v)
    }

    /// `llvm.minimum`/`maximum`; x86's lowering returns a NaN operand unquieted, so there a NaN
    /// operand goes through an addition, which quiets and propagates it.
    fn min_max(&mut self, intrinsic: &str) -> Result<()> {
        if !self.env.opts.target.is_x86() {
            return self.fbinary_intrinsic(intrinsic);
        }
        let r = self.pop().into_float_value();
        let l = self.pop().into_float_value();
        let ty: BasicTypeEnum<'ctx> = l.get_type().into();
        let m = self.call_intrinsic(intrinsic, &[ty], &[l.into(), r.into()])?;
        let nan = self.b.build_float_compare(FloatPredicate::UNO, l, r, "")?;
        let sum = self.b.build_float_add(l, r, "")?;
        let v = self.b.build_select(nan, sum, m.into_float_value(), "")?;
        self.push(v);
        Ok(())
    }

    fn push_bool(&mut self, c: IntValue<'ctx>) -> Result<()> {
        let v = self.b.build_int_z_extend(c, self.env.ctx.i32_type(), "")?;
        self.push(v);
        Ok(())
    }

    fn icmp(&mut self, predicate: IntPredicate) -> Result<()> {
        let r = self.pop_int();
        let l = self.pop_int();
        let c = self.b.build_int_compare(predicate, l, r, "")?;
        self.push_bool(c)
    }

    fn fcmp(&mut self, predicate: FloatPredicate) -> Result<()> {
        let r = self.pop().into_float_value();
        let l = self.pop().into_float_value();
        let c = self.b.build_float_compare(predicate, l, r, "")?;
        self.push_bool(c)
    }

    fn ibin(
        &mut self,
        f: impl FnOnce(&Builder<'ctx>, IntValue<'ctx>, IntValue<'ctx>) -> Built<'ctx>,
    ) -> Result<()> {
        let r = self.pop_int();
        let l = self.pop_int();
        let v = f(&self.b, l, r)?;
        self.push(v);
        Ok(())
    }

    /// Shifts take the count modulo the width (LLVM would make larger counts poison).
    fn shift(
        &mut self,
        f: impl FnOnce(&Builder<'ctx>, IntValue<'ctx>, IntValue<'ctx>) -> Built<'ctx>,
    ) -> Result<()> {
        self.ibin(|b, l, r| {
            let ty = l.get_type();
            let mask = ty.const_int(ty.get_bit_width() as u64 - 1, false);
            let r = b.build_and(r, mask, "")?;
            f(b, l, r)
        })
    }

    fn rotate(&mut self, intrinsic: &str) -> Result<()> {
        let r = self.pop_int();
        let l = self.pop_int();
        let ty: BasicTypeEnum<'ctx> = l.get_type().into();
        let v = self.call_intrinsic(intrinsic, &[ty], &[l.into(), l.into(), r.into()])?;
        self.push(v);
        Ok(())
    }

    fn count(&mut self, intrinsic: &str, zero_is_defined_flag: bool) -> Result<()> {
        let v = self.pop_int();
        let ty: BasicTypeEnum<'ctx> = v.get_type().into();
        let mut args: Vec<BasicValueEnum<'ctx>> = vec![v.into()];
        if zero_is_defined_flag {
            // `is_zero_poison = false`: clz/ctz of 0 is the bit width, as wasm wants.
            args.push(self.env.ctx.bool_type().const_zero().into());
        }
        let r = self.call_intrinsic(intrinsic, &[ty], &args)?;
        self.push(r);
        Ok(())
    }

    fn divide(&mut self, signed: bool, remainder: bool) -> Result<()> {
        let r = self.pop_int();
        let l = self.pop_int();
        let ty = l.get_type();
        let is_zero = self
            .b
            .build_int_compare(IntPredicate::EQ, r, ty.const_zero(), "")?;
        self.trap_if(is_zero, TrapCode::IntegerDivideByZero)?;
        let minus_one = ty.const_all_ones();
        let v = match (signed, remainder) {
            (false, false) => self.b.build_int_unsigned_div(l, r, "")?,
            (false, true) => self.b.build_int_unsigned_rem(l, r, "")?,
            (true, false) => {
                let min = ty.const_int(1u64 << (ty.get_bit_width() - 1), false);
                let l_is_min = self.b.build_int_compare(IntPredicate::EQ, l, min, "")?;
                let r_is_m1 = self
                    .b
                    .build_int_compare(IntPredicate::EQ, r, minus_one, "")?;
                let overflow = self.b.build_and(l_is_min, r_is_m1, "")?;
                self.trap_if(overflow, TrapCode::IntegerOverflow)?;
                self.b.build_int_signed_div(l, r, "")?
            }
            (true, true) => {
                // x rem -1 is 0 (no trap); dividing by 1 instead gives that without the
                // INT_MIN / -1 overflow LLVM leaves undefined.
                let r_is_m1 = self
                    .b
                    .build_int_compare(IntPredicate::EQ, r, minus_one, "")?;
                let divisor = self
                    .b
                    .build_select(r_is_m1, ty.const_int(1, false), r, "")?
                    .into_int_value();
                self.b.build_int_signed_rem(l, divisor, "")?
            }
        };
        self.push(v);
        Ok(())
    }

    fn funary(&mut self, intrinsic: &str) -> Result<()> {
        let v = self.pop().into_float_value();
        let ty: BasicTypeEnum<'ctx> = v.get_type().into();
        let r = self.call_intrinsic(intrinsic, &[ty], &[v.into()])?;
        self.push(r);
        Ok(())
    }

    fn fbin(
        &mut self,
        f: impl FnOnce(
            &inkwell::builder::Builder<'ctx>,
            FloatValue<'ctx>,
            FloatValue<'ctx>,
        )
            -> core::result::Result<FloatValue<'ctx>, inkwell::builder::BuilderError>,
    ) -> Result<()> {
        let r = self.pop().into_float_value();
        let l = self.pop().into_float_value();
        let v = f(&self.b, l, r)?;
        self.push(v);
        Ok(())
    }

    fn fbinary_intrinsic(&mut self, intrinsic: &str) -> Result<()> {
        let r = self.pop().into_float_value();
        let l = self.pop().into_float_value();
        let ty: BasicTypeEnum<'ctx> = l.get_type().into();
        let v = self.call_intrinsic(intrinsic, &[ty], &[l.into(), r.into()])?;
        self.push(v);
        Ok(())
    }

    /// Whether the target CPU rounds in hardware. The x86-64 baseline has no SSE4.1
    /// `roundss`, and LLVM would call libm (which no runtime links) for ceil/floor/trunc/
    /// roundeven, so those are built from exact integer conversions instead.
    pub(super) fn hardware_rounding(&self) -> bool {
        if !self.env.opts.target.is_x86() {
            return true;
        }
        match self.env.opts.cpu.as_deref() {
            None | Some("x86-64") | Some("generic") | Some("k8") => false,
            Some(_) => true,
        }
    }

    fn round(&mut self, mode: Rounding) -> Result<()> {
        if self.hardware_rounding() {
            let name = match mode {
                Rounding::Ceil => "llvm.ceil",
                Rounding::Floor => "llvm.floor",
                Rounding::Trunc => "llvm.trunc",
                Rounding::Nearest => "llvm.roundeven",
            };
            return self.funary(name);
        }
        let x = self.pop().into_float_value();
        let r = self.round_in_software(mode, x)?;
        self.push(r);
        Ok(())
    }

    fn round_in_software(
        &mut self,
        mode: Rounding,
        x: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        let ctx = self.env.ctx;
        let ty = x.get_type();
        let mantissa_bits = if ty == ctx.f32_type() { 23 } else { 52 };
        let two_pow_m = ty.const_float((1u64 << mantissa_bits) as f64);
        let fty: BasicTypeEnum<'ctx> = ty.into();
        let ax = self
            .call_intrinsic("llvm.fabs", &[fty], &[x.into()])?
            .into_float_value();
        // Values with |x| >= 2^M are integers already (and NaN/inf stay themselves); adding
        // +0.0 quiets a signalling NaN and leaves everything else unchanged.
        let big = self
            .b
            .build_float_compare(FloatPredicate::UGE, ax, two_pow_m, "")?;
        let big_result = self.b.build_float_add(x, ty.const_zero(), "")?;
        let copysign = |t: &Self, v: FloatValue<'ctx>| -> Result<FloatValue<'ctx>> {
            Ok(
                t.call_intrinsic("llvm.copysign", &[fty], &[v.into(), x.into()])?
                    .into_float_value(),
            )
        };
        let small = match mode {
            Rounding::Nearest => {
                let up = self.b.build_float_add(ax, two_pow_m, "")?;
                let r = self.b.build_float_sub(up, two_pow_m, "")?;
                copysign(self, r)?
            }
            _ => {
                let i64t = ctx.i64_type();
                let i = self.b.build_float_to_signed_int(x, i64t, "")?;
                let t = self.b.build_signed_int_to_float(i, ty, "")?;
                let t = copysign(self, t)?;
                match mode {
                    Rounding::Trunc => t,
                    Rounding::Floor => {
                        let above = self.b.build_float_compare(FloatPredicate::OGT, t, x, "")?;
                        let minus = self.b.build_float_sub(t, ty.const_float(1.0), "")?;
                        self.b.build_select(above, minus, t, "")?.into_float_value()
                    }
                    _ => {
                        let below = self.b.build_float_compare(FloatPredicate::OLT, t, x, "")?;
                        let plus = self.b.build_float_add(t, ty.const_float(1.0), "")?;
                        let r = self.b.build_select(below, plus, t, "")?.into_float_value();
                        // ceil(-0.5) is -0.0.
                        copysign(self, r)?
                    }
                }
            }
        };
        Ok(self
            .b
            .build_select(big, big_result, small, "")?
            .into_float_value())
    }

    fn sign_extend_from(&mut self, bits: u32) -> Result<()> {
        let v = self.pop_int();
        let narrow = match bits {
            8 => self.env.ctx.i8_type(),
            16 => self.env.ctx.i16_type(),
            _ => self.env.ctx.i32_type(),
        };
        let t = self.b.build_int_truncate(v, narrow, "")?;
        let r = self.b.build_int_s_extend(t, v.get_type(), "")?;
        self.push(r);
        Ok(())
    }

    /// float → int that traps: NaN is an invalid conversion, anything whose truncation does
    /// not fit is an overflow. The bounds are exact in the source float type.
    fn truncate_checked(&mut self, int: IntType<'ctx>, signed: bool) -> Result<()> {
        let x = self.pop().into_float_value();
        let fty: FloatType<'ctx> = x.get_type();
        let is_f32 = fty == self.env.ctx.f32_type();
        let n = int.get_bit_width();
        let is_nan = self.b.build_float_compare(FloatPredicate::UNO, x, x, "")?;
        self.trap_if(is_nan, TrapCode::InvalidConversionToInteger)?;
        let (lower, lower_inclusive, upper) = if signed {
            let half = 2f64.powi(n as i32 - 1);
            // -2^(n-1) - 1 is exact only for f64 with n = 32.
            if !is_f32 && n == 32 {
                (-half - 1.0, false, half)
            } else {
                (-half, true, half)
            }
        } else {
            (-1.0, false, 2f64.powi(n as i32))
        };
        let lower_ok = self.b.build_float_compare(
            if lower_inclusive {
                FloatPredicate::OGE
            } else {
                FloatPredicate::OGT
            },
            x,
            fty.const_float(lower),
            "",
        )?;
        let upper_ok =
            self.b
                .build_float_compare(FloatPredicate::OLT, x, fty.const_float(upper), "")?;
        let ok = self.b.build_and(lower_ok, upper_ok, "")?;
        let out = self.b.build_not(ok, "")?;
        self.trap_if(out, TrapCode::IntegerOverflow)?;
        let r = if signed {
            self.b.build_float_to_signed_int(x, int, "")?
        } else {
            self.b.build_float_to_unsigned_int(x, int, "")?
        };
        self.push(r);
        Ok(())
    }

    fn truncate_saturating(&mut self, int: IntType<'ctx>, signed: bool) -> Result<()> {
        let x = self.pop().into_float_value();
        let name = if signed {
            "llvm.fptosi.sat"
        } else {
            "llvm.fptoui.sat"
        };
        let r = self.call_intrinsic(name, &[int.into(), x.get_type().into()], &[x.into()])?;
        self.push(r);
        Ok(())
    }

    fn convert(&mut self, to: FloatType<'ctx>, signed: bool) -> Result<()> {
        let v = self.pop_int();
        let r = if signed {
            self.b.build_signed_int_to_float(v, to, "")?
        } else {
            self.b.build_unsigned_int_to_float(v, to, "")?
        };
        self.push(r);
        Ok(())
    }

    fn reinterpret(&mut self, to: BasicTypeEnum<'ctx>) -> Result<()> {
        let v = self.pop();
        let r = self.b.build_bit_cast(v, to, "")?;
        self.push(r);
        Ok(())
    }
}
