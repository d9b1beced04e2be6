//! Everything that touches the machine. Boot order is in `boot.rs`.

mod boot;
mod clock;
mod cpu;
mod exceptions;
mod gdt;
mod idt;
mod lapic;
mod paging;
pub mod pci;
mod pci_assign;
mod pic;
mod platform;
mod rtc;
mod serial;
mod virtio;
