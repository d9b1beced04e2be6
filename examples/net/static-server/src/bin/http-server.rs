//! The paper's app: a static-file HTTP/1.1 server that opens its own listener through the
//! WasmEdge socket API (natively, through std). `http-server --port 8080 --root /` serves the
//! directory the runtime preopened as `/`.

use static_server::options::number;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const PROGRAM: &str = "http-server";
const OWN_USAGE: &str = "[--port PORT (8080)] [--addr IP (0.0.0.0)] [--backlog N (1024)]";

fn main() {
    let mut port: u16 = 8080;
    let mut ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut backlog: u32 = 1024;
    let config = static_server::config_or_exit(PROGRAM, OWN_USAGE, |flag, rest| {
        let mut value = || rest.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag {
            "--port" => {
                let v = value()?;
                port = v
                    .parse()
                    .map_err(|_| format!("--port: '{v}' is not a port"))?;
            }
            "--addr" => {
                let v = value()?;
                ip = v
                    .parse()
                    .map_err(|_| format!("--addr: '{v}' is not an IP address"))?;
            }
            "--backlog" => backlog = number(flag, &value()?)?.try_into().unwrap_or(u32::MAX),
            _ => return Ok(false),
        }
        Ok(true)
    });
    let addr = SocketAddr::new(ip, port);
    let listener = match listen(addr, backlog) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot listen on {addr}: {e}");
            std::process::exit(1)
        }
    };
    println!("{PROGRAM}: serving {} on {addr}", config.root.display());
    static_server::serve_and_exit(PROGRAM, &listener, &config)
}

#[cfg(target_os = "wasi")]
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<impl static_server::Listener> {
    static_server::wasmedge::listen(addr, backlog)
}

#[cfg(not(target_os = "wasi"))]
fn listen(addr: SocketAddr, _backlog: u32) -> std::io::Result<impl static_server::Listener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
