//! Script values → protocol values and expectations.

use crate::expect::{Expected, FloatPattern};
use crate::protocol::{RefKind, Value};
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

fn expected_core(ret: &WastRetCore<'_>) -> Result<Expected, String> {
    Ok(match ret {
        WastRetCore::I32(v) => Expected::I32(*v as u32),
        WastRetCore::I64(v) => Expected::I64(*v as u64),
        WastRetCore::F32(p) => Expected::F32(float(p, |f| f.bits)),
        WastRetCore::F64(p) => Expected::F64(float(p, |f| f.bits)),
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
}
