//! An HTTP/1 server on tokio + hyper that answers every request with a greeting: a
//! compile-time benchmark input. It serves on the listening socket WASI hands it as fd 3
//! (`wasmtime run -S tcplisten=ADDR`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::os::fd::FromRawFd;

async fn greet(request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("hello from {}\n", request.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    // SAFETY: fd 3 is the preopened listening socket the runtime passes; nothing else owns it.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(3) };
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::task::spawn(async move {
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(greet))
                .await;
            if let Err(e) = served {
                eprintln!("connection: {e}");
            }
        });
    }
}
