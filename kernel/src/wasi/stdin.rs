//! Console input for fd 0.
//!
//! Input comes from [`crate::console::read`], which never blocks, and is buffered here. Where
//! the source can end — the virtio console's stdin port, which the host closes, or the hosted
//! platform's stdin — every byte is data and every read after the buffered input is end of
//! file. A serial line cannot end, so there end of file is in-band, the way a terminal does
//! it: an EOT byte (0x04, ^D) ends the read in progress and makes the next read at that point
//! return 0 bytes (EOF); the EOT itself is consumed and never handed to the app. Reads after
//! such an EOF continue with later input.

use crate::console::{self, Input};
use crate::platform::Platform;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// End of transmission: end of file at this point of the input.
pub const EOT: u8 = 0x04;

/// Input held back from the platform; bounded so a flood of input cannot exhaust the heap.
const MAX_BUFFERED: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct StdinBuffer {
    pending: VecDeque<u8>,
    /// The input has ended for good.
    ended: bool,
    /// EOT bytes mean end of file (the input is a serial line).
    eot_ends_input: bool,
}

/// What a read can take right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Available {
    /// Nothing yet: a blocking read waits.
    Nothing,
    /// End of file: a read returns 0.
    EndOfFile,
    /// This many bytes before the next EOT (or the end of the buffer).
    Bytes(usize),
}

impl StdinBuffer {
    /// Moves whatever the console has into the buffer.
    pub fn fill(&mut self, p: &dyn Platform) {
        self.eot_ends_input = console::input_has_in_band_eof(p);
        let mut chunk = [0u8; 4096];
        while self.pending.len() < MAX_BUFFERED && !self.ended {
            let room = (MAX_BUFFERED - self.pending.len()).min(chunk.len());
            match console::read(p, &mut chunk[..room]) {
                Input::Bytes(n) => self.pending.extend(&chunk[..n.min(room)]),
                Input::Nothing => break,
                Input::Ended => self.ended = true,
            }
        }
    }

    pub fn available(&self) -> Available {
        let eot = if self.eot_ends_input {
            self.pending.iter().position(|&b| b == EOT)
        } else {
            None
        };
        match eot {
            Some(0) => Available::EndOfFile,
            Some(n) => Available::Bytes(n),
            None if self.pending.is_empty() && self.ended => Available::EndOfFile,
            None if self.pending.is_empty() => Available::Nothing,
            None => Available::Bytes(self.pending.len()),
        }
    }

    /// Takes up to `max` bytes of input; `None` when nothing is available (the caller decides
    /// whether to wait), an empty vector at end of file or when `max` is 0.
    pub fn take(&mut self, max: usize) -> Option<Vec<u8>> {
        if max == 0 {
            return Some(Vec::new());
        }
        match self.available() {
            Available::Nothing => None,
            Available::EndOfFile => {
                // An in-band EOT is consumed; the end of the platform's input stays.
                if self.pending.front() == Some(&EOT) {
                    self.pending.pop_front();
                }
                Some(Vec::new())
            }
            Available::Bytes(n) => {
                // Slice by slice: a byte-at-a-time copy is slow under emulation.
                let n = n.min(max);
                let (a, b) = self.pending.as_slices();
                let first = n.min(a.len());
                let mut out = Vec::with_capacity(n);
                out.extend_from_slice(&a[..first]);
                out.extend_from_slice(&b[..n - first]);
                self.pending.drain(..n);
                Some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::mock::MockPlatform;

    #[test]
    fn input_that_ends_reads_as_end_of_file_for_good() {
        let p = MockPlatform::new();
        p.push_input(b"last");
        p.input_ended
            .store(true, core::sync::atomic::Ordering::Relaxed);
        p.input_can_end
            .store(true, core::sync::atomic::Ordering::Relaxed);
        let mut b = StdinBuffer::default();
        b.fill(&p);
        assert_eq!(b.take(16), Some(b"last".to_vec()));
        b.fill(&p);
        for _ in 0..3 {
            assert_eq!(b.available(), Available::EndOfFile);
            assert_eq!(b.take(16), Some(Vec::new()));
        }
    }

    #[test]
    fn serial_input_never_ends_by_itself() {
        let p = MockPlatform::new();
        let mut b = StdinBuffer::default();
        b.fill(&p);
        assert_eq!(b.available(), Available::Nothing);
        assert_eq!(b.take(16), None);
    }

    fn buffer(input: &[u8]) -> StdinBuffer {
        StdinBuffer {
            pending: input.iter().copied().collect(),
            ended: false,
            eot_ends_input: true,
        }
    }

    #[test]
    fn input_that_can_end_passes_every_byte_value() {
        let p = MockPlatform::new();
        let all: Vec<u8> = (0..=255).collect();
        p.push_input(&all);
        p.input_can_end
            .store(true, core::sync::atomic::Ordering::Relaxed);
        let mut b = StdinBuffer::default();
        b.fill(&p);
        assert_eq!(b.available(), Available::Bytes(256), "EOT is data");
        assert_eq!(b.take(1000), Some(all));
        assert_eq!(b.take(1000), None, "not ended yet: wait");
        p.input_ended
            .store(true, core::sync::atomic::Ordering::Relaxed);
        b.fill(&p);
        assert_eq!(b.take(1000), Some(Vec::new()));
    }

    #[test]
    fn takes_at_most_what_is_asked() {
        let mut s = buffer(b"hello world");
        assert_eq!(s.take(7).as_deref(), Some(&b"hello w"[..]));
        assert_eq!(s.available(), Available::Bytes(4));
        assert_eq!(s.take(16).as_deref(), Some(&b"orld"[..]));
        assert_eq!(s.take(16), None);
    }

    #[test]
    fn eot_ends_the_read_then_reads_as_eof_once() {
        let mut s = buffer(b"ab\x04cd\x04\x04");
        assert_eq!(s.take(8).as_deref(), Some(&b"ab"[..]));
        assert_eq!(s.available(), Available::EndOfFile);
        assert_eq!(s.take(8).as_deref(), Some(&b""[..]));
        assert_eq!(s.take(8).as_deref(), Some(&b"cd"[..]));
        assert_eq!(s.take(8).as_deref(), Some(&b""[..]));
        assert_eq!(s.take(8).as_deref(), Some(&b""[..]));
        assert_eq!(s.take(8), None);
    }

    #[test]
    fn zero_length_reads_take_nothing() {
        let mut s = buffer(b"\x04xy");
        assert_eq!(s.take(0).as_deref(), Some(&b""[..]));
        assert_eq!(s.available(), Available::EndOfFile, "not even the EOF");
    }

    #[test]
    fn fill_drains_the_console_up_to_the_bound() {
        let p = MockPlatform::new();
        p.push_input(&[b'x'; 1000]);
        let mut s = StdinBuffer::default();
        s.fill(&p);
        assert_eq!(s.available(), Available::Bytes(1000));
        p.push_input(&vec![b'y'; MAX_BUFFERED]);
        s.fill(&p);
        assert_eq!(s.available(), Available::Bytes(MAX_BUFFERED));
        assert_eq!(p.input_left(), 1000, "the rest stays with the console");
    }
}
