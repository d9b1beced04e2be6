//! `sock_getaddrinfo` (WasmEdge): names to addresses, written into the chain of
//! `WasiAddrinfo` records the caller prepared (layout of `wasmedge_wasi_socket` on wasm32).
//!
//! `WasiAddrinfo` (28 bytes, packed to 4): `ai_flags: u16 @0`, `ai_family: u8 @2`,
//! `ai_socktype: u8 @3`, `ai_protocol: u8 @4`, `ai_addrlen: u32 @8`, `ai_addr: u32 @12`,
//! `ai_canonname: u32 @16`, `ai_canonnamelen: u32 @20`, `ai_next: u32 @24`.
//! `WasiSockaddr` (12 bytes): `family: u8 @0`, `sa_data_len: u32 @4`, `sa_data: u32 @8`; the
//! data is the port (big endian) then the address bytes, as in a C `sockaddr`.

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::sock::network;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;

const AI_PASSIVE: u16 = 1 << 0;
const FAMILY_UNSPEC: u8 = 0;
const FAMILY_V4: u8 = 1;
const FAMILY_V6: u8 = 2;
const SOCK_STREAM: u8 = 2;
const PROTO_TCP: u8 = 1;
const PROTO_UDP: u8 = 2;
const SOCK_DGRAM: u8 = 1;

fn text(cx: &Ctx<'_>, ptr: u32, len: u32) -> Result<String, Errno> {
    let bytes = cx.mem.slice(ptr, len)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end])
        .map(String::from)
        .map_err(|_| Errno::ILSEQ)
}

/// A numeric port or one of the few service names an HTTP app asks for.
fn service_port(service: &str) -> Result<u16, Errno> {
    match service {
        "" => Ok(0),
        "http" => Ok(80),
        "https" => Ok(443),
        "dns" | "domain" => Ok(53),
        s => s.parse().map_err(|_| Errno::INVAL),
    }
}

#[allow(clippy::too_many_arguments, reason = "the import's signature")]
pub fn sock_getaddrinfo(
    cx: &mut Ctx<'_>,
    node: u32,
    node_len: u32,
    service: u32,
    service_len: u32,
    hints: u32,
    res: u32,
    max_len: u32,
    res_len: u32,
) -> WasiResult {
    let node = text(cx, node, node_len)?;
    let port = service_port(&text(cx, service, service_len)?)?;
    let flags = cx.mem.read_u16(hints)?;
    let family = cx.mem.read_u8(hints + 2)?;
    let socktype = match cx.mem.read_u8(hints + 3)? {
        0 => SOCK_STREAM,
        t => t,
    };
    let first = cx.mem.read_u32(res)?;
    cx.mem.check(res_len, 4)?;
    let addrs: Vec<IpAddr> = if node.is_empty() {
        let passive = flags & AI_PASSIVE != 0;
        vec![if passive {
            IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)
        }]
    } else {
        let platform = cx.platform;
        network(cx).resolve(platform, &node)?
    };
    let wanted = addrs.into_iter().filter(|a| match family {
        FAMILY_UNSPEC => true,
        FAMILY_V4 => a.is_ipv4(),
        FAMILY_V6 => a.is_ipv6(),
        _ => false,
    });
    let mut count = 0u32;
    let mut at = first;
    for addr in wanted {
        if count >= max_len || at == 0 {
            break;
        }
        let (fam, octets): (u8, Vec<u8>) = match addr {
            IpAddr::V4(a) => (FAMILY_V4, a.octets().to_vec()),
            IpAddr::V6(a) => (FAMILY_V6, a.octets().to_vec()),
        };
        let sockaddr = cx.mem.read_u32(at + 12)?;
        let data_len = cx.mem.read_u32(sockaddr + 4)?;
        let data = cx.mem.read_u32(sockaddr + 8)?;
        if (data_len as usize) < 2 + octets.len() {
            // The caller's buffer cannot hold this address (IPv6 in a 14-byte sa_data).
            continue;
        }
        cx.mem.write_u8(at + 2, fam)?;
        cx.mem.write_u8(at + 3, socktype)?;
        let proto = if socktype == SOCK_DGRAM {
            PROTO_UDP
        } else {
            PROTO_TCP
        };
        cx.mem.write_u8(at + 4, proto)?;
        cx.mem.write_u32(at + 8, 2 + octets.len() as u32)?;
        cx.mem.write_u32(at + 20, 0)?;
        cx.mem.write_u8(sockaddr, fam)?;
        let mut raw = port.to_be_bytes().to_vec();
        raw.extend_from_slice(&octets);
        cx.mem.write_bytes(data, &raw)?;
        count += 1;
        at = cx.mem.read_u32(at + 24)?;
    }
    if count == 0 {
        return Err(Errno::NOENT);
    }
    cx.mem.write_u32(res_len, count)
}
