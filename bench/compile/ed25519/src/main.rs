//! Signs and verifies messages with Ed25519 (ed25519-compact, a port of the reference C
//! implementation): a compile-time benchmark input, `ci/bench --only compile`.

use ed25519_compact::{KeyPair, Seed};

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16);
    let keys = KeyPair::from_seed(Seed::new([7; 32]));
    let mut digest = 0u64;
    for round in 0..rounds {
        let message = format!("message number {round}");
        let signature = keys.sk.sign(message.as_bytes(), None);
        keys.pk
            .verify(message.as_bytes(), &signature)
            .expect("a signature of ours verifies");
        digest = signature
            .iter()
            .fold(digest, |h, &b| h.rotate_left(5) ^ u64::from(b));
    }
    println!("{rounds} signatures, digest {digest:016x}");
}
