//! Everything that runs on the real CPU: boot, exceptions, MMU, devices, the platform.

mod boot;
mod exceptions;
mod gic;
mod paging;
mod pcie;
mod pl011;
mod pl031;
mod platform;
mod power;
mod random;
mod timer;
mod virtio;
