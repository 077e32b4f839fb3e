//! Testing your own protocol from `cargo test`: run a range of seeds, and when one fails, get
//! the seed and the one line that replays it.
//!
//! ```
//! use sim::testing::check_seeds;
//!
//! // In a #[test]: build and run a simulation per seed, return Err with what went wrong.
//! check_seeds(0..100, |seed| {
//!     let answer = seed.wrapping_mul(2) / 2; // stands in for building and running a simulation
//!     if answer == seed || seed >= u64::MAX / 2 { Ok(()) } else { Err(format!("lost {seed}")) }
//! });
//! ```
//!
//! A failure panics with, for example:
//!
//! ```text
//! seed 17 failed: replica n2 applied entry 5 twice
//! replay: FAULTLINE_SEED=17 cargo test -p my-protocol my_test -- --exact --nocapture
//! ```
//!
//! With `FAULTLINE_SEED` set, only that seed runs.

use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

/// The environment variable that narrows `check_seeds` to one seed.
pub const SEED_VARIABLE: &str = "FAULTLINE_SEED";

/// Runs `run` for every seed in `seeds` (or only the seed named by `FAULTLINE_SEED`), and
/// panics at the first failure, naming the seed and the command that replays it. A panic
/// inside `run` counts as a failure of that seed.
pub fn check_seeds(seeds: Range<u64>, mut run: impl FnMut(u64) -> Result<(), String>) {
    let only = std::env::var(SEED_VARIABLE).ok().map(|text| {
        text.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{SEED_VARIABLE}={text} is not a seed (a decimal u64)"))
    });
    let seeds = match only {
        Some(seed) => seed..seed + 1,
        None => seeds,
    };
    for seed in seeds {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| run(seed)));
        let message = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(message)) => message,
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                format!("panicked: {text}")
            }
        };
        panic!(
            "seed {seed} failed: {message}\nreplay: {}",
            replay_line(seed)
        );
    }
}

fn replay_line(seed: u64) -> String {
    // Cargo names the test thread after the test; the package comes from cargo's environment.
    let test = std::thread::current()
        .name()
        .unwrap_or("TEST_NAME")
        .to_string();
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    format!("{SEED_VARIABLE}={seed} cargo test{package} {test} -- --exact --nocapture")
}
