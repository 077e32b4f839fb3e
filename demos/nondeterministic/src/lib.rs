//! Draws as a third-party protocol library might: from `rand::thread_rng()` (seeded once per
//! thread from the OS) and from `getrandom` directly. In a simulation, either makes a run
//! depend on more than its seed.

use rand::Rng;

/// An election timeout in milliseconds, from the thread's generator.
pub fn election_timeout_ms() -> u64 {
    rand::thread_rng().gen_range(150..300)
}

/// A nonce from the operating system.
pub fn nonce() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS gives randomness");
    bytes
}
