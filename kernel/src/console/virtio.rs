//! The app's stdio over a multiport virtio console: one port per stream, found by name.
//!
//! Blocking happens here, never in the driver: a writer with every transmit buffer in flight,
//! or a reader with nothing to read, acknowledges the device, looks again, and only then
//! sleeps until an interrupt (the device's, or the timer when the device has none).
//!
//! When stdin is a terminal, the runner reads it only when the app wants input, so that what
//! the user types ahead for the shell stays there (as it does when the app runs under
//! wasmtime and never reads): a reader that finds nothing sends [`INPUT_REQUEST`] on the stdin
//! port, once, and the runner answers with one read of the terminal (a line, or the end).

use super::multiport::{Closed, Input, MultiportConsole};
use super::{INPUT_REQUEST, STDERR_PORT, STDIN_PORT, STDOUT_PORT, STDOUT_STDERR_PORT};
use crate::platform::{Platform, Stream};
use crate::virtio::{DeviceTransport, InterruptLine};
use alloc::collections::VecDeque;
use virtio_drivers::transport::Transport;

/// How long start-up waits for the device to name its ports (it answers at once under QEMU;
/// the bound only matters for a device that never does).
const PORTS_DEADLINE_NS: u64 = 1_000_000_000;
/// Once every added port has a name, how long to wait for more ports to be added.
const PORTS_SETTLE_NS: u64 = 20_000_000;
/// Without a routed interrupt, waits poll the device this often.
const POLL_NS: u64 = 1_000_000;
/// Longest sleep while waiting for the device: its interrupt normally ends the wait first.
const MAX_WAIT_NS: u64 = 1_000_000_000;
/// Input held in the kernel beyond what the app has read (the device keeps the rest).
const INPUT_LIMIT: usize = 64 * 1024;

pub struct VirtioConsole<T: Transport = DeviceTransport> {
    driver: MultiportConsole<T>,
    irq: InterruptLine,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    /// Received and not yet read.
    input: VecDeque<u8>,
    input_ended: bool,
    /// Input comes only when asked for (the host's stdin is a terminal).
    input_on_request: bool,
    /// Asked, and nothing came yet.
    requested: bool,
    /// Sleeps waiting for the device, and how many the timer ended rather than an interrupt.
    waits: u64,
    timer_wakes: u64,
}

impl<T: Transport> VirtioConsole<T> {
    /// Waits (bounded) for the device to announce and name its ports, and opens the ones
    /// named for stdio. `input_on_request`: ask for each input (see the module docs).
    pub fn start(
        p: &dyn Platform,
        driver: MultiportConsole<T>,
        irq: InterruptLine,
        input_on_request: bool,
    ) -> Self {
        let mut console = VirtioConsole {
            driver,
            irq,
            stdin: None,
            stdout: None,
            stderr: None,
            input: VecDeque::new(),
            input_ended: false,
            input_on_request,
            requested: false,
            waits: 0,
            timer_wakes: 0,
        };
        let start = p.monotonic_ns();
        loop {
            console.ack();
            console.driver.poll();
            let [i, o, e, both] = [STDIN_PORT, STDOUT_PORT, STDERR_PORT, STDOUT_STDERR_PORT]
                .map(|n| console.driver.port_named(n));
            let (o, e) = (o.or(both), e.or(both));
            (console.stdin, console.stdout, console.stderr) = (i, o, e);
            let waited = p.monotonic_ns().saturating_sub(start);
            let all = i.is_some() && o.is_some() && e.is_some();
            let settled = console.driver.unnamed_ports() == 0 && waited >= PORTS_SETTLE_NS;
            if all || settled || waited >= PORTS_DEADLINE_NS {
                break;
            }
            console.wait(p, PORTS_SETTLE_NS.min(PORTS_DEADLINE_NS - waited));
        }
        for (port, read) in [
            (console.stdin, true),
            (console.stdout, false),
            (console.stderr, false),
        ] {
            if let Some(id) = port {
                console.driver.open(id, read);
            }
        }
        console
    }

    pub fn port(&self, stream: Stream) -> Option<u32> {
        match stream {
            Stream::Out => self.stdout,
            Stream::Err => self.stderr,
        }
    }

    /// Sleeps waiting for the device so far, and how many of them the timer ended (for the
    /// log: many would mean a lost interrupt).
    pub fn waits(&self) -> (u64, u64) {
        (self.waits, self.timer_wakes)
    }

    pub fn has_input(&self) -> bool {
        self.stdin.is_some()
    }

    pub fn input_port(&self) -> Option<u32> {
        self.stdin
    }

    pub fn interrupts(&self) -> bool {
        self.irq.routed()
    }

    /// Acknowledges the device before looking at it, so that later events wake the next wait.
    fn ack(&mut self) {
        self.driver.ack_interrupt();
        self.irq.unmask();
    }

    /// Sleeps until an interrupt, at most `max_ns` (shorter if the device cannot interrupt).
    fn wait(&self, p: &dyn Platform, max_ns: u64) {
        let bound = if self.irq.routed() {
            max_ns
        } else {
            max_ns.min(POLL_NS)
        };
        p.arm_timer(bound.max(1));
        p.wait_for_interrupt();
    }

    /// Writes all of `bytes` to port `id`, waiting for the device when its buffers are full.
    pub fn write(&mut self, p: &dyn Platform, id: u32, mut bytes: &[u8]) -> Result<(), Closed> {
        while !bytes.is_empty() {
            let n = self.driver.send(id, bytes)?;
            bytes = &bytes[n..];
            if n == 0 {
                self.wait_for_room(p, id);
            }
        }
        Ok(())
    }

    fn wait_for_room(&mut self, p: &dyn Platform, id: u32) {
        self.driver.want_send_interrupts(id, true);
        self.ack();
        // A buffer finished between the failed send and the ack is found here, not waited for.
        if !self.driver.has_room(id) {
            self.wait(p, MAX_WAIT_NS);
        }
        self.driver.want_send_interrupts(id, false);
    }

    /// Waits until the device has sent everything written to every port.
    pub fn flush(&mut self, p: &dyn Platform) {
        for id in [self.stdout, self.stderr].into_iter().flatten() {
            loop {
                self.driver.want_send_interrupts(id, true);
                self.ack();
                if self.driver.unsent(id) == 0 || !self.driver.host_open(id) {
                    break;
                }
                self.wait(p, MAX_WAIT_NS);
            }
            self.driver.want_send_interrupts(id, false);
        }
    }

    /// Moves received input into `buf` without waiting.
    pub fn read(&mut self, buf: &mut [u8]) -> Input {
        let Some(id) = self.stdin else {
            return Input::Ended;
        };
        if self.input.is_empty() && !self.input_ended {
            self.ack();
            match self.driver.receive(id, &mut self.input, INPUT_LIMIT) {
                Input::Ended => self.input_ended = true,
                Input::Bytes(_) => self.requested = false,
                Input::Nothing if self.input_on_request && !self.requested => {
                    // A request that cannot go out now is asked again on the next read.
                    self.requested = self.driver.send(id, &[INPUT_REQUEST]) == Ok(1);
                }
                Input::Nothing => {}
            }
        }
        let n = take_front(&mut self.input, buf);
        match n {
            0 if self.input_ended => Input::Ended,
            0 => Input::Nothing,
            n => Input::Bytes(n),
        }
    }
}

/// Moves the first bytes of `from` into `to` (as many as fit), slice by slice (a
/// byte-at-a-time copy is slow under emulation); returns how many.
fn take_front(from: &mut VecDeque<u8>, to: &mut [u8]) -> usize {
    let n = to.len().min(from.len());
    let (a, b) = from.as_slices();
    let first = n.min(a.len());
    to[..first].copy_from_slice(&a[..first]);
    to[first..n].copy_from_slice(&b[..n - first]);
    from.drain(..n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_front_copies_across_the_wrap() {
        let mut q: VecDeque<u8> = VecDeque::with_capacity(8);
        q.extend(b"xxxxxx");
        q.drain(..5);
        q.extend(b"abcdef"); // wraps around the end of the ring
        assert!(!q.as_slices().1.is_empty(), "the test needs a wrapped ring");
        let mut buf = [0u8; 4];
        assert_eq!(take_front(&mut q, &mut buf), 4);
        assert_eq!(&buf, b"xabc");
        let mut rest = [0u8; 8];
        assert_eq!(take_front(&mut q, &mut rest), 3);
        assert_eq!(&rest[..3], b"def");
        assert_eq!(take_front(&mut q, &mut rest), 0);
    }
}
