//! The transport drivers use: virtio-drivers' own, plus the MSI-X routing it leaves out.
//!
//! A virtio-pci device signals through MSI-X only if the driver names, in the common
//! configuration structure, the MSI-X table entry for configuration changes (`msix_config`)
//! and for each queue (`queue_msix_vector`); virtio-drivers 0.13 writes neither, and a device
//! reset clears both. [`DeviceTransport`] writes them at the moments the virtio spec gives
//! (after the reset, and while each queue is set up, before it is enabled), so drivers need not
//! know how their device interrupts.

use core::ptr::NonNull;
use safe_mmio::UniqueMmioPointer;
use safe_mmio::fields::ReadPureWrite;
use virtio_drivers::transport::{
    DeviceStatus, DeviceType, InterruptStatus, SomeTransport, Transport,
};
use virtio_drivers::{PhysAddr, Result};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Offsets in `virtio_pci_common_cfg` (virtio 1.2, 4.1.4.3).
const MSIX_CONFIG: usize = 0x10;
const QUEUE_SELECT: usize = 0x16;
const QUEUE_MSIX_VECTOR: usize = 0x1a;
/// What the device reads back when it could not take a vector.
const NO_VECTOR: u16 = 0xffff;

/// Where a virtio-pci device's vector registers are, and the MSI-X table entry the platform
/// routed to the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixVectors {
    /// Virtual address of the device's common configuration structure (mapped uncached).
    pub common_config: usize,
    /// The MSI-X table entry every event of the device uses.
    pub entry: u16,
}

impl MsixVectors {
    fn register(&self, offset: usize) -> UniqueMmioPointer<'static, ReadPureWrite<u16>> {
        let address = (self.common_config + offset) as *mut ReadPureWrite<u16>;
        // SAFETY: the platform hands over the address of the device's common configuration
        // structure, mapped as device memory for the kernel's lifetime; these 16-bit registers
        // lie inside it and are aligned.
        unsafe { UniqueMmioPointer::new(NonNull::new(address).expect("mapped registers")) }
    }

    fn write(&self, offset: usize, value: u16) {
        self.register(offset).write(value);
    }

    fn read(&self, offset: usize) -> u16 {
        self.register(offset).read()
    }
}

/// A device's transport: virtio-drivers' [`SomeTransport`] with MSI-X vectors programmed.
#[derive(Debug)]
pub struct DeviceTransport {
    inner: SomeTransport<'static>,
    msix: Option<MsixVectors>,
    /// Set when the device refused a vector: it then cannot interrupt.
    vector_refused: bool,
}

impl DeviceTransport {
    pub fn new(inner: SomeTransport<'static>, msix: Option<MsixVectors>) -> DeviceTransport {
        DeviceTransport {
            inner,
            msix,
            vector_refused: false,
        }
    }

    pub fn uses_msix(&self) -> bool {
        self.msix.is_some()
    }

    /// Whether the device refused an MSI-X vector (its interrupts then never come).
    pub fn vector_refused(&self) -> bool {
        self.vector_refused
    }

    fn set_vector(&mut self, register: usize) {
        if let Some(m) = self.msix {
            m.write(register, m.entry);
            if m.read(register) == NO_VECTOR {
                self.vector_refused = true;
            }
        }
    }
}

impl Transport for DeviceTransport {
    fn device_type(&self) -> DeviceType {
        self.inner.device_type()
    }

    fn read_device_features(&mut self) -> u64 {
        self.inner.read_device_features()
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.inner.write_driver_features(driver_features)
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.inner.max_queue_size(queue)
    }

    fn notify(&mut self, queue: u16) {
        self.inner.notify(queue)
    }

    fn get_status(&self) -> DeviceStatus {
        self.inner.get_status()
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.inner.set_status(status);
        // The reset (status 0) clears the configuration vector; name it again as soon as the
        // driver takes the device over.
        if status == DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER {
            self.set_vector(MSIX_CONFIG);
        }
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.inner.set_guest_page_size(guest_page_size)
    }

    fn requires_legacy_layout(&self) -> bool {
        self.inner.requires_legacy_layout()
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        // Before the queue is enabled (inside `queue_set`), as the spec orders it.
        if let Some(m) = self.msix {
            m.write(QUEUE_SELECT, queue);
            self.set_vector(QUEUE_MSIX_VECTOR);
        }
        self.inner
            .queue_set(queue, size, descriptors, driver_area, device_area)
    }

    fn queue_unset(&mut self, queue: u16) {
        self.inner.queue_unset(queue)
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.inner.queue_used(queue)
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.inner.ack_interrupt()
    }

    fn read_config_generation(&self) -> u32 {
        self.inner.read_config_generation()
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T> {
        self.inner.read_config_space(offset)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<()> {
        self.inner.write_config_space(offset, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::tests::FakeMmioFrame;

    /// A common configuration structure in RAM that keeps what is written (a device that
    /// takes every vector).
    fn common_config() -> Box<[u16; 32]> {
        Box::new([0; 32])
    }

    fn reg(cfg: &[u16; 32], offset: usize) -> u16 {
        // SAFETY: reading our own allocation, written with volatile stores.
        unsafe { core::ptr::read_volatile(&cfg[offset / 2]) }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct NoFeatures(u64);
    bitflags::bitflags! {
        impl NoFeatures: u64 {}
    }

    #[test]
    fn names_the_entry_for_config_changes_and_every_queue() {
        let mut frame = FakeMmioFrame::new(3);
        let mut cfg = common_config();
        let msix = MsixVectors {
            common_config: cfg.as_mut_ptr() as usize,
            entry: 5,
        };
        let mut t = DeviceTransport::new(frame.transport(), Some(msix));
        assert_eq!(reg(&cfg, MSIX_CONFIG), 0);
        t.begin_init(NoFeatures::empty());
        assert_eq!(reg(&cfg, MSIX_CONFIG), 5, "after the reset");
        t.queue_set(3, 64, 0x1000, 0x2000, 0x3000);
        assert_eq!(reg(&cfg, QUEUE_SELECT), 3);
        assert_eq!(reg(&cfg, QUEUE_MSIX_VECTOR), 5);
        assert!(!t.vector_refused());
        assert!(t.uses_msix());
        // The inner transport still set the queue up (virtio-mmio QueueReady).
        assert_eq!(frame.register(0x44), 1);
    }

    #[test]
    fn a_refused_vector_is_noticed() {
        let mut frame = FakeMmioFrame::new(3);
        let mut cfg = common_config();
        // A device that cannot take a vector reads back NO_VECTOR; RAM reads back what was
        // written, so asking for NO_VECTOR itself takes that path.
        let msix = MsixVectors {
            common_config: cfg.as_mut_ptr() as usize,
            entry: NO_VECTOR,
        };
        let mut t = DeviceTransport::new(frame.transport(), Some(msix));
        assert!(!t.vector_refused());
        t.queue_set(1, 64, 0x1000, 0x2000, 0x3000);
        assert!(t.vector_refused());
    }

    #[test]
    fn without_msix_nothing_extra_is_written() {
        let mut frame = FakeMmioFrame::new(3);
        let mut t = DeviceTransport::new(frame.transport(), None);
        t.begin_init(NoFeatures::empty());
        t.queue_set(0, 64, 0x1000, 0x2000, 0x3000);
        assert!(!t.uses_msix());
        assert_eq!(t.device_type(), DeviceType::Console);
    }
}
