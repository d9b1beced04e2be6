//! What the device tree says about a generic PCIe host bridge (`pci-host-ecam-generic`, as QEMU
//! `virt` has, where urunc attaches its `virtio-net-pci`): the ECAM window, the bus range, the
//! address windows for BARs (`ranges`), the legacy INTx routing (`interrupt-map`) and a GICv2m
//! MSI frame. Pure parsing, no allocation, unit-tested with device trees dumped from QEMU.

use crate::machine::Interrupt;
use crate::memory_map::Range;
use fdt::Fdt;
use fdt::node::FdtNode;

pub const PCI_HOST_ECAM: &str = "pci-host-ecam-generic";
pub const GIC_V2M_FRAME: &str = "arm,gic-v2m-frame";

/// Bytes of ECAM space per bus: 32 devices x 8 functions x 4 KiB.
pub const ECAM_BUS_SIZE: u64 = 1 << 20;

/// `ranges` space codes (bits 24..26 of the first address cell).
const SPACE_IO: u32 = 1;
const SPACE_MEMORY32: u32 = 2;
const SPACE_MEMORY64: u32 = 3;

/// A window of PCI bus addresses and where the CPU sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub cpu: u64,
    pub pci: u64,
    pub size: u64,
}

/// The host bridge.
#[derive(Clone, Copy, Debug)]
pub struct PciHost<'a> {
    /// The ECAM window (the first bus's configuration space at its start).
    pub ecam: Range,
    pub first_bus: u8,
    pub last_bus: u8,
    pub io: Option<Window>,
    pub memory32: Option<Window>,
    pub memory64: Option<Window>,
    node: FdtNode<'a, 'a>,
}

fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

fn u32_property(node: &FdtNode<'_, '_>, name: &str) -> Option<u32> {
    cells(node.property(name)?.value).next()
}

/// A number of `n` cells (1 or 2), big-endian.
fn number(cells: &mut impl Iterator<Item = u32>, n: usize) -> Option<u64> {
    (0..n).try_fold(0u64, |acc, _| Some(acc << 32 | u64::from(cells.next()?)))
}

fn is_compatible(node: &FdtNode<'_, '_>, with: &str) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| s == with))
}

/// The first generic ECAM host bridge, if the machine has one.
pub fn pci_host<'a>(fdt: &'a Fdt<'a>) -> Option<PciHost<'a>> {
    let node = fdt.all_nodes().find(|n| is_compatible(n, PCI_HOST_ECAM))?;
    let reg = node.reg()?.next()?;
    let ecam = Range::new(reg.starting_address as u64, reg.size? as u64);
    let (first_bus, last_bus) = match node.property("bus-range") {
        Some(p) => {
            let mut c = cells(p.value);
            (c.next()?, c.next()?)
        }
        None => (0, 255),
    };
    let buses_in_window = ecam.len() / ECAM_BUS_SIZE;
    if first_bus > last_bus || last_bus > 255 || buses_in_window == 0 {
        return None;
    }
    let last_bus = last_bus
        .min(first_bus + buses_in_window as u32 - 1)
        .min(255);
    let mut host = PciHost {
        ecam,
        first_bus: first_bus as u8,
        last_bus: last_bus as u8,
        io: None,
        memory32: None,
        memory64: None,
        node,
    };
    // Each entry: the PCI address (3 cells), the CPU address (the parent's address cells), the
    // size (this node's size cells).
    let parent_address_cells = fdt.root().cell_sizes().address_cells;
    let size_cells = node.cell_sizes().size_cells;
    if let Some(ranges) = node.property("ranges") {
        let mut c = cells(ranges.value);
        while let Some(space) = c.next() {
            let Some(pci) = number(&mut c, 2) else { break };
            let Some(cpu) = number(&mut c, parent_address_cells) else {
                break;
            };
            let Some(size) = number(&mut c, size_cells) else {
                break;
            };
            let window = Some(Window { cpu, pci, size });
            match (space >> 24) & 3 {
                SPACE_IO => host.io = host.io.or(window),
                SPACE_MEMORY32 => host.memory32 = host.memory32.or(window),
                SPACE_MEMORY64 => host.memory64 = host.memory64.or(window),
                _ => {}
            }
        }
    }
    Some(host)
}

/// The GICv2m MSI frame (QEMU `virt` with GICv2 has one): a write of an SPI's ID to its
/// `MSI_SETSPI_NS` register raises that SPI.
pub fn gic_v2m_frame(fdt: &Fdt<'_>) -> Option<Range> {
    let node = fdt.all_nodes().find(|n| is_compatible(n, GIC_V2M_FRAME))?;
    let reg = node.reg()?.next()?;
    Some(Range::new(reg.starting_address as u64, reg.size? as u64))
}

impl PciHost<'_> {
    /// The ECAM bytes of buses `first_bus..=bus`.
    pub fn ecam_through(&self, bus: u8) -> Range {
        let buses = u64::from(bus.saturating_sub(self.first_bus)) + 1;
        Range::new(self.ecam.start, buses * ECAM_BUS_SIZE)
    }

    /// The interrupt a function's INTx pin (1 = INTA .. 4 = INTD, from its configuration
    /// space) raises, through `interrupt-map` and its mask. `None` if the map has no entry or
    /// the parent controller is not a three-cell GIC.
    pub fn intx(
        &self,
        fdt: &Fdt<'_>,
        bus: u8,
        device: u8,
        function: u8,
        pin: u8,
    ) -> Option<Interrupt> {
        let map = self.node.property("interrupt-map")?.value;
        let mask: [u32; 4] = {
            let mut m = [u32::MAX; 4];
            if let Some(p) = self.node.property("interrupt-map-mask") {
                for (slot, v) in m.iter_mut().zip(cells(p.value)) {
                    *slot = v;
                }
            }
            m
        };
        let address =
            u32::from(bus) << 16 | u32::from(device & 0x1f) << 11 | u32::from(function & 7) << 8;
        let key = [address & mask[0], 0, 0, u32::from(pin) & mask[3]];
        let mut c = cells(map);
        // Entries: child address (3) + child interrupt (1) + parent phandle + the parent's
        // address cells + the parent's interrupt cells; every entry is read whole.
        loop {
            let child = [c.next()?, c.next()?, c.next()?, c.next()?];
            let parent = fdt.find_phandle(c.next()?)?;
            let address_cells = u32_property(&parent, "#address-cells").unwrap_or(0);
            let interrupt_cells = u32_property(&parent, "#interrupt-cells")?;
            for _ in 0..address_cells {
                c.next()?;
            }
            let mut specifier = [0u32; 3];
            for i in 0..interrupt_cells as usize {
                let v = c.next()?;
                if let Some(slot) = specifier.get_mut(i) {
                    *slot = v;
                }
            }
            let matches = child
                .iter()
                .zip(mask)
                .map(|(v, m)| v & m)
                .eq(key.iter().copied());
            if matches {
                return (interrupt_cells == 3).then_some(Interrupt {
                    kind: specifier[0],
                    number: specifier[1],
                    flags: specifier[2],
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GICV2: &[u8] = include_bytes!("../tests/qemu-virt-gicv2.dtb");
    const GICV3: &[u8] = include_bytes!("../tests/qemu-virt-gicv3.dtb");

    #[test]
    fn finds_qemu_virts_host_bridge_and_its_windows() {
        let fdt = Fdt::new(GICV2).unwrap();
        let host = pci_host(&fdt).expect("virt has a PCIe host bridge");
        assert_eq!(host.ecam, Range::new(0x40_1000_0000, 0x1000_0000));
        assert_eq!((host.first_bus, host.last_bus), (0, 255));
        assert_eq!(
            host.io,
            Some(Window {
                cpu: 0x3eff_0000,
                pci: 0,
                size: 0x1_0000
            })
        );
        assert_eq!(
            host.memory32,
            Some(Window {
                cpu: 0x1000_0000,
                pci: 0x1000_0000,
                size: 0x2eff_0000
            })
        );
        assert_eq!(
            host.memory64,
            Some(Window {
                cpu: 0x80_0000_0000,
                pci: 0x80_0000_0000,
                size: 0x80_0000_0000
            })
        );
        assert_eq!(host.ecam_through(0), Range::new(0x40_1000_0000, 1 << 20));
        assert_eq!(host.ecam_through(2), Range::new(0x40_1000_0000, 3 << 20));
    }

    #[test]
    fn intx_pins_follow_the_swizzle_of_the_interrupt_map() {
        let fdt = Fdt::new(GICV3).unwrap();
        let host = pci_host(&fdt).unwrap();
        // virt: INTA of slot 0 is SPI 3; each slot (mod 4) and pin rotates through SPIs 3..6.
        let spi = |device, pin| {
            host.intx(&fdt, 0, device, 0, pin)
                .map(|i| (i.kind, i.number, i.flags))
        };
        assert_eq!(spi(0, 1), Some((0, 3, 4)));
        assert_eq!(spi(0, 4), Some((0, 6, 4)));
        assert_eq!(spi(1, 1), Some((0, 4, 4)));
        assert_eq!(spi(2, 2), Some((0, 6, 4)));
        assert_eq!(spi(5, 1), Some((0, 4, 4)), "the mask keeps slot bits 0-1");
        assert_eq!(spi(3, 0), None, "no pin, no interrupt");
        assert_eq!(spi(3, 5), None);
        assert_eq!(host.intx(&fdt, 0, 1, 0, 1).unwrap().intid(), 36);
    }

    #[test]
    fn the_msi_frame_is_there_with_gicv2_only() {
        assert_eq!(
            gic_v2m_frame(&Fdt::new(GICV2).unwrap()),
            Some(Range::new(0x0802_0000, 0x1000))
        );
        assert_eq!(gic_v2m_frame(&Fdt::new(GICV3).unwrap()), None);
    }
}
