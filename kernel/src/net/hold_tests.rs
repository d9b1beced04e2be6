//! Stream data a send queues goes out at the next look at the network, and at the latest at
//! the first call `HOLD_LIMIT_NS` after the send.

use super::*;
use crate::wasi::mock::MockPlatform;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::sync::atomic::Ordering;

fn platform() -> &'static MockPlatform {
    Box::leak(Box::new(MockPlatform::new()))
}

/// A loopback network with a connection: (network, client end, server end).
fn connected(p: &'static MockPlatform) -> (Network, Handle, Handle) {
    let mut net = Network::new(smol::loopback_stack(p));
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000));
    let l = net.open(Family::V4, Kind::Stream).unwrap();
    net.stack().bind(l, addr).unwrap();
    net.listen(l, 4).unwrap();
    let c = net.open(Family::V4, Kind::Stream).unwrap();
    net.connect(p, c, addr, false).unwrap();
    let (s, _) = net.accept(p, l, false).unwrap();
    (net, c, s)
}

fn arrived(net: &mut Network, h: Handle) -> Option<usize> {
    let mut buf = [0u8; 64];
    match net.stack().recv(h, &mut buf, false) {
        Ok(r) => Some(r.len),
        Err(Errno::AGAIN) => None,
        Err(e) => panic!("recv: {e:?}"),
    }
}

#[test]
fn sent_stream_data_waits_for_a_look_at_most_the_hold_limit() {
    let p = platform();
    let (mut net, c, s) = connected(p);
    assert_eq!(net.send(p, c, b"hello", None, false), Ok(5));
    // Held: no look yet, and a call before the limit does not look either.
    assert_eq!(arrived(&mut net, s), None);
    p.now_ns.fetch_add(HOLD_LIMIT_NS - 1, Ordering::SeqCst);
    net.look_if_held(p);
    assert_eq!(arrived(&mut net, s), None);
    // The first call at the limit looks, and the data arrives.
    p.now_ns.fetch_add(1, Ordering::SeqCst);
    net.look_if_held(p);
    assert_eq!(arrived(&mut net, s), Some(5));
}

#[test]
fn a_look_ends_the_hold() {
    let p = platform();
    let (mut net, c, s) = connected(p);
    assert_eq!(net.send(p, c, b"abc", None, false), Ok(3));
    net.look();
    assert_eq!(arrived(&mut net, s), Some(3));
    // Nothing is held any more: later calls do not look (data sent meanwhile by the other
    // side stays unseen until a look).
    assert_eq!(net.stack().send(s, b"xy", None), Ok(2));
    p.now_ns.fetch_add(10 * HOLD_LIMIT_NS, Ordering::SeqCst);
    net.look_if_held(p);
    assert_eq!(arrived(&mut net, c), None);
}
