//! ARM PL011 UART, polled. The boot firmware (or QEMU) has set the line up; we only move bytes.

use core::ptr::{read_volatile, write_volatile};

const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_BUSY: u32 = 1 << 3;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;

#[derive(Clone, Copy, Debug)]
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// # Safety
    /// `base` is a PL011's register frame, mapped as Device memory for the kernel's lifetime.
    pub const unsafe fn new(base: usize) -> Pl011 {
        Pl011 { base }
    }

    fn flags(&self) -> u32 {
        // SAFETY: FR is a register of the mapped frame (see `new`).
        unsafe { read_volatile((self.base + FR) as *const u32) }
    }

    pub fn write(&self, bytes: &[u8]) {
        for &b in bytes {
            while self.flags() & FR_TXFF != 0 {
                core::hint::spin_loop();
            }
            // SAFETY: DR is a register of the mapped frame (see `new`).
            unsafe { write_volatile((self.base + DR) as *mut u32, u32::from(b)) };
        }
    }

    /// Waits until every written byte has left the transmitter.
    pub fn flush(&self) {
        while self.flags() & FR_BUSY != 0 {
            core::hint::spin_loop();
        }
    }

    pub fn read(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() && self.flags() & FR_RXFE == 0 {
            // SAFETY: DR is a register of the mapped frame (see `new`).
            buf[n] = unsafe { read_volatile((self.base + DR) as *const u32) } as u8;
            n += 1;
        }
        n
    }
}
