//! 16550 UARTs: COM1 carries the app's stdout and console input, COM2 stderr and kernel
//! messages. Bytes pass unchanged (no "\n" → "\r\n"): the runner compares output exactly.

use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use x86_64::instructions::port::Port;

pub const COM1: Uart = Uart { base: 0x3f8 };
pub const COM2: Uart = Uart { base: 0x2f8 };

const LSR_DATA_READY: u8 = 1 << 0;
/// THRE: the transmit holding register (with FIFOs on: the whole FIFO) is empty.
const LSR_TX_EMPTY: u8 = 1 << 5;
/// Transmit FIFO depth of a 16550A.
const FIFO_SIZE: usize = 16;
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

    /// 115200 8N1, FIFOs on, no interrupts (the kernel polls).
    pub fn init(&self) {
        self.out(1, 0x00); // IER: no interrupts
        self.out(3, 0x80); // LCR: DLAB to set the divisor
        self.out(0, 0x01); // divisor 1 = 115200 baud
        self.out(1, 0x00);
        self.out(3, 0x03); // 8 bits, no parity, 1 stop bit
        self.out(2, 0xc7); // FIFO on, cleared, 14-byte threshold
        self.out(4, 0x03); // DTR | RTS
    }

    pub fn write(&self, bytes: &[u8]) {
        // An empty transmitter takes a whole FIFO's worth: one status read per 16 bytes
        // instead of one per byte (each port access is a VM exit under virtualization).
        for chunk in bytes.chunks(FIFO_SIZE) {
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

/// Console input that arrived before [`init`]: turning the FIFOs on clears the receiver, so
/// it is read out first (QEMU holds one byte there while the FIFOs are off).
struct EarlyInput {
    bytes: [u8; FIFO_SIZE],
    len: usize,
    taken: usize,
}

static COM1_EARLY_INPUT: Mutex<EarlyInput> = Mutex::new(EarlyInput {
    bytes: [0; FIFO_SIZE],
    len: 0,
    taken: 0,
});

/// Whether COM2 exists; without it (e.g. QEMU microvm) stderr shares COM1.
static HAVE_COM2: AtomicBool = AtomicBool::new(false);

pub fn init() {
    {
        let mut early = COM1_EARLY_INPUT.lock();
        let EarlyInput { bytes, len, .. } = &mut *early;
        *len = COM1.read(bytes);
    }
    COM1.init();
    if COM2.present() {
        COM2.init();
        HAVE_COM2.store(true, Ordering::Relaxed);
    }
}

/// The UART for the kernel's and the app's error stream.
pub fn error_uart() -> Uart {
    if HAVE_COM2.load(Ordering::Relaxed) {
        COM2
    } else {
        COM1
    }
}

/// Console input: what arrived before [`init`], then COM1's receiver. Never waits.
pub fn console_read(buf: &mut [u8]) -> usize {
    let mut n = 0;
    {
        let mut early = COM1_EARLY_INPUT.lock();
        while n < buf.len() && early.taken < early.len {
            buf[n] = early.bytes[early.taken];
            early.taken += 1;
            n += 1;
        }
    }
    n + COM1.read(&mut buf[n..])
}
