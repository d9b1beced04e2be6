//! The virtio console's control messages (virtio 1.2, 5.3.6.2): how the driver and the device
//! agree on ports once `VIRTIO_CONSOLE_F_MULTIPORT` is negotiated.
//!
//! Each message is `{ le32 id; le16 event; le16 value; }`, and `PORT_NAME` carries the name
//! after it. Pure encoding and decoding, unit-tested here.

/// Driver → device: the driver is ready (value 1) or failed (0).
pub const DEVICE_READY: u16 = 0;
/// Device → driver: a port was added.
pub const DEVICE_ADD: u16 = 1;
/// Device → driver: a port was removed.
pub const DEVICE_REMOVE: u16 = 2;
/// Driver → device: the port is set up (value 1) or failed (0).
pub const PORT_READY: u16 = 3;
/// Device → driver: the port is a console.
pub const CONSOLE_PORT: u16 = 4;
/// Device → driver: the console's size changed.
pub const RESIZE: u16 = 5;
/// Both ways: the port was opened (value 1) or closed (0) on the sender's side.
pub const PORT_OPEN: u16 = 6;
/// Device → driver: the port's name follows the header.
pub const PORT_NAME: u16 = 7;

pub const HEADER_SIZE: usize = 8;

/// A message from the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    DeviceAdd(u32),
    DeviceRemove(u32),
    ConsolePort(u32),
    Resize(u32),
    /// The host side of the port opened (`true`) or closed.
    PortOpen(u32, bool),
    PortName(u32, &'a [u8]),
    /// An event this driver does not know; ignored.
    Other {
        id: u32,
        event: u16,
    },
}

/// Encodes a message to the device.
pub fn encode(id: u32, event: u16, value: u16) -> [u8; HEADER_SIZE] {
    let mut out = [0; HEADER_SIZE];
    out[..4].copy_from_slice(&id.to_le_bytes());
    out[4..6].copy_from_slice(&event.to_le_bytes());
    out[6..].copy_from_slice(&value.to_le_bytes());
    out
}

/// Decodes a message from the device; `None` if it is shorter than the header.
pub fn decode(message: &[u8]) -> Option<Event<'_>> {
    let header = message.get(..HEADER_SIZE)?;
    let id = u32::from_le_bytes(header[..4].try_into().ok()?);
    let event = u16::from_le_bytes([header[4], header[5]]);
    let value = u16::from_le_bytes([header[6], header[7]]);
    Some(match event {
        DEVICE_ADD => Event::DeviceAdd(id),
        DEVICE_REMOVE => Event::DeviceRemove(id),
        CONSOLE_PORT => Event::ConsolePort(id),
        RESIZE => Event::Resize(id),
        PORT_OPEN => Event::PortOpen(id, value != 0),
        PORT_NAME => {
            let name = &message[HEADER_SIZE..];
            // Some devices count a terminating NUL in the message.
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            Event::PortName(id, &name[..end])
        }
        event => Event::Other { id, event },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_little_endian_headers() {
        assert_eq!(encode(3, PORT_OPEN, 1), [3, 0, 0, 0, 6, 0, 1, 0]);
        assert_eq!(
            encode(0xfffe, DEVICE_READY, 1),
            [0xfe, 0xff, 0, 0, 0, 0, 1, 0]
        );
    }

    #[test]
    fn decodes_what_the_device_sends() {
        assert_eq!(decode(&encode(2, DEVICE_ADD, 1)), Some(Event::DeviceAdd(2)));
        assert_eq!(
            decode(&encode(2, PORT_OPEN, 0)),
            Some(Event::PortOpen(2, false))
        );
        assert_eq!(
            decode(&encode(7, PORT_OPEN, 1)),
            Some(Event::PortOpen(7, true))
        );
        let mut named = encode(1, PORT_NAME, 1).to_vec();
        named.extend(b"mewz.stdin\0");
        assert_eq!(decode(&named), Some(Event::PortName(1, b"mewz.stdin")));
        named.pop();
        assert_eq!(decode(&named), Some(Event::PortName(1, b"mewz.stdin")));
        assert_eq!(
            decode(&encode(1, 99, 0)),
            Some(Event::Other { id: 1, event: 99 })
        );
    }

    #[test]
    fn short_messages_are_refused() {
        assert_eq!(decode(&[1, 0, 0, 0, 6, 0, 1]), None);
        assert_eq!(decode(&[]), None);
    }
}
