//! Module bytes → shared object the executor can load, plus the export facts the descriptor
//! does not carry.

use super::Arch;
use crate::protocol::{ExportDecl, RefKind};
use mewz_compiler::{CompileOptions, ImportLinkage};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// Set (by `ci/spec --every-loop-twice`) to compile with
/// [`CompileOptions::every_loop_twice`].
pub const EVERY_LOOP_TWICE: &str = "MEWZ_SPEC_EVERY_LOOP_TWICE";

/// Set (by `ci/spec --cpu NAME`) to compile for that CPU ([`CompileOptions::cpu`]) instead of
/// the target's portable baseline.
pub const CPU: &str = "MEWZ_SPEC_CPU";

/// Longest a spec module may take to compile: a wedged compiler is a failure, not a hang.
const COMPILE_LIMIT: Duration = Duration::from_secs(60);

/// Compiles `wasm`; `Err` carries the compiler's message (what `assert_invalid` and
/// `assert_malformed` expect).
pub fn compile(wasm: &[u8], arch: Arch) -> Result<Vec<u8>, String> {
    compile_within(wasm, arch, COMPILE_LIMIT)
}

/// [`compile`] with a time limit. A compilation past the limit is abandoned on its thread
/// (which ends with the process).
pub fn compile_within(wasm: &[u8], arch: Arch, limit: Duration) -> Result<Vec<u8>, String> {
    let options = CompileOptions {
        target: arch.compiler_target(),
        import_linkage: ImportLinkage::Slots,
        every_loop_twice: std::env::var_os(EVERY_LOOP_TWICE).is_some(),
        cpu: std::env::var(CPU).ok().filter(|c| !c.is_empty()),
        ..CompileOptions::default()
    };
    let wasm = wasm.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("compile".into())
        .spawn(move || {
            let result = mewz_compiler::compile(&wasm, &options)
                .map(|m| m.object)
                .map_err(|e| e.to_string());
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start a compile thread: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(format!("the compiler took longer than {limit:?}")),
        Err(RecvTimeoutError::Disconnected) => Err("the compiler panicked".into()),
    }
}

/// Links `object` into the shared object `so` (undefined runtime symbols stay undefined:
/// the executor provides them).
pub fn link_shared(object: &[u8], so: &Path) -> Result<(), String> {
    let obj_path = so.with_extension("o");
    std::fs::write(&obj_path, object).map_err(|e| format!("{}: {e}", obj_path.display()))?;
    let out = Command::new("ld.lld-19")
        // One thread: scripts already run in parallel, and lld's thread pool costs more to start
        // than a tiny module takes to link.
        .args(["--threads=1", "-shared", "-z", "notext", "-o"])
        .arg(so)
        .arg(&obj_path)
        .output()
        .map_err(|e| format!("cannot run ld.lld-19: {e}"))?;
    let _ = std::fs::remove_file(&obj_path);
    if !out.status.success() {
        return Err(format!(
            "ld.lld-19 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A compiled, linked module.
pub struct Prepared {
    pub so: PathBuf,
    pub exports: Vec<(String, ExportDecl)>,
}

/// Compile + link + export facts.
pub fn prepare(wasm: &[u8], arch: Arch, so: PathBuf) -> Result<Prepared, String> {
    let object = compile(wasm, arch)?;
    link_shared(&object, &so)?;
    Ok(Prepared {
        so,
        exports: export_decls(wasm)?,
    })
}

fn ref_kind(r: wasmparser::RefType) -> RefKind {
    if r.is_extern_ref() {
        RefKind::Extern
    } else {
        RefKind::Func
    }
}

/// Declared types of the exported tables and memories of a (valid) module.
pub fn export_decls(wasm: &[u8]) -> Result<Vec<(String, ExportDecl)>, String> {
    use wasmparser::{ExternalKind, Payload, TypeRef};
    let mut tables = Vec::new();
    let mut memories = Vec::new();
    let mut exports = Vec::new();
    let table_decl = |t: &wasmparser::TableType| ExportDecl::Table {
        element: ref_kind(t.element_type),
        maximum: t.maximum,
    };
    let memory_decl = |m: &wasmparser::MemoryType| ExportDecl::Memory { maximum: m.maximum };
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    match import.map_err(|e| e.to_string())?.ty {
                        TypeRef::Table(t) => tables.push(table_decl(&t)),
                        TypeRef::Memory(m) => memories.push(memory_decl(&m)),
                        _ => {}
                    }
                }
            }
            Payload::TableSection(section) => {
                for table in section {
                    tables.push(table_decl(&table.map_err(|e| e.to_string())?.ty));
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    memories.push(memory_decl(&memory.map_err(|e| e.to_string())?));
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export.map_err(|e| e.to_string())?;
                    let decl = match export.kind {
                        ExternalKind::Table => tables.get(export.index as usize),
                        ExternalKind::Memory => memories.get(export.index as usize),
                        _ => None,
                    };
                    if let Some(decl) = decl {
                        exports.push((export.name.to_string(), decl.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(exports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_errors_and_time_limits_are_reported() {
        let empty = b"\0asm\x01\0\0\0";
        assert!(compile(empty, Arch::X86_64).is_ok());
        assert!(
            compile(b"\0asm\x02\0\0\0", Arch::X86_64).is_err(),
            "bad version"
        );
        let err = compile_within(empty, Arch::X86_64, Duration::ZERO).unwrap_err();
        assert!(err.contains("longer than"), "{err}");
    }

    #[test]
    fn export_decls_follow_index_spaces() {
        let wasm = wast::parser::parse::<wast::Wat>(
            &wast::parser::ParseBuffer::new(
                r#"(module
                    (import "a" "t" (table 1 funcref))
                    (import "a" "m" (memory 1 3))
                    (table 2 5 externref)
                    (export "t0" (table 0)) (export "t1" (table 1)) (export "m0" (memory 0))
                    (func (export "f")))"#,
            )
            .unwrap(),
        )
        .unwrap()
        .encode()
        .unwrap();
        let decls = export_decls(&wasm).unwrap();
        assert_eq!(
            decls,
            [
                (
                    "t0".into(),
                    ExportDecl::Table {
                        element: RefKind::Func,
                        maximum: None
                    }
                ),
                (
                    "t1".into(),
                    ExportDecl::Table {
                        element: RefKind::Extern,
                        maximum: Some(5)
                    }
                ),
                ("m0".into(), ExportDecl::Memory { maximum: Some(3) }),
            ]
        );
    }
}
