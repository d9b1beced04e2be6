//! A virtio console device for host tests, behaving as QEMU's virtio-serial does: it reads the
//! driver's rings in memory (the mock platform's bus addresses are virtual addresses), answers
//! the control protocol, keeps what each port transmits, and delivers host input only into
//! buffers the driver posted on a port the guest opened — announcing a host close only once
//! every byte before it was delivered.

use super::control;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr, Result};
use zerocopy::{FromBytes, Immutable, IntoBytes};

const NEXT: u16 = 1;
const WRITE: u16 = 2;

#[derive(Default)]
struct Queue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    next_avail: u16,
    used_idx: u16,
}

#[derive(Default)]
pub struct FakePort {
    pub name: String,
    pub host_open: bool,
    pub guest_open: bool,
    pub ready: bool,
    /// Sent by the host, not yet delivered.
    pub input: VecDeque<u8>,
    /// The host closes once `input` is delivered.
    pub closing: bool,
    /// Everything the guest transmitted.
    pub output: Vec<u8>,
}

#[derive(Default)]
pub struct State {
    pub offer_multiport: bool,
    pub max_ports: u32,
    status: u32,
    pub negotiated: u64,
    queues: BTreeMap<u16, Queue>,
    pub ports: BTreeMap<u32, FakePort>,
    to_driver: VecDeque<Vec<u8>>,
    pub interrupts: u32,
    /// Every control message the driver sent: (id, event, value).
    pub from_driver: Vec<(u32, u16, u16)>,
}

/// The transport handed to the driver; tests keep a [`FakeConsole::state`] handle.
#[derive(Clone)]
pub struct FakeConsole {
    pub state: Rc<RefCell<State>>,
}

impl FakeConsole {
    /// A device with the given named ports (by port ID), all open on the host side.
    pub fn new(ports: &[(u32, &str)]) -> FakeConsole {
        let mut state = State {
            offer_multiport: true,
            max_ports: 31,
            ..State::default()
        };
        for &(id, name) in ports {
            state.ports.insert(
                id,
                FakePort {
                    name: name.into(),
                    host_open: true,
                    ..FakePort::default()
                },
            );
        }
        FakeConsole {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// The host sends `bytes` on port `id`.
    pub fn host_send(&self, id: u32, bytes: &[u8]) {
        self.state
            .borrow_mut()
            .ports
            .get_mut(&id)
            .unwrap()
            .input
            .extend(bytes);
        self.state.borrow_mut().deliver();
    }

    /// The host closes port `id` once what it sent is delivered.
    pub fn host_close(&self, id: u32) {
        self.state.borrow_mut().ports.get_mut(&id).unwrap().closing = true;
        self.state.borrow_mut().deliver();
    }

    pub fn output(&self, id: u32) -> Vec<u8> {
        self.state.borrow().ports[&id].output.clone()
    }
}

/// Reads a `T` from guest memory at `addr`.
fn read<T: Copy>(addr: u64) -> T {
    // SAFETY: the driver gave this address for a ring or buffer it keeps alive, in the test's
    // own memory (the mock platform's bus address is the virtual address).
    unsafe { core::ptr::read_volatile(addr as *const T) }
}

fn write<T>(addr: u64, value: T) {
    // SAFETY: as in `read`; the device side of a ring or a device-writable buffer.
    unsafe { core::ptr::write_volatile(addr as *mut T, value) }
}

/// One descriptor of a chain: (address, length, device-writable).
type Segment = (u64, u32, bool);

impl Queue {
    /// The next chain the driver made available, and its head descriptor.
    fn pop(&mut self) -> Option<(u16, Vec<Segment>)> {
        let avail_idx: u16 = read(self.avail + 2);
        if avail_idx == self.next_avail {
            return None;
        }
        let slot = self.next_avail % self.size;
        let head: u16 = read(self.avail + 4 + 2 * slot as u64);
        self.next_avail = self.next_avail.wrapping_add(1);
        let mut chain = Vec::new();
        let mut i = head;
        loop {
            let d = self.desc + 16 * i as u64;
            let (addr, len, flags, next) = (
                read::<u64>(d),
                read::<u32>(d + 8),
                read::<u16>(d + 12),
                read::<u16>(d + 14),
            );
            chain.push((addr, len, flags & WRITE != 0));
            if flags & NEXT == 0 {
                break;
            }
            i = next;
        }
        Some((head, chain))
    }

    fn push_used(&mut self, head: u16, len: u32) {
        let slot = self.used_idx % self.size;
        write(self.used + 4 + 8 * slot as u64, head as u32);
        write(self.used + 8 + 8 * slot as u64, len);
        self.used_idx = self.used_idx.wrapping_add(1);
        write(self.used + 2, self.used_idx);
    }
}

fn rx_queue(id: u32) -> u16 {
    if id == 0 { 0 } else { (2 * id + 2) as u16 }
}

impl State {
    fn event(&mut self, id: u32, event: u16, value: u16, payload: &[u8]) {
        let mut m = control::encode(id, event, value).to_vec();
        m.extend(payload);
        self.to_driver.push_back(m);
    }

    fn handle_control(&mut self) {
        let Some(q) = self.queues.get_mut(&3) else {
            return;
        };
        let mut messages = Vec::new();
        while let Some((head, chain)) = q.pop() {
            let bytes: Vec<u8> = chain
                .iter()
                .filter(|c| !c.2)
                .flat_map(|&(addr, len, _)| (0..len as u64).map(move |i| read::<u8>(addr + i)))
                .collect();
            messages.push(bytes);
            q.push_used(head, 0);
        }
        for m in messages {
            let id = u32::from_le_bytes(m[..4].try_into().unwrap());
            let event = u16::from_le_bytes([m[4], m[5]]);
            let value = u16::from_le_bytes([m[6], m[7]]);
            self.from_driver.push((id, event, value));
            match event {
                control::DEVICE_READY => {
                    let ids: Vec<u32> = self.ports.keys().copied().collect();
                    for id in ids {
                        self.event(id, control::DEVICE_ADD, 1, &[]);
                    }
                }
                control::PORT_READY if value == 1 => {
                    let port = self.ports.get_mut(&id).unwrap();
                    port.ready = true;
                    let (name, open) = (port.name.clone(), port.host_open);
                    self.event(id, control::PORT_NAME, 1, name.as_bytes());
                    if open {
                        self.event(id, control::PORT_OPEN, 1, &[]);
                    }
                }
                control::PORT_OPEN => {
                    self.ports.get_mut(&id).unwrap().guest_open = value == 1;
                }
                _ => {}
            }
        }
    }

    fn handle_transmit(&mut self, queue: u16) {
        let id = if queue == 1 {
            0
        } else {
            (queue as u32 - 3) / 2
        };
        let Some(q) = self.queues.get_mut(&queue) else {
            return;
        };
        while let Some((head, chain)) = q.pop() {
            let port = self.ports.get_mut(&id).unwrap();
            for &(addr, len, _) in chain.iter().filter(|c| !c.2) {
                port.output
                    .extend((0..len as u64).map(|i| read::<u8>(addr + i)));
            }
            q.push_used(head, 0);
        }
    }

    /// Moves control messages and host input into the driver's posted buffers.
    fn deliver(&mut self) {
        let mut delivered = false;
        while !self.to_driver.is_empty() {
            let Some(q) = self.queues.get_mut(&2) else {
                break;
            };
            let Some((head, chain)) = q.pop() else {
                break;
            };
            let m = self.to_driver.pop_front().unwrap();
            let (addr, len, _) = chain[0];
            assert!(m.len() <= len as usize, "control buffer too small");
            for (i, b) in m.iter().enumerate() {
                write(addr + i as u64, *b);
            }
            q.push_used(head, m.len() as u32);
            delivered = true;
        }
        let ids: Vec<u32> = self.ports.keys().copied().collect();
        for id in ids {
            let port = self.ports.get_mut(&id).unwrap();
            if !port.guest_open {
                continue;
            }
            if let Some(q) = self.queues.get_mut(&rx_queue(id)) {
                while !port.input.is_empty() {
                    let Some((head, chain)) = q.pop() else {
                        break;
                    };
                    let (addr, len, _) = chain[0];
                    let n = port.input.len().min(len as usize);
                    for i in 0..n {
                        write(addr + i as u64, port.input.pop_front().unwrap());
                    }
                    q.push_used(head, n as u32);
                    delivered = true;
                }
            }
            if port.closing && port.input.is_empty() && port.host_open {
                port.host_open = false;
                self.event(id, control::PORT_OPEN, 0, &[]);
                self.deliver();
                return;
            }
        }
        if delivered {
            self.interrupts += 1;
        }
    }
}

impl Transport for FakeConsole {
    fn device_type(&self) -> DeviceType {
        DeviceType::Console
    }

    fn read_device_features(&mut self) -> u64 {
        let multiport = if self.state.borrow().offer_multiport {
            2
        } else {
            0
        };
        multiport | 1 << 32
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.state.borrow_mut().negotiated = driver_features;
    }

    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        128
    }

    fn notify(&mut self, queue: u16) {
        let mut s = self.state.borrow_mut();
        match queue {
            3 => s.handle_control(),
            q if q % 2 == 1 => s.handle_transmit(q),
            _ => {}
        }
        s.deliver();
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.state.borrow().status)
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.state.borrow_mut().status = status.bits();
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) {
        self.state.borrow_mut().queues.insert(
            queue,
            Queue {
                size: size as u16,
                desc,
                avail,
                used,
                ..Queue::default()
            },
        );
    }

    fn queue_unset(&mut self, queue: u16) {
        self.state.borrow_mut().queues.remove(&queue);
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.state.borrow().queues.contains_key(&queue)
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        let mut s = self.state.borrow_mut();
        let pending = core::mem::take(&mut s.interrupts) > 0;
        if pending {
            InterruptStatus::QUEUE_INTERRUPT
        } else {
            InterruptStatus::empty()
        }
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T> {
        let mut config = [0u8; 12];
        config[4..8].copy_from_slice(&self.state.borrow().max_ports.to_le_bytes());
        let bytes = config
            .get(offset..offset + size_of::<T>())
            .ok_or(Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| Error::ConfigSpaceTooSmall)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> Result<()> {
        Ok(())
    }
}
