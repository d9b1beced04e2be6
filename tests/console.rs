//! The console as a user meets it through `mewz run`: every byte of stdin delivered, whatever
//! its value and timing; stdin edge cases answered as wasmtime answers them; output that
//! appears as the app writes it, stdout and stderr in the order written where they meet; a
//! closed reader, Ctrl-C and QEMU's own failures reported in one line; and an interactive
//! terminal (driven through tmux) that looks like wasmtime's.
//!
//! The programs are `examples/console/` (built by `examples/build.sh`); architectures come from
//! `MEWZ_TEST_ARCHES` (default: both); wasmtime from `.tools/bin` (installed by ci/setup).

mod common;

use common::{MEWZ, arches, examples, root, text};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `examples/console/NAME.c` as a .wasm.
fn wasm(name: &str) -> PathBuf {
    examples("console").join(format!("{name}.wasm"))
}

/// The image of program `name` for `arch`, built once per test run.
fn image(name: &str, arch: &str) -> PathBuf {
    let image = examples("console").join(format!("{name}.{arch}.img"));
    common::image(arch, &wasm(name), &[], image)
}

fn wasmtime() -> Command {
    let mut c = Command::new(root().join(".tools/bin/wasmtime"));
    c.arg("run");
    c
}

fn mewz_run(image: &Path) -> Command {
    let mut c = Command::new(MEWZ);
    c.args(["run", "--timeout", "120"]).arg(image);
    c
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `cmd` with `stdin`, feeding `input` (if any) from a thread as the process reads it.
fn run(mut cmd: Command, stdin: Stdio, input: Option<Vec<u8>>) -> Run {
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the runner");
    let feeder = input.map(|bytes| {
        let mut to = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = to.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().unwrap();
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    Run {
        status: out.status.code(),
        stdout: out.stdout,
        stderr: text(&out.stderr),
    }
}

/// `len` pseudo-random bytes (xorshift64*), different for each seed.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn random_bytes_pass_through_cat_unchanged_every_time() {
    const RUNS: u64 = 20;
    const LEN: usize = 3 << 20;
    for arch in arches() {
        let cat = image("cat", &arch);
        for i in 0..RUNS {
            let input = random_bytes(i + 1, LEN);
            let mut seen = [false; 256];
            input.iter().for_each(|&b| seen[b as usize] = true);
            assert!(seen.iter().all(|&s| s), "the input has every byte value");
            let r = run(mewz_run(&cat), Stdio::piped(), Some(input.clone()));
            assert_eq!(r.status, Some(0), "{arch} run {i}: {}", r.stderr);
            assert_eq!(r.stderr, format!("read {LEN}\n"), "{arch} run {i}");
            if let Some(at) = r.stdout.iter().zip(&input).position(|(a, b)| a != b) {
                panic!("{arch} run {i}: output differs from the input at byte {at}");
            }
            assert_eq!(r.stdout.len(), LEN, "{arch} run {i}: output length");
        }
    }
}

#[test]
fn input_sent_as_the_machine_starts_arrives_whole() {
    let lines: Vec<u8> = (1..=2000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    for arch in arches() {
        let mut child = mewz_run(&image("cat", &arch))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut to = child.stdin.take().unwrap();
        // The first half at once, in small writes, while QEMU is still starting; the rest in
        // the next milliseconds.
        let (now, later) = lines.split_at(lines.len() / 2);
        for chunk in now.chunks(7) {
            to.write_all(chunk).unwrap();
        }
        for (i, chunk) in later.chunks(later.len() / 4 + 1).enumerate() {
            std::thread::sleep(Duration::from_millis(1 << i));
            to.write_all(chunk).unwrap();
        }
        drop(to);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{arch}");
        assert!(out.stdout == lines, "{arch}: output differs from the input");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("read {}\n", lines.len())
        );
    }
}

/// One stdin case: what the process gets as fd 0, and the bytes fed through a pipe if any.
fn stdin_case(case: &str, dir: &Path) -> (Stdio, Option<Vec<u8>>) {
    match case {
        "/dev/null" => (Stdio::null(), None),
        "a directory" => (std::fs::File::open(dir).unwrap().into(), None),
        "a write-only file" => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(dir.join("write-only"))
                .unwrap();
            (f.into(), None)
        }
        "a regular file" => {
            let path = dir.join("lines");
            std::fs::write(&path, b"one\ntwo\n\nthree").unwrap();
            (std::fs::File::open(path).unwrap().into(), None)
        }
        // The command itself closes it (see `with_stdin`).
        "closed" => (Stdio::null(), None),
        "binary and a 2 MiB line" => {
            let mut bytes = b"\x04\x00\x1b[2J\r\n\xff\x04".to_vec();
            bytes.extend(random_bytes(99, 2 << 20).iter().map(|&b| b | 0x80));
            bytes.extend(b"\x04");
            (Stdio::piped(), Some(bytes))
        }
        _ => unreachable!(),
    }
}

/// `cmd` as it runs for `case`: for "closed", through a shell that closes descriptor 0 first.
fn with_stdin(case: &str, cmd: Command) -> Command {
    if case != "closed" {
        return cmd;
    }
    let mut sh = Command::new("sh");
    sh.args(["-c", "exec \"$0\" \"$@\" <&-"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    sh
}

#[test]
fn stdin_edge_cases_are_answered_as_wasmtime_answers_them() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "/dev/null",
        "a directory",
        "a write-only file",
        "a regular file",
        "binary and a 2 MiB line",
        "closed",
    ];
    for case in cases {
        let (stdin, input) = stdin_case(case, dir.path());
        let mut w = wasmtime();
        w.arg(wasm("cat"));
        let expected = run(with_stdin(case, w), stdin, input);
        assert_eq!(expected.status, Some(0), "wasmtime, {case}");
        for arch in arches() {
            let (stdin, input) = stdin_case(case, dir.path());
            let got = run(
                with_stdin(case, mewz_run(&image("cat", &arch))),
                stdin,
                input,
            );
            assert_eq!(
                got.status, expected.status,
                "{arch}, {case}: {}",
                got.stderr
            );
            assert_eq!(got.stderr, expected.stderr, "{arch}, {case}");
            assert!(
                got.stdout == expected.stdout,
                "{arch}, {case}: stdout differs ({} vs {} bytes)",
                got.stdout.len(),
                expected.stdout.len()
            );
        }
    }
}

/// Runs `cmd` with stdout and stderr into one pipe (as `2>&1 |` does); returns what came out.
fn run_into_one_pipe(mut cmd: Command) -> (Option<i32>, String) {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    // The command's copies keep the pipe open: drop ours first.
    drop(cmd);
    let mut out = String::new();
    reader.read_to_string(&mut out).unwrap();
    (child.wait().unwrap().code(), out)
}

#[test]
fn stdout_and_stderr_into_one_place_keep_their_order() {
    let mut w = wasmtime();
    w.arg(wasm("interleave"));
    let expected = run_into_one_pipe(w);
    assert_eq!(expected.0, Some(0));
    for arch in arches() {
        let got = run_into_one_pipe(mewz_run(&image("interleave", &arch)));
        assert_eq!(got, expected, "{arch}");
    }
}

/// Starts `cmd` with stdin empty, its stdout and stderr piped to this process.
fn spawn_piped(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` to end (killing it and failing after `limit`); its status and all it
/// wrote to stderr.
fn wait_with_timeout(child: &mut Child, limit: Duration) -> (Option<i32>, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

#[test]
fn a_reader_that_goes_away_fails_the_apps_writes() {
    for arch in arches() {
        let mut child = spawn_piped(mewz_run(&image("yes", &arch)));
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 4];
        out.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"y 0\n", "{arch}");
        drop(out); // like `| head -1`
        let (status, err) = wait_with_timeout(&mut child, Duration::from_secs(60));
        assert_eq!(status, Some(3), "{arch}: {err}");
        assert!(err.starts_with("write failed after "), "{arch}: {err}");
        assert_eq!(err.lines().count(), 1, "{arch}: {err}");
    }
}

/// The process IDs of `pid`'s children.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn ctrl_c_stops_the_machine_with_130_and_one_line() {
    for arch in arches() {
        let mut child = spawn_piped(mewz_run(&image("spin", &arch)));
        let mut line = [0u8; 9];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .unwrap();
        assert_eq!(&line, b"spinning\n", "{arch}");
        let qemu = children(child.id());
        assert_eq!(qemu.len(), 1, "{arch}: one QEMU under mewz");
        // What the terminal's Ctrl-C sends to mewz (QEMU, in its own group, gets nothing).
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let (status, err) = wait_with_timeout(&mut child, Duration::from_secs(30));
        assert_eq!(status, Some(130), "{arch}: {err}");
        assert_eq!(err, "mewz: interrupted; stopped the machine\n", "{arch}");
        assert!(
            !Path::new(&format!("/proc/{}", qemu[0])).exists(),
            "{arch}: QEMU is still there"
        );
    }
}

#[test]
fn qemu_failing_to_start_is_one_line_with_its_reason() {
    for arch in arches() {
        let r = run(
            {
                let mut c = Command::new(MEWZ);
                c.args(["run", "--vm-memory", "12Q"])
                    .arg(image("cat", &arch));
                c
            },
            Stdio::null(),
            None,
        );
        assert_eq!(r.status, Some(1), "{arch}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{arch}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("mewz: QEMU failed: ") && r.stderr.contains("12Q"),
            "{arch}: {}",
            r.stderr
        );
    }
}

/// A shell command in an 80x24 tmux window, a terminal the test types into and reads.
struct Terminal {
    server: String,
    command: String,
}

impl Terminal {
    /// Starts `command` (a `sh -c` line); the window stays after it ends.
    fn start(command: &str) -> Terminal {
        static N: Mutex<u32> = Mutex::new(0);
        let server = {
            let mut n = N.lock().unwrap();
            *n += 1;
            format!("mewz-console-test-{}-{}", std::process::id(), *n)
        };
        let t = Terminal {
            server,
            command: command.into(),
        };
        let shell = format!("{command}; sleep 600");
        let started = t.tmux(
            &["new-session", "-d", "-s", "t", "-x", "80", "-y", "24"]
                .into_iter()
                .chain(["sh", "-c", &shell])
                .collect::<Vec<_>>(),
        );
        assert!(started.status.success(), "tmux: {started:?}");
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("running tmux (ci/setup installs it)")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        self.tmux(&args);
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{}: waited in vain for {what}; screen:\n{s}",
                self.command
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// The user types two lines and Ctrl-D into `cat`; each typed line must come back from the
/// app before the next is typed (the app's output appears as it writes it). Then
/// `interleave` runs. Returns the final screen.
fn cat_session(cat: &str, interleave: &str) -> String {
    let t = Terminal::start(&format!("{cat}; echo EXIT=$?; {interleave}; echo DONE"));
    t.keys(&["hello world", "Enter"]);
    t.wait_for("hello world to come back", |s| {
        s.matches("hello world").count() == 2
    });
    t.keys(&["second", "Enter"]);
    t.wait_for("second to come back", |s| s.matches("second").count() == 2);
    t.keys(&["C-d"]);
    t.wait_for("the end", |s| s.contains("DONE"));
    t.screen()
}

#[test]
fn a_terminal_session_looks_like_wasmtimes() {
    let wasmtime = root().join(".tools/bin/wasmtime");
    let under_wasmtime =
        |name: &str| format!("{} run {}", wasmtime.display(), wasm(name).display());
    let expected = cat_session(&under_wasmtime("cat"), &under_wasmtime("interleave"));
    let interleaved: String = (0..8).map(|i| format!("out {i}\nerr {i}\n")).collect();
    assert_eq!(
        expected,
        format!("hello world\nhello world\nsecond\nsecond\nread 19\nEXIT=0\n{interleaved}DONE"),
        "wasmtime's own screen"
    );
    for arch in arches() {
        let under_mewz = |name: &str| format!("{MEWZ} run {}", image(name, &arch).display());
        let got = cat_session(&under_mewz("cat"), &under_mewz("interleave"));
        assert_eq!(got, expected, "{arch}");
    }
}

#[test]
fn what_the_user_types_ahead_stays_with_the_terminal() {
    // `pause` never reads stdin: a line typed while it runs is the shell's next input.
    let wasmtime = root().join(".tools/bin/wasmtime");
    let mut commands = vec![(
        "wasmtime".to_string(),
        format!("{} run {}", wasmtime.display(), wasm("pause").display()),
    )];
    for arch in arches() {
        commands.push((
            arch.clone(),
            format!("{MEWZ} run {}", image("pause", &arch).display()),
        ));
    }
    for (who, app) in commands {
        let t = Terminal::start(&format!("{app}; read line; echo \"shell got $line\""));
        t.wait_for("the app to run", |s| s.contains("pausing"));
        t.keys(&["typed ahead", "Enter"]);
        t.wait_for("the shell's answer", |s| s.contains("shell got"));
        assert_eq!(
            t.screen(),
            "pausing\ntyped ahead\ndone\nshell got typed ahead",
            "{who}"
        );
    }
}

#[test]
fn ctrl_c_in_a_terminal_leaves_it_as_it_was() {
    for arch in arches() {
        let spin = format!("{MEWZ} run {}", image("spin", &arch).display());
        // The shell catches SIGINT (as an interactive one does) rather than dying of it.
        let t = Terminal::start(&format!(
            "trap : INT; {spin}; echo EXIT=$?; read line; echo \"shell got $line\""
        ));
        t.wait_for("the app to run", |s| s.contains("spinning"));
        t.keys(&["C-c"]);
        t.wait_for("the exit status", |s| s.contains("EXIT="));
        // Echo and line editing still on: the typed line shows as typed, then the shell reads it.
        t.keys(&["typed", "BSpace", "d after", "Enter"]);
        t.wait_for("the shell's answer", |s| s.contains("shell got"));
        let screen = t.screen();
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(lines.first(), Some(&"spinning"), "{arch}:\n{screen}");
        assert!(
            lines[1].ends_with("mewz: interrupted; stopped the machine"),
            "{arch}: one line from mewz, nothing from QEMU:\n{screen}"
        );
        assert_eq!(
            &lines[2..],
            ["EXIT=130", "typed after", "shell got typed after"],
            "{arch}:\n{screen}"
        );
    }
}
