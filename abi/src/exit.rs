//! Process-level exit statuses of a mewz image or hosted executable.
//!
//! The app's own `proc_exit(code)` passes through unchanged (0..=255). The runtime's own verdicts
//! use the values below; every runner decodes them with [`ExitCode::describe`].

/// Notes: lines the kernel leaves for the runner beside the exit status, on the same channel
/// (x86_64: the debug port whose last byte is the status; aarch64: the semihosting console),
/// each `NOTE_PREFIX KEY=VALUE` and a newline. Runners that do not read them lose nothing but
/// the detail.
pub const NOTE_PREFIX: &str = "mewz-note: ";
/// Note with an [`ExitCode::OUT_OF_MEMORY`] exit: the app's declared minimum memory needs a
/// machine of at least this many MiB.
pub const NOTE_DECLARED_MEMORY_MIB: &str = "declared-memory-mib";
/// Note with an [`ExitCode::OUT_OF_MEMORY`] exit: the app touched more memory than a machine
/// of this many MiB could back.
pub const NOTE_MEMORY_EXHAUSTED_MIB: &str = "memory-exhausted-mib";

/// Exit status of a run, as seen by the user's shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitCode(pub u8);

impl ExitCode {
    /// The app returned from `_start` without calling `proc_exit`, or called `proc_exit(0)`.
    pub const SUCCESS: ExitCode = ExitCode(0);
    /// The app hit a wasm trap (same value wasmtime uses: 128 + SIGABRT).
    pub const WASM_TRAP: ExitCode = ExitCode(134);
    /// The machine has too little memory for the app: its declared minimum memory is larger
    /// than the machine, or a page it touched could not be backed.
    pub const OUT_OF_MEMORY: ExitCode = ExitCode(249);
    /// The kernel panicked (a bug in mewz, or an unrecoverable condition it reports).
    pub const KERNEL_PANIC: ExitCode = ExitCode(250);
    /// The CPU raised an exception that is not a wasm trap (a kernel fault).
    pub const CPU_EXCEPTION: ExitCode = ExitCode(251);
    /// The runner could not get a status out of the machine (killed, timed out, crashed).
    pub const NO_STATUS: ExitCode = ExitCode(252);
    /// The app could not start: its configuration or module cannot run (a bad `mewz.memory`,
    /// an import the kernel lacks, a memory that does not fit).
    pub const APP_NOT_STARTED: ExitCode = ExitCode(253);
    /// The packed directories (`--dir`) the machine was given are corrupt or truncated, so the
    /// app was not started.
    pub const CORRUPT_ARCHIVE: ExitCode = ExitCode(254);

    /// A short human description of a runtime verdict; `None` for ordinary app statuses.
    pub const fn describe(self) -> Option<&'static str> {
        match self {
            ExitCode::WASM_TRAP => Some("wasm trap"),
            ExitCode::OUT_OF_MEMORY => Some("out of memory"),
            ExitCode::KERNEL_PANIC => Some("kernel panic"),
            ExitCode::CPU_EXCEPTION => Some("cpu exception"),
            ExitCode::NO_STATUS => Some("no exit status from the machine"),
            ExitCode::APP_NOT_STARTED => Some("the app could not start"),
            ExitCode::CORRUPT_ARCHIVE => Some("corrupt packed directory"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_verdicts_are_distinct_and_described() {
        let all = [
            ExitCode::WASM_TRAP,
            ExitCode::OUT_OF_MEMORY,
            ExitCode::KERNEL_PANIC,
            ExitCode::CPU_EXCEPTION,
            ExitCode::NO_STATUS,
            ExitCode::APP_NOT_STARTED,
            ExitCode::CORRUPT_ARCHIVE,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.describe().is_some());
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(ExitCode::SUCCESS.describe(), None);
        assert_eq!(ExitCode(3).describe(), None);
    }
}
