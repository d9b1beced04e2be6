//! The multiport console against a device model (`fake_device`) behaving as QEMU's.

use super::control;
use super::fake_device::FakeConsole;
use super::multiport::{BUFFER_SIZE, Closed, InitError, Input, MultiportConsole, RX_BUFFERS};
use super::virtio::VirtioConsole;
use super::{STDERR_PORT, STDIN_PORT, STDOUT_PORT, STDOUT_STDERR_PORT};
use crate::platform::Stream;
use crate::virtio::InterruptLine;
use crate::wasi::mock::MockPlatform;

const IN: u32 = 1;
const OUT: u32 = 2;
const ERR: u32 = 3;

fn runner_ports() -> FakeConsole {
    crate::wasi::testing::installed_platform();
    FakeConsole::new(&[(IN, STDIN_PORT), (OUT, STDOUT_PORT), (ERR, STDERR_PORT)])
}

fn start(device: &FakeConsole, p: &MockPlatform) -> VirtioConsole<FakeConsole> {
    let driver = MultiportConsole::new(device.clone()).expect("driver starts");
    VirtioConsole::start(p, driver, InterruptLine::NONE, false)
}

/// Reads until the end of input (bounded), as a blocking reader would.
fn read_to_end(c: &mut VirtioConsole<FakeConsole>, device: &FakeConsole) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0; 1000];
    for _ in 0..100_000 {
        match c.read(&mut buf) {
            Input::Bytes(n) => all.extend(&buf[..n]),
            Input::Ended => return all,
            Input::Nothing => panic!(
                "input stalled after {} bytes ({} still at the host)",
                all.len(),
                device.state.borrow().ports[&IN].input.len()
            ),
        }
    }
    panic!("input never ended");
}

#[test]
fn ports_are_found_by_name_and_opened() {
    let device = runner_ports();
    let p = MockPlatform::new();
    let c = start(&device, &p);
    assert!(c.has_input());
    assert_eq!(c.port(Stream::Out), Some(OUT));
    assert_eq!(c.port(Stream::Err), Some(ERR));
    let s = device.state.borrow();
    assert_eq!(s.negotiated & 2, 2, "multiport negotiated");
    assert_ne!(s.negotiated & 1 << 32, 0, "VERSION_1 accepted");
    assert_eq!(s.from_driver[0], (0, control::DEVICE_READY, 1));
    for id in [IN, OUT, ERR] {
        assert!(s.from_driver.contains(&(id, control::PORT_READY, 1)));
        assert!(s.from_driver.contains(&(id, control::PORT_OPEN, 1)));
        assert!(s.ports[&id].guest_open);
    }
}

#[test]
fn every_byte_value_passes_and_the_close_ends_input_after_the_data() {
    let device = runner_ports();
    let p = MockPlatform::new();
    let mut c = start(&device, &p);
    // More than the posted buffers hold, all 256 values, sent and closed before any read.
    let data: Vec<u8> = (0..3 * RX_BUFFERS * BUFFER_SIZE + 77)
        .map(|i| (i * 7 + i / 256) as u8)
        .collect();
    device.host_send(IN, &data);
    device.host_close(IN);
    let got = read_to_end(&mut c, &device);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
    assert_eq!(c.read(&mut [0; 16]), Input::Ended, "the end stays");
}

#[test]
fn eot_and_nul_are_data_not_end_of_input() {
    let device = runner_ports();
    let p = MockPlatform::new();
    let mut c = start(&device, &p);
    device.host_send(IN, b"abc\x04def\x00\n");
    let mut buf = [0; 64];
    assert_eq!(c.read(&mut buf), Input::Bytes(9));
    assert_eq!(&buf[..9], b"abc\x04def\x00\n");
    assert_eq!(c.read(&mut buf), Input::Nothing, "open and empty: wait");
    device.host_close(IN);
    assert_eq!(c.read(&mut buf), Input::Ended);
}

#[test]
fn terminal_input_is_asked_for_once_per_wait() {
    let device = runner_ports();
    let p = MockPlatform::new();
    let driver = MultiportConsole::new(device.clone()).unwrap();
    let mut c = VirtioConsole::start(&p, driver, InterruptLine::NONE, true);
    assert_eq!(device.output(IN), b"", "nothing asked before a read");
    let mut buf = [0; 64];
    assert_eq!(c.read(&mut buf), Input::Nothing);
    assert_eq!(c.read(&mut buf), Input::Nothing);
    assert_eq!(device.output(IN), b"?", "one request while waiting");
    device.host_send(IN, b"line\n");
    assert_eq!(c.read(&mut buf), Input::Bytes(5));
    assert_eq!(c.read(&mut buf), Input::Nothing);
    assert_eq!(
        device.output(IN),
        b"??",
        "asked again once the line was read"
    );
}

#[test]
fn input_closed_before_the_guest_opened_reads_as_empty() {
    let device = runner_ports();
    device.host_close(IN);
    let p = MockPlatform::new();
    let mut c = start(&device, &p);
    assert_eq!(c.read(&mut [0; 8]), Input::Ended);
}

#[test]
fn writes_arrive_whole_and_in_order_on_their_port() {
    let device = runner_ports();
    let p = MockPlatform::new();
    let mut c = start(&device, &p);
    let big: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    c.write(&p, OUT, b"hello ").unwrap();
    c.write(&p, OUT, &big).unwrap();
    c.write(&p, ERR, b"oops\n").unwrap();
    c.flush(&p);
    let mut expected = b"hello ".to_vec();
    expected.extend(&big);
    assert!(device.output(OUT) == expected, "stdout differs");
    assert_eq!(device.output(ERR), b"oops\n");
    assert_eq!(device.output(IN), b"");
}

#[test]
fn one_port_for_both_output_streams_keeps_their_order() {
    crate::wasi::testing::installed_platform();
    let device = FakeConsole::new(&[(IN, STDIN_PORT), (OUT, STDOUT_STDERR_PORT)]);
    let p = MockPlatform::new();
    let mut c = start(&device, &p);
    assert_eq!(c.port(Stream::Out), Some(OUT));
    assert_eq!(c.port(Stream::Err), Some(OUT));
    for i in 0..3 {
        c.write(&p, OUT, format!("out {i}\n").as_bytes()).unwrap();
        c.write(&p, OUT, format!("err {i}\n").as_bytes()).unwrap();
    }
    assert_eq!(
        device.output(OUT),
        b"out 0\nerr 0\nout 1\nerr 1\nout 2\nerr 2\n"
    );
}

#[test]
fn a_port_closed_by_the_host_refuses_writes() {
    let device = runner_ports();
    let p = MockPlatform::new();
    let mut c = start(&device, &p);
    device.host_close(OUT);
    assert_eq!(c.write(&p, OUT, b"lost"), Err(Closed));
    assert_eq!(c.write(&p, ERR, b"kept"), Ok(()));
}

#[test]
fn missing_ports_are_reported_so_the_uart_takes_their_stream() {
    crate::wasi::testing::installed_platform();
    let device = FakeConsole::new(&[(1, STDOUT_PORT), (5, "org.qemu.guest_agent.0")]);
    let p = MockPlatform::new();
    let c = start(&device, &p);
    assert!(!c.has_input());
    assert_eq!(c.port(Stream::Out), Some(1));
    assert_eq!(c.port(Stream::Err), None);
    // The other port was set up (PORT_READY) but never opened.
    let s = device.state.borrow();
    assert!(s.from_driver.contains(&(5, control::PORT_READY, 1)));
    assert!(!s.ports[&5].guest_open);
}

#[test]
fn ports_beyond_the_queues_set_up_are_refused() {
    crate::wasi::testing::installed_platform();
    let device = FakeConsole::new(&[(1, STDOUT_PORT), (20, STDERR_PORT)]);
    let p = MockPlatform::new();
    let c = start(&device, &p);
    assert_eq!(c.port(Stream::Err), None);
    assert!(
        device
            .state
            .borrow()
            .from_driver
            .contains(&(20, control::PORT_READY, 0))
    );
}

#[test]
fn a_device_without_multiport_is_refused() {
    crate::wasi::testing::installed_platform();
    let device = FakeConsole::new(&[]);
    device.state.borrow_mut().offer_multiport = false;
    assert_eq!(
        MultiportConsole::new(device.clone()).err(),
        Some(InitError::NoMultiport)
    );
}
