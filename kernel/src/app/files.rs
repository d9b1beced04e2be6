//! Which packed directories the app gets. Like the arguments, what the machine is booted with
//! wins over what the image holds: the archive the boot loader passed (`mewz run --dir`,
//! QEMU `-initrd`) replaces the one `mewz build --dir` baked into the image; with neither the
//! app has no preopened directories.

use super::image;
use crate::platform::Platform;
use core::fmt;
use mewz_pack::{Archive, PackError};

/// Where an archive came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    BootModule,
    Image,
}

/// An archive that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilesError {
    pub source: Source,
    pub error: PackError,
}

impl fmt::Display for FilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.source {
            Source::BootModule => "passed at boot",
            Source::Image => "in the image",
        };
        write!(
            f,
            "the packed directories {from} are unusable: {}",
            self.error
        )
    }
}

/// The archive to use, checked, if there is one.
pub fn archive(p: &dyn Platform) -> Result<Option<Archive<'static>>, FilesError> {
    choose(p.boot_module(), image::baked_files())
}

/// The boot module if there is one, else the baked archive if it is not empty.
pub fn choose(
    boot: Option<&'static [u8]>,
    baked: &'static [u8],
) -> Result<Option<Archive<'static>>, FilesError> {
    let (bytes, source) = match boot {
        Some(b) => (b, Source::BootModule),
        None if baked.is_empty() => return Ok(None),
        None => (baked, Source::Image),
    };
    Archive::parse(bytes)
        .map(Some)
        .map_err(|error| FilesError { source, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mewz_pack::write::{Builder, Times};

    fn archive_named(root: &str) -> &'static [u8] {
        let mut b = Builder::new();
        let d = b.directory(Times::default()).unwrap();
        b.root(root, d).unwrap();
        b.to_bytes().unwrap().leak()
    }

    fn root_name(a: Option<Archive<'static>>) -> Option<&'static str> {
        a.map(|a| a.roots().next().unwrap().name)
    }

    #[test]
    fn the_boot_module_replaces_the_baked_archive() {
        let (boot, baked) = (archive_named("boot"), archive_named("baked"));
        assert_eq!(root_name(choose(Some(boot), baked).unwrap()), Some("boot"));
        assert_eq!(root_name(choose(None, baked).unwrap()), Some("baked"));
        assert_eq!(root_name(choose(None, &[]).unwrap()), None);
    }

    #[test]
    fn a_damaged_archive_says_which_and_why_in_one_line() {
        let good = archive_named("x");
        let cut: &'static [u8] = &good[..good.len() - 1];
        let e = choose(Some(cut), &[]).unwrap_err();
        assert_eq!(e.source, Source::BootModule);
        assert!(matches!(e.error, PackError::Truncated { .. }));
        let text = alloc::format!("{e}");
        assert!(
            text.contains("passed at boot") && text.contains("truncated"),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let e = choose(None, b"garbage!").unwrap_err();
        assert_eq!(e.source, Source::Image);
        let e = choose(Some(&[]), good).unwrap_err();
        assert_eq!(
            e.source,
            Source::BootModule,
            "an empty boot module is not no module"
        );
    }
}
