//! A UDP echo server: every datagram goes back to its sender unchanged.
//! `udp-echo [--port PORT (9000)] [--addr IP (0.0.0.0)]`; WasmEdge socket API under WASI, std
//! natively.

#[cfg(target_os = "wasi")]
use wasmedge_wasi_socket::UdpSocket;

#[cfg(not(target_os = "wasi"))]
use std::net::UdpSocket;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const PROGRAM: &str = "udp-echo";

fn main() {
    let addr = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{PROGRAM}: {message} (usage: {PROGRAM} [--port PORT] [--addr IP])");
            std::process::exit(2)
        }
    };
    let socket = match UdpSocket::bind(addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot bind {addr}: {e}");
            std::process::exit(1)
        }
    };
    println!("{PROGRAM}: listening on {addr}");
    // The largest UDP payload over IPv4.
    let mut buf = vec![0u8; 65507];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("{PROGRAM}: receive: {e}");
                std::process::exit(1)
            }
        };
        // A peer that cannot be reached (no route, no ARP answer) loses its echo, not the
        // server.
        if let Err(e) = socket.send_to(&buf[..n], peer) {
            eprintln!("{PROGRAM}: send to {peer}: {e}");
        }
    }
}

fn parse(args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut port: u16 = 9000;
    let mut args = args;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => {
                port = value
                    .parse()
                    .map_err(|_| format!("--port: '{value}' is not a port"))?
            }
            "--addr" => {
                ip = value
                    .parse()
                    .map_err(|_| format!("--addr: '{value}' is not an IP address"))?
            }
            _ => return Err(format!("unknown argument '{flag}'")),
        }
    }
    Ok(SocketAddr::new(ip, port))
}
