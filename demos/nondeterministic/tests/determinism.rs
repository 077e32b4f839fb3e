//! Goal: without the shims, the determinism check catches a library's `thread_rng`, `rng` and
//! `getrandom`, and names the first event that differs.

#[test]
fn the_determinism_check_catches_os_randomness() {
    let outcome = std::panic::catch_unwind(|| {
        sim::testing::check_seeds(0..5, nondeterministic_demo::run);
    });
    let payload = outcome.expect_err("the runs differ");
    let message = payload.downcast_ref::<String>().expect("a message");
    assert!(
        message.contains("two runs of the same seed differed"),
        "{message}"
    );
    assert!(message.contains("first difference at event"), "{message}");
}
