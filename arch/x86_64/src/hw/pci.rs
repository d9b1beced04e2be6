//! PCI configuration space through the legacy 0xCF8/0xCFC ports (all q35/pc buses; ECAM is not
//! needed for the 256-byte header), bus enumeration, and what drivers need of a device.

use super::pci_assign;
use crate::pci_config::{self, Bar, ConfigSpace};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::{Mutex, Once};
use x86_64::instructions::port::Port;

/// Serialises the address/data port pair.
static CONFIG_PORTS: Mutex<()> = Mutex::new(());
static DEVICES: Once<Vec<PciDevice>> = Once::new();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

impl PciAddress {
    fn select(&self, offset: u8) {
        let address = 0x8000_0000
            | (self.bus as u32) << 16
            | (self.device as u32) << 11
            | (self.function as u32) << 8
            | (offset & 0xfc) as u32;
        // SAFETY: 0xCF8 is the configuration address port of mechanism #1; selecting a
        // register has no other effect.
        unsafe { Port::<u32>::new(0xcf8).write(address) }
    }
}

impl ConfigSpace for PciAddress {
    fn read32(&self, offset: u8) -> u32 {
        let _lock = CONFIG_PORTS.lock();
        self.select(offset);
        // SAFETY: 0xCFC is the data port; a configuration read has no effect on memory.
        unsafe { Port::<u32>::new(0xcfc).read() }
    }

    fn write32(&self, offset: u8, value: u32) {
        let _lock = CONFIG_PORTS.lock();
        self.select(offset);
        // SAFETY: configuration writes reprogram the device (BARs, command), never RAM; the
        // callers (`pci_config`) keep the device consistent.
        unsafe { Port::<u32>::new(0xcfc).write(value) }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PciDevice {
    pub address: PciAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub header_type: u8,
}

impl PciDevice {
    /// The device's BARs, sized (see [`pci_config::bars`]). Host bridges are left alone:
    /// sizing turns decoding off for a moment, which a host bridge may apply to RAM itself.
    pub fn bars(&self) -> [Option<Bar>; 6] {
        if self.class == 0x06 && self.subclass == 0x00 {
            return [None; 6];
        }
        pci_config::bars(&self.address)
    }

    pub fn capabilities(&self) -> impl Iterator<Item = pci_config::Capability> {
        pci_config::capabilities(&self.address)
    }

    /// Lets the device decode its memory/I/O BARs and master the bus (DMA), as drivers need.
    pub fn enable(&self) {
        let command = self.address.read32(pci_config::COMMAND) & 0xffff;
        self.address.write32(
            pci_config::COMMAND,
            command
                | pci_config::COMMAND_IO
                | pci_config::COMMAND_MEMORY
                | pci_config::COMMAND_BUS_MASTER,
        );
    }
}

fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x01, 0x01) => "IDE controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x08) => "NVMe controller",
        (0x01, _) => "storage controller",
        (0x02, _) => "network controller",
        (0x03, _) => "display controller",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI-to-PCI bridge",
        (0x06, _) => "bridge",
        (0x0c, 0x03) => "USB controller",
        (0x0c, 0x05) => "SMBus controller",
        (0x0c, _) => "serial bus controller",
        (0xff, _) => "vendor-specific device",
        _ => "device",
    }
}

impl fmt::Display for PciDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04x}:{:04x} class {:02x}.{:02x}.{:02x} ({})",
            self.address,
            self.vendor_id,
            self.device_id,
            self.class,
            self.subclass,
            self.prog_if,
            class_name(self.class, self.subclass)
        )
    }
}

fn probe(address: PciAddress) -> Option<PciDevice> {
    let id = address.read32(0x00);
    if id & 0xffff == 0xffff {
        return None;
    }
    let class = address.read32(0x08);
    let header = address.read32(0x0c);
    Some(PciDevice {
        address,
        vendor_id: id as u16,
        device_id: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        header_type: (header >> 16) as u8,
    })
}

fn scan_bus(bus: u8, seen_buses: &mut [bool; 256], out: &mut Vec<PciDevice>) {
    if core::mem::replace(&mut seen_buses[bus as usize], true) {
        return;
    }
    for device in 0..32 {
        let Some(first) = probe(PciAddress {
            bus,
            device,
            function: 0,
        }) else {
            continue;
        };
        let functions = if first.header_type & 0x80 != 0 { 8 } else { 1 };
        for function in 0..functions {
            let Some(dev) = probe(PciAddress {
                bus,
                device,
                function,
            }) else {
                continue;
            };
            out.push(dev);
            if dev.class == 0x06 && dev.subclass == 0x04 {
                let secondary = (dev.address.read32(0x18) >> 8) as u8;
                if secondary != 0 {
                    scan_bus(secondary, seen_buses, out);
                }
            }
        }
    }
}

/// Where RAM below 4 GiB ends, set at boot: PCI address assignment starts above it.
static RAM_TOP_BELOW_4G: AtomicU64 = AtomicU64::new(0);

pub fn set_ram_top_below_4g(top: u64) {
    RAM_TOP_BELOW_4G.store(top, Ordering::Relaxed);
}

/// Enumerates every device reachable from bus 0 (following PCI-to-PCI bridges), once, giving
/// addresses to their BARs if the firmware did not.
pub fn devices() -> &'static [PciDevice] {
    DEVICES.call_once(|| {
        let mut out = Vec::new();
        scan_bus(0, &mut [false; 256], &mut out);
        if pci_assign::assign_if_needed(&out, RAM_TOP_BELOW_4G.load(Ordering::Relaxed)) {
            mewz_kernel::klog!("pci: firmware left the devices unconfigured; assigned addresses");
        }
        out
    })
}
