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

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn log() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("mewz-spec-client-test-{}.log", std::process::id()))
    }

    #[test]
    fn answers_crashes_and_silence_are_told_apart() {
        let get = Command::Get {
            id: 0,
            export: "g".into(),
        };
        let wait = Duration::from_secs(5);
        let mut ok = Client::start(&sh(r#"read line; echo '"Ok"'; read line"#), &log()).unwrap();
        assert_eq!(ok.request(&get, wait), Ok(Response::Ok));
        let mut dies = Client::start(&sh("read line; exit 3"), &log()).unwrap();
        let err = dies.request(&get, wait).unwrap_err();
        assert!(err.contains("died"), "{err}");
        let mut mute = Client::start(&sh("read line; sleep 30"), &log()).unwrap();
        let err = mute.request(&get, Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("no answer"), "{err}");
        let mut garbage = Client::start(&sh("read line; echo nonsense"), &log()).unwrap();
        assert!(
            garbage
                .request(&get, wait)
                .unwrap_err()
                .contains("bad protocol line")
        );
        let _ = std::fs::remove_file(log());
    }
}
