//! Fixed-width SIMD (`v128`), one file per operator family. A `v128` travels as one LLVM type
//! (`env::v128_type`); each operator views it in its own lane shape through a bitcast, which
//! costs no instruction. Everything is built from LLVM's target-independent vector operations,
//! which both back ends lower to their own instructions (SSE2 at the x86-64 baseline, more
//! with a `--cpu` that has more; NEON on aarch64); where an operation has no lowering without
//! a library call at some baseline, it is built here from operations that have one.

mod convert;
mod float;
mod integer;
mod lanes;
mod memory;
mod widening;

use super::{FunctionTranslator, Result};
use crate::env::v128_type;
use inkwell::context::Context;
use inkwell::types::{BasicTypeEnum, IntType, VectorType};
use inkwell::values::{BasicValueEnum, IntValue, VectorValue};
use wasmparser::Operator;

/// How an operator sees the 128 bits: lane type and count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    I8x16,
    I16x8,
    I32x4,
    I64x2,
    F32x4,
    F64x2,
}

impl Shape {
    pub(super) fn lane_bits(self) -> u32 {
        match self {
            Shape::I8x16 => 8,
            Shape::I16x8 => 16,
            Shape::I32x4 | Shape::F32x4 => 32,
            Shape::I64x2 | Shape::F64x2 => 64,
        }
    }

    pub(super) fn lanes(self) -> u32 {
        128 / self.lane_bits()
    }

    /// The integer shape of the same lanes (a float comparison's result, a bit pattern).
    pub(super) fn integer(self) -> Shape {
        match self {
            Shape::F32x4 => Shape::I32x4,
            Shape::F64x2 => Shape::I64x2,
            other => other,
        }
    }

    pub(super) fn lane_type(self, ctx: &Context) -> BasicTypeEnum<'_> {
        match self {
            Shape::F32x4 => ctx.f32_type().into(),
            Shape::F64x2 => ctx.f64_type().into(),
            _ => int_type(ctx, self.lane_bits()).into(),
        }
    }

    pub(super) fn vector_type(self, ctx: &Context) -> VectorType<'_> {
        match self {
            Shape::F32x4 => ctx.f32_type().vec_type(4),
            Shape::F64x2 => ctx.f64_type().vec_type(2),
            _ => int_type(ctx, self.lane_bits()).vec_type(self.lanes()),
        }
    }
}

/// The integer type of `bits` bits (2 to 128).
pub(super) fn int_type(ctx: &Context, bits: u32) -> IntType<'_> {
    match bits {
        8 => ctx.i8_type(),
        16 => ctx.i16_type(),
        32 => ctx.i32_type(),
        64 => ctx.i64_type(),
        128 => ctx.i128_type(),
        _ => core::num::NonZeroU32::new(bits)
            .and_then(|b| ctx.custom_width_int_type(b).ok())
            .expect("lane counts and widths are small and non-zero"),
    }
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    /// Translates `op` if it is a SIMD operator.
    pub(super) fn simd(&mut self, op: &Operator<'a>) -> Result<bool> {
        Ok(self.simd_memory(op)?
            || self.simd_lanes(op)?
            || self.simd_integer(op)?
            || self.simd_float(op)?
            || self.simd_widening(op)?
            || self.simd_convert(op)?)
    }

    /// Pops a `v128` and views it as `shape`.
    fn pop_vector(&mut self, shape: Shape) -> Result<VectorValue<'ctx>> {
        let v = self.pop();
        self.as_shape(v, shape)
    }

    fn as_shape(&self, v: BasicValueEnum<'ctx>, shape: Shape) -> Result<VectorValue<'ctx>> {
        let ty = shape.vector_type(self.env.ctx);
        if v.get_type() == ty.into() {
            return Ok(v.into_vector_value());
        }
        Ok(self.b.build_bit_cast(v, ty, "")?.into_vector_value())
    }

    /// Pushes a 128-bit vector of any shape as a `v128`.
    fn push_vector(&mut self, v: VectorValue<'ctx>) -> Result<()> {
        let ty = v128_type(self.env.ctx);
        let v = if v.get_type() == ty {
            v.into()
        } else {
            self.b.build_bit_cast(v, ty, "")?
        };
        self.push(v);
        Ok(())
    }

    fn i32_constant(&self, value: u64) -> IntValue<'ctx> {
        self.env.ctx.i32_type().const_int(value, false)
    }

    /// `shufflevector a, b, indices` (an index past `a`'s lanes picks from `b`).
    fn shuffle(
        &self,
        a: VectorValue<'ctx>,
        b: VectorValue<'ctx>,
        indices: impl IntoIterator<Item = u32>,
    ) -> Result<VectorValue<'ctx>> {
        let mask: Vec<IntValue<'ctx>> = indices
            .into_iter()
            .map(|i| self.i32_constant(u64::from(i)))
            .collect();
        let mask = VectorType::const_vector(&mask);
        Ok(self.b.build_shuffle_vector(a, b, mask, "")?)
    }

    /// The low or high half of `v`'s lanes.
    fn half(&self, v: VectorValue<'ctx>, high: bool) -> Result<VectorValue<'ctx>> {
        let n = v.get_type().get_size() / 2;
        let first = if high { n } else { 0 };
        self.shuffle(v, v.get_type().get_poison(), first..first + n)
    }

    /// The lanes of `a` followed by those of `b` (of the same type).
    fn concat(&self, a: VectorValue<'ctx>, b: VectorValue<'ctx>) -> Result<VectorValue<'ctx>> {
        self.shuffle(a, b, 0..2 * a.get_type().get_size())
    }

    /// Every other lane of `v`, from lane `first` (0: the even lanes, 1: the odd ones).
    fn every_other(&self, v: VectorValue<'ctx>, first: u32) -> Result<VectorValue<'ctx>> {
        let n = v.get_type().get_size();
        self.shuffle(v, v.get_type().get_poison(), (first..n).step_by(2))
    }

    /// `value` in every lane of a vector of `lanes` lanes.
    fn splat(&self, value: BasicValueEnum<'ctx>, lanes: u32) -> Result<VectorValue<'ctx>> {
        let ty = match value.get_type() {
            BasicTypeEnum::IntType(t) => t.vec_type(lanes),
            BasicTypeEnum::FloatType(t) => t.vec_type(lanes),
            other => unreachable!("splat of {other:?}"),
        };
        let one = self
            .b
            .build_insert_element(ty.get_poison(), value, self.i32_constant(0), "")?;
        self.shuffle(one, ty.get_poison(), (0..lanes).map(|_| 0))
    }

    /// A vector of `shape` with the integer `value` in every lane.
    fn splat_constant(&self, shape: Shape, value: u64) -> VectorValue<'ctx> {
        let lane = int_type(self.env.ctx, shape.lane_bits()).const_int(value, false);
        VectorType::const_vector(&vec![lane; shape.lanes() as usize])
    }

    /// A float vector of `shape` with `value` in every lane.
    fn splat_float(&self, shape: Shape, value: f64) -> VectorValue<'ctx> {
        let lane = shape
            .lane_type(self.env.ctx)
            .into_float_type()
            .const_float(value);
        VectorType::const_vector(&vec![lane; shape.lanes() as usize])
    }

    /// Calls intrinsic `name` overloaded on `v`'s type with `args`, a vector result.
    fn vector_intrinsic(
        &self,
        name: &str,
        overloads: &[BasicTypeEnum<'ctx>],
        args: &[BasicValueEnum<'ctx>],
    ) -> Result<VectorValue<'ctx>> {
        Ok(self
            .call_intrinsic(name, overloads, args)?
            .into_vector_value())
    }
}
