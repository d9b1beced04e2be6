//! The kernel's own network stack: smoltcp over one device (the NIC, or a loopback device on a
//! machine without one), polled from this one place.
//!
//! - Listeners: smoltcp turns a listening socket into the connection it accepts, so a
//!   listener is a small pool of listening sockets, refilled after every incoming packet, plus
//!   the queue of connections the app has not accepted yet (bounded by the backlog; past it, new
//!   connection requests are dropped by the [`gate`], as Linux drops them).
//! - Closing: a stream closed by the app stays in the stack until its data and FIN are
//!   acknowledged (an orphan), and goes away at TIME-WAIT rather than holding its buffers for
//!   the 2·MSL TIME-WAIT lasts (Linux also ends TIME-WAIT early under pressure); an orphan that
//!   gets nowhere in [`ORPHAN_LINGER_NS`] is reset. Unread data at close resets the connection
//!   at once, as on Linux.
//! - Buffers are sized from the heap at start ([`Sizes`]), and so is the socket capacity;
//!   large ones are backed on touch ([`buffers`]).

mod buffers;
mod gate;
pub mod hairpin;
mod sizes;
mod tcp;
#[cfg(test)]
mod tests;
mod udp;

use super::config::{AddressConfig, StaticConfig};
use super::stack::{
    Family, Handle, Interest, Kind, Readiness, Received, Stack, StackOption, StackStats,
};
use crate::platform::Platform;
use crate::wasi::Errno;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use buffers::{Backing, BufferSource};
use core::net::{IpAddr, SocketAddr};
use gate::Gate;
pub use sizes::Sizes;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, Loopback, Medium};
use smoltcp::socket::{dhcpv4, dns};
use smoltcp::time::Instant;
use smoltcp::wire::{
    DnsQueryType, HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr,
};

/// How long an orphaned connection may take to finish before it is reset.
pub const ORPHAN_LINGER_NS: u64 = 60_000_000_000;
/// Most packets taken in per poll, so a flood cannot keep the app from running.
const INGRESS_BUDGET: usize = 4096;
/// Longest single sleep in [`Stack::wait`] (platform timers need not represent more).
const MAX_WAIT_NS: u64 = 1_000_000_000;
/// Ephemeral ports, as Linux's default `ip_local_port_range`.
const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;

/// What the stack needs of a device besides moving frames: its interrupt.
pub trait Interrupts {
    /// Acknowledges the device's interrupt before the stack looks for frames.
    fn acknowledge(&mut self) {}
    /// Longest the stack may sleep waiting for the device (a device that cannot interrupt
    /// must be looked at now and then).
    fn longest_sleep_ns(&self) -> u64 {
        u64::MAX
    }
}

/// The loopback device has nothing to acknowledge: what it sends is input at once.
impl Interrupts for Loopback {}

/// Tunable per-socket options, as the app set them.
#[derive(Clone, Copy, Debug)]
struct Options {
    reuse_address: bool,
    keep_alive: bool,
    no_delay: bool,
    broadcast: bool,
    recv_buffer: usize,
    send_buffer: usize,
}

enum Entry {
    Tcp(tcp::TcpEntry),
    Udp(udp::UdpEntry),
}

/// A stream the app closed, finishing in the background.
struct Orphan {
    socket: SocketHandle,
    deadline_ns: u64,
}

pub struct SmolStack<D: Device + Interrupts> {
    platform: &'static dyn Platform,
    name: &'static str,
    device: Gate<D>,
    iface: Interface,
    sockets: SocketSet<'static>,
    /// The touch-backed buffers of the sockets in `sockets`, which borrow them: declared
    /// after `sockets`, so that they are dropped after the sockets.
    backings: BTreeMap<SocketHandle, Backing>,
    buffer_source: BufferSource,
    /// TCP and UDP sockets in `sockets` (not DHCP/DNS).
    live_sockets: usize,
    entries: BTreeMap<Handle, Entry>,
    listeners: Vec<Handle>,
    orphans: Vec<Orphan>,
    next_handle: Handle,
    next_ephemeral: u16,
    sizes: Sizes,
    dhcp: Option<SocketHandle>,
    dns: Option<SocketHandle>,
    dns_servers: Vec<IpAddress>,
    queries: BTreeMap<Handle, dns::QueryHandle>,
    /// The IPv6 addresses beyond loopback last written to the log.
    logged_ipv6: Vec<Ipv6Cidr>,
}

// SAFETY: the stack is only ever used under the kernel's network lock, from the app's one
// thread; the platform reference it holds is itself `Sync`.
unsafe impl<D: Device + Interrupts> Send for SmolStack<D> {}

/// A loopback-only stack (`127.0.0.1`, `::1`), for a machine without a NIC.
pub fn loopback_stack(p: &'static dyn Platform) -> Box<dyn Stack> {
    Box::new(loopback(p, Sizes::for_heap(crate::heap::size())))
}

fn loopback(p: &'static dyn Platform, sizes: Sizes) -> SmolStack<Loopback> {
    let mut stack = SmolStack::new(
        p,
        "loopback",
        Loopback::new(Medium::Ip),
        HardwareAddress::Ip,
        sizes,
        BufferSource::for_platform(p),
    );
    stack.add_loopback_addresses();
    stack
}

/// `fe80::/64`, the prefix of link-local IPv6 addresses.
const LINK_LOCAL: Ipv6Cidr = Ipv6Cidr::new(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64);

/// The stack of an Ethernet NIC with MAC address `mac`, configured as `config` says (DHCP
/// starts now and completes while the app runs). It also holds the loopback addresses (the
/// device gives back what the machine sends itself: [`hairpin`]), a link-local IPv6 address
/// from the MAC, and takes a global one from router advertisements (SLAAC).
pub fn ethernet_stack<D: Device + Interrupts + 'static>(
    p: &'static dyn Platform,
    name: &'static str,
    device: D,
    mac: [u8; 6],
    config: AddressConfig,
) -> Box<dyn Stack> {
    let hardware = HardwareAddress::Ethernet(smoltcp::wire::EthernetAddress(mac));
    let mut stack = SmolStack::new(
        p,
        name,
        device,
        hardware,
        Sizes::for_heap(crate::heap::size()),
        BufferSource::for_platform(p),
    );
    stack.add_nic_addresses(hardware);
    match config {
        AddressConfig::Dhcp => {
            let socket = dhcpv4::Socket::new();
            stack.dhcp = Some(stack.sockets.add(socket));
        }
        AddressConfig::Static(c) => stack.apply_static(&c, "static"),
    }
    stack.poll();
    Box::new(stack)
}

impl<D: Device + Interrupts> SmolStack<D> {
    fn new(
        platform: &'static dyn Platform,
        name: &'static str,
        device: D,
        hardware: HardwareAddress,
        sizes: Sizes,
        buffer_source: BufferSource,
    ) -> SmolStack<D> {
        let mut device = Gate::new(device);
        let mut config = Config::new(hardware);
        // Router advertisements give an Ethernet NIC its global IPv6 address.
        config.slaac = matches!(hardware, HardwareAddress::Ethernet(_));
        let mut seed = [0u8; 8];
        if platform.random_bytes(&mut seed) {
            config.random_seed = u64::from_le_bytes(seed);
        } else {
            config.random_seed = platform.monotonic_ns();
        }
        let seed = config.random_seed;
        let now = Instant::from_micros((platform.monotonic_ns() / 1000) as i64);
        let iface = Interface::new(config, &mut device, now);
        SmolStack {
            platform,
            name,
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            backings: BTreeMap::new(),
            buffer_source,
            live_sockets: 0,
            entries: BTreeMap::new(),
            listeners: Vec::new(),
            orphans: Vec::new(),
            next_handle: 1,
            next_ephemeral: *EPHEMERAL.start() + (seed % 20000) as u16,
            sizes,
            dhcp: None,
            dns: None,
            dns_servers: Vec::new(),
            queries: BTreeMap::new(),
            logged_ipv6: Vec::new(),
        }
    }

    /// Loopback's addresses and a link-local IPv6 address from the MAC.
    fn add_nic_addresses(&mut self, hardware: HardwareAddress) {
        self.add_loopback_addresses();
        if let Some(link_local) = Ipv6Cidr::from_link_prefix(&LINK_LOCAL, hardware) {
            self.iface.update_ip_addrs(|addrs| {
                let _ = addrs.push(IpCidr::Ipv6(link_local));
            });
        }
    }

    fn add_loopback_addresses(&mut self) {
        self.iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(Ipv4Address::LOCALHOST.into(), 8));
            let _ = addrs.push(IpCidr::new(Ipv6Address::LOCALHOST.into(), 128));
        });
    }

    /// The machine's IPv4 address on its NIC, if it has one yet.
    fn nic_ipv4(&self) -> Option<Ipv4Address> {
        self.iface.ip_addrs().iter().find_map(|c| match c {
            IpCidr::Ipv4(c) if !c.address().is_loopback() => Some(c.address()),
            _ => None,
        })
    }

    /// Whether the machine has an address to reach `remote` from: loopback reaches loopback;
    /// anything else needs an address on the NIC, of the same family and (for IPv6) a scope
    /// that reaches it (a link-local address reaches only link-local ones).
    fn has_source_for(&self, remote: IpAddr) -> bool {
        if remote.is_loopback() {
            return self.iface.has_ip_addr(IpAddress::from(remote));
        }
        self.iface
            .ip_addrs()
            .iter()
            .any(|c| match (c.address(), remote) {
                (IpAddress::Ipv4(a), IpAddr::V4(_)) => !a.is_loopback(),
                (IpAddress::Ipv6(a), IpAddr::V6(r)) => {
                    !a.is_loopback() && (r.is_unicast_link_local() || !a.is_unicast_link_local())
                }
                _ => false,
            })
    }

    /// Logs the IPv6 addresses beyond loopback when they change (SLAAC adds them late).
    fn log_ipv6(&mut self) {
        let now: Vec<Ipv6Cidr> = self
            .iface
            .ip_addrs()
            .iter()
            .filter_map(|c| match c {
                IpCidr::Ipv6(c) if !c.address().is_loopback() => Some(*c),
                _ => None,
            })
            .collect();
        if now != self.logged_ipv6 {
            for c in now.iter().filter(|c| !self.logged_ipv6.contains(c)) {
                crate::klog!("net: IPv6 address {c}");
            }
            self.logged_ipv6 = now;
        }
    }

    fn now_ns(&self) -> u64 {
        self.platform.monotonic_ns()
    }

    fn now(&self) -> Instant {
        Instant::from_micros((self.now_ns() / 1000) as i64)
    }

    fn default_options(&self) -> Options {
        Options {
            reuse_address: false,
            keep_alive: false,
            no_delay: false,
            broadcast: false,
            recv_buffer: self.sizes.tcp_buffer,
            send_buffer: self.sizes.tcp_buffer,
        }
    }

    fn apply_static(&mut self, c: &StaticConfig, how: &str) {
        self.set_ipv4(Ipv4Cidr::new(c.address, c.prefix_len), c.gateway);
        self.set_dns(c.dns.iter().map(|&a| IpAddress::Ipv4(a)).collect());
        crate::klog!(
            "net: address {}/{}, gateway {}, dns {:?} ({how})",
            c.address,
            c.prefix_len,
            c.gateway
                .map_or(String::from("none"), |g| alloc::format!("{g}")),
            c.dns
        );
    }

    fn set_ipv4(&mut self, cidr: Ipv4Cidr, gateway: Option<Ipv4Address>) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.retain(|a| !is_nic_ipv4(a));
            // First: smoltcp sends from the first IPv4 address to destinations off its subnets.
            let _ = addrs.insert(0, IpCidr::Ipv4(cidr));
        });
        match gateway {
            Some(g) => {
                let _ = self.iface.routes_mut().add_default_ipv4_route(g);
            }
            None => {
                self.iface.routes_mut().remove_default_ipv4_route();
            }
        }
    }

    fn set_dns(&mut self, servers: Vec<IpAddress>) {
        self.dns_servers = servers;
        match self.dns {
            Some(h) => self
                .sockets
                .get_mut::<dns::Socket>(h)
                .update_servers(&self.dns_servers),
            None if !self.dns_servers.is_empty() => {
                let socket = dns::Socket::new(&self.dns_servers, Vec::new());
                self.dns = Some(self.sockets.add(socket));
            }
            None => {}
        }
    }

    fn dhcp_events(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(c)) => Some(StaticConfig {
                address: c.address.address(),
                prefix_len: c.address.prefix_len(),
                gateway: c.router,
                dns: c.dns_servers.iter().copied().collect(),
            }),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match event {
            Some(c) => self.apply_static(&c, "DHCP"),
            // smoltcp reports "deconfigured" once at start too, before any lease.
            None if self.nic_ipv4().is_none() => {}
            None => {
                crate::klog!("net: DHCP lease lost");
                self.iface
                    .update_ip_addrs(|addrs| addrs.retain(|a| !is_nic_ipv4(a)));
                self.iface.routes_mut().remove_default_ipv4_route();
            }
        }
    }

    /// Whether an IPv4 address may still come (DHCP has not answered yet).
    fn address_pending(&self) -> bool {
        self.dhcp.is_some() && self.nic_ipv4().is_none()
    }

    fn handle(&mut self) -> Handle {
        loop {
            let h = self.next_handle;
            self.next_handle = self.next_handle.wrapping_add(1).max(1);
            if !self.entries.contains_key(&h) && !self.queries.contains_key(&h) {
                return h;
            }
        }
    }

    /// Whether the machine has room for another socket.
    fn has_room(&self) -> bool {
        self.live_sockets < self.sizes.max_sockets
    }

    /// Adds a socket, with the touch-backed buffers its storage borrows.
    fn add_socket<T: smoltcp::socket::AnySocket<'static>>(
        &mut self,
        s: T,
        backing: Backing,
    ) -> SocketHandle {
        self.live_sockets += 1;
        let h = self.sockets.add(s);
        if !backing.is_empty() {
            self.backings.insert(h, backing);
        }
        h
    }

    fn remove_socket(&mut self, h: SocketHandle) {
        self.live_sockets -= 1;
        self.sockets.remove(h);
        // The socket is gone: its buffers can go (their pages back to the frame pool).
        self.backings.remove(&h);
    }

    /// A free ephemeral port for `kind` (none in use by any socket of the app or the stack).
    fn ephemeral_port(&mut self, kind: Kind) -> Result<u16, Errno> {
        let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port >= *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            if !self.port_in_use(kind, port, true) {
                return Ok(port);
            }
        }
        Err(Errno::ADDRINUSE)
    }

    /// Whether `port` is taken for `kind`; `strict` also counts the stack's own connections
    /// on it (orphans, connections not yet accepted), which `SO_REUSEADDR` lets a bind ignore.
    fn port_in_use(&self, kind: Kind, port: u16, strict: bool) -> bool {
        let app = self.entries.values().any(|e| match (e, kind) {
            (Entry::Tcp(t), Kind::Stream) => t.local_port(&self.sockets) == Some(port),
            (Entry::Udp(u), Kind::Datagram) => u.local.map(|a| a.port()) == Some(port),
            _ => false,
        });
        let stack = strict
            && kind == Kind::Stream
            && self.orphans.iter().any(|o| {
                self.sockets
                    .get::<smoltcp::socket::tcp::Socket>(o.socket)
                    .local_endpoint()
                    .is_some_and(|e| e.port == port)
            });
        app || stack
    }

    /// Whether `addr` can be a local address here.
    fn is_local(&self, addr: IpAddr) -> bool {
        addr.is_unspecified() || self.iface.has_ip_addr(IpAddress::from(addr))
    }

    fn reap_orphans(&mut self) {
        use smoltcp::socket::tcp::{Socket, State};
        let now = self.now_ns();
        let mut i = 0;
        while i < self.orphans.len() {
            let o = &self.orphans[i];
            let socket = self.sockets.get_mut::<Socket>(o.socket);
            let done = matches!(socket.state(), State::Closed | State::TimeWait);
            if !done && now >= o.deadline_ns {
                // Reset now, remove at the next poll (after the reset went out).
                socket.abort();
                self.orphans[i].deadline_ns = u64::MAX;
                i += 1;
                continue;
            }
            if done {
                let o = self.orphans.swap_remove(i);
                self.remove_socket(o.socket);
            } else {
                i += 1;
            }
        }
    }

    /// Earliest orphan deadline, if any.
    fn orphan_deadline(&self) -> Option<u64> {
        self.orphans
            .iter()
            .map(|o| o.deadline_ns)
            .filter(|&d| d != u64::MAX)
            .min()
    }
}

impl<D: Device + Interrupts> Stack for SmolStack<D> {
    fn describe(&self) -> String {
        alloc::format!(
            "{} stack, {} KiB per stream buffer, up to {} sockets",
            self.name,
            self.sizes.tcp_buffer / 1024,
            self.sizes.max_sockets
        )
    }

    fn open(&mut self, family: Family, kind: Kind) -> Result<Handle, Errno> {
        let entry = match kind {
            Kind::Stream => Entry::Tcp(tcp::TcpEntry::new(family, self.default_options())),
            Kind::Datagram => Entry::Udp(self.new_udp(family)?),
        };
        let h = self.handle();
        self.entries.insert(h, entry);
        Ok(h)
    }

    fn close(&mut self, h: Handle) {
        match self.entries.remove(&h) {
            Some(Entry::Tcp(t)) => self.close_tcp(h, t),
            Some(Entry::Udp(u)) => self.remove_socket(u.socket),
            None => {}
        }
    }

    fn bind(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(_) => self.bind_tcp(h, addr),
            Entry::Udp(_) => self.bind_udp(h, addr),
        }
    }

    fn listen(&mut self, h: Handle, backlog: u32) -> Result<(), Errno> {
        self.listen_tcp(h, backlog)
    }

    fn accept(&mut self, h: Handle) -> Result<(Handle, SocketAddr), Errno> {
        self.accept_tcp(h)
    }

    fn connect(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(_) => self.connect_tcp(h, addr),
            Entry::Udp(_) => self.connect_udp(h, addr),
        }
    }

    fn connecting(&mut self, h: Handle) -> bool {
        self.refresh_tcp(h);
        match self.entries.get(&h) {
            Some(Entry::Tcp(t)) => t.connect_started_ns.is_some(),
            _ => false,
        }
    }

    fn recv(&mut self, h: Handle, buf: &mut [u8], peek: bool) -> Result<Received, Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(_) => self.recv_tcp(h, buf, peek),
            Entry::Udp(_) => self.recv_udp(h, buf, peek),
        }
    }

    fn send(&mut self, h: Handle, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(_) => self.send_tcp(h, data),
            Entry::Udp(_) => self.send_udp(h, data, to),
        }
    }

    fn shutdown(&mut self, h: Handle, read: bool, write: bool) -> Result<(), Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(_) => self.shutdown_tcp(h, read, write),
            Entry::Udp(u) if u.peer.is_none() => Err(Errno::NOTCONN),
            Entry::Udp(_) => Ok(()),
        }
    }

    fn local_addr(&mut self, h: Handle) -> Result<SocketAddr, Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(t) => Ok(t.local_addr(&self.sockets)),
            Entry::Udp(u) => Ok(u.local.unwrap_or_else(|| unspecified(u.family, 0))),
        }
    }

    fn peer_addr(&mut self, h: Handle) -> Result<SocketAddr, Errno> {
        match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(t) => t.peer_addr(&self.sockets).ok_or(Errno::NOTCONN),
            Entry::Udp(u) => u.peer.ok_or(Errno::NOTCONN),
        }
    }

    fn set_option(&mut self, h: Handle, option: StackOption, value: u64) -> Result<(), Errno> {
        let max = self.sizes.max_buffer;
        let (options, socket) = match self.entries.get_mut(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(t) => (&mut t.options, t.socket),
            Entry::Udp(u) => (&mut u.options, None),
        };
        let on = value != 0;
        match option {
            StackOption::ReuseAddress => options.reuse_address = on,
            StackOption::KeepAlive => options.keep_alive = on,
            StackOption::NoDelay => options.no_delay = on,
            StackOption::Broadcast => options.broadcast = on,
            // Takes effect for a connection made after it (smoltcp's buffers are fixed once a
            // socket exists), as the window scale does on Linux.
            StackOption::RecvBuffer => options.recv_buffer = clamp_buffer(value, max),
            StackOption::SendBuffer => options.send_buffer = clamp_buffer(value, max),
        }
        let options = *options;
        if let Some(s) = socket {
            tcp::apply_options(self.sockets.get_mut(s), &options);
        }
        Ok(())
    }

    fn option(&mut self, h: Handle, option: StackOption) -> Result<u64, Errno> {
        let options = match self.entries.get(&h).ok_or(Errno::BADF)? {
            Entry::Tcp(t) => t.options,
            Entry::Udp(u) => u.options,
        };
        Ok(match option {
            StackOption::ReuseAddress => options.reuse_address as u64,
            StackOption::KeepAlive => options.keep_alive as u64,
            StackOption::NoDelay => options.no_delay as u64,
            StackOption::Broadcast => options.broadcast as u64,
            StackOption::RecvBuffer => options.recv_buffer as u64,
            StackOption::SendBuffer => options.send_buffer as u64,
        })
    }

    fn take_error(&mut self, h: Handle) -> Option<Errno> {
        self.refresh_tcp(h);
        match self.entries.get_mut(&h)? {
            Entry::Tcp(t) => t.error.take(),
            Entry::Udp(_) => None,
        }
    }

    fn readiness(&mut self, h: Handle) -> Readiness {
        self.refresh_tcp(h);
        match self.entries.get(&h) {
            Some(Entry::Tcp(_)) => self.tcp_readiness(h),
            Some(Entry::Udp(_)) => self.udp_readiness(h),
            None => Readiness::default(),
        }
    }

    fn poll(&mut self) {
        use smoltcp::iface::{PollIngressSingleResult, PollResult};
        let now = self.now();
        self.device.inner.acknowledge();
        self.iface.poll_maintenance(now);
        let mut budget = INGRESS_BUDGET;
        // Rounds of ingress then egress, until a round takes nothing in: what one sends on a
        // loopback device is the next round's input. (Egress stops at a walk of the sockets
        // that sends nothing, so a round without input would send nothing either.)
        let mut first_round = true;
        loop {
            let mut took = 0;
            while took < budget {
                match self
                    .iface
                    .poll_ingress_single(now, &mut self.device, &mut self.sockets)
                {
                    PollIngressSingleResult::None => break,
                    PollIngressSingleResult::PacketProcessed => {}
                    PollIngressSingleResult::SocketStateChanged => self.service_listeners(),
                }
                took += 1;
            }
            budget -= took;
            if took == 0 && !first_round {
                break;
            }
            first_round = false;
            for _ in 0..INGRESS_BUDGET {
                if self
                    .iface
                    .poll_egress(now, &mut self.device, &mut self.sockets)
                    == PollResult::None
                {
                    break;
                }
            }
            if budget == 0 {
                break;
            }
        }
        self.dhcp_events();
        self.log_ipv6();
        self.reap_orphans();
        self.service_listeners();
    }

    fn wait(&mut self, p: &dyn Platform, deadline_ns: u64, _interest: &[(Handle, Interest)]) {
        let now_ns = p.monotonic_ns();
        let mut wake = deadline_ns;
        if let Some(d) = self.iface.poll_delay(self.now(), &self.sockets) {
            wake = wake.min(now_ns.saturating_add(d.total_micros() * 1000));
        }
        if let Some(d) = self.orphan_deadline() {
            wake = wake.min(d);
        }
        wake = wake.min(now_ns.saturating_add(self.device.inner.longest_sleep_ns()));
        if wake <= now_ns {
            return;
        }
        p.arm_timer((wake - now_ns).min(MAX_WAIT_NS));
        p.wait_for_interrupt();
    }

    fn resolve(&mut self, name: &str) -> Result<Handle, Errno> {
        let Some(dns) = self.dns else {
            return Err(if self.address_pending() {
                Errno::AGAIN
            } else {
                Errno::NOENT
            });
        };
        let query = self
            .sockets
            .get_mut::<dns::Socket>(dns)
            .start_query(self.iface.context(), name, DnsQueryType::A)
            .map_err(|e| match e {
                dns::StartQueryError::NoFreeSlot => Errno::AGAIN,
                _ => Errno::INVAL,
            })?;
        let h = self.handle();
        self.queries.insert(h, query);
        Ok(h)
    }

    fn resolved(&mut self, query: Handle) -> Result<Vec<IpAddr>, Errno> {
        let (Some(dns), Some(&q)) = (self.dns, self.queries.get(&query)) else {
            return Err(Errno::INVAL);
        };
        let result = self.sockets.get_mut::<dns::Socket>(dns).get_query_result(q);
        match result {
            Err(dns::GetQueryResultError::Pending) => Err(Errno::AGAIN),
            Err(dns::GetQueryResultError::Failed) => {
                self.queries.remove(&query);
                Err(Errno::NOENT)
            }
            Ok(addrs) => {
                self.queries.remove(&query);
                Ok(addrs.iter().map(|&a| a.into()).collect())
            }
        }
    }

    fn stats(&self) -> StackStats {
        StackStats {
            app_sockets: self.entries.len(),
            stack_sockets: self.live_sockets,
        }
    }
}

/// An IPv4 address of the NIC (not loopback's).
fn is_nic_ipv4(c: &IpCidr) -> bool {
    matches!(c, IpCidr::Ipv4(c) if !c.address().is_loopback())
}

fn clamp_buffer(value: u64, max: usize) -> usize {
    (value.min(max as u64) as usize).max(sizes::MIN_BUFFER)
}

/// `0.0.0.0:port` or `[::]:port`.
fn unspecified(family: Family, port: u16) -> SocketAddr {
    match family {
        Family::V4 => SocketAddr::new(IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), port),
        Family::V6 => SocketAddr::new(IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED), port),
    }
}

fn family_of(addr: &SocketAddr) -> Family {
    if addr.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}
