//! Memory sizes for `mewz run`: the machine's, the app's declared minimum, and the one-line
//! hint when the machine is too small for the app.
//!
//! The kernel judges the same way (`mewz_kernel::footprint`): a declared minimum beyond what
//! the machine may commit is refused, and what cannot be told before boot comes back as exit status
//! `ExitCode::OUT_OF_MEMORY` with a note on the exit channel (see `mewz_abi::exit`).

use crate::targets::Profile;
use mewz_abi::exit::{NOTE_DECLARED_MEMORY_MIB, NOTE_MEMORY_EXHAUSTED_MIB};
use mewz_kernel::footprint::{MachineTooSmall, check_declared, machine_mib};
use std::path::Path;

/// Bytes of a QEMU `-m` value (`512`, `16M`, `1G`, `1.5G`, `size=64M,maxmem=1G`; MiB when
/// no unit is given), or `None` for what it cannot read.
pub fn qemu_memory_bytes(value: &str) -> Option<u64> {
    let size = value.split(',').next()?;
    let size = size.strip_prefix("size=").unwrap_or(size);
    let split = size
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(size.len());
    let (number, unit) = size.split_at(split);
    let shift = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" | "M" => 20,
        "K" => 10,
        "G" => 30,
        "T" => 40,
        _ if unit.eq_ignore_ascii_case("b") => 0,
        _ => return None,
    };
    let bytes = number.parse::<f64>().ok()? * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// The machine's memory: `vm_memory` (a `-m` value), else the profile's own `-m`.
pub fn machine_bytes(vm_memory: Option<&str>, profile: &Profile) -> Option<u64> {
    let default = profile
        .qemu
        .args
        .windows(2)
        .find(|w| w[0] == "-m")
        .map(|w| w[1].as_str());
    qemu_memory_bytes(vm_memory.or(default)?)
}

/// The minimum of the module's own linear memory, in bytes (`None`: no memory, or not a
/// module this can read; the build reports what is wrong with it).
pub fn declared_memory_bytes(wasm: &[u8]) -> Option<u64> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::MemorySection(memories) = payload.ok()? {
            let memory = memories.into_iter().next()?.ok()?;
            let page = 1u64 << memory.page_size_log2.unwrap_or(16);
            return memory.initial.checked_mul(page);
        }
    }
    None
}

/// Whether `wasm`'s declared memory fits a machine of `machine_bytes` (`None`: unknown).
pub fn check_before_boot(wasm: &[u8], machine_bytes: Option<u64>) -> Result<(), MachineTooSmall> {
    match (declared_memory_bytes(wasm), machine_bytes) {
        (Some(minimum), Some(machine)) => check_declared(minimum, machine),
        _ => Ok(()),
    }
}

/// How much of the machine's RAM, from its start, the boot itself takes: `bytes`, and `what`
/// takes them, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootNeed {
    pub bytes: u64,
    pub what: &'static str,
}

/// QEMU's `virt` board puts the device tree (1 MiB) at the first 2 MiB boundary after an arm64
/// kernel (`hw/arm/boot.c`), and refuses to start when RAM ends before it.
const ARM64_DTB_ALIGN: u64 = 2 << 20;
const ARM64_DTB_BYTES: u64 = 1 << 20;

/// What booting `image` takes of a machine whose RAM starts at `ram_base`: an ELF image's
/// segments at their physical addresses (x86_64), or an arm64 Image (its `text_offset` and
/// `image_size`, .bss included) and the device tree after it. `None` for what it cannot read.
pub fn boot_need(image: &Path, ram_base: u64) -> Option<BootNeed> {
    use object::read::elf::{FileHeader, ProgramHeader};
    use std::io::Read;
    // The headers come first; the rest of the file (code, baked files) is not needed.
    let mut head = Vec::new();
    std::fs::File::open(image)
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut head)
        .ok()?;
    if head.get(56..60) == Some(b"ARM\x64") {
        let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap());
        let kernel_end = word(8).checked_add(word(16))?;
        return Some(BootNeed {
            bytes: kernel_end.checked_next_multiple_of(ARM64_DTB_ALIGN)? + ARM64_DTB_BYTES,
            what: "the kernel image and the device tree after it, which end at",
        });
    }
    let elf = object::elf::FileHeader64::<object::Endianness>::parse(&*head).ok()?;
    let endian = elf.endian().ok()?;
    let end = elf
        .program_headers(endian, &*head)
        .ok()?
        .iter()
        .filter(|ph| ph.p_type(endian) == object::elf::PT_LOAD)
        .map(|ph| ph.p_paddr(endian).saturating_add(ph.p_memsz(endian)))
        .max()?;
    Some(BootNeed {
        bytes: end.saturating_sub(ram_base),
        what: "the kernel image, which ends at",
    })
}

/// Whether a machine of `machine_bytes` holds what its boot needs; if not, one line saying so,
/// with the hint (`added_mib`: as for [`hint_after_exit`]). Without this an x86_64 loader
/// writes the image past the end of RAM and the machine hangs, and QEMU's aarch64 board stops
/// with a status the app could have given.
pub fn check_image_fits(need: BootNeed, machine_bytes: u64, added_mib: u64) -> Result<(), String> {
    if need.bytes <= machine_bytes {
        return Ok(());
    }
    let needed = need
        .bytes
        .div_ceil(1 << 20)
        .saturating_sub(added_mib)
        .max(1);
    Err(format!(
        "the machine's {} cannot hold {} {} KiB; {}",
        Mib(machine_bytes),
        need.what,
        need.bytes.div_ceil(1024),
        needs(needed, needed)
    ))
}

/// A size in MiB for messages (KiB when it is not a whole number of MiB).
struct Mib(u64);

impl std::fmt::Display for Mib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_multiple_of(1 << 20) {
            write!(f, "{} MiB", self.0 >> 20)
        } else {
            write!(f, "{} KiB", self.0.div_ceil(1024))
        }
    }
}

/// The one-line hint for a machine too small for the app's declaration, before boot.
pub fn hint_before_boot(e: &MachineTooSmall) -> String {
    needs(e.needed_mib(), e.needed_mib())
}

/// The one-line hint after an `OUT_OF_MEMORY` exit of a machine of `machine_bytes`, from
/// what the kernel noted (or, without notes, from the machine size alone). `added_mib` is what
/// `mewz run` gave the machine beyond the `--vm-memory` asked for (a large image, packed
/// directories mapped as RAM): it comes again with any size, so the hint leaves it out.
pub fn hint_after_exit(notes: &[String], machine_bytes: Option<u64>, added_mib: u64) -> String {
    let note = |key: &str| {
        notes.iter().find_map(|n| {
            n.strip_prefix(key)?
                .strip_prefix('=')?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    if let Some(mib) = note(NOTE_DECLARED_MEMORY_MIB) {
        // The declaration is all that is missing: that size is enough to start.
        let asked = mib.saturating_sub(added_mib).max(1);
        return needs(asked, asked);
    }
    // The app touched all the machine had (or the note is lost): at least one MiB more, and
    // twice the machine is the next size worth a try.
    let had = note(NOTE_MEMORY_EXHAUSTED_MIB)
        .or(machine_bytes.map(machine_mib))
        .unwrap_or(0)
        .saturating_sub(added_mib);
    needs(had + 1, (2 * had).max(had + 1))
}

fn needs(needed_mib: u64, suggested_mib: u64) -> String {
    format!("the app needs at least {needed_mib} MiB: try --vm-memory {suggested_mib}M")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_sizes_default_to_mib() {
        assert_eq!(qemu_memory_bytes("512"), Some(512 << 20));
        assert_eq!(qemu_memory_bytes("16M"), Some(16 << 20));
        assert_eq!(qemu_memory_bytes("16m"), Some(16 << 20));
        assert_eq!(
            qemu_memory_bytes("8MiB"),
            None,
            "QEMU takes M or MB, not MiB"
        );
        assert_eq!(qemu_memory_bytes("8MB"), Some(8 << 20));
        assert_eq!(qemu_memory_bytes("1G"), Some(1 << 30));
        assert_eq!(qemu_memory_bytes("1.5G"), Some(3 << 29));
        assert_eq!(qemu_memory_bytes("2048K"), Some(2 << 20));
        assert_eq!(qemu_memory_bytes("size=64M,maxmem=1G"), Some(64 << 20));
        assert_eq!(qemu_memory_bytes("lots"), None);
        assert_eq!(qemu_memory_bytes(""), None);
        assert_eq!(qemu_memory_bytes("0"), None);
    }

    #[test]
    fn the_declared_minimum_is_read_from_the_memory_section() {
        let wasm = wat::parse_str("(module (memory 3 10))").unwrap();
        assert_eq!(declared_memory_bytes(&wasm), Some(3 * 65536));
        let none = wat::parse_str("(module)").unwrap();
        assert_eq!(declared_memory_bytes(&none), None);
        assert_eq!(declared_memory_bytes(b"not wasm"), None);
    }

    #[test]
    fn too_large_a_declaration_is_caught_before_boot() {
        let go = wat::parse_str("(module (memory 273))").unwrap();
        assert_eq!(
            check_before_boot(&go, Some(16 << 20)),
            Ok(()),
            "Go's headroom"
        );
        let wasm = wat::parse_str("(module (memory 600))").unwrap();
        let err = check_before_boot(&wasm, Some(16 << 20)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the app declares 38400 KiB of initial memory, more than twice the machine's 16 MiB"
        );
        assert_eq!(
            hint_before_boot(&err),
            "the app needs at least 19 MiB: try --vm-memory 19M"
        );
        assert_eq!(check_before_boot(&wasm, Some(19 << 20)), Ok(()));
        assert_eq!(check_before_boot(&wasm, None), Ok(()));
    }

    #[test]
    fn an_image_beyond_the_machine_is_one_line_before_boot() {
        // An x86_64 hello: loaded from 1 MiB, 1.9 MiB with its .bss.
        let x86 = BootNeed {
            bytes: 0x1e_3650,
            what: "the kernel image, which ends at",
        };
        assert_eq!(check_image_fits(x86, 2 << 20, 0), Ok(()));
        assert_eq!(
            check_image_fits(x86, 1 << 20, 0).unwrap_err(),
            "the machine's 1 MiB cannot hold the kernel image, which ends at 1934 KiB; the app needs at least 2 MiB: try --vm-memory 2M"
        );
        assert_eq!(
            check_image_fits(x86, 1536 << 10, 0).unwrap_err(),
            "the machine's 1536 KiB cannot hold the kernel image, which ends at 1934 KiB; the app needs at least 2 MiB: try --vm-memory 2M"
        );
        let tmp = tempfile::tempdir().unwrap();
        // An arm64 Image header: text_offset 2 MiB, image_size 1.2 MiB (as a hello's).
        let mut arm = vec![0u8; 4096];
        arm[8..16].copy_from_slice(&(2u64 << 20).to_le_bytes());
        arm[16..24].copy_from_slice(&1_261_568u64.to_le_bytes());
        arm[56..60].copy_from_slice(b"ARM\x64");
        let image = tmp.path().join("arm.img");
        std::fs::write(&image, arm).unwrap();
        let need = boot_need(&image, 0x4000_0000).unwrap();
        assert_eq!(need.bytes, 5 << 20, "the device tree at 4 MiB, 1 MiB of it");
        assert_eq!(check_image_fits(need, 5 << 20, 0), Ok(()));
        assert_eq!(
            check_image_fits(need, 4 << 20, 0).unwrap_err(),
            "the machine's 4 MiB cannot hold the kernel image and the device tree after it, which end at 5120 KiB; the app needs at least 5 MiB: try --vm-memory 5M"
        );
        let mut obj = object::write::Object::new(
            object::BinaryFormat::Elf,
            object::Architecture::X86_64,
            object::Endianness::Little,
        );
        obj.add_section(Vec::new(), b".text".to_vec(), object::SectionKind::Text);
        let object = tmp.path().join("x.o");
        std::fs::write(&object, obj.write().unwrap()).unwrap();
        assert_eq!(
            boot_need(&object, 0),
            None,
            "a relocatable object loads nowhere"
        );
        assert_eq!(boot_need(Path::new("/nonexistent"), 0), None);
    }

    #[test]
    fn hints_after_exit_come_from_the_notes_or_the_machine() {
        let declared = [format!("{NOTE_DECLARED_MEMORY_MIB}=18")];
        assert_eq!(
            hint_after_exit(&declared, Some(16 << 20), 0),
            "the app needs at least 18 MiB: try --vm-memory 18M"
        );
        assert_eq!(
            hint_after_exit(&declared, Some(16 << 20), 4),
            "the app needs at least 14 MiB: try --vm-memory 14M",
            "4 MiB of mapped files come with any --vm-memory"
        );
        let exhausted = [format!("{NOTE_MEMORY_EXHAUSTED_MIB}=8")];
        assert_eq!(
            hint_after_exit(&exhausted, Some(8 << 20), 0),
            "the app needs at least 9 MiB: try --vm-memory 16M"
        );
        let with_files = [format!("{NOTE_MEMORY_EXHAUSTED_MIB}=26")];
        assert_eq!(
            hint_after_exit(&with_files, Some(26 << 20), 18),
            "the app needs at least 9 MiB: try --vm-memory 16M",
            "an 8M machine with 18 MiB of files mapped beside it"
        );
        assert_eq!(
            hint_after_exit(&[], Some(32 << 20), 0),
            "the app needs at least 33 MiB: try --vm-memory 64M"
        );
        assert_eq!(
            hint_after_exit(&["something-else=1".into()], None, 0),
            "the app needs at least 1 MiB: try --vm-memory 1M"
        );
    }
}
