//! The executor `dlopen`s compiled modules whose undefined runtime symbols (`__mewz_trap`, ...)
//! must resolve against the executable itself.
fn main() {
    println!("cargo:rustc-link-arg-bin=mewz-spec-exec=-rdynamic");
}
