//! The executor process as the driver sees it: requests with a deadline; a crash or a wedged
//! executor is an error for that request (and the runner starts a fresh executor).

use crate::protocol::{Command, Response, decode, encode};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Client {
    /// Starts `argv` (the executor, possibly behind an emulator) with its stderr in `log`.
    pub fn start(argv: &[String], log: &Path) -> Result<Client, String> {
        let (program, args) = argv.split_first().ok_or("empty executor command")?;
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Process::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start executor {program}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no executor stdin")?;
        let stdout = child.stdout.take().ok_or("no executor stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Client {
            child,
            stdin,
            lines,
        })
    }

    /// Sends `command` and waits at most `wait` for its response.
    pub fn request(&mut self, command: &Command, wait: Duration) -> Result<Response, String> {
        self.stdin
            .write_all(encode(command).as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("executor gone: {e}"))?;
        match self.lines.recv_timeout(wait) {
            Ok(line) => decode(&line),
            Err(RecvTimeoutError::Timeout) => Err(format!("executor gave no answer in {wait:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(format!("executor died ({status})"))
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
