//! Expected results of `assert_return`, and how a result is matched against them.

use crate::protocol::{RefKind, Value};

/// A float expectation: exact bits, or a NaN class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatPattern<T> {
    Bits(T),
    /// `nan:canonical`: sign free, payload exactly the quiet bit.
    CanonicalNan,
    /// `nan:arithmetic`: sign and low payload bits free, quiet bit set.
    ArithmeticNan,
}

/// A `v128` expectation: exact bits, or lane by lane for float lanes (which may be NaN
/// classes). Integer lanes are exact, so they are compared as bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V128Pattern {
    /// The 16 bytes as a little-endian number (lane 0 lowest).
    Bits(u128),
    F32x4([FloatPattern<u32>; 4]),
    F64x2([FloatPattern<u64>; 2]),
}

impl V128Pattern {
    fn matches(&self, bits: u128) -> bool {
        match self {
            V128Pattern::Bits(b) => *b == bits,
            V128Pattern::F32x4(lanes) => lanes
                .iter()
                .enumerate()
                .all(|(i, p)| f32_matches(*p, (bits >> (32 * i)) as u32)),
            V128Pattern::F64x2(lanes) => lanes
                .iter()
                .enumerate()
                .all(|(i, p)| f64_matches(*p, (bits >> (64 * i)) as u64)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    I32(u32),
    I64(u64),
    F32(FloatPattern<u32>),
    F64(FloatPattern<u64>),
    V128(V128Pattern),
    /// `ref.null`, of the given kind if the script says.
    RefNull(Option<RefKind>),
    /// `ref.extern n`, or any non-null externref when `None`.
    RefExtern(Option<u32>),
    /// `ref.func`: any non-null funcref.
    RefFunc,
    /// Any one of the alternatives.
    Either(Vec<Expected>),
}

const F32_QUIET: u32 = 0x0040_0000;
const F32_EXP: u32 = 0x7f80_0000;
const F64_QUIET: u64 = 0x0008_0000_0000_0000;
const F64_EXP: u64 = 0x7ff0_0000_0000_0000;

fn f32_matches(p: FloatPattern<u32>, bits: u32) -> bool {
    match p {
        FloatPattern::Bits(b) => b == bits,
        FloatPattern::CanonicalNan => bits & !(1 << 31) == F32_EXP | F32_QUIET,
        FloatPattern::ArithmeticNan => bits & (F32_EXP | F32_QUIET) == F32_EXP | F32_QUIET,
    }
}

fn f64_matches(p: FloatPattern<u64>, bits: u64) -> bool {
    match p {
        FloatPattern::Bits(b) => b == bits,
        FloatPattern::CanonicalNan => bits & !(1 << 63) == F64_EXP | F64_QUIET,
        FloatPattern::ArithmeticNan => bits & (F64_EXP | F64_QUIET) == F64_EXP | F64_QUIET,
    }
}

impl Expected {
    /// Whether `got` satisfies this expectation.
    pub fn matches(&self, got: &Value) -> bool {
        match (self, got) {
            (Expected::Either(alternatives), _) => alternatives.iter().any(|e| e.matches(got)),
            (Expected::I32(e), Value::I32(g)) => e == g,
            (Expected::I64(e), Value::I64(g)) => e == g,
            (Expected::F32(p), Value::F32(g)) => f32_matches(*p, *g),
            (Expected::F64(p), Value::F64(g)) => f64_matches(*p, *g),
            (Expected::V128(p), Value::V128([low, high])) => {
                p.matches(u128::from(*low) | u128::from(*high) << 64)
            }
            (Expected::RefNull(kind), Value::FuncRef(None)) => kind != &Some(RefKind::Extern),
            (Expected::RefNull(kind), Value::ExternRef(None)) => kind != &Some(RefKind::Func),
            (Expected::RefExtern(e), Value::ExternRef(Some(g))) => e.is_none_or(|e| e == *g),
            (Expected::RefFunc, Value::FuncRef(Some(_))) => true,
            _ => false,
        }
    }
}

/// Whether a result vector satisfies the expectations, value by value.
pub fn all_match(expected: &[Expected], got: &[Value]) -> bool {
    expected.len() == got.len() && expected.iter().zip(got).all(|(e, g)| e.matches(g))
}

/// Whether a trap message satisfies an `assert_trap`/`assert_exhaustion` message. The
/// reference interpreter requires the expected text to be a prefix of its own message; a few
/// scripts expect its detailed form (`uninitialized element 2`), which names the same trap
/// kind with an index the ABI's trap codes do not carry, so the shorter one of the two must be a
/// prefix of the other (and our messages are exactly the spec's trap kind names).
pub fn trap_message_matches(expected: &str, actual: &str) -> bool {
    !actual.is_empty() && (actual.starts_with(expected) || expected.starts_with(actual))
}

#[cfg(test)]
mod tests {
    use super::FloatPattern::*;
    use super::*;

    #[test]
    fn nan_classes_f32() {
        let canon = Expected::F32(CanonicalNan);
        let arith = Expected::F32(ArithmeticNan);
        assert!(canon.matches(&Value::F32(0x7fc0_0000)));
        assert!(canon.matches(&Value::F32(0xffc0_0000)));
        assert!(
            !canon.matches(&Value::F32(0x7fc0_0001)),
            "payload beyond the quiet bit"
        );
        assert!(!canon.matches(&Value::F32(0x7fa0_0000)), "signalling NaN");
        assert!(!canon.matches(&Value::F32(0x7f80_0000)), "infinity");
        assert!(arith.matches(&Value::F32(0x7fc0_0001)));
        assert!(arith.matches(&Value::F32(0xffff_ffff)));
        assert!(!arith.matches(&Value::F32(0x7fa0_0000)), "quiet bit clear");
        assert!(!arith.matches(&Value::F32(0x3f80_0000)));
        assert!(
            !canon.matches(&Value::F64(0x7ff8_0000_0000_0000)),
            "wrong type"
        );
    }

    #[test]
    fn nan_classes_f64_and_exact_bits() {
        let canon = Expected::F64(CanonicalNan);
        let arith = Expected::F64(ArithmeticNan);
        assert!(canon.matches(&Value::F64(0x7ff8_0000_0000_0000)));
        assert!(canon.matches(&Value::F64(0xfff8_0000_0000_0000)));
        assert!(!canon.matches(&Value::F64(0x7ff8_0000_0000_0001)));
        assert!(arith.matches(&Value::F64(0x7ff8_0000_0000_0001)));
        assert!(!arith.matches(&Value::F64(0x7ff4_0000_0000_0000)));
        // Exact expectations compare bits: -0.0 is not 0.0, and a NaN payload must match.
        assert!(!Expected::F64(Bits(0)).matches(&Value::F64(1 << 63)));
        assert!(Expected::F32(Bits(0x7fa0_0000)).matches(&Value::F32(0x7fa0_0000)));
        assert!(!Expected::F32(Bits(0x7fa0_0000)).matches(&Value::F32(0x7fc0_0000)));
    }

    #[test]
    fn v128_lanes_match_per_lane_class_or_exact_bits() {
        let canonical_then_one =
            V128Pattern::F32x4([CanonicalNan, Bits(0x3f80_0000), ArithmeticNan, Bits(0)]);
        let e = Expected::V128(canonical_then_one);
        let lanes = |l: [u32; 4]| {
            Value::v128(
                l.iter()
                    .rev()
                    .fold(0u128, |acc, &x| acc << 32 | u128::from(x)),
            )
        };
        assert!(e.matches(&lanes([0xffc0_0000, 0x3f80_0000, 0x7fc0_0001, 0])));
        assert!(
            !e.matches(&lanes([0x7fc0_0001, 0x3f80_0000, 0x7fc0_0001, 0])),
            "lane 0 not canonical"
        );
        assert!(
            !e.matches(&lanes([0x7fc0_0000, 0x3f80_0000, 0x7f80_0001, 0])),
            "lane 2 signalling"
        );
        assert!(
            !e.matches(&lanes([0x7fc0_0000, 0x3f80_0000, 0x7fc0_0000, 0x8000_0000])),
            "-0 is not 0"
        );
        assert!(!e.matches(&Value::F32(0x7fc0_0000)), "wrong type");
        let f64x2 = Expected::V128(V128Pattern::F64x2([Bits(1), CanonicalNan]));
        assert!(f64x2.matches(&Value::V128([1, 0x7ff8_0000_0000_0000])));
        assert!(!f64x2.matches(&Value::V128([1, 0x7ff8_0000_0000_0001])));
        let bits = Expected::V128(V128Pattern::Bits(u128::MAX - 1));
        assert!(bits.matches(&Value::V128([u64::MAX - 1, u64::MAX])));
        assert!(
            !bits.matches(&Value::V128([u64::MAX, u64::MAX - 1])),
            "halves in order"
        );
    }

    #[test]
    fn integers_and_references() {
        assert!(Expected::I32(u32::MAX).matches(&Value::I32(u32::MAX)));
        assert!(!Expected::I32(1).matches(&Value::I64(1)));
        assert!(Expected::RefNull(None).matches(&Value::FuncRef(None)));
        assert!(Expected::RefNull(Some(RefKind::Extern)).matches(&Value::ExternRef(None)));
        assert!(!Expected::RefNull(Some(RefKind::Func)).matches(&Value::ExternRef(None)));
        assert!(!Expected::RefNull(None).matches(&Value::FuncRef(Some(8))));
        assert!(Expected::RefExtern(Some(3)).matches(&Value::ExternRef(Some(3))));
        assert!(!Expected::RefExtern(Some(3)).matches(&Value::ExternRef(Some(4))));
        assert!(!Expected::RefExtern(Some(0)).matches(&Value::ExternRef(None)));
        assert!(Expected::RefExtern(None).matches(&Value::ExternRef(Some(7))));
        assert!(Expected::RefFunc.matches(&Value::FuncRef(Some(1))));
        assert!(!Expected::RefFunc.matches(&Value::FuncRef(None)));
        let either = Expected::Either(vec![Expected::I32(1), Expected::I32(2)]);
        assert!(either.matches(&Value::I32(2)) && !either.matches(&Value::I32(3)));
        assert!(all_match(&[Expected::I32(1)], &[Value::I32(1)]));
        assert!(!all_match(
            &[Expected::I32(1)],
            &[Value::I32(1), Value::I32(1)]
        ));
        assert!(all_match(&[], &[]));
    }

    #[test]
    fn trap_messages_match_by_prefix() {
        assert!(trap_message_matches(
            "out of bounds memory access",
            "out of bounds memory access"
        ));
        assert!(trap_message_matches(
            "uninitialized element",
            "uninitialized element 2"
        ));
        assert!(!trap_message_matches(
            "integer overflow",
            "integer divide by zero"
        ));
    }
}
