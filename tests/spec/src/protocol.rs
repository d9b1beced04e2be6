//! The driver ⇄ executor protocol: one JSON object per line, a [`Command`] from the driver
//! answered by exactly one [`Response`] from the executor, in order.

use serde::{Deserialize, Serialize};

/// A wasm value as it crosses the protocol. Floats travel as bit patterns so NaN payloads
/// survive; references as what the harness can observe about them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    I32(u32),
    I64(u64),
    F32(u32),
    F64(u64),
    /// A `v128`, its 16 bytes as a little-endian number (lane 0 lowest), as two halves (low
    /// first) so that JSON carries it exactly.
    V128([u64; 2]),
    /// `None` is `ref.null func`; `Some` carries the (opaque) non-null reference.
    FuncRef(Option<u64>),
    /// `None` is `ref.null extern`; `Some(n)` is the host reference `ref.extern n`.
    ExternRef(Option<u32>),
}

impl Value {
    /// A `v128` from its 16 bytes as a little-endian number.
    pub fn v128(bits: u128) -> Value {
        Value::V128([bits as u64, (bits >> 64) as u64])
    }
}

/// Reference kinds of tables and references.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefKind {
    Func,
    Extern,
}

/// What the descriptor cannot tell the executor about an export (for import matching).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportDecl {
    Table {
        element: RefKind,
        maximum: Option<u64>,
    },
    Memory {
        maximum: Option<u64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Load the shared object at `path` as instance `id`, link its imports against the
    /// registered instances, and run its initialisation.
    Instantiate {
        id: u32,
        path: String,
        /// Declared types of exported tables and memories, by export name.
        exports: Vec<(String, ExportDecl)>,
        timeout_ms: u64,
    },
    /// Make instance `id`'s exports importable under module name `name`.
    Register { name: String, id: u32 },
    Invoke {
        id: u32,
        export: String,
        args: Vec<Value>,
        timeout_ms: u64,
    },
    /// Read an exported global.
    Get { id: u32, export: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Ok,
    Values(Vec<Value>),
    /// A wasm trap, with the spec's message for it.
    Trap(String),
    /// Instantiation failed at link time (missing or mismatched import).
    Unlinkable(String),
    TimedOut,
    /// The request itself was wrong (unknown instance or export, bad arguments, load failure).
    Error(String),
}

/// Serialises one protocol message as a line (with its newline).
pub fn encode<T: Serialize>(message: &T) -> String {
    let mut line = serde_json::to_string(message).expect("protocol types always serialise");
    line.push('\n');
    line
}

/// Parses one protocol line.
pub fn decode<T: for<'a> Deserialize<'a>>(line: &str) -> Result<T, String> {
    serde_json::from_str(line.trim_end()).map_err(|e| format!("bad protocol line {line:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_responses_round_trip_one_line_each() {
        let commands = [
            Command::Instantiate {
                id: 3,
                path: "/tmp/x y/m.so".into(),
                exports: vec![
                    (
                        "t\n".into(),
                        ExportDecl::Table {
                            element: RefKind::Func,
                            maximum: None,
                        },
                    ),
                    (
                        "m".into(),
                        ExportDecl::Memory {
                            maximum: Some(65536),
                        },
                    ),
                ],
                timeout_ms: 10,
            },
            Command::Register {
                name: "spectest\u{0}é".into(),
                id: 0,
            },
            Command::Invoke {
                id: 1,
                export: "".into(),
                args: vec![
                    Value::I32(u32::MAX),
                    Value::I64(u64::MAX),
                    Value::F32(0x7fc0_0001),
                    Value::F64(0xfff8_0000_0000_0001),
                    Value::V128([u64::MAX, 0x7ff8_0000_0000_0001]),
                    Value::FuncRef(None),
                    Value::ExternRef(Some(0)),
                ],
                timeout_ms: 0,
            },
            Command::Get {
                id: 9,
                export: "g".into(),
            },
        ];
        for c in commands {
            let line = encode(&c);
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert!(line.ends_with('\n'));
            assert_eq!(decode::<Command>(&line).unwrap(), c);
        }
        let responses = [
            Response::Ok,
            Response::Values(vec![
                Value::FuncRef(Some(0xdead_beef)),
                Value::ExternRef(None),
            ]),
            Response::Trap("integer overflow".into()),
            Response::Unlinkable("unknown import".into()),
            Response::TimedOut,
            Response::Error("x".into()),
        ];
        for r in responses {
            assert_eq!(decode::<Response>(&encode(&r)).unwrap(), r);
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = decode::<Command>("{\"Nope\":1}").unwrap_err();
        assert!(err.contains("bad protocol line"), "{err}");
        assert!(decode::<Response>("").is_err());
    }
}
