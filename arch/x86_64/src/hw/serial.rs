//! 16550 UARTs: COM1 carries the app's stdout and console input, COM2 stderr and kernel
//! messages (when no virtio console does). Bytes pass unchanged (no "\n" → "\r\n"): the
//! runner compares output exactly.
//!
//! The FIFOs stay as the firmware left them (off, under qboot and SeaBIOS): switching them on
//! or off clears the receiver, and input may already be arriving (QEMU feeds the next byte
//! as soon as the receive register is read), so any such switch could lose a byte of stdin.
//! Without a FIFO the transmitter takes one byte per look at the line status.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use x86_64::instructions::port::Port;

pub const COM1: Uart = Uart { base: 0x3f8 };
pub const COM2: Uart = Uart { base: 0x2f8 };

const LSR_DATA_READY: u8 = 1 << 0;
/// THRE: the transmit holding register (with FIFOs on: the whole FIFO) is empty.
const LSR_TX_EMPTY: u8 = 1 << 5;
/// Transmit FIFO depth of a 16550A.
const FIFO_SIZE: usize = 16;
/// IIR bits 7:6 read 0b11 when the FIFOs are on.
const IIR_FIFOS_ON: u8 = 0xc0;
/// Give up on a transmitter that never empties (no UART there) instead of hanging.
const TX_SPIN_LIMIT: u32 = 1_000_000;

#[derive(Clone, Copy)]
pub struct Uart {
    base: u16,
}

impl Uart {
    fn out(&self, reg: u16, value: u8) {
        // SAFETY: the 8 ports from `base` belong to this UART; writing its registers has no
        // effect on memory.
        unsafe { Port::<u8>::new(self.base + reg).write(value) }
    }

    fn inb(&self, reg: u16) -> u8 {
        // SAFETY: as in `out`; reading LSR/RBR only consumes UART state.
        unsafe { Port::<u8>::new(self.base + reg).read() }
    }

    /// Whether a UART answers at `base`: its scratch register keeps what is written, where an
    /// empty port reads back all ones.
    fn present(&self) -> bool {
        [0x5a, 0xa5].iter().all(|&probe| {
            self.out(7, probe);
            self.inb(7) == probe
        })
    }

    /// 115200 8N1, no interrupts (the kernel polls), FIFOs untouched (see the module docs).
    /// Returns how many bytes the empty transmitter takes at once.
    pub fn init(&self) -> usize {
        self.out(1, 0x00); // IER: no interrupts
        self.out(3, 0x80); // LCR: DLAB to set the divisor
        self.out(0, 0x01); // divisor 1 = 115200 baud
        self.out(1, 0x00);
        self.out(3, 0x03); // 8 bits, no parity, 1 stop bit
        self.out(4, 0x03); // DTR | RTS
        if self.inb(2) & IIR_FIFOS_ON == IIR_FIFOS_ON {
            FIFO_SIZE
        } else {
            1
        }
    }

    pub fn write(&self, bytes: &[u8]) {
        // An empty transmitter takes a whole FIFO's worth (when the FIFOs are on): one status
        // read per 16 bytes instead of one per byte (each port access is a VM exit under
        // virtualization).
        for chunk in bytes.chunks(TX_BURST.load(Ordering::Relaxed).max(1)) {
            let mut spins = 0;
            while self.inb(5) & LSR_TX_EMPTY == 0 && spins < TX_SPIN_LIMIT {
                core::hint::spin_loop();
                spins += 1;
            }
            for &b in chunk {
                self.out(0, b);
            }
        }
    }

    /// Reads what the receiver holds, without waiting.
    pub fn read(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() && self.inb(5) & LSR_DATA_READY != 0 {
            buf[n] = self.inb(0);
            n += 1;
        }
        n
    }
}

/// Bytes both transmitters take per look at the line status (1 with the FIFOs off).
static TX_BURST: AtomicUsize = AtomicUsize::new(1);

/// Whether COM2 exists; without it (e.g. QEMU microvm) stderr shares COM1.
static HAVE_COM2: AtomicBool = AtomicBool::new(false);

pub fn init() {
    let mut burst = COM1.init();
    if COM2.present() {
        burst = burst.min(COM2.init());
        HAVE_COM2.store(true, Ordering::Relaxed);
    }
    TX_BURST.store(burst, Ordering::Relaxed);
}

/// The UART for the kernel's and the app's error stream.
pub fn error_uart() -> Uart {
    if HAVE_COM2.load(Ordering::Relaxed) {
        COM2
    } else {
        COM1
    }
}

/// Console input: what COM1 has received. Never waits.
pub fn console_read(buf: &mut [u8]) -> usize {
    COM1.read(buf)
}
