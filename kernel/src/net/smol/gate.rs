//! A device wrapper that drops new connection requests (TCP SYN without ACK) for ports whose
//! listener cannot take another connection (accept queue at its backlog, or the machine at
//! its socket capacity). smoltcp itself would answer them with a reset; dropping is what Linux
//! does, and the client's SYN retransmission then finds room once the app has accepted.

use alloc::vec::Vec;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};

pub struct Gate<D> {
    pub inner: D,
    /// Local TCP ports that take no new connection now.
    pub closed_ports: Vec<u16>,
    /// SYNs dropped so far (for the log).
    pub dropped: u64,
}

impl<D> Gate<D> {
    pub fn new(inner: D) -> Gate<D> {
        Gate {
            inner,
            closed_ports: Vec::new(),
            dropped: 0,
        }
    }
}

/// The destination port of a TCP SYN (without ACK) in `frame`, if it is one.
pub fn syn_port(medium: Medium, frame: &[u8]) -> Option<u16> {
    let ip = match medium {
        Medium::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            if eth.ethertype() != EthernetProtocol::Ipv4 {
                return None;
            }
            &frame[EthernetFrame::<&[u8]>::header_len()..]
        }
        _ => frame,
    };
    let packet = Ipv4Packet::new_checked(ip).ok()?;
    if packet.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(packet.payload()).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| tcp.dst_port())
}

impl<D: Device> Device for Gate<D> {
    type RxToken<'a>
        = RxToken<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let medium = self.inner.capabilities().medium;
        let (rx, tx) = self.inner.receive(timestamp)?;
        Some((
            RxToken {
                inner: rx,
                medium,
                closed_ports: &self.closed_ports,
                dropped: &mut self.dropped,
            },
            tx,
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

pub struct RxToken<'a, R> {
    inner: R,
    medium: Medium,
    closed_ports: &'a [u16],
    dropped: &'a mut u64,
}

impl<R: phy::RxToken> phy::RxToken for RxToken<'_, R> {
    fn consume<T, F: FnOnce(&[u8]) -> T>(self, f: F) -> T {
        let (closed, dropped, medium) = (self.closed_ports, self.dropped, self.medium);
        self.inner.consume(|frame| {
            let refused = !closed.is_empty()
                && syn_port(medium, frame).is_some_and(|port| closed.contains(&port));
            if refused {
                *dropped += 1;
                // An empty frame does not parse: the interface drops it without an answer.
                f(&[])
            } else {
                f(frame)
            }
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.inner.meta()
    }
}
