//! The socket calls: preview1's own (`sock_accept`, `sock_recv`, `sock_send`, `sock_shutdown`)
//! and WasmEdge's socket API (`sock_open`, `sock_bind`, ..., `sock_getaddrinfo`), as thin
//! functions over [`crate::net::Network`]. Layouts are those of the `wasmedge_wasi_socket`
//! crate (0.5) on wasm32; errors are WASI errnos as a POSIX system would give them.
//!
//! Two `sock_accept`s share the import name: preview1's `(fd, flags, *fd)` and WasmEdge's
//! `(fd, *fd)`. The compiler names each after its signature (see
//! `mewz_abi::symbols::import_symbol`), and both end in [`accept`].

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::fd::{FdEntry, FdKind};
use super::types::fdflags;
use crate::net::{Family, Handle, Kind, Network, StackOption};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `$riflags`.
const RECV_PEEK: u32 = 1;
const RECV_WAITALL: u32 = 2;
/// `$roflags`.
const RECV_DATA_TRUNCATED: u16 = 1;
/// `sock_open`'s address families and socket types (WasmEdge).
const AF_INET4: u32 = 1;
const AF_INET6: u32 = 2;
const SOCK_DGRAM: u32 = 1;
const SOCK_STREAM: u32 = 2;
/// Address types `sock_getlocaladdr` / `sock_getpeeraddr` report (WasmEdge writes 4 and 6).
const ADDRESS_TYPE_V4: u32 = 4;
const ADDRESS_TYPE_V6: u32 = 6;
/// Largest datagram, and so the largest buffer a datagram read needs.
const MAX_DATAGRAM: usize = 65536;

/// The socket behind `fd`, with its descriptor.
pub(super) fn socket_of(cx: &Ctx<'_>, fd: u32) -> Result<(FdEntry, Handle), Errno> {
    socket(cx, fd)
}

fn socket(cx: &Ctx<'_>, fd: u32) -> Result<(FdEntry, Handle), Errno> {
    let entry = *cx.state.fds.get(fd)?;
    let handle = entry.kind.socket().ok_or(Errno::NOTSOCK)?;
    Ok((entry, handle))
}

/// Opens a socket descriptor for `handle` (closing the socket if the table is full).
fn insert_socket(cx: &mut Ctx<'_>, handle: Handle, kind: Kind, flags: u16) -> Result<u32, Errno> {
    let mut entry = FdEntry::new(FdKind::Socket { handle, kind });
    entry.flags = flags;
    match cx.state.fds.insert(entry) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            cx.state.network().close(cx.platform, handle);
            Err(e)
        }
    }
}

/// Closes the socket of a descriptor that was just removed from the table.
pub fn closed(cx: &mut Ctx<'_>, entry: &FdEntry) {
    if let (Some(h), Some(net)) = (entry.kind.socket(), cx.state.net.as_mut()) {
        net.close(cx.platform, h);
    }
}

/// Opens a listening TCP socket on `addr` at the lowest free descriptor (the preopened
/// listeners of `mewz.tcplisten=`); non-blocking, as wasmtime hands them out.
pub fn preopen_listener(
    state: &mut super::WasiState,
    p: &dyn crate::platform::Platform,
    addr: SocketAddr,
) -> Result<u32, Errno> {
    let family = family_of(&addr);
    let net = state.network();
    let h = net.open(family, Kind::Stream)?;
    let listening = net
        .stack()
        .set_option(h, StackOption::ReuseAddress, 1)
        .and_then(|()| net.stack().bind(h, addr))
        .and_then(|()| net.listen(h, crate::net::DEFAULT_BACKLOG));
    if let Err(e) = listening {
        net.close(p, h);
        return Err(e);
    }
    let mut entry = FdEntry::new(FdKind::Socket {
        handle: h,
        kind: Kind::Stream,
    });
    entry.flags = fdflags::NONBLOCK;
    state.fds.insert(entry).inspect_err(|_| {
        state.network().close(p, h);
    })
}

fn family_of(addr: &SocketAddr) -> Family {
    if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

// --- preview1 ---------------------------------------------------------------------------------

/// Preview1's `sock_accept(fd, flags, *fd)`: `flags` may hold `NONBLOCK` for the new descriptor.
pub fn sock_accept(cx: &mut Ctx<'_>, fd: u32, flags: u32, new_fd: u32) -> WasiResult {
    let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
    if flags & !fdflags::NONBLOCK != 0 {
        return Err(Errno::INVAL);
    }
    accept(cx, fd, flags, new_fd)
}

/// WasmEdge's `sock_accept(fd, *fd)`: the new descriptor blocks.
pub fn sock_accept_wasmedge(cx: &mut Ctx<'_>, fd: u32, new_fd: u32) -> WasiResult {
    accept(cx, fd, 0, new_fd)
}

fn accept(cx: &mut Ctx<'_>, fd: u32, flags: u16, new_fd: u32) -> WasiResult {
    let (entry, h) = socket(cx, fd)?;
    cx.mem.check(new_fd, 4)?;
    let (accepted, _peer) = cx
        .state
        .network()
        .accept(cx.platform, h, entry.nonblocking())?;
    let fd = insert_socket(cx, accepted, Kind::Stream, flags)?;
    cx.mem.write_u32(new_fd, fd)
}

pub fn sock_recv(
    cx: &mut Ctx<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    flags: u32,
    nread: u32,
    oflags: u32,
) -> WasiResult {
    let (entry, h) = socket(cx, fd)?;
    if flags & !(RECV_PEEK | RECV_WAITALL) != 0 {
        return Err(Errno::INVAL);
    }
    cx.mem.check(nread, 4)?;
    cx.mem.check(oflags, 2)?;
    let (n, truncated, _) = receive(cx, &entry, h, iovs, iovs_len, flags)?;
    cx.mem.write_u32(nread, n as u32)?;
    cx.mem
        .write_u16(oflags, if truncated { RECV_DATA_TRUNCATED } else { 0 })
}

pub fn sock_send(
    cx: &mut Ctx<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    _flags: u32,
    nsent: u32,
) -> WasiResult {
    let (entry, h) = socket(cx, fd)?;
    cx.mem.check(nsent, 4)?;
    let n = transmit(cx, &entry, h, iovs, iovs_len, None)?;
    cx.mem.write_u32(nsent, n as u32)
}

/// `how`: 1 read, 2 write, 3 both (preview1's `$sdflags` and WasmEdge agree).
pub fn sock_shutdown(cx: &mut Ctx<'_>, fd: u32, how: u32) -> WasiResult {
    let (_, h) = socket(cx, fd)?;
    if how == 0 || how > 3 {
        return Err(Errno::INVAL);
    }
    let net = cx.state.network();
    net.stack().shutdown(h, how & 1 != 0, how & 2 != 0)?;
    net.look();
    Ok(())
}

/// Reads into the iovecs at `iovs`: `(bytes, datagram truncated, sender)`. Blocks until
/// there is something (unless the descriptor is non-blocking); `WAITALL` on a stream waits
/// until every buffer is full or the stream ends.
pub(super) fn receive(
    cx: &mut Ctx<'_>,
    entry: &FdEntry,
    h: Handle,
    iovs: u32,
    iovs_len: u32,
    flags: u32,
) -> Result<(usize, bool, Option<SocketAddr>), Errno> {
    let vecs = cx.mem.iovecs(iovs, iovs_len)?;
    let total: usize = vecs.iter().map(|v| v.len as usize).sum();
    let nonblocking = entry.nonblocking();
    let peek = flags & RECV_PEEK != 0;
    let stream = matches!(
        entry.kind,
        FdKind::Socket {
            kind: Kind::Stream,
            ..
        }
    );
    if !stream || peek {
        let mut buffers = vecs.iter().filter(|v| v.len > 0);
        if let (Some(v), None) = (buffers.next(), buffers.next()) {
            // One buffer (the usual case): the one read goes straight into it.
            let net = cx.state.network();
            let dest = cx.mem.slice_mut(v.ptr, v.len)?;
            let got = net.recv(cx.platform, h, dest, peek, nonblocking)?;
            return Ok((got.len, got.truncated, got.from));
        }
        // One read into a buffer of its own, then spread over the iovecs.
        let cap = if stream {
            total.min(1 << 20)
        } else {
            total.min(MAX_DATAGRAM)
        };
        let mut buf = vec![0u8; cap];
        let got = cx
            .state
            .network()
            .recv(cx.platform, h, &mut buf, peek, nonblocking)?;
        scatter(cx, &vecs, &buf[..got.len])?;
        return Ok((
            got.len,
            got.truncated || (!stream && total < got.len),
            got.from,
        ));
    }
    if total == 0 {
        // Nothing to read into: only the socket's state can make this fail.
        let net = cx.state.network();
        return match net.recv(cx.platform, h, &mut [], false, true) {
            Ok(got) => Ok((0, false, got.from)),
            Err(Errno::AGAIN) => Ok((0, false, None)),
            Err(e) => Err(e),
        };
    }
    let waitall = flags & RECV_WAITALL != 0;
    let mut done = 0usize;
    let mut from = None;
    for v in vecs.iter().filter(|v| v.len > 0) {
        let mut at = 0u32;
        while at < v.len {
            // Only the first read may wait (all of them with WAITALL).
            let wait = !nonblocking && (done == 0 || waitall);
            let net = cx.state.net.as_mut().ok_or(Errno::NOTCONN)?;
            let dest = cx.mem.slice_mut(v.ptr + at, v.len - at)?;
            let got = match net.recv(cx.platform, h, dest, false, !wait) {
                Ok(got) => got,
                Err(Errno::AGAIN) if done > 0 => return Ok((done, false, from)),
                Err(e) if done > 0 && e != Errno::AGAIN => return Ok((done, false, from)),
                Err(e) => return Err(e),
            };
            from = got.from.or(from);
            if got.len == 0 {
                return Ok((done, false, from));
            }
            done += got.len;
            at += got.len as u32;
            if !waitall && at < v.len {
                return Ok((done, false, from));
            }
        }
    }
    Ok((done, false, from))
}

fn scatter(cx: &mut Ctx<'_>, vecs: &[super::guest::IoVec], mut data: &[u8]) -> WasiResult {
    for v in vecs {
        if data.is_empty() {
            break;
        }
        let n = data.len().min(v.len as usize);
        cx.mem.write_bytes(v.ptr, &data[..n])?;
        data = &data[n..];
    }
    Ok(())
}

/// Sends the iovecs at `iovs` (as one datagram, or as much of the stream as fits once the
/// first bytes could be sent).
pub(super) fn transmit(
    cx: &mut Ctx<'_>,
    entry: &FdEntry,
    h: Handle,
    iovs: u32,
    iovs_len: u32,
    to: Option<SocketAddr>,
) -> Result<usize, Errno> {
    let vecs = cx.mem.iovecs(iovs, iovs_len)?;
    let nonblocking = entry.nonblocking();
    let stream = matches!(
        entry.kind,
        FdKind::Socket {
            kind: Kind::Stream,
            ..
        }
    );
    if !stream {
        let mut datagram = Vec::new();
        for v in &vecs {
            datagram.extend_from_slice(cx.mem.slice(v.ptr, v.len)?);
        }
        return cx
            .state
            .network()
            .send(cx.platform, h, &datagram, to, nonblocking);
    }
    let mut done = 0usize;
    for v in vecs.iter().filter(|v| v.len > 0) {
        let mut at = 0u32;
        while at < v.len {
            let wait = !nonblocking && done == 0;
            let net = cx.state.net.as_mut().ok_or(Errno::NOTCONN)?;
            let data = cx.mem.slice(v.ptr + at, v.len - at)?;
            match net.send(cx.platform, h, data, None, !wait) {
                Ok(n) => {
                    done += n;
                    at += n as u32;
                }
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(done)
}

// --- WasmEdge ---------------------------------------------------------------------------------

pub fn sock_open(cx: &mut Ctx<'_>, af: u32, kind: u32, fd: u32) -> WasiResult {
    let family = match af {
        AF_INET4 => Family::V4,
        AF_INET6 => Family::V6,
        _ => return Err(Errno::AFNOSUPPORT),
    };
    let kind = match kind {
        SOCK_STREAM => Kind::Stream,
        SOCK_DGRAM => Kind::Datagram,
        _ => return Err(Errno::PROTOTYPE),
    };
    cx.mem.check(fd, 4)?;
    let h = cx.state.network().open(family, kind)?;
    let new = insert_socket(cx, h, kind, 0)?;
    cx.mem.write_u32(fd, new)
}

/// Reads a `{buf: u32, buf_len: u32}` address (4 bytes IPv4, 16 bytes IPv6) and a port.
fn read_address(cx: &Ctx<'_>, addr: u32, port: u32) -> Result<SocketAddr, Errno> {
    let buf = cx.mem.read_u32(addr)?;
    let len = cx.mem.read_u32(addr + 4)?;
    let port = u16::try_from(port).map_err(|_| Errno::INVAL)?;
    let ip = match len {
        4 => {
            let b: [u8; 4] = cx.mem.slice(buf, 4)?.try_into().expect("4 bytes");
            IpAddr::V4(Ipv4Addr::from(b))
        }
        16 => {
            let b: [u8; 16] = cx.mem.slice(buf, 16)?.try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err(Errno::INVAL),
    };
    Ok(SocketAddr::new(ip, port))
}

pub fn sock_bind(cx: &mut Ctx<'_>, fd: u32, addr: u32, port: u32) -> WasiResult {
    let (_, h) = socket(cx, fd)?;
    let addr = read_address(cx, addr, port)?;
    cx.state.network().stack().bind(h, addr)
}

pub fn sock_listen(cx: &mut Ctx<'_>, fd: u32, backlog: u32) -> WasiResult {
    let (_, h) = socket(cx, fd)?;
    // A negative backlog (an i32 from C) means the default, as on Linux.
    let backlog = if (backlog as i32) < 0 {
        crate::net::DEFAULT_BACKLOG
    } else {
        backlog
    };
    cx.state.network().listen(h, backlog)
}

pub fn sock_connect(cx: &mut Ctx<'_>, fd: u32, addr: u32, port: u32) -> WasiResult {
    let (entry, h) = socket(cx, fd)?;
    let addr = read_address(cx, addr, port)?;
    cx.state
        .network()
        .connect(cx.platform, h, addr, entry.nonblocking())
}

#[allow(clippy::too_many_arguments, reason = "the import's signature")]
pub fn sock_recv_from(
    cx: &mut Ctx<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    addr: u32,
    flags: u32,
    port: u32,
    nread: u32,
    oflags: u32,
) -> WasiResult {
    let (entry, h) = socket(cx, fd)?;
    if flags & !(RECV_PEEK | RECV_WAITALL) != 0 {
        return Err(Errno::INVAL);
    }
    let buf = cx.mem.read_u32(addr)?;
    let buf_len = cx.mem.read_u32(addr + 4)?;
    cx.mem.check(port, 4)?;
    cx.mem.check(nread, 4)?;
    cx.mem.check(oflags, 2)?;
    let (n, truncated, from) = receive(cx, &entry, h, iovs, iovs_len, flags)?;
    // The sender as `{family: u16, address}` (family 1 IPv4, 2 IPv6), as WasmEdge writes it.
    if let Some(from) = from {
        let mut raw = Vec::with_capacity(18);
        match from.ip() {
            IpAddr::V4(ip) => {
                raw.extend_from_slice(&(AF_INET4 as u16).to_le_bytes());
                raw.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                raw.extend_from_slice(&(AF_INET6 as u16).to_le_bytes());
                raw.extend_from_slice(&ip.octets());
            }
        }
        let fits = raw.len().min(buf_len as usize);
        cx.mem.write_bytes(buf, &raw[..fits])?;
        cx.mem.write_u32(port, u32::from(from.port()))?;
    }
    cx.mem.write_u32(nread, n as u32)?;
    cx.mem
        .write_u16(oflags, if truncated { RECV_DATA_TRUNCATED } else { 0 })
}

#[allow(clippy::too_many_arguments, reason = "the import's signature")]
pub fn sock_send_to(
    cx: &mut Ctx<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    addr: u32,
    port: u32,
    _flags: u32,
    nsent: u32,
) -> WasiResult {
    let (entry, h) = socket(cx, fd)?;
    let to = read_address(cx, addr, port)?;
    cx.mem.check(nsent, 4)?;
    let n = transmit(cx, &entry, h, iovs, iovs_len, Some(to))?;
    cx.mem.write_u32(nsent, n as u32)
}

fn write_address(
    cx: &mut Ctx<'_>,
    addr: SocketAddr,
    buf_desc: u32,
    kind: u32,
    port: u32,
) -> WasiResult {
    let buf = cx.mem.read_u32(buf_desc)?;
    let len = cx.mem.read_u32(buf_desc + 4)?;
    cx.mem.check(kind, 4)?;
    cx.mem.check(port, 4)?;
    let (octets, address_type): (Vec<u8>, u32) = match addr.ip() {
        IpAddr::V4(ip) => (ip.octets().to_vec(), ADDRESS_TYPE_V4),
        IpAddr::V6(ip) => (ip.octets().to_vec(), ADDRESS_TYPE_V6),
    };
    if (len as usize) < octets.len() {
        return Err(Errno::INVAL);
    }
    cx.mem.write_bytes(buf, &octets)?;
    cx.mem.write_u32(kind, address_type)?;
    cx.mem.write_u32(port, u32::from(addr.port()))
}

pub fn sock_getlocaladdr(cx: &mut Ctx<'_>, fd: u32, addr: u32, kind: u32, port: u32) -> WasiResult {
    let (_, h) = socket(cx, fd)?;
    let local = cx.state.network().stack().local_addr(h)?;
    write_address(cx, local, addr, kind, port)
}

pub fn sock_getpeeraddr(cx: &mut Ctx<'_>, fd: u32, addr: u32, kind: u32, port: u32) -> WasiResult {
    let (_, h) = socket(cx, fd)?;
    let peer = cx.state.network().stack().peer_addr(h)?;
    write_address(cx, peer, addr, kind, port)
}

pub use super::addrinfo::sock_getaddrinfo;
pub use super::sockopt::{sock_getsockopt, sock_setsockopt};

/// The network of a context (set up on first use).
pub(super) fn network<'c>(cx: &'c mut Ctx<'_>) -> &'c mut Network {
    cx.state.network()
}

#[cfg(test)]
#[path = "sock_tests.rs"]
mod tests;
