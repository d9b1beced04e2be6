//! Wasm trap codes: passed by compiled code to [`crate::symbols::TRAP`], and produced by the
//! runtime when a fault lands in a guard region.

/// Why a wasm computation trapped. The discriminant is the value passed to the trap entry.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapCode {
    Unreachable = 1,
    IntegerDivideByZero = 2,
    IntegerOverflow = 3,
    InvalidConversionToInteger = 4,
    OutOfBoundsMemoryAccess = 5,
    UndefinedElement = 6,
    UninitializedElement = 7,
    IndirectCallTypeMismatch = 8,
    CallStackExhausted = 9,
    OutOfBoundsTableAccess = 10,
}

impl TrapCode {
    pub const ALL: [TrapCode; 10] = [
        TrapCode::Unreachable,
        TrapCode::IntegerDivideByZero,
        TrapCode::IntegerOverflow,
        TrapCode::InvalidConversionToInteger,
        TrapCode::OutOfBoundsMemoryAccess,
        TrapCode::UndefinedElement,
        TrapCode::UninitializedElement,
        TrapCode::IndirectCallTypeMismatch,
        TrapCode::CallStackExhausted,
        TrapCode::OutOfBoundsTableAccess,
    ];

    /// The name the Wasm spec test suite uses for this trap (`assert_trap` messages).
    pub const fn spec_name(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::IntegerDivideByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::InvalidConversionToInteger => "invalid conversion to integer",
            TrapCode::OutOfBoundsMemoryAccess => "out of bounds memory access",
            TrapCode::UndefinedElement => "undefined element",
            TrapCode::UninitializedElement => "uninitialized element",
            TrapCode::IndirectCallTypeMismatch => "indirect call type mismatch",
            TrapCode::CallStackExhausted => "call stack exhausted",
            TrapCode::OutOfBoundsTableAccess => "out of bounds table access",
        }
    }

    pub const fn from_u32(code: u32) -> Option<TrapCode> {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i] as u32 == code {
                return Some(Self::ALL[i]);
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_are_unique() {
        for (i, t) in TrapCode::ALL.iter().enumerate() {
            assert_eq!(TrapCode::from_u32(*t as u32), Some(*t));
            for u in &TrapCode::ALL[i + 1..] {
                assert_ne!(t.spec_name(), u.spec_name());
            }
        }
        assert_eq!(TrapCode::from_u32(0), None);
        assert_eq!(TrapCode::from_u32(11), None);
    }
}
