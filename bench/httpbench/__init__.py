"""ci/bench --only http: the static-file server under wrk, mewz against a Linux VM (issue 21).

Per architecture three contenders boot one after the other under the same QEMU binary, machine,
vCPU count, memory, NIC model and port forwarding: mewz's image of the server's .wasm, a Linux VM
(a Debian kernel, an initramfs built here) running the same .wasm under wasmtime, and the same
Linux VM running the same server built natively (Rust, static musl). See docs/bench/README.md.
"""
