//! Networking: one stack per machine and the sockets the app holds in it.
//!
//! The stack is the kernel's own [`smol::SmolStack`] (smoltcp) over the NIC the platform found,
//! over a loopback device when there is none (so `127.0.0.1` works on any machine), or the
//! platform's own sockets when it has them (the hosted platform uses the host's). Nothing is
//! set up for an app that never opens a socket, except the NIC's stack, which starts DHCP at
//! boot without waiting for it.
//!
//! [`Network`] holds what every stack shares: which sockets the app owns, their per-socket
//! options the stack does not need (timeouts), blocking (an `EAGAIN` from the stack becomes a
//! wait for a blocking descriptor), and the counters printed to the kernel log.

pub mod config;
#[cfg(test)]
mod hold_tests;
pub mod smol;
pub mod stack;
pub mod virtio_net;

use crate::platform::Platform;
use crate::wasi::Errno;
use alloc::collections::BTreeMap;
use spin::Mutex;
pub use stack::{
    BoxedStack, Family, Handle, Interest, Kind, Readiness, Received, Stack, StackOption, StackStats,
};

/// Backlog of a listener when the app asks for none (Linux's `SOMAXCONN` before 5.4).
pub const DEFAULT_BACKLOG: u32 = 128;

/// What the kernel keeps about a socket besides the stack's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    pub family: Family,
    pub kind: Kind,
    pub listening: bool,
    /// `SO_RCVTIMEO` / `SO_SNDTIMEO`, in nanoseconds (`None`: wait forever).
    pub recv_timeout_ns: Option<u64>,
    pub send_timeout_ns: Option<u64>,
    /// Options that are kept and read back but change nothing in a stack without routing
    /// tables or urgent data: `SO_DONTROUTE`, `SO_OOBINLINE`, `SO_RCVLOWAT`, `SO_LINGER`.
    pub dont_route: bool,
    pub oob_inline: bool,
    pub recv_low_water: i32,
    pub linger: Option<i32>,
}

/// The app's view of the network: one stack and the sockets it holds there.
pub struct Network {
    stack: BoxedStack,
    sockets: BTreeMap<Handle, SocketInfo>,
    report: report::Reporter,
    /// When stream data first went into a send buffer without a look at the network since
    /// (`None`: nothing held).
    held_since_ns: Option<u64>,
}

/// Longest time stream data an app sent waits in its send buffer for a look at the network
/// while the app goes on making other calls (file I/O, clocks): long enough to gather the
/// sends of a burst into one look, short enough not to be noticed.
pub const HOLD_LIMIT_NS: u64 = 10_000_000;

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Network({:?})", self.stats())
    }
}

/// The stack started at boot for the machine's NIC, until the app first uses the network.
static BOOT_STACK: Mutex<Option<BoxedStack>> = Mutex::new(None);

/// Hands the kernel a stack for the app (called at boot once a NIC has its stack).
pub fn install_boot_stack(stack: BoxedStack) {
    *BOOT_STACK.lock() = Some(stack);
}

/// Makes progress on the boot stack while no app uses it (DHCP, ARP).
pub fn poll_boot_stack() {
    if let Some(s) = BOOT_STACK.lock().as_mut() {
        s.poll();
    }
}

impl Network {
    pub fn new(stack: BoxedStack) -> Network {
        crate::klog!("net: {}", stack.describe());
        Network {
            stack,
            sockets: BTreeMap::new(),
            report: report::Reporter::default(),
            held_since_ns: None,
        }
    }

    /// The network for an app on `p`: the boot stack (a NIC), the platform's own sockets, or a
    /// loopback-only stack.
    pub fn for_platform(p: &'static dyn Platform) -> Network {
        let stack = BOOT_STACK
            .lock()
            .take()
            .or_else(|| p.host_sockets())
            .unwrap_or_else(|| smol::loopback_stack(p));
        Network::new(stack)
    }

    pub fn info(&self, h: Handle) -> Result<&SocketInfo, Errno> {
        self.sockets.get(&h).ok_or(Errno::BADF)
    }

    pub fn info_mut(&mut self, h: Handle) -> Result<&mut SocketInfo, Errno> {
        self.sockets.get_mut(&h).ok_or(Errno::BADF)
    }

    /// The stack itself, for calls that never block.
    pub fn stack(&mut self) -> &mut dyn Stack {
        &mut *self.stack
    }

    /// A look at the network: what arrived is taken in, what is queued goes out.
    pub fn look(&mut self) {
        self.stack.poll();
        self.held_since_ns = None;
    }

    /// Looks at the network if stream data has waited in a send buffer for `HOLD_LIMIT_NS`
    /// or more (called at every WASI call, so that an app busy with other calls does not
    /// hold its sent data back).
    pub fn look_if_held(&mut self, p: &dyn Platform) {
        if let Some(since) = self.held_since_ns
            && p.monotonic_ns().saturating_sub(since) >= HOLD_LIMIT_NS
        {
            self.look();
        }
    }

    pub fn open(&mut self, family: Family, kind: Kind) -> Result<Handle, Errno> {
        self.look();
        let h = self.stack.open(family, kind)?;
        self.adopt(h, family, kind);
        Ok(h)
    }

    fn adopt(&mut self, h: Handle, family: Family, kind: Kind) {
        self.sockets.insert(
            h,
            SocketInfo {
                family,
                kind,
                listening: false,
                recv_timeout_ns: None,
                send_timeout_ns: None,
                dont_route: false,
                oob_inline: false,
                recv_low_water: 1,
                linger: None,
            },
        );
    }

    pub fn close(&mut self, p: &dyn Platform, h: Handle) {
        if self.sockets.remove(&h).is_some() {
            self.stack.close(h);
            self.look();
            self.report.note(p, &*self.stack);
        }
    }

    pub fn listen(&mut self, h: Handle, backlog: u32) -> Result<(), Errno> {
        let info = *self.info(h)?;
        if info.kind != Kind::Stream {
            return Err(Errno::NOTSUP);
        }
        self.stack.listen(h, backlog)?;
        self.info_mut(h)?.listening = true;
        self.look();
        Ok(())
    }

    /// Accepts a connection, waiting for one unless `nonblocking`.
    pub fn accept(
        &mut self,
        p: &dyn Platform,
        h: Handle,
        nonblocking: bool,
    ) -> Result<(Handle, core::net::SocketAddr), Errno> {
        let info = *self.info(h)?;
        if !info.listening {
            return Err(Errno::INVAL);
        }
        let accepted = self.blocking(
            p,
            h,
            Interest::Read,
            nonblocking,
            info.recv_timeout_ns,
            |s| s.accept(h),
        )?;
        self.adopt(accepted.0, info.family, Kind::Stream);
        self.report.note(p, &*self.stack);
        Ok(accepted)
    }

    /// Connects; a blocking stream socket waits until the connection is up or refused.
    pub fn connect(
        &mut self,
        p: &dyn Platform,
        h: Handle,
        addr: core::net::SocketAddr,
        nonblocking: bool,
    ) -> Result<(), Errno> {
        let info = *self.info(h)?;
        let started = self.blocking(p, h, Interest::Write, nonblocking, None, |s| {
            s.connect(h, addr)
        });
        match started {
            Err(Errno::INPROGRESS) if !nonblocking && info.kind == Kind::Stream => {
                let deadline = info
                    .send_timeout_ns
                    .map_or(u64::MAX, |t| p.monotonic_ns().saturating_add(t));
                while self.stack.connecting(h) {
                    if p.monotonic_ns() >= deadline {
                        return Err(Errno::TIMEDOUT);
                    }
                    self.stack.wait(p, deadline, &[(h, Interest::Write)]);
                    self.look();
                }
                match self.stack.take_error(h) {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            other => other,
        }
    }

    pub fn recv(
        &mut self,
        p: &dyn Platform,
        h: Handle,
        buf: &mut [u8],
        peek: bool,
        nonblocking: bool,
    ) -> Result<Received, Errno> {
        let info = *self.info(h)?;
        if info.listening {
            return Err(Errno::NOTCONN);
        }
        // Data already received is returned without a look at the network: a look walks every
        // socket of the stack, the cost that grows with the number of connections.
        match self.stack.recv(h, buf, peek) {
            Err(Errno::AGAIN) => {}
            done => return done,
        }
        self.blocking(
            p,
            h,
            Interest::Read,
            nonblocking,
            info.recv_timeout_ns,
            |s| s.recv(h, buf, peek),
        )
    }

    /// Sends all of `data` that fits; a blocking socket waits for room for at least a part.
    pub fn send(
        &mut self,
        p: &dyn Platform,
        h: Handle,
        data: &[u8],
        to: Option<core::net::SocketAddr>,
        nonblocking: bool,
    ) -> Result<usize, Errno> {
        let info = *self.info(h)?;
        if info.listening {
            return Err(Errno::NOTCONN);
        }
        // A stream's data that fits is queued and goes out at the next look at the network
        // (the app's next wait, a read that finds nothing, a close, its exit, or its first
        // call of any kind after HOLD_LIMIT_NS): one look for all the sends in between, as a
        // look walks every socket of the stack. A datagram goes out now.
        let sent = match self.stack.send(h, data, to) {
            Err(Errno::AGAIN) => self.blocking(
                p,
                h,
                Interest::Write,
                nonblocking,
                info.send_timeout_ns,
                |s| s.send(h, data, to),
            )?,
            done => done?,
        };
        if info.kind == Kind::Datagram {
            self.look();
        } else if self.held_since_ns.is_none() {
            self.held_since_ns = Some(p.monotonic_ns());
        }
        Ok(sent)
    }

    /// Runs `op` until it does not say `EAGAIN`, waiting in between unless `nonblocking`;
    /// `EAGAIN` after `timeout_ns`.
    fn blocking<T>(
        &mut self,
        p: &dyn Platform,
        h: Handle,
        interest: Interest,
        nonblocking: bool,
        timeout_ns: Option<u64>,
        mut op: impl FnMut(&mut dyn Stack) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let deadline = timeout_ns.map_or(u64::MAX, |t| p.monotonic_ns().saturating_add(t));
        loop {
            self.look();
            match op(&mut *self.stack) {
                Err(Errno::AGAIN) if !nonblocking => {
                    if p.monotonic_ns() >= deadline {
                        return Err(Errno::AGAIN);
                    }
                    self.report.note(p, &*self.stack);
                    let wake = deadline.min(self.report.due());
                    self.stack.wait(p, wake, &[(h, interest)]);
                }
                other => return other,
            }
        }
    }

    /// Sleeps until one of `interest` may be ready or until `deadline_ns` (`poll_oneoff`,
    /// which polls the stack once per round itself).
    pub fn wait(&mut self, p: &dyn Platform, deadline_ns: u64, interest: &[(Handle, Interest)]) {
        self.report.note(p, &*self.stack);
        self.stack
            .wait(p, deadline_ns.min(self.report.due()), interest);
    }

    /// Resolves `name` (a host name or a literal address), waiting for the answer.
    pub fn resolve(
        &mut self,
        p: &dyn Platform,
        name: &str,
    ) -> Result<alloc::vec::Vec<core::net::IpAddr>, Errno> {
        if let Ok(ip) = name.parse::<core::net::IpAddr>() {
            return Ok(vec![ip]);
        }
        if name.eq_ignore_ascii_case("localhost") {
            return Ok(vec![core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)]);
        }
        self.look();
        let query = self.stack.resolve(name)?;
        // A resolver that never answers must not hang the app.
        let deadline = p.monotonic_ns().saturating_add(RESOLVE_TIMEOUT_NS);
        loop {
            match self.stack.resolved(query) {
                Err(Errno::AGAIN) if p.monotonic_ns() < deadline => {
                    self.stack.wait(p, deadline, &[]);
                    self.look();
                }
                Err(Errno::AGAIN) => return Err(Errno::TIMEDOUT),
                other => return other,
            }
        }
    }

    pub fn stats(&self) -> StackStats {
        self.stack.stats()
    }
}

/// Longest wait for a name lookup.
const RESOLVE_TIMEOUT_NS: u64 = 10_000_000_000;

mod report {
    //! The counters line in the kernel log: `net: sockets app A stack S, heap K KiB in use,
    //! buffers B KiB touched, frames to send F KiB` (the pages backed now of the socket buffers
    //! backed on touch; the part of the heap the NIC's transmit buffers hold, which follows the
    //! device's pace, not the app), printed when the numbers change, at most once a second, so
    //! a soak test can read from the log that they come back to where they were at idle.
    use super::{Stack, StackStats};
    use crate::platform::Platform;

    const PERIOD_NS: u64 = 1_000_000_000;

    #[derive(Default)]
    pub struct Reporter {
        last: Option<(StackStats, Option<usize>, usize, usize)>,
        last_ns: u64,
        /// A change was seen too soon after the last line: print it at `last_ns + PERIOD_NS`.
        held_back: bool,
    }

    impl Reporter {
        pub fn note(&mut self, p: &dyn Platform, stack: &dyn Stack) {
            if !crate::console::verbose() {
                return;
            }
            let stats = stack.stats();
            let heap = crate::heap::in_use();
            let touched_kib = crate::touch_buffer::touched_pages() * p.page_size() / 1024;
            let frames_kib = super::virtio_net::transmit_buffer_bytes() / 1024;
            if self.last == Some((stats, heap, touched_kib, frames_kib)) {
                self.held_back = false;
                return;
            }
            let now = p.monotonic_ns();
            if self.last.is_some() && now.saturating_sub(self.last_ns) < PERIOD_NS {
                self.held_back = true;
                return;
            }
            self.last = Some((stats, heap, touched_kib, frames_kib));
            self.last_ns = now;
            self.held_back = false;
            match heap {
                Some(bytes) => crate::klog!(
                    "net: sockets app {} stack {}, heap {} KiB in use, buffers {} KiB touched, \
                     frames to send {} KiB",
                    stats.app_sockets,
                    stats.stack_sockets,
                    bytes / 1024,
                    touched_kib,
                    frames_kib
                ),
                None => crate::klog!(
                    "net: sockets app {} stack {}",
                    stats.app_sockets,
                    stats.stack_sockets
                ),
            }
        }

        /// When a held-back line is due (`u64::MAX`: none is).
        pub fn due(&self) -> u64 {
            if self.held_back {
                self.last_ns.saturating_add(PERIOD_NS)
            } else {
                u64::MAX
            }
        }
    }
}
