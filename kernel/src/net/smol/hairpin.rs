//! Frames a NIC must give back to the stack instead of sending: what the machine sends to
//! itself (`127.0.0.1`, `::1`, or its own address on the NIC).
//!
//! smoltcp's Ethernet interface has no loopback path: it resolves every destination through
//! ARP or neighbor discovery and hands the frame to the device. So the NIC's stack also holds
//! `127.0.0.1/8` and `::1/128`, and the device turns back:
//! - frames addressed to its own MAC (what the stack sends to itself once it knows that an
//!   address of its own is at its own MAC);
//! - the stack's requests for the hardware address of one of its own addresses. smoltcp picks
//!   the sender address in the target's subnet, so such a request is recognisable: its sender
//!   and target addresses are equal (an ARP request, or an IPv6 neighbor solicitation). Taken
//!   in, it fills smoltcp's neighbor cache with the machine's own MAC. A solicitation for
//!   `::1` goes to a multicast group smoltcp does not join for `::1`, so it is readdressed to
//!   its target (a unicast solicitation, as neighbor unreachability detection sends).
//!
//! Nothing of this reaches the wire, and nothing of it may come from there: a frame the NIC
//! receives that claims a loopback address ([`loopback_from_the_wire`]) is dropped, as Linux
//! drops such "martian" packets, so that no peer reaches what the app serves on `127.0.0.1`.

use smoltcp::wire::{
    ArpOperation, ArpPacket, EthernetAddress, EthernetFrame, EthernetProtocol, Icmpv6Message,
    Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet,
};

/// Whether `frame`, about to be sent by the machine with MAC `own`, is for the machine itself;
/// `frame` may be rewritten for its way back (see the module's documentation).
pub fn for_this_machine(own: [u8; 6], frame: &mut [u8]) -> bool {
    let Ok(mut eth) = EthernetFrame::new_checked(&mut *frame) else {
        return false;
    };
    if eth.dst_addr() == EthernetAddress(own) {
        return true;
    }
    match eth.ethertype() {
        EthernetProtocol::Arp => arp_for_self(eth.payload_mut()),
        EthernetProtocol::Ipv6 => neighbor_solicitation_for_self(eth.payload_mut()),
        _ => false,
    }
}

/// Whether `frame`, received from the wire, says it comes from or goes to a loopback address
/// (IPv4 `127.0.0.0/8` or IPv6 `::1`, also as an ARP request's or reply's address): only the
/// machine itself may use those.
pub fn loopback_from_the_wire(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    match eth.ethertype() {
        EthernetProtocol::Ipv4 => Ipv4Packet::new_checked(eth.payload())
            .is_ok_and(|ip| ip.src_addr().is_loopback() || ip.dst_addr().is_loopback()),
        EthernetProtocol::Ipv6 => Ipv6Packet::new_checked(eth.payload())
            .is_ok_and(|ip| ip.src_addr().is_loopback() || ip.dst_addr().is_loopback()),
        EthernetProtocol::Arp => ArpPacket::new_checked(eth.payload()).is_ok_and(|arp| {
            let is_loopback = |a: &[u8]| a.first() == Some(&127);
            arp.protocol_len() == 4
                && (is_loopback(arp.source_protocol_addr())
                    || is_loopback(arp.target_protocol_addr()))
        }),
        _ => false,
    }
}

fn arp_for_self(payload: &[u8]) -> bool {
    let Ok(arp) = ArpPacket::new_checked(payload) else {
        return false;
    };
    arp.operation() == ArpOperation::Request
        && arp.source_protocol_addr() == arp.target_protocol_addr()
}

fn neighbor_solicitation_for_self(payload: &mut [u8]) -> bool {
    let Ok(mut ip) = Ipv6Packet::new_checked(&mut *payload) else {
        return false;
    };
    if ip.next_header() != IpProtocol::Icmpv6 {
        return false;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let Ok(icmp) = Icmpv6Packet::new_checked(ip.payload_mut()) else {
        return false;
    };
    if icmp.msg_type() != Icmpv6Message::NeighborSolicit || icmp.target_addr() != src {
        return false;
    }
    if dst != src {
        ip.set_dst_addr(src);
        let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
        icmp.fill_checksum(&src, &src);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        ArpRepr, EthernetRepr, HardwareAddress, Icmpv6Repr, Ipv4Address, Ipv6Address, Ipv6Repr,
        NdiscRepr, RawHardwareAddress,
    };

    const OWN: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const PEER: [u8; 6] = [0x52, 0x55, 0x0a, 0, 2, 2];

    fn ethernet(dst: EthernetAddress, ethertype: EthernetProtocol, payload: &[u8]) -> Vec<u8> {
        let repr = EthernetRepr {
            src_addr: EthernetAddress(OWN),
            dst_addr: dst,
            ethertype,
        };
        let mut frame = vec![0; repr.buffer_len() + payload.len()];
        let mut f = EthernetFrame::new_unchecked(&mut frame);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(payload);
        frame
    }

    fn arp_request(sender: Ipv4Address, target: Ipv4Address) -> Vec<u8> {
        let repr = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(OWN),
            source_protocol_addr: sender,
            target_hardware_addr: EthernetAddress::BROADCAST,
            target_protocol_addr: target,
        };
        let mut payload = vec![0; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut payload));
        ethernet(EthernetAddress::BROADCAST, EthernetProtocol::Arp, &payload)
    }

    fn solicitation(src: Ipv6Address, target: Ipv6Address) -> Vec<u8> {
        let t = target.octets();
        let dst = Ipv6Address::from_octets([
            0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
        ]);
        let ndisc = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(RawHardwareAddress::from(HardwareAddress::Ethernet(
                EthernetAddress(OWN),
            ))),
        });
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: ndisc.buffer_len(),
            hop_limit: 255,
        };
        let mut payload = vec![0; ip.buffer_len() + ndisc.buffer_len()];
        let mut packet = Ipv6Packet::new_unchecked(&mut payload);
        ip.emit(&mut packet);
        ndisc.emit(
            &src,
            &dst,
            &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
            &ChecksumCapabilities::default(),
        );
        let mac = EthernetAddress::from_bytes(&[0x33, 0x33, 0xff, 0, 0, target.octets()[15]]);
        ethernet(mac, EthernetProtocol::Ipv6, &payload)
    }

    #[test]
    fn frames_to_the_own_mac_come_back_and_others_go_out() {
        let mut to_self = ethernet(EthernetAddress(OWN), EthernetProtocol::Ipv4, &[0; 20]);
        assert!(for_this_machine(OWN, &mut to_self));
        let mut to_peer = ethernet(EthernetAddress(PEER), EthernetProtocol::Ipv4, &[0; 20]);
        assert!(!for_this_machine(OWN, &mut to_peer));
        assert!(!for_this_machine(OWN, &mut [0u8; 6]));
    }

    #[test]
    fn requests_for_an_own_address_come_back_and_others_go_out() {
        let local = Ipv4Address::new(127, 0, 0, 1);
        let nic = Ipv4Address::new(10, 0, 2, 15);
        let gateway = Ipv4Address::new(10, 0, 2, 2);
        assert!(for_this_machine(OWN, &mut arp_request(local, local)));
        assert!(for_this_machine(OWN, &mut arp_request(nic, nic)));
        assert!(!for_this_machine(OWN, &mut arp_request(nic, gateway)));
    }

    #[test]
    fn a_solicitation_for_loopback_is_readdressed_to_it_with_a_valid_checksum() {
        let local = Ipv6Address::LOCALHOST;
        let mut frame = solicitation(local, local);
        assert!(for_this_machine(OWN, &mut frame));
        let eth = EthernetFrame::new_checked(&frame).unwrap();
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.dst_addr(), local);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(&local, &local));
        let router = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let link_local = Ipv6Address::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456);
        assert!(!for_this_machine(
            OWN,
            &mut solicitation(link_local, router)
        ));
    }

    fn ipv4(src: Ipv4Address, dst: Ipv4Address) -> Vec<u8> {
        let repr = smoltcp::wire::Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: 0,
            hop_limit: 64,
        };
        let mut payload = vec![0; repr.buffer_len()];
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut payload),
            &ChecksumCapabilities::default(),
        );
        ethernet(EthernetAddress(OWN), EthernetProtocol::Ipv4, &payload)
    }

    #[test]
    fn loopback_addresses_from_the_wire_are_martians() {
        let local = Ipv4Address::new(127, 0, 0, 1);
        let other_local = Ipv4Address::new(127, 9, 8, 7);
        let nic = Ipv4Address::new(10, 0, 2, 15);
        let gateway = Ipv4Address::new(10, 0, 2, 2);
        assert!(loopback_from_the_wire(&ipv4(gateway, local)));
        assert!(loopback_from_the_wire(&ipv4(gateway, other_local)));
        assert!(loopback_from_the_wire(&ipv4(local, nic)));
        assert!(!loopback_from_the_wire(&ipv4(gateway, nic)));
        assert!(loopback_from_the_wire(&arp_request(gateway, local)));
        assert!(loopback_from_the_wire(&arp_request(local, nic)));
        assert!(!loopback_from_the_wire(&arp_request(gateway, nic)));
        let router = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let link_local = Ipv6Address::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456);
        assert!(loopback_from_the_wire(&solicitation(
            Ipv6Address::LOCALHOST,
            link_local
        )));
        assert!(!loopback_from_the_wire(&solicitation(router, link_local)));
        // What does not parse is left to the stack, which drops it.
        assert!(!loopback_from_the_wire(&[0u8; 6]));
    }
}
