//! Streams: connections, listeners with their pools and accept queues, orphans.

use super::{Entry, ORPHAN_LINGER_NS, Options, Orphan, SmolStack, family_of, unspecified};
use crate::net::stack::{Family, Handle, Kind, Readiness, Received};
use crate::wasi::Errno;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::SocketAddr;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp::{self, Socket, State};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpListenEndpoint};

/// Listening sockets kept ready per listener (refilled after every packet, so a burst of
/// connection requests never finds none).
const LISTEN_POOL: usize = 4;
/// Largest backlog (Linux's `somaxconn`).
pub const MAX_BACKLOG: u32 = 4096;
/// A connection attempt with no answer gives up after this long (`ETIMEDOUT`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(75);
/// `SO_KEEPALIVE`'s probe interval once the connection is idle (Linux waits 2 h).
const KEEP_ALIVE: Duration = Duration::from_secs(7200);

pub struct TcpEntry {
    pub family: Family,
    /// The connection's socket (none before connect, and none for a listener).
    pub socket: Option<SocketHandle>,
    /// What `bind` asked for.
    pub bound: Option<SocketAddr>,
    pub listener: Option<Listener>,
    pub options: Options,
    /// Pending `SO_ERROR`.
    pub error: Option<Errno>,
    /// When the connection attempt under way started.
    pub connect_started_ns: Option<u64>,
    /// The peer reset the connection; reported once as `ECONNRESET`, then end of stream.
    reset_reported: bool,
    /// The connection got past its handshake (so a later close is a reset, not a refusal).
    established: bool,
    /// The peer's FIN was seen: a connection that ends up closed was closed, not reset.
    peer_closed: bool,
    read_shut: bool,
}

pub struct Listener {
    endpoint: IpListenEndpoint,
    pool: Vec<SocketHandle>,
    /// Connections out of the pool, oldest first, until the app accepts them.
    queue: VecDeque<SocketHandle>,
    backlog: usize,
}

impl TcpEntry {
    pub fn new(family: Family, options: Options) -> TcpEntry {
        TcpEntry {
            family,
            socket: None,
            bound: None,
            listener: None,
            options,
            error: None,
            connect_started_ns: None,
            reset_reported: false,
            established: false,
            peer_closed: false,
            read_shut: false,
        }
    }

    pub fn local_port(&self, sockets: &SocketSet<'_>) -> Option<u16> {
        if let Some(l) = &self.listener {
            return Some(l.endpoint.port);
        }
        if let Some(e) = self
            .socket
            .and_then(|s| sockets.get::<Socket>(s).local_endpoint())
        {
            return Some(e.port);
        }
        self.bound.map(|b| b.port())
    }

    pub fn local_addr(&self, sockets: &SocketSet<'_>) -> SocketAddr {
        if let Some(e) = self
            .socket
            .and_then(|s| sockets.get::<Socket>(s).local_endpoint())
        {
            return e.into();
        }
        self.bound
            .unwrap_or_else(|| unspecified(self.family, self.local_port(sockets).unwrap_or(0)))
    }

    pub fn peer_addr(&self, sockets: &SocketSet<'_>) -> Option<SocketAddr> {
        let s = sockets.get::<Socket>(self.socket?);
        match s.state() {
            State::Closed | State::Listen | State::SynSent => None,
            _ => s.remote_endpoint().map(Into::into),
        }
    }
}

pub fn apply_options(s: &mut Socket<'_>, o: &Options) {
    s.set_nagle_enabled(!o.no_delay);
    s.set_keep_alive(o.keep_alive.then_some(KEEP_ALIVE));
}

fn listen_endpoint(addr: Option<SocketAddr>, port: u16) -> IpListenEndpoint {
    IpListenEndpoint {
        addr: addr
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .map(IpAddress::from),
        port,
    }
}

impl<D: Device + super::Interrupts> SmolStack<D> {
    fn tcp(&mut self, h: Handle) -> Result<&mut TcpEntry, Errno> {
        match self.entries.get_mut(&h) {
            Some(Entry::Tcp(t)) => Ok(t),
            Some(Entry::Udp(_)) => Err(Errno::NOTSUP),
            None => Err(Errno::BADF),
        }
    }

    fn new_tcp_socket(&mut self, o: &Options) -> Result<SocketHandle, Errno> {
        if !self.has_room() {
            return Err(Errno::NOBUFS);
        }
        let mut backing = Vec::new();
        let rx = self.buffer_source.buffer(o.recv_buffer, &mut backing)?;
        let tx = self.buffer_source.buffer(o.send_buffer, &mut backing)?;
        let mut s = Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        apply_options(&mut s, o);
        Ok(self.add_socket(s, backing))
    }

    pub(super) fn bind_tcp(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        let t = self.tcp(h)?;
        if t.bound.is_some() || t.socket.is_some() || t.listener.is_some() {
            return Err(Errno::INVAL);
        }
        if family_of(&addr) != t.family {
            return Err(Errno::AFNOSUPPORT);
        }
        let reuse = t.options.reuse_address;
        if !self.is_local(addr.ip()) {
            return Err(Errno::ADDRNOTAVAIL);
        }
        let port = match addr.port() {
            0 => self.ephemeral_port(Kind::Stream)?,
            p if self.port_in_use(Kind::Stream, p, !reuse) => return Err(Errno::ADDRINUSE),
            p => p,
        };
        self.tcp(h)?.bound = Some(SocketAddr::new(addr.ip(), port));
        Ok(())
    }

    pub(super) fn listen_tcp(&mut self, h: Handle, backlog: u32) -> Result<(), Errno> {
        let t = self.tcp(h)?;
        if let Some(l) = &mut t.listener {
            // A second listen changes the backlog only, as on Linux.
            l.backlog = backlog.clamp(1, MAX_BACKLOG) as usize;
            l.queue.reserve(l.backlog);
            return Ok(());
        }
        if t.socket.is_some() {
            return Err(Errno::INVAL);
        }
        let family = t.family;
        let bound = match t.bound {
            Some(b) => b,
            None => unspecified(family, self.ephemeral_port(Kind::Stream)?),
        };
        let endpoint = listen_endpoint(Some(bound), bound.port());
        let t = self.tcp(h)?;
        t.bound = Some(bound);
        let backlog = backlog.clamp(1, MAX_BACKLOG) as usize;
        // Room for the whole backlog now: the heap at idle does not depend on how many
        // connections once waited at the same time.
        t.listener = Some(Listener {
            endpoint,
            pool: Vec::with_capacity(LISTEN_POOL),
            queue: VecDeque::with_capacity(backlog),
            backlog,
        });
        self.listeners.push(h);
        self.service_listeners();
        let pool_empty = matches!(self.entries.get(&h), Some(Entry::Tcp(TcpEntry { listener: Some(l), .. })) if l.pool.is_empty());
        if pool_empty {
            // Not even one listening socket fits: the machine is out of sockets.
            if let Some(Entry::Tcp(t)) = self.entries.remove(&h) {
                self.close_tcp(h, t);
            }
            return Err(Errno::NOBUFS);
        }
        Ok(())
    }

    /// Moves connections out of the listeners' pools into their queues, drops queued ones that
    /// failed, refills the pools, and tells the gate which ports take no new connection.
    pub(super) fn service_listeners(&mut self) {
        let mut closed_ports = Vec::new();
        for i in 0..self.listeners.len() {
            let h = self.listeners[i];
            let Some(Entry::Tcp(TcpEntry {
                listener: Some(l),
                options,
                ..
            })) = self.entries.get_mut(&h)
            else {
                continue;
            };
            let options = *options;
            let mut pool = core::mem::take(&mut l.pool);
            let mut queue = core::mem::take(&mut l.queue);
            let (endpoint, backlog) = (l.endpoint, l.backlog);
            pool.retain(|&s| {
                let listening = self.sockets.get::<Socket>(s).state() == State::Listen;
                if !listening {
                    queue.push_back(s);
                }
                listening
            });
            let mut failed = Vec::new();
            queue.retain(|&s| {
                let closed = self.sockets.get::<Socket>(s).state() == State::Closed;
                if closed {
                    failed.push(s);
                }
                !closed
            });
            for s in failed {
                self.remove_socket(s);
            }
            let want = LISTEN_POOL.min(backlog.saturating_sub(queue.len()));
            while pool.len() < want {
                let Ok(s) = self.new_tcp_socket(&options) else {
                    break;
                };
                if self.sockets.get_mut::<Socket>(s).listen(endpoint).is_err() {
                    self.remove_socket(s);
                    break;
                }
                pool.push(s);
            }
            if pool.is_empty() {
                closed_ports.push(endpoint.port);
            }
            if let Some(Entry::Tcp(TcpEntry {
                listener: Some(l), ..
            })) = self.entries.get_mut(&h)
            {
                l.pool = pool;
                l.queue = queue;
            }
        }
        self.device.closed_ports = closed_ports;
    }

    pub(super) fn accept_tcp(&mut self, h: Handle) -> Result<(Handle, SocketAddr), Errno> {
        self.service_listeners();
        let Some(Entry::Tcp(t)) = self.entries.get_mut(&h) else {
            return Err(Errno::BADF);
        };
        let family = t.family;
        let options = t.options;
        let l = t.listener.as_mut().ok_or(Errno::INVAL)?;
        let sockets = &self.sockets;
        let ready = l.queue.iter().position(|&s| {
            matches!(
                sockets.get::<Socket>(s).state(),
                State::Established | State::CloseWait
            )
        });
        let Some(i) = ready else {
            return Err(Errno::AGAIN);
        };
        let s = l.queue.remove(i).expect("position is in the queue");
        let socket = self.sockets.get::<Socket>(s);
        let peer: SocketAddr = socket
            .remote_endpoint()
            .map(Into::into)
            .unwrap_or_else(|| unspecified(family, 0));
        let local: Option<SocketAddr> = socket.local_endpoint().map(Into::into);
        let mut entry = TcpEntry::new(family, options);
        entry.socket = Some(s);
        entry.bound = local;
        entry.established = true;
        let new = self.handle();
        self.entries.insert(new, Entry::Tcp(entry));
        self.service_listeners();
        Ok((new, peer))
    }

    pub(super) fn connect_tcp(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        self.refresh_tcp(h);
        let t = self.tcp(h)?;
        if t.listener.is_some() {
            return Err(Errno::INVAL);
        }
        if t.connect_started_ns.is_some() {
            return Err(Errno::ALREADY);
        }
        if t.established || t.socket.is_some() {
            return Err(Errno::ISCONN);
        }
        if family_of(&addr) != t.family {
            return Err(Errno::AFNOSUPPORT);
        }
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(Errno::CONNREFUSED);
        }
        let (options, bound) = (t.options, t.bound);
        if !self.has_source_for(addr.ip()) {
            return Err(if self.address_pending() {
                Errno::AGAIN
            } else {
                Errno::NETUNREACH
            });
        }
        let port = match bound {
            Some(b) if b.port() != 0 => b.port(),
            _ => self.ephemeral_port(Kind::Stream)?,
        };
        let local = listen_endpoint(bound, port);
        let s = self.new_tcp_socket(&options)?;
        let cx = self.iface.context();
        let socket = self.sockets.get_mut::<Socket>(s);
        socket.set_timeout(Some(CONNECT_TIMEOUT));
        if socket.connect(cx, remote_endpoint(addr), local).is_err() {
            self.remove_socket(s);
            return Err(Errno::NETUNREACH);
        }
        let now = self.now_ns();
        let t = self.tcp(h)?;
        t.socket = Some(s);
        t.bound = Some(SocketAddr::new(
            bound.map_or(unspecified(t.family, 0).ip(), |b| b.ip()),
            port,
        ));
        t.connect_started_ns = Some(now);
        Err(Errno::INPROGRESS)
    }

    /// Notes how a connection attempt ended, and resets seen on established connections.
    pub(super) fn refresh_tcp(&mut self, h: Handle) {
        let now = self.now_ns();
        let Some(Entry::Tcp(t)) = self.entries.get_mut(&h) else {
            return;
        };
        let Some(s) = t.socket else { return };
        let socket = self.sockets.get_mut::<Socket>(s);
        let state = socket.state();
        if let Some(started) = t.connect_started_ns {
            match state {
                State::SynSent | State::SynReceived => {}
                State::Closed => {
                    let waited = now.saturating_sub(started);
                    t.error = Some(
                        if waited >= CONNECT_TIMEOUT.total_micros() * 1000 - 1_000_000_000 {
                            Errno::TIMEDOUT
                        } else {
                            Errno::CONNREFUSED
                        },
                    );
                    t.connect_started_ns = None;
                    // A failed attempt leaves the socket unconnected; the app may try again.
                    t.socket = None;
                    self.live_sockets -= 1;
                    self.sockets.remove(s);
                    return;
                }
                _ => {
                    socket.set_timeout(None);
                    t.connect_started_ns = None;
                    t.established = true;
                }
            }
        }
        if matches!(
            state,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        ) {
            t.peer_closed = true;
        }
    }

    /// The connection's socket, or why there is none to read from or write to.
    fn connection(&mut self, h: Handle) -> Result<SocketHandle, Errno> {
        self.refresh_tcp(h);
        let t = self.tcp(h)?;
        if t.listener.is_some() {
            return Err(Errno::NOTCONN);
        }
        if t.connect_started_ns.is_some() {
            return Err(Errno::AGAIN);
        }
        t.socket.ok_or(Errno::NOTCONN)
    }

    /// Whether the connection ended with a reset from the peer (rather than a close).
    fn was_reset(&self, h: Handle, s: SocketHandle) -> bool {
        let peer_closed = matches!(self.entries.get(&h), Some(Entry::Tcp(t)) if t.peer_closed);
        self.sockets.get::<Socket>(s).state() == State::Closed && !peer_closed
    }

    pub(super) fn recv_tcp(
        &mut self,
        h: Handle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<Received, Errno> {
        let s = self.connection(h)?;
        let read_shut = self.tcp(h)?.read_shut;
        let socket = self.sockets.get_mut::<Socket>(s);
        let from = socket.remote_endpoint().map(Into::into);
        if read_shut {
            return Ok(Received {
                len: 0,
                from,
                truncated: false,
            });
        }
        if socket.can_recv() {
            let len = if buf.is_empty() {
                0
            } else if peek {
                socket.peek_slice(buf).map_err(|_| Errno::NOTCONN)?
            } else {
                socket.recv_slice(buf).map_err(|_| Errno::NOTCONN)?
            };
            return Ok(Received {
                len,
                from,
                truncated: false,
            });
        }
        if socket.may_recv() {
            return Err(Errno::AGAIN);
        }
        if self.was_reset(h, s) {
            let t = self.tcp(h)?;
            if !t.reset_reported {
                t.reset_reported = true;
                return Err(Errno::CONNRESET);
            }
        }
        Ok(Received {
            len: 0,
            from,
            truncated: false,
        })
    }

    pub(super) fn send_tcp(&mut self, h: Handle, data: &[u8]) -> Result<usize, Errno> {
        let s = self.connection(h)?;
        let reset = self.was_reset(h, s);
        let socket = self.sockets.get_mut::<Socket>(s);
        if !socket.may_send() {
            if reset {
                let t = self.tcp(h)?;
                if !t.reset_reported {
                    t.reset_reported = true;
                    return Err(Errno::CONNRESET);
                }
            }
            return Err(Errno::PIPE);
        }
        if data.is_empty() {
            return Ok(0);
        }
        match socket.send_slice(data) {
            Ok(0) => Err(Errno::AGAIN),
            Ok(n) => Ok(n),
            Err(_) => Err(Errno::PIPE),
        }
    }

    pub(super) fn shutdown_tcp(&mut self, h: Handle, read: bool, write: bool) -> Result<(), Errno> {
        let s = match self.connection(h) {
            Ok(s) => s,
            Err(Errno::AGAIN) => return Err(Errno::NOTCONN),
            Err(e) => return Err(e),
        };
        if write {
            self.sockets.get_mut::<Socket>(s).close();
        }
        if read {
            self.tcp(h)?.read_shut = true;
        }
        Ok(())
    }

    pub(super) fn close_tcp(&mut self, h: Handle, t: TcpEntry) {
        if let Some(l) = t.listener {
            self.listeners.retain(|&x| x != h);
            for s in l.pool {
                self.remove_socket(s);
            }
            // Connections nobody accepted are reset, as Linux does when a listener closes.
            for s in l.queue {
                self.sockets.get_mut::<Socket>(s).abort();
                self.orphan(s);
            }
            self.service_listeners();
            return;
        }
        let Some(s) = t.socket else { return };
        let socket = self.sockets.get_mut::<Socket>(s);
        match socket.state() {
            State::Closed | State::TimeWait => {
                self.remove_socket(s);
                return;
            }
            // Unread data: the peer learns at once that it was not read (Linux resets too).
            _ if socket.can_recv() => socket.abort(),
            State::SynSent | State::SynReceived => socket.abort(),
            _ => socket.close(),
        }
        self.orphan(s);
    }

    fn orphan(&mut self, s: SocketHandle) {
        let deadline_ns = self.now_ns().saturating_add(ORPHAN_LINGER_NS);
        self.orphans.push(Orphan {
            socket: s,
            deadline_ns,
        });
    }

    pub(super) fn tcp_readiness(&mut self, h: Handle) -> Readiness {
        let Some(Entry::Tcp(t)) = self.entries.get(&h) else {
            return Readiness::default();
        };
        if let Some(l) = &t.listener {
            let waiting = l
                .queue
                .iter()
                .filter(|&&s| {
                    matches!(
                        self.sockets.get::<Socket>(s).state(),
                        State::Established | State::CloseWait
                    )
                })
                .count();
            return Readiness {
                readable: waiting > 0,
                read_bytes: waiting as u64,
                ..Readiness::default()
            };
        }
        if t.connect_started_ns.is_some() {
            return Readiness::default();
        }
        let Some(s) = t.socket else {
            // Never connected, or a failed attempt: nothing to wait for.
            return Readiness {
                readable: t.error.is_some(),
                writable: true,
                hangup: true,
                ..Readiness::default()
            };
        };
        let socket = self.sockets.get::<Socket>(s);
        let ended = !socket.may_recv() || t.read_shut;
        let room = socket.send_capacity() - socket.send_queue();
        Readiness {
            readable: socket.can_recv() || ended,
            read_bytes: socket.recv_queue() as u64,
            writable: room > 0 || !socket.may_send(),
            write_room: if socket.may_send() { room as u64 } else { 0 },
            hangup: ended,
        }
    }
}

fn remote_endpoint(addr: SocketAddr) -> smoltcp::wire::IpEndpoint {
    addr.into()
}
