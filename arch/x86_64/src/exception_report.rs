//! The register frame the exception entry stubs build, and its human-readable report.
//! Pure (host-tested); the stubs that fill the frame are in `idt.rs`.

use core::fmt;

/// Stack layout at the common exception entry, lowest address first: the general registers
/// the stub pushed, the vector and error code (0 when the CPU pushes none), then the frame the
/// CPU pushed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExceptionFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub const PAGE_FAULT: u64 = 14;

/// Mnemonic and name of exception `vector` (0–31).
pub fn exception_name(vector: u64) -> (&'static str, &'static str) {
    match vector {
        0 => ("#DE", "divide error"),
        1 => ("#DB", "debug"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("#BP", "breakpoint"),
        4 => ("#OF", "overflow"),
        5 => ("#BR", "bound range exceeded"),
        6 => ("#UD", "invalid opcode"),
        7 => ("#NM", "device not available"),
        8 => ("#DF", "double fault"),
        9 => ("#MF9", "coprocessor segment overrun"),
        10 => ("#TS", "invalid TSS"),
        11 => ("#NP", "segment not present"),
        12 => ("#SS", "stack-segment fault"),
        13 => ("#GP", "general protection fault"),
        14 => ("#PF", "page fault"),
        16 => ("#MF", "x87 floating-point error"),
        17 => ("#AC", "alignment check"),
        18 => ("#MC", "machine check"),
        19 => ("#XM", "SIMD floating-point exception"),
        20 => ("#VE", "virtualization exception"),
        21 => ("#CP", "control protection"),
        28 => ("#HV", "hypervisor injection"),
        29 => ("#VC", "VMM communication"),
        30 => ("#SX", "security exception"),
        _ => ("#??", "reserved"),
    }
}

/// The vectors for which the CPU pushes an error code.
pub const fn has_error_code(vector: u64) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The full report: what happened, where, and every general register.
pub struct ExceptionReport<'a> {
    pub frame: &'a ExceptionFrame,
    /// CR2 (the faulting address), meaningful for page faults only.
    pub cr2: u64,
}

impl fmt::Display for ExceptionReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fr = self.frame;
        let (short, long) = exception_name(fr.vector);
        writeln!(f, "cpu exception {short} {long} (vector {})", fr.vector)?;
        write!(f, "  error code {:#x}", fr.error_code)?;
        if fr.vector == PAGE_FAULT {
            let e = fr.error_code;
            write!(
                f,
                " ({} {} address, {} mode{})",
                if e & 1 != 0 {
                    "protection violation on"
                } else {
                    "not-present"
                },
                if e & 0x10 != 0 {
                    "instruction fetch at"
                } else if e & 2 != 0 {
                    "write to"
                } else {
                    "read from"
                },
                if e & 4 != 0 { "user" } else { "kernel" },
                if e & 8 != 0 { ", reserved bit set" } else { "" },
            )?;
            write!(f, "\n  cr2 {:#018x}", self.cr2)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  rip {:#018x}  rsp {:#018x}  rflags {:#010x}  cs {:#x}  ss {:#x}",
            fr.rip, fr.rsp, fr.rflags, fr.cs, fr.ss
        )?;
        let regs = [
            ("rax", fr.rax),
            ("rbx", fr.rbx),
            ("rcx", fr.rcx),
            ("rdx", fr.rdx),
            ("rsi", fr.rsi),
            ("rdi", fr.rdi),
            ("rbp", fr.rbp),
            ("r8 ", fr.r8),
            ("r9 ", fr.r9),
            ("r10", fr.r10),
            ("r11", fr.r11),
            ("r12", fr.r12),
            ("r13", fr.r13),
            ("r14", fr.r14),
            ("r15", fr.r15),
        ];
        for (i, (name, value)) in regs.iter().enumerate() {
            let separator = if i > 0 && i % 4 == 0 { "\n" } else { "" };
            write!(f, "{separator}  {name} {value:#018x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn frame_layout_matches_the_stub_push_order() {
        // 15 registers, vector, error code, then the 5-word CPU frame.
        assert_eq!(size_of::<ExceptionFrame>(), 22 * 8);
        assert_eq!(offset_of!(ExceptionFrame, rax), 14 * 8);
        assert_eq!(offset_of!(ExceptionFrame, vector), 15 * 8);
        assert_eq!(offset_of!(ExceptionFrame, rip), 17 * 8);
        assert_eq!(offset_of!(ExceptionFrame, ss), 21 * 8);
    }

    #[test]
    fn page_fault_report_names_everything() {
        let frame = ExceptionFrame {
            vector: 14,
            error_code: 0x2,
            rip: 0x10_2345,
            rsp: 0x1f_ff00,
            rflags: 0x10046,
            rax: 0xaaaa,
            r15: 0xf15,
            ..Default::default()
        };
        let text = std::format!(
            "{}",
            ExceptionReport {
                frame: &frame,
                cr2: 0x1000
            }
        );
        for needle in [
            "#PF page fault (vector 14)",
            "error code 0x2",
            "not-present write to address, kernel mode",
            "cr2 0x0000000000001000",
            "rip 0x0000000000102345",
            "rsp 0x00000000001fff00",
            "rflags 0x00010046",
            "rax 0x000000000000aaaa",
            "r15 0x0000000000000f15",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn other_vectors_have_no_cr2_and_error_codes_are_known() {
        let frame = ExceptionFrame {
            vector: 13,
            error_code: 0x18,
            ..Default::default()
        };
        let text = std::format!(
            "{}",
            ExceptionReport {
                frame: &frame,
                cr2: 0x1234
            }
        );
        assert!(text.contains("#GP general protection fault (vector 13)"));
        assert!(!text.contains("cr2"));
        assert!(has_error_code(8) && has_error_code(14) && has_error_code(17));
        assert!(!has_error_code(0) && !has_error_code(3) && !has_error_code(18));
        for v in 0..32 {
            assert!(!exception_name(v).1.is_empty());
        }
    }

    /// The entry stubs are assembly; check them against the Rust side of the contract.
    const STUBS: &str = include_str!("hw/idt.rs");

    #[test]
    fn stubs_push_a_dummy_error_code_exactly_where_the_cpu_pushes_none() {
        let mut seen = 0;
        for line in STUBS.lines() {
            let Some(args) = line.trim().strip_prefix("exception_stub ") else {
                continue;
            };
            let (vector, has_error) = args.split_once(", ").unwrap();
            let vector: u64 = vector.parse().unwrap();
            assert_eq!(has_error == "1", has_error_code(vector), "vector {vector}");
            assert_eq!(vector, seen, "stubs out of order");
            seen += 1;
        }
        assert_eq!(seen, 32);
    }

    #[test]
    fn stubs_push_registers_in_frame_order() {
        let common = STUBS.split("exception_common:").nth(1).unwrap();
        let pushed: std::vec::Vec<&str> = common
            .lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with("mov %rsp"))
            .filter_map(|l| l.strip_prefix("push %"))
            .collect();
        // Pushed last = lowest address = first field.
        let expected = [
            "r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8", "rbp", "rdi", "rsi", "rdx",
            "rcx", "rbx", "rax",
        ];
        let reversed: std::vec::Vec<&str> = pushed.iter().rev().copied().collect();
        assert_eq!(reversed, expected);
        assert_eq!(offset_of!(ExceptionFrame, r15), 0);
        assert_eq!(offset_of!(ExceptionFrame, rax), (expected.len() - 1) * 8);
    }
}
