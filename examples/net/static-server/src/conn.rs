//! One client connection: read a request, answer it, keep the connection for the next one or
//! close it — as a state machine driven by readiness, never blocking.

use crate::files::{self, Found};
use crate::http::{self, Body, ChunkedDecoder, Head, Method, Request, Status};
use crate::server::{Config, Stream};
use std::fs::File;
use std::io::{self, Read};
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes of a file read at a time while its body is sent.
const FILE_CHUNK: usize = 64 * 1024;
/// Most bytes one connection sends per wake-up, so that one large download cannot starve the
/// other connections.
const SEND_BUDGET: usize = 1024 * 1024;
/// How long a closing connection keeps reading (and dropping) what the client still sends, so
/// that the client sees the final response before the connection goes (RFC 9112, 9.6).
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes dropped while lingering.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// What a connection waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Read,
    Write,
    Close,
}

/// What the server tells each connection when it acts.
pub struct Context<'a> {
    pub config: &'a Config,
    pub now: Instant,
    /// The current time as an HTTP date.
    pub date: &'a str,
    /// The server is stopping: answer the current request, then close.
    pub draining: bool,
}

enum Phase {
    /// Between requests: nothing of the next one has arrived.
    Idle,
    /// Part of a request head has arrived.
    Head,
    /// The head is in; its body is arriving.
    Body {
        request: Request,
        body: Vec<u8>,
        chunked: Option<ChunkedDecoder>,
    },
    /// Sending the response (`output`, then `file`).
    Respond,
    /// The last response is out; reading and dropping what still comes, until end of file.
    Linger {
        dropped: usize,
    },
    Closed,
}

pub struct Conn<S> {
    stream: S,
    phase: Phase,
    /// Received bytes not yet consumed.
    input: Vec<u8>,
    output: Vec<u8>,
    /// How much of `output` is sent.
    sent: usize,
    /// The rest of a file body, sent after `output`.
    file: Option<(File, u64)>,
    /// Close (after lingering) once the response is out.
    close_after: bool,
    /// When the current phase gives up.
    deadline: Instant,
    /// Responses completed on this connection.
    responses: u64,
}

impl<S: Stream> Conn<S> {
    pub fn new(stream: S, cx: &Context<'_>) -> Conn<S> {
        Conn {
            stream,
            phase: Phase::Idle,
            input: Vec::new(),
            output: Vec::new(),
            sent: 0,
            file: None,
            close_after: false,
            deadline: cx.now + cx.config.idle_timeout,
            responses: 0,
        }
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn want(&self) -> Want {
        match self.phase {
            Phase::Closed => Want::Close,
            _ if self.sent < self.output.len() || self.file.is_some() => Want::Write,
            Phase::Respond => Want::Write,
            _ => Want::Read,
        }
    }

    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle) && self.input.is_empty()
    }

    /// Acts on readiness (or on the passing of time): reads, parses, answers, writes, as far
    /// as the socket allows without blocking. Returns the number of responses it completed.
    pub fn drive(&mut self, cx: &Context<'_>) -> u64 {
        let before = self.responses;
        if let Err(e) = self.drive_inner(cx) {
            if cx.config.log && !is_disconnect(&e) {
                eprintln!("http-server: connection error: {e}");
            }
            self.phase = Phase::Closed;
        }
        self.responses - before
    }

    /// Closes an idle keep-alive connection (the server is draining or the client is quiet).
    pub fn close(&mut self) {
        self.phase = Phase::Closed;
    }

    fn drive_inner(&mut self, cx: &Context<'_>) -> io::Result<()> {
        if cx.now >= self.deadline {
            self.expire(cx)?;
        }
        loop {
            self.advance(cx)?;
            let progressed = match self.want() {
                Want::Close => return Ok(()),
                Want::Write => self.send(cx)?,
                Want::Read => self.receive(cx)?,
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// The current phase has run out of time.
    fn expire(&mut self, cx: &Context<'_>) -> io::Result<()> {
        match self.phase {
            Phase::Idle | Phase::Linger { .. } | Phase::Respond => {
                // A quiet keep-alive client, a client that stopped reading, or the end of a
                // linger: nothing more to say.
                self.phase = Phase::Closed;
            }
            Phase::Head | Phase::Body { .. } => {
                self.input.clear();
                self.reject(Status::RequestTimeout, cx);
            }
            Phase::Closed => {}
        }
        Ok(())
    }

    /// Moves through the phases as far as the bytes at hand allow.
    fn advance(&mut self, cx: &Context<'_>) -> io::Result<()> {
        loop {
            match &mut self.phase {
                Phase::Idle | Phase::Head => {
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    match http::parse_head(&self.input, cx.config.max_head, cx.config.max_body) {
                        Head::Partial => {
                            if matches!(self.phase, Phase::Idle) {
                                self.phase = Phase::Head;
                                self.deadline = cx.now + cx.config.header_timeout;
                            }
                            return Ok(());
                        }
                        Head::Reject(status) => {
                            self.input.clear();
                            self.reject(status, cx);
                        }
                        Head::Complete(request) => {
                            self.input.drain(..request.head_len);
                            if request.expects_continue {
                                self.output.extend_from_slice(http::CONTINUE);
                            }
                            let chunked =
                                (request.body == Body::Chunked).then(ChunkedDecoder::default);
                            self.phase = Phase::Body {
                                request,
                                body: Vec::new(),
                                chunked,
                            };
                            self.deadline = cx.now + cx.config.header_timeout;
                        }
                    }
                }
                Phase::Body {
                    request,
                    body,
                    chunked,
                } => {
                    let complete = match (request.body, chunked) {
                        (_, Some(decoder)) => {
                            match decoder.feed(
                                &self.input,
                                body,
                                cx.config.max_body,
                                cx.config.max_head,
                            ) {
                                Ok(used) => {
                                    self.input.drain(..used);
                                }
                                Err(status) => {
                                    self.input.clear();
                                    self.reject(status, cx);
                                    continue;
                                }
                            }
                            decoder.is_done()
                        }
                        (Body::Length(n), None) => {
                            let take = (n - body.len()).min(self.input.len());
                            body.extend(self.input.drain(..take));
                            body.len() == n
                        }
                        _ => true,
                    };
                    if !complete {
                        return Ok(());
                    }
                    let Phase::Body { request, body, .. } =
                        std::mem::replace(&mut self.phase, Phase::Respond)
                    else {
                        unreachable!("matched above")
                    };
                    self.respond(&request, body, cx);
                }
                Phase::Respond => {
                    if self.sent < self.output.len() || self.file.is_some() {
                        return Ok(());
                    }
                    self.output.clear();
                    self.sent = 0;
                    self.responses += 1;
                    if self.close_after {
                        // Half-close: the client reads the response to its end, while what it
                        // still sends is read and dropped for a while.
                        let _ = self.stream.shutdown(Shutdown::Write);
                        self.input.clear();
                        self.phase = Phase::Linger { dropped: 0 };
                        self.deadline = cx.now + LINGER;
                        return Ok(());
                    }
                    self.phase = Phase::Idle;
                    self.deadline = cx.now + cx.config.idle_timeout;
                    // A pipelined request may already be in `input`.
                }
                Phase::Linger { dropped } => {
                    *dropped += self.input.len();
                    self.input.clear();
                    if *dropped > LINGER_BYTES {
                        self.phase = Phase::Closed;
                    }
                    return Ok(());
                }
                Phase::Closed => return Ok(()),
            }
        }
    }

    /// Reads what has arrived; `false` when nothing more is there now.
    fn receive(&mut self, cx: &Context<'_>) -> io::Result<bool> {
        let start = self.input.len();
        self.input.resize(start + READ_CHUNK, 0);
        let result = self.stream.read(&mut self.input[start..]);
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.input.truncate(start);
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(false),
                    io::ErrorKind::Interrupted => Ok(true),
                    _ => Err(e),
                };
            }
        };
        self.input.truncate(start + n);
        if n == 0 {
            // End of file: between requests or while lingering, the normal end; in the middle
            // of a request, the client gave up.
            self.phase = Phase::Closed;
            return Ok(false);
        }
        if matches!(self.phase, Phase::Body { .. }) {
            // A body that keeps arriving keeps its connection.
            self.deadline = cx.now + cx.config.header_timeout;
        }
        Ok(true)
    }

    /// Sends what is queued, refilling from the file; `false` when the socket is full or the
    /// budget for this wake-up is spent.
    fn send(&mut self, cx: &Context<'_>) -> io::Result<bool> {
        let mut budget = SEND_BUDGET;
        loop {
            if self.sent == self.output.len() {
                self.output.clear();
                self.sent = 0;
                if !self.refill()? {
                    return Ok(true);
                }
            }
            if budget == 0 {
                return Ok(false);
            }
            let end = self.output.len().min(self.sent + budget);
            match self.stream.write(&self.output[self.sent..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    budget -= n;
                    // A client that reads keeps its connection.
                    self.deadline = cx.now + cx.config.idle_timeout;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the next piece of the file body into `output`; `false` when there is none.
    fn refill(&mut self) -> io::Result<bool> {
        let Some((file, left)) = &mut self.file else {
            return Ok(false);
        };
        let want = (*left).min(FILE_CHUNK as u64) as usize;
        self.output.resize(want, 0);
        let mut filled = 0;
        while filled < want {
            match file.read(&mut self.output[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled < want {
            // The file shrank after its length went out: the response cannot be completed.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while sent",
            ));
        }
        *left -= want as u64;
        if *left == 0 {
            self.file = None;
        }
        Ok(true)
    }

    /// Answers an unusable request and closes the connection after it.
    fn reject(&mut self, status: Status, cx: &Context<'_>) {
        self.close_after = true;
        self.file = None;
        let body = format!("{} {}\n", status.code(), status.reason());
        http::response_head(
            &mut self.output,
            status,
            cx.date,
            Some("text/plain; charset=utf-8"),
            body.len() as u64,
            false,
            &[],
        );
        self.output.extend_from_slice(body.as_bytes());
        self.phase = Phase::Respond;
        self.deadline = cx.now + cx.config.idle_timeout;
    }

    /// Queues the response to a complete request.
    fn respond(&mut self, request: &Request, body: Vec<u8>, cx: &Context<'_>) {
        let keep_alive = request.keep_alive && !cx.draining;
        self.close_after = !keep_alive;
        self.deadline = cx.now + cx.config.idle_timeout;
        let path = request.target.split('?').next().unwrap_or("");
        let status_only = |conn: &mut Self, status: Status, extra: &[(&str, &str)]| {
            let text = format!("{} {}\n", status.code(), status.reason());
            http::response_head(
                &mut conn.output,
                status,
                cx.date,
                Some("text/plain; charset=utf-8"),
                text.len() as u64,
                keep_alive,
                extra,
            );
            if request.method != Method::Head {
                conn.output.extend_from_slice(text.as_bytes());
            }
        };
        match &request.method {
            Method::Post if path == cx.config.echo_path => {
                let content_type = request
                    .content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream");
                http::response_head(
                    &mut self.output,
                    Status::Ok,
                    cx.date,
                    Some(content_type),
                    body.len() as u64,
                    keep_alive,
                    &[],
                );
                self.output.extend_from_slice(&body);
            }
            Method::Get | Method::Head => match files::find(&cx.config.root, &request.target) {
                Found::File {
                    file,
                    len,
                    content_type,
                } => {
                    http::response_head(
                        &mut self.output,
                        Status::Ok,
                        cx.date,
                        Some(content_type),
                        len,
                        keep_alive,
                        &[],
                    );
                    if request.method == Method::Get && len > 0 {
                        self.file = Some((file, len));
                    }
                }
                Found::Directory { location } => {
                    status_only(self, Status::MovedPermanently, &[("Location", &location)]);
                }
                Found::NotFound => status_only(self, Status::NotFound, &[]),
                Found::Forbidden => status_only(self, Status::Forbidden, &[]),
                Found::BadTarget => status_only(self, Status::BadRequest, &[]),
                Found::Failed(e) => {
                    if cx.config.log {
                        eprintln!("http-server: {}: {e}", request.target);
                    }
                    status_only(self, Status::InternalServerError, &[]);
                }
            },
            _ => {
                let allow = if path == cx.config.echo_path {
                    "GET, HEAD, POST"
                } else {
                    "GET, HEAD"
                };
                status_only(self, Status::MethodNotAllowed, &[("Allow", allow)]);
            }
        }
        if cx.config.log {
            eprintln!("http-server: {:?} {}", request.method, request.target);
        }
    }
}

/// Errors that only mean the client went away.
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::WriteZero
    )
}
