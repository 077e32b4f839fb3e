//! Goal: `cargo xtask audit` flags a dependency tree that reads OS randomness, naming the
//! crate, the file and line, and the pattern, and exits 1; bad input exits 2. Method: the
//! demonstration crate `demos/nondeterministic` (its own workspace: `rand::thread_rng()` and
//! `getrandom` called directly) and a manifest that does not exist.

use std::path::PathBuf;
use std::process::Command;

fn audit(manifest: &PathBuf) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("audit")
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .expect("the xtask binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn the_demonstration_crate_is_flagged_where_it_draws_from_the_os() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let (code, stdout) = audit(&root.join("demos/nondeterministic/Cargo.toml"));
    assert_eq!(code, 1, "{stdout}");
    for expected in [
        "nondeterministic-demo-0.1.0\tsrc/lib.rs:10\tthread_rng",
        "nondeterministic-demo-0.1.0\tsrc/lib.rs:22\tgetrandom(",
    ] {
        assert!(
            stdout.lines().any(|l| l == expected),
            "{expected}\n{stdout}"
        );
    }
    // Into the dependencies: rand's thread_rng itself.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("rand-0.8.") && l.ends_with("\tthread_rng")),
        "{stdout}"
    );
    let (code, _) = audit(&root.join("no/such/Cargo.toml"));
    assert_eq!(code, 2);
}
