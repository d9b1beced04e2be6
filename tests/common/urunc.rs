//! A package taken as urunc takes it: unpacked with umoci, its runtime spec's annotations
//! naming the files in its layers, the image booted with urunc's QEMU command line.

use super::tool;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The start of urunc's QEMU command line for a `mewz` unikernel on `arch`, with `-accel tcg`
/// in place of `-cpu host -enable-kvm` (on aarch64 `-cpu max`, TCG's stand-in for `-cpu host`:
/// `virt`'s default CPU is a 32-bit one). The caller adds the kernel, the network, the rest.
pub fn qemu_options(arch: &str) -> Vec<&'static str> {
    let mut options = vec!["-m", "256M", "-L", "/usr/share/qemu", "-accel", "tcg"];
    if arch == "aarch64" {
        options.extend(["-cpu", "max"]);
    }
    options.extend(["-nographic", "-vga", "none"]);
    if arch == "aarch64" {
        options.extend(["-M", "virt"]);
    }
    options
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// A package unpacked by umoci: the runtime spec it wrote and the container's root filesystem.
pub struct Unpacked {
    pub spec: Value,
    pub rootfs: PathBuf,
}

impl Unpacked {
    /// The file an annotation names, in the root filesystem (`None`: no such annotation).
    pub fn file(&self, annotation: &str) -> Option<PathBuf> {
        let path = self.spec["annotations"][annotation].as_str()?;
        Some(self.rootfs.join(path.trim_start_matches('/')))
    }

    /// The unikernel image (`com.urunc.unikernel.binary`).
    pub fn image(&self) -> PathBuf {
        self.file("com.urunc.unikernel.binary")
            .expect("the binary annotation")
    }

    /// The container's command (entrypoint and command).
    pub fn command(&self) -> Vec<&str> {
        self.spec["process"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect()
    }
}

/// Unpacks `tag` of the OCI layout `layout` with umoci into the bundle directory `bundle`.
pub fn unpack(layout: &Path, tag: &str, bundle: &Path) -> Unpacked {
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:{tag}", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    Unpacked {
        spec: json(&std::fs::read_to_string(bundle.join("config.json")).unwrap()),
        rootfs: bundle.join("rootfs"),
    }
}
