//! Goal: `cargo xtask shrink` and `fuzz --shrink` keep their contract: a failing seed comes
//! back as a plan file that `replay --plan` runs to the same failure; the report ends with
//! that replay line; the exit code is the shrunk run's outcome, 2 for a run that does not fail
//! or for bad flags; an existing file is never replaced without --force, and the check comes
//! before the search. Method: run the built binary in a scratch folder.

mod common;

use common::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    common::scratch("shrink", name)
}

/// The binary, run in `dir`.
fn xtask_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

const BUG_SEED: [&str; 6] = [
    "--scenario",
    "unique-ids",
    "--seed",
    "0",
    "--bug",
    "counter-resets-on-restart",
];
const DEFAULT_FILE: &str = "unique-ids-counter-resets-on-restart-seed-0.shrunk.json";

#[test]
fn a_failing_seed_shrinks_to_a_plan_that_replays_the_failure() {
    let dir = scratch("seed");
    let out = xtask_in(&dir, &[&["shrink"][..], &BUG_SEED].concat());
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a safety violation\n{stderr}");
    assert!(
        stdout.starts_with("shrunk    events 248229 -> "),
        "{stdout}"
    );
    assert!(stdout.contains("; 1-minimal"), "{stdout}");
    assert!(
        stdout.contains("verdict   safety [unique-ids at "),
        "{stdout}"
    );
    let replay_line = format!("replay    cargo xtask replay --plan {DEFAULT_FILE}\n");
    assert!(stdout.ends_with(&replay_line), "{stdout}");
    assert!(
        stderr.contains(&format!("wrote {DEFAULT_FILE}")),
        "{stderr}"
    );

    // The file is a corpus entry with its header, and replays to the same failure.
    let file = dir.join(DEFAULT_FILE);
    let written = std::fs::read_to_string(&file).unwrap();
    let entry: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        entry["shrunk"]["from"],
        "cargo xtask replay --scenario unique-ids --seed 0 --bug counter-resets-on-restart"
    );
    assert_eq!(entry["shrunk"]["before"]["faults"], 26);
    assert_eq!(entry["shrunk"]["after"]["faults"], 1);
    assert_eq!(entry["outcome"], "safety");
    let replayed = xtask_in(&dir, &["replay", "--plan", DEFAULT_FILE, "--quiet"]);
    assert_eq!(replayed.status.code(), Some(1));
    let verdict = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("verdict"))
            .map(str::to_string)
    };
    assert_eq!(verdict(&text(&replayed.stdout)), verdict(&stdout));

    // Again: the file exists, so it is refused before any search, and nothing changes...
    let again = xtask_in(&dir, &[&["shrink"][..], &BUG_SEED].concat());
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("the file exists; pass --force to replace it"),
        "{}",
        text(&again.stderr)
    );
    assert!(!text(&again.stderr).contains("shrinking"));
    // ...and with --force the same input writes the same file.
    std::fs::write(&file, "edited").unwrap();
    let forced = xtask_in(&dir, &[&["shrink", "--force"][..], &BUG_SEED].concat());
    assert_eq!(forced.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    // A shrunk plan shrinks again, as a --plan, to a file of its own.
    let out = xtask_in(
        &dir,
        &["shrink", "--plan", DEFAULT_FILE, "--out", "again.json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("replay    cargo xtask replay --plan again.json\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_run_that_does_not_fail_and_bad_flags_exit_2() {
    let dir = scratch("refused");
    let out = xtask_in(&dir, &["shrink", "--scenario", "echo", "--seed", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not fail"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no file");
    for (flag, message) in [
        ("0", "--runs-max must be positive"),
        ("1000001", "above the limit of 1000000"),
    ] {
        let args = [&["shrink", "--runs-max", flag][..], &BUG_SEED].concat();
        let out = xtask_in(&dir, &args);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
    let out = xtask_in(
        &dir,
        &[&["shrink", "--out", "no/such/folder/x.json"][..], &BUG_SEED].concat(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("there is no folder"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn fuzz_shrink_prints_the_shrunk_replay_line_beside_the_seed() {
    let dir = scratch("fuzz");
    let args = [
        "fuzz",
        "--scenario",
        "unique-ids",
        "--bug",
        "counter-resets-on-restart",
        "--seeds",
        "3",
        "--shrink",
    ];
    let out = xtask_in(&dir, &args);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let expected = "SHRUNK unique-ids seed 0: events 248229 -> ";
    let at = stdout.find(expected).unwrap_or_else(|| panic!("{stdout}"));
    let lines: Vec<&str> = stdout[at..].lines().collect();
    assert_eq!(
        lines[1],
        "     replay: cargo xtask replay --scenario unique-ids --seed 0 --bug counter-resets-on-restart"
    );
    assert_eq!(
        lines[2],
        format!("     shrunk: cargo xtask replay --plan {DEFAULT_FILE}")
    );
    let written = std::fs::read_to_string(dir.join(DEFAULT_FILE)).unwrap();
    // The same campaign again keeps the same file; another file of that name is kept too.
    let again = xtask_in(&dir, &args);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.join(DEFAULT_FILE)).unwrap(),
        written
    );
    std::fs::write(dir.join(DEFAULT_FILE), "mine").unwrap();
    let refused = xtask_in(&dir, &args);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("exists; pass --force"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(DEFAULT_FILE)).unwrap(),
        "mine"
    );
}
