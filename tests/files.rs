//! `--dir`: packed directories on every target, driven through the `mewz` CLI as a user would,
//! compared with wasmtime on copies of the same directories.
//!
//! Guests are `examples/files/` (built by `examples/build.sh ... files`); architectures come
//! from `MEWZ_TEST_ARCHES` (default: both); wasmtime from `.tools/bin`.

mod common;

use common::{arches, examples, mewz, root, scratch, targets, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `examples/files/NAME.c` as a .wasm.
fn guest(name: &str) -> PathBuf {
    examples("files").join(format!("files-{name}.wasm"))
}

fn wasmtime(dirs: &[(&Path, &str)], wasm: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(root().join(".tools/bin/wasmtime"));
    cmd.arg("run");
    for (host, guest) in dirs {
        cmd.arg("--dir").arg(format!("{}::{guest}", host.display()));
    }
    cmd.arg(wasm)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running wasmtime")
}

/// Runs a hosted executable. A file this process just wrote can be briefly "busy" (another
/// test thread forked while it was open for writing): that is retried, not a failure.
fn run_executable(exe: &Path, args: &[&str]) -> Output {
    for _ in 0..100 {
        match Command::new(exe).args(args).stdin(Stdio::null()).output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            result => return result.expect("running a hosted executable"),
        }
    }
    panic!("{} stayed busy", exe.display())
}

/// Runs `mewz` with `args`, which must exit 0; its stdout (`who` names the case).
fn mewz_ok(args: &[&str], who: &str) -> String {
    let out = mewz(args);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{who}: {stdout}{}",
        text(&out.stderr)
    );
    stdout
}

/// Runs the `image` built for `target` with `args`: a hosted executable takes its arguments
/// when it runs; images have them baked in, and take `args` as `mewz run`'s.
fn run_image(target: &str, image: &Path, args: &[&str]) -> Output {
    if target == "host" {
        run_executable(image, args)
    } else {
        let mut run = vec!["run", image.to_str().unwrap()];
        run.extend(args);
        mewz(&run)
    }
}

fn dir_arg(host: &Path, guest: &str) -> String {
    format!("{}::{guest}", host.display())
}

/// Every path under `dir` with its kind and, for files and symlinks, contents or target.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                format!("{:x?}", std::fs::read(&p).unwrap())
            };
            out.push((p.strip_prefix(dir).unwrap().display().to_string(), what));
        }
    }
    out.sort();
    out
}

/// The tree `tour.c` expects.
fn tour_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deep")).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from the host\n").unwrap();
    std::fs::hard_link(dir.join("hello.txt"), dir.join("hard.txt")).unwrap();
    std::os::unix::fs::symlink("hello.txt", dir.join("link")).unwrap();
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("blob.bin"), blob).unwrap();
    std::fs::write(dir.join("sub/deep/nested.txt"), "nested\n").unwrap();
}

#[test]
fn the_tour_matches_wasmtime_and_nothing_reaches_the_host() {
    let wasm = guest("tour");
    let base = scratch("tour");
    let reference_dir = base.join("wasmtime");
    tour_tree(&reference_dir);
    let reference = wasmtime(&[(&reference_dir, "/data")], &wasm, &[]);
    assert_eq!(
        reference.status.code(),
        Some(0),
        "wasmtime: {}",
        text(&reference.stdout)
    );
    assert!(text(&reference.stdout).ends_with("ok: 0 failed check(s)\n"));
    for target in targets() {
        let dir = base.join(&target);
        tour_tree(&dir);
        let before = snapshot(&dir);
        let out = mewz(&[
            "run",
            "--target",
            &target,
            "--dir",
            &dir_arg(&dir, "/data"),
            wasm.to_str().unwrap(),
        ]);
        assert_eq!(
            (out.status.code(), text(&out.stdout)),
            (Some(0), text(&reference.stdout)),
            "{target}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            snapshot(&dir),
            before,
            "{target}: the host directory changed"
        );
    }
}

/// The tree `probe.c` expects; part 3 also wants symlinks that leave it.
fn probe_tree(dir: &Path, part: u32) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("file.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("sub/inner"), "x\n").unwrap();
    std::os::unix::fs::symlink("nothing", dir.join("dangle")).unwrap();
    if part == 3 {
        std::os::unix::fs::symlink("/etc/passwd", dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("../outside", dir.join("up")).unwrap();
        std::os::unix::fs::symlink("sub/../file.txt", dir.join("rel")).unwrap();
    }
}

#[test]
fn about_four_hundred_errnos_match_wasmtime() {
    let wasm = guest("probe");
    let base = scratch("probe");
    // One image per architecture, booted once per part with fresh directories.
    let mut runners: Vec<(String, Vec<String>)> = vec![(
        "host".into(),
        vec![
            "run".into(),
            "--target".into(),
            "host".into(),
            wasm.display().to_string(),
        ],
    )];
    for arch in arches() {
        let image = base.join(format!("probe.{arch}.img"));
        mewz_ok(
            &[
                "build",
                "--target",
                &arch,
                wasm.to_str().unwrap(),
                "-o",
                image.to_str().unwrap(),
            ],
            &arch,
        );
        runners.push((arch, vec!["run".into(), image.display().to_string()]));
    }
    for part in 1..=4u32 {
        let reference_dir = base.join(format!("wasmtime-{part}"));
        probe_tree(&reference_dir, part);
        let reference = wasmtime(
            &[(&reference_dir, "/data"), (&reference_dir, "other")],
            &wasm,
            &[&part.to_string()],
        );
        assert_eq!(reference.status.code(), Some(0), "wasmtime part {part}");
        let lines = text(&reference.stdout).lines().count();
        assert!(lines >= 10, "part {part}: only {lines} lines");
        for (target, run) in &runners {
            let dir = base.join(format!("{target}-{part}"));
            probe_tree(&dir, part);
            let mut args: Vec<String> = run[..1].to_vec();
            args.push("--dir".into());
            args.push(dir_arg(&dir, "/data"));
            args.push("--dir".into());
            args.push(dir_arg(&dir, "other"));
            args.extend(run[1..].iter().cloned());
            args.push(part.to_string());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let got = mewz_ok(&args, &format!("{target} part {part}"));
            let want = text(&reference.stdout);
            let first_difference = want
                .lines()
                .zip(got.lines())
                .find(|(w, g)| w != g)
                .map(|(w, g)| format!("wasmtime: {w:?}\n    mewz: {g:?}"));
            assert_eq!(
                want, got,
                "{target} part {part} differs from wasmtime; first difference:\n{first_difference:?}"
            );
        }
    }
}

/// `digest.c`'s summary of a tree, computed here: per file the hash of its guest path and of
/// its bytes, XORed, summed (the hash: FNV-1a over little-endian 64-bit words, the tail
/// zero-padded, the length last).
fn digest(host: &Path, guest: &str) -> (u64, u64, u64) {
    fn hash(bytes: &[u8]) -> u64 {
        const PRIME: u64 = 0x100000001b3;
        let mut h: u64 = 0xcbf29ce484222325;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(PRIME);
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(PRIME);
        }
        (h ^ bytes.len() as u64).wrapping_mul(PRIME)
    }
    let (mut files, mut bytes, mut sum) = (0, 0, 0u64);
    let mut stack = vec![(host.to_path_buf(), guest.to_string())];
    while let Some((h, g)) = stack.pop() {
        for e in std::fs::read_dir(&h).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let (hp, gp) = (e.path(), format!("{g}/{name}"));
            let m = std::fs::symlink_metadata(&hp).unwrap();
            if m.is_dir() {
                stack.push((hp, gp));
            } else if m.is_file() {
                let data = std::fs::read(&hp).unwrap();
                files += 1;
                bytes += data.len() as u64;
                sum = sum.wrapping_add(hash(gp.as_bytes()) ^ hash(&data));
            }
        }
    }
    (files, bytes, sum)
}

fn digest_line((files, bytes, sum): (u64, u64, u64)) -> String {
    format!("files {files} bytes {bytes} digest {sum:016x}")
}

fn small_tree(dir: &Path, seed: u8) {
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("one"), [seed; 100]).unwrap();
    std::fs::write(dir.join("a/b/two"), vec![seed ^ 0x55; 5000]).unwrap();
}

#[test]
fn baked_directories_and_run_time_ones_that_replace_them() {
    let wasm = guest("digest");
    let base = scratch("baked");
    let (baked, given) = (base.join("baked"), base.join("given"));
    small_tree(&baked, 1);
    small_tree(&given, 2);
    let (want_baked, want_given) = (
        digest_line(digest(&baked, "/files")),
        digest_line(digest(&given, "/files")),
    );
    assert_ne!(want_baked, want_given);
    for target in targets() {
        let image = base.join(format!("digest.{target}"));
        mewz_ok(
            &[
                "build",
                "--target",
                &target,
                "--dir",
                &dir_arg(&baked, "/files"),
                wasm.to_str().unwrap(),
                "-o",
                image.to_str().unwrap(),
            ],
            &target,
        );
        let out = run_image(&target, &image, &["/files"]);
        assert_eq!(
            text(&out.stdout).trim(),
            want_baked,
            "{target}: {}",
            text(&out.stderr)
        );
        if target != "host" {
            let out = mewz(&[
                "run",
                "--dir",
                &dir_arg(&given, "/files"),
                image.to_str().unwrap(),
                "/files",
            ]);
            assert_eq!(
                text(&out.stdout).trim(),
                want_given,
                "{target}: the run-time directory must replace the baked one: {}",
                text(&out.stderr)
            );
        }
    }
}

/// An image with directories baked in is the same bytes however often their files were read:
/// `mewz build` records neither access nor change times (see the README).
#[test]
fn baked_images_do_not_depend_on_when_their_files_were_read() {
    let wasm_file = guest("digest");
    let wasm = wasm_file.to_str().unwrap();
    let base = scratch("reproducible");
    let tree = base.join("tree");
    small_tree(&tree, 5);
    let d = dir_arg(&tree, "/files");
    for arch in arches() {
        let build = |name: &str| {
            let image = base.join(format!("{name}.{arch}.img"));
            let image_arg = image.to_str().unwrap();
            mewz_ok(
                &[
                    "build", "--target", &arch, "--dir", &d, wasm, "-o", image_arg,
                ],
                &arch,
            );
            std::fs::read(&image).unwrap()
        };
        let first = build("first");
        common::read_every_file(&tree);
        assert!(first == build("second"), "{arch}: the images differ");
    }
}

/// Damages a byte of the archive's index in an image or executable: found through the ELF
/// section where there is one, else as the last occurrence of the magic (an arm64 Image ends
/// with its data, and the archive is the last of it).
/// Damages the archive in image `file`: a byte of its index flipped, or (`truncate`) its data
/// length made longer than the bytes that hold it.
fn damage_archive(file: &Path, truncate: bool) {
    use object::{Object, ObjectSection};
    let mut bytes = std::fs::read(file).unwrap();
    let at = match object::File::parse(&*bytes) {
        Ok(elf) => {
            let s = elf
                .section_by_name("mewz_files")
                .expect("a mewz_files section");
            s.file_range().expect("mewz_files has bytes in the file").0 as usize
        }
        Err(_) => bytes
            .windows(8)
            .rposition(|w| w == b"MEWZPACK")
            .expect("an archive in the image"),
    };
    assert_eq!(&bytes[at..at + 8], b"MEWZPACK");
    if truncate {
        // `data_len`, a u64 at offset 40 of the header: 1 GiB more than there is.
        bytes[at + 43] = bytes[at + 43].wrapping_add(0x40);
    } else {
        bytes[at + 70] ^= 0xff;
    }
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn bad_directories_special_files_and_corrupt_archives() {
    let wasm = guest("digest");
    let base = scratch("bad");
    let file = base.join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let output = base.join("never.img");
    for (dir, want) in [
        (base.join("missing"), "no such directory"),
        (file.clone(), "not a directory"),
    ] {
        for cmd in [
            vec![
                "build",
                "--target",
                "x86_64",
                "-o",
                output.to_str().unwrap(),
            ],
            vec!["run", "--target", "host"],
        ] {
            let mut args = cmd.clone();
            let d = dir_arg(&dir, "/x");
            args.extend(["--dir", &d, wasm.to_str().unwrap()]);
            let out = mewz(&args);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(
                err.contains(want) && err.contains(&dir.display().to_string()),
                "{err}"
            );
            assert!(!output.exists(), "nothing is built");
        }
    }
    // Sockets and FIFOs are skipped with a warning; the rest is packed.
    let special = base.join("special");
    small_tree(&special, 3);
    let _socket = std::os::unix::net::UnixListener::bind(special.join("sock")).unwrap();
    let fifo = special.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A device node needs root to make: where it cannot be made, that case is left out.
    let device = special.join("null");
    let with_device = Command::new("mknod")
        .args([device.to_str().unwrap(), "c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let out = mewz(&[
        "run",
        "--target",
        "host",
        "--dir",
        &dir_arg(&special, "/files"),
        wasm.to_str().unwrap(),
        "/files",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2 + usize::from(with_device), "{err}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("sock") && w.contains("socket"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("fifo") && w.contains("FIFO"))
    );
    if with_device {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("null") && w.contains("device")),
            "{err}"
        );
        std::fs::remove_file(&device).unwrap();
    }
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(special.join("sock")).unwrap();
    assert_eq!(
        text(&out.stdout).trim(),
        digest_line(digest(&special, "/files"))
    );
    // A damaged or truncated archive: one line naming the problem, exit status 254, on every
    // target.
    for (target, truncate) in targets()
        .into_iter()
        .flat_map(|t| [(t.clone(), false), (t, true)])
    {
        let image = base.join(format!("damaged.{target}.{truncate}"));
        mewz_ok(
            &[
                "build",
                "--target",
                &target,
                "--dir",
                &dir_arg(&special, "/files"),
                wasm.to_str().unwrap(),
                "-o",
                image.to_str().unwrap(),
            ],
            &target,
        );
        damage_archive(&image, truncate);
        let out = run_image(&target, &image, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{target}: {err}");
        let why = if truncate { "truncated" } else { "damaged" };
        assert!(
            err.lines()
                .next()
                .is_some_and(|l| l.contains("packed directories") && l.contains(why)),
            "{target}: {err}"
        );
        assert!(out.stdout.is_empty(), "{target}: the app must not start");
    }
}

#[test]
fn full_filesystem_is_enospc_and_too_many_files_emfile() {
    let wasm_file = guest("limits");
    let wasm = wasm_file.to_str().unwrap();
    let base = scratch("limits");
    let dir = base.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x"), "x").unwrap();
    let d = dir_arg(&dir, "/data");
    for target in targets() {
        let stdout = mewz_ok(
            &["run", "--target", &target, "--dir", &d, wasm, "fds"],
            &target,
        );
        assert!(
            stdout.starts_with(
                "opened 4092 descriptors, then No file descriptors available (errno 33)\n"
            ),
            "{target}: {stdout}"
        );
        // The hosted runtime's files live in the process's own memory: no heap of the kernel's
        // to run out of (see the README).
        if target == "host" {
            continue;
        }
        let stdout = mewz_ok(
            &[
                "run",
                "--target",
                &target,
                "--vm-memory",
                "128M",
                "--dir",
                &d,
                wasm,
                "space",
            ],
            &target,
        );
        let mib: u64 = stdout
            .strip_prefix("wrote ")
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{target}: {stdout}"));
        assert!((32..128).contains(&mib), "{target}: {stdout}");
        assert!(
            stdout.contains("No space left on device (errno 51)"),
            "{target}: {stdout}"
        );
        assert!(
            stdout.ends_with("after deleting it: 1 MiB written\n"),
            "{target}: {stdout}"
        );
    }
}

#[test]
fn hostile_pointers_in_file_calls_are_efault_and_change_nothing() {
    let wasm_file = guest("limits");
    let wasm = wasm_file.to_str().unwrap();
    let dir = scratch("fault").join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x"), "x").unwrap();
    let d = dir_arg(&dir, "/data");
    for target in targets() {
        let stdout = mewz_ok(
            &["run", "--target", &target, "--dir", &d, wasm, "fault"],
            &target,
        );
        let calls = stdout.lines().filter(|l| l.ends_with(": EFAULT")).count();
        assert_eq!(calls, 18, "{target}: {stdout}");
        assert!(
            stdout.ends_with("all EFAULT, nothing changed\n"),
            "{target}: {stdout}"
        );
    }
    assert_eq!(std::fs::read(dir.join("x")).unwrap(), b"x");
}

/// 10 000 small files in 100 directories and 200 MiB in four large ones (up to 64 MiB).
fn scale_tree(dir: &Path) {
    for d in 0..100 {
        let sub = dir.join(format!("small/d{d:02}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..100 {
            let i = d * 100 + f;
            std::fs::write(
                sub.join(format!("f{i:05}")),
                format!("file {i}\n").repeat(i % 37),
            )
            .unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("big")).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for (name, mib) in [("a", 64), ("b", 64), ("c", 64), ("d", 8)] {
        let bytes: Vec<u8> = (0..(mib << 20) / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        std::fs::write(dir.join(format!("big/{name}.bin")), bytes).unwrap();
    }
}

#[test]
fn ten_thousand_files_and_200_mib_read_back_byte_exact() {
    let wasm_file = guest("digest");
    let wasm = wasm_file.to_str().unwrap();
    let base = scratch("scale");
    let tree = base.join("tree");
    scale_tree(&tree);
    let want = digest(&tree, "/files");
    assert_eq!(want.0, 10_004);
    assert!(want.1 > 200 << 20);
    let medium = base.join("medium");
    small_tree(&medium, 9);
    std::fs::write(medium.join("three-mib"), vec![0xa5u8; 3 << 20]).unwrap();
    let want_medium = digest(&medium, "/files");
    // The hosted runtime reads its archive the same way (tested at small sizes above); the
    // unikernels are where size matters: the image grows by 200 MiB.
    for target in arches() {
        let image = base.join(format!("digest.{target}"));
        let d = dir_arg(&tree, "/files");
        let image_arg = image.to_str().unwrap();
        mewz_ok(
            &[
                "build", "--target", &target, "--dir", &d, wasm, "-o", image_arg, "--", "/files",
            ],
            &target,
        );
        // Baked large directories reach the machine as RAM of their own (see the README).
        let stdout = mewz_ok(&["run", image_arg], &target);
        assert_eq!(
            stdout.lines().filter(|l| l.contains("/files/big/")).count(),
            4,
            "{target}: {stdout}"
        );
        assert_eq!(
            stdout.lines().last(),
            Some(digest_line(want).as_str()),
            "{target}"
        );
        // A large directory given at run time takes the same way, replacing the baked one.
        let out = mewz(&[
            "run",
            "--dir",
            &dir_arg(&medium, "/files"),
            image.to_str().unwrap(),
        ]);
        assert_eq!(
            text(&out.stdout).lines().last(),
            Some(digest_line(want_medium).as_str()),
            "{target}: {}",
            text(&out.stderr)
        );
        let _ = std::fs::remove_file(&image);
    }
}
