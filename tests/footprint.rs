//! Memory footprint through `mewz run`, as a user meets it: many small machines at once, and
//! the clean ends when a machine is too small for the app (exit status 249, one line from the
//! kernel, one hint from `mewz run`), or when `memory.grow` asks for more than it can back.
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

mod common;

use common::{Counters, MEWZ, arches, text};
use mewz_abi::ExitCode;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const OUT_OF_MEMORY: i32 = ExitCode::OUT_OF_MEMORY.0 as i32;

fn work_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("footprint");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A module written here in the text format, made binary by wabt's wat2wasm.
fn wat_module(name: &str, wat: &str) -> PathBuf {
    common::wat2wasm(&work_dir(), name, wat, &[])
}

fn mewz(args: &[&str], file: &Path) -> Output {
    Command::new(MEWZ)
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("running mewz")
}

fn build(arch: &str, wasm: &Path) -> PathBuf {
    let stem = wasm.file_stem().unwrap().to_string_lossy();
    let image = work_dir().join(format!("{stem}.{arch}.img"));
    let out = mewz(
        &["build", "--target", arch, "-o", image.to_str().unwrap()],
        wasm,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    image
}

/// `mewz run` of `wasm` on `arch` in a machine of `vm_memory`, with `extra` options.
fn run_in(arch: &str, vm_memory: &str, extra: &[&str], wasm: &Path) -> Output {
    let mut args = vec!["run", "--target", arch, "--vm-memory", vm_memory];
    args.extend(extra);
    args.extend(["--timeout", "60"]);
    mewz(&args, wasm)
}

/// Checks that `out` is a run that ran out of RAM for a page of the app's `what` in a machine
/// of 8 MiB: exit 249, the kernel's line, then `mewz run`'s hint; returns the kernel's line.
fn ran_out_of_memory_for(what: &str, out: &Output, who: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(OUT_OF_MEMORY), "{who}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{who}: {err}");
    assert!(
        lines[0].starts_with(&format!(
            "out of memory: no RAM left for a page of the app's {what}"
        )),
        "{who}: {err}"
    );
    assert_eq!(
        lines[1], "mewz: the app needs at least 9 MiB: try --vm-memory 16M",
        "{who}: the hint leaves out the files' own RAM"
    );
    lines[0].to_string()
}

/// hello-c and hello-rust, built from source once per test run.
fn hellos() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = work_dir().join("examples");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let built = Command::new("bash")
            .arg(root.join("examples/build.sh"))
            .arg(&out)
            .args(["c", "rust"])
            .output()
            .expect("running examples/build.sh");
        assert!(built.status.success(), "{}", text(&built.stderr));
        out
    })
}

#[test]
fn twenty_hello_machines_of_8_mib_run_at_once() {
    let arches = arches();
    let images: Vec<(String, PathBuf)> = arches
        .iter()
        .flat_map(|arch| {
            ["hello-c", "hello-rust"].map(|name| {
                let image = build(arch, &hellos().join(format!("{name}.wasm")));
                (format!("{name} on {arch}"), image)
            })
        })
        .collect();
    let machines: Vec<_> = (0..20)
        .map(|i| {
            let (who, image) = &images[i % images.len()];
            let child = Command::new(MEWZ)
                .args(["run", "--timeout", "120", "--vm-memory", "8M"])
                .arg(image)
                .arg(format!("{}", i + 1))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting mewz");
            (format!("machine {i}: {who}"), i + 1, child)
        })
        .collect();
    for (who, status, child) in machines {
        let out = child.wait_with_output().unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(status as i32),
            "{who}: {}",
            text(&out.stderr)
        );
        assert!(
            stdout.starts_with("hello from") && stdout.ends_with(&format!("exit: {status}\n")),
            "{who}: {stdout}"
        );
    }
}

#[test]
fn a_declaration_beyond_what_the_machine_may_commit_is_one_line_before_boot_and_at_boot() {
    // 18.75 MiB: more than twice the 8 MiB machine, which is what an app may commit there.
    let wasm = wat_module(
        "declares-19-mib",
        r#"(module (memory (export "memory") 300) (func (export "_start")))"#,
    );
    let expected =
        "the app declares 19200 KiB of initial memory, more than twice the machine's 8 MiB";
    let hint = "the app needs at least 10 MiB: try --vm-memory 10M";
    for arch in arches() {
        // From the .wasm, `mewz run` can tell before it builds anything, however the size is
        // written.
        for size in ["8M", "8MiB", "8388608"] {
            let out = mewz(
                &[
                    "run",
                    "--target",
                    &arch,
                    "--vm-memory",
                    size,
                    "--timeout",
                    "60",
                ],
                &wasm,
            );
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(OUT_OF_MEMORY),
                "{arch} {size}: {err}"
            );
            assert_eq!(err, format!("mewz: {expected}; {hint}\n"), "{arch} {size}");
        }
        // An image is judged by the kernel; its note tells `mewz run` what to suggest.
        let image = build(&arch, &wasm);
        let out = mewz(&["run", "--vm-memory", "8M", "--timeout", "60"], &image);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(OUT_OF_MEMORY), "{arch}: {err}");
        assert!(
            err.contains(&format!("mewz: cannot start the app: {expected}\n")),
            "{arch}: {err}"
        );
        assert_eq!(err.lines().last(), Some(format!("mewz: {hint}").as_str()));
        // The suggested size is enough: it touches nothing.
        let out = mewz(&["run", "--vm-memory", "10M", "--timeout", "60"], &image);
        assert_eq!(out.status.code(), Some(0), "{arch}: {}", text(&out.stderr));
    }
}

#[test]
fn touching_more_than_the_machine_has_ends_with_out_of_memory() {
    // 7.5 MiB declared (within what the 8 MiB machine may commit), all of it written.
    let wasm = wat_module(
        "touches-7-mib",
        r#"(module
             (memory (export "memory") 120)
             (func (export "_start")
               (local $p i32)
               (loop $touch
                 (i32.store (local.get $p) (i32.const 1))
                 (local.set $p (i32.add (local.get $p) (i32.const 4096)))
                 (br_if $touch (i32.lt_u (local.get $p) (i32.const 7864320))))))"#,
    );
    for arch in arches() {
        let out = run_in(&arch, "8M", &[], &wasm);
        let line = ran_out_of_memory_for("linear memory", &out, &arch);
        assert!(line.ends_with("the machine has 8 MiB)"), "{arch}: {line}");
    }
}

/// Grows by 1 MiB at a time and writes every new page, until `memory.grow` returns -1; then
/// exits with the MiB it reached.
const GROW_UNTIL_REFUSED: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $p i32) (local $end i32)
    (loop $more
      (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1))
        (then (call $exit (i32.shr_u (memory.size) (i32.const 4)))))
      (local.set $end (i32.mul (memory.size) (i32.const 65536)))
      (loop $touch
        (i32.store (local.get $p) (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $p) (local.get $end))))
      (br $more))))"#;

#[test]
fn memory_grow_returns_minus_one_when_the_machine_cannot_back_the_pages() {
    let wasm = wat_module("grow-until-refused", GROW_UNTIL_REFUSED);
    for arch in arches() {
        let out = run_in(&arch, "8M", &[], &wasm);
        let reached = out.status.code().unwrap_or(-1);
        // The kernel keeps a little of the 8 MiB: its image (about 0.9 MiB on x86_64 with the
        // network and console code, less on aarch64), its heap at boot (~260 KiB) and its
        // reserve (384 KiB); the app gets the rest in 1 MiB steps (5 on x86_64, 6 on aarch64
        // when measured), and a clean -1 when it asks for more.
        assert!(
            (5..8).contains(&reached),
            "{arch}: reached {reached} MiB: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{arch}: {}", text(&out.stderr));
    }
}

#[test]
fn memory_grow_returns_minus_one_on_the_hosted_target_when_linux_refuses() {
    let wasm = wat_module("grow-until-refused", GROW_UNTIL_REFUSED);
    let exe = work_dir().join("grow-until-refused.host");
    let out = mewz(
        &["build", "--target", "host", "-o", exe.to_str().unwrap()],
        &wasm,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The process's data limit (ulimit -d, 64 MiB) is its machine: Linux refuses to make more
    // of the reservation writable, and memory.grow says so.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 65536 && exec \"$0\"")
        .arg(&exe)
        .output()
        .unwrap();
    let reached = out.status.code().unwrap_or(-1);
    assert!(
        (16..64).contains(&reached),
        "reached {reached} MiB: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_stack_touched_past_the_machine_ends_with_out_of_memory() {
    // About 10 million frames deep: more stack than the 8 MiB machine can back, and below the
    // 8 MiB the stack may take (a larger machine traps with "call stack exhausted").
    let wasm = wat_module(
        "deep-recursion",
        r#"(module
             (memory (export "memory") 1)
             (func $down (param $n i32) (result i32)
               (if (result i32) (i32.eqz (local.get $n))
                 (then (i32.const 0))
                 (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1)))))))
             (func (export "_start") (drop (call $down (i32.const 10000000)))))"#,
    );
    for arch in arches() {
        let out = run_in(&arch, "8M", &[], &wasm);
        ran_out_of_memory_for("stack", &out, &arch);
    }
}

/// Commits 4 MiB of linear memory, then fills the kernel heap in the order given (a file in
/// the preopened directory written until `ENOSPC`, else exit 102; listening sockets until the
/// kernel refuses one, with any errno), then touches the committed pages, which no RAM is left
/// for: the end must be the out-of-memory exit, never a kernel panic.
fn heap_filler(files_first: bool) -> String {
    let files = r#"      ;; a file in the preopened dir, written 64 KiB at a time until ENOSPC (51)
      (local.set $e (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 1)
                      (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 8)))
      (if (local.get $e) (then (call $exit (i32.const 101))))
      (i32.store (i32.const 16) (i32.const 65536))
      (i32.store (i32.const 20) (i32.const 65536))
      (loop $w
        (local.set $e (call $fd_write (i32.load (i32.const 8)) (i32.const 16) (i32.const 1) (i32.const 24)))
        (br_if $w (i32.eqz (local.get $e))))
      (if (i32.ne (local.get $e) (i32.const 51)) (then (call $exit (i32.const 102))))
"#;
    let sockets = r#"      ;; listening sockets until the kernel says no (any errno: a clean refusal)
      (loop $s
        (local.set $e (call $sock_open (i32.const 1) (i32.const 2) (i32.const 12)))
        (if (i32.eqz (local.get $e))
          (then (local.set $e (call $sock_listen (i32.load (i32.const 12)) (i32.const 4096)))))
        (br_if $s (i32.eqz (local.get $e))))
"#;
    let (first, second) = if files_first {
        (files, sockets)
    } else {
        (sockets, files)
    };
    format!(
        "{}{first}{second}{}",
        r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_open" (func $sock_open (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "fill")
  (func (export "_start")
    (local $e i32) (local $p i32) (local $end i32)
    ;; commit 4 MiB more now (nothing touched), to touch once the kernel heap is full
    (if (i32.eq (memory.grow (i32.const 64)) (i32.const -1)) (then (call $exit (i32.const 100))))
"#,
        r#"    ;; now touch the committed pages: no RAM is left for them
    (local.set $p (i32.const 131072))
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (loop $touch
      (i32.store (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $p) (local.get $end))))
    (call $exit (i32.const 7))))
"#
    )
}

#[test]
fn files_sockets_and_pages_share_the_heap_and_run_out_cleanly() {
    // 3 MiB of packed files: a directory of that size is RAM of its own beside the 8 MiB the
    // hint speaks of.
    let site = work_dir().join("heap-filler-site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("blob"), vec![0x5a; 3 << 20]).unwrap();
    let dir = format!("{}::/", site.display());
    for files_first in [true, false] {
        let name = format!(
            "heap-filler-{}",
            if files_first { "files" } else { "sockets" }
        );
        let wasm = wat_module(&name, &heap_filler(files_first));
        for arch in arches() {
            let out = run_in(&arch, "8M", &["--dir", &dir], &wasm);
            ran_out_of_memory_for("linear memory", &out, &format!("{arch} {name}"));
        }
    }
}

#[test]
fn a_machine_too_small_for_the_kernel_image_is_one_line_before_boot() {
    // x86_64 loads the kernel from 1 MiB up: a 1 MiB machine cannot hold it (its loader would
    // write past RAM and the machine hang). aarch64's board puts the device tree at the next
    // 2 MiB boundary after the kernel (loaded 2 MiB into RAM): 4 MiB cannot hold it (QEMU
    // would stop with status 1, which the app could have given).
    for (arch, size, what, needed) in [
        ("x86_64", "1M", "the kernel image, which ends at", 2),
        (
            "aarch64",
            "4M",
            "the kernel image and the device tree after it, which end at",
            5,
        ),
    ] {
        if !arches().iter().any(|a| a == arch) {
            continue;
        }
        let image = build(arch, &hellos().join("hello-c.wasm"));
        let started = std::time::Instant::now();
        let out = mewz(&["run", "--vm-memory", size, "--timeout", "60"], &image);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(OUT_OF_MEMORY), "{arch}: {err}");
        let mib = size.trim_end_matches('M');
        assert!(
            err.starts_with(&format!(
                "mewz: the machine's {mib} MiB cannot hold {what} "
            )) && err.ends_with(&format!(
                " KiB; the app needs at least {needed} MiB: try --vm-memory {needed}M\n"
            )) && err.lines().count() == 1,
            "{arch}: {err}"
        );
        assert!(started.elapsed().as_secs() < 30, "{arch}: before boot");
        // The suggested size boots it.
        let out = mewz(
            &[
                "run",
                "--vm-memory",
                &format!("{needed}M"),
                "--timeout",
                "60",
            ],
            &image,
        );
        assert_eq!(out.status.code(), Some(0), "{arch}: {}", text(&out.stderr));
    }
}

/// A C guest, written here and compiled with clang-19 (ci/setup installs it and wasi-libc).
fn c_module(name: &str, source: &str) -> PathBuf {
    let (src, wasm) = (
        work_dir().join(format!("{name}.c")),
        work_dir().join(format!("{name}.wasm")),
    );
    std::fs::write(&src, source).unwrap();
    let out = Command::new("clang-19")
        .args(["--target=wasm32-wasi", "-O2", "-Wall"])
        .arg(&src)
        .arg("-o")
        .arg(&wasm)
        .output()
        .expect("running clang-19");
    assert!(out.status.success(), "{}", text(&out.stderr));
    wasm
}

/// 32 connections to itself on 127.0.0.1, each saying a line both ways; all but one closed;
/// then the heap filled with a file until `ENOSPC`; then new connections until the kernel
/// refuses one; then 256 KB each way through the connection kept open, whose buffers'
/// untouched pages must still be backed. Prints each phase; exits 0 if all held.
const SOCKET_BUFFERS: &str = r#"#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <wasi/api.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
typedef struct { uint8_t *buf; uint32_t len; } addr_t;
IMPORT("sock_open") int32_t we_open(int32_t af, int32_t type, uint32_t *fd);
IMPORT("sock_bind") int32_t we_bind(uint32_t fd, addr_t *addr, uint32_t port);
IMPORT("sock_listen") int32_t we_listen(uint32_t fd, int32_t backlog);
IMPORT("sock_connect") int32_t we_connect(uint32_t fd, addr_t *addr, uint32_t port);
IMPORT("sock_getlocaladdr") int32_t we_local(uint32_t fd, addr_t *addr, uint32_t *type, uint32_t *port);

#define CONNECTIONS 32
static uint8_t localhost[4] = {127, 0, 0, 1};
static uint8_t out[256 << 10], in[256 << 10];

static void fail(const char *what, long got) {
    printf("FAIL %s (%ld)\n", what, got);
    __wasi_proc_exit(1);
}

static void pause_ms(uint64_t ms) {
    __wasi_subscription_t sub;
    memset(&sub, 0, sizeof sub);
    sub.u.tag = __WASI_EVENTTYPE_CLOCK;
    sub.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    sub.u.u.clock.timeout = ms * 1000000;
    __wasi_event_t ev; __wasi_size_t n;
    __wasi_poll_oneoff(&sub, &ev, 1, &n);
}

/// Sends `len` bytes of `out` from `a` to `b` and reads them back there, both non-blocking.
static void carry(uint32_t a, uint32_t b, size_t len) {
    size_t sent = 0, got = 0;
    for (int rounds = 0; got < len; rounds++) {
        if (rounds > 200000) fail("carry: stuck", got);
        if (sent < len) {
            __wasi_ciovec_t iov = {out + sent, len - sent};
            __wasi_size_t n = 0;
            int32_t r = __wasi_sock_send(a, &iov, 1, 0, &n);
            if (r == 0) sent += n; else if (r != __WASI_ERRNO_AGAIN) fail("send", r);
        }
        __wasi_iovec_t iov = {in + got, len - got};
        __wasi_size_t n = 0; __wasi_roflags_t of;
        int32_t r = __wasi_sock_recv(b, &iov, 1, 0, &n, &of);
        if (r == 0) got += n; else if (r != __WASI_ERRNO_AGAIN) fail("recv", r);
        else pause_ms(1);
    }
    if (memcmp(in, out, len) != 0) fail("carry: data changed", len);
}

int main(void) {
    for (size_t i = 0; i < sizeof out; i++) out[i] = (uint8_t)(i * 31 + 7);
    // Every page of linear memory touched now: once the heap is full, touching a new page of
    // the app's would end it with "out of memory", as it should.
    size_t bytes = __builtin_wasm_memory_size(0) * 65536;
    for (size_t p = 4096; p < bytes; p += 4096) (void)((volatile uint8_t *)p)[0];
    uint32_t l = 0, c[CONNECTIONS], s[CONNECTIONS], type = 0, port = 0;
    addr_t lo = {localhost, 4};
    uint8_t ip[16]; addr_t a = {ip, 16};
    if (we_open(1, 2, &l) || we_bind(l, &lo, 0) || we_listen(l, 64) || we_local(l, &a, &type, &port))
        fail("listener", 0);
    for (int i = 0; i < CONNECTIONS; i++) {
        int32_t r = we_open(1, 2, &c[i]);
        if (r == 0) r = we_connect(c[i], &lo, port);
        if (r == 0) r = __wasi_sock_accept(l, 0, &s[i]);
        if (r) fail("connection", r);
        __wasi_fd_fdstat_set_flags(c[i], __WASI_FDFLAGS_NONBLOCK);
        __wasi_fd_fdstat_set_flags(s[i], __WASI_FDFLAGS_NONBLOCK);
        carry(c[i], s[i], 100);
        carry(s[i], c[i], 100);
    }
    printf("%d connections open\n", CONNECTIONS);
    pause_ms(1500);
    for (int i = 1; i < CONNECTIONS; i++) {
        __wasi_fd_close(c[i]);
        __wasi_fd_close(s[i]);
    }
    pause_ms(1500);
    printf("%d closed\n", CONNECTIONS - 1);

    // The heap beyond the kernel's reserve filled with a file, 64 KiB at a time, to ENOSPC.
    int fd = open("/data/fill", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("open /data/fill", errno);
    size_t kib = 0;
    for (ssize_t n; (n = write(fd, out, 65536)) > 0;) kib += n / 1024;
    if (errno != ENOSPC) fail("filling the heap with a file: not ENOSPC", errno);
    printf("a file of %zu KiB filled the heap\n", kib);

    // New connections (not waited for) until the kernel cannot back one: an errno at connect.
    int32_t refused = 0;
    for (int i = 0; i < 64 && !refused; i++) {
        uint32_t fd = 0;
        int32_t r = we_open(1, 2, &fd);
        if (r == 0) r = __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_NONBLOCK);
        if (r == 0) r = we_connect(fd, &lo, port);
        if (r && r != __WASI_ERRNO_INPROGRESS) refused = r;
    }
    printf("a new connection refused with errno %d\n", refused);
    if (refused != __WASI_ERRNO_NOMEM && refused != __WASI_ERRNO_NOBUFS) fail("refusal", refused);

    // The connection made before still has every page of its buffers.
    carry(c[0], s[0], sizeof out);
    carry(s[0], c[0], sizeof out);
    printf("256 KiB each way through the first connection\n");
    __wasi_fd_close(c[0]);
    __wasi_fd_close(s[0]);
    pause_ms(1500);
    printf("all ok\n");
    return 0;
}
"#;

/// `buffers K KiB touched` of the kernel's counters lines (`-v`), with the app's sockets.
fn buffer_counters(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter_map(Counters::parse)
        .filter_map(|c| Some((c.app_sockets, c.buffers_kib?)))
        .collect()
}

#[test]
fn socket_buffers_cost_what_is_touched_and_never_fail_later() {
    let wasm = c_module("socket-buffers", SOCKET_BUFFERS);
    let data = work_dir().join("socket-buffers-data");
    std::fs::create_dir_all(&data).unwrap();
    let dir = format!("{}::/data", data.display());
    for arch in arches() {
        // 256 MiB: 32 KiB buffers, backed on touch.
        let out = mewz(
            &[
                "run",
                "--target",
                &arch,
                "--vm-memory",
                "256M",
                "--net",
                "none",
                "--dir",
                &dir,
                "-v",
                "--timeout",
                "120",
            ],
            &wasm,
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success() && stdout.ends_with("all ok\n"),
            "{arch}: {:?}\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("32 KiB per stream buffer"),
            "{arch}: {stderr}"
        );
        let counters = buffer_counters(&stderr);
        // 32 connections open (65 sockets of the app): a page of each of their 128 buffers
        // touched, of 4 MiB.
        let open = counters
            .iter()
            .filter(|(app, _)| *app == 65)
            .map(|c| c.1)
            .max();
        assert!(
            open.is_some_and(|kib| (4..=640).contains(&kib)),
            "{arch}: {counters:?}"
        );
        // All but one closed: that one's four pages.
        assert!(counters.contains(&(3, 16)), "{arch}: {counters:?}");
        // All closed: the listener's waiting sockets, never touched, and nothing else.
        assert_eq!(
            counters.last().map(|c| c.1),
            Some(0),
            "{arch}: {counters:?}"
        );
        let report = stderr
            .lines()
            .find(|l| l.contains("memory: peak"))
            .unwrap_or_else(|| panic!("{arch}: no memory report: {stderr}"));
        assert!(
            report.contains("kernel buffers 0 pages touched"),
            "{arch}: {report}"
        );
    }
}
