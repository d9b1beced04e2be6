//! A virtio console with several ports (`VIRTIO_CONSOLE_F_MULTIPORT`), written on
//! virtio-drivers' queues and transport (its own `VirtIOConsole` drives port 0 only, without
//! the control queue).
//!
//! Ports are found by name: the device announces each (`DEVICE_ADD`), the driver answers
//! `PORT_READY`, the device names it (`PORT_NAME`) and says whether the host side is open
//! (`PORT_OPEN`). A port the driver reads from gets [`RX_BUFFERS`] page-sized receive buffers
//! posted at once; writes go out in page-sized buffers, several in flight. The host closing a
//! port is out of band (`PORT_OPEN` 0), so every byte value passes through the data.
//!
//! Nothing here blocks: callers ([`super`]) wait for the device's interrupt between calls.

use super::control::{self, Event};
use crate::virtio::{FEATURE_VERSION_1, KernelHal};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use virtio_drivers::queue::{OwningQueue, VirtQueue};
use virtio_drivers::transport::{InterruptStatus, Transport};

bitflags::bitflags! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const MULTIPORT = 1 << 1;
        /// Notifications only when the other side has caught up (`VIRTIO_F_EVENT_IDX`).
        const RING_EVENT_IDX = 1 << 29;
        const VERSION_1 = FEATURE_VERSION_1;
    }
}

/// Port IDs this driver serves: `0..MAX_PORTS` (queues must all be set up before the device
/// runs, so the set is fixed at start). `mewz run` uses ports 1 to 3.
pub const MAX_PORTS: u32 = 8;
/// Descriptors per data queue, and receive buffers posted on a port that is read.
pub const RX_BUFFERS: usize = 32;
/// Bytes per receive or transmit buffer.
pub const BUFFER_SIZE: usize = 4096;
/// Transmit buffers a port may have in flight.
const TX_BUFFERS: usize = 16;
const CONTROL_SIZE: usize = 16;
/// Room for a control message and a port name.
const CONTROL_BUFFER: usize = 256;
const CONTROL_RX_QUEUE: u16 = 2;
const CONTROL_TX_QUEUE: u16 = 3;

type DataQueue = VirtQueue<KernelHal, RX_BUFFERS>;
type TxBuffer = Box<[u8; BUFFER_SIZE]>;

/// Why the console cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The device does not offer `VIRTIO_CONSOLE_F_MULTIPORT`.
    NoMultiport,
    /// Setting up a queue or posting buffers failed (out of memory, device refused).
    Queue(virtio_drivers::Error),
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::NoMultiport => f.write_str("the device has no multiport support"),
            InitError::Queue(e) => write!(f, "setting up its queues failed: {e}"),
        }
    }
}

impl From<virtio_drivers::Error> for InitError {
    fn from(e: virtio_drivers::Error) -> InitError {
        InitError::Queue(e)
    }
}

/// The host side of the port is closed: written bytes would go nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed;

enum Receive {
    /// Set up, no buffers posted (nobody reads this port).
    Idle(Box<DataQueue>),
    Posted(Box<OwningQueue<KernelHal, RX_BUFFERS, BUFFER_SIZE>>),
    /// Posting the buffers failed; the port reads as closed.
    Broken,
}

struct Port {
    name: Option<String>,
    added: bool,
    host_open: bool,
    /// The guest side was opened (`PORT_OPEN` 1 sent).
    guest_open: bool,
    rx: Receive,
    tx: DataQueue,
    /// Transmit buffers in flight and the bytes of each sent, by the token of their descriptor.
    in_flight: [Option<(TxBuffer, usize)>; RX_BUFFERS],
    in_flight_count: usize,
    spare: Vec<TxBuffer>,
    allocated: usize,
}

/// What a read found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// This many bytes were appended.
    Bytes(usize),
    /// Nothing yet.
    Nothing,
    /// The host closed the port and every byte before that was delivered.
    Ended,
}

pub struct MultiportConsole<T: Transport> {
    transport: T,
    control_rx: OwningQueue<KernelHal, CONTROL_SIZE, CONTROL_BUFFER>,
    control_tx: VirtQueue<KernelHal, CONTROL_SIZE>,
    /// Control messages waiting for room in the transmit queue.
    control_out: VecDeque<[u8; control::HEADER_SIZE]>,
    /// Control transmit buffers in flight, by token.
    control_in_flight: [Option<Box<[u8; control::HEADER_SIZE]>>; CONTROL_SIZE],
    ports: Vec<Port>,
}

fn rx_queue(id: u32) -> u16 {
    if id == 0 { 0 } else { (2 * id + 2) as u16 }
}

impl<T: Transport> MultiportConsole<T> {
    /// Initialises the device and tells it the driver is ready; ports then arrive through
    /// [`MultiportConsole::poll`].
    pub fn new(mut transport: T) -> Result<Self, InitError> {
        let features = transport
            .begin_init(Features::MULTIPORT | Features::RING_EVENT_IDX | Features::VERSION_1);
        let event_idx = features.contains(Features::RING_EVENT_IDX);
        if !features.contains(Features::MULTIPORT) {
            transport.set_status(virtio_drivers::transport::DeviceStatus::FAILED);
            return Err(InitError::NoMultiport);
        }
        let max_ports = transport
            .read_config_space::<u32>(4)
            .unwrap_or(1)
            .clamp(1, MAX_PORTS);
        let mut ports = Vec::new();
        for id in 0..max_ports {
            let rx = DataQueue::new(&mut transport, rx_queue(id), false, event_idx)?;
            let mut tx = DataQueue::new(&mut transport, rx_queue(id) + 1, false, event_idx)?;
            // Completed writes are collected when more room is needed: no interrupt per buffer.
            tx.set_dev_notify(false);
            ports.push(Port {
                name: None,
                added: false,
                host_open: false,
                guest_open: false,
                rx: Receive::Idle(Box::new(rx)),
                tx,
                in_flight: [const { None }; RX_BUFFERS],
                in_flight_count: 0,
                spare: Vec::new(),
                allocated: 0,
            });
        }
        let control_rx = OwningQueue::new(VirtQueue::new(
            &mut transport,
            CONTROL_RX_QUEUE,
            false,
            event_idx,
        )?)?;
        let control_tx = VirtQueue::new(&mut transport, CONTROL_TX_QUEUE, false, event_idx)?;
        transport.finish_init();
        if control_rx.should_notify() {
            transport.notify(CONTROL_RX_QUEUE);
        }
        let mut console = MultiportConsole {
            transport,
            control_rx,
            control_tx,
            control_out: VecDeque::new(),
            control_in_flight: [const { None }; CONTROL_SIZE],
            ports,
        };
        console.send_control(0, control::DEVICE_READY, 1);
        Ok(console)
    }

    /// Acknowledges the device's interrupt (before looking at the queues).
    pub fn ack_interrupt(&mut self) -> InterruptStatus {
        self.transport.ack_interrupt()
    }

    /// Handles what the device said on the control queue and sends queued control messages.
    pub fn poll(&mut self) {
        loop {
            let mut events = Vec::new();
            let popped = self.control_rx.poll(&mut self.transport, |message| {
                if let Some(e) = control::decode(message) {
                    events.push(owned(e));
                }
                Ok(Some(()))
            });
            if !matches!(popped, Ok(Some(()))) {
                break;
            }
            for e in events {
                self.handle(e);
            }
        }
        self.send_queued_control();
    }

    fn handle(&mut self, event: OwnedEvent) {
        match event {
            OwnedEvent::Add(id) => {
                let Some(port) = self.ports.get_mut(id as usize) else {
                    // Beyond the queues set up at start: refuse it.
                    self.send_control(id, control::PORT_READY, 0);
                    return;
                };
                port.added = true;
                self.send_control(id, control::PORT_READY, 1);
            }
            OwnedEvent::Remove(id) => {
                if let Some(port) = self.ports.get_mut(id as usize) {
                    port.added = false;
                    port.host_open = false;
                }
            }
            OwnedEvent::Open(id, open) => {
                if let Some(port) = self.ports.get_mut(id as usize) {
                    port.host_open = open;
                }
            }
            OwnedEvent::Name(id, name) => {
                if let Some(port) = self.ports.get_mut(id as usize) {
                    port.name = Some(name);
                }
            }
            OwnedEvent::Ignored => {}
        }
    }

    /// The ID of the port called `name`, once the device has named it.
    pub fn port_named(&self, name: &str) -> Option<u32> {
        self.ports
            .iter()
            .position(|p| p.added && p.name.as_deref() == Some(name))
            .map(|i| i as u32)
    }

    /// Ports added and not yet named (the device names them right after `PORT_READY`).
    pub fn unnamed_ports(&self) -> usize {
        self.ports
            .iter()
            .filter(|p| p.added && p.name.is_none())
            .count()
    }

    /// Opens the guest side of a port, posting receive buffers if it is to be read.
    pub fn open(&mut self, id: u32, read: bool) {
        let Some(port) = self.ports.get_mut(id as usize) else {
            return;
        };
        if read && let Receive::Idle(_) = port.rx {
            let Receive::Idle(queue) = core::mem::replace(&mut port.rx, Receive::Broken) else {
                unreachable!("checked above");
            };
            if let Ok(posted) = OwningQueue::new(*queue) {
                if posted.should_notify() {
                    self.transport.notify(rx_queue(id));
                }
                port.rx = Receive::Posted(Box::new(posted));
            }
        }
        if !core::mem::replace(&mut port.guest_open, true) {
            self.send_control(id, control::PORT_OPEN, 1);
        }
    }

    /// Whether the host side of the port is open.
    pub fn host_open(&self, id: u32) -> bool {
        self.ports.get(id as usize).is_some_and(|p| p.host_open)
    }

    /// Appends what the host sent on port `id` to `out`, as long as whole buffers fit below
    /// `limit` bytes (the rest waits in the device, which stops taking input when its buffers
    /// run out).
    pub fn receive(&mut self, id: u32, out: &mut VecDeque<u8>, limit: usize) -> Input {
        // Read before the data: every byte sent before the close was placed in a buffer
        // before the close was announced, so an empty queue after a close means the end.
        self.poll();
        let Some(port) = self.ports.get_mut(id as usize) else {
            return Input::Ended;
        };
        let closed = !port.host_open || !port.added;
        let Receive::Posted(rx) = &mut port.rx else {
            return Input::Ended;
        };
        let mut total = 0;
        loop {
            if out.len() + BUFFER_SIZE > limit {
                // No room for another buffer: whatever the device holds waits.
                return if total == 0 {
                    Input::Nothing
                } else {
                    Input::Bytes(total)
                };
            }
            let got = rx.poll(&mut self.transport, |data| {
                out.extend(data);
                Ok(Some(data.len()))
            });
            match got {
                Ok(Some(n)) => total += n,
                _ => break,
            }
        }
        match total {
            // The queue is drained and the host had closed before: nothing more can come.
            0 if closed => Input::Ended,
            0 => Input::Nothing,
            n => Input::Bytes(n),
        }
    }

    /// Queues as much of `bytes` for port `id` as free transmit buffers take; returns how
    /// much (0 when all are in flight: wait for the device, then call again).
    pub fn send(&mut self, id: u32, bytes: &[u8]) -> Result<usize, Closed> {
        self.poll();
        // Finished buffers are taken back only when no other is left: with the event index
        // the device interrupts for the first buffer it finishes after a collection, so
        // collecting on every write would cost an interrupt per write.
        if self
            .ports
            .get(id as usize)
            .is_some_and(|p| p.spare.is_empty() && p.allocated == TX_BUFFERS)
        {
            self.collect_sent(id);
        }
        let Some(port) = self.ports.get_mut(id as usize) else {
            return Err(Closed);
        };
        if !port.host_open || !port.added {
            return Err(Closed);
        }
        let mut sent = 0;
        while sent < bytes.len() {
            let Some(mut buffer) = port.spare.pop().or_else(|| {
                (port.allocated < TX_BUFFERS).then(|| {
                    port.allocated += 1;
                    Box::new([0; BUFFER_SIZE])
                })
            }) else {
                break;
            };
            let n = (bytes.len() - sent).min(BUFFER_SIZE);
            buffer[..n].copy_from_slice(&bytes[sent..sent + n]);
            // SAFETY: the buffer is kept in `in_flight` under its token, untouched until
            // `collect_sent` pops it.
            match unsafe { port.tx.add(&[&buffer[..n]], &mut []) } {
                Ok(token) => {
                    port.in_flight[token as usize] = Some((buffer, n));
                    port.in_flight_count += 1;
                    sent += n;
                }
                Err(_) => {
                    port.spare.push(buffer);
                    break;
                }
            }
        }
        if sent > 0 && port.tx.should_notify() {
            self.transport.notify(rx_queue(id) + 1);
        }
        Ok(sent)
    }

    /// Buffers of port `id` the device has not finished sending.
    pub fn unsent(&mut self, id: u32) -> usize {
        self.collect_sent(id);
        self.ports.get(id as usize).map_or(0, |p| p.in_flight_count)
    }

    /// Whether a [`MultiportConsole::send`] to port `id` would take bytes now.
    pub fn has_room(&mut self, id: u32) -> bool {
        self.collect_sent(id);
        self.ports.get(id as usize).is_some_and(|p| {
            (!p.spare.is_empty() || p.allocated < TX_BUFFERS) && p.tx.available_desc() > 0
        })
    }

    /// Asks the device to interrupt when it finishes a buffer of port `id` (for a writer that
    /// waits), or not. With the event index the device interrupts for the buffer after the
    /// last one collected, whatever this says.
    pub fn want_send_interrupts(&mut self, id: u32, on: bool) {
        if let Some(port) = self.ports.get_mut(id as usize) {
            port.tx.set_dev_notify(on);
        }
    }

    /// Takes back the transmit buffers the device has finished with.
    fn collect_sent(&mut self, id: u32) {
        let Some(port) = self.ports.get_mut(id as usize) else {
            return;
        };
        while let Some(token) = port.tx.peek_used() {
            let Some((buffer, len)) = port
                .in_flight
                .get_mut(token as usize)
                .and_then(Option::take)
            else {
                break;
            };
            // SAFETY: the same buffer (and length) that was added under this token.
            let _ = unsafe { port.tx.pop_used(token, &[&buffer[..len]], &mut []) };
            port.in_flight_count -= 1;
            port.spare.push(buffer);
        }
    }

    fn send_control(&mut self, id: u32, event: u16, value: u16) {
        self.control_out
            .push_back(control::encode(id, event, value));
        self.send_queued_control();
    }

    fn send_queued_control(&mut self) {
        while let Some(token) = self.control_tx.peek_used() {
            let Some(buffer) = self.control_in_flight[token as usize].take() else {
                break;
            };
            // SAFETY: the buffer added under this token.
            let _ = unsafe { self.control_tx.pop_used(token, &[&buffer[..]], &mut []) };
        }
        let mut added = false;
        while let Some(message) = self.control_out.front() {
            let buffer = Box::new(*message);
            // SAFETY: kept in `control_in_flight` until popped above.
            match unsafe { self.control_tx.add(&[&buffer[..]], &mut []) } {
                Ok(token) => {
                    self.control_in_flight[token as usize] = Some(buffer);
                    self.control_out.pop_front();
                    added = true;
                }
                Err(_) => break,
            }
        }
        if added && self.control_tx.should_notify() {
            self.transport.notify(CONTROL_TX_QUEUE);
        }
    }
}

/// A control event copied out of the device's buffer (which goes back to the device).
enum OwnedEvent {
    Add(u32),
    Remove(u32),
    Open(u32, bool),
    Name(u32, String),
    Ignored,
}

fn owned(e: Event<'_>) -> OwnedEvent {
    match e {
        Event::DeviceAdd(id) => OwnedEvent::Add(id),
        Event::DeviceRemove(id) => OwnedEvent::Remove(id),
        Event::PortOpen(id, open) => OwnedEvent::Open(id, open),
        Event::PortName(id, name) => {
            OwnedEvent::Name(id, String::from_utf8_lossy(name).into_owned())
        }
        Event::ConsolePort(_) | Event::Resize(_) | Event::Other { .. } => OwnedEvent::Ignored,
    }
}
