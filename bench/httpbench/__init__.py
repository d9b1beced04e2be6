"""ci/bench --only http: the static-file server under wrk, mewz against a Linux VM (issue 21).

Per architecture three contenders boot one after the other under the same QEMU binary, machine,
vCPU count, memory, NIC model and port forwarding: mewz's image of the server's .wasm, a Linux VM
(a Debian kernel, an initramfs built here) running the same .wasm under wasmtime, and the same
Linux VM running the same server built natively (Rust, static musl). See docs/bench/README.md.
"""
import resource


def bench(arches, rounds, seconds):
    """Runs the whole benchmark; returns whether every contender ran clean (exit status)."""
    from . import report, run

    # wrk and QEMU's user network each hold a socket per connection (800 and more).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    contenders, machines = run.measure(arches, rounds, seconds)
    return report.report(contenders, machines, rounds, seconds)
