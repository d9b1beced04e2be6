//! Datagram sockets.

use super::{Entry, Options, SmolStack, family_of, unspecified};
use crate::net::stack::{Family, Handle, Kind, Readiness, Received};
use crate::wasi::Errno;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use smoltcp::iface::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::socket::udp::{self, Socket};
use smoltcp::wire::IpListenEndpoint;

/// Datagrams a socket queues each way.
const QUEUED_DATAGRAMS: usize = 64;

pub struct UdpEntry {
    pub family: Family,
    pub socket: SocketHandle,
    pub local: Option<SocketAddr>,
    /// Set by `connect`: the default destination and the only accepted source.
    pub peer: Option<SocketAddr>,
    pub options: Options,
}

impl<D: Device + super::Interrupts> SmolStack<D> {
    fn udp(&mut self, h: Handle) -> Result<&mut UdpEntry, Errno> {
        match self.entries.get_mut(&h) {
            Some(Entry::Udp(u)) => Ok(u),
            Some(Entry::Tcp(_)) => Err(Errno::NOTSUP),
            None => Err(Errno::BADF),
        }
    }

    pub(super) fn new_udp(&mut self, family: Family) -> Result<UdpEntry, Errno> {
        if !self.has_room() {
            return Err(Errno::NOBUFS);
        }
        let (size, source) = (self.sizes.udp_buffer, self.buffer_source);
        let mut backing = Vec::new();
        let mut buffer = || -> Result<udp::PacketBuffer<'static>, Errno> {
            Ok(udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; QUEUED_DATAGRAMS],
                source.buffer(size, &mut backing)?,
            ))
        };
        let socket = Socket::new(buffer()?, buffer()?);
        let options = self.default_options();
        Ok(UdpEntry {
            family,
            socket: self.add_socket(socket, backing),
            local: None,
            peer: None,
            options,
        })
    }

    pub(super) fn bind_udp(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        let u = self.udp(h)?;
        if u.local.is_some() {
            return Err(Errno::INVAL);
        }
        if family_of(&addr) != u.family {
            return Err(Errno::AFNOSUPPORT);
        }
        if !self.is_local(addr.ip()) {
            return Err(Errno::ADDRNOTAVAIL);
        }
        let port = match addr.port() {
            0 => self.ephemeral_port(Kind::Datagram)?,
            p if self.port_in_use(Kind::Datagram, p, false) => return Err(Errno::ADDRINUSE),
            p => p,
        };
        let endpoint = IpListenEndpoint {
            addr: (!addr.ip().is_unspecified()).then(|| addr.ip().into()),
            port,
        };
        let u = self.udp(h)?;
        let s = u.socket;
        u.local = Some(SocketAddr::new(addr.ip(), port));
        self.sockets
            .get_mut::<Socket>(s)
            .bind(endpoint)
            .map_err(|_| Errno::INVAL)
    }

    /// Binds to an ephemeral port if the app did not bind (before the first send).
    fn autobind_udp(&mut self, h: Handle) -> Result<(), Errno> {
        let u = self.udp(h)?;
        if u.local.is_none() {
            let any = unspecified(u.family, 0);
            self.bind_udp(h, any)?;
        }
        Ok(())
    }

    pub(super) fn connect_udp(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        if family_of(&addr) != self.udp(h)?.family {
            return Err(Errno::AFNOSUPPORT);
        }
        self.autobind_udp(h)?;
        self.udp(h)?.peer = Some(addr);
        Ok(())
    }

    pub(super) fn recv_udp(
        &mut self,
        h: Handle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<Received, Errno> {
        let u = self.udp(h)?;
        let (s, peer) = (u.socket, u.peer);
        let socket = self.sockets.get_mut::<Socket>(s);
        loop {
            let (data, meta) = socket.peek().map_err(|_| Errno::AGAIN)?;
            let from: SocketAddr = meta.endpoint.into();
            if peer.is_some_and(|p| p != from) {
                // Not from the connected peer: not for this socket (as on Linux).
                let _ = socket.recv();
                continue;
            }
            let len = data.len().min(buf.len());
            buf[..len].copy_from_slice(&data[..len]);
            let truncated = len < data.len();
            if !peek {
                let _ = socket.recv();
            }
            return Ok(Received {
                len,
                from: Some(from),
                truncated,
            });
        }
    }

    pub(super) fn send_udp(
        &mut self,
        h: Handle,
        data: &[u8],
        to: Option<SocketAddr>,
    ) -> Result<usize, Errno> {
        let u = self.udp(h)?;
        let to = to.or(u.peer).ok_or(Errno::DESTADDRREQ)?;
        if family_of(&to) != u.family {
            return Err(Errno::AFNOSUPPORT);
        }
        if to.ip() == IpAddr::V4(Ipv4Addr::BROADCAST) && !u.options.broadcast {
            return Err(Errno::ACCES);
        }
        if to.port() == 0 {
            return Err(Errno::INVAL);
        }
        self.autobind_udp(h)?;
        if !self.has_source_for(to.ip()) && self.address_pending() {
            return Err(Errno::AGAIN);
        }
        let s = self.udp(h)?.socket;
        let socket = self.sockets.get_mut::<Socket>(s);
        if data.len() > socket.payload_send_capacity() {
            return Err(Errno::MSGSIZE);
        }
        match socket.send_slice(data, smoltcp::wire::IpEndpoint::from(to)) {
            Ok(()) => Ok(data.len()),
            Err(udp::SendError::BufferFull) => Err(Errno::AGAIN),
            Err(udp::SendError::Unaddressable) => Err(Errno::NETUNREACH),
        }
    }

    pub(super) fn udp_readiness(&mut self, h: Handle) -> Readiness {
        let Some(Entry::Udp(u)) = self.entries.get(&h) else {
            return Readiness::default();
        };
        let socket = self.sockets.get_mut::<Socket>(u.socket);
        let next = socket.peek().map(|(d, _)| d.len()).ok();
        let room = socket.payload_send_capacity();
        Readiness {
            readable: next.is_some(),
            read_bytes: next.unwrap_or(0) as u64,
            writable: socket.can_send(),
            write_room: room as u64,
            hangup: false,
        }
    }
}
