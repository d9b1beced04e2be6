//! `http-client [--include] [--timeout SECONDS] URL`: fetches an `http://` URL with one GET
//! over HTTP/1.1 and writes the body to stdout (with `--include`, the status line and header
//! fields first). Host names are resolved by the runtime (`sock_getaddrinfo`). Exit status 0
//! for a 2xx answer; 1, with one line on stderr, for anything else.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::Duration;

const PROGRAM: &str = "http-client";
const USAGE: &str = "usage: http-client [--include] [--timeout SECONDS] http://HOST[:PORT]/PATH";
/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

fn main() {
    let request = match parse_args(std::env::args().skip(1)) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("{PROGRAM}: {message} ({USAGE})");
            std::process::exit(2)
        }
    };
    match fetch(&request) {
        Ok(status) if (200..300).contains(&status.0) => {}
        Ok((code, reason)) => {
            eprintln!("{PROGRAM}: {}: {code} {reason}", request.url);
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {}: {e}", request.url);
            std::process::exit(1)
        }
    }
}

struct Request {
    url: String,
    host: String,
    port: u16,
    path: String,
    include: bool,
    timeout: Duration,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Request, String> {
    let mut include = false;
    let mut timeout = Duration::from_secs(30);
    let mut url = None;
    let mut args = args;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--include" | "-i" => include = true,
            "--timeout" => {
                let v = args.next().ok_or("--timeout needs seconds")?;
                timeout = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("--timeout: '{v}' is not a positive number"))?;
            }
            _ if a.starts_with('-') => return Err(format!("unknown argument '{a}'")),
            _ if url.is_none() => url = Some(a),
            _ => return Err(format!("unexpected argument '{a}'")),
        }
    }
    let url = url.ok_or("no URL")?;
    let (host, port, path) = split_url(&url)?;
    Ok(Request {
        url: url.clone(),
        host,
        port,
        path,
        include,
        timeout,
    })
}

/// `http://host[:port][/path]` into its parts (`[v6]` literals included).
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(format!("'{scheme}' URLs are not supported (only http)")),
        None => return Err(format!("'{url}' is not an http:// URL")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let path = path.split('#').next().unwrap_or("/").to_string();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || authority.contains('@') {
        return Err(format!("'{url}' has no usable host"));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("'{p}' is not a port"))?,
        None => 80,
    };
    Ok((host.to_string(), port, path))
}

/// Sends the request and streams the body to stdout; returns the final status.
fn fetch(r: &Request) -> io::Result<(u16, String)> {
    let mut stream = connect(&r.host, r.port, r.timeout)?;
    let host_field = match (r.host.contains(':'), r.port) {
        (true, 80) => format!("[{}]", r.host),
        (true, p) => format!("[{}]:{p}", r.host),
        (false, 80) => r.host.clone(),
        (false, p) => format!("{}:{p}", r.host),
    };
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {host_field}\r\nUser-Agent: {PROGRAM}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        r.path
    );
    stream.write_all(head.as_bytes())?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    loop {
        let head = read_head(&mut reader)?;
        let mut fields = [httparse::EMPTY_HEADER; 100];
        let mut response = httparse::Response::new(&mut fields);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(invalid("malformed response head")),
        }
        let code = response.code.unwrap_or(0);
        let reason = response.reason.unwrap_or("").to_string();
        if (100..200).contains(&code) {
            // An interim response (100 Continue): the real one follows.
            continue;
        }
        if r.include {
            out.write_all(&head)?;
        }
        let field = |name: &str| {
            response
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        let chunked = field("transfer-encoding")
            .last()
            .is_some_and(|te| te.rsplit(',').next().is_some_and(|c| c.trim() == "chunked"));
        let length = field("content-length").first().map(|v| v.parse::<u64>());
        if code == 204 || code == 304 {
        } else if chunked {
            copy_chunked(&mut reader, &mut out)?;
        } else if let Some(length) = length {
            let length = length.map_err(|_| invalid("bad Content-Length"))?;
            let copied = io::copy(&mut (&mut reader).take(length), &mut out)?;
            if copied != length {
                return Err(invalid(&format!(
                    "the body ended after {copied} of {length} bytes"
                )));
            }
        } else {
            io::copy(&mut reader, &mut out)?;
        }
        out.flush()?;
        return Ok((code, reason));
    }
}

/// Reads a response head up to and including its blank line.
fn read_head(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Err(invalid("the connection closed before a response"));
        }
        if head.len() > MAX_HEAD {
            return Err(invalid("response head too long"));
        }
        if matches!(&head[start..], b"\r\n" | b"\n") && start > 0 {
            return Ok(head);
        }
    }
}

/// Copies a chunked body (RFC 9112, 7.1), dropping chunk extensions and trailer fields.
fn copy_chunked(reader: &mut impl BufRead, out: &mut impl Write) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line)?;
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            break;
        }
        let copied = io::copy(&mut reader.take(size), out)?;
        if copied != size {
            return Err(invalid("the body ended inside a chunk"));
        }
        line.clear();
        reader.read_until(b'\n', &mut line)?;
        if line != b"\r\n" && line != b"\n" {
            return Err(invalid("a chunk does not end with CRLF"));
        }
    }
    // Trailer fields, up to the blank line.
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line == b"\r\n" || line == b"\n" {
            return Ok(());
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(target_os = "wasi")]
fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<wasmedge_wasi_socket::TcpStream> {
    let stream = wasmedge_wasi_socket::TcpStream::connect((host, port))?;
    let socket: &wasmedge_wasi_socket::socket::Socket = stream.as_ref();
    socket.set_recv_timeout(Some(timeout))?;
    socket.set_send_timeout(Some(timeout))?;
    Ok(stream)
}

#[cfg(not(target_os = "wasi"))]
fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(split_url("http://h").unwrap(), ("h".into(), 80, "/".into()));
        assert_eq!(
            split_url("http://10.0.2.2:8080/a/b?c#d").unwrap(),
            ("10.0.2.2".into(), 8080, "/a/b?c".into())
        );
        assert_eq!(
            split_url("http://h?q").unwrap(),
            ("h".into(), 80, "/?q".into())
        );
        assert_eq!(
            split_url("http://[::1]:81/").unwrap(),
            ("::1".into(), 81, "/".into())
        );
        assert!(split_url("https://h/").is_err());
        assert!(split_url("h/").is_err());
        assert!(split_url("http://:80/").is_err());
        assert!(split_url("http://h:99999/").is_err());
    }

    #[test]
    fn chunked_bodies_copy() {
        let mut wire = &b"4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n"[..];
        let mut out = Vec::new();
        copy_chunked(&mut wire, &mut out).unwrap();
        assert_eq!(out, b"Wikipedia");
        let mut cut = &b"9\r\nWiki"[..];
        assert!(copy_chunked(&mut cut, &mut Vec::new()).is_err());
    }
}
