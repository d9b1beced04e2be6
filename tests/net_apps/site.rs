//! The directory the servers serve, made once per test run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const INDEX: &[u8] = b"<!doctype html>\n<title>mewz</title>\n<p>served by a unikernel</p>\n";
pub const SMALL_PATH: &str = "/small.txt";
pub const BIG_PATH: &str = "/data/big.bin";
/// Several MiB, not a multiple of any buffer size.
pub const BIG_LEN: usize = 3 * 1024 * 1024 + 12_345;

/// A 1 KiB text file.
pub fn small() -> Vec<u8> {
    (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Deterministic bytes that no buffer pattern can fake (xorshift).
pub fn big() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..BIG_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    })
}

/// `index.html`, `small.txt`, `data/big.bin`, `sub/index.html`.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("net-site");
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("index.html"), INDEX).unwrap();
        std::fs::write(d.join("small.txt"), small()).unwrap();
        std::fs::write(d.join("data/big.bin"), big()).unwrap();
        std::fs::write(d.join("sub/index.html"), b"<p>sub</p>\n").unwrap();
        d
    })
}
