//! The listener and streams of the WasmEdge socket API (`wasmedge_wasi_socket`).

use crate::server::{Listener, Stream};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use wasmedge_wasi_socket::TcpStream;
use wasmedge_wasi_socket::socket::{
    AddressFamily, Socket, SocketOptLevel, SocketOptName, SocketType,
};

/// A non-blocking TCP listener opened with `sock_open`, `sock_bind`, `sock_listen`.
pub struct WasmEdgeListener {
    socket: Socket,
}

/// Opens a listener on `addr` with room for `backlog` pending connections (the crate's own
/// `TcpListener::bind` fixes it at 128, too few for a burst of clients).
pub fn listen(addr: SocketAddr, backlog: u32) -> io::Result<WasmEdgeListener> {
    let socket = Socket::new(AddressFamily::from(&addr), SocketType::Stream)?;
    socket.setsockopt(SocketOptLevel::SolSocket, SocketOptName::SoReuseaddr, 1i32)?;
    socket.bind(&addr)?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(WasmEdgeListener { socket })
}

impl AsRawFd for WasmEdgeListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl Listener for WasmEdgeListener {
    type Stream = TcpStream;

    fn accept_nonblocking(&self) -> io::Result<TcpStream> {
        self.socket.accept(true).map(TcpStream::from)
    }
}

impl Stream for TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
}
