//! Network setup without any tool: the NIC waited for in sysfs, addressed with the classic
//! interface ioctls. No default route: the guest only answers connections QEMU forwards to it,
//! from its own network.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits until the kernel has created interface `name` (the driver probes as its module loads,
/// but may finish later).
pub fn wait_for_interface(name: &str, limit: Duration) -> Result<(), String> {
    let path = Path::new("/sys/class/net").join(name);
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > limit {
            return Err(format!(
                "no network interface {name} after {} s",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Brings interface `name` up, with `addr/prefix` when given.
pub fn configure(name: &str, address: Option<(Ipv4Addr, u8)>) -> Result<(), String> {
    let err = |what: &str, e: io::Error| format!("{name}: {what}: {e}");
    // SAFETY: socket takes no pointers; a valid descriptor is owned below, -1 is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(err("socket", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some((addr, prefix)) = address {
        let mut req = request(name)?;
        set_address(&mut req, addr);
        ioctl(&socket, libc::SIOCSIFADDR, &mut req).map_err(|e| err("address", e))?;
        set_address(&mut req, crate::options::netmask(prefix));
        ioctl(&socket, libc::SIOCSIFNETMASK, &mut req).map_err(|e| err("netmask", e))?;
    }
    let mut req = request(name)?;
    ioctl(&socket, libc::SIOCGIFFLAGS, &mut req).map_err(|e| err("flags", e))?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ioctl(&socket, libc::SIOCSIFFLAGS, &mut req).map_err(|e| err("up", e))
}

fn request(name: &str) -> Result<libc::ifreq, String> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(format!("'{name}' is not an interface name"));
    }
    // SAFETY: ifreq is plain data (a name and a union of integers and addresses), for which
    // all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn set_address(req: &mut libc::ifreq, addr: Ipv4Addr) {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes); the union member is
    // written whole, as the interface ioctls read it.
    unsafe {
        std::ptr::write_unaligned(
            (&raw mut req.ifr_ifru.ifru_addr).cast::<libc::sockaddr_in>(),
            sin,
        )
    };
}

// The SIOC* numbers are `c_ulong` in libc, the request parameter is `c_int` under musl.
#[allow(clippy::unnecessary_cast)]
fn ioctl(socket: &OwnedFd, request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request used here reads or writes one `ifreq`, which `req` is.
    match unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            request as libc::Ioctl,
            req as *mut libc::ifreq,
        )
    } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
