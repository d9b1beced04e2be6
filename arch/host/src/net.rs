//! The hosted platform's network: the host's own sockets (non-blocking, one per app socket),
//! so `mewz run --target host` serves on the host's ports and reaches whatever the host
//! reaches. The kernel's socket layer above is the same as on the unikernels; only the stack
//! differs (see `mewz_kernel::net::stack`).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use mewz_kernel::Platform;
use mewz_kernel::net::{
    Family, Handle, Interest, Kind, Readiness, Received, Stack, StackOption, StackStats,
};
use mewz_kernel::wasi::Errno;
use std::collections::BTreeMap;

struct Socket {
    fd: libc::c_int,
    kind: Kind,
    connecting: bool,
    error: Option<Errno>,
}

pub struct HostSockets {
    sockets: BTreeMap<Handle, Socket>,
    lookups: BTreeMap<Handle, Vec<IpAddr>>,
    next: Handle,
}

/// The host errno of the last failed call, as a WASI errno.
fn last_error() -> Errno {
    wasi_errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Linux errno to WASI errno.
pub fn wasi_errno(e: i32) -> Errno {
    match e {
        libc::EAGAIN => Errno::AGAIN,
        libc::EINPROGRESS => Errno::INPROGRESS,
        libc::EALREADY => Errno::ALREADY,
        libc::ECONNREFUSED => Errno::CONNREFUSED,
        libc::ECONNRESET => Errno::CONNRESET,
        libc::ECONNABORTED => Errno::CONNABORTED,
        libc::EPIPE => Errno::PIPE,
        libc::EADDRINUSE => Errno::ADDRINUSE,
        libc::EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
        libc::EAFNOSUPPORT => Errno::AFNOSUPPORT,
        libc::EBADF => Errno::BADF,
        libc::EINVAL => Errno::INVAL,
        libc::EMFILE => Errno::MFILE,
        libc::ENFILE => Errno::NFILE,
        libc::ENOBUFS => Errno::NOBUFS,
        libc::ENOMEM => Errno::NOMEM,
        libc::ENOTCONN => Errno::NOTCONN,
        libc::EISCONN => Errno::ISCONN,
        libc::ENETUNREACH => Errno::NETUNREACH,
        libc::ENETDOWN => Errno::NETDOWN,
        libc::EHOSTUNREACH => Errno::HOSTUNREACH,
        libc::ETIMEDOUT => Errno::TIMEDOUT,
        libc::EACCES => Errno::ACCES,
        libc::EPERM => Errno::PERM,
        libc::EMSGSIZE => Errno::MSGSIZE,
        libc::EDESTADDRREQ => Errno::DESTADDRREQ,
        libc::ENOPROTOOPT => Errno::NOPROTOOPT,
        libc::EOPNOTSUPP => Errno::NOTSUP,
        libc::EPROTOTYPE => Errno::PROTOTYPE,
        libc::EINTR => Errno::INTR,
        libc::ENOTSOCK => Errno::NOTSOCK,
        _ => Errno::IO,
    }
}

fn check(r: libc::c_int) -> Result<libc::c_int, Errno> {
    if r < 0 { Err(last_error()) } else { Ok(r) }
}

/// A `sockaddr_storage` holding `addr`, and its length.
fn to_raw(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { core::ptr::write((&raw mut storage).cast(), sin) };
            core::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { core::ptr::write((&raw mut storage).cast(), sin6) };
            core::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn from_raw(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { core::ptr::read((storage as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { core::ptr::read((storage as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn option_names(option: StackOption) -> (libc::c_int, libc::c_int) {
    match option {
        StackOption::ReuseAddress => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        StackOption::KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        StackOption::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        StackOption::Broadcast => (libc::SOL_SOCKET, libc::SO_BROADCAST),
        StackOption::RecvBuffer => (libc::SOL_SOCKET, libc::SO_RCVBUF),
        StackOption::SendBuffer => (libc::SOL_SOCKET, libc::SO_SNDBUF),
    }
}

fn poll_one(fd: libc::c_int, events: libc::c_short) -> libc::c_short {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n > 0 { p.revents } else { 0 }
}

impl Default for HostSockets {
    fn default() -> Self {
        HostSockets::new()
    }
}

impl HostSockets {
    pub fn new() -> HostSockets {
        HostSockets {
            sockets: BTreeMap::new(),
            lookups: BTreeMap::new(),
            next: 1,
        }
    }

    fn get(&self, h: Handle) -> Result<&Socket, Errno> {
        self.sockets.get(&h).ok_or(Errno::BADF)
    }

    fn fd(&self, h: Handle) -> Result<libc::c_int, Errno> {
        self.get(h).map(|s| s.fd)
    }

    fn handle(&mut self) -> Handle {
        let h = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        h
    }

    fn adopt(&mut self, fd: libc::c_int, kind: Kind) -> Handle {
        let h = self.handle();
        self.sockets.insert(
            h,
            Socket {
                fd,
                kind,
                connecting: false,
                error: None,
            },
        );
        h
    }

    fn name(
        &self,
        h: Handle,
        f: unsafe extern "C" fn(
            libc::c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> libc::c_int,
    ) -> Result<SocketAddr, Errno> {
        let fd = self.fd(h)?;
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the buffer and its length are valid for the call.
        check(unsafe { f(fd, (&raw mut storage).cast(), &mut len) })?;
        from_raw(&storage).ok_or(Errno::AFNOSUPPORT)
    }
}

impl Drop for HostSockets {
    fn drop(&mut self) {
        for s in self.sockets.values() {
            // SAFETY: closing descriptors this stack owns.
            unsafe { libc::close(s.fd) };
        }
    }
}

impl Stack for HostSockets {
    fn describe(&self) -> String {
        "the host's sockets".into()
    }

    fn open(&mut self, family: Family, kind: Kind) -> Result<Handle, Errno> {
        let domain = match family {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        };
        let ty = match kind {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Datagram => libc::SOCK_DGRAM,
        };
        // SAFETY: plain socket creation.
        let fd = check(unsafe {
            libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
        })?;
        Ok(self.adopt(fd, kind))
    }

    fn close(&mut self, h: Handle) {
        if let Some(s) = self.sockets.remove(&h) {
            // SAFETY: closing a descriptor this stack owned.
            unsafe { libc::close(s.fd) };
        }
    }

    fn bind(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        let fd = self.fd(h)?;
        let (raw, len) = to_raw(addr);
        // SAFETY: a valid address of `len` bytes.
        check(unsafe { libc::bind(fd, (&raw const raw).cast(), len) }).map(drop)
    }

    fn listen(&mut self, h: Handle, backlog: u32) -> Result<(), Errno> {
        let fd = self.fd(h)?;
        let backlog = backlog.min(i32::MAX as u32) as libc::c_int;
        // SAFETY: plain call on an owned descriptor.
        check(unsafe { libc::listen(fd, backlog) }).map(drop)
    }

    fn accept(&mut self, h: Handle) -> Result<(Handle, SocketAddr), Errno> {
        let fd = self.fd(h)?;
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the buffer and its length are valid for the call.
        let new = check(unsafe {
            libc::accept4(
                fd,
                (&raw mut storage).cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        })?;
        let peer = from_raw(&storage).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok((self.adopt(new, Kind::Stream), peer))
    }

    fn connect(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        let fd = self.fd(h)?;
        let (raw, len) = to_raw(addr);
        // SAFETY: a valid address of `len` bytes.
        match check(unsafe { libc::connect(fd, (&raw const raw).cast(), len) }) {
            Ok(_) => Ok(()),
            Err(Errno::INPROGRESS) => {
                if let Some(s) = self.sockets.get_mut(&h) {
                    s.connecting = true;
                }
                Err(Errno::INPROGRESS)
            }
            Err(e) => Err(e),
        }
    }

    fn connecting(&mut self, h: Handle) -> bool {
        let Some(s) = self.sockets.get_mut(&h) else {
            return false;
        };
        if s.connecting && poll_one(s.fd, libc::POLLOUT) != 0 {
            s.connecting = false;
            let mut e: libc::c_int = 0;
            let mut len = 4 as libc::socklen_t;
            // SAFETY: an int-sized option buffer.
            unsafe {
                libc::getsockopt(
                    s.fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&raw mut e).cast(),
                    &mut len,
                )
            };
            s.error = (e != 0).then(|| wasi_errno(e));
        }
        s.connecting
    }

    fn recv(&mut self, h: Handle, buf: &mut [u8], peek: bool) -> Result<Received, Errno> {
        let s = self.get(h)?;
        let (fd, kind) = (s.fd, s.kind);
        let mut flags = if peek { libc::MSG_PEEK } else { 0 };
        if kind == Kind::Datagram {
            flags |= libc::MSG_TRUNC;
        }
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the buffers and lengths are valid for the call.
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                (&raw mut storage).cast(),
                &mut len,
            )
        };
        if n < 0 {
            return Err(last_error());
        }
        let n = n as usize;
        let from = if kind == Kind::Datagram {
            from_raw(&storage)
        } else {
            self.peer_addr(h).ok()
        };
        Ok(Received {
            len: n.min(buf.len()),
            from,
            truncated: n > buf.len(),
        })
    }

    fn send(&mut self, h: Handle, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        let fd = self.fd(h)?;
        let dest = to.map(to_raw);
        let (ptr, len) = match &dest {
            Some((raw, len)) => ((raw as *const libc::sockaddr_storage).cast(), *len),
            None => (core::ptr::null(), 0),
        };
        // SAFETY: the data and the optional address are valid for the call.
        let n = unsafe {
            libc::sendto(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
                ptr,
                len,
            )
        };
        if n < 0 {
            Err(last_error())
        } else {
            Ok(n as usize)
        }
    }

    fn shutdown(&mut self, h: Handle, read: bool, write: bool) -> Result<(), Errno> {
        let fd = self.fd(h)?;
        let how = match (read, write) {
            (true, true) => libc::SHUT_RDWR,
            (true, false) => libc::SHUT_RD,
            _ => libc::SHUT_WR,
        };
        // SAFETY: plain call on an owned descriptor.
        check(unsafe { libc::shutdown(fd, how) }).map(drop)
    }

    fn local_addr(&mut self, h: Handle) -> Result<SocketAddr, Errno> {
        self.name(h, libc::getsockname)
    }

    fn peer_addr(&mut self, h: Handle) -> Result<SocketAddr, Errno> {
        self.name(h, libc::getpeername)
    }

    fn set_option(&mut self, h: Handle, option: StackOption, value: u64) -> Result<(), Errno> {
        let fd = self.fd(h)?;
        let (level, name) = option_names(option);
        let v = value.min(i32::MAX as u64) as libc::c_int;
        // SAFETY: an int-sized option value.
        check(unsafe { libc::setsockopt(fd, level, name, (&raw const v).cast(), 4) }).map(drop)
    }

    fn option(&mut self, h: Handle, option: StackOption) -> Result<u64, Errno> {
        let fd = self.fd(h)?;
        let (level, name) = option_names(option);
        let mut v: libc::c_int = 0;
        let mut len = 4 as libc::socklen_t;
        // SAFETY: an int-sized option buffer.
        check(unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) })?;
        Ok(v.max(0) as u64)
    }

    fn take_error(&mut self, h: Handle) -> Option<Errno> {
        self.connecting(h);
        let s = self.sockets.get_mut(&h)?;
        if let Some(e) = s.error.take() {
            return Some(e);
        }
        let mut e: libc::c_int = 0;
        let mut len = 4 as libc::socklen_t;
        // SAFETY: an int-sized option buffer.
        unsafe {
            libc::getsockopt(
                s.fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut e).cast(),
                &mut len,
            )
        };
        (e != 0).then(|| wasi_errno(e))
    }

    fn readiness(&mut self, h: Handle) -> Readiness {
        if self.connecting(h) {
            return Readiness::default();
        }
        let Some(s) = self.sockets.get(&h) else {
            return Readiness::default();
        };
        let r = poll_one(s.fd, libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP);
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(s.fd, libc::FIONREAD, &mut pending) };
        let hangup = r & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0;
        Readiness {
            readable: r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0,
            read_bytes: pending.max(0) as u64,
            writable: r & (libc::POLLOUT | libc::POLLERR) != 0,
            write_room: 0,
            hangup,
        }
    }

    fn poll(&mut self) {}

    fn wait(&mut self, p: &dyn Platform, deadline_ns: u64, interest: &[(Handle, Interest)]) {
        let mut fds: Vec<libc::pollfd> = interest
            .iter()
            .filter_map(|&(h, i)| {
                let s = self.sockets.get(&h)?;
                let events = match i {
                    Interest::Read => libc::POLLIN | libc::POLLRDHUP,
                    Interest::Write => libc::POLLOUT,
                };
                Some(libc::pollfd {
                    fd: s.fd,
                    events,
                    revents: 0,
                })
            })
            .collect();
        if fds.is_empty() {
            p.arm_timer(
                deadline_ns
                    .saturating_sub(p.monotonic_ns())
                    .min(1_000_000_000),
            );
            p.wait_for_interrupt();
            return;
        }
        let left = deadline_ns.saturating_sub(p.monotonic_ns());
        let timeout_ms = left.div_ceil(1_000_000).min(1000) as libc::c_int;
        // SAFETY: a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    }

    fn resolve(&mut self, name: &str) -> Result<Handle, Errno> {
        use std::net::ToSocketAddrs;
        let addrs: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map_err(|_| Errno::NOENT)?
            .map(|a| a.ip())
            .collect();
        let h = self.handle();
        self.lookups.insert(h, addrs);
        Ok(h)
    }

    fn resolved(&mut self, query: Handle) -> Result<Vec<IpAddr>, Errno> {
        self.lookups.remove(&query).ok_or(Errno::INVAL)
    }

    fn stats(&self) -> StackStats {
        StackStats {
            app_sockets: self.sockets.len(),
            stack_sockets: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_on_the_hosts_loopback() {
        let mut s = HostSockets::new();
        let l = s.open(Family::V4, Kind::Stream).unwrap();
        s.bind(l, "127.0.0.1:0".parse().unwrap()).unwrap();
        s.listen(l, 4).unwrap();
        let addr = s.local_addr(l).unwrap();
        assert_eq!(s.accept(l).map(|_| ()), Err(Errno::AGAIN));
        let c = s.open(Family::V4, Kind::Stream).unwrap();
        match s.connect(c, addr) {
            Ok(()) | Err(Errno::INPROGRESS) => {}
            Err(e) => panic!("connect: {e:?}"),
        }
        let deadline = crate::HOST.monotonic_ns() + 5_000_000_000;
        while s.connecting(c) {
            s.wait(&crate::HOST, deadline, &[(c, Interest::Write)]);
        }
        assert_eq!(s.take_error(c), None);
        s.wait(&crate::HOST, deadline, &[(l, Interest::Read)]);
        let (a, peer) = s.accept(l).unwrap();
        assert_eq!(peer, s.local_addr(c).unwrap());
        assert_eq!(s.send(c, b"hello", None), Ok(5));
        s.wait(&crate::HOST, deadline, &[(a, Interest::Read)]);
        let mut buf = [0u8; 16];
        let r = s.recv(a, &mut buf, false).unwrap();
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(s.recv(a, &mut buf, false), Err(Errno::AGAIN));
        s.close(c);
        s.wait(&crate::HOST, deadline, &[(a, Interest::Read)]);
        assert_eq!(s.recv(a, &mut buf, false).map(|r| r.len), Ok(0));
        assert!(s.readiness(a).hangup);
        let refused = s.open(Family::V4, Kind::Stream).unwrap();
        s.close(l);
        let r = s.connect(refused, addr);
        if r == Err(Errno::INPROGRESS) {
            while s.connecting(refused) {
                s.wait(&crate::HOST, deadline, &[(refused, Interest::Write)]);
            }
            assert_eq!(s.take_error(refused), Some(Errno::CONNREFUSED));
        } else {
            assert_eq!(r, Err(Errno::CONNREFUSED));
        }
    }
}
