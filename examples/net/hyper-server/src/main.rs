//! An HTTP/1.1 server on tokio_wasi + hyper_wasi, the async stack WasmEdge apps use: tokio's
//! reactor waits in `poll_oneoff` over the WasmEdge sockets, one task per connection.
//! `hyper-server [--port PORT (8080)] [--addr IP (0.0.0.0)]`
//!   GET /          a greeting
//!   POST /echo     the request body, streamed back
//!   GET /wait?ms=N the greeting after N ms (tokio's timer, while other connections go on)
//!   anything else  404

use hyper::server::conn::Http;
use hyper::service::service_fn;
use hyper::{Body, Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpListener;

const PROGRAM: &str = "hyper-server";
const GREETING: &str = "hello from hyper on tokio\n";
/// Longest wait `/wait` grants.
const MAX_WAIT_MS: u64 = 60_000;

async fn handle(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => Response::new(Body::from(GREETING)),
        (&Method::POST, "/echo") => Response::new(req.into_body()),
        (&Method::GET, "/wait") => {
            let ms = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms=")))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                .min(MAX_WAIT_MS);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Response::new(Body::from(GREETING))
        }
        _ => {
            let mut r = Response::new(Body::from("404 Not Found\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(response)
}

fn parse_addr(args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut port = 8080;
    let mut ip = IpAddr::from([0, 0, 0, 0]);
    let mut args = args;
    while let Some(flag) = args.next() {
        let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => {
                port = v
                    .parse()
                    .map_err(|_| format!("--port: '{v}' is not a port"))?
            }
            "--addr" => {
                ip = v
                    .parse()
                    .map_err(|_| format!("--addr: '{v}' is not an IP address"))?
            }
            _ => return Err(format!("unknown argument '{flag}'")),
        }
    }
    Ok(SocketAddr::new(ip, port))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = match parse_addr(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{PROGRAM}: {message} (usage: {PROGRAM} [--port PORT] [--addr IP])");
            std::process::exit(2)
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot listen on {addr}: {e}");
            std::process::exit(1)
        }
    };
    println!("{PROGRAM}: listening on {addr}");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or memory: the connections we have go on; try again soon.
                eprintln!("{PROGRAM}: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::task::spawn(async move {
            // A client that goes away mid-request ends its own task only.
            let _ = Http::new()
                .http1_keep_alive(true)
                .serve_connection(stream, service_fn(handle))
                .await;
        });
    }
}
