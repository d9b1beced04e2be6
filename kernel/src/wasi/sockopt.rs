//! `sock_getsockopt` / `sock_setsockopt` (WasmEdge): `SOL_SOCKET` options by WasmEdge's
//! numbering (`SO_REUSEADDR` 0 ... `SO_BINDTODEVICE` 14), and `TCP_NODELAY` at Linux's
//! numbers (level `IPPROTO_TCP` 6, name 1), which the WasmEdge enum has no name for.
//! Values are `i32`s; the timeouts are a wasm32 `struct timeval` (two `i64`), `SO_LINGER` a
//! `struct linger` (two `i32`).

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::sock::network;
use crate::net::{Kind, StackOption};

const SOL_SOCKET: u32 = 0;
const IPPROTO_TCP: u32 = 6;
const TCP_NODELAY: u32 = 1;

const SO_REUSEADDR: u32 = 0;
const SO_TYPE: u32 = 1;
const SO_ERROR: u32 = 2;
const SO_DONTROUTE: u32 = 3;
const SO_BROADCAST: u32 = 4;
const SO_SNDBUF: u32 = 5;
const SO_RCVBUF: u32 = 6;
const SO_KEEPALIVE: u32 = 7;
const SO_OOBINLINE: u32 = 8;
const SO_LINGER: u32 = 9;
const SO_RCVLOWAT: u32 = 10;
const SO_RCVTIMEO: u32 = 11;
const SO_SNDTIMEO: u32 = 12;
const SO_ACCEPTCONN: u32 = 13;
const SO_BINDTODEVICE: u32 = 14;

/// `sock_open`'s type numbers, which `SO_TYPE` reports.
const TYPE_DGRAM: i32 = 1;
const TYPE_STREAM: i32 = 2;

fn stack_option(level: u32, name: u32) -> Option<StackOption> {
    Some(match (level, name) {
        (SOL_SOCKET, SO_REUSEADDR) => StackOption::ReuseAddress,
        (SOL_SOCKET, SO_BROADCAST) => StackOption::Broadcast,
        (SOL_SOCKET, SO_SNDBUF) => StackOption::SendBuffer,
        (SOL_SOCKET, SO_RCVBUF) => StackOption::RecvBuffer,
        (SOL_SOCKET, SO_KEEPALIVE) => StackOption::KeepAlive,
        (IPPROTO_TCP, TCP_NODELAY) => StackOption::NoDelay,
        _ => return None,
    })
}

fn read_i32(cx: &Ctx<'_>, val: u32, len: u32) -> Result<i32, Errno> {
    if len < 4 {
        return Err(Errno::INVAL);
    }
    Ok(cx.mem.read_u32(val)? as i32)
}

/// A timeval's nanoseconds; zero means no timeout.
fn read_timeout(cx: &Ctx<'_>, val: u32, len: u32) -> Result<Option<u64>, Errno> {
    if len < 16 {
        return Err(Errno::INVAL);
    }
    let sec = cx.mem.read_u64(val)? as i64;
    let usec = cx.mem.read_u64(val + 8)? as i64;
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::DOM);
    }
    let ns = (sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(usec as u64 * 1000);
    Ok((ns != 0).then_some(ns))
}

pub fn sock_setsockopt(
    cx: &mut Ctx<'_>,
    fd: u32,
    level: u32,
    name: u32,
    val: u32,
    len: u32,
) -> WasiResult {
    let (entry, h) = super::sock::socket_of(cx, fd)?;
    let stream = matches!(
        entry.kind,
        super::fd::FdKind::Socket {
            kind: Kind::Stream,
            ..
        }
    );
    if let Some(option) = stack_option(level, name) {
        if option == StackOption::NoDelay && !stream {
            return Err(Errno::NOPROTOOPT);
        }
        let value = read_i32(cx, val, len)?;
        return network(cx)
            .stack()
            .set_option(h, option, value.max(0) as u64);
    }
    if level != SOL_SOCKET {
        return Err(Errno::NOPROTOOPT);
    }
    match name {
        SO_RCVTIMEO | SO_SNDTIMEO => {
            let timeout = read_timeout(cx, val, len)?;
            let info = network(cx).info_mut(h)?;
            if name == SO_RCVTIMEO {
                info.recv_timeout_ns = timeout;
            } else {
                info.send_timeout_ns = timeout;
            }
        }
        SO_DONTROUTE | SO_OOBINLINE | SO_RCVLOWAT => {
            let value = read_i32(cx, val, len)?;
            let info = network(cx).info_mut(h)?;
            match name {
                SO_DONTROUTE => info.dont_route = value != 0,
                SO_OOBINLINE => info.oob_inline = value != 0,
                _ => info.recv_low_water = value.max(1),
            }
        }
        SO_LINGER => {
            if len < 8 {
                return Err(Errno::INVAL);
            }
            let on = cx.mem.read_u32(val)? != 0;
            let seconds = cx.mem.read_u32(val + 4)? as i32;
            network(cx).info_mut(h)?.linger = on.then_some(seconds.max(0));
        }
        // No interface but the one: binding to it (or to none) is all there is to do.
        SO_BINDTODEVICE if len == 0 => {}
        SO_BINDTODEVICE => return Err(Errno::NODEV),
        SO_TYPE | SO_ERROR | SO_ACCEPTCONN => return Err(Errno::NOPROTOOPT),
        _ => return Err(Errno::NOPROTOOPT),
    }
    Ok(())
}

pub fn sock_getsockopt(
    cx: &mut Ctx<'_>,
    fd: u32,
    level: u32,
    name: u32,
    val: u32,
    len_ptr: u32,
) -> WasiResult {
    let (entry, h) = super::sock::socket_of(cx, fd)?;
    let len = cx.mem.read_u32(len_ptr)?;
    let stream = matches!(
        entry.kind,
        super::fd::FdKind::Socket {
            kind: Kind::Stream,
            ..
        }
    );
    let write_i32 = |cx: &mut Ctx<'_>, v: i32| -> WasiResult {
        if len < 4 {
            return Err(Errno::INVAL);
        }
        cx.mem.write_u32(val, v as u32)?;
        cx.mem.write_u32(len_ptr, 4)
    };
    if let Some(option) = stack_option(level, name) {
        if option == StackOption::NoDelay && !stream {
            return Err(Errno::NOPROTOOPT);
        }
        let v = network(cx).stack().option(h, option)?;
        return write_i32(cx, v.min(i32::MAX as u64) as i32);
    }
    if level != SOL_SOCKET {
        return Err(Errno::NOPROTOOPT);
    }
    let info = *network(cx).info(h)?;
    match name {
        SO_TYPE => write_i32(cx, if stream { TYPE_STREAM } else { TYPE_DGRAM }),
        SO_ERROR => {
            let e = network(cx).stack().take_error(h).map_or(0, |e| e.0);
            write_i32(cx, i32::from(e))
        }
        SO_ACCEPTCONN => write_i32(cx, info.listening as i32),
        SO_DONTROUTE => write_i32(cx, info.dont_route as i32),
        SO_OOBINLINE => write_i32(cx, info.oob_inline as i32),
        SO_RCVLOWAT => write_i32(cx, info.recv_low_water),
        SO_RCVTIMEO | SO_SNDTIMEO => {
            if len < 16 {
                return Err(Errno::INVAL);
            }
            let ns = if name == SO_RCVTIMEO {
                info.recv_timeout_ns
            } else {
                info.send_timeout_ns
            }
            .unwrap_or(0);
            cx.mem.write_u64(val, ns / 1_000_000_000)?;
            cx.mem.write_u64(val + 8, ns % 1_000_000_000 / 1000)?;
            cx.mem.write_u32(len_ptr, 16)
        }
        SO_LINGER => {
            if len < 8 {
                return Err(Errno::INVAL);
            }
            cx.mem.write_u32(val, info.linger.is_some() as u32)?;
            cx.mem.write_u32(val + 4, info.linger.unwrap_or(0) as u32)?;
            cx.mem.write_u32(len_ptr, 8)
        }
        SO_BINDTODEVICE => cx.mem.write_u32(len_ptr, 0),
        _ => Err(Errno::NOPROTOOPT),
    }
}
