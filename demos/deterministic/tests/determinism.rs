//! Goal: with the getrandom shims patched in, a library's `thread_rng`, `rng` and `getrandom` draw
//! from the seed: runs of a seed are identical across runs, threads and processes. Method:
//! the determinism check over 20 seeds (each run on a fresh thread), then one seed's hash
//! here and in a child process running this test binary.

use sim::TraceLevel;

fn hash(seed: u64) -> u64 {
    deterministic_demo::run(seed, TraceLevel::Hash).hash()
}

#[test]
fn every_seed_runs_the_same_twice() {
    sim::testing::check_seeds(0..20, deterministic_demo::run);
}

#[test]
fn a_seed_runs_the_same_in_another_process() {
    if std::env::var("DEMO_PRINT_HASH").is_ok() {
        println!("hash={}", hash(3));
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_seed_runs_the_same_in_another_process",
            "--nocapture",
        ])
        .env("DEMO_PRINT_HASH", "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let theirs: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("hash="))
        .expect("the child prints its hash")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(theirs, hash(3));
    assert_ne!(hash(3), hash(4));
}
