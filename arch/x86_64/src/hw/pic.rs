//! The legacy 8259 PICs: remapped away from the exception vectors, then masked for good (the
//! LAPIC does our interrupts).

use super::idt::PIC_VECTORS;
use x86_64::instructions::port::Port;

fn out(port: u16, value: u8) {
    // SAFETY: ports 0x20/0x21/0xa0/0xa1 are the PICs; programming them touches no memory.
    unsafe { Port::<u8>::new(port).write(value) }
}

pub fn disable() {
    let base = PIC_VECTORS.start;
    // ICW1..ICW4: cascade mode, vectors base and base+8, slave on IRQ 2, 8086 mode.
    for (port, value) in [
        (0x20, 0x11),
        (0xa0, 0x11),
        (0x21, base),
        (0xa1, base + 8),
        (0x21, 4),
        (0xa1, 2),
        (0x21, 1),
        (0xa1, 1),
    ] {
        out(port, value);
    }
    out(0x21, 0xff);
    out(0xa1, 0xff);
}
