//! `mewz package` end to end: the OCI image is what Debian's `skopeo` and `umoci` read, its urunc
//! annotations name the files in its layer, and the image it carries boots under the QEMU
//! command line urunc builds from them (with `-accel tcg` for `-cpu host -enable-kvm`), the
//! container's command becoming the app's `argv`.
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

mod common;

use common::urunc::{self, json};
use common::{MEWZ, arches, examples, scratch, text, tool};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn platform(arch: &str) -> &'static str {
    if arch == "x86_64" { "amd64" } else { "arm64" }
}

/// hello-c.wasm: prints its argv and GREETING, exits with its first numeric argument.
fn hello() -> PathBuf {
    examples("c").join("hello-c.wasm")
}

fn mewz_package(args: &[&str]) -> Output {
    Command::new(MEWZ)
        .arg("package")
        .args(args)
        .output()
        .expect("running mewz package")
}

/// Packages hello-c for `arch` with a greeting and the argument 7, into `output`.
fn package_hello(arch: &str, output: &Path) {
    let out = mewz_package(&[
        hello().to_str().unwrap(),
        "--target",
        arch,
        "--env",
        "GREETING=from the package",
        "-o",
        output.to_str().unwrap(),
        "--",
        "7",
    ]);
    assert!(out.status.success(), "{arch}: {}", text(&out.stderr));
}

/// The urunc annotations every package carries.
fn check_annotations(a: &Value, what: &str) {
    assert_eq!(
        a["com.urunc.unikernel.unikernelType"], "mewz",
        "{what}: {a}"
    );
    assert_eq!(a["com.urunc.unikernel.hypervisor"], "qemu", "{what}: {a}");
    assert_eq!(
        a["com.urunc.unikernel.binary"], "/unikernel/app.img",
        "{what}: {a}"
    );
    assert_eq!(
        a["com.urunc.unikernel.cmdline"], "hello-c.wasm 7",
        "{what}: {a}"
    );
    let version = a["com.urunc.unikernel.unikernelVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(version.starts_with("mewz-rs "), "{what}: {a}");
    assert_eq!(a["com.urunc.unikernel.version"], version, "{what}: {a}");
    // No `--dir`, no initrd.
    assert!(a.get("com.urunc.unikernel.initrd").is_none(), "{what}: {a}");
}

#[test]
fn skopeo_reads_the_layout_and_the_archive_with_their_annotations() {
    for arch in arches() {
        let dir = scratch(&format!("skopeo-{arch}"));
        let layout = dir.join("layout");
        package_hello(&arch, &layout);
        let inspect = json(&tool(
            "skopeo",
            &["inspect", &format!("oci:{}:latest", layout.display())],
        ));
        assert_eq!(inspect["Architecture"], platform(&arch), "{inspect}");
        assert_eq!(inspect["Os"], "linux", "{inspect}");
        check_annotations(&inspect["Labels"], "config labels");
        let manifest = json(&tool(
            "skopeo",
            &[
                "inspect",
                "--raw",
                &format!("oci:{}:latest", layout.display()),
            ],
        ));
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        check_annotations(&manifest["annotations"], "manifest annotations");
        let config = json(&tool(
            "skopeo",
            &[
                "inspect",
                "--config",
                &format!("oci:{}:latest", layout.display()),
            ],
        ));
        assert_eq!(config["config"]["Entrypoint"], json(r#"["hello-c.wasm"]"#));
        assert_eq!(config["config"]["Cmd"], json(r#"["7"]"#));

        // The archive holds the same image; skopeo copies it like any other.
        let archive = dir.join("hello.tar");
        package_hello(&arch, &archive);
        let from_archive = json(&tool(
            "skopeo",
            &[
                "inspect",
                "--raw",
                &format!("oci-archive:{}", archive.display()),
            ],
        ));
        assert_eq!(from_archive, manifest, "{arch}: the same bytes both ways");
        let copy = dir.join("copy");
        tool(
            "skopeo",
            &[
                "copy",
                "--quiet",
                &format!("oci-archive:{}:latest", archive.display()),
                &format!("oci:{}:copied", copy.display()),
            ],
        );
        let copied = json(&tool(
            "skopeo",
            &["inspect", &format!("oci:{}:copied", copy.display())],
        ));
        assert_eq!(copied["Digest"], inspect["Digest"], "{arch}");
    }
}

#[test]
fn one_tag_holds_both_architectures() {
    let dir = scratch("multi-arch");
    let layout = dir.join("layout");
    let out = mewz_package(&[
        hello().to_str().unwrap(),
        "--multi-arch",
        "--tag",
        "v1",
        "-o",
        layout.to_str().unwrap(),
        "--",
        "7",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reference = format!("oci:{}:v1", layout.display());
    let index = json(&tool("skopeo", &["inspect", "--raw", &reference]));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for arch in ["amd64", "arm64"] {
        let image = json(&tool(
            "skopeo",
            &["inspect", "--override-arch", arch, &reference],
        ));
        assert_eq!(image["Architecture"], arch, "{image}");
        check_annotations(&image["Labels"], arch);
    }
}

/// Boots `image` with urunc's QEMU command line for a `mewz` unikernel (network: `-nic none`),
/// `-accel tcg` in place of `-cpu host -enable-kvm`. Returns QEMU's status and the console.
fn boot_like_urunc(arch: &str, image: &Path, append: &str) -> (Option<i32>, String) {
    let mut cmd = Command::new(format!("qemu-system-{arch}"));
    cmd.args(urunc::qemu_options(arch));
    cmd.arg("-kernel")
        .arg(image)
        .args(["-nic", "none", "-no-reboot"]);
    if arch == "x86_64" {
        // urunc adds it on arm64 too, where QEMU refuses it (`virt` has no ISA bus).
        cmd.args(["-device", "isa-debug-exit,iobase=0x501,iosize=2"]);
    }
    cmd.args(["-append", append])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting QEMU");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// QEMU's exit status for the app's `code` under urunc's line: isa-debug-exit's
/// `(code << 1) | 1` on x86_64; aarch64 powers off (PSCI), status 0.
fn urunc_status(arch: &str, code: i32) -> i32 {
    if arch == "x86_64" { (code << 1) | 1 } else { 0 }
}

#[test]
fn umoci_unpacks_what_the_annotations_name_and_it_boots_like_urunc_boots_it() {
    for arch in arches() {
        let dir = scratch(&format!("umoci-{arch}"));
        let layout = dir.join("layout");
        package_hello(&arch, &layout);
        let bundle = dir.join("bundle");
        let unpacked = urunc::unpack(&layout, "latest", &bundle);
        // The runtime spec umoci derives from the image: urunc's annotations and the command.
        check_annotations(&unpacked.spec["annotations"], "runtime spec annotations");
        let process_args = unpacked.command();
        assert_eq!(process_args, ["hello-c.wasm", "7"]);
        // urunc's fallback when the runtime passes no annotations: base64 values.
        let urunc_json =
            json(&std::fs::read_to_string(unpacked.rootfs.join("urunc.json")).unwrap());
        let decoded = |k: &str| {
            use base64::Engine;
            let v = urunc_json[k].as_str().unwrap_or_default();
            text(&base64::engine::general_purpose::STANDARD.decode(v).unwrap())
        };
        assert_eq!(decoded("com.urunc.unikernel.unikernelType"), "mewz");
        assert_eq!(decoded("com.urunc.unikernel.hypervisor"), "qemu");
        let binary = unpacked.spec["annotations"]["com.urunc.unikernel.binary"]
            .as_str()
            .unwrap();
        assert_eq!(decoded("com.urunc.unikernel.binary"), binary);
        let image = unpacked.image();
        assert!(image.is_file(), "{arch}: {} in the layer", image.display());

        // urunc appends the container's command (entrypoint + command) to the kernel line.
        let (status, console) = boot_like_urunc(&arch, &image, &process_args.join(" "));
        assert_eq!(
            status,
            Some(urunc_status(&arch, 7)),
            "{arch}: the machine stops by itself:\n{console}"
        );
        for line in [
            "argv[0]=hello-c.wasm",
            "argv[1]=7",
            "GREETING=from the package",
            "exit: 7",
        ] {
            assert!(console.contains(line), "{arch}: {line}:\n{console}");
        }
        // `mewz run` boots the same file and gives the status back whole (its exit port).
        let out = Command::new(MEWZ)
            .args(["run", "--timeout", "60"])
            .arg(&image)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{arch}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("argv[1]=7"), "{arch}");
        // A Kubernetes `args:` replaces the command; network words come first; a boot line's
        // variable replaces the baked one of its name.
        let (status, console) = boot_like_urunc(
            &arch,
            &image,
            "ip=10.0.2.15/24 gateway=10.0.2.2 mewz.env=GREETING=replaced hello-c.wasm 3 two words",
        );
        assert_eq!(status, Some(urunc_status(&arch, 3)), "{arch}:\n{console}");
        assert!(
            console.contains("argc=4") && console.contains("argv[3]=words"),
            "{arch}:\n{console}"
        );
        assert!(console.contains("GREETING=replaced"), "{arch}:\n{console}");
        // Later urunc versions append the network words alone: the baked arguments apply.
        let (status, console) = boot_like_urunc(&arch, &image, "ip=10.0.2.15/24 gateway=10.0.2.2");
        assert_eq!(status, Some(urunc_status(&arch, 7)), "{arch}:\n{console}");
        for line in ["argc=2", "argv[0]=hello-c.wasm", "argv[1]=7"] {
            assert!(console.contains(line), "{arch}: {line}:\n{console}");
        }
    }
}

/// The JSON blob `digest` (`sha256:...`) of the layout at `layout`.
fn blob(layout: &Path, digest: &Value) -> Value {
    let hex = digest.as_str().unwrap().trim_start_matches("sha256:");
    json(&std::fs::read_to_string(layout.join("blobs/sha256").join(hex)).unwrap())
}

/// The layer digests of each manifest in the layout at `layout` (one per platform).
fn layer_digests(layout: &Path) -> Vec<Vec<String>> {
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let mut top = blob(layout, &index["manifests"][0]["digest"]);
    if top["mediaType"] == "application/vnd.oci.image.index.v1+json" {
        let manifests = top["manifests"].as_array().unwrap().clone();
        return manifests
            .iter()
            .map(|m| layers_of(&blob(layout, &m["digest"])))
            .collect();
    }
    vec![layers_of(&std::mem::take(&mut top))]
}

fn layers_of(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn directories_go_in_as_the_initrd_in_a_layer_of_their_own() {
    let dir = scratch("initrd");
    for (site, content) in [("a", "one content\n"), ("b", "another content\n")] {
        std::fs::create_dir_all(dir.join(site).join("sub")).unwrap();
        std::fs::write(dir.join(site).join("sub/page.txt"), content).unwrap();
    }
    let wasm = hello();
    let package = |site: &str, target: &[&str], output: &Path| {
        let dir_option = format!("{}::/data", dir.join(site).display());
        let mut args = vec![wasm.to_str().unwrap(), "--dir", &dir_option];
        args.extend(target);
        args.extend(["-o", output.to_str().unwrap(), "--", "7"]);
        let out = mewz_package(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    let (one, two) = (dir.join("one"), dir.join("two"));
    package("a", &["--target", "x86_64"], &one);
    package("b", &["--target", "x86_64"], &two);
    let manifest = json(&tool(
        "skopeo",
        &["inspect", "--raw", &format!("oci:{}:latest", one.display())],
    ));
    assert_eq!(
        manifest["annotations"]["com.urunc.unikernel.initrd"],
        "/unikernel/files.initrd"
    );
    let config = json(&tool(
        "skopeo",
        &[
            "inspect",
            "--config",
            &format!("oci:{}:latest", one.display()),
        ],
    ));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    // Other content, the same bootable image: only the second layer differs.
    let (a, b) = (&layer_digests(&one)[0], &layer_digests(&two)[0]);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0], b[0], "the kernel layer depends on the content");
    assert_ne!(a[1], b[1], "the files layer does not depend on the content");

    // umoci puts the archive where the annotation says; urunc.json names it too.
    let unpacked = urunc::unpack(&one, "latest", &dir.join("bundle"));
    let rootfs = &unpacked.rootfs;
    let initrd = std::fs::read(rootfs.join("unikernel/files.initrd")).unwrap();
    assert!(
        initrd.windows(b"page.txt".len()).any(|w| w == b"page.txt"),
        "the initrd holds the packed directory"
    );
    assert_eq!(
        unpacked.spec["annotations"]["com.urunc.unikernel.initrd"],
        "/unikernel/files.initrd"
    );
    let urunc_json = json(&std::fs::read_to_string(rootfs.join("urunc.json")).unwrap());
    assert!(
        urunc_json["com.urunc.unikernel.initrd"].is_string(),
        "{urunc_json}"
    );
    // The image itself has no directories baked in: it is the size of one without `--dir`.
    let plain = dir.join("plain.img");
    let out = Command::new(MEWZ)
        .args(["build", "--target", "x86_64", "-o"])
        .arg(&plain)
        .arg(hello())
        .args(["--", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::metadata(rootfs.join("unikernel/app.img"))
            .unwrap()
            .len(),
        std::fs::metadata(&plain).unwrap().len()
    );

    // Both architectures share the one files layer, stored once: the one made for `one`.
    let both = dir.join("both");
    package("a", &["--multi-arch"], &both);
    let layers = layer_digests(&both);
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0][1], layers[1][1]);
    assert_eq!(layers[0][1], a[1]);
    assert_ne!(layers[0][0], layers[1][0]);
    // The index; per platform a manifest, a config and the kernel layer; the files layer.
    let stored = std::fs::read_dir(both.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(stored, 1 + 2 * 3 + 1);
}

/// Sets the modification time of `file` to `seconds` since 1970 (its content unchanged).
fn set_modified(file: &Path, seconds: u64) {
    std::fs::File::open(file)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(seconds)),
        )
        .unwrap();
}

#[test]
fn the_same_app_and_directory_make_the_same_layers_however_often_read() {
    let dir = scratch("reproducible");
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>the same</h1>\n").unwrap();
    std::fs::write(site.join("sub/data.bin"), vec![7u8; 10_000]).unwrap();
    let wasm = hello();
    let dir_option = format!("{}::/data", site.display());
    let package = |output: &str, source_date_epoch: Option<&str>| {
        let layout = dir.join(output);
        let mut cmd = Command::new(MEWZ);
        cmd.arg("package")
            .arg(&wasm)
            .args(["--target", "x86_64", "--dir", &dir_option, "-o"])
            .arg(&layout)
            .env_remove("SOURCE_DATE_EPOCH");
        if let Some(epoch) = source_date_epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{output}: {}", text(&out.stderr));
        let layers = layer_digests(&layout).remove(0);
        assert_eq!(layers.len(), 2, "{output}: {layers:?}");
        layers
    };
    // The files were read between the two (by the first packaging too): no access time, or
    // any other time but the modification time, goes into the layer.
    let first = package("first", None);
    common::read_every_file(&site);
    let second = package("second", None);
    assert_eq!(first, second, "the layers differ after the files were read");
    // With SOURCE_DATE_EPOCH, no time is later than it: a file touched after it changes nothing.
    let epoch = "1700000000";
    let clamped = package("clamped", Some(epoch));
    assert_ne!(
        clamped[1], first[1],
        "the files are newer than SOURCE_DATE_EPOCH"
    );
    set_modified(&site.join("index.html"), 1_800_000_000);
    common::read_every_file(&site);
    assert_eq!(package("touched", Some(epoch)), clamped);
    // Times before it stay as they are.
    set_modified(&site.join("index.html"), 1_600_000_000);
    assert_ne!(package("older", Some(epoch))[1], clamped[1]);
    // Anything but a number of seconds is one line, exit 2.
    let out = Command::new(MEWZ)
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .arg("package")
        .arg(&wasm)
        .args(["--target", "x86_64", "-o"])
        .arg(dir.join("never"))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("SOURCE_DATE_EPOCH=yesterday"), "{err}");
    assert!(!dir.join("never").exists());
}

#[test]
fn the_x86_64_image_stops_through_either_exit_port_on_either_machine() {
    if !arches().iter().any(|a| a == "x86_64") {
        return;
    }
    let dir = scratch("exit-ports");
    let image = dir.join("hello.img");
    let out = Command::new(MEWZ)
        .args(["build", "--target", "x86_64", "-o"])
        .arg(&image)
        .arg(hello())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let machines: [(&str, &[&str]); 2] = [
        ("pc + SeaBIOS", &["-L", "/usr/share/qemu"]),
        ("q35 + qboot", &["-M", "q35", "-bios", "qboot.rom"]),
    ];
    for (name, machine) in machines {
        for (port, size) in [("0x501", "2"), ("0xf4", "4")] {
            let child = Command::new("timeout")
                .args(["120", "qemu-system-x86_64", "-accel", "tcg", "-m", "256M"])
                .args(machine)
                .args(["-nographic", "-vga", "none", "-nic", "none", "-no-reboot"])
                .arg("-device")
                .arg(format!("isa-debug-exit,iobase={port},iosize={size}"))
                .arg("-kernel")
                .arg(&image)
                .args(["-append", "-- 5"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert_eq!(
                child.status.code(),
                Some((5 << 1) | 1),
                "{name}, exit device at {port}:\n{}",
                text(&child.stdout)
            );
        }
    }
}

#[test]
fn bad_requests_are_one_line_and_exit_1_or_2() {
    let dir = scratch("bad");
    let wasm = hello().to_str().unwrap().to_string();
    let existing = dir.join("exists");
    std::fs::create_dir(&existing).unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                wasm.clone(),
                "--target".into(),
                "x86_64".into(),
                "-o".into(),
                existing.display().to_string(),
            ],
            2,
            "already exists",
        ),
        (
            vec![
                wasm.clone(),
                "--platform".into(),
                "linux/riscv64".into(),
                "-o".into(),
                dir.join("x").display().to_string(),
            ],
            2,
            "unknown platform 'linux/riscv64'",
        ),
        (
            vec![
                wasm.clone(),
                "--target".into(),
                "host".into(),
                "-o".into(),
                dir.join("y").display().to_string(),
            ],
            2,
            "not a unikernel",
        ),
        (
            vec![
                wasm.clone(),
                "-o".into(),
                dir.join("z").display().to_string(),
            ],
            2,
            "required",
        ),
        (
            vec![
                wasm.clone(),
                "--target".into(),
                "x86_64".into(),
                "--tag".into(),
                "a:b".into(),
                "-o".into(),
                dir.join("w").display().to_string(),
            ],
            2,
            "not a tag",
        ),
        (
            vec![
                wasm.clone(),
                "--target".into(),
                "x86_64".into(),
                "--dir".into(),
                dir.join("missing").display().to_string(),
                "-o".into(),
                dir.join("v").display().to_string(),
            ],
            2,
            "no such directory",
        ),
    ];
    for (args, code, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = mewz_package(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A module the kernel cannot link: the build's one-line error, exit 1, nothing written.
    let wat = dir.join("needs-host.wat");
    std::fs::write(
        &wat,
        r#"(module (import "env" "host_function" (func)) (memory (export "memory") 1) (func (export "_start") call 0))"#,
    )
    .unwrap();
    let unlinkable = dir.join("needs-host.wasm");
    assert!(
        Command::new("wat2wasm")
            .arg(&wat)
            .arg("-o")
            .arg(&unlinkable)
            .status()
            .unwrap()
            .success()
    );
    let output = dir.join("never");
    let out = mewz_package(&[
        unlinkable.to_str().unwrap(),
        "--target",
        "aarch64",
        "-o",
        output.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .contains("env.host_function"),
        "{err}"
    );
    assert!(!output.exists());
}
