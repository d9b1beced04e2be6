//! The 64-byte arm64 Linux `Image` header (Documentation/arch/arm64/booting.rst).
//!
//! A loader that finds [`MAGIC`] at offset 56 boots the flat binary the Linux way: it places
//! it [`TEXT_OFFSET`] bytes above a 2 MiB aligned base and enters the first byte with the
//! device tree's physical address in `x0`. The header itself is emitted by the boot assembly
//! from these constants; `image_size` comes from the linker script.

/// Load offset from a 2 MiB aligned base. QEMU uses the start of RAM as base, so the kernel
/// lands at RAM + 2 MiB; the image relocates itself, so any other base works too.
pub const TEXT_OFFSET: u64 = 0x20_0000;

/// `flags` bit 0: kernel endianness (0 = little endian).
pub const FLAG_BIG_ENDIAN: u64 = 1 << 0;
/// `flags` bits 1-2: page size the kernel uses (1 = 4 KiB).
pub const FLAG_PAGE_SIZE_4K: u64 = 1 << 1;
/// `flags` bit 3: the 2 MiB aligned base may be anywhere in physical memory.
pub const FLAG_PLACEMENT_ANYWHERE: u64 = 1 << 3;

/// Little endian, 4 KiB pages, placement anywhere.
pub const FLAGS: u64 = FLAG_PAGE_SIZE_4K | FLAG_PLACEMENT_ANYWHERE;

/// "ARM\x64", read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"ARM\x64");

/// Byte offsets of the header fields.
pub mod offsets {
    pub const CODE0: usize = 0;
    pub const TEXT_OFFSET: usize = 8;
    pub const IMAGE_SIZE: usize = 16;
    pub const FLAGS: usize = 24;
    pub const MAGIC: usize = 56;
    pub const SIZE: usize = 64;
}

/// What a loader reads from an `Image` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    pub text_offset: u64,
    pub image_size: u64,
    pub flags: u64,
}

/// Parses the header at the start of `image`, as a loader does; `None` if the magic is absent.
pub fn parse(image: &[u8]) -> Option<ImageHeader> {
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(image.get(at..at + 8)?.try_into().ok()?))
    };
    let magic = u32::from_le_bytes(
        image
            .get(offsets::MAGIC..offsets::MAGIC + 4)?
            .try_into()
            .ok()?,
    );
    if magic != MAGIC {
        return None;
    }
    Some(ImageHeader {
        text_offset: word(offsets::TEXT_OFFSET)?,
        image_size: word(offsets::IMAGE_SIZE)?,
        flags: word(offsets::FLAGS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_say_little_endian_4k_anywhere() {
        assert_eq!(FLAGS & FLAG_BIG_ENDIAN, 0);
        assert_eq!((FLAGS >> 1) & 0b11, 1, "page size field must be 4 KiB");
        assert_ne!(FLAGS & FLAG_PLACEMENT_ANYWHERE, 0);
        assert_eq!(FLAGS, 0b1010);
    }

    #[test]
    fn magic_is_arm64_bytes() {
        assert_eq!(MAGIC, 0x644d_5241);
        assert_eq!(&MAGIC.to_le_bytes(), b"ARM\x64");
    }

    #[test]
    fn text_offset_is_2mib_aligned_kernel_placement() {
        // QEMU adds 2 MiB to offsets below 4 KiB; a non-zero aligned offset avoids that quirk.
        const { assert!(TEXT_OFFSET >= 4096 && TEXT_OFFSET.is_multiple_of(4096)) };
    }

    #[test]
    fn parses_a_header_built_from_the_constants() {
        let mut image = [0u8; offsets::SIZE];
        image[offsets::TEXT_OFFSET..][..8].copy_from_slice(&TEXT_OFFSET.to_le_bytes());
        image[offsets::IMAGE_SIZE..][..8].copy_from_slice(&0x12345u64.to_le_bytes());
        image[offsets::FLAGS..][..8].copy_from_slice(&FLAGS.to_le_bytes());
        image[offsets::MAGIC..][..4].copy_from_slice(&MAGIC.to_le_bytes());
        assert_eq!(
            parse(&image),
            Some(ImageHeader {
                text_offset: TEXT_OFFSET,
                image_size: 0x12345,
                flags: FLAGS
            })
        );
        image[offsets::MAGIC] = 0;
        assert_eq!(parse(&image), None);
        assert_eq!(parse(&image[..10]), None);
    }
}
