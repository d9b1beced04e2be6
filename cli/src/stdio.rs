//! The host side of the guest's console: the runner owns every channel QEMU's character
//! devices use, and moves the bytes between them and its own stdin, stdout and stderr.
//!
//! Each channel is a Unix socket in a private directory that QEMU connects to at start
//! (`-chardev socket,path=...`): the virtio console's three ports, one per stream, and the
//! two UARTs (kernel messages, and the console of a kernel without virtio). Stdin is
//! forwarded as it arrives — whatever comes before the guest is ready waits in the socket —
//! and its end shuts the socket's write side, which QEMU reports to the guest as the port
//! closing: out of band, so every byte value passes. The socket itself stays open until the
//! machine stops (QEMU drops a connection whose peer is gone before reading what is queued).
//! Output is written on as it comes, unbuffered; when the reader goes away (a closed pipe) the
//! port closes and the app's writes fail with EPIPE, as they would under wasmtime. When stdout
//! and stderr are the same file, pipe or terminal (`2>&1`, an interactive shell), one port
//! carries both, so that they stay in the order the app wrote them.

use anyhow::{Context, Result, bail};
use mewz_kernel::console::{STDERR_PORT, STDIN_PORT, STDOUT_PORT, STDOUT_STDERR_PORT};
use mewz_kernel::wasi::stdio::{HostStdio, HostStream};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the guest's machine exposes the virtio console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioBus {
    Pci,
    Mmio,
}

/// One channel between QEMU and the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// Virtio console ports: (port number, name).
    Port(u32, &'static str),
    /// The first and second UART.
    Uart(u8),
}

impl Channel {
    fn id(self) -> String {
        match self {
            Channel::Port(nr, _) => format!("mewzport{nr}"),
            Channel::Uart(n) => format!("mewzuart{n}"),
        }
    }
}

const STDIN: Channel = Channel::Port(1, STDIN_PORT);
const STDOUT: Channel = Channel::Port(2, STDOUT_PORT);
const STDERR: Channel = Channel::Port(3, STDERR_PORT);
const STDOUT_STDERR: Channel = Channel::Port(2, STDOUT_STDERR_PORT);
const UARTS: [Channel; 2] = [Channel::Uart(0), Channel::Uart(1)];

/// `text` as a value in a QEMU option list, where a comma separates options: a literal comma
/// is written twice.
pub fn option_value(text: &str) -> String {
    text.replace(',', ",,")
}

/// Whether stdout and stderr are the same file, pipe or terminal.
pub fn outputs_are_one() -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |fd: std::io::Result<OwnedFd>| {
        let m = File::from(fd.ok()?).metadata().ok()?;
        Some((m.dev(), m.ino(), m.rdev()))
    };
    let out = id(std::io::stdout().as_fd().try_clone_to_owned());
    out.is_some() && out == id(std::io::stderr().as_fd().try_clone_to_owned())
}

/// The listening sockets, before QEMU connects.
pub struct Channels {
    dir: PathBuf,
    listeners: Vec<(Channel, UnixListener)>,
}

impl Channels {
    /// Listens on one socket per channel in `dir` (a directory only this user can enter);
    /// `one_output`: one port for stdout and stderr.
    pub fn listen(dir: &Path, one_output: bool) -> Result<Channels> {
        let ports = if one_output {
            vec![STDIN, STDOUT_STDERR]
        } else {
            vec![STDIN, STDOUT, STDERR]
        };
        let listeners = ports
            .into_iter()
            .chain(UARTS)
            .map(|c| {
                let path = dir.join(c.id());
                let l = UnixListener::bind(&path)
                    .with_context(|| format!("listening on {}", path.display()))?;
                l.set_nonblocking(true)?;
                Ok((c, l))
            })
            .collect::<Result<_>>()?;
        Ok(Channels {
            dir: dir.to_path_buf(),
            listeners,
        })
    }

    /// QEMU's arguments for the channels: the UARTs and a virtio console with the three ports.
    pub fn qemu_args(&self, bus: VirtioBus) -> Vec<String> {
        let mut args = Vec::new();
        for &(c, _) in &self.listeners {
            args.push("-chardev".into());
            args.push(format!(
                "socket,id={},path={}",
                c.id(),
                option_value(&self.dir.join(c.id()).display().to_string())
            ));
        }
        for n in 0..2 {
            args.push("-serial".into());
            args.push(format!("chardev:{}", Channel::Uart(n).id()));
        }
        let device = match bus {
            VirtioBus::Pci => "virtio-serial-pci",
            VirtioBus::Mmio => "virtio-serial-device",
        };
        args.push("-device".into());
        args.push(format!("{device},id=mewzcon,max_ports=4"));
        for &(c, _) in &self.listeners {
            if let Channel::Port(nr, name) = c {
                args.push("-device".into());
                args.push(format!(
                    "virtserialport,bus=mewzcon.0,nr={nr},name={name},chardev={}",
                    c.id()
                ));
            }
        }
        args
    }

    /// Waits for QEMU to connect every channel (it does as it starts), then starts moving
    /// bytes. Fails if QEMU exits first or does not connect within `timeout`.
    pub fn connect(self, qemu: &mut Child, stdio: &HostStdio, timeout: Duration) -> Result<Pumps> {
        let start = Instant::now();
        let mut connected: Vec<Option<UnixStream>> = self.listeners.iter().map(|_| None).collect();
        while connected.iter().any(Option::is_none) {
            for ((_, l), slot) in self.listeners.iter().zip(&mut connected) {
                if slot.is_none() {
                    match l.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(false)?;
                            *slot = Some(s);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e).context("accepting QEMU's connection"),
                    }
                }
            }
            if qemu.try_wait()?.is_some() {
                bail!("QEMU stopped before it was running");
            }
            if start.elapsed() > timeout {
                bail!(
                    "QEMU did not connect its console within {} s",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let stdin = match stdio.0[0] {
            HostStream::Directory | HostStream::Unreadable => Forward::Nothing,
            HostStream::Terminal => Forward::OnRequest,
            _ => Forward::Eagerly,
        };
        let out = || std::io::stdout().as_fd().try_clone_to_owned().ok();
        let err = || std::io::stderr().as_fd().try_clone_to_owned().ok();
        let mut outputs = Vec::new();
        for (&(channel, _), stream) in self.listeners.iter().zip(connected) {
            let stream = stream.expect("every channel connected");
            match channel {
                STDIN => forward_stdin(stream, stdin),
                STDOUT | STDOUT_STDERR => outputs.push(pump(stream, out(), true)),
                STDERR => outputs.push(pump(stream, err(), true)),
                Channel::Uart(0) => outputs.push(pump(stream, out(), false)),
                _ => outputs.push(pump(stream, err(), false)),
            }
        }
        Ok(Pumps { outputs })
    }
}

/// How stdin is forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forward {
    /// Not at all: it cannot be read (a directory, a write-only descriptor): the port closes.
    Nothing,
    /// As it comes (a pipe, a file).
    Eagerly,
    /// One read per request from the guest (a terminal: what the user types ahead for the
    /// shell stays with the terminal unless the app asks for input).
    OnRequest,
}

/// Copies the runner's stdin to the guest's stdin port, then closes the port's input side.
fn forward_stdin(mut port: UnixStream, how: Forward) {
    std::thread::spawn(move || {
        // Read the descriptor directly: `std::io::stdin` buffers, and reads a closed stdin as
        // empty without saying so.
        let input = std::io::stdin().as_fd().try_clone_to_owned().ok();
        if let (true, Some(fd)) = (how != Forward::Nothing, input) {
            let mut input = File::from(fd);
            let mut requests = port.try_clone().ok();
            let mut buf = vec![0; 64 * 1024];
            loop {
                if how == Forward::OnRequest {
                    let mut request = [0u8; 1];
                    match requests.as_mut().map(|r| r.read(&mut request)) {
                        Some(Ok(1)) => {}
                        Some(Err(e)) if e.kind() == ErrorKind::Interrupted => continue,
                        _ => return, // the machine is gone
                    }
                }
                match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if port.write_all(&buf[..n]).is_err() {
                            return; // the machine is gone
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        // End of input. The socket stays open: QEMU would drop what it has not read yet if
        // the peer disappeared, but it reads a shut-down write side to the end first.
        let _ = port.shutdown(Shutdown::Write);
        loop {
            std::thread::park();
        }
    });
}

/// Copies a channel to the runner's `to` as it arrives. For a port (`close_on_error`), a
/// failed write closes the port, so that the guest's writes fail; a UART drains silently.
fn pump(mut from: UnixStream, to: Option<OwnedFd>, close_on_error: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut to = to.map(File::from);
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if let Some(out) = &mut to
                && out.write_all(&buf[..n]).is_err()
            {
                to = None;
                if close_on_error {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    })
}

/// The threads moving the guest's output; they end when QEMU closes its side.
pub struct Pumps {
    outputs: Vec<JoinHandle<()>>,
}

impl Pumps {
    /// Waits until every byte the guest wrote has been passed on (after QEMU stopped).
    pub fn finish(self) {
        for t in self.outputs {
            let _ = t.join();
        }
    }
}
