//! The network of a machine: `-p` port forwards, `--net` (QEMU user networking or a tap device),
//! `--tcplisten` preopened listeners. Everything is checked before QEMU starts (a bad or busy
//! port is one line and exit status 2), then turned into QEMU's netdev and NIC arguments and
//! the kernel command-line words the kernel reads (`mewz.tcplisten=ADDR:PORT`).
//!
//! A machine gets a NIC only when it needs one: a flag asks for it, or its image says that the
//! app uses sockets (`mewz build` bakes [`NIC_WORD`] into the configuration of such an app).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::fmt;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::Path;
use std::str::FromStr;

/// The configuration word `mewz build` bakes into an image whose app imports socket functions
/// or has preopened listeners; the runner looks for it to decide on a NIC (the kernel ignores
/// it). Found by searching the image's bytes: the configuration is stored verbatim, and no
/// kernel carries this text (its options are matched without the `mewz.` prefix).
pub const NIC_WORD: &str = "mewz.nic";

/// The kernel option naming a preopened listener.
const TCPLISTEN_OPTION: &str = "mewz.tcplisten";

/// QEMU's id for the one network backend.
const NETDEV_ID: &str = "mewznet";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// `-p [HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortForward {
    pub protocol: Protocol,
    /// Where the host listens (default 127.0.0.1: only this machine reaches the guest).
    pub host: SocketAddrV4,
    pub guest_port: u16,
}

impl FromStr for PortForward {
    type Err = String;

    fn from_str(s: &str) -> Result<PortForward, String> {
        let (spec, protocol) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Protocol::Tcp),
            Some((spec, "udp")) => (spec, Protocol::Udp),
            Some((_, other)) => {
                return Err(format!("unknown protocol '{other}' (tcp or udp)"));
            }
            None => (s, Protocol::Tcp),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (addr, host_port, guest_port) = match parts[..] {
            [h, g] => (Ipv4Addr::LOCALHOST, h, g),
            [a, h, g] => {
                let addr = a
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("'{a}' is not an IPv4 address of this host"))?;
                (addr, h, g)
            }
            _ => {
                return Err("expected [HOST_ADDR:]HOST_PORT:GUEST_PORT[/udp]".into());
            }
        };
        Ok(PortForward {
            protocol,
            host: SocketAddrV4::new(addr, port(host_port)?),
            guest_port: port(guest_port)?,
        })
    }
}

/// A TCP or UDP port, 1 to 65535.
fn port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("'{p}' is not a port (1-65535)")),
        Ok(n) => Ok(n),
    }
}

/// `--net`: how the NIC reaches the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// QEMU user networking (the guest is 10.0.2.15 behind a NAT; `-p` forwards into it).
    User,
    /// An existing tap device of the host (a real setup: bridge, routes, firewall).
    Tap(String),
    /// No NIC, even for an app that uses sockets (it still has loopback).
    None,
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "user" => Ok(Backend::User),
            "none" => Ok(Backend::None),
            _ => match s.strip_prefix("tap=") {
                Some(name) if is_interface_name(name) => Ok(Backend::Tap(name.to_string())),
                Some(name) => Err(format!("'{name}' is not a network interface name")),
                None => Err("expected user, tap=NAME or none".into()),
            },
        }
    }
}

/// What Linux accepts as an interface name (and QEMU's option syntax can carry).
fn is_interface_name(name: &str) -> bool {
    (1..16).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name != "."
        && name != ".."
}

/// `--tcplisten ADDR:PORT`: a listening socket the kernel opens before the app starts, as
/// wasmtime's `-S tcplisten`; the app finds it among its preopened descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpListen(pub SocketAddr);

impl FromStr for TcpListen {
    type Err = String;

    fn from_str(s: &str) -> Result<TcpListen, String> {
        let addr: SocketAddr = s
            .parse()
            .map_err(|_| "expected ADDR:PORT with an IP address (e.g. 0.0.0.0:8080)".to_string())?;
        if addr.port() == 0 {
            return Err("port 0 cannot be listened on (1-65535)".to_string());
        }
        Ok(TcpListen(addr))
    }
}

impl TcpListen {
    pub fn kernel_word(&self) -> String {
        format!("{TCPLISTEN_OPTION}={}", self.0)
    }
}

/// `--tcplisten` on `build` (baked into the image) and `run`.
#[derive(Args, Clone, Debug, Default)]
pub struct ListenOptions {
    /// Preopen a listening TCP socket for the app (repeatable), as wasmtime's -S tcplisten.
    #[arg(long = "tcplisten", value_name = "ADDR:PORT")]
    pub tcplisten: Vec<TcpListen>,
}

/// The network flags of `run`.
#[derive(Args, Clone, Debug, Default)]
pub struct NetOptions {
    /// Forward a host port to the guest (repeatable; HOST_ADDR defaults to 127.0.0.1).
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[HOST_ADDR:]HOST_PORT:GUEST_PORT[/udp]"
    )]
    pub forwards: Vec<PortForward>,
    /// The NIC's backend: user (default), tap=NAME (an existing tap device) or none.
    #[arg(long = "net", value_name = "user|tap=NAME|none")]
    pub backend: Option<Backend>,
    #[command(flatten)]
    pub listen: ListenOptions,
}

/// What a boot gets for its network.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// QEMU arguments: a netdev and a NIC, or nothing.
    pub qemu_args: Vec<String>,
    /// Kernel command-line words (the `--tcplisten` of `run`).
    pub kernel_words: Vec<String>,
}

/// Whether an app with these import symbols uses sockets.
pub fn uses_sockets<'a>(import_symbols: impl IntoIterator<Item = &'a str>) -> bool {
    let prefix = format!(
        "{}{}sock_",
        mewz_abi::symbols::WASI_MODULE,
        mewz_abi::symbols::IMPORT_SEPARATOR
    );
    import_symbols.into_iter().any(|s| s.starts_with(&prefix))
}

/// Whether an image was built for an app that needs a NIC (see [`NIC_WORD`]). Reads the image
/// a piece at a time and stops at the word: images with large baked directories are big, and
/// the configuration sits in the kernel's data, before them.
pub fn image_wants_nic(image: &Path) -> Result<bool> {
    let mut file =
        std::fs::File::open(image).with_context(|| format!("reading {}", image.display()))?;
    let word = NIC_WORD.as_bytes();
    let mut window = vec![0u8; 1 << 20];
    // Bytes kept from the previous piece, so that a word across two pieces is found.
    let mut kept = 0;
    loop {
        let n = file
            .read(&mut window[kept..])
            .with_context(|| format!("reading {}", image.display()))?;
        if n == 0 {
            return Ok(false);
        }
        let filled = kept + n;
        if window[..filled].windows(word.len()).any(|w| w == word) {
            return Ok(true);
        }
        kept = (word.len() - 1).min(filled);
        window.copy_within(filled - kept..filled, 0);
    }
}

/// Checks the flags and plans the network of a QEMU boot. `nic_model` is the target's NIC
/// device (its profile's `qemu.nic`).
pub fn plan(options: &NetOptions, image_wants_nic: bool, nic_model: &str) -> Result<Plan> {
    let backend = match &options.backend {
        Some(b) => b.clone(),
        None if image_wants_nic
            || !options.forwards.is_empty()
            || !options.listen.tcplisten.is_empty() =>
        {
            Backend::User
        }
        None => Backend::None,
    };
    if !options.forwards.is_empty() && backend != Backend::User {
        bail!(crate::UsageError(
            "-p forwards ports through QEMU user networking; it does not go with --net tap or none"
                .into()
        ));
    }
    check_forwards(&options.forwards)?;
    let netdev = match &backend {
        Backend::None => None,
        Backend::User => Some(
            std::iter::once(format!("user,id={NETDEV_ID}"))
                .chain(options.forwards.iter().map(|f| {
                    format!(
                        "hostfwd={}:{}:{}-:{}",
                        f.protocol,
                        f.host.ip(),
                        f.host.port(),
                        f.guest_port
                    )
                }))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Backend::Tap(name) => {
            if !std::path::Path::new("/sys/class/net").join(name).exists() {
                bail!(crate::UsageError(format!(
                    "--net tap={name}: this host has no network interface {name} (create it first, e.g. `ip tuntap add {name} mode tap`)"
                )));
            }
            Some(format!(
                "tap,id={NETDEV_ID},ifname={name},script=no,downscript=no"
            ))
        }
    };
    let qemu_args = match netdev {
        Some(netdev) => vec![
            "-netdev".into(),
            netdev,
            "-device".into(),
            format!("{nic_model},netdev={NETDEV_ID}"),
        ],
        None => Vec::new(),
    };
    Ok(Plan {
        qemu_args,
        kernel_words: options
            .listen
            .tcplisten
            .iter()
            .map(TcpListen::kernel_word)
            .collect(),
    })
}

/// Every host port must be given once and be free now: QEMU would only warn and go on without
/// the forward.
fn check_forwards(forwards: &[PortForward]) -> Result<()> {
    for (i, f) in forwards.iter().enumerate() {
        let same_port = |g: &PortForward| {
            g.protocol == f.protocol
                && g.host.port() == f.host.port()
                && (g.host.ip() == f.host.ip()
                    || g.host.ip().is_unspecified()
                    || f.host.ip().is_unspecified())
        };
        if forwards[..i].iter().any(same_port) {
            bail!(crate::UsageError(format!(
                "-p: host port {}/{} is forwarded twice",
                f.host.port(),
                f.protocol
            )));
        }
        let free = match f.protocol {
            Protocol::Tcp => TcpListener::bind(f.host).map(drop),
            Protocol::Udp => UdpSocket::bind(f.host).map(drop),
        };
        if let Err(e) = free {
            let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                "is busy".to_string()
            } else {
                format!("cannot be used ({e})")
            };
            bail!(crate::UsageError(format!(
                "-p: host port {}:{}/{} {why}",
                f.host.ip(),
                f.host.port(),
                f.protocol
            )));
        }
    }
    Ok(())
}

/// Refuses the flags that make no sense for the hosted target, whose sockets are the host's.
pub fn check_hosted(options: &NetOptions) -> Result<()> {
    if !options.forwards.is_empty() {
        bail!(crate::UsageError(
            "-p: on the hosted target the app's sockets are the host's own; its ports need no forwarding".into()
        ));
    }
    if options.backend.is_some() {
        bail!(crate::UsageError(
            "--net: the hosted target uses the host's network".into()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(s: &str) -> PortForward {
        s.parse().unwrap()
    }

    #[test]
    fn port_forwards_parse() {
        assert_eq!(
            fwd("8080:80"),
            PortForward {
                protocol: Protocol::Tcp,
                host: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080),
                guest_port: 80
            }
        );
        let f = fwd("0.0.0.0:5353:53/udp");
        assert_eq!(f.protocol, Protocol::Udp);
        assert_eq!(f.host, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5353));
        assert_eq!(fwd("1:2/tcp").guest_port, 2);
    }

    #[test]
    fn bad_port_forwards_say_why() {
        for (bad, why) in [
            ("8080", "expected [HOST_ADDR:]"),
            ("a:b:c:d", "expected [HOST_ADDR:]"),
            ("0:80", "'0' is not a port"),
            ("8080:65536", "'65536' is not a port"),
            ("x:80", "'x' is not a port"),
            ("localhost:1:2", "not an IPv4 address"),
            ("1:2/sctp", "unknown protocol 'sctp'"),
        ] {
            let e = bad.parse::<PortForward>().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn backends_parse() {
        assert_eq!("user".parse(), Ok(Backend::User));
        assert_eq!("none".parse(), Ok(Backend::None));
        assert_eq!("tap=tap0".parse(), Ok(Backend::Tap("tap0".into())));
        assert!("tap=".parse::<Backend>().is_err());
        assert!("tap=a,script=/bin/evil".parse::<Backend>().is_err());
        assert!("tap=averyveryverylongname".parse::<Backend>().is_err());
        assert!("bridge".parse::<Backend>().is_err());
    }

    #[test]
    fn listeners_parse() {
        assert_eq!(
            "0.0.0.0:8080".parse::<TcpListen>().unwrap().kernel_word(),
            "mewz.tcplisten=0.0.0.0:8080"
        );
        assert_eq!(
            "[::]:80".parse::<TcpListen>().unwrap().kernel_word(),
            "mewz.tcplisten=[::]:80"
        );
        assert!("8080".parse::<TcpListen>().is_err());
        assert!("0.0.0.0:0".parse::<TcpListen>().is_err());
        assert!("host:80".parse::<TcpListen>().is_err());
    }

    #[test]
    fn socket_imports_are_recognised() {
        assert!(uses_sockets([
            "wasi_snapshot_preview1.fd_write",
            "wasi_snapshot_preview1.sock_accept/wasmedge"
        ]));
        assert!(uses_sockets(["wasi_snapshot_preview1.sock_recv"]));
        assert!(!uses_sockets([
            "wasi_snapshot_preview1.fd_write",
            "env.sock_open"
        ]));
    }

    #[test]
    fn images_say_whether_they_want_a_nic() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        let wants = |bytes: &[u8]| {
            std::fs::write(&image, bytes).unwrap();
            image_wants_nic(&image).unwrap()
        };
        assert!(wants(
            b"\0\0mewz.name=x mewz.nic mewz.tcplisten=0.0.0.0:80\0"
        ));
        assert!(!wants(b"\0\0mewz.name=x\0nic"));
        assert!(!wants(b""));
        // The word across the boundary of two pieces read, and far into a large image.
        for at in [(1 << 20) - 3, 3 << 20] {
            let mut big = vec![0u8; 4 << 20];
            big[at..at + NIC_WORD.len()].copy_from_slice(NIC_WORD.as_bytes());
            assert!(wants(&big), "at {at}");
        }
        assert!(!wants(&vec![0u8; 3 << 20]));
        assert!(image_wants_nic(&dir.path().join("missing")).is_err());
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn no_flags_and_no_sockets_mean_no_nic() {
        assert_eq!(
            plan(&NetOptions::default(), false, "nic").unwrap(),
            Plan::default()
        );
    }

    #[test]
    fn an_app_with_sockets_gets_user_networking() {
        let p = plan(&NetOptions::default(), true, "virtio-net-pci").unwrap();
        assert_eq!(
            p.qemu_args,
            [
                "-netdev",
                "user,id=mewznet",
                "-device",
                "virtio-net-pci,netdev=mewznet"
            ]
        );
        let none = NetOptions {
            backend: Some(Backend::None),
            ..Default::default()
        };
        assert_eq!(plan(&none, true, "nic").unwrap(), Plan::default());
    }

    #[test]
    fn forwards_become_hostfwd_rules() {
        let (a, b) = (free_port(), free_port());
        let options = NetOptions {
            forwards: vec![
                fwd(&format!("{a}:80")),
                fwd(&format!("127.0.0.1:{b}:53/udp")),
            ],
            listen: ListenOptions {
                tcplisten: vec!["0.0.0.0:80".parse().unwrap()],
            },
            ..Default::default()
        };
        let p = plan(&options, false, "virtio-net-device").unwrap();
        assert_eq!(
            p.qemu_args[1],
            format!("user,id=mewznet,hostfwd=tcp:127.0.0.1:{a}-:80,hostfwd=udp:127.0.0.1:{b}-:53")
        );
        assert_eq!(p.qemu_args[3], "virtio-net-device,netdev=mewznet");
        assert_eq!(p.kernel_words, ["mewz.tcplisten=0.0.0.0:80"]);
    }

    #[test]
    fn busy_and_repeated_host_ports_are_usage_errors() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let options = NetOptions {
            forwards: vec![fwd(&format!("{port}:80"))],
            ..Default::default()
        };
        let e = plan(&options, false, "nic").unwrap_err();
        assert!(e.is::<crate::UsageError>());
        assert!(e.to_string().contains("is busy"), "{e}");
        let free = free_port();
        let options = NetOptions {
            forwards: vec![
                fwd(&format!("{free}:80")),
                fwd(&format!("0.0.0.0:{free}:81")),
            ],
            ..Default::default()
        };
        let e = plan(&options, false, "nic").unwrap_err();
        assert!(e.to_string().contains("forwarded twice"), "{e}");
        // The same port number for TCP and UDP is two forwards.
        let options = NetOptions {
            forwards: vec![fwd(&format!("{free}:80")), fwd(&format!("{free}:80/udp"))],
            ..Default::default()
        };
        plan(&options, false, "nic").unwrap();
    }

    #[test]
    fn forwards_need_user_networking() {
        let options = NetOptions {
            forwards: vec![fwd(&format!("{}:80", free_port()))],
            backend: Some(Backend::None),
            ..Default::default()
        };
        assert!(
            plan(&options, false, "nic")
                .unwrap_err()
                .is::<crate::UsageError>()
        );
        let options = NetOptions {
            backend: Some(Backend::Tap("mewz-no-such-tap".into())),
            ..Default::default()
        };
        let e = plan(&options, false, "nic").unwrap_err();
        assert!(
            e.to_string()
                .contains("no network interface mewz-no-such-tap"),
            "{e}"
        );
    }
}
