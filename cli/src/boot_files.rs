//! How `mewz run` hands packed directories to the machine.
//!
//! Small archives (under [`RAM_NODE_MIN`]) go in as QEMU's `-initrd` (a PVH module on x86_64,
//! `/chosen/linux,initrd-*` on aarch64): QEMU copies them into guest RAM, which costs nothing
//! at that size, and it is how any boot loader passes them.
//!
//! Large ones would make that copy the slowest part of the boot: QEMU reads an initrd or an
//! image into buffers and copies them into guest RAM page by page (200 MiB cost 0.2 s on
//! x86_64 and 1.6 s on aarch64 under TCG on the development VM). So the archive file becomes
//! guest RAM of its own instead — a second NUMA node backed by the file, mapped privately and
//! read lazily as the app reads — and the kernel learns where from `mewz.files-at=ADDR,LEN`.
//! Nothing is copied and boot time stays flat. An image with large baked directories starts
//! the same way: QEMU boots a copy of the image without them (its first few hundred KiB) and
//! the node maps them straight out of the image file.

use crate::targets::{ImageFormat, Profile};
use anyhow::{Context, Result};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Archives from this size on become RAM of their own; it is also the granule of that RAM
/// (QEMU sizes guest memory in 2 MiB steps), and the alignment and padding `mewz build` gives
/// large baked archives.
pub const RAM_NODE_MIN: u64 = mewz_abi::symbols::FILES_SECTION_ALIGN;

/// What QEMU gets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The image to boot: the one given, or a copy without its baked archive.
    pub image: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Arguments for the file-backed memory, if any.
    pub qemu_args: Vec<String>,
    /// `mewz.files-at=...` for the kernel, if the archive is mapped as RAM.
    pub kernel_word: Option<String>,
    /// Memory of the whole machine in MiB, files included (`None`: as the caller was told).
    pub memory_mib: Option<u64>,
}

/// Where a large archive lies in a file: `(offset, bytes mapped)`, both 2 MiB multiples.
fn large_archive_at(file: &Path, offset: u64) -> Result<Option<(u64, u64)>> {
    let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let len = f.metadata()?.len();
    let mut header = [0u8; mewz_pack::HEADER_SIZE];
    if offset + header.len() as u64 > len || f.read_exact_at(&mut header, offset).is_err() {
        return Ok(None);
    }
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap());
    let archive_len = word(32).saturating_add(word(40));
    let mapped = archive_len.next_multiple_of(RAM_NODE_MIN);
    let found = header[..8] == mewz_pack::MAGIC
        && archive_len >= RAM_NODE_MIN
        && offset.is_multiple_of(RAM_NODE_MIN)
        && offset + mapped <= len;
    Ok(found.then_some((offset, mapped)))
}

/// The large archive baked into `image`, if there is one: `mewz build` puts it at a 2 MiB
/// boundary of the file (after the kernel), padded to 2 MiB.
pub fn baked_archive(image: &Path) -> Result<Option<(u64, u64)>> {
    let len = std::fs::metadata(image)?.len();
    let mut offset = RAM_NODE_MIN;
    while offset < len {
        if let Some(found) = large_archive_at(image, offset)? {
            return Ok(Some(found));
        }
        offset += RAM_NODE_MIN;
    }
    Ok(None)
}

/// A copy of `image` that the loader reads without the archive at `offset`: for an ELF the
/// archive's segment is turned into `PT_NULL` (the copy is sparse where the archive was); an
/// arm64 Image ends with the archive, so the copy ends before it.
pub fn thin_image(profile: &Profile, image: &Path, offset: u64, out: &Path) -> Result<()> {
    use object::read::elf::{FileHeader, ProgramHeader};
    let bytes_before = std::fs::File::open(image)
        .and_then(|f| {
            let mut head = vec![0u8; offset as usize];
            f.read_exact_at(&mut head, 0)?;
            Ok(head)
        })
        .with_context(|| format!("reading {}", image.display()))?;
    let mut head = bytes_before;
    match profile.image {
        ImageFormat::Binary => std::fs::write(out, &head)?,
        ImageFormat::Elf => {
            let elf = object::elf::FileHeader64::<object::Endianness>::parse(&*head)
                .context("the image is not an ELF file")?;
            let endian = elf.endian()?;
            let phoff = elf.e_phoff(endian) as usize;
            let phentsize = usize::from(elf.e_phentsize(endian));
            let segment = elf
                .program_headers(endian, &*head)?
                .iter()
                .position(|ph| {
                    ph.p_offset(endian) == offset && ph.p_type(endian) == object::elf::PT_LOAD
                })
                .context("no segment holds the packed directories")?;
            // p_type is the first word of a program header.
            let at = phoff + segment * phentsize;
            head[at..at + 4].copy_from_slice(&object::elf::PT_NULL.to_le_bytes());
            let full = std::fs::metadata(image)?.len();
            let src = std::fs::File::open(image)?;
            let dst = std::fs::File::create(out)?;
            dst.write_all_at(&head, 0)?;
            // What follows the archive (section headers, symbols) is small.
            let (_, mapped) = large_archive_at(image, offset)?.unwrap_or((offset, 0));
            let tail_at = offset + mapped;
            let mut tail = vec![0u8; full.saturating_sub(tail_at) as usize];
            src.read_exact_at(&mut tail, tail_at)?;
            dst.write_all_at(&tail, tail_at)?;
            dst.set_len(full)?;
        }
    }
    Ok(())
}

/// Decides how the machine gets its files: `image` (booted as is, or thinned), a run-time
/// archive (`None` when there is none), `base_mib` of memory for everything else (`None` when
/// the machine's memory is not known as a number: then nothing becomes RAM of its own).
pub fn plan(
    profile: &Profile,
    image: &Path,
    archive: Option<&Path>,
    base_mib: Option<u64>,
    work: &Path,
) -> Result<Plan> {
    let mut plan = Plan {
        image: image.to_path_buf(),
        memory_mib: base_mib,
        ..Plan::default()
    };
    let Some(base_mib) = base_mib else {
        plan.initrd = archive.map(Path::to_path_buf);
        return Ok(plan);
    };
    // Where the archive to map lies: a run-time one (the baked one, if any, loses to it), or
    // the image's own.
    let (file, at) = match archive {
        Some(a) => match large_archive_at(a, 0)? {
            Some(at) => (a.to_path_buf(), at),
            None => {
                plan.initrd = Some(a.to_path_buf());
                return Ok(plan);
            }
        },
        None => match baked_archive(image)? {
            Some(at) => (image.to_path_buf(), at),
            None => return Ok(plan),
        },
    };
    let (offset, mapped) = at;
    let total_mib = base_mib + mapped / (1 << 20);
    // The node must follow the first one in guest RAM without a gap (see the profiles).
    if total_mib > profile.qemu.contiguous_ram_mib {
        plan.initrd = archive.map(Path::to_path_buf);
        return Ok(plan);
    }
    if archive.is_none() {
        let thin = work.join("thin.img");
        thin_image(profile, image, offset, &thin)?;
        plan.image = thin;
    }
    let address = profile.qemu.ram_base + (base_mib << 20);
    let archive_len = {
        let mut h = [0u8; 48];
        std::fs::File::open(&file)?.read_exact_at(&mut h, offset)?;
        u64::from_le_bytes(h[32..40].try_into().unwrap())
            + u64::from_le_bytes(h[40..48].try_into().unwrap())
    };
    plan.memory_mib = Some(total_mib);
    plan.kernel_word = Some(format!(
        "mewz.{}={address:#x},{archive_len:#x}",
        mewz_kernel::cmdline::FILES_AT
    ));
    plan.qemu_args = vec![
        "-object".into(),
        format!("memory-backend-ram,id=mewz-ram,size={base_mib}M"),
        "-object".into(),
        format!(
            "memory-backend-file,id=mewz-files,mem-path={},offset={offset},size={mapped},share=off,readonly=on,rom=off",
            // QEMU's option syntax doubles a comma inside a value.
            crate::stdio::option_value(&file.display().to_string())
        ),
        "-numa".into(),
        "node,memdev=mewz-ram".into(),
        "-numa".into(),
        "node,memdev=mewz-files".into(),
    ];
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TargetName;

    fn profile(t: TargetName) -> Profile {
        t.unikernel().unwrap().profile().unwrap()
    }

    /// A fake archive header: magic, then data offset and length.
    fn archive(len: u64) -> Vec<u8> {
        let mut a = vec![0u8; len.next_multiple_of(RAM_NODE_MIN) as usize];
        a[..8].copy_from_slice(&mewz_pack::MAGIC);
        a[32..40].copy_from_slice(&4096u64.to_le_bytes());
        a[40..48].copy_from_slice(&(len - 4096).to_le_bytes());
        a
    }

    #[test]
    fn small_archives_are_initrds_large_ones_ram() {
        let tmp = tempfile::tempdir().unwrap();
        let (small, large) = (tmp.path().join("small"), tmp.path().join("large"));
        std::fs::write(&small, vec![0u8; 8192]).unwrap();
        std::fs::write(&large, archive(3 << 20)).unwrap();
        let image = tmp.path().join("kernel.img");
        std::fs::write(&image, [0u8; 4096]).unwrap();
        let p = profile(TargetName::Aarch64);
        let plan_small = plan(&p, &image, Some(&small), Some(512), tmp.path()).unwrap();
        assert_eq!(plan_small.initrd.as_deref(), Some(small.as_path()));
        assert!(plan_small.qemu_args.is_empty() && plan_small.kernel_word.is_none());
        let plan_large = plan(&p, &image, Some(&large), Some(512), tmp.path()).unwrap();
        assert_eq!(plan_large.initrd, None);
        assert_eq!(plan_large.memory_mib, Some(512 + 4));
        assert_eq!(
            plan_large.kernel_word.as_deref(),
            Some("mewz.files-at=0x60000000,0x300000"),
            "right after 512 MiB of RAM from 1 GiB; the archive's own length"
        );
        assert!(
            plan_large
                .qemu_args
                .iter()
                .any(|a| a.contains("offset=0,size=4194304"))
        );
        assert_eq!(
            plan_large.image, image,
            "a run-time archive leaves the image alone"
        );
        // Past what the machine keeps in one piece, the copy is the only safe way.
        let p = profile(TargetName::X86_64);
        let plan_huge = plan(&p, &image, Some(&large), Some(4096), tmp.path()).unwrap();
        assert_eq!(plan_huge.initrd.as_deref(), Some(large.as_path()));
        let plan_none = plan(&p, &image, None, Some(512), tmp.path()).unwrap();
        assert_eq!(
            plan_none,
            Plan {
                image: image.clone(),
                memory_mib: Some(512),
                ..Plan::default()
            }
        );
        let unknown = plan(&p, &image, Some(&large), None, tmp.path()).unwrap();
        assert_eq!(
            unknown.initrd.as_deref(),
            Some(large.as_path()),
            "no number, no node"
        );
    }

    #[test]
    fn a_baked_archive_is_found_and_left_out_of_the_image_qemu_loads() {
        let tmp = tempfile::tempdir().unwrap();
        // An arm64 Image: 2 MiB of kernel, then the archive to the end.
        let mut image = vec![0x11u8; RAM_NODE_MIN as usize];
        image.extend(archive(5 << 20));
        let path = tmp.path().join("image");
        std::fs::write(&path, &image).unwrap();
        assert_eq!(baked_archive(&path).unwrap(), Some((RAM_NODE_MIN, 6 << 20)));
        let p = profile(TargetName::Aarch64);
        let plan = plan(&p, &path, None, Some(600), tmp.path()).unwrap();
        let thin = std::fs::read(&plan.image).unwrap();
        assert_eq!(thin, &image[..RAM_NODE_MIN as usize]);
        assert!(
            plan.qemu_args
                .iter()
                .any(|a| a.contains(&format!("offset={}", RAM_NODE_MIN)))
        );
        // No archive, or a small one (not 2 MiB aligned): nothing to map.
        std::fs::write(&path, vec![0u8; 3 << 20]).unwrap();
        assert_eq!(baked_archive(&path).unwrap(), None);
    }

    #[test]
    fn an_elf_image_keeps_everything_but_the_archive_segment() {
        use object::read::elf::{FileHeader, ProgramHeader};
        let tmp = tempfile::tempdir().unwrap();
        // A real x86_64 image with large baked directories is built by the integration tests;
        // here a minimal ELF with two PT_LOADs, the second at the archive's offset.
        let mut elf = vec![0u8; RAM_NODE_MIN as usize];
        let header: [u8; 64] = {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(b"\x7fELF");
            h[4] = 2; // 64-bit
            h[5] = 1; // little endian
            h[6] = 1;
            h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
            h[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
            h[20..24].copy_from_slice(&1u32.to_le_bytes());
            h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
            h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
            h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
            h[56..58].copy_from_slice(&2u16.to_le_bytes()); // e_phnum
            h
        };
        elf[..64].copy_from_slice(&header);
        for (i, offset) in [(0usize, 0x1000u64), (1, RAM_NODE_MIN)] {
            let at = 64 + i * 56;
            elf[at..at + 4].copy_from_slice(&object::elf::PT_LOAD.to_le_bytes());
            elf[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        }
        elf.extend(archive(3 << 20));
        elf.extend(b"section headers and symbols");
        let path = tmp.path().join("image.elf");
        std::fs::write(&path, &elf).unwrap();
        let (offset, mapped) = baked_archive(&path).unwrap().unwrap();
        assert_eq!((offset, mapped), (RAM_NODE_MIN, 4 << 20));
        let thin_path = tmp.path().join("thin.elf");
        thin_image(&profile(TargetName::X86_64), &path, offset, &thin_path).unwrap();
        let thin = std::fs::read(&thin_path).unwrap();
        assert_eq!(thin.len(), elf.len());
        let h = object::elf::FileHeader64::<object::Endianness>::parse(&*thin).unwrap();
        let e = h.endian().unwrap();
        let types: Vec<u32> = h
            .program_headers(e, &*thin)
            .unwrap()
            .iter()
            .map(|p| p.p_type(e))
            .collect();
        assert_eq!(types, [object::elf::PT_LOAD, object::elf::PT_NULL]);
        let archive_bytes = &thin[offset as usize..(offset + mapped) as usize];
        assert!(
            archive_bytes.iter().all(|&b| b == 0),
            "the archive is not in the copy"
        );
        assert!(thin.ends_with(b"section headers and symbols"));
    }
}
