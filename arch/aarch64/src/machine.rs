//! What the device tree says about the machine: RAM, the command line, and the few devices
//! the platform drives (PL011 UARTs, the GIC, the generic timer, the PL031 RTC, PSCI) plus the
//! virtio-mmio transports it reports. Pure parsing, no allocation, unit-tested with device
//! trees dumped from QEMU.

use crate::memory_map::{Range, RangeList};
use fdt::Fdt;
use fdt::node::FdtNode;

pub const PL011: &str = "arm,pl011";
pub const PL031: &str = "arm,pl031";
pub const GIC_V2: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"];
pub const GIC_V3: &str = "arm,gic-v3";
pub const ARMV8_TIMER: &str = "arm,armv8-timer";
pub const VIRTIO_MMIO: &str = "virtio,mmio";

/// The interrupt controller and its register frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    V2 {
        distributor: Range,
        cpu_interface: Range,
    },
    V3 {
        distributor: Range,
        redistributors: Range,
    },
}

/// How to call PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    Hvc,
    Smc,
}

/// One GIC interrupt specifier (three cells: kind, number, flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupt {
    /// 0 = SPI, 1 = PPI.
    pub kind: u32,
    pub number: u32,
    pub flags: u32,
}

impl Interrupt {
    /// The GIC interrupt ID: SPIs start at 32, PPIs at 16.
    pub fn intid(&self) -> u32 {
        match self.kind {
            1 => 16 + self.number,
            _ => 32 + self.number,
        }
    }
}

/// The timer's per-CPU interrupts, in the binding's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerInterrupts {
    pub secure_physical: Interrupt,
    pub physical: Interrupt,
    pub virtual_timer: Interrupt,
    pub hypervisor: Option<Interrupt>,
}

/// One virtio-mmio transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmio {
    pub registers: Range,
    pub interrupt: Option<Interrupt>,
}

pub const MAX_MEMORY_RANGES: usize = 8;
pub const MAX_RESERVED_RANGES: usize = 16;

/// The machine as described by the device tree.
#[derive(Clone, Copy, Debug)]
pub struct Machine<'a> {
    pub model: &'a str,
    pub bootargs: &'a str,
    pub memory: RangeList<MAX_MEMORY_RANGES>,
    /// `/memreserve/` entries and `/reserved-memory` children: never handed to the heap.
    pub reserved: RangeList<MAX_RESERVED_RANGES>,
    /// `[0]` carries `Stream::Out` and console input, `[1]` `Stream::Err`.
    pub uarts: [Option<Range>; 2],
    pub gic: Option<Gic>,
    pub timer: Option<TimerInterrupts>,
    pub rtc: Option<Range>,
    pub psci: Option<PsciConduit>,
    /// The packed directories: where `mewz.files-at=ADDR,LEN` in the boot arguments says (RAM
    /// of their own that `mewz run` maps), else the initrd the boot loader placed
    /// (`/chosen/linux,initrd-start` and `-end`).
    pub boot_module: Option<Range>,
}

fn is_compatible(node: &FdtNode<'_, '_>, with: &[&str]) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| with.contains(&s)))
}

/// The node's `reg` entries as ranges (at most `N`).
fn regs<const N: usize>(node: &FdtNode<'_, '_>) -> RangeList<N> {
    let mut out = RangeList::default();
    if let Some(regs) = node.reg() {
        for r in regs {
            out.push(Range::new(
                r.starting_address as u64,
                r.size.unwrap_or(0) as u64,
            ));
        }
    }
    out
}

fn first_reg(node: &FdtNode<'_, '_>) -> Option<Range> {
    regs::<1>(node).as_slice().first().copied()
}

fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// The node's `interrupts`, read as three-cell GIC specifiers.
fn interrupts<'a>(node: &FdtNode<'_, 'a>) -> impl Iterator<Item = Interrupt> + 'a {
    let value = node.property("interrupts").map_or(&[][..], |p| p.value);
    let mut c = cells(value);
    core::iter::from_fn(move || {
        Some(Interrupt {
            kind: c.next()?,
            number: c.next()?,
            flags: c.next()?,
        })
    })
}

/// A 32- or 64-bit big-endian number property (the initrd bounds come in either size).
fn number_property(node: &FdtNode<'_, '_>, name: &str) -> Option<u64> {
    let v = node.property(name)?.value;
    match v.len() {
        4 => Some(u64::from(u32::from_be_bytes(v.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(v.try_into().ok()?)),
        _ => None,
    }
}

fn string_property<'a>(node: &FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let value = node.property(name)?.value;
    let text = value.strip_suffix(&[0]).unwrap_or(value);
    core::str::from_utf8(text).ok()
}

/// Reads the machine description from a parsed device tree.
pub fn describe<'a>(fdt: &Fdt<'a>) -> Machine<'a> {
    let mut memory = RangeList::default();
    let mut reserved = RangeList::default();
    let mut uart_nodes = RangeList::<4>::default();
    let mut gic = None;
    let mut timer = None;
    let mut rtc = None;
    for node in fdt.all_nodes() {
        if string_property(&node, "device_type") == Some("memory") {
            for r in regs::<MAX_MEMORY_RANGES>(&node).as_slice() {
                memory.push(*r);
            }
        } else if is_compatible(&node, &[PL011]) {
            if let Some(r) = first_reg(&node) {
                uart_nodes.push(r);
            }
        } else if is_compatible(&node, &[PL031]) && rtc.is_none() {
            rtc = first_reg(&node);
        } else if is_compatible(&node, &[ARMV8_TIMER]) && timer.is_none() {
            let mut irqs = interrupts(&node);
            if let (Some(s), Some(p), Some(v)) = (irqs.next(), irqs.next(), irqs.next()) {
                timer = Some(TimerInterrupts {
                    secure_physical: s,
                    physical: p,
                    virtual_timer: v,
                    hypervisor: irqs.next(),
                });
            }
        } else if gic.is_none() {
            let r = regs::<2>(&node);
            if let [a, b] = r.as_slice() {
                if is_compatible(&node, GIC_V2) {
                    gic = Some(Gic::V2 {
                        distributor: *a,
                        cpu_interface: *b,
                    });
                } else if is_compatible(&node, &[GIC_V3]) {
                    gic = Some(Gic::V3 {
                        distributor: *a,
                        redistributors: *b,
                    });
                }
            }
        }
    }
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for child in rm.children() {
            for r in regs::<4>(&child).as_slice() {
                reserved.push(*r);
            }
        }
    }
    for r in fdt.memory_reservations() {
        reserved.push(Range::new(r.address() as u64, r.size() as u64));
    }
    let chosen = fdt.find_node("/chosen");
    let bootargs = chosen
        .and_then(|c| string_property(&c, "bootargs"))
        .unwrap_or("");
    let stdout = chosen
        .and_then(|c| string_property(&c, "stdout-path"))
        // "path:options" — the options (baud rate) do not matter to a PL011 set up by firmware.
        .and_then(|p| fdt.find_node(p.split(':').next().unwrap_or(p)))
        .filter(|n| is_compatible(n, &[PL011]))
        .and_then(|n| first_reg(&n));
    let psci = fdt
        .find_node("/psci")
        .and_then(|n| string_property(&n, "method"))
        .and_then(|m| match m {
            "hvc" => Some(PsciConduit::Hvc),
            "smc" => Some(PsciConduit::Smc),
            _ => None,
        });
    let initrd = chosen.and_then(|c| {
        let start = number_property(&c, "linux,initrd-start")?;
        let end = number_property(&c, "linux,initrd-end")?;
        (end >= start).then_some(Range { start, end })
    });
    let boot_module = mewz_kernel::cmdline::files_at(bootargs)
        .map(|(addr, len)| Range::new(addr, len))
        .or(initrd);
    let model = fdt
        .find_node("/")
        .and_then(|n| string_property(&n, "model"))
        .unwrap_or("unknown");
    Machine {
        model,
        bootargs,
        memory,
        reserved,
        uarts: order_uarts(uart_nodes.as_slice(), stdout),
        gic,
        timer,
        rtc,
        psci,
        boot_module,
    }
}

/// The console UART is `/chosen/stdout-path` if it names a PL011, else the lowest address;
/// the error stream gets the lowest-addressed other PL011.
fn order_uarts(found: &[Range], stdout: Option<Range>) -> [Option<Range>; 2] {
    let lowest_except = |skip: Option<Range>| {
        found
            .iter()
            .filter(|r| Some(**r) != skip)
            .min_by_key(|r| r.start)
            .copied()
    };
    let first = stdout.or_else(|| lowest_except(None));
    let second = first.and_then(|f| lowest_except(Some(f)));
    [first, second]
}

/// The virtio-mmio transports, in device-tree order.
pub fn virtio_mmio<'b>(fdt: &'b Fdt<'_>) -> impl Iterator<Item = VirtioMmio> + 'b {
    fdt.all_nodes()
        .filter(|n| is_compatible(n, &[VIRTIO_MMIO]))
        .filter_map(|n| {
            Some(VirtioMmio {
                registers: first_reg(&n)?,
                interrupt: interrupts(&n).next(),
            })
        })
}

impl Machine<'_> {
    /// Every MMIO range the platform touches (virtio transports not included).
    pub fn device_ranges(&self) -> RangeList<8> {
        let mut out = RangeList::default();
        for r in self.uarts.iter().flatten() {
            out.push(*r);
        }
        match self.gic {
            Some(Gic::V2 {
                distributor,
                cpu_interface,
            }) => {
                out.push(distributor);
                out.push(cpu_interface);
            }
            Some(Gic::V3 {
                distributor,
                redistributors,
            }) => {
                out.push(distributor);
                out.push(redistributors);
            }
            None => {}
        }
        if let Some(r) = self.rtc {
            out.push(r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GICV2: &[u8] = include_bytes!("../tests/qemu-virt-gicv2.dtb");
    const GICV3: &[u8] = include_bytes!("../tests/qemu-virt-gicv3.dtb");

    #[test]
    fn describes_qemu_virt_with_gicv2() {
        let fdt = Fdt::new(GICV2).unwrap();
        let m = describe(&fdt);
        assert_eq!(m.model, "linux,dummy-virt");
        assert_eq!(m.bootargs, r#"mewz.selftest=all -- app "a b""#);
        assert_eq!(m.memory.as_slice(), &[Range::new(0x4000_0000, 512 << 20)]);
        assert_eq!(m.reserved.as_slice(), &[]);
        assert_eq!(m.uarts[0], Some(Range::new(0x0900_0000, 0x1000)));
        assert_eq!(m.uarts[1], Some(Range::new(0x0904_0000, 0x1000)));
        assert_eq!(
            m.gic,
            Some(Gic::V2 {
                distributor: Range::new(0x0800_0000, 0x1_0000),
                cpu_interface: Range::new(0x0801_0000, 0x1_0000),
            })
        );
        let timer = m.timer.unwrap();
        assert_eq!(timer.virtual_timer.intid(), 27);
        assert_eq!(timer.physical.intid(), 30);
        assert_eq!(m.rtc, Some(Range::new(0x0901_0000, 0x1000)));
        assert_eq!(m.psci, Some(PsciConduit::Hvc));
        assert_eq!(m.device_ranges().as_slice().len(), 5);
        assert_eq!(m.boot_module, None);
    }

    #[test]
    fn describes_gicv3_and_virtio_transports() {
        let fdt = Fdt::new(GICV3).unwrap();
        let m = describe(&fdt);
        assert_eq!(
            m.gic,
            Some(Gic::V3 {
                distributor: Range::new(0x0800_0000, 0x1_0000),
                redistributors: Range::new(0x080a_0000, 0xf6_0000),
            })
        );
        let virtio: alloc::vec::Vec<_> = virtio_mmio(&fdt).collect();
        assert_eq!(virtio.len(), 32);
        assert!(
            virtio
                .iter()
                .any(|v| v.registers == Range::new(0x0a00_0000, 0x200)
                    && v.interrupt.map(|i| i.intid()) == Some(32 + 16))
        );
    }

    #[test]
    fn one_uart_serves_both_streams_only_when_alone() {
        let a = Range::new(0x9000, 0x1000);
        let b = Range::new(0x5000, 0x1000);
        assert_eq!(order_uarts(&[a], None), [Some(a), None]);
        assert_eq!(order_uarts(&[a, b], None), [Some(b), Some(a)]);
        assert_eq!(order_uarts(&[a, b], Some(a)), [Some(a), Some(b)]);
        assert_eq!(order_uarts(&[], None), [None, None]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Fdt::new(&[0u8; 64]).is_err());
        assert!(Fdt::new(&GICV2[..100]).is_err());
    }
}
