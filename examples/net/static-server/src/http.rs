//! HTTP/1.1 messages: parsing a request head (httparse), framing its body, writing response heads.

use std::fmt::Write as _;

/// Most header fields a request may have.
const MAX_HEADERS: usize = 64;

/// What a response says in its status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Continue,
    Ok,
    MovedPermanently,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    LengthRequired,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    InternalServerError,
    NotImplemented,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Continue => 100,
            Status::Ok => 200,
            Status::MovedPermanently => 301,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::LengthRequired => 411,
            Status::ContentTooLarge => 413,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Continue => "Continue",
            Status::Ok => "OK",
            Status::MovedPermanently => "Moved Permanently",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::LengthRequired => "Length Required",
            Status::ContentTooLarge => "Content Too Large",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

/// How the request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    None,
    Length(usize),
    Chunked,
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target as sent (origin form `/path?query`, or absolute form).
    pub target: String,
    /// Whether the connection stays open after the response (HTTP/1.1 unless `close`,
    /// HTTP/1.0 only with `keep-alive`).
    pub keep_alive: bool,
    pub body: Body,
    /// `Expect: 100-continue`: the client waits for an interim response before the body.
    pub expects_continue: bool,
    pub content_type: Option<String>,
    /// Bytes of the head, including the blank line that ends it.
    pub head_len: usize,
}

/// The outcome of parsing what has arrived of a request head.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// More bytes are needed.
    Partial,
    Complete(Request),
    /// The request cannot be served; answer with this status and close the connection.
    Reject(Status),
}

/// Parses a request head from the start of `buf`. Heads longer than `max_head` bytes and
/// bodies announced longer than `max_body` are rejected before they are read.
pub fn parse_head(buf: &[u8], max_head: usize, max_body: usize) -> Head {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        Ok(httparse::Status::Complete(_)) => return Head::Reject(Status::HeaderFieldsTooLarge),
        Ok(httparse::Status::Partial) if buf.len() > max_head => {
            return Head::Reject(Status::HeaderFieldsTooLarge);
        }
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::Reject(Status::HeaderFieldsTooLarge),
        Err(httparse::Error::Version) => return Head::Reject(Status::VersionNotSupported),
        Err(_) => return Head::Reject(Status::BadRequest),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Head::Reject(Status::BadRequest);
    };
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut content_length: Option<usize> = None;
    let mut transfer_encoding: Option<String> = None;
    let mut expects_continue = false;
    let mut content_type = None;
    let mut host_count = 0;
    for field in req.headers.iter() {
        let Ok(value) = std::str::from_utf8(field.value) else {
            // Only fields we read must be text; the rest pass through untouched.
            if is_framing_field(field.name) {
                return Head::Reject(Status::BadRequest);
            }
            continue;
        };
        let value = value.trim();
        match field.name.to_ascii_lowercase().as_str() {
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    connection_close |= token.eq_ignore_ascii_case("close");
                    connection_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                }
            }
            "content-length" => {
                // Several equal values (or a list of them) are one length; differing ones
                // make the framing ambiguous (RFC 9112, 6.3).
                for part in value.split(',').map(str::trim) {
                    let Some(n) = parse_decimal(part) else {
                        return Head::Reject(Status::BadRequest);
                    };
                    if content_length.is_some_and(|m| m != n) {
                        return Head::Reject(Status::BadRequest);
                    }
                    content_length = Some(n);
                }
            }
            "transfer-encoding" => {
                let all = match transfer_encoding.take() {
                    Some(earlier) => format!("{earlier}, {value}"),
                    None => value.to_string(),
                };
                transfer_encoding = Some(all);
            }
            "expect" => {
                if value.eq_ignore_ascii_case("100-continue") {
                    expects_continue = true;
                } else {
                    return Head::Reject(Status::BadRequest);
                }
            }
            "content-type" => content_type = Some(value.to_string()),
            "host" => host_count += 1,
            _ => {}
        }
    }
    // HTTP/1.1 requests name exactly one host (RFC 9112, 3.2).
    if (minor == 1 && host_count != 1) || host_count > 1 {
        return Head::Reject(Status::BadRequest);
    }
    let body = match (transfer_encoding, content_length) {
        // Both at once is how request smuggling starts: refuse it.
        (Some(_), Some(_)) => return Head::Reject(Status::BadRequest),
        (Some(te), None) => {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            if minor == 0 || !last.eq_ignore_ascii_case("chunked") {
                return Head::Reject(Status::NotImplemented);
            }
            if te.split(',').count() > 1 {
                // chunked combined with a compression coding: bodies we would have to inflate.
                return Head::Reject(Status::NotImplemented);
            }
            Body::Chunked
        }
        (None, Some(n)) if n > max_body => return Head::Reject(Status::ContentTooLarge),
        (None, Some(0)) | (None, None) => Body::None,
        (None, Some(n)) => Body::Length(n),
    };
    Head::Complete(Request {
        method: match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            other => Method::Other(other.to_string()),
        },
        target: target.to_string(),
        keep_alive: if minor == 0 {
            connection_keep_alive && !connection_close
        } else {
            !connection_close
        },
        body,
        expects_continue: expects_continue && body != Body::None,
        content_type,
        head_len,
    })
}

fn is_framing_field(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "expect",
    ]
    .iter()
    .any(|f| name.eq_ignore_ascii_case(f))
}

/// A non-negative decimal without sign or spaces, as Content-Length requires.
fn parse_decimal(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decodes a chunked body as its bytes arrive (RFC 9112, 7.1); trailer fields are read and
/// dropped.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    trailer_bytes: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailer,
    Done,
}

impl ChunkedDecoder {
    /// Consumes what it can of `input`, appending chunk data to `body`; returns the number of
    /// bytes consumed. A body past `max_body` or a trailer past `max_head` is rejected.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        max_body: usize,
        max_head: usize,
    ) -> Result<usize, Status> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                ChunkState::Done => return Ok(used),
                ChunkState::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        used += n;
                        let size = usize::try_from(size).map_err(|_| Status::ContentTooLarge)?;
                        if size == 0 {
                            self.state = ChunkState::Trailer;
                        } else if size > max_body.saturating_sub(body.len()) {
                            return Err(Status::ContentTooLarge);
                        } else {
                            self.state = ChunkState::Data(size);
                        }
                    }
                    Ok(httparse::Status::Partial) if rest.len() > 1024 => {
                        return Err(Status::BadRequest);
                    }
                    Ok(httparse::Status::Partial) => return Ok(used),
                    Err(_) => return Err(Status::BadRequest),
                },
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = left.min(rest.len());
                    body.extend_from_slice(&rest[..take]);
                    used += take;
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(used);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(Status::BadRequest);
                    }
                    used += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if self.trailer_bytes + rest.len() > max_head {
                            return Err(Status::HeaderFieldsTooLarge);
                        }
                        return Ok(used);
                    };
                    used += end + 2;
                    self.trailer_bytes += end + 2;
                    if self.trailer_bytes > max_head {
                        return Err(Status::HeaderFieldsTooLarge);
                    }
                    if end == 0 {
                        self.state = ChunkState::Done;
                    }
                }
            }
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }
}

/// Writes a response head. `content_length` is the body's length even for HEAD, whose
/// response carries no body.
pub fn response_head(
    out: &mut Vec<u8>,
    status: Status,
    date: &str,
    content_type: Option<&str>,
    content_length: u64,
    keep_alive: bool,
    extra: &[(&str, &str)],
) {
    let mut head = String::with_capacity(192);
    // Writing to a String cannot fail.
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nServer: mewz-static\r\nDate: {date}\r\n",
        status.code(),
        status.reason()
    );
    if let Some(t) = content_type {
        let _ = write!(head, "Content-Type: {t}\r\n");
    }
    let _ = write!(head, "Content-Length: {content_length}\r\n");
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    out.extend_from_slice(head.as_bytes());
}

/// The interim response that lets an `Expect: 100-continue` client send its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Head {
        parse_head(s.as_bytes(), 8192, 1 << 20)
    }

    fn request(s: &str) -> Request {
        match parse(s) {
            Head::Complete(r) => r,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn a_simple_get() {
        let r = request("GET /a/b.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\nrest");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, "/a/b.txt?x=1");
        assert!(r.keep_alive);
        assert_eq!(r.body, Body::None);
        assert_eq!(
            r.head_len,
            "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n".len()
        );
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        assert!(!request("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.1\r\nHost: h\r\nConnection: x, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn partial_and_oversized_heads() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: h\r\n"), Head::Partial);
        let long = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(parse(&long), Head::Reject(Status::HeaderFieldsTooLarge));
        let many: String = (0..70).map(|i| format!("X{i}: y\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n")),
            Head::Reject(Status::HeaderFieldsTooLarge)
        );
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        assert_eq!(parse("GET\r\n\r\n"), Head::Reject(Status::BadRequest));
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Head::Reject(Status::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Head::Reject(Status::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/2.0\r\n\r\n"),
            Head::Reject(Status::VersionNotSupported)
        );
    }

    #[test]
    fn body_framing() {
        let r = request("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(r.body, Body::Length(5));
        let r = request("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(r.body, Body::Chunked);
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: -1",
            "Content-Length: 1e3",
            "Content-Length: 5\r\nTransfer-Encoding: chunked",
        ] {
            assert_eq!(
                parse(&format!("POST / HTTP/1.1\r\nHost: h\r\n{bad}\r\n\r\n")),
                Head::Reject(Status::BadRequest),
                "{bad}"
            );
        }
        let same_twice = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n";
        assert_eq!(
            parse(same_twice),
            Head::Complete(Request {
                method: Method::Post,
                target: "/".into(),
                keep_alive: true,
                body: Body::Length(5),
                expects_continue: false,
                content_type: None,
                head_len: same_twice.len(),
            })
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Head::Reject(Status::NotImplemented)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n"),
            Head::Reject(Status::ContentTooLarge)
        );
    }

    #[test]
    fn expect_continue_only_with_a_body() {
        let r = request(
            "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(r.expects_continue);
        let r = request("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
        assert!(!r.expects_continue);
    }

    #[test]
    fn chunked_bodies_decode_in_pieces() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, wire.len()] {
            let mut d = ChunkedDecoder::default();
            let mut body = Vec::new();
            let mut fed = 0;
            let mut end = 0;
            while !d.is_done() {
                end = (end + step).min(wire.len());
                fed += d.feed(&wire[fed..end], &mut body, 100, 100).unwrap();
            }
            assert_eq!(body, b"Wikipedia", "step {step}");
            assert_eq!(&wire[fed..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn chunked_bodies_have_limits() {
        let mut d = ChunkedDecoder::default();
        assert_eq!(
            d.feed(b"ff\r\n", &mut Vec::new(), 100, 100),
            Err(Status::ContentTooLarge)
        );
        let mut d = ChunkedDecoder::default();
        assert_eq!(
            d.feed(b"zz\r\n", &mut Vec::new(), 100, 100),
            Err(Status::BadRequest)
        );
        let mut d = ChunkedDecoder::default();
        assert_eq!(
            d.feed(b"1\r\nabc", &mut Vec::new(), 100, 100),
            Err(Status::BadRequest)
        );
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        response_head(
            &mut out,
            Status::NotFound,
            "D",
            Some("text/plain"),
            10,
            false,
            &[],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nServer: mewz-static\r\nDate: D\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
        );
    }
}
