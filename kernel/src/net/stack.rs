//! What the socket calls need from a network stack: the kernel's own (smoltcp over a NIC, or
//! over a loopback device when the machine has none) or the hosted platform's (the host's
//! sockets). Every operation is non-blocking; [`super::Network`] turns `EAGAIN` into waiting
//! for blocking descriptors, the same way for every stack.

use crate::platform::Platform;
use crate::wasi::Errno;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

/// A stack's name for one of its sockets.
pub type Handle = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Datagram,
}

/// What a socket can do right now without blocking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A read (or accept) would not block; `read_bytes` may be 0 at end of stream.
    pub readable: bool,
    /// Bytes a read would return (a datagram's size; for a listener, waiting connections).
    pub read_bytes: u64,
    /// A write would not block (a connection attempt has finished, well or not).
    pub writable: bool,
    /// Room for a write, in bytes.
    pub write_room: u64,
    /// The peer will send nothing more (end of stream, reset, or a failed connection).
    pub hangup: bool,
}

/// What a blocked caller waits for on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// Socket options with an effect in a stack (the rest are kept by [`super::Network`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackOption {
    ReuseAddress,
    KeepAlive,
    NoDelay,
    Broadcast,
    RecvBuffer,
    SendBuffer,
}

/// What the kernel log reports about a stack, for leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackStats {
    /// Sockets the app holds descriptors for.
    pub app_sockets: usize,
    /// Sockets inside the stack: listening pools, connections waiting to be accepted, closed
    /// ones still sending their last data.
    pub stack_sockets: usize,
}

/// A datagram or a stream read: how much, from whom, and whether a datagram was cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub truncated: bool,
}

/// One network stack. Every call returns at once; `EAGAIN` means "would block".
pub trait Stack: Send {
    /// A short description for the kernel log.
    fn describe(&self) -> alloc::string::String;
    fn open(&mut self, family: Family, kind: Kind) -> Result<Handle, Errno>;
    /// Forgets the socket; a stream still sends what it queued, then closes.
    fn close(&mut self, h: Handle);
    fn bind(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno>;
    fn listen(&mut self, h: Handle, backlog: u32) -> Result<(), Errno>;
    /// A waiting connection, as a new socket, and its peer.
    fn accept(&mut self, h: Handle) -> Result<(Handle, SocketAddr), Errno>;
    /// Starts a connection (`EINPROGRESS` while it is under way; readiness says when it ends,
    /// [`Stack::take_error`] how). A datagram socket just remembers its peer.
    fn connect(&mut self, h: Handle, addr: SocketAddr) -> Result<(), Errno>;
    /// Whether a stream socket's connection attempt is still under way.
    fn connecting(&mut self, h: Handle) -> bool;
    fn recv(&mut self, h: Handle, buf: &mut [u8], peek: bool) -> Result<Received, Errno>;
    /// Sends (a datagram to `to`, or to the connected peer).
    fn send(&mut self, h: Handle, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno>;
    fn shutdown(&mut self, h: Handle, read: bool, write: bool) -> Result<(), Errno>;
    fn local_addr(&mut self, h: Handle) -> Result<SocketAddr, Errno>;
    fn peer_addr(&mut self, h: Handle) -> Result<SocketAddr, Errno>;
    fn set_option(&mut self, h: Handle, option: StackOption, value: u64) -> Result<(), Errno>;
    fn option(&mut self, h: Handle, option: StackOption) -> Result<u64, Errno>;
    /// The pending error (`SO_ERROR`), cleared by reading it.
    fn take_error(&mut self, h: Handle) -> Option<Errno>;
    fn readiness(&mut self, h: Handle) -> Readiness;
    /// Makes progress: moves packets, runs timers.
    fn poll(&mut self);
    /// Sleeps until something may have changed for `interest` (or anything, for a stack that
    /// cannot tell), or until the monotonic `deadline_ns`.
    fn wait(&mut self, p: &dyn Platform, deadline_ns: u64, interest: &[(Handle, Interest)]);
    /// Starts resolving a host name; [`Stack::resolved`] gives the answer.
    fn resolve(&mut self, name: &str) -> Result<Handle, Errno>;
    /// The addresses for a lookup started by [`Stack::resolve`] (`EAGAIN` while waiting).
    fn resolved(&mut self, query: Handle) -> Result<Vec<IpAddr>, Errno>;
    fn stats(&self) -> StackStats;
}

/// A stack the platform provides in place of the kernel's own.
pub type BoxedStack = Box<dyn Stack>;
