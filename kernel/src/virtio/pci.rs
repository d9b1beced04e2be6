//! What a platform needs to know of a virtio-pci function beyond virtio-drivers' transport:
//! where its common configuration structure lies, to name its MSI-X vectors (see
//! [`super::MsixVectors`]). Generic over the configuration access mechanism, so port I/O on
//! x86_64 and ECAM elsewhere share it.

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_VENDOR_ID};

/// Vendor-specific capability, the kind virtio uses for its structures.
const CAPABILITY_VENDOR: u8 = 0x09;
/// Offsets in `virtio_pci_cap`: the BAR index and the structure's offset in it.
const CAP_BAR: u8 = 4;
const CAP_OFFSET: u8 = 8;

/// Whether the function is a virtio device (vendor 0x1af4, any device ID).
pub fn is_virtio<C: ConfigurationAccess>(cam: &C, function: DeviceFunction) -> bool {
    cam.read_word(function, 0) as u16 == VIRTIO_VENDOR_ID
}

/// The physical address of the function's common configuration structure.
pub fn common_config_address<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    cam: &C,
    function: DeviceFunction,
) -> Result<u64, &'static str> {
    let cap = root
        .capabilities(function)
        .find(|c| {
            c.id == CAPABILITY_VENDOR && (c.private_header >> 8) as u8 == VIRTIO_PCI_CAP_COMMON_CFG
        })
        .ok_or("no virtio common configuration capability (a legacy-only device)")?;
    let bar = cam.read_word(function, cap.offset + CAP_BAR) as u8;
    let offset = cam.read_word(function, cap.offset + CAP_OFFSET);
    let (address, size) = root
        .bar_info(function, bar)
        .map_err(|_| "the common configuration names an invalid BAR")?
        .and_then(|info| info.memory_address_size())
        .ok_or("the common configuration is not in a memory BAR")?;
    if address == 0 || u64::from(offset) >= size {
        return Err("the common configuration lies outside its BAR");
    }
    Ok(address + u64::from(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// One function's configuration space; BAR registers behave as a 16 KiB 64-bit BAR.
    #[derive(Clone)]
    struct FakeCam(Rc<RefCell<[u32; 64]>>);

    impl ConfigurationAccess for FakeCam {
        fn read_word(&self, _f: DeviceFunction, offset: u8) -> u32 {
            self.0.borrow()[offset as usize / 4]
        }

        fn write_word(&mut self, _f: DeviceFunction, offset: u8, data: u32) {
            let i = offset as usize / 4;
            let mut regs = self.0.borrow_mut();
            regs[i] = match i {
                // BAR 4 (64-bit, 16 KiB): size bits read back as zero.
                8 => (data & !0x3fff) | 0xc,
                _ => data,
            };
        }

        unsafe fn unsafe_clone(&self) -> Self {
            self.clone()
        }
    }

    const FUNCTION: DeviceFunction = DeviceFunction {
        bus: 0,
        device: 3,
        function: 0,
    };

    fn virtio_rng() -> FakeCam {
        let mut regs = [0u32; 64];
        regs[0] = 0x1005_1af4; // transitional entropy device
        regs[1] = 0x0010_0006; // capabilities list; memory, bus master
        regs[3] = 0; // header type 0
        regs[8] = 0xc000_400c; // BAR 4: 64-bit prefetchable at 0xc0004000
        regs[9] = 0;
        regs[0x34 / 4] = 0x40;
        regs[0x40 / 4] = 0x0310_5009; // vendor cap, next 0x50, len 16, cfg_type 3 (ISR)
        regs[0x44 / 4] = 4;
        regs[0x48 / 4] = 0x1000;
        regs[0x50 / 4] = 0x0110_0009; // vendor cap, last, len 16, cfg_type 1 (common)
        regs[0x54 / 4] = 4;
        regs[0x58 / 4] = 0x0;
        FakeCam(Rc::new(RefCell::new(regs)))
    }

    #[test]
    fn finds_the_common_configuration_in_its_bar() {
        let cam = virtio_rng();
        assert!(is_virtio(&cam, FUNCTION));
        let mut root = PciRoot::new(cam.clone());
        assert_eq!(
            common_config_address(&mut root, &cam, FUNCTION),
            Ok(0xc000_4000)
        );
        // Sizing restored the BAR.
        assert_eq!(cam.0.borrow()[8], 0xc000_400c);
    }

    #[test]
    fn a_legacy_device_has_no_common_configuration() {
        let cam = virtio_rng();
        cam.0.borrow_mut()[0x50 / 4] = 0x0310_0009; // the second capability is ISR too
        let mut root = PciRoot::new(cam.clone());
        assert!(common_config_address(&mut root, &cam, FUNCTION).is_err());
        cam.0.borrow_mut()[0] = 0x1234_8086;
        assert!(!is_virtio(&cam, FUNCTION));
    }
}
