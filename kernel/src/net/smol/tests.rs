//! The stack over a loopback device: streams and datagrams end to end, listeners, errors,
//! capacity, and that everything closed goes away.

use super::*;
use crate::wasi::mock::MockPlatform;
use core::net::{Ipv4Addr, SocketAddrV4};

fn platform() -> &'static MockPlatform {
    Box::leak(Box::new(MockPlatform::new()))
}

fn stack(p: &'static MockPlatform) -> SmolStack<Loopback> {
    loopback(p, Sizes::for_heap(64 << 20))
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Polls (letting virtual time pass, as a wait would) until `done` or the step budget ends.
fn until<D: Device + Interrupts>(
    s: &mut SmolStack<D>,
    p: &MockPlatform,
    mut done: impl FnMut(&mut SmolStack<D>) -> bool,
) -> bool {
    for _ in 0..2000 {
        s.poll();
        if done(s) {
            return true;
        }
        s.wait(p, p.now() + 50_000_000, &[]);
    }
    false
}

fn listener<D: Device + Interrupts>(s: &mut SmolStack<D>, port: u16, backlog: u32) -> Handle {
    let l = s.open(Family::V4, Kind::Stream).unwrap();
    s.bind(l, local(port)).unwrap();
    s.listen(l, backlog).unwrap();
    l
}

fn connect<D: Device + Interrupts>(s: &mut SmolStack<D>, p: &MockPlatform, port: u16) -> Handle {
    let c = s.open(Family::V4, Kind::Stream).unwrap();
    assert_eq!(s.connect(c, local(port)), Err(Errno::INPROGRESS));
    assert!(until(s, p, |s| !s.connecting(c)));
    assert_eq!(s.take_error(c), None);
    c
}

fn accept<D: Device + Interrupts>(s: &mut SmolStack<D>, p: &MockPlatform, l: Handle) -> Handle {
    let mut got = None;
    assert!(until(s, p, |s| {
        got = s.accept(l).ok();
        got.is_some()
    }));
    got.unwrap().0
}

fn read_all<D: Device + Interrupts>(
    s: &mut SmolStack<D>,
    p: &MockPlatform,
    h: Handle,
    want: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    assert!(until(s, p, |s| {
        match s.recv(h, &mut buf, false) {
            Ok(r) => out.extend_from_slice(&buf[..r.len]),
            Err(Errno::AGAIN) => {}
            Err(e) => panic!("recv: {e:?}"),
        }
        out.len() >= want
    }));
    out
}

#[test]
fn a_stream_carries_data_both_ways_and_ends() {
    let p = platform();
    let mut s = stack(p);
    let idle = s.stats();
    let l = listener(&mut s, 8080, 8);
    let c = connect(&mut s, p, 8080);
    let a = accept(&mut s, p, l);
    assert_eq!(s.peer_addr(a).unwrap().ip(), local(0).ip());
    assert_eq!(s.local_addr(a).unwrap(), local(8080));
    assert_eq!(s.peer_addr(c).unwrap(), local(8080));
    assert_eq!(s.accept(l), Err(Errno::AGAIN));
    let request: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    let mut sent = 0;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 8192];
    assert!(until(&mut s, p, |s| {
        if sent < request.len() {
            match s.send(c, &request[sent..], None) {
                Ok(n) => sent += n,
                Err(Errno::AGAIN) => {}
                Err(e) => panic!("send: {e:?}"),
            }
        }
        if let Ok(r) = s.recv(a, &mut buf, false) {
            received.extend_from_slice(&buf[..r.len]);
        }
        received.len() == request.len()
    }));
    assert_eq!(received, request, "bytes arrive in order, unchanged");
    s.send(a, b"pong", None).unwrap();
    assert_eq!(read_all(&mut s, p, c, 4), b"pong");
    // The client closes its side: the server reads end of stream and can still answer.
    s.shutdown(c, false, true).unwrap();
    assert!(until(&mut s, p, |s| s.readiness(a).hangup));
    assert_eq!(s.recv(a, &mut buf, false).map(|r| r.len), Ok(0));
    s.send(a, b"bye", None).unwrap();
    assert_eq!(read_all(&mut s, p, c, 3), b"bye");
    s.close(a);
    s.close(c);
    s.close(l);
    assert!(
        until(&mut s, p, |s| s.stats() == idle),
        "everything closed goes away: {:?}",
        s.stats()
    );
}

#[test]
fn a_closed_port_refuses_and_a_reset_is_reported_once() {
    let p = platform();
    let mut s = stack(p);
    let c = s.open(Family::V4, Kind::Stream).unwrap();
    assert_eq!(s.connect(c, local(9)), Err(Errno::INPROGRESS));
    assert_eq!(s.connect(c, local(9)), Err(Errno::ALREADY));
    assert!(until(&mut s, p, |s| !s.connecting(c)));
    assert_eq!(s.take_error(c), Some(Errno::CONNREFUSED));
    assert_eq!(s.take_error(c), None, "SO_ERROR clears when read");
    // A server that closes with unread data resets the connection.
    let l = listener(&mut s, 8081, 8);
    let c = connect(&mut s, p, 8081);
    let a = accept(&mut s, p, l);
    s.send(c, b"unread request", None).unwrap();
    assert!(until(&mut s, p, |s| s.readiness(a).read_bytes > 0));
    s.close(a);
    let mut buf = [0u8; 16];
    let mut first = Err(Errno::AGAIN);
    assert!(until(&mut s, p, |s| {
        first = s.recv(c, &mut buf, false).map(|r| r.len);
        first != Err(Errno::AGAIN)
    }));
    assert_eq!(first, Err(Errno::CONNRESET));
    assert!(
        matches!(s.recv(c, &mut buf, false), Ok(Received { len: 0, .. })),
        "after the reset: end of stream"
    );
    assert_eq!(s.send(c, b"x", None), Err(Errno::PIPE));
}

#[test]
fn the_backlog_bounds_waiting_connections_and_the_rest_get_in_later() {
    let p = platform();
    let mut s = stack(p);
    let l = listener(&mut s, 8082, 2);
    let clients: Vec<Handle> = (0..4)
        .map(|_| {
            let c = s.open(Family::V4, Kind::Stream).unwrap();
            assert_eq!(s.connect(c, local(8082)), Err(Errno::INPROGRESS));
            c
        })
        .collect();
    assert!(until(&mut s, p, |s| s.readiness(l).read_bytes == 2));
    for _ in 0..20 {
        s.poll();
    }
    assert_eq!(
        s.readiness(l).read_bytes,
        2,
        "no more than the backlog wait"
    );
    assert!(
        clients.iter().filter(|&&c| s.connecting(c)).count() == 2,
        "the others are not refused: their SYNs were dropped and are retried"
    );
    let mut accepted = 0;
    assert!(until(&mut s, p, |s| {
        while s.accept(l).is_ok() {
            accepted += 1;
        }
        accepted == 4
    }));
    for c in clients {
        assert_eq!(s.take_error(c), None);
    }
}

#[test]
fn datagrams_keep_their_bounds_and_their_sender() {
    let p = platform();
    let mut s = stack(p);
    let server = s.open(Family::V4, Kind::Datagram).unwrap();
    s.bind(server, local(5353)).unwrap();
    let client = s.open(Family::V4, Kind::Datagram).unwrap();
    assert_eq!(s.send(client, b"x", None), Err(Errno::DESTADDRREQ));
    s.send(client, b"first", Some(local(5353))).unwrap();
    s.send(client, b"second datagram", Some(local(5353)))
        .unwrap();
    let from = s.local_addr(client).unwrap();
    assert_ne!(from.port(), 0, "sending bound the client to a port");
    let mut buf = [0u8; 64];
    assert!(until(&mut s, p, |s| s.readiness(server).readable));
    assert_eq!(s.readiness(server).read_bytes, 5);
    let r = s.recv(server, &mut buf, true).unwrap();
    assert_eq!(
        (r.len, r.from),
        (5, Some(SocketAddr::new(local(0).ip(), from.port())))
    );
    let r = s.recv(server, &mut buf, false).unwrap();
    assert_eq!(&buf[..r.len], b"first", "peeking left it there");
    let r = s.recv(server, &mut buf[..6], false).unwrap();
    assert_eq!((r.len, r.truncated), (6, true));
    assert_eq!(s.recv(server, &mut buf, false), Err(Errno::AGAIN));
    s.send(server, b"reply", r.from).unwrap();
    let r = {
        let mut got = None;
        assert!(until(&mut s, p, |s| {
            got = s.recv(client, &mut buf, false).ok();
            got.is_some()
        }));
        got.unwrap()
    };
    assert_eq!(&buf[..r.len], b"reply");
    let big = vec![0u8; 200_000];
    assert_eq!(s.send(client, &big, Some(local(5353))), Err(Errno::MSGSIZE));
    let other = s.open(Family::V4, Kind::Datagram).unwrap();
    assert_eq!(s.bind(other, local(5353)), Err(Errno::ADDRINUSE));
}

#[test]
fn binding_checks_addresses_and_ports() {
    let p = platform();
    let mut s = stack(p);
    let a = s.open(Family::V4, Kind::Stream).unwrap();
    let remote = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80));
    assert_eq!(s.bind(a, remote), Err(Errno::ADDRNOTAVAIL));
    assert_eq!(
        s.bind(a, "[::1]:80".parse().unwrap()),
        Err(Errno::AFNOSUPPORT)
    );
    s.bind(a, local(0)).unwrap();
    assert!(EPHEMERAL.contains(&s.local_addr(a).unwrap().port()));
    assert_eq!(s.bind(a, local(81)), Err(Errno::INVAL), "bound already");
    let l = listener(&mut s, 8083, 4);
    let b = s.open(Family::V4, Kind::Stream).unwrap();
    assert_eq!(s.bind(b, local(8083)), Err(Errno::ADDRINUSE));
    s.set_option(b, StackOption::ReuseAddress, 1).unwrap();
    assert_eq!(
        s.bind(b, local(8083)),
        Err(Errno::ADDRINUSE),
        "SO_REUSEADDR does not share a port with a listener"
    );
    s.close(l);
    s.bind(b, local(8083)).unwrap();
    assert_eq!(s.option(b, StackOption::ReuseAddress), Ok(1));
}

#[test]
fn capacity_is_a_clean_error_not_a_crash() {
    let p = platform();
    let sizes = Sizes {
        max_sockets: 6,
        ..Sizes::for_heap(64 << 20)
    };
    let mut s = loopback(p, sizes);
    let l = listener(&mut s, 8084, 16);
    // The listener holds a pool of 4; two more sockets fit.
    let c1 = connect(&mut s, p, 8084);
    let _a1 = accept(&mut s, p, l);
    let c2 = s.open(Family::V4, Kind::Stream).unwrap();
    assert_eq!(s.connect(c2, local(8084)), Err(Errno::NOBUFS));
    assert!(s.open(Family::V4, Kind::Datagram).is_err());
    s.close(c1);
    assert!(until(&mut s, p, |s| s.stats().stack_sockets < 6));
}

#[test]
fn garbage_frames_are_dropped_and_the_stack_goes_on() {
    use smoltcp::phy::{Device as _, TxToken as _};
    let p = platform();
    let mut s = stack(p);
    let l = listener(&mut s, 8085, 4);
    let frames: [&[u8]; 5] = [
        &[],
        &[0x45],
        &[
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ],
        &[0x60; 40],
        &[0xff; 1500],
    ];
    for f in frames {
        let tx = s.device.inner.transmit(Instant::from_millis(0)).unwrap();
        tx.consume(f.len(), |buf| buf.copy_from_slice(f));
        s.poll();
    }
    let c = connect(&mut s, p, 8085);
    let a = accept(&mut s, p, l);
    s.send(c, b"still here", None).unwrap();
    assert_eq!(read_all(&mut s, p, a, 10), b"still here");
}

#[test]
fn syn_ports_are_read_from_frames() {
    let p = platform();
    let mut s = stack(p);
    let _l = listener(&mut s, 8086, 4);
    let c = s.open(Family::V4, Kind::Stream).unwrap();
    let _ = s.connect(c, local(8086));
    // The SYN is queued on the loopback device after the next egress.
    s.iface
        .poll_egress(s.now(), &mut s.device.inner, &mut s.sockets);
    let frame = s
        .device
        .inner
        .receive(Instant::from_millis(0))
        .map(|(rx, _)| {
            use smoltcp::phy::RxToken as _;
            rx.consume(|f| gate::syn_port(Medium::Ip, f))
        });
    assert_eq!(frame, Some(Some(8086)));
    assert_eq!(gate::syn_port(Medium::Ip, &[1, 2, 3]), None);
    assert_eq!(gate::syn_port(Medium::Ethernet, &[0; 60]), None);
}

/// An Ethernet NIC whose wire leads nowhere: what the stack sends is kept in `wire`, except
/// what the device turns back as a NIC does ([`hairpin`]).
struct Wire {
    mac: [u8; 6],
    back: alloc::collections::VecDeque<Vec<u8>>,
    wire: Vec<Vec<u8>>,
}

impl Interrupts for Wire {}

struct WireTx<'a>(&'a mut Wire);
struct WireRx(Vec<u8>);

impl smoltcp::phy::TxToken for WireTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        if hairpin::for_this_machine(self.0.mac, &mut frame) {
            self.0.back.push_back(frame);
        } else {
            self.0.wire.push(frame);
        }
        r
    }
}

impl smoltcp::phy::RxToken for WireRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl Device for Wire {
    type RxToken<'a> = WireRx;
    type TxToken<'a> = WireTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(WireRx, WireTx<'_>)> {
        let frame = self.back.pop_front()?;
        Some((WireRx(frame), WireTx(self)))
    }

    fn transmit(&mut self, _: Instant) -> Option<WireTx<'_>> {
        Some(WireTx(self))
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        let mut caps = smoltcp::phy::DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

fn nic_stack(p: &'static MockPlatform) -> SmolStack<Wire> {
    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let wire = Wire {
        mac: MAC,
        back: Default::default(),
        wire: Vec::new(),
    };
    let hardware = HardwareAddress::Ethernet(smoltcp::wire::EthernetAddress(MAC));
    let mut s = SmolStack::new(
        p,
        "wire",
        wire,
        hardware,
        Sizes::for_heap(64 << 20),
        BufferSource::Heap,
    );
    s.add_nic_addresses(hardware);
    s.apply_static(
        &StaticConfig {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            dns: Vec::new(),
        },
        "test",
    );
    s
}

/// Connects to `to` on `s`'s own listener and sends a line through the connection.
fn talk_to_self<D: Device + Interrupts>(
    s: &mut SmolStack<D>,
    p: &MockPlatform,
    listen: SocketAddr,
    to: SocketAddr,
) {
    let family = family_of(&listen);
    let l = s.open(family, Kind::Stream).unwrap();
    s.bind(l, listen).unwrap();
    s.listen(l, 4).unwrap();
    let c = s.open(family_of(&to), Kind::Stream).unwrap();
    assert_eq!(s.connect(c, to), Err(Errno::INPROGRESS), "{to}");
    assert!(until(s, p, |s| !s.connecting(c)), "{to}");
    assert_eq!(s.take_error(c), None, "{to}");
    let a = accept(s, p, l);
    s.send(c, b"to myself", None).unwrap();
    assert_eq!(read_all(s, p, a, 9), b"to myself", "{to}");
    for h in [c, a, l] {
        s.close(h);
    }
}

#[test]
fn a_machine_with_a_nic_reaches_itself_on_loopback_and_its_own_addresses() {
    let p = platform();
    let mut s = nic_stack(p);
    let addr = |a: &str| a.parse::<SocketAddr>().unwrap();
    talk_to_self(&mut s, p, addr("0.0.0.0:7000"), addr("127.0.0.1:7000"));
    talk_to_self(&mut s, p, addr("0.0.0.0:7001"), addr("10.0.2.15:7001"));
    talk_to_self(&mut s, p, addr("[::]:7002"), addr("[::1]:7002"));
    let link_local = addr("[fe80::5054:ff:fe12:3456]:7003");
    talk_to_self(&mut s, p, addr("[::]:7003"), link_local);
    // Nothing of it went out on the wire: no frame from or to a loopback address, no
    // frame to the machine's own MAC.
    for frame in &s.device.inner.wire {
        assert_ne!(
            &frame[..6],
            &[0x52, 0x54, 0, 0x12, 0x34, 0x56],
            "{frame:x?}"
        );
    }
    assert!(
        !s.device
            .inner
            .wire
            .iter()
            .any(|f| f.windows(4).any(|w| w == [127, 0, 0, 1])),
        "a loopback frame reached the wire"
    );
    // The NIC's address stays the one the machine sends from to other hosts.
    assert_eq!(s.nic_ipv4(), Some(Ipv4Addr::new(10, 0, 2, 15)));
    assert_eq!(s.iface.ipv4_addr(), Some(Ipv4Addr::new(10, 0, 2, 15)));
    assert!(!s.has_source_for("2001:db8::1".parse().unwrap()));
}
