//! Runs one `.wast` script: every directive becomes compile/link steps here and commands to
//! one executor process.

use super::Arch;
use super::client::Client;
use super::compile;
use super::convert::{argument, expected, show, show_expected};
use crate::expect::{all_match, trap_message_matches};
use crate::protocol::{Command, Response, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wast::token::Id;
use wast::{QuoteWat, WastDirective, WastExecute, WastInvoke, Wat};

/// How the driver runs scripts.
#[derive(Clone, Debug)]
pub struct Config {
    pub arch: Arch,
    /// The executor command line (possibly behind qemu-user).
    pub executor: Vec<String>,
    /// Scratch directory; each script gets a subdirectory.
    pub work_dir: PathBuf,
    /// Keep the compiled modules and executor logs.
    pub keep: bool,
}

/// One failed directive.
#[derive(Clone, Debug)]
pub struct Failure {
    pub line: usize,
    pub command: String,
    pub expected: String,
    pub got: String,
}

/// The outcome of one script.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<Failure>,
    pub skips: Vec<(usize, String)>,
    pub elapsed: Duration,
}

enum Verdict {
    Pass,
    Fail { expected: String, got: String },
    Skip(String),
}

fn fail(expected: impl Into<String>, got: impl Into<String>) -> Verdict {
    Verdict::Fail {
        expected: expected.into(),
        got: got.into(),
    }
}

/// Runs the script `text` (named `name` in reports).
pub fn run_file(name: &str, text: &str, config: &Config) -> FileReport {
    let start = Instant::now();
    let mut run = Run::new(name, text, config);
    run.run_all();
    let mut report = run.report;
    report.elapsed = start.elapsed();
    report
}

struct Run<'c> {
    config: &'c Config,
    text: String,
    dir: PathBuf,
    client: Option<Client>,
    executor_starts: usize,
    next_id: u32,
    names: HashMap<String, u32>,
    current: Option<u32>,
    report: FileReport,
}

impl<'c> Run<'c> {
    fn new(name: &str, text: &str, config: &'c Config) -> Run<'c> {
        let stem = name.trim_end_matches(".wast");
        Run {
            config,
            text: text.to_string(),
            dir: config.work_dir.join(stem),
            client: None,
            executor_starts: 0,
            next_id: 0,
            names: HashMap::new(),
            current: None,
            report: FileReport {
                name: name.to_string(),
                ..FileReport::default()
            },
        }
    }

    fn run_all(&mut self) {
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            self.record(0, "setup", fail("a scratch directory", e.to_string()));
            return;
        }
        let text = self.text.clone();
        let mut lexer = wast::lexer::Lexer::new(&text);
        lexer.allow_confusing_unicode(true);
        let buf = match wast::parser::ParseBuffer::new_with_lexer(lexer) {
            Ok(buf) => buf,
            Err(e) => {
                self.record(0, "lex script", fail("a lexable script", e.to_string()));
                return;
            }
        };
        let script = match wast::parser::parse::<wast::Wast<'_>>(&buf) {
            Ok(script) => script,
            Err(e) => {
                self.record(0, "parse script", fail("a parsable script", e.to_string()));
                return;
            }
        };
        for directive in script.directives {
            let (line, _) = directive.span().linecol_in(&text);
            let command = source_line(&text, directive.span().offset());
            let verdict = self.directive(directive);
            self.record(line + 1, &command, verdict);
        }
        if !self.config.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn record(&mut self, line: usize, command: &str, verdict: Verdict) {
        let r = &mut self.report;
        match verdict {
            Verdict::Pass => r.passed += 1,
            Verdict::Fail { expected, got } => {
                r.failed += 1;
                r.failures.push(Failure {
                    line,
                    command: command.to_string(),
                    expected,
                    got,
                });
            }
            Verdict::Skip(reason) => {
                r.skipped += 1;
                r.skips.push((line, reason));
            }
        }
    }

    /// Sends `command`; a crashed or wedged executor becomes an `Error` response (and a fresh
    /// executor serves the next command).
    fn exec(&mut self, command: &Command) -> Response {
        if self.client.is_none() {
            self.executor_starts += 1;
            let log = self
                .dir
                .join(format!("executor-{}.log", self.executor_starts));
            match Client::start(&self.config.executor, &log) {
                Ok(c) => self.client = Some(c),
                Err(e) => return Response::Error(e),
            }
        }
        let wait = Duration::from_millis(self.config.arch.invoke_timeout_ms() + 30_000);
        let client = self.client.as_mut().expect("started above");
        match client.request(command, wait) {
            Ok(r) => r,
            Err(e) => {
                self.client = None;
                Response::Error(format!("executor failure: {e}"))
            }
        }
    }

    fn instance(&self, id: &Option<Id<'_>>) -> Result<u32, String> {
        match id {
            Some(id) => self
                .names
                .get(id.name())
                .copied()
                .ok_or(format!("no module ${}", id.name())),
            None => self.current.ok_or_else(|| "no current module".to_string()),
        }
    }

    /// Compiles, links and instantiates `wasm` as a new instance; its id and the executor's
    /// answer, or the compile/link error.
    fn instantiate(&mut self, wasm: &[u8]) -> (u32, Result<Response, String>) {
        let id = self.next_id;
        self.next_id += 1;
        let so = self.dir.join(format!("m{id}.so"));
        let prepared = match compile::prepare(wasm, self.config.arch, so) {
            Ok(p) => p,
            Err(e) => return (id, Err(e)),
        };
        let response = self.exec(&Command::Instantiate {
            id,
            path: prepared.so.to_string_lossy().into_owned(),
            exports: prepared.exports,
            timeout_ms: self.config.arch.invoke_timeout_ms(),
        });
        (id, Ok(response))
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Response, String> {
        let id = self.instance(&invoke.module)?;
        let args = invoke
            .args
            .iter()
            .map(argument)
            .collect::<Result<Vec<Value>, String>>()?;
        Ok(self.exec(&Command::Invoke {
            id,
            export: invoke.name.to_string(),
            args,
            timeout_ms: self.config.arch.invoke_timeout_ms(),
        }))
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Response, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let id = self.instance(&module)?;
                Ok(self.exec(&Command::Get {
                    id,
                    export: global.to_string(),
                }))
            }
            WastExecute::Wat(mut wat) => {
                let wasm = wat.encode().map_err(|e| format!("text error: {e}"))?;
                self.instantiate(&wasm).1
            }
        }
    }

    fn directive(&mut self, directive: WastDirective<'_>) -> Verdict {
        match directive {
            WastDirective::Module(mut module) => self.define(&mut module),
            WastDirective::Register { name, module, .. } => {
                let id = match self.instance(&module) {
                    Ok(id) => id,
                    Err(e) => return fail("a module to register", e),
                };
                match self.exec(&Command::Register {
                    name: name.to_string(),
                    id,
                }) {
                    Response::Ok => Verdict::Pass,
                    other => fail("registered", format!("{other:?}")),
                }
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke) {
                Ok(Response::Values(_)) => Verdict::Pass,
                Ok(other) => fail("a normal return", format!("{other:?}")),
                Err(e) => fail("a normal return", e),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                let want = match results.iter().map(expected).collect::<Result<Vec<_>, _>>() {
                    Ok(w) => w,
                    Err(e) => return Verdict::Skip(e),
                };
                let shown = want.iter().map(show_expected).collect::<Vec<_>>().join(" ");
                match self.execute(exec) {
                    Ok(Response::Values(got)) if all_match(&want, &got) => Verdict::Pass,
                    Ok(Response::Values(got)) => {
                        fail(shown, got.iter().map(show).collect::<Vec<_>>().join(" "))
                    }
                    Ok(other) => fail(shown, format!("{other:?}")),
                    Err(e) => fail(shown, e),
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let is_module = matches!(exec, WastExecute::Wat(_));
                match self.execute(exec) {
                    Ok(Response::Trap(m)) if trap_message_matches(message, &m) => Verdict::Pass,
                    Ok(other) => fail(format!("trap {message:?}"), format!("{other:?}")),
                    Err(e) if is_module => fail(format!("instantiation trap {message:?}"), e),
                    Err(e) => fail(format!("trap {message:?}"), e),
                }
            }
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(Response::Trap(m)) if trap_message_matches(message, &m) => Verdict::Pass,
                Ok(other) => fail(format!("trap {message:?}"), format!("{other:?}")),
                Err(e) => fail(format!("trap {message:?}"), e),
            },
            WastDirective::AssertInvalid {
                module, message, ..
            } => self.reject(module, "invalid", message),
            WastDirective::AssertMalformed {
                module, message, ..
            } => self.reject(module, "malformed", message),
            WastDirective::AssertUnlinkable {
                module, message, ..
            } => self.unlinkable(module, message),
            WastDirective::ModuleDefinition(_) | WastDirective::ModuleInstance { .. } => {
                Verdict::Skip("module definitions/instances are Wasm 3.0 script features".into())
            }
            WastDirective::Thread(_) | WastDirective::Wait { .. } => {
                Verdict::Skip("threads are not part of Wasm 2.0".into())
            }
            WastDirective::AssertException { .. } | WastDirective::AssertSuspension { .. } => {
                Verdict::Skip("exceptions/stack switching are not part of Wasm 2.0".into())
            }
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. } => {
                Verdict::Skip("custom-section assertions are not part of Wasm 2.0".into())
            }
        }
    }

    fn define(&mut self, module: &mut QuoteWat<'_>) -> Verdict {
        let name = module.name().map(|id| id.name().to_string());
        let wasm = match module.encode() {
            Ok(w) => w,
            Err(e) => return fail("a valid module", format!("text error: {e}")),
        };
        let (id, response) = self.instantiate(&wasm);
        // Later commands address this module even if it failed (and then fail themselves).
        self.current = Some(id);
        if let Some(name) = name {
            self.names.insert(name, id);
        }
        match response {
            Ok(Response::Ok) => Verdict::Pass,
            Ok(other) => fail("instantiated", format!("{other:?}")),
            Err(e) => fail("compiled", e),
        }
    }

    /// `assert_invalid` / `assert_malformed`: the module must not compile. A quoted text module
    /// the text parser already rejects counts as rejected, as in other engines' harnesses.
    fn reject(&mut self, mut module: QuoteWat<'_>, what: &str, message: &str) -> Verdict {
        let wasm = match module.encode() {
            Ok(w) => w,
            Err(_) => return Verdict::Pass,
        };
        match compile::compile(&wasm, self.config.arch) {
            Err(_) => Verdict::Pass,
            Ok(_) => fail(format!("{what}: {message}"), "compiled successfully"),
        }
    }

    fn unlinkable(&mut self, mut module: Wat<'_>, message: &str) -> Verdict {
        let wasm = match module.encode() {
            Ok(w) => w,
            Err(e) => return fail("a valid module", format!("text error: {e}")),
        };
        match self.instantiate(&wasm).1 {
            Ok(Response::Unlinkable(_)) => Verdict::Pass,
            Ok(other) => fail(format!("unlinkable: {message}"), format!("{other:?}")),
            Err(e) => fail(format!("unlinkable: {message}"), e),
        }
    }
}

/// The script line at `offset`, trimmed, for reports.
fn source_line(text: &str, offset: usize) -> String {
    let rest = &text[offset.min(text.len())..];
    let line = rest.lines().next().unwrap_or("").trim();
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(120).collect::<String>())
    } else {
        line.to_string()
    }
}
