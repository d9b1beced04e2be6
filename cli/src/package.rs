//! `mewz package`: an OCI image that urunc boots as a unikernel of type `mewz` under QEMU.
//!
//! The image's first layer holds the bootable image (`/unikernel/app.img`) and `/urunc.json`;
//! a second, when the app has `--dir`s, the packed directories (`/unikernel/files.initrd`),
//! which urunc hands to QEMU as `-initrd` and the kernel reads in place of baked directories.
//! The urunc annotations name them, on the manifest, as the config's labels and
//! (base64-encoded, as urunc reads it when the runtime passes no annotations) in `/urunc.json`. The image config's entrypoint is the
//! app's name and its command the baked arguments, so that the container's command urunc
//! appends to the kernel command line is the app's `argv` (see `mewz_kernel::app::env`).
//!
//! The output is an OCI image layout: a directory, or a tar of one (`oci-archive`, with a
//! Docker `manifest.json` beside it for single-platform archives so that `docker load` takes it
//! too). `--multi-arch` puts both architectures behind one index. Every JSON document is
//! written by `oci-spec` with its keys sorted and every timestamp fixed (`SOURCE_DATE_EPOCH` or
//! 0), and the files layer's archive dates each entry by its modification time alone, clamped
//! to `SOURCE_DATE_EPOCH` ([`crate::files::Dates`]), so the same inputs give the same digests.

use crate::targets::TargetName;
use anyhow::{Context, Result};
use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, ConfigBuilder, Descriptor, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    OciLayoutBuilder, Os, Platform, PlatformBuilder, RootFsBuilder, Sha256Digest,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The urunc annotations (urunc's `pkg/unikontainers/annotations.go`).
pub const UNIKERNEL_TYPE: &str = "com.urunc.unikernel.unikernelType";
pub const HYPERVISOR: &str = "com.urunc.unikernel.hypervisor";
pub const BINARY: &str = "com.urunc.unikernel.binary";
pub const CMDLINE: &str = "com.urunc.unikernel.cmdline";
pub const INITRD: &str = "com.urunc.unikernel.initrd";
/// The version key urunc reads, and the shorter one some tools write.
pub const UNIKERNEL_VERSION: &str = "com.urunc.unikernel.unikernelVersion";
pub const VERSION: &str = "com.urunc.unikernel.version";
pub const MOUNT_ROOTFS: &str = "com.urunc.unikernel.mountRootfs";

/// Where the layer puts the bootable image and the packed directories.
pub const IMAGE_PATH: &str = "/unikernel/app.img";
pub const INITRD_PATH: &str = "/unikernel/files.initrd";
/// urunc's fallback configuration file, at the root of the container's filesystem.
pub const URUNC_JSON: &str = "urunc.json";

/// One platform's contents.
pub struct PlatformImage {
    pub target: TargetName,
    /// The bootable image, as `mewz build` writes it.
    pub image: PathBuf,
    /// The packed directories, if the app has any.
    pub initrd: Option<PathBuf>,
}

/// What the package says about the app.
pub struct Package<'a> {
    pub platforms: Vec<PlatformImage>,
    /// `argv[0]` (the container's entrypoint).
    pub name: &'a str,
    /// The baked arguments (the container's command).
    pub args: &'a [String],
    /// The tag in the layout (`oci:DIR:TAG`, `oci-archive:FILE:TAG`).
    pub tag: &'a str,
}

/// The OCI platform of a target; `None` for targets that are no unikernel.
pub fn platform_of(target: TargetName) -> Option<(Arch, &'static str)> {
    match target {
        TargetName::X86_64 => Some((Arch::Amd64, "linux/amd64")),
        TargetName::Aarch64 => Some((Arch::ARM64, "linux/arm64")),
        TargetName::Host => None,
    }
}

/// The target of a `--platform` value (`linux/amd64`, `linux/arm64`, `linux/arm64/v8`).
pub fn target_of_platform(platform: &str) -> Result<TargetName, String> {
    match platform {
        "linux/amd64" => Ok(TargetName::X86_64),
        "linux/arm64" | "linux/arm64/v8" => Ok(TargetName::Aarch64),
        other => Err(format!(
            "unknown platform '{other}' (mewz packages linux/amd64 and linux/arm64)"
        )),
    }
}

/// Whether `path` names an archive rather than a layout directory.
pub fn is_archive(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tar")
}

/// A blob: its bytes, digest and media type.
struct Blob {
    media_type: MediaType,
    bytes: Vec<u8>,
}

impl Blob {
    fn json<T: Serialize>(media_type: MediaType, document: &T) -> Result<Blob> {
        // Through a `Value` with sorted keys: `oci-spec` keeps maps in `HashMap`s, whose order
        // changes from run to run, and digests must not.
        let mut value = serde_json::to_value(document)?;
        value.sort_all_objects();
        Ok(Blob {
            media_type,
            bytes: serde_json::to_vec(&value)?,
        })
    }

    fn digest(&self) -> Sha256Digest {
        sha256(&self.bytes)
    }

    fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            self.media_type.clone(),
            self.bytes.len() as u64,
            self.digest(),
        )
    }
}

fn sha256(bytes: &[u8]) -> Sha256Digest {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Sha256Digest::from_str(&hex).expect("a SHA-256 digest is 64 hex digits")
}

/// Seconds since the epoch for every timestamp: `SOURCE_DATE_EPOCH`, else 0.
fn timestamp() -> Result<u64> {
    Ok(crate::files::source_date_epoch()?.unwrap_or(0))
}

/// The annotations of one platform's image.
pub fn annotations(package: &Package<'_>, has_initrd: bool) -> BTreeMap<String, String> {
    let version = format!("mewz-rs {}", env!("CARGO_PKG_VERSION"));
    let mut argv = vec![package.name.to_string()];
    argv.extend(package.args.iter().cloned());
    let mut a = BTreeMap::from([
        (UNIKERNEL_TYPE.to_string(), "mewz".to_string()),
        (HYPERVISOR.to_string(), "qemu".to_string()),
        (BINARY.to_string(), IMAGE_PATH.to_string()),
        (CMDLINE.to_string(), argv.join(" ")),
        (UNIKERNEL_VERSION.to_string(), version.clone()),
        (VERSION.to_string(), version),
        (MOUNT_ROOTFS.to_string(), "false".to_string()),
    ]);
    if has_initrd {
        a.insert(INITRD.to_string(), INITRD_PATH.to_string());
    }
    a
}

/// `/urunc.json`: urunc's configuration file, every value base64-encoded as urunc decodes it.
fn urunc_json(annotations: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let encoded: BTreeMap<&str, String> = annotations
        .iter()
        .filter(|(k, _)| k.as_str() != VERSION)
        .map(|(k, v)| {
            (
                k.as_str(),
                base64::engine::general_purpose::STANDARD.encode(v),
            )
        })
        .collect();
    Ok(serde_json::to_vec_pretty(&encoded)?)
}

/// The layer: a tar of the files, every entry owned by root and dated [`timestamp`].
fn layer(files: &[(&str, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mtime = timestamp()?;
    let mut dirs: Vec<&str> = files
        .iter()
        .filter_map(|(path, _)| Some(path.trim_start_matches('/').rsplit_once('/')?.0))
        .collect();
    dirs.dedup();
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, path.trim_start_matches('/'), &bytes[..])?;
    }
    Ok(tar.into_inner()?)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    // No file name or time in the gzip header: the blob depends on the contents alone.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    gz.write_all(bytes)?;
    Ok(GzEncoder::finish(gz)?)
}

fn oci_platform(target: TargetName) -> Result<Platform> {
    let (arch, _) = platform_of(target).context("the hosted target has no OCI platform")?;
    Ok(PlatformBuilder::default()
        .architecture(arch)
        .os(Os::Linux)
        .build()?)
}

/// The blobs of one platform's image; returns the manifest's descriptor.
fn platform_blobs(
    package: &Package<'_>,
    platform: &PlatformImage,
    blobs: &mut Vec<Blob>,
) -> Result<Descriptor> {
    let image = std::fs::read(&platform.image)
        .with_context(|| format!("reading {}", platform.image.display()))?;
    let initrd = platform
        .initrd
        .as_ref()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let annotations = annotations(package, initrd.is_some());
    // The kernel and the app in one layer, the packed directories in a layer of their own: a
    // package of other content has the same first layer (stored and pulled once), and both
    // architectures share the second.
    let mut tars = vec![layer(&[
        (IMAGE_PATH, image),
        (URUNC_JSON, urunc_json(&annotations)?),
    ])?];
    if let Some(initrd) = initrd {
        tars.push(layer(&[(INITRD_PATH, initrd)])?);
    }
    let layer_blobs = tars
        .iter()
        .map(|tar| {
            Ok(Blob {
                media_type: MediaType::ImageLayerGzip,
                bytes: gzip(tar)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let labels: HashMap<String, String> = annotations.clone().into_iter().collect();
    let config: ImageConfiguration = ImageConfigurationBuilder::default()
        .architecture(platform_of(platform.target).context("no OCI platform")?.0)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .entrypoint(vec![package.name.to_string()])
                .cmd(package.args.to_vec())
                .labels(labels)
                .build()?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(
                    tars.iter()
                        .map(|tar| format!("sha256:{}", sha256(tar).digest()))
                        .collect::<Vec<_>>(),
                )
                .build()?,
        )
        .build()?;
    let config_blob = Blob::json(MediaType::ImageConfig, &config)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_blob.descriptor())
        .layers(layer_blobs.iter().map(Blob::descriptor).collect::<Vec<_>>())
        .annotations(annotations.into_iter().collect::<HashMap<_, _>>())
        .build()?;
    let manifest_blob = Blob::json(MediaType::ImageManifest, &manifest)?;
    let mut descriptor = manifest_blob.descriptor();
    descriptor.set_platform(Some(oci_platform(platform.target)?));
    blobs.extend(layer_blobs);
    blobs.extend([config_blob, manifest_blob]);
    Ok(descriptor)
}

/// Docker's `docker save` index, for `docker load` before it read OCI layouts.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

fn blob_path(d: &Descriptor) -> String {
    format!("blobs/sha256/{}", d.digest().digest())
}

/// Writes the package to `output`: a layout directory, or an archive of one (`*.tar`).
pub fn write(package: &Package<'_>, output: &Path) -> Result<()> {
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    for platform in &package.platforms {
        manifests.push(platform_blobs(package, platform, &mut blobs)?);
    }
    let tagged = |mut d: Descriptor| {
        d.set_annotations(Some(HashMap::from([(
            ANNOTATION_REF_NAME.to_string(),
            package.tag.to_string(),
        )])));
        d
    };
    // One platform: the layout's index names its manifest. Several: an image index of them,
    // which the layout's index names (one tag for every architecture).
    let top = if let [single] = &manifests[..] {
        tagged(single.clone())
    } else {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests.clone())
            .build()?;
        let blob = Blob::json(MediaType::ImageIndex, &index)?;
        let d = tagged(blob.descriptor());
        blobs.push(blob);
        d
    };
    let layout_index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![top])
        .build()?;
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            Blob::json(
                MediaType::LayoutHeader,
                &OciLayoutBuilder::default()
                    .image_layout_version("1.0.0")
                    .build()?,
            )?
            .bytes,
        ),
        (
            "index.json".into(),
            Blob::json(MediaType::ImageIndex, &layout_index)?.bytes,
        ),
    ];
    if is_archive(output) && manifests.len() == 1 {
        let config = blobs
            .iter()
            .find(|b| b.media_type == MediaType::ImageConfig)
            .context("a config")?;
        let layers = blobs
            .iter()
            .filter(|b| b.media_type == MediaType::ImageLayerGzip);
        let entry = DockerManifestEntry {
            config: blob_path(&config.descriptor()),
            repo_tags: vec![format!("{}:{}", repository_name(package.name), package.tag)],
            layers: layers.map(|l| blob_path(&l.descriptor())).collect(),
        };
        files.push(("manifest.json".into(), serde_json::to_vec(&[entry])?));
    }
    // Blobs shared by several platforms are stored once.
    blobs.sort_by_key(|b| b.digest().digest().to_string());
    blobs.dedup_by_key(|b| b.digest().digest().to_string());
    for blob in blobs {
        files.push((blob_path(&blob.descriptor()), blob.bytes));
    }
    if is_archive(output) {
        write_archive(output, &files)
    } else {
        write_layout(output, &files)
    }
}

/// A repository name Docker accepts (lower case, `[a-z0-9._-]`), from the app's name.
fn repository_name(name: &str) -> String {
    let stem = name.strip_suffix(".wasm").unwrap_or(name);
    let cleaned: String = stem
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    let cleaned = cleaned.trim_matches(|c| matches!(c, '.' | '_' | '-'));
    if cleaned.is_empty() {
        "app".into()
    } else {
        cleaned.into()
    }
}

fn write_layout(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (path, bytes) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn write_archive(file: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let out =
        std::fs::File::create_new(file).with_context(|| format!("creating {}", file.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(out));
    let mtime = timestamp()?;
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    header.set_mtime(mtime);
    for dir in ["blobs/", "blobs/sha256/"] {
        tar.append_data(&mut header.clone(), dir, std::io::empty())?;
    }
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        header.set_mtime(mtime);
        tar.append_data(&mut header, path, &bytes[..])?;
    }
    tar.into_inner()?.flush()?;
    Ok(())
}

/// A tag the OCI layout accepts (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, as Docker's).
pub fn check_tag(tag: &str) -> Result<(), String> {
    let valid = tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "'{tag}' is not a tag (letters, digits, '_', '.', '-'; at most 128)"
        ))
    }
}

/// Refuses an output that exists (a package is never written over something).
pub fn check_output(output: &Path) -> Result<(), String> {
    if output.symlink_metadata().is_ok() {
        return Err(format!("{} already exists", output.display()));
    }
    match output.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => Err(format!(
            "{}: the directory {} does not exist",
            output.display(),
            parent.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_map_to_targets_and_back() {
        assert_eq!(target_of_platform("linux/amd64"), Ok(TargetName::X86_64));
        assert_eq!(target_of_platform("linux/arm64"), Ok(TargetName::Aarch64));
        assert_eq!(
            target_of_platform("linux/arm64/v8"),
            Ok(TargetName::Aarch64)
        );
        for bad in ["linux/riscv64", "windows/amd64", "amd64", ""] {
            let e = target_of_platform(bad).unwrap_err();
            assert!(e.contains("unknown platform"), "{e}");
        }
        assert_eq!(platform_of(TargetName::X86_64).unwrap().1, "linux/amd64");
        assert_eq!(platform_of(TargetName::Aarch64).unwrap().1, "linux/arm64");
        assert!(platform_of(TargetName::Host).is_none());
    }

    #[test]
    fn annotations_name_the_files_and_the_command() {
        let args = vec!["--port".to_string(), "80".to_string()];
        let p = Package {
            platforms: vec![],
            name: "server.wasm",
            args: &args,
            tag: "latest",
        };
        let a = annotations(&p, true);
        assert_eq!(a[UNIKERNEL_TYPE], "mewz");
        assert_eq!(a[HYPERVISOR], "qemu");
        assert_eq!(a[BINARY], IMAGE_PATH);
        assert_eq!(a[INITRD], INITRD_PATH);
        assert_eq!(a[CMDLINE], "server.wasm --port 80");
        assert!(!annotations(&p, false).contains_key(INITRD));
        let json: BTreeMap<String, String> =
            serde_json::from_slice(&urunc_json(&a).unwrap()).unwrap();
        let decode = |k: &str| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(&json[k])
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(decode(UNIKERNEL_TYPE), "mewz");
        assert_eq!(decode(BINARY), "/unikernel/app.img");
        assert_eq!(decode(MOUNT_ROOTFS), "false");
    }

    #[test]
    fn json_blobs_do_not_depend_on_map_order() {
        let a: HashMap<String, String> =
            (0..50).map(|i| (format!("k{i}"), i.to_string())).collect();
        let b: HashMap<String, String> = (0..50)
            .rev()
            .map(|i| (format!("k{i}"), i.to_string()))
            .collect();
        let one = Blob::json(MediaType::ImageConfig, &a).unwrap();
        let two = Blob::json(MediaType::ImageConfig, &b).unwrap();
        assert_eq!(one.bytes, two.bytes);
        assert_eq!(one.descriptor().size(), one.bytes.len() as u64);
    }

    #[test]
    fn repository_names_are_docker_safe() {
        assert_eq!(repository_name("hello.wasm"), "hello");
        assert_eq!(repository_name("My App!.wasm"), "my-app");
        assert_eq!(repository_name("..."), "app");
    }

    #[test]
    fn tags_follow_dockers_rule() {
        for good in ["latest", "v1.2.3", "_x", "a-b_c.d"] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a:b", "a/b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn existing_outputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            check_output(dir.path())
                .unwrap_err()
                .contains("already exists")
        );
        assert!(check_output(&dir.path().join("new.tar")).is_ok());
        assert!(
            check_output(&dir.path().join("missing/new"))
                .unwrap_err()
                .contains("does not exist")
        );
    }
}
