//! Boots the bare kernel on every architecture through `mewz run`, the way a user would, and
//! checks what the foundation promises: banner, heap, timer interrupts and clock, the CPU-fault
//! report and the panic path, each with its exit status.
//!
//! Architectures come from `MEWZ_TEST_ARCHES` (default: both).

mod common;

use common::{arches, kernel_image, mewz, text};

/// Boots `arch`'s kernel with extra kernel words; returns (exit status, stdout, stderr).
fn boot(arch: &str, kernel_args: &[&str]) -> (i32, String, String) {
    let image = kernel_image(arch);
    let mut args = vec!["run", "--timeout", "120"];
    for a in kernel_args {
        args.extend(["--kernel-arg", a]);
    }
    args.push(image.to_str().unwrap());
    let out = mewz(&args);
    let status = out.status.code().expect("mewz killed by a signal");
    (status, text(&out.stdout), text(&out.stderr))
}

fn for_each_arch(check: impl Fn(&str)) {
    for arch in arches() {
        check(&arch);
    }
}

#[test]
fn banner_and_all_selfchecks_pass() {
    for_each_arch(|arch| {
        let (status, _, err) = boot(arch, &[]);
        assert_eq!(status, 0, "{arch}: {err}");
        assert!(
            err.contains(&format!("booting on {arch}")),
            "{arch}: no banner in\n{err}"
        );
        for check in ["heap", "timer", "clock", "random", "touch"] {
            assert!(
                err.contains(&format!("selftest {check}: ok")),
                "{arch}: {check} not ok in\n{err}"
            );
        }
        assert!(err.contains("selftest: all passed"), "{arch}: {err}");
    });
}

#[test]
fn heap_allocations_work() {
    for_each_arch(|arch| {
        let (status, _, err) = boot(arch, &["mewz.selftest=heap"]);
        assert_eq!(status, 0, "{arch}: {err}");
        assert!(err.contains("selftest heap: ok"), "{arch}: {err}");
        assert!(
            !err.contains("selftest timer"),
            "{arch}: ran more than asked: {err}"
        );
    });
}

#[test]
fn timer_interrupts_advance_the_clock() {
    for_each_arch(|arch| {
        let (status, _, err) = boot(arch, &["mewz.selftest=timer"]);
        assert_eq!(status, 0, "{arch}: {err}");
        let line = err
            .lines()
            .find(|l| l.contains("timer interrupt(s)"))
            .unwrap_or_else(|| panic!("{arch}: {err}"));
        // "selftest timer: 5 sleeps of 10 ms took N us, M timer interrupt(s)"
        let us: u64 = line
            .split(" took ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let ticks: u64 = line
            .split(", ")
            .last()
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(us >= 50_000, "{arch}: clock advanced only {us} us: {line}");
        assert!(ticks >= 5, "{arch}: only {ticks} timer interrupts: {line}");
    });
}

#[test]
fn cpu_fault_is_reported_with_the_exception_status() {
    for_each_arch(|arch| {
        let (status, _, err) = boot(arch, &["mewz.selftest=fault"]);
        assert_eq!(status, 251, "{arch}: {err}");
        let fields: &[&str] = if arch == "x86_64" {
            &["vector 14", "error code", "rip", "cr2", "rsp", "rax", "r15"]
        } else {
            &["esr", "elr", "far", "x0", "x30"]
        };
        let lower = err.to_lowercase();
        for f in fields {
            assert!(lower.contains(f), "{arch}: report lacks {f}:\n{err}");
        }
        assert!(err.contains("kernel fault"), "{arch}: {err}");
    });
}

#[test]
fn repeated_kernel_options_keep_their_order() {
    // The kernel takes the last of a repeated option: `heap` must run, not `panic`.
    for_each_arch(|arch| {
        let (status, _, err) = boot(arch, &["mewz.selftest=panic", "mewz.selftest=heap"]);
        assert_eq!(status, 0, "{arch}: {err}");
        assert!(err.contains("selftest heap: ok"), "{arch}: {err}");
    });
}

#[test]
fn panic_prints_its_message_and_the_panic_status() {
    for_each_arch(|arch| {
        let (status, _, err) = boot(arch, &["mewz.selftest=panic"]);
        assert_eq!(status, 250, "{arch}: {err}");
        assert!(err.contains("kernel panic: "), "{arch}: {err}");
        assert!(err.contains("selftest: deliberate panic"), "{arch}: {err}");
    });
}

#[test]
fn app_output_and_kernel_log_are_separate_streams() {
    for_each_arch(|arch| {
        let (status, out, err) = boot(arch, &["mewz.selftest=heap"]);
        assert_eq!(status, 0, "{arch}: {err}");
        assert!(
            !out.contains("selftest"),
            "{arch}: kernel messages reached stdout: {out}"
        );
        assert!(err.contains("selftest heap"), "{arch}: {err}");
    });
}

#[test]
fn targets_lists_both_architectures_and_the_host() {
    let out = mewz(&["targets"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    for t in ["x86_64 ", "aarch64 ", "host "] {
        assert!(s.lines().any(|l| l.starts_with(t)), "missing {t:?} in\n{s}");
    }
}

/// Asserts a usage error: status 2 and exactly one line on stderr naming the problem.
fn assert_usage_error(args: &[&str], needle: &str) {
    let out = mewz(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
}

#[test]
fn bad_invocations_exit_2_with_one_line() {
    let img = kernel_image(&arches()[0]);
    let img = img.to_str().unwrap();
    assert_usage_error(
        &["run", "--target", "riscv64", img],
        "unsupported target 'riscv64' (supported: x86_64, aarch64, host)",
    );
    assert_usage_error(&["run", "--target", "pdp11", img], "unknown target 'pdp11'");
    assert_usage_error(&["build", "--target", "mips"], "x86_64, aarch64, host");
    assert_usage_error(&["run", "/nonexistent/app.wasm"], "no such file");
    assert_usage_error(&["run", "--frobnicate", img], "--frobnicate");
    assert_usage_error(
        &["run", "Cargo.toml"],
        "neither a .wasm app nor a mewz image",
    );
    assert_usage_error(&["frob"], "frob");
    let other = if arches()[0] == "x86_64" {
        "aarch64"
    } else {
        "x86_64"
    };
    assert_usage_error(&["run", "--target", other, img], "is an image for");
}

#[test]
fn machine_that_never_stops_is_stopped_by_the_timeout() {
    for_each_arch(|arch| {
        let image = kernel_image(arch);
        let out = mewz(&[
            "run",
            "--timeout",
            "3",
            "--kernel-arg",
            "mewz.selftest=hang",
            image.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(252), "{arch}: {err}");
        assert!(err.contains("did not stop within 3 s"), "{arch}: {err}");
    });
}
