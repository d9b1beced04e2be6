//! What the linker put into the image: the app's module descriptor (section `mewz_module`),
//! the configuration `mewz build` baked in (section `mewz_config`) and the directories it
//! packed (section `mewz_files`, a [`mewz_pack`] archive).
//!
//! The kernel contributes a zeroed descriptor-sized block to `mewz_module`, a NUL byte to
//! `mewz_config` and nothing to `mewz_files` itself, so the sections exist in every image
//! (with or without an app, with any linker) and their `__start_`/`__stop_` bounds are always
//! defined. The bounds are read
//! through a table emitted next to those contributions, so that whatever links the table in
//! also links the contributions in. A zero `abi_version` marks "no descriptor here"; NUL bytes
//! in the configuration separate words like spaces.

use super::AppError;
use alloc::string::String;
use core::mem::{align_of, size_of};
use mewz_abi::module::{ABI_VERSION, ModuleDescriptor};

core::arch::global_asm!(
    ".pushsection .data.mewz_image_sections,\"aw\",%progbits",
    ".balign 8",
    ".globl __mewz_image_sections",
    ".hidden __mewz_image_sections",
    "__mewz_image_sections:",
    ".quad __start_mewz_module",
    ".quad __stop_mewz_module",
    ".quad __start_mewz_config",
    ".quad __stop_mewz_config",
    ".quad __start_mewz_files",
    ".quad __stop_mewz_files",
    ".popsection",
    ".pushsection mewz_module,\"awR\",%progbits",
    ".balign 8",
    ".zero {descriptor_size}",
    ".popsection",
    ".pushsection mewz_config,\"aR\",%progbits",
    ".byte 0",
    ".popsection",
    ".pushsection mewz_files,\"aR\",%progbits",
    ".popsection",
    descriptor_size = const size_of::<ModuleDescriptor>(),
);

unsafe extern "C" {
    /// `[module start, module stop, config start, config stop, files start, files stop]`.
    static __mewz_image_sections: [usize; 6];
}

fn bounds() -> [usize; 6] {
    // SAFETY: defined by the global_asm above, initialised by the linker, never written.
    unsafe { __mewz_image_sections }
}

/// The app's module descriptor, `None` when the image has no app.
pub fn module() -> Result<Option<&'static ModuleDescriptor>, AppError> {
    let [start, stop, ..] = bounds();
    // SAFETY: the linker bounds delimit the section, which lives as long as the image.
    let section = unsafe { core::slice::from_raw_parts(start as *const u8, stop - start) };
    match find_descriptor(section)? {
        // SAFETY: `find_descriptor` returns an aligned offset with a whole descriptor after
        // it, inside the image's mewz_module section, which the compiler filled with one.
        Some(offset) => Ok(Some(unsafe { &*(section.as_ptr().add(offset).cast()) })),
        None => Ok(None),
    }
}

/// Where in `section` the one non-zero descriptor starts. Descriptors are pointer aligned
/// and start with a non-zero `abi_version`; the kernel's own block and padding are zero.
pub fn find_descriptor(section: &[u8]) -> Result<Option<usize>, AppError> {
    let align = align_of::<ModuleDescriptor>();
    let size = size_of::<ModuleDescriptor>();
    let first_word =
        |at: usize| u32::from_ne_bytes(section[at..at + 4].try_into().unwrap_or([0; 4]));
    let skew = section.as_ptr().align_offset(align);
    let mut found = None;
    let mut at = skew;
    while at + 4 <= section.len() {
        if first_word(at) != 0 {
            if found.is_some() {
                return Err(AppError::SeveralModules);
            }
            if at + size > section.len() {
                return Err(AppError::TruncatedDescriptor);
            }
            let version = first_word(at);
            if version != ABI_VERSION {
                return Err(AppError::AbiVersion { found: version });
            }
            found = Some(at);
            at += size;
        } else {
            at += align;
        }
    }
    Ok(found)
}

/// The baked configuration, in command-line syntax.
pub fn baked_config() -> Result<String, AppError> {
    let [_, _, start, stop, _, _] = bounds();
    // SAFETY: the linker bounds delimit the section, which lives as long as the image.
    let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, stop - start) };
    config_text(bytes)
}

/// The packed directories `mewz build --dir` baked in (empty when there are none). They stay
/// where the loader put them, in the image, for the kernel's whole life.
pub fn baked_files() -> &'static [u8] {
    let [.., start, stop] = bounds();
    if stop <= start {
        return &[];
    }
    // SAFETY: the linker bounds delimit the section, which lives as long as the image and is
    // never written.
    unsafe { core::slice::from_raw_parts(start as *const u8, stop - start) }
}

/// The configuration bytes as text, NULs turned into word separators.
pub fn config_text(bytes: &[u8]) -> Result<String, AppError> {
    let text = core::str::from_utf8(bytes).map_err(|_| AppError::ConfigNotUtf8)?;
    Ok(text.replace('\0', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section image: 8-aligned bytes.
    fn section(words: &[u64]) -> Vec<u64> {
        words.to_vec()
    }

    fn bytes(s: &[u64]) -> &[u8] {
        // SAFETY: any u64 slice is a valid byte slice of 8 times its length.
        unsafe { core::slice::from_raw_parts(s.as_ptr().cast(), s.len() * 8) }
    }

    const WORDS: usize = size_of::<ModuleDescriptor>() / 8;

    #[test]
    fn finds_the_descriptor_before_or_after_the_kernel_block() {
        let mut s = section(&[0; 3 * WORDS]);
        assert_eq!(find_descriptor(bytes(&s)).unwrap(), None, "no app");
        s[WORDS] = u64::from(ABI_VERSION) | 7 << 32;
        assert_eq!(find_descriptor(bytes(&s)).unwrap(), Some(WORDS * 8));
        let mut s = section(&[0; 2 * WORDS]);
        s[0] = u64::from(ABI_VERSION);
        assert_eq!(find_descriptor(bytes(&s)).unwrap(), Some(0));
        assert_eq!(find_descriptor(&[]).unwrap(), None);
    }

    #[test]
    fn rejects_wrong_versions_and_odd_sections() {
        let mut s = section(&[0; 2 * WORDS]);
        s[0] = u64::from(ABI_VERSION) + 1;
        assert!(matches!(
            find_descriptor(bytes(&s)),
            Err(AppError::AbiVersion { .. })
        ));
        let mut s = section(&[0; 2 * WORDS]);
        s[WORDS + 1] = u64::from(ABI_VERSION);
        assert!(matches!(
            find_descriptor(bytes(&s)),
            Err(AppError::TruncatedDescriptor)
        ));
        let mut s = section(&[0; 3 * WORDS]);
        s[0] = u64::from(ABI_VERSION);
        s[2 * WORDS] = u64::from(ABI_VERSION);
        assert!(matches!(
            find_descriptor(bytes(&s)),
            Err(AppError::SeveralModules)
        ));
    }

    #[test]
    fn config_text_splits_on_nul() {
        assert_eq!(
            config_text(b"mewz.env=A=1\0-- x\0").unwrap(),
            "mewz.env=A=1 -- x "
        );
        assert!(config_text(b"\xff").is_err());
    }

    #[test]
    fn this_test_binary_has_the_kernel_blocks_and_no_app() {
        assert!(module().unwrap().is_none());
        assert_eq!(baked_config().unwrap().trim(), "");
        assert!(baked_files().is_empty());
    }
}
