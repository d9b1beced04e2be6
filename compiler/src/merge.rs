//! Merges the objects of parallel code generation into one relocatable object:
//! `ld.lld-19 -r` joins them, `llvm-objcopy-19 --localize-hidden` turns the hidden symbols the
//! partitions shared into local ones, so the result looks like a single-module object
//! (only `__mewz_module` global, imports undefined).

use crate::error::CompileError;
use std::process::Command;

const LINKER: &str = "ld.lld-19";
const OBJCOPY: &str = "llvm-objcopy-19";

/// Whether both tools are installed (otherwise the compiler stays single-threaded).
pub fn available() -> bool {
    [LINKER, OBJCOPY].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

pub fn merge_objects(objects: &[Vec<u8>]) -> Result<Vec<u8>, CompileError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        CompileError::Backend(format!("merging partition objects: {what}: {e}"))
    };
    let dir = tempfile_dir().map_err(|e| fail("temporary directory", &e))?;
    let mut inputs = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let path = dir.join(format!("part{i}.o"));
        std::fs::write(&path, object).map_err(|e| fail("write", &e))?;
        inputs.push(path);
    }
    let merged = dir.join("merged.o");
    let run = |cmd: &mut Command, name: &str| -> Result<(), CompileError> {
        let out = cmd.output().map_err(|e| fail(name, &e))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(fail(name, &stderr.trim()));
        }
        Ok(())
    };
    run(
        Command::new(LINKER)
            .arg("-r")
            .arg("-o")
            .arg(&merged)
            .args(&inputs),
        LINKER,
    )?;
    run(
        Command::new(OBJCOPY).arg("--localize-hidden").arg(&merged),
        OBJCOPY,
    )?;
    let bytes = std::fs::read(&merged).map_err(|e| fail("read", &e))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(bytes)
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mewz-compiler-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
