//! Virtio devices, for drivers written once for every machine.
//!
//! The platform *finds* the devices — x86_64: virtio-pci functions on the PCI bus, interrupting
//! through MSI-X; aarch64: the device tree's virtio-mmio nodes, each on a GIC SPI — and hands
//! them over once, after `init_devices` ([`crate::Platform::take_virtio_devices`]).
//! [`discover`] keeps them here until a driver [`take`]s one. Queues and DMA buffers come from
//! the kernel heap through [`KernelHal`].
//!
//! How a driver uses a device:
//! ```ignore
//! let mut dev = virtio::take(DeviceType::Console).ok_or("no virtio console")?;
//! let features = dev.transport.begin_init(Features::MULTIPORT | Features::VERSION_1);
//! let mut rx = VirtQueue::<KernelHal, 32>::new(&mut dev.transport, 0, false, false)?;
//! dev.transport.finish_init();
//! // ... add buffers, `dev.transport.notify(0)` ...
//! loop {
//!     // Acknowledge first, then look: an event after the look still wakes the wait below.
//!     dev.ack_interrupt();
//!     if rx.can_pop() {
//!         break;
//!     }
//!     platform().wait_for_interrupt(); // the device's interrupt ends the wait: no busy polling
//! }
//! ```
//! A device's interrupt only wakes the CPU (the kernel runs with interrupts off outside
//! `wait_for_interrupt`); drivers then look at their queues. The platform may keep a line masked
//! from when it fires until [`VirtioDevice::ack_interrupt`], so that a device nobody services
//! cannot keep waking the CPU.

mod hal;
pub mod pci;
pub mod selftest;
mod transport;

pub use hal::KernelHal;
pub use transport::{DeviceTransport, MsixVectors};
pub use virtio_drivers::transport::DeviceType;

use crate::platform::Platform;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use virtio_drivers::transport::{InterruptStatus, SomeTransport, Transport};

/// `VIRTIO_F_VERSION_1`: a driver must accept it when a (modern) device offers it; every
/// driver's feature set includes it.
pub const FEATURE_VERSION_1: u64 = 1 << 32;

/// How a device's interrupt reaches the CPU, as the platform routed it.
#[derive(Debug)]
pub struct DeviceInterrupt {
    /// The platform's name for the line (aarch64: the GIC interrupt ID; x86_64: the vector).
    pub line: u32,
    /// Interrupts taken on this line since boot, counted by the platform's handler.
    pub count: &'static AtomicU64,
}

/// One device as the platform hands it over.
#[derive(Debug)]
pub struct FoundDevice {
    pub transport: SomeTransport<'static>,
    /// Where the device sits, for messages: `pci 00:03.0`, `mmio 0xa003e00`.
    pub location: String,
    /// `None` if the platform could not route the device's interrupt: its driver must poll.
    pub interrupt: Option<DeviceInterrupt>,
    /// For virtio-pci devices interrupting through MSI-X: the vector registers to program.
    pub msix: Option<MsixVectors>,
}

/// A device ready for its driver.
#[derive(Debug)]
pub struct VirtioDevice {
    pub transport: DeviceTransport,
    pub location: String,
    interrupt: InterruptLine,
}

/// A device's interrupt, for a driver that keeps the transport itself.
#[derive(Debug)]
pub struct InterruptLine(Option<DeviceInterrupt>);

impl InterruptLine {
    /// A line that never fires (a device the platform could not route): waits poll.
    pub const NONE: InterruptLine = InterruptLine(None);

    /// Lets the line through again; call it after acknowledging the device's interrupt and
    /// before looking at the queues.
    pub fn unmask(&self) {
        if let Some(irq) = &self.0 {
            crate::platform::platform().unmask_device_interrupt(irq.line);
        }
    }

    /// Whether the interrupt wakes the CPU (if not, a waiting driver must poll).
    pub fn routed(&self) -> bool {
        self.0.is_some()
    }

    /// Interrupts taken since boot (0 without an interrupt).
    pub fn count(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |i| i.count.load(Ordering::Relaxed))
    }
}

impl VirtioDevice {
    pub fn new(found: FoundDevice) -> VirtioDevice {
        VirtioDevice {
            transport: DeviceTransport::new(found.transport, found.msix),
            location: found.location,
            interrupt: InterruptLine(found.interrupt),
        }
    }

    /// The transport and the interrupt, for a driver that owns the transport.
    pub fn into_parts(self) -> (DeviceTransport, InterruptLine) {
        (self.transport, self.interrupt)
    }

    pub fn kind(&self) -> DeviceType {
        self.transport.device_type()
    }

    /// Acknowledges the device's interrupt and lets the line through again. Call it before
    /// looking at the queues, so that an event after the look wakes the next wait.
    pub fn ack_interrupt(&mut self) -> InterruptStatus {
        let status = self.transport.ack_interrupt();
        self.interrupt.unmask();
        status
    }

    /// Whether the device's interrupt wakes the CPU (if not, a waiting driver must poll).
    pub fn has_interrupt(&self) -> bool {
        self.interrupt.routed()
    }

    /// Interrupts this device raised since boot (0 without an interrupt).
    pub fn interrupts(&self) -> u64 {
        self.interrupt.count()
    }

    /// The interrupt, for messages: `interrupt 48`, `no interrupt (polled)`.
    pub fn interrupt_name(&self) -> String {
        match &self.interrupt.0 {
            Some(i) if self.transport.uses_msix() => format!("msi-x vector {:#x}", i.line),
            Some(i) => format!("interrupt {}", i.line),
            None => "no interrupt (polled)".into(),
        }
    }
}

/// Devices found and not yet taken by a driver.
static FOUND: Mutex<Vec<VirtioDevice>> = Mutex::new(Vec::new());

/// Takes the platform's devices into the registry (once, at boot) and logs them.
pub fn discover(p: &dyn Platform) {
    let found = p.take_virtio_devices();
    let mut registry = FOUND.lock();
    for f in found {
        let device = VirtioDevice::new(f);
        crate::klog!(
            "virtio: {:?} device at {}, {}",
            device.kind(),
            device.location,
            device.interrupt_name()
        );
        registry.push(device);
    }
}

/// Takes the first device of `kind` not yet taken.
pub fn take(kind: DeviceType) -> Option<VirtioDevice> {
    let mut registry = FOUND.lock();
    let i = registry.iter().position(|d| d.kind() == kind)?;
    Some(registry.remove(i))
}

/// Devices waiting for a driver (for tests and the log).
pub fn untaken() -> usize {
    FOUND.lock().len()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use core::ptr::NonNull;
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};

    /// A virtio-mmio register frame in RAM (version 2, the given device ID): enough for
    /// [`MmioTransport`] to accept it, and for tests to read back what the driver wrote.
    pub struct FakeMmioFrame(pub Box<[u32; 0x100 / 4 + 64]>);

    impl FakeMmioFrame {
        pub fn new(device_id: u32) -> FakeMmioFrame {
            let mut regs = Box::new([0u32; 0x100 / 4 + 64]);
            regs[0] = u32::from_le_bytes(*b"virt");
            regs[1] = 2;
            regs[2] = device_id;
            regs[0x34 / 4] = 256; // QueueNumMax
            FakeMmioFrame(regs)
        }

        pub fn transport(&mut self) -> SomeTransport<'static> {
            let header = NonNull::new(self.0.as_mut_ptr().cast::<VirtIOHeader>()).unwrap();
            // SAFETY: the frame is a live, aligned allocation of the register layout's size
            // that outlives the test using the transport (the tests keep it alive).
            let mmio = unsafe { MmioTransport::new(header, size_of::<[u32; 0x100 / 4 + 64]>()) };
            SomeTransport::Mmio(mmio.expect("fake frame accepted"))
        }

        pub fn register(&self, offset: usize) -> u32 {
            // SAFETY: reading our own allocation, which the transport writes with volatile stores.
            unsafe { core::ptr::read_volatile(&self.0[offset / 4]) }
        }
    }

    fn found(frame: &mut FakeMmioFrame, location: &str) -> FoundDevice {
        FoundDevice {
            transport: frame.transport(),
            location: location.into(),
            interrupt: None,
            msix: None,
        }
    }

    #[test]
    fn drivers_take_devices_by_kind_once() {
        let _guard = crate::wasi::testing::GLOBAL_STATE.lock();
        let mut entropy = FakeMmioFrame::new(4);
        let mut console = FakeMmioFrame::new(3);
        let mut console2 = FakeMmioFrame::new(3);
        FOUND.lock().clear();
        for (f, at) in [
            (&mut entropy, "mmio 0x1000"),
            (&mut console, "mmio 0x2000"),
            (&mut console2, "mmio 0x3000"),
        ] {
            FOUND.lock().push(VirtioDevice::new(found(f, at)));
        }
        assert!(take(DeviceType::Network).is_none());
        let c = take(DeviceType::Console).expect("a console");
        assert_eq!(c.location, "mmio 0x2000", "the first one found");
        assert_eq!(c.kind(), DeviceType::Console);
        assert!(!c.has_interrupt());
        assert_eq!(c.interrupts(), 0);
        assert_eq!(c.interrupt_name(), "no interrupt (polled)");
        assert_eq!(take(DeviceType::Console).unwrap().location, "mmio 0x3000");
        assert!(take(DeviceType::Console).is_none(), "each is taken once");
        assert_eq!(untaken(), 1);
        FOUND.lock().clear();
    }

    #[test]
    fn interrupts_are_counted_by_the_platform() {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let mut frame = FakeMmioFrame::new(4);
        let mut f = found(&mut frame, "mmio 0x1000");
        f.interrupt = Some(DeviceInterrupt {
            line: 48,
            count: &COUNT,
        });
        let dev = VirtioDevice::new(f);
        assert_eq!(dev.interrupt_name(), "interrupt 48");
        COUNT.fetch_add(3, Ordering::Relaxed);
        assert_eq!(dev.interrupts(), 3);
    }
}
