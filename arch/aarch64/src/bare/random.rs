//! Random bytes from the CPU's RNDR instruction (FEAT_RNG), when the CPU has it.

use aarch64_cpu::asm::random::ArmRng;

/// Consecutive RNDR failures after which the source counts as broken.
const MAX_RETRIES: u32 = 64;

pub fn available() -> bool {
    ArmRng::new().is_some()
}

pub fn fill(buf: &mut [u8]) -> bool {
    let Some(rng) = ArmRng::new() else {
        return false;
    };
    for chunk in buf.chunks_mut(8) {
        let mut tries = 0;
        let word = loop {
            // RNDR may report "no entropy now"; the architecture says to retry.
            if let Some(w) = rng.rndr() {
                break w;
            }
            tries += 1;
            if tries == MAX_RETRIES {
                return false;
            }
        };
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
    true
}
