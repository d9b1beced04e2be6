//! The virtio foundation on every machine a mewz image boots on: a device is found, answers,
//! and its interrupt wakes the CPU (`mewz.selftest=virtio`, with a virtio entropy device).
//!
//! The machines are given by their QEMU command lines, as other runners (urunc) boot the
//! images: q35 with qboot (PCI left unconfigured, MSI-X only), pc with SeaBIOS (urunc's
//! x86_64 line), and `virt` with GICv2 and GICv3 (virtio-mmio, GIC SPIs; and virtio-pci on the
//! PCIe host bridge, as urunc attaches its NIC: MSI-X through GICv2m, or INTx with GICv3).
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

mod common;

use common::{arches, kernel_image};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Boots `image` with `machine` (QEMU arguments) and the kernel command line; returns QEMU's
/// exit status and the console.
fn boot(arch: &str, machine: &[&str], image: &Path, cmdline: &str) -> (Option<i32>, String) {
    let mut cmd = Command::new(format!("qemu-system-{arch}"));
    cmd.args([
        "-accel", "tcg", "-m", "256M", "-nic", "none", "-display", "none",
    ])
    .args(["-monitor", "none", "-no-reboot", "-serial", "stdio"])
    .args(machine)
    .arg("-kernel")
    .arg(image)
    .args(["-append", cmdline])
    .stdin(Stdio::null());
    if arch == "x86_64" {
        cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
    } else {
        cmd.args(["-semihosting-config", "enable=on,target=native"]);
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("starting QEMU");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
    )
}

/// QEMU's status when the guest exited with 0 (x86: isa-debug-exit writes (0 << 1) | 1).
fn success(arch: &str) -> i32 {
    if arch == "x86_64" { 1 } else { 0 }
}

/// The machines of `arch`: a name, the QEMU arguments, and how to attach an entropy device.
fn machines(arch: &str) -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    if arch == "x86_64" {
        vec![
            (
                "q35 + qboot",
                vec![
                    "-M",
                    "q35",
                    "-bios",
                    "qboot.rom",
                    "-cpu",
                    "max",
                    "-vga",
                    "none",
                ],
                "virtio-rng-pci",
            ),
            (
                // urunc's line: no -M (pc, SeaBIOS), modern-only virtio-pci devices.
                "pc + SeaBIOS",
                vec!["-L", "/usr/share/qemu", "-vga", "none"],
                "virtio-rng-pci,disable-legacy=on,disable-modern=off",
            ),
        ]
    } else {
        vec![
            (
                "virt, GICv2",
                vec!["-M", "virt", "-cpu", "max"],
                "virtio-rng-device",
            ),
            (
                "virt, GICv3",
                vec!["-M", "virt,gic-version=3", "-cpu", "max"],
                "virtio-rng-device",
            ),
            (
                // urunc's arm64 line: the device on the PCIe host bridge; GICv2m messages.
                "virt, GICv2, PCIe (MSI-X)",
                vec!["-M", "virt", "-cpu", "max"],
                "virtio-rng-pci,disable-legacy=on,disable-modern=off",
            ),
            (
                // No GICv2m frame: the function's INTx pin through the interrupt map.
                "virt, GICv3, PCIe (INTx)",
                vec!["-M", "virt,gic-version=3", "-cpu", "max"],
                "virtio-rng-pci",
            ),
        ]
    }
}

#[test]
fn a_virtio_device_is_found_and_its_interrupt_wakes_the_cpu() {
    for arch in arches() {
        let image = kernel_image(&arch);
        for (name, mut machine, rng) in machines(&arch) {
            machine.extend(["-device", rng]);
            let (status, console) = boot(&arch, &machine, &image, "mewz.selftest=virtio");
            assert_eq!(status, Some(success(&arch)), "{arch} {name}:\n{console}");
            assert!(
                console.contains("selftest virtio: ok"),
                "{arch} {name}:\n{console}"
            );
            // The request completed by the device's interrupt, not by the fallback timer.
            let line = console
                .lines()
                .find(|l| l.contains("interrupt(s)"))
                .unwrap_or_default();
            assert!(
                line.contains("EntropySource device at") && !line.contains(" 0 interrupt(s)"),
                "{arch} {name}: {line}"
            );
            let bus = if rng.starts_with("virtio-rng-pci") {
                "at pci "
            } else {
                "at mmio "
            };
            assert!(line.contains(bus), "{arch} {name}: {line}");
        }
    }
}

#[test]
fn without_a_device_the_check_fails_and_says_why() {
    for arch in arches() {
        let image = kernel_image(&arch);
        let (_, machine, _) = machines(&arch).swap_remove(0);
        let (status, console) = boot(&arch, &machine, &image, "mewz.selftest=virtio");
        // Exit status 1: x86 reports (1 << 1) | 1.
        let failed = if arch == "x86_64" { 3 } else { 1 };
        assert_eq!(status, Some(failed), "{arch}:\n{console}");
        assert!(
            console.contains("selftest virtio: FAILED: no virtio entropy device"),
            "{arch}:\n{console}"
        );
    }
}
