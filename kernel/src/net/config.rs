//! How the NIC gets its address: DHCPv4 unless the kernel command line says otherwise.
//!
//! Static configuration uses urunc's words (unprefixed, before `--`):
//! `ip=ADDR/PREFIX gateway=ADDR dns=ADDR` (`dns=` may repeat). A configuration that does not
//! parse is reported in the log and DHCP is used instead: the machine still gets on the net.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticConfig {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressConfig {
    Dhcp,
    Static(StaticConfig),
}

/// Reads the configuration from the command line's plain words; `Err` carries the reason a
/// given `ip=` was not used (the caller logs it and falls back to DHCP).
pub fn from_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<AddressConfig, String> {
    let mut ip = None;
    let mut gateway = None;
    let mut dns = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "ip" => ip = Some(value),
            "gateway" => gateway = Some(value),
            "dns" => dns.push(value),
            _ => {}
        }
    }
    let Some(ip) = ip else {
        return Ok(AddressConfig::Dhcp);
    };
    let (addr, prefix) = ip
        .split_once('/')
        .ok_or_else(|| format!("ip={ip}: expected ADDRESS/PREFIX"))?;
    let address: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("ip={ip}: {addr} is not an IPv4 address"))?;
    let prefix_len: u8 = prefix
        .parse()
        .ok()
        .filter(|&p| p <= 32)
        .ok_or_else(|| format!("ip={ip}: {prefix} is not a prefix length (0-32)"))?;
    let gateway = gateway
        .map(|g| {
            g.parse::<Ipv4Addr>()
                .map_err(|_| format!("gateway={g}: not an IPv4 address"))
        })
        .transpose()?;
    let dns = dns
        .into_iter()
        .map(|d| {
            d.parse::<Ipv4Addr>()
                .map_err(|_| format!("dns={d}: not an IPv4 address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AddressConfig::Static(StaticConfig {
        address,
        prefix_len,
        gateway,
        dns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_ip_word_means_dhcp() {
        assert_eq!(from_words(["console=ttyS0", "x"]), Ok(AddressConfig::Dhcp));
        assert_eq!(from_words(["gateway=10.0.2.2"]), Ok(AddressConfig::Dhcp));
    }

    #[test]
    fn urunc_words_give_a_static_address() {
        let c = from_words([
            "ip=10.0.2.15/24",
            "gateway=10.0.2.2",
            "dns=10.0.2.3",
            "dns=1.1.1.1",
        ])
        .unwrap();
        assert_eq!(
            c,
            AddressConfig::Static(StaticConfig {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(1, 1, 1, 1)],
            })
        );
    }

    #[test]
    fn bad_words_are_reported() {
        for bad in [
            ["ip=10.0.2.15", "x=y"],
            ["ip=10.0.2/24", "x=y"],
            ["ip=10.0.2.15/33", "x=y"],
            ["ip=10.0.2.15/24", "gateway=router"],
            ["ip=10.0.2.15/24", "dns=::1"],
        ] {
            let e = from_words(bad).unwrap_err();
            assert!(e.contains('='), "{e}");
        }
    }
}
