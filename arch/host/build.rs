//! Builds the C shim: `sigsetjmp` returns twice, which Rust cannot express, so the catch frame
//! and the per-thread timeout timer live in C.
fn main() {
    println!("cargo:rerun-if-changed=csrc/catch.c");
    cc::Build::new()
        .file("csrc/catch.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("mewz_host_catch");
}
