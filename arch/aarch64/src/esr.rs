//! Decoding the Exception Syndrome Register (ESR_EL1) for fault reports.

use core::fmt;

/// Exception class: ESR bits [31:26].
pub fn exception_class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// Instruction-specific syndrome: ESR bits [24:0].
pub fn iss(esr: u64) -> u32 {
    (esr & 0x1ff_ffff) as u32
}

pub const EC_UNKNOWN: u8 = 0x00;
pub const EC_INSTRUCTION_ABORT_LOWER: u8 = 0x20;
pub const EC_INSTRUCTION_ABORT_SAME: u8 = 0x21;
pub const EC_DATA_ABORT_LOWER: u8 = 0x24;
pub const EC_DATA_ABORT_SAME: u8 = 0x25;

/// The architecture's name for an exception class.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped SIMD/FP access",
        0x0d => "branch target exception",
        0x0e => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x16 => "HVC from AArch64",
        0x17 => "SMC from AArch64",
        0x18 => "trapped MSR/MRS/system instruction",
        0x19 => "trapped SVE access",
        0x1c => "pointer authentication failure",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort from the same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort from the same EL",
        0x26 => "SP alignment fault",
        0x2c => "trapped floating-point exception",
        0x2f => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "reserved or unhandled class",
    }
}

/// True for instruction and data aborts, whose FAR holds the faulting address.
pub fn is_abort(ec: u8) -> bool {
    matches!(
        ec,
        EC_INSTRUCTION_ABORT_LOWER
            | EC_INSTRUCTION_ABORT_SAME
            | EC_DATA_ABORT_LOWER
            | EC_DATA_ABORT_SAME
    )
}

/// True for an abort on an address with no valid translation (a page not mapped), as opposed
/// to a permission, access-flag or alignment fault on a mapped one.
pub fn is_translation_fault(esr: u64) -> bool {
    is_abort(exception_class(esr)) && matches!(iss(esr) & 0x3f, 0x04..=0x07)
}

/// Name of an abort's fault status code (ISS bits [5:0], DFSC/IFSC).
pub fn fault_status_name(fsc: u8) -> &'static str {
    match fsc {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault",
    }
}

/// A decoded ESR, printed as one line of a fault report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syndrome(pub u64);

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ec = exception_class(self.0);
        let iss = iss(self.0);
        write!(f, "ESR {:#010x}: EC {:#04x} {}", self.0, ec, class_name(ec))?;
        if is_abort(ec) {
            let fsc = (iss & 0x3f) as u8;
            write!(f, ", {}", fault_status_name(fsc))?;
            if fsc < 0x10 {
                write!(f, " (level {})", fsc & 3)?;
            }
            if matches!(ec, EC_DATA_ABORT_LOWER | EC_DATA_ABORT_SAME) {
                f.write_str(if iss & (1 << 6) != 0 {
                    ", on a write"
                } else {
                    ", on a read"
                })?;
            }
        } else {
            write!(f, ", ISS {iss:#x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_write_translation_fault() {
        // A store to an unmapped page at level 3, taken at EL1.
        let esr = 0x9600_0047;
        assert_eq!(exception_class(esr), EC_DATA_ABORT_SAME);
        assert!(is_abort(exception_class(esr)));
        let text = Syndrome(esr).to_string();
        assert!(text.contains("data abort from the same EL"), "{text}");
        assert!(text.contains("translation fault (level 3)"), "{text}");
        assert!(text.contains("on a write"), "{text}");
        assert!(is_translation_fault(esr));
    }

    #[test]
    fn only_aborts_on_unmapped_pages_are_translation_faults() {
        let read_level1 = 0x9600_0005;
        assert!(is_translation_fault(read_level1));
        let write_permission = 0x9600_004f;
        assert!(!is_translation_fault(write_permission));
        let brk_with_a_translation_like_iss = (0x3c << 26) | 0x07;
        assert!(!is_translation_fault(brk_with_a_translation_like_iss));
    }

    #[test]
    fn decodes_non_aborts_with_their_iss() {
        let brk = (0x3c << 26) | (1 << 25) | 0xf000;
        assert_eq!(class_name(exception_class(brk)), "BRK instruction");
        assert!(!is_abort(exception_class(brk)));
        assert!(Syndrome(brk).to_string().ends_with("ISS 0xf000"));
        assert_eq!(exception_class(1 << 25), EC_UNKNOWN);
    }

    #[test]
    fn names_permission_and_instruction_faults() {
        let exec_perm = (0x21u64 << 26) | 0x0f;
        let text = Syndrome(exec_perm).to_string();
        assert!(text.contains("instruction abort from the same EL"));
        assert!(text.contains("permission fault (level 3)"));
        assert!(!text.contains("write"));
        assert_eq!(fault_status_name(0x21), "alignment fault");
    }
}
