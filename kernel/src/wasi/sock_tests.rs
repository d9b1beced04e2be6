//! The socket calls through guest memory, over a loopback stack: descriptors, address and
//! option layouts, hostile pointers and bad arguments.

use super::*;
use crate::net::smol::loopback_stack;
use crate::wasi::mock::MockPlatform;
use crate::wasi::testing::Fixture;
use crate::wasi::types::filetype;

/// A fixture whose network is a loopback stack (timed by a platform of its own).
fn fixture() -> Fixture {
    let mut f = Fixture::new(64 * 1024);
    let clock: &'static MockPlatform = Box::leak(Box::new(MockPlatform::new()));
    f.state.net = Some(Network::new(loopback_stack(clock)));
    f
}

const ADDR: u32 = 100; // {buf, len}
const IP: u32 = 120;
const OUT: u32 = 200;

fn put_v4(f: &mut Fixture, ip: [u8; 4]) {
    f.put_u32(ADDR as usize, IP);
    f.put_u32(ADDR as usize + 4, 4);
    f.memory[IP as usize..IP as usize + 4].copy_from_slice(&ip);
}

fn open(f: &mut Fixture, kind: u32) -> u32 {
    f.call(|cx| sock_open(cx, AF_INET4, kind, OUT)).unwrap();
    f.u32_at(OUT as usize)
}

#[test]
fn sockets_are_descriptors_of_their_own_kind() {
    let mut f = fixture();
    let tcp = open(&mut f, SOCK_STREAM);
    let udp = open(&mut f, SOCK_DGRAM);
    assert_eq!((tcp, udp), (3, 4));
    let kinds: Vec<u8> = [tcp, udp]
        .iter()
        .map(|&fd| f.state.fds.get(fd).unwrap().kind.filetype())
        .collect();
    assert_eq!(kinds, [filetype::SOCKET_STREAM, filetype::SOCKET_DGRAM]);
    assert_eq!(
        f.call(|cx| sock_open(cx, 0, SOCK_STREAM, OUT)),
        Err(Errno::AFNOSUPPORT)
    );
    assert_eq!(
        f.call(|cx| sock_open(cx, AF_INET4, 7, OUT)),
        Err(Errno::PROTOTYPE)
    );
    assert_eq!(
        f.call(|cx| sock_open(cx, AF_INET4, SOCK_STREAM, 65534)),
        Err(Errno::FAULT)
    );
    // Closing the descriptor closes the socket.
    assert_eq!(f.state.net.as_ref().unwrap().stats().app_sockets, 2);
    f.call(|cx| super::super::fd_ops::fd_close(cx, tcp))
        .unwrap();
    assert_eq!(f.state.net.as_ref().unwrap().stats().app_sockets, 1);
    // Renumbering over a socket closes it too.
    let other = open(&mut f, SOCK_DGRAM);
    f.call(|cx| super::super::fd_ops::fd_renumber(cx, other, udp))
        .unwrap();
    assert_eq!(f.state.net.as_ref().unwrap().stats().app_sockets, 1);
}

#[test]
fn socket_calls_on_other_descriptors_say_so() {
    let mut f = fixture();
    assert_eq!(f.call(|cx| sock_listen(cx, 1, 5)), Err(Errno::NOTSOCK));
    assert_eq!(f.call(|cx| sock_accept(cx, 9, 0, OUT)), Err(Errno::BADF));
    assert_eq!(
        f.call(|cx| sock_accept_wasmedge(cx, 2, OUT)),
        Err(Errno::NOTSOCK)
    );
    let tcp = open(&mut f, SOCK_STREAM);
    assert_eq!(f.call(|cx| sock_accept(cx, tcp, 1, OUT)), Err(Errno::INVAL));
    assert_eq!(
        f.call(|cx| sock_accept(cx, tcp, 0, OUT)),
        Err(Errno::INVAL),
        "not listening"
    );
    assert_eq!(f.call(|cx| sock_shutdown(cx, tcp, 0)), Err(Errno::INVAL));
    assert_eq!(f.call(|cx| sock_shutdown(cx, tcp, 3)), Err(Errno::NOTCONN));
    assert_eq!(
        f.call(|cx| sock_recv(cx, tcp, 0, 0, 0, OUT, OUT + 4)),
        Err(Errno::NOTCONN)
    );
}

#[test]
fn addresses_go_in_and_come_out_in_wasmedges_layout() {
    let mut f = fixture();
    let l = open(&mut f, SOCK_STREAM);
    put_v4(&mut f, [127, 0, 0, 1]);
    f.call(|cx| sock_bind(cx, l, ADDR, 8080)).unwrap();
    f.call(|cx| sock_listen(cx, l, u32::MAX)).unwrap();
    // getlocaladdr into a 16-byte buffer: the address, type 4, the port.
    f.put_u32(300, 320);
    f.put_u32(304, 16);
    f.call(|cx| sock_getlocaladdr(cx, l, 300, OUT, OUT + 4))
        .unwrap();
    assert_eq!(&f.memory[320..324], &[127, 0, 0, 1]);
    assert_eq!(
        (f.u32_at(OUT as usize), f.u32_at(OUT as usize + 4)),
        (4, 8080)
    );
    f.put_u32(304, 3);
    assert_eq!(
        f.call(|cx| sock_getlocaladdr(cx, l, 300, OUT, OUT + 4)),
        Err(Errno::INVAL),
        "too small for the address"
    );
    assert_eq!(
        f.call(|cx| sock_getpeeraddr(cx, l, 300, OUT, OUT + 4)),
        Err(Errno::NOTCONN)
    );
    // Bad address lengths, ports and pointers.
    let c = open(&mut f, SOCK_STREAM);
    f.put_u32(ADDR as usize + 4, 5);
    assert_eq!(
        f.call(|cx| sock_connect(cx, c, ADDR, 80)),
        Err(Errno::INVAL)
    );
    put_v4(&mut f, [127, 0, 0, 1]);
    assert_eq!(
        f.call(|cx| sock_connect(cx, c, ADDR, 70000)),
        Err(Errno::INVAL)
    );
    f.put_u32(ADDR as usize, 65533);
    assert_eq!(
        f.call(|cx| sock_connect(cx, c, ADDR, 80)),
        Err(Errno::FAULT)
    );
    // A connection to the listener, accepted through WasmEdge's two-parameter call.
    put_v4(&mut f, [127, 0, 0, 1]);
    f.call(|cx| sock_connect(cx, c, ADDR, 8080)).unwrap();
    f.call(|cx| sock_accept_wasmedge(cx, l, OUT)).unwrap();
    let a = f.u32_at(OUT as usize);
    let entry = *f.state.fds.get(a).unwrap();
    assert!(!entry.nonblocking());
    f.put_u32(304, 16);
    f.call(|cx| sock_getpeeraddr(cx, a, 300, OUT, OUT + 4))
        .unwrap();
    assert_eq!(&f.memory[320..324], &[127, 0, 0, 1]);
    assert_ne!(f.u32_at(OUT as usize + 4), 8080);
}

#[test]
fn options_round_trip_and_unknown_ones_are_refused() {
    let mut f = fixture();
    let s = open(&mut f, SOCK_STREAM);
    let get = |f: &mut Fixture, level: u32, name: u32| {
        f.put_u32(OUT as usize + 4, 4);
        f.call(|cx| sock_getsockopt(cx, s, level, name, OUT, OUT + 4))
            .map(|()| f.u32_at(OUT as usize))
    };
    let set = |f: &mut Fixture, level: u32, name: u32, v: u32| {
        f.put_u32(OUT as usize, v);
        f.call(|cx| sock_setsockopt(cx, s, level, name, OUT, 4))
    };
    assert_eq!(get(&mut f, 0, 1), Ok(2), "SO_TYPE stream");
    assert_eq!(get(&mut f, 0, 0), Ok(0));
    set(&mut f, 0, 0, 1).unwrap();
    assert_eq!(get(&mut f, 0, 0), Ok(1), "SO_REUSEADDR");
    set(&mut f, 6, 1, 1).unwrap();
    assert_eq!(get(&mut f, 6, 1), Ok(1), "TCP_NODELAY");
    set(&mut f, 0, 6, 16384).unwrap();
    assert_eq!(get(&mut f, 0, 6), Ok(16384), "SO_RCVBUF");
    assert_eq!(get(&mut f, 0, 13), Ok(0), "SO_ACCEPTCONN");
    assert_eq!(
        set(&mut f, 0, 1, 1),
        Err(Errno::NOPROTOOPT),
        "SO_TYPE is read-only"
    );
    assert_eq!(set(&mut f, 0, 99, 1), Err(Errno::NOPROTOOPT));
    assert_eq!(set(&mut f, 17, 1, 1), Err(Errno::NOPROTOOPT));
    // SO_RCVTIMEO as a timeval: 1.5 s.
    f.put_u64(400, 1);
    f.put_u64(408, 500_000);
    f.call(|cx| sock_setsockopt(cx, s, 0, 11, 400, 16)).unwrap();
    let h = f.state.fds.get(s).unwrap().kind.socket().unwrap();
    assert_eq!(
        f.state
            .net
            .as_ref()
            .unwrap()
            .info(h)
            .unwrap()
            .recv_timeout_ns,
        Some(1_500_000_000)
    );
    f.put_u64(408, 2_000_000);
    assert_eq!(
        f.call(|cx| sock_setsockopt(cx, s, 0, 11, 400, 16)),
        Err(Errno::DOM)
    );
    assert_eq!(
        f.call(|cx| sock_setsockopt(cx, s, 0, 11, 400, 8)),
        Err(Errno::INVAL)
    );
}

#[test]
fn a_receive_timeout_ends_a_blocking_read_with_eagain() {
    let mut f = fixture();
    let u = open(&mut f, SOCK_DGRAM);
    put_v4(&mut f, [127, 0, 0, 1]);
    f.call(|cx| sock_bind(cx, u, ADDR, 9999)).unwrap();
    f.put_u64(400, 0);
    f.put_u64(408, 200_000);
    f.call(|cx| sock_setsockopt(cx, u, 0, 11, 400, 16)).unwrap();
    f.put_iovecs(500, &[(600, 64)]);
    let t0 = f.platform.now();
    assert_eq!(
        f.call(|cx| sock_recv(cx, u, 500, 1, 0, OUT, OUT + 4)),
        Err(Errno::AGAIN)
    );
    let waited = f.platform.now() - t0;
    assert!((200_000_000..1_300_000_000).contains(&waited), "{waited}");
}

#[test]
fn getaddrinfo_fills_the_callers_records() {
    let mut f = fixture();
    // Two records chained: 1000 -> 1028, each with a sockaddr and a 14-byte data buffer.
    for (i, rec) in [1000u32, 1028].iter().enumerate() {
        let sockaddr = 1100 + 12 * i as u32;
        let data = 1200 + 16 * i as u32;
        f.put_u32(*rec as usize + 12, sockaddr);
        f.put_u32(*rec as usize + 24, if i == 0 { 1028 } else { 0 });
        f.put_u32(sockaddr as usize + 4, 14);
        f.put_u32(sockaddr as usize + 8, data);
    }
    f.memory[900..910].copy_from_slice(b"127.0.0.1\0");
    f.memory[920..925].copy_from_slice(b"8080\0");
    f.put_u32(940, 1000); // *res
    f.memory[960..988].fill(0); // hints: all unspecified
    f.call(|cx| sock_getaddrinfo(cx, 900, 10, 920, 5, 960, 940, 2, 944))
        .unwrap();
    assert_eq!(f.u32_at(944), 1);
    assert_eq!(f.memory[1002], 1, "family inet4");
    assert_eq!(f.memory[1100], 1);
    assert_eq!(&f.memory[1200..1206], &[0x1f, 0x90, 127, 0, 0, 1]);
    f.memory[920..925].copy_from_slice(b"http\0");
    f.call(|cx| sock_getaddrinfo(cx, 900, 10, 920, 5, 960, 940, 2, 944))
        .unwrap();
    assert_eq!(&f.memory[1200..1202], &[0, 80]);
    f.memory[920..925].copy_from_slice(b"nope\0");
    assert_eq!(
        f.call(|cx| sock_getaddrinfo(cx, 900, 10, 920, 5, 960, 940, 2, 944)),
        Err(Errno::INVAL)
    );
    f.memory[920..925].copy_from_slice(b"8080\0");
    assert_eq!(
        f.call(|cx| sock_getaddrinfo(cx, 900, 10, 920, 5, 960, 65535, 2, 944)),
        Err(Errno::FAULT)
    );
}

#[test]
fn the_network_goes_on_while_the_app_waits_for_stdin() {
    use crate::net::{Family, Kind};
    let mut f = fixture();
    let p: &'static MockPlatform = Box::leak(Box::new(MockPlatform::new()));
    let net = f.state.net.as_mut().unwrap();
    let to: core::net::SocketAddr = "127.0.0.1:9100".parse().unwrap();
    let l = net.open(Family::V4, Kind::Stream).unwrap();
    net.stack().bind(l, to).unwrap();
    net.listen(l, 4).unwrap();
    let c = net.open(Family::V4, Kind::Stream).unwrap();
    assert_eq!(net.connect(p, c, to, true), Err(Errno::INPROGRESS));
    assert!(!net.stack().readiness(l).readable);
    // The app blocks reading stdin; input comes 3 s later.
    f.platform.input_at(3_000_000_000, b"x");
    f.put_u32(300, 400);
    f.put_u32(304, 1);
    f.call(|cx| super::super::fd_ops::fd_read(cx, 0, 300, 1, 308))
        .unwrap();
    assert_eq!(f.u32_at(308), 1);
    // Meanwhile the stack ran: the connection is waiting in the listener's queue.
    let net = f.state.net.as_mut().unwrap();
    assert!(net.stack().readiness(l).readable);
}

#[test]
fn a_datagram_lands_in_one_buffer_or_spread_over_several_and_says_when_cut() {
    let mut f = fixture();
    let rx = open(&mut f, SOCK_DGRAM);
    put_v4(&mut f, [127, 0, 0, 1]);
    f.call(|cx| sock_bind(cx, rx, ADDR, 9999)).unwrap();
    let tx = open(&mut f, SOCK_DGRAM);
    let send = |f: &mut Fixture, data: &[u8]| {
        f.memory[1000..1000 + data.len()].copy_from_slice(data);
        f.put_iovecs(900, &[(1000, data.len() as u32)]);
        f.call(|cx| sock_send_to(cx, tx, 900, 1, ADDR, 9999, 0, OUT))
            .unwrap();
    };
    let received = |f: &Fixture| (f.u32_at(OUT as usize), f.memory[OUT as usize + 4]);

    // One buffer, larger than the datagram.
    send(&mut f, b"hello world");
    f.put_iovecs(500, &[(600, 64)]);
    f.call(|cx| sock_recv(cx, rx, 500, 1, 0, OUT, OUT + 4))
        .unwrap();
    assert_eq!(received(&f), (11, 0));
    assert_eq!(&f.memory[600..611], b"hello world");

    // One buffer, smaller: cut and said so. A peek leaves the datagram where it is.
    send(&mut f, b"0123456789");
    f.put_iovecs(500, &[(0, 0), (600, 4)]);
    f.call(|cx| sock_recv(cx, rx, 500, 2, RECV_PEEK, OUT, OUT + 4))
        .unwrap();
    assert_eq!(received(&f), (4, 1));
    assert_eq!(&f.memory[600..604], b"0123");

    // Several buffers: spread over them in order.
    f.put_iovecs(500, &[(600, 3), (700, 0), (800, 20)]);
    f.call(|cx| sock_recv(cx, rx, 500, 3, 0, OUT, OUT + 4))
        .unwrap();
    assert_eq!(received(&f), (10, 0));
    assert_eq!(&f.memory[600..603], b"012");
    assert_eq!(&f.memory[800..807], b"3456789");

    // A buffer past the end of memory: EFAULT, and the datagram is still there.
    send(&mut f, b"x");
    f.put_iovecs(500, &[(64 * 1024 - 2, 4)]);
    assert_eq!(
        f.call(|cx| sock_recv(cx, rx, 500, 1, 0, OUT, OUT + 4)),
        Err(Errno::FAULT)
    );
    f.put_iovecs(500, &[(600, 4)]);
    f.call(|cx| sock_recv(cx, rx, 500, 1, 0, OUT, OUT + 4))
        .unwrap();
    assert_eq!(received(&f), (1, 0));
}
