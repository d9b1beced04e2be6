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
        let (n, peer) = match recv_from(&socket, &mut buf) {
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

#[cfg(not(target_os = "wasi"))]
fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    socket.recv_from(buf)
}

/// `sock_recv_from` called directly: the crate's `recv_from` (0.5.5) has the runtime write the
/// sender's address into a buffer it declared immutable, and the optimiser reads the IPv4
/// address back as the zeros it was initialised with (every echo would go to 0.0.0.0).
#[cfg(target_os = "wasi")]
fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    use std::net::{Ipv6Addr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    #[repr(C)]
    struct Buffer {
        ptr: *mut u8,
        len: usize,
    }
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        fn sock_recv_from(
            fd: u32,
            iovs: *mut Buffer,
            iovs_len: u32,
            addr: *mut Buffer,
            flags: u16,
            port: *mut u32,
            nread: *mut usize,
            oflags: *mut usize,
        ) -> u32;
    }
    // WasmEdge writes the sender as {family: u16 little-endian (1 IPv4, 2 IPv6), address}.
    let mut raw = [0u8; 18];
    let mut data = Buffer {
        ptr: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut addr = Buffer {
        ptr: raw.as_mut_ptr(),
        len: raw.len(),
    };
    let (mut port, mut nread, mut oflags) = (0u32, 0usize, 0usize);
    // SAFETY: every pointer is to a live local or to `buf`, with the lengths given, for the
    // duration of the call, which writes only within them.
    let errno = unsafe {
        sock_recv_from(
            socket.as_raw_fd() as u32,
            &mut data,
            1,
            &mut addr,
            0,
            &mut port,
            &mut nread,
            &mut oflags,
        )
    };
    if errno != 0 {
        return Err(std::io::Error::from_raw_os_error(errno as i32));
    }
    let port = port as u16;
    let peer = match u16::from_le_bytes([raw[0], raw[1]]) {
        1 => SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(raw[2], raw[3], raw[4], raw[5]),
            port,
        )),
        2 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&raw[2..18]);
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
        }
        family => {
            return Err(std::io::Error::other(format!(
                "sender of unknown address family {family}"
            )));
        }
    };
    Ok((nread, peer))
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
