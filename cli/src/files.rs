//! `--dir HOST[::GUEST]`: host directories packed into one [`mewz_pack`] archive, which
//! `mewz build` links into the image (section `mewz_files`) and `mewz run` hands to the
//! machine at boot (QEMU `-initrd`, or a file the hosted runtime maps).
//!
//! The walk keeps what WASI can see: directories, regular files (read when the archive is
//! written, never all at once), symbolic links (their targets unchanged) and hard links (one
//! node, several names). Sockets, devices and FIFOs are skipped with a one-line warning, as are
//! names that are not UTF-8 (a WASI path is a string).
//!
//! The times recorded are the host's for `mewz run` (the app sees the directory as it is now,
//! as under wasmtime), and reproducible ones in images and packages (see [`Dates`]).

use crate::boot_files::RAM_NODE_MIN;
use crate::image::Progress;
use anyhow::{Context, Result};
use mewz_pack::write::{Builder, Content, NodeId, Times};
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One `--dir`: a host directory and the name the app sees it under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirSpec {
    pub host: PathBuf,
    pub guest: String,
}

/// Parses `HOST[::GUEST]` as wasmtime does: the guest name defaults to the host path as given.
pub fn parse_dir(s: &str) -> Result<DirSpec, String> {
    let (host, guest) = s.split_once("::").unwrap_or((s, s));
    if host.is_empty() {
        return Err(format!("'{s}' names no host directory (HOST[::GUEST])"));
    }
    if guest.contains('\0') || guest.len() > mewz_pack::MAX_PATH {
        return Err(format!("'{guest}' cannot name a directory for the app"));
    }
    Ok(DirSpec {
        host: PathBuf::from(host),
        guest: guest.into(),
    })
}

/// Fails (a usage error: exit 2) unless every host path is an existing directory.
pub fn check_dirs(dirs: &[DirSpec]) -> Result<()> {
    for d in dirs {
        match std::fs::metadata(&d.host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(crate::usage(format!(
                    "--dir {}: not a directory",
                    d.host.display()
                )));
            }
            Err(e) => {
                return Err(crate::usage(format!(
                    "--dir {}: {}",
                    d.host.display(),
                    io_reason(&e)
                )));
            }
        }
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such directory".into(),
        _ => e.to_string(),
    }
}

/// Which times of the host's entries an archive records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dates {
    /// The host's access, modification and change times, for `mewz run`.
    AsFound,
    /// For an image or a package, which the same inputs must make again byte for byte: the
    /// modification time stands for all three (an access time changes whenever the file is
    /// read, a change time whenever its metadata does, a copy's with the copy; neither says
    /// anything of the content), and no time is later than `clamp_ns` when there is one
    /// (`SOURCE_DATE_EPOCH`, as reproducible builds clamp times to it).
    Reproducible { clamp_ns: Option<u64> },
}

impl Dates {
    /// [`Dates::Reproducible`], clamped to `SOURCE_DATE_EPOCH` when that is set.
    pub fn reproducible() -> Result<Dates> {
        Ok(Dates::Reproducible {
            clamp_ns: source_date_epoch()?.map(|s| s.saturating_mul(1_000_000_000)),
        })
    }

    fn of(self, m: &Metadata) -> Times {
        let ns = |s: i64, n: i64| u64::try_from(s).map_or(0, |s| s * 1_000_000_000 + n as u64);
        let mtim = ns(m.mtime(), m.mtime_nsec());
        match self {
            Dates::AsFound => Times {
                atim: ns(m.atime(), m.atime_nsec()),
                mtim,
                ctim: ns(m.ctime(), m.ctime_nsec()),
            },
            Dates::Reproducible { clamp_ns } => {
                let t = clamp_ns.map_or(mtim, |c| mtim.min(c));
                Times {
                    atim: t,
                    mtim: t,
                    ctim: t,
                }
            }
        }
    }
}

/// `SOURCE_DATE_EPOCH` (seconds since 1970), when set; anything but a number is a usage error.
pub fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(s) if s.is_empty() => Ok(None),
        Ok(s) => s.parse().map(Some).map_err(|_| {
            crate::usage(format!(
                "SOURCE_DATE_EPOCH={s}: not a number of seconds since 1970"
            ))
        }),
        Err(std::env::VarError::NotUnicode(s)) => Err(crate::usage(format!(
            "SOURCE_DATE_EPOCH={}: not a number of seconds since 1970",
            s.to_string_lossy()
        ))),
    }
}

/// What a packing found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub directories: u64,
    pub files: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub skipped: u64,
}

struct Walker<'w> {
    builder: Builder,
    dates: Dates,
    /// Nodes of host files and symlinks with more than one link, by (device, inode).
    linked: HashMap<(u64, u64), NodeId>,
    summary: Summary,
    warn: &'w mut dyn FnMut(String),
}

impl Walker<'_> {
    fn directory(&mut self, path: &Path, m: &Metadata) -> Result<NodeId> {
        let dir = self.builder.directory(self.dates.of(m))?;
        self.summary.directories += 1;
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", path.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let child = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                self.skip(&child, "its name is not UTF-8");
                continue;
            };
            let m = std::fs::symlink_metadata(&child)
                .with_context(|| format!("reading {}", child.display()))?;
            let ty = m.file_type();
            let node = if ty.is_dir() {
                self.directory(&child, &m)?
            } else if ty.is_file() || ty.is_symlink() {
                match self.leaf(&child, &m)? {
                    Some(node) => node,
                    None => continue,
                }
            } else {
                let what = if ty.is_socket() {
                    "a socket"
                } else if ty.is_fifo() {
                    "a FIFO"
                } else if ty.is_block_device() || ty.is_char_device() {
                    "a device"
                } else {
                    "not a file, directory or symlink"
                };
                self.skip(&child, what);
                continue;
            };
            self.builder.link(dir, &name, node)?;
        }
        Ok(dir)
    }

    /// A file or symlink (one node for all its hard links), or `None` if skipped.
    fn leaf(&mut self, path: &Path, m: &Metadata) -> Result<Option<NodeId>> {
        let key = (m.dev(), m.ino());
        if m.nlink() > 1
            && let Some(&node) = self.linked.get(&key)
        {
            return Ok(Some(node));
        }
        let node = if m.file_type().is_symlink() {
            let target = std::fs::read_link(path)
                .with_context(|| format!("reading the symlink {}", path.display()))?;
            let Some(target) = target.to_str() else {
                self.skip(path, "its target is not UTF-8");
                return Ok(None);
            };
            self.summary.symlinks += 1;
            self.builder.symlink(target, self.dates.of(m))?
        } else {
            self.summary.files += 1;
            self.summary.bytes += m.len();
            let content = Content::HostFile {
                path: path.to_path_buf(),
                len: m.len(),
            };
            self.builder.file(content, self.dates.of(m))?
        };
        if m.nlink() > 1 {
            self.linked.insert(key, node);
        }
        Ok(Some(node))
    }

    fn skip(&mut self, path: &Path, why: &str) {
        self.summary.skipped += 1;
        (self.warn)(format!(
            "mewz: warning: skipping {} ({why})",
            path.display()
        ));
    }
}

/// Describes the directories of `dirs` (in order) as one archive dated as `dates` says; `warn`
/// gets a line per skipped entry.
pub fn describe(
    dirs: &[DirSpec],
    dates: Dates,
    warn: &mut dyn FnMut(String),
) -> Result<(Builder, Summary)> {
    let mut w = Walker {
        builder: Builder::new(),
        dates,
        linked: HashMap::new(),
        summary: Summary::default(),
        warn,
    };
    for d in dirs {
        let m =
            std::fs::metadata(&d.host).with_context(|| format!("reading {}", d.host.display()))?;
        let root = w.directory(&d.host, &m)?;
        w.builder.root(&d.guest, root)?;
    }
    Ok((w.builder, w.summary))
}

/// One line about what was packed, for the build's progress output.
fn summary_line(dirs: &[DirSpec], s: &Summary) -> String {
    format!(
        "{} director{}: {} files ({} KiB), {} directories, {} symlinks{}",
        dirs.len(),
        if dirs.len() == 1 { "y" } else { "ies" },
        s.files,
        s.bytes.div_ceil(1024),
        s.directories,
        s.symlinks,
        if s.skipped > 0 {
            format!(", {} skipped", s.skipped)
        } else {
            String::new()
        }
    )
}

/// The archive's length once padded: whole pages, so that the kernel can map all of it
/// read-only without sharing a page with what the linker puts next; for a large archive whole
/// 2 MiB steps, which is how it can become guest RAM of its own (see `boot_files`). The
/// reader ignores the padding.
fn padded_len(len: u64) -> u64 {
    let granule = if len >= RAM_NODE_MIN {
        RAM_NODE_MIN
    } else {
        4096
    };
    len.next_multiple_of(granule)
}

/// Packs `dirs` into the archive file `out` (for `mewz run`, and a package's initrd); returns
/// its padded size.
pub fn pack(dirs: &[DirSpec], dates: Dates, out: &Path, progress: &Progress) -> Result<u64> {
    progress.stage("files", || {
        let (builder, s) = describe(dirs, dates, &mut |line| eprintln!("{line}"))?;
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
        let len = builder
            .write_to(&mut writer)
            .context("packing the directories")?;
        std::io::Write::flush(&mut writer).context("packing the directories")?;
        let padded = padded_len(len);
        writer
            .get_ref()
            .set_len(padded)
            .context("packing the directories")?;
        Ok((padded, summary_line(dirs, &s)))
    })
}

/// Packs `dirs` straight into an object file for the machine `e_machine` (for `mewz build`):
/// its one section, `mewz_files`, holds the archive (the image's linker script places it and
/// the kernel finds it by its bounds). A large archive gets 2 MiB alignment (large pages,
/// and the file-backed memory of `boot_files`), a small one page alignment, rather than pad the
/// image by up to 2 MiB; `unaligned` (for hosted executables) asks for neither. The bytes are
/// streamed from the host files into the object: nothing holds the archive whole.
pub fn pack_object(
    dirs: &[DirSpec],
    dates: Dates,
    e_machine: u16,
    unaligned: bool,
    out: &Path,
    progress: &Progress,
) -> Result<u64> {
    use object::write::StreamingBuffer;
    use object::write::elf::{FileHeader, SectionHeader, Writer};
    progress.stage("files", || {
        let (builder, s) = describe(dirs, dates, &mut |line| eprintln!("{line}"))?;
        let len = builder.archive_len()?;
        let padded = padded_len(len);
        let align = match (unaligned, padded >= RAM_NODE_MIN) {
            (true, _) => mewz_pack::FILE_ALIGN,
            (false, true) => RAM_NODE_MIN,
            (false, false) => 4096,
        };
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut buffer = StreamingBuffer::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let mut w = Writer::new(object::Endianness::Little, true, &mut buffer);
        w.reserve_file_header();
        w.reserve_null_section_index();
        let name = w.add_section_name(mewz_abi::symbols::FILES_SECTION.as_bytes());
        w.reserve_section_index();
        w.reserve_shstrtab_section_index();
        let data_offset = w.reserve(padded as usize, 4096);
        w.reserve_shstrtab();
        w.reserve_section_headers();
        w.write_file_header(&FileHeader {
            os_abi: object::elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: object::elf::ET_REL,
            e_machine,
            e_entry: 0,
            e_flags: 0,
        })?;
        w.write_align(4096);
        let written = builder
            .write_to(&mut SectionData(&mut w))
            .context("packing the directories")?;
        anyhow::ensure!(
            written == len,
            "the archive came out {written} bytes, not {len}"
        );
        let zeros = vec![0u8; 1 << 16];
        let mut left = padded - len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            w.write(&zeros[..n]);
            left -= n as u64;
        }
        w.write_shstrtab();
        w.write_null_section_header();
        w.write_section_header(&SectionHeader {
            name: Some(name),
            sh_type: object::elf::SHT_PROGBITS,
            sh_flags: u64::from(object::elf::SHF_ALLOC),
            sh_addr: 0,
            sh_offset: data_offset as u64,
            sh_size: padded,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: align,
            sh_entsize: 0,
        });
        w.write_shstrtab_section_header();
        buffer.result().context("writing the packed directories")?;
        std::io::Write::flush(&mut buffer.into_inner())
            .context("writing the packed directories")?;
        Ok((padded, summary_line(dirs, &s)))
    })
}

/// The section data being written, as an `io::Write` for the archive writer.
struct SectionData<'w, 'a>(&'w mut object::write::elf::Writer<'a>);

impl std::io::Write for SectionData<'_, '_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.write(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mewz_pack::{Archive, Kind};
    use std::os::unix::fs::symlink;

    #[test]
    fn the_files_object_holds_the_archive_aligned_and_padded() {
        use object::{Object, ObjectSection};
        let tmp = tempfile::tempdir().unwrap();
        for (size, unaligned, align, padded) in [
            (10_000, false, 4096, None),
            (3 << 20, false, RAM_NODE_MIN, Some(4 << 20)),
            (10_000, true, mewz_pack::FILE_ALIGN, None),
        ] {
            let dir = tmp.path().join(format!("d{size}{unaligned}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("f"), vec![0x5a; size]).unwrap();
            let dirs = [DirSpec {
                host: dir.clone(),
                guest: "/d".into(),
            }];
            for machine in [object::elf::EM_X86_64, object::elf::EM_AARCH64] {
                let path = tmp.path().join("files.o");
                let len = pack_object(
                    &dirs,
                    Dates::AsFound,
                    machine,
                    unaligned,
                    &path,
                    &Progress { quiet: true },
                )
                .unwrap();
                let bytes = std::fs::read(&path).unwrap();
                let obj = object::File::parse(&*bytes).unwrap();
                let s = obj
                    .section_by_name(mewz_abi::symbols::FILES_SECTION)
                    .unwrap();
                assert_eq!(s.align(), align);
                let data = s.data().unwrap();
                assert_eq!(data.len() as u64, len);
                assert!(len.is_multiple_of(4096));
                if let Some(p) = padded {
                    assert_eq!(len, p);
                }
                let a = mewz_pack::Archive::parse(data).unwrap();
                let root = a.node(a.roots().next().unwrap().node).unwrap();
                let f = a.node(a.lookup(&root, b"f").unwrap().1.node).unwrap();
                assert_eq!(f.bytes, &vec![0x5a; size][..]);
                let arch = match machine {
                    object::elf::EM_X86_64 => object::Architecture::X86_64,
                    _ => object::Architecture::Aarch64,
                };
                assert_eq!(obj.architecture(), arch);
            }
        }
    }

    #[test]
    fn dir_syntax_is_wasmtimes() {
        assert_eq!(
            parse_dir("a/b::/data").unwrap(),
            DirSpec {
                host: "a/b".into(),
                guest: "/data".into()
            }
        );
        assert_eq!(parse_dir("./x").unwrap().guest, "./x");
        assert_eq!(parse_dir("x::").unwrap().guest, "");
        assert_eq!(parse_dir("x::a::b").unwrap().guest, "a::b");
        assert!(parse_dir("::g").is_err());
        assert!(parse_dir("").is_err());
    }

    #[test]
    fn missing_or_non_directories_are_usage_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        for (host, want) in [
            (tmp.path().join("missing"), "no such directory"),
            (file, "not a directory"),
        ] {
            let e = check_dirs(&[DirSpec {
                host: host.clone(),
                guest: "g".into(),
            }])
            .unwrap_err();
            assert!(e.is::<crate::UsageError>());
            assert!(e.to_string().contains(want), "{e}");
            assert!(e.to_string().contains(&host.display().to_string()));
        }
        check_dirs(&[DirSpec {
            host: tmp.path().into(),
            guest: "g".into(),
        }])
        .unwrap();
    }

    #[test]
    fn a_tree_packs_with_links_and_without_special_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("a.txt"), b"alpha").unwrap();
        std::fs::write(root.join("sub/deeper/b"), vec![9u8; 70_000]).unwrap();
        std::fs::hard_link(root.join("a.txt"), root.join("sub/hard")).unwrap();
        symlink("../a.txt", root.join("sub/ln")).unwrap();
        symlink("/absolute/target", root.join("abs")).unwrap();
        std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        let mut warnings = Vec::new();
        let dirs = [
            DirSpec {
                host: root.into(),
                guest: "/data".into(),
            },
            DirSpec {
                host: root.join("sub"),
                guest: "sub".into(),
            },
        ];
        let (builder, summary) =
            describe(&dirs, Dates::AsFound, &mut |l| warnings.push(l)).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("sock") && warnings[0].contains("a socket"));
        assert_eq!(summary.skipped, 1);
        assert_eq!(
            summary.files, 3,
            "a.txt (once for both names), b, and again in root 2"
        );
        let bytes = builder.to_bytes().unwrap();
        let a = Archive::parse(&bytes).unwrap();
        let roots: Vec<_> = a.roots().collect();
        assert_eq!((roots[0].name, roots[1].name), ("/data", "sub"));
        let r = a.node(roots[0].node).unwrap();
        let names: Vec<_> = a.entries(&r).map(|e| e.name).collect();
        assert_eq!(names, ["a.txt", "abs", "sub"]);
        let file = a.lookup(&r, b"a.txt").unwrap().1.node;
        let sub = a.node(a.lookup(&r, b"sub").unwrap().1.node).unwrap();
        assert_eq!(a.lookup(&sub, b"hard").unwrap().1.node, file, "one node");
        assert_eq!(
            a.node(file).unwrap().nlink,
            3,
            "a.txt, sub/hard, and hard in the second root: one host file, as in wasmtime"
        );
        let ln = a.node(a.lookup(&sub, b"ln").unwrap().1.node).unwrap();
        assert_eq!((ln.kind, ln.bytes), (Kind::Symlink, &b"../a.txt"[..]));
        let abs = a.node(a.lookup(&r, b"abs").unwrap().1.node).unwrap();
        assert_eq!(abs.bytes, b"/absolute/target");
        let deeper = a.node(a.lookup(&sub, b"deeper").unwrap().1.node).unwrap();
        let b = a.node(a.lookup(&deeper, b"b").unwrap().1.node).unwrap();
        assert_eq!(b.bytes, &[9u8; 70_000][..]);
        let m = std::fs::metadata(root.join("a.txt")).unwrap();
        assert_eq!(
            a.node(file).unwrap().mtim,
            m.mtime() as u64 * 1_000_000_000 + m.mtime_nsec() as u64
        );
    }

    /// The times of `dir`'s file `f` as an archive dated by `dates` records them.
    fn packed_times(dir: &Path, dates: Dates) -> (u64, u64, u64) {
        let dirs = [DirSpec {
            host: dir.into(),
            guest: "d".into(),
        }];
        let (builder, _) = describe(&dirs, dates, &mut |_| {}).unwrap();
        let bytes = builder.to_bytes().unwrap();
        let a = Archive::parse(&bytes).unwrap();
        let root = a.node(a.roots().next().unwrap().node).unwrap();
        let f = a.node(a.lookup(&root, b"f").unwrap().1.node).unwrap();
        (f.atim, f.mtim, f.ctim)
    }

    #[test]
    fn reproducible_dates_are_the_modification_time_clamped_to_the_epoch_given() {
        use std::time::{Duration, SystemTime};
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::new(s, 500);
        std::fs::File::options()
            .write(true)
            .open(tmp.path().join("f"))
            .unwrap()
            .set_times(
                std::fs::FileTimes::new()
                    .set_accessed(at(2_000_000_000))
                    .set_modified(at(1_500_000_000)),
            )
            .unwrap();
        let mtim = 1_500_000_000 * 1_000_000_000 + 500;
        let (atim, found_mtim, ctim) = packed_times(tmp.path(), Dates::AsFound);
        assert_eq!(
            (atim, found_mtim),
            (2_000_000_000 * 1_000_000_000 + 500, mtim)
        );
        assert_ne!(ctim, mtim, "the change time is when the times were set");
        let reproducible = |clamp_ns| packed_times(tmp.path(), Dates::Reproducible { clamp_ns });
        assert_eq!(reproducible(None), (mtim, mtim, mtim));
        let epoch = 1_400_000_000 * 1_000_000_000;
        assert_eq!(reproducible(Some(epoch)), (epoch, epoch, epoch));
        assert_eq!(reproducible(Some(mtim + 1)), (mtim, mtim, mtim));
    }
}
