//! `mewz.selftest=virtio`: a virtio device is found, answers a request, and its interrupt
//! wakes the CPU. It uses the entropy device (QEMU `-device virtio-rng-pci` on x86_64,
//! `-device virtio-rng-device` on aarch64), whose requests the device completes on its own.

use super::{KernelHal, VirtioDevice};
use crate::kprintln;
use crate::platform::platform;
use alloc::vec::Vec;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceType, Transport};

/// Longest wait for the device; the timer ends a wait that no device interrupt ends.
const DEADLINE_NS: u64 = 2_000_000_000;

bitflags::bitflags! {
    /// The entropy device has no feature bits of its own.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const VERSION_1 = super::FEATURE_VERSION_1;
    }
}

pub fn entropy_interrupt_wakes_the_cpu() -> Result<(), &'static str> {
    let mut dev = super::take(DeviceType::EntropySource).ok_or(
        "no virtio entropy device (QEMU: -device virtio-rng-pci, or virtio-rng-device on aarch64)",
    )?;
    if !dev.has_interrupt() {
        return Err("the platform routed no interrupt for the device");
    }
    dev.transport.begin_init(Features::VERSION_1);
    let mut queue = VirtQueue::<KernelHal, 8>::new(&mut dev.transport, 0, false, false)
        .map_err(|_| "cannot set up the request queue")?;
    dev.transport.finish_init();
    if dev.transport.vector_refused() {
        return Err("the device refused its MSI-X vector");
    }
    let mut buf: Vec<u8> = vec![0; 64];
    let before = dev.interrupts();
    let start = platform().monotonic_ns();
    // SAFETY: `buf` stays alive and untouched until `pop_used` gives it back below.
    let token = unsafe { queue.add(&[], &mut [&mut buf]) }.map_err(|_| "cannot queue a request")?;
    if queue.should_notify() {
        dev.transport.notify(0);
    }
    // Wait first, before the device's status is read: the device may complete the request
    // while the notification is handled, and its interrupt must then be pending and end this
    // wait at once. Reading the status first would lower a level-triggered line (PCI INTx)
    // before the CPU could take it, and prove nothing.
    wait_for_device(&dev, start)?;
    let mut waits = 1;
    loop {
        dev.ack_interrupt();
        if queue.can_pop() {
            break;
        }
        wait_for_device(&dev, start)?;
        waits += 1;
    }
    // SAFETY: the same buffer as in `add`, which the device has finished with.
    let len = unsafe { queue.pop_used(token, &[], &mut [&mut buf]) }
        .map_err(|_| "the device returned a malformed completion")?;
    let interrupts = dev.interrupts() - before;
    if interrupts == 0 {
        return Err("the device's interrupt never came (the timer ended the wait)");
    }
    if len == 0 || buf[..len as usize].iter().all(|&b| b == 0) {
        return Err("the device returned no random bytes");
    }
    kprintln!(
        "selftest virtio: {:?} device at {} ({}): {len} bytes, {interrupts} interrupt(s), {waits} wait(s), {} us",
        dev.kind(),
        dev.location,
        dev.interrupt_name(),
        (platform().monotonic_ns() - start) / 1000
    );
    Ok(())
}

/// Waits for an interrupt, with the timer as a fallback so that a missing device interrupt is
/// reported instead of hanging.
fn wait_for_device(dev: &VirtioDevice, start: u64) -> Result<(), &'static str> {
    let p = platform();
    let waited = p.monotonic_ns().saturating_sub(start);
    if waited >= DEADLINE_NS {
        return Err("the device did not answer within 2 s");
    }
    let before = dev.interrupts();
    let timer_before = p.timer_interrupts();
    p.arm_timer(DEADLINE_NS - waited);
    p.wait_for_interrupt();
    if dev.interrupts() == before && p.timer_interrupts() != timer_before {
        return Err("the device's interrupt never came (the timer ended the wait)");
    }
    Ok(())
}
