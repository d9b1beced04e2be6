//! The one error type of the compiler; always displays as a single line.

use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// The module is malformed or does not validate.
    Invalid { offset: usize, message: String },
    /// The module uses a feature mewz does not support (relaxed SIMD, threads, ...).
    Unsupported { offset: usize, feature: String },
    /// LLVM or the target rejected something (a bug, or an unusable `--cpu`).
    Backend(String),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Invalid { offset, message } => {
                write!(
                    f,
                    "invalid wasm at offset {offset:#x}: {}",
                    one_line(message)
                )
            }
            CompileError::Unsupported { offset, feature } => write!(
                f,
                "unsupported feature at offset {offset:#x}: {} is not supported",
                one_line(feature)
            ),
            CompileError::Backend(message) => {
                write!(f, "code generation failed: {}", one_line(message))
            }
        }
    }
}

impl std::error::Error for CompileError {}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        classify(e.offset() as usize, e.message())
    }
}

impl From<inkwell::builder::BuilderError> for CompileError {
    fn from(e: inkwell::builder::BuilderError) -> Self {
        CompileError::Backend(e.to_string())
    }
}

/// wasmparser reports a disabled proposal as an ordinary validation error; recognise those so
/// users learn the module is fine but uses something mewz does not implement.
fn classify(offset: usize, message: &str) -> CompileError {
    if let Some(end) = message.find(" proposal disabled") {
        let start = message[..end].rfind("with ").map_or(0, |i| i + 5);
        return CompileError::Unsupported {
            offset,
            feature: format!("the {} proposal", &message[start..end]),
        };
    }
    if message.starts_with("multiple memories") {
        return CompileError::Unsupported {
            offset,
            feature: "multiple memories".to_string(),
        };
    }
    if let Some(end) = message.find(" must be enabled") {
        return CompileError::Unsupported {
            offset,
            feature: message[..end].trim().to_string(),
        };
    }
    const MARKERS: [&str; 5] = [
        " support is not enabled",
        " proposal not enabled",
        " are not enabled",
        " is not enabled",
        " not enabled",
    ];
    for marker in MARKERS {
        if let Some(pos) = message.find(marker) {
            let name = message[..pos].trim();
            let feature = if name.eq_ignore_ascii_case("SIMD") || message.contains("v128") {
                "SIMD (v128)".to_string()
            } else {
                name.to_string()
            };
            return CompileError::Unsupported { offset, feature };
        }
    }
    CompileError::Invalid {
        offset,
        message: message.to_string(),
    }
}
