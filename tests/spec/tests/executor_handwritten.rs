//! The executor against a hand-written module that follows the ABI (no compiler needed):
//! linking, invocation, every trap path, time limits, globals, memory growth.

use mewz_abi::module::{ValType, func_type_id};
use mewz_spec::protocol::{Command, Response, Value, decode, encode};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command as Process, Stdio};

fn build_module(dir: &Path, name: &str, defines: &[&str]) -> PathBuf {
    use ValType::I32;
    let tid = |p: &[ValType], r: &[ValType]| format!("{:#x}ULL", func_type_id(p, r));
    let object = dir.join(format!("{name}.o"));
    let so = dir.join(format!("{name}.so"));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/handwritten.c");
    let mut cc = Process::new("clang-19");
    cc.args(["-O1", "-fPIC", "-c", "-o"])
        .arg(&object)
        .arg(&source);
    cc.arg(format!("-DABI_VERSION={}", mewz_abi::module::ABI_VERSION));
    cc.arg(format!("-DTID_I32__I32={}", tid(&[I32], &[I32])));
    cc.arg(format!("-DTID_I32_I32__I32={}", tid(&[I32, I32], &[I32])));
    cc.arg(format!("-DTID_I32__NONE={}", tid(&[I32], &[])));
    cc.args(defines.iter().map(|d| format!("-D{d}")));
    assert!(cc.status().unwrap().success(), "clang-19 failed");
    let ld = Process::new("ld.lld-19")
        .arg("-shared")
        .arg("-o")
        .arg(&so)
        .arg(&object)
        .status();
    assert!(ld.unwrap().success(), "ld.lld-19 failed");
    so
}

struct Executor {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Executor {
    fn start() -> Executor {
        let mut child = Process::new(env!("CARGO_BIN_EXE_mewz-spec-exec"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Executor {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, command: Command) -> Response {
        self.stdin.write_all(encode(&command).as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        decode(&line).unwrap()
    }

    fn invoke(&mut self, export: &str, arg: u32) -> Response {
        self.send(Command::Invoke {
            id: 1,
            export: export.into(),
            args: vec![Value::I32(arg)],
            timeout_ms: 2000,
        })
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn instantiate(id: u32, so: &Path) -> Command {
    Command::Instantiate {
        id,
        path: so.to_str().unwrap().into(),
        exports: vec![],
        timeout_ms: 2000,
    }
}

#[test]
fn executor_runs_a_handwritten_module() {
    let dir = std::env::temp_dir().join(format!("mewz-spec-handwritten-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = build_module(&dir, "good", &[]);
    let missing = build_module(&dir, "missing", &["MISSING_IMPORT"]);
    let trapping = build_module(&dir, "trapping", &["TRAP_IN_INSTANTIATE"]);
    let wrong_signature = build_module(&dir, "wrong-signature", &["WRONG_SIGNATURE"]);
    let wrong_mutability = build_module(&dir, "wrong-mutability", &["WRONG_MUTABILITY"]);

    let mut ex = Executor::start();
    assert_eq!(ex.send(instantiate(1, &good)), Response::Ok);
    let values = |v: u32| Response::Values(vec![Value::I32(v)]);
    let add = Command::Invoke {
        id: 1,
        export: "add".into(),
        args: vec![Value::I32(2), Value::I32(u32::MAX)],
        timeout_ms: 0,
    };
    assert_eq!(ex.send(add), values(1));
    assert_eq!(
        ex.invoke("load", 0),
        values(7),
        "instantiate wrote memory[0]"
    );
    let oob = Response::Trap("out of bounds memory access".into());
    assert_eq!(ex.invoke("load", 65536), oob);
    assert_eq!(ex.invoke("load", u32::MAX), oob);
    assert_eq!(
        ex.invoke("div0", 0),
        Response::Trap("integer divide by zero".into())
    );
    assert_eq!(
        ex.invoke("div0", 4),
        values(25),
        "the executor survives a trap"
    );
    assert_eq!(
        ex.invoke("recurse", 0),
        Response::Trap("call stack exhausted".into())
    );
    let spin = Command::Invoke {
        id: 1,
        export: "spin".into(),
        args: vec![Value::I32(0)],
        timeout_ms: 100,
    };
    assert_eq!(ex.send(spin), Response::TimedOut);
    assert_eq!(ex.invoke("imported_global", 0), values(666));
    assert_eq!(ex.invoke("call_print", 5), values(5));
    assert_eq!(
        ex.send(Command::Get {
            id: 1,
            export: "g".into()
        }),
        values(42)
    );
    assert_eq!(ex.invoke("grow", 1), values(1));
    assert_eq!(
        ex.invoke("load", 65536),
        values(0),
        "grown page is mapped and zero"
    );
    assert_eq!(ex.invoke("grow", 1), values(u32::MAX), "maximum is 2 pages");
    assert!(matches!(ex.invoke("nope", 0), Response::Error(_)));

    // Imports resolve through registered names; unknown ones make the module unlinkable.
    assert_eq!(
        ex.send(Command::Register {
            name: "M".into(),
            id: 1
        }),
        Response::Ok
    );
    let r = ex.send(instantiate(2, &missing));
    assert!(
        matches!(&r, Response::Unlinkable(m) if m.starts_with("unknown import")),
        "{r:?}"
    );
    for (id, so) in [(4, &wrong_signature), (5, &wrong_mutability)] {
        let r = ex.send(instantiate(id, so));
        let incompatible =
            matches!(&r, Response::Unlinkable(m) if m.starts_with("incompatible import type"));
        assert!(incompatible, "{r:?}");
    }
    assert_eq!(
        ex.send(instantiate(3, &trapping)),
        Response::Trap("unreachable".into())
    );
    let gone = Command::Invoke {
        id: 3,
        export: "add".into(),
        args: vec![],
        timeout_ms: 0,
    };
    assert!(
        matches!(ex.send(gone), Response::Error(_)),
        "a failed instance is not kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
