//! Script values → protocol values and expectations.

use crate::expect::{Expected, FloatPattern, V128Pattern};
use crate::protocol::{RefKind, Value};
use wast::core::V128Pattern as Lanes;
use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};
use wast::{WastArg, WastRet};

fn heap_kind(heap: &HeapType<'_>) -> Result<RefKind, String> {
    match heap {
        HeapType::Abstract {
            ty: AbstractHeapType::Func,
            ..
        } => Ok(RefKind::Func),
        HeapType::Abstract {
            ty: AbstractHeapType::Extern,
            ..
        } => Ok(RefKind::Extern),
        other => Err(format!("unsupported heap type {other:?}")),
    }
}

/// An `invoke` argument.
pub fn argument(arg: &WastArg<'_>) -> Result<Value, String> {
    let WastArg::Core(core) = arg else {
        return Err("component-model argument".into());
    };
    Ok(match core {
        WastArgCore::I32(v) => Value::I32(*v as u32),
        WastArgCore::I64(v) => Value::I64(*v as u64),
        WastArgCore::F32(v) => Value::F32(v.bits),
        WastArgCore::F64(v) => Value::F64(v.bits),
        WastArgCore::V128(v) => Value::v128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(heap) => match heap_kind(heap)? {
            RefKind::Func => Value::FuncRef(None),
            RefKind::Extern => Value::ExternRef(None),
        },
        WastArgCore::RefExtern(n) => Value::ExternRef(Some(*n)),
        other => return Err(format!("unsupported argument {other:?}")),
    })
}

fn float<T, U>(p: &NanPattern<T>, bits: impl Fn(&T) -> U) -> FloatPattern<U> {
    match p {
        NanPattern::CanonicalNan => FloatPattern::CanonicalNan,
        NanPattern::ArithmeticNan => FloatPattern::ArithmeticNan,
        NanPattern::Value(v) => FloatPattern::Bits(bits(v)),
    }
}

/// Integer lanes as the 16 bytes they make, lane 0 lowest.
fn lane_bits<T: Copy>(lanes: &[T], width: u32, bits: impl Fn(T) -> u128) -> u128 {
    let mask = u128::MAX >> (128 - width);
    lanes.iter().enumerate().fold(0, |acc, (i, &l)| {
        acc | (bits(l) & mask) << (width * i as u32)
    })
}

fn v128_pattern(lanes: &Lanes) -> V128Pattern {
    match lanes {
        Lanes::I8x16(l) => V128Pattern::Bits(lane_bits(l, 8, |v| v as u8 as u128)),
        Lanes::I16x8(l) => V128Pattern::Bits(lane_bits(l, 16, |v| v as u16 as u128)),
        Lanes::I32x4(l) => V128Pattern::Bits(lane_bits(l, 32, |v| v as u32 as u128)),
        Lanes::I64x2(l) => V128Pattern::Bits(lane_bits(l, 64, |v| v as u64 as u128)),
        Lanes::F32x4(l) => V128Pattern::F32x4(l.each_ref().map(|p| float(p, |f| f.bits))),
        Lanes::F64x2(l) => V128Pattern::F64x2(l.each_ref().map(|p| float(p, |f| f.bits))),
    }
}

fn expected_core(ret: &WastRetCore<'_>) -> Result<Expected, String> {
    Ok(match ret {
        WastRetCore::I32(v) => Expected::I32(*v as u32),
        WastRetCore::I64(v) => Expected::I64(*v as u64),
        WastRetCore::F32(p) => Expected::F32(float(p, |f| f.bits)),
        WastRetCore::F64(p) => Expected::F64(float(p, |f| f.bits)),
        WastRetCore::V128(lanes) => Expected::V128(v128_pattern(lanes)),
        WastRetCore::RefNull(heap) => Expected::RefNull(heap.as_ref().map(heap_kind).transpose()?),
        WastRetCore::RefExtern(n) => Expected::RefExtern(*n),
        WastRetCore::RefFunc(_) => Expected::RefFunc,
        WastRetCore::Either(all) => {
            Expected::Either(all.iter().map(expected_core).collect::<Result<_, _>>()?)
        }
        other => return Err(format!("unsupported expected value {other:?}")),
    })
}

/// An `assert_return` result.
pub fn expected(ret: &WastRet<'_>) -> Result<Expected, String> {
    match ret {
        WastRet::Core(core) => expected_core(core),
        _ => Err("component-model result".into()),
    }
}

/// A value the way the spec scripts write it, for failure reports.
pub fn show(value: &Value) -> String {
    match value {
        Value::I32(v) => format!("i32:{}", *v as i32),
        Value::I64(v) => format!("i64:{}", *v as i64),
        Value::F32(b) => format!("f32:{}({b:#010x})", f32::from_bits(*b)),
        Value::F64(b) => format!("f64:{}({b:#018x})", f64::from_bits(*b)),
        Value::V128([low, high]) => format!("v128:{high:016x}{low:016x}"),
        Value::FuncRef(None) => "ref.null func".into(),
        Value::FuncRef(Some(p)) => format!("ref.func({p:#x})"),
        Value::ExternRef(None) => "ref.null extern".into(),
        Value::ExternRef(Some(n)) => format!("ref.extern {n}"),
    }
}

/// An expectation for failure reports.
pub fn show_expected(e: &Expected) -> String {
    match e {
        Expected::I32(v) => format!("i32:{}", *v as i32),
        Expected::I64(v) => format!("i64:{}", *v as i64),
        Expected::F32(FloatPattern::Bits(b)) => format!("f32:{}({b:#010x})", f32::from_bits(*b)),
        Expected::F64(FloatPattern::Bits(b)) => format!("f64:{}({b:#018x})", f64::from_bits(*b)),
        Expected::V128(V128Pattern::Bits(b)) => format!("v128:{b:032x}"),
        Expected::V128(V128Pattern::F32x4(lanes)) => format!(
            "f32x4:[{}]",
            lanes
                .iter()
                .map(|p| show_expected(&Expected::F32(*p)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Expected::V128(V128Pattern::F64x2(lanes)) => format!(
            "f64x2:[{}]",
            lanes
                .iter()
                .map(|p| show_expected(&Expected::F64(*p)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Expected::F32(p) => format!("f32:{p:?}"),
        Expected::F64(p) => format!("f64:{p:?}"),
        Expected::RefNull(k) => format!("ref.null {k:?}"),
        Expected::RefExtern(n) => format!("ref.extern {n:?}"),
        Expected::RefFunc => "ref.func".into(),
        Expected::Either(all) => {
            format!(
                "either({})",
                all.iter()
                    .map(show_expected)
                    .collect::<Vec<_>>()
                    .join(" | ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wast::parser::{self, ParseBuffer};

    fn parse_script(text: &str) -> Vec<(Vec<Value>, Vec<Expected>)> {
        let buf = ParseBuffer::new(text).unwrap();
        let script = parser::parse::<wast::Wast<'_>>(&buf).unwrap();
        script
            .directives
            .iter()
            .map(|d| match d {
                wast::WastDirective::AssertReturn {
                    exec: wast::WastExecute::Invoke(i),
                    results,
                    ..
                } => (
                    i.args.iter().map(|a| argument(a).unwrap()).collect(),
                    results.iter().map(|r| expected(r).unwrap()).collect(),
                ),
                _ => panic!("unexpected directive"),
            })
            .collect()
    }

    #[test]
    fn script_values_convert_to_bits_and_patterns() {
        let got = parse_script(
            r#"(assert_return (invoke "f" (i32.const -1) (f32.const -0x0p+0) (ref.null extern) (ref.extern 7))
                  (f64.const nan:canonical) (f32.const nan:arithmetic) (f32.const nan:0x200000)
                  (ref.null func) (ref.extern) (ref.func) (i64.const -2))"#,
        );
        let (args, rets) = &got[0];
        assert_eq!(
            args,
            &[
                Value::I32(u32::MAX),
                Value::F32(0x8000_0000),
                Value::ExternRef(None),
                Value::ExternRef(Some(7))
            ]
        );
        assert_eq!(
            rets,
            &[
                Expected::F64(FloatPattern::CanonicalNan),
                Expected::F32(FloatPattern::ArithmeticNan),
                Expected::F32(FloatPattern::Bits(0x7fa0_0000)),
                Expected::RefNull(Some(RefKind::Func)),
                Expected::RefExtern(None),
                Expected::RefFunc,
                Expected::I64(u64::MAX - 1),
            ]
        );
    }

    #[test]
    fn v128_values_convert_to_little_endian_bits_and_lane_patterns() {
        let got = parse_script(
            r#"(assert_return (invoke "f" (v128.const i16x8 -1 2 0 0 0 0 0 0x8000))
                  (v128.const i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -1)
                  (v128.const f32x4 nan:canonical -0x0p+0 1.0 nan:arithmetic)
                  (v128.const f64x2 -inf nan:0x4))"#,
        );
        let (args, rets) = &got[0];
        assert_eq!(
            args,
            &[Value::V128([0x0000_0000_0002_ffff, 0x8000_0000_0000_0000])]
        );
        assert_eq!(
            rets,
            &[
                Expected::V128(V128Pattern::Bits(0xff0f_0e0d_0c0b_0a09_0807_0605_0403_0201)),
                Expected::V128(V128Pattern::F32x4([
                    FloatPattern::CanonicalNan,
                    FloatPattern::Bits(0x8000_0000),
                    FloatPattern::Bits(0x3f80_0000),
                    FloatPattern::ArithmeticNan,
                ])),
                Expected::V128(V128Pattern::F64x2([
                    FloatPattern::Bits(0xfff0_0000_0000_0000),
                    FloatPattern::Bits(0x7ff0_0000_0000_0004),
                ])),
            ]
        );
    }
}
