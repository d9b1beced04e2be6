//! The event loop: one thread, non-blocking sockets, one wait (poll_oneoff) for all of them.

use crate::conn::{Conn, Context, Want};
use crate::poll::{Interest, Poller, RawFd};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How the server behaves; see `options.rs` for the command-line flags that set it.
#[derive(Clone, Debug)]
pub struct Config {
    /// The directory served.
    pub root: PathBuf,
    /// Longest request head (request line and fields) accepted; longer ones get 431.
    pub max_head: usize,
    /// Longest request body accepted; longer ones get 413.
    pub max_body: usize,
    /// Time a client has to send a whole request head (and between pieces of its body).
    pub header_timeout: Duration,
    /// Time a keep-alive connection may stay quiet, or a response may wait for its reader.
    pub idle_timeout: Duration,
    /// Most connections open at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Stop (exit 0) after this many responses.
    pub max_requests: Option<u64>,
    /// POST to this path answers with the request's body.
    pub echo_path: String,
    /// One line on stderr per request and per unexpected error.
    pub log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            root: PathBuf::from("/"),
            max_head: 8 * 1024,
            max_body: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_requests: None,
            echo_path: "/echo".into(),
            log: false,
        }
    }
}

/// A connected socket, whichever API made it.
pub trait Stream: Read + Write + AsRawFd {
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

/// A listening socket in non-blocking mode.
pub trait Listener: AsRawFd {
    type Stream: Stream;
    /// The next pending connection, itself non-blocking; `WouldBlock` when there is none.
    fn accept_nonblocking(&self) -> io::Result<Self::Stream>;
}

impl Stream for std::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::net::TcpStream::shutdown(self, how)
    }
}

impl Listener for std::net::TcpListener {
    type Stream = std::net::TcpStream;

    fn accept_nonblocking(&self) -> io::Result<std::net::TcpStream> {
        let (stream, _) = self.accept()?;
        stream.set_nonblocking(true)?;
        Ok(stream)
    }
}

/// What a finished run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub connections: u64,
    pub responses: u64,
}

/// How long accepting pauses after the system ran out of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves connections from `listener` until `config.max_requests` responses are out (forever
/// without it). Client errors end their connection only.
pub fn serve<L: Listener>(listener: &L, config: &Config) -> io::Result<Summary> {
    let mut conns: Vec<Conn<L::Stream>> = Vec::new();
    let mut poller = Poller::default();
    let mut interests: Vec<(RawFd, Interest)> = Vec::new();
    let mut ready: Vec<usize> = Vec::new();
    let mut date = HttpDate::default();
    let mut summary = Summary::default();
    let mut accept_paused_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let draining = config
            .max_requests
            .is_some_and(|max| summary.responses >= max);
        let cx = Context {
            config,
            now,
            date: date.get(),
            draining,
        };
        if draining {
            for c in conns.iter_mut().filter(|c| c.is_idle()) {
                c.close();
            }
        }
        // Connections whose time is up act now, whether or not their socket is ready.
        for c in conns.iter_mut().filter(|c| c.deadline() <= now) {
            summary.responses += c.drive(&cx);
        }
        conns.retain(|c| c.want() != Want::Close);
        // Done once the last connection is gone (closed just now, or by its client): with no
        // listener and no connection there would be nothing left to wait for.
        if draining && conns.is_empty() {
            return Ok(summary);
        }
        let accepting = !draining
            && conns.len() < config.max_connections
            && accept_paused_until.is_none_or(|t| t <= now);
        interests.clear();
        if accepting {
            interests.push((listener.as_raw_fd(), Interest::Read));
        }
        let first_conn = interests.len();
        interests.extend(conns.iter().map(|c| {
            let interest = match c.want() {
                Want::Write => Interest::Write,
                _ => Interest::Read,
            };
            (c.stream().as_raw_fd(), interest)
        }));
        let next_deadline = conns
            .iter()
            .map(|c| c.deadline())
            .chain(accept_paused_until.filter(|_| !accepting))
            .min();
        let timeout = next_deadline.map(|d| d.saturating_duration_since(now));
        poller.wait(&interests, timeout, &mut ready)?;

        let now = Instant::now();
        let cx = Context {
            config,
            now,
            date: date.get(),
            draining,
        };
        for &i in &ready {
            if let Some(c) = i.checked_sub(first_conn).and_then(|i| conns.get_mut(i)) {
                summary.responses += c.drive(&cx);
            }
        }
        if accepting && ready.first() == Some(&0) {
            accept_paused_until = None;
            while conns.len() < config.max_connections {
                match listener.accept_nonblocking() {
                    Ok(stream) => {
                        summary.connections += 1;
                        let mut c = Conn::new(stream, &cx);
                        // Data often arrives with the connection: read it now.
                        summary.responses += c.drive(&cx);
                        conns.push(c);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // The client left before it was accepted.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                        ) => {}
                    Err(e) => {
                        // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM):
                        // serve the connections we have and try again a little later.
                        if config.log {
                            eprintln!("http-server: accept: {e}");
                        }
                        accept_paused_until = Some(now + ACCEPT_BACKOFF);
                        break;
                    }
                }
            }
        }
    }
}

/// The current time as an HTTP date, formatted once per second.
#[derive(Default)]
struct HttpDate {
    second: u64,
    text: String,
}

impl HttpDate {
    fn get(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A server that has sent its last response ends, whether the client keeps the connection
    /// alive (the server closes it) or closes it itself.
    #[test]
    fn max_requests_ends_the_run_after_the_last_response() {
        let root = std::env::temp_dir().join(format!("static-server-max-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        for close in [false, true] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let addr = listener.local_addr().unwrap();
            let config = Config {
                root: root.clone(),
                max_requests: Some(2),
                ..Config::default()
            };
            let (done, ended) = mpsc::channel();
            std::thread::spawn(move || done.send(serve(&listener, &config).map(|s| s.responses)));
            for _ in 0..2 {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                let connection = if close { "close" } else { "keep-alive" };
                write!(
                    c,
                    "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n"
                )
                .unwrap();
                let mut response = Vec::new();
                let mut buf = [0u8; 1024];
                while !response.ends_with(b"hello") {
                    let n = c.read(&mut buf).unwrap();
                    assert!(n > 0, "the connection ended before the body");
                    response.extend_from_slice(&buf[..n]);
                }
                assert!(response.starts_with(b"HTTP/1.1 200"));
            }
            let responses = ended
                .recv_timeout(Duration::from_secs(20))
                .expect("the server ends after its last response")
                .expect("without an error");
            assert_eq!(responses, 2, "Connection: {close}");
        }
    }
}
