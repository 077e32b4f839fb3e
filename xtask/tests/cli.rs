//! Goal: the command line keeps its contract: exit codes, the replay line of a failing seed,
//! clear errors for bad input, files never replaced without --force, stored traces that show
//! the same trace, plans that replay to the same hash. Method: run the built binary.

mod common;

use common::{text, xtask};

use std::path::PathBuf;
use std::process::Output;

fn scratch(name: &str) -> PathBuf {
    common::scratch("cli", name)
}

#[test]
fn list_has_one_line_per_scenario_and_bug() {
    let out = xtask(&["list"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().all(|l| l.split('\t').count() == 3),
        "{stdout}"
    );
    assert!(
        stdout.contains("unique-ids\tcounter-resets-on-restart\t"),
        "{stdout}"
    );
    assert!(stdout.contains("echo\t-\t"), "{stdout}");
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let out = xtask(&["fuzz", "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("valid scenarios: echo, unique-ids"),
        "{}",
        text(&out.stderr)
    );
    let out = xtask(&[
        "replay",
        "--scenario",
        "unique-ids",
        "--seed",
        "1",
        "--bug",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("valid bugs: counter-resets-on-restart"),
        "{}",
        text(&out.stderr)
    );
    let out = xtask(&["bench", "nothing"]);
    assert_eq!(out.status.code(), Some(2));
}

// The planted bug is found, the campaign exits 1, and the printed replay line reproduces it.
#[test]
fn a_failing_seed_prints_a_replay_line_that_reproduces_it() {
    let out = xtask(&[
        "fuzz",
        "--bug",
        "counter-resets-on-restart",
        "--seeds",
        "4",
        "--jobs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("replay: "))
        .expect("a replay line");
    let failure = stdout
        .lines()
        .find(|l| l.starts_with("FAIL "))
        .expect("a failure line");
    let command = line.trim_start().trim_start_matches("replay: cargo xtask ");
    let args: Vec<&str> = command
        .split(' ')
        .chain(["--quiet", "--log", "off"])
        .collect();
    let replay = xtask(&args);
    assert_eq!(replay.status.code(), Some(1));
    let message = failure.split_once(": ").unwrap().1;
    assert!(
        text(&replay.stdout).contains(message),
        "replay shows the same failure: {message}"
    );
}

// The summary depends on the seeds, not on how many jobs ran them.
#[test]
fn the_summary_does_not_depend_on_jobs() {
    let summary = |jobs: &str| {
        let out = xtask(&["fuzz", "--scenario", "echo", "--seeds", "6", "--jobs", jobs]);
        assert!(out.status.success(), "{}", text(&out.stdout));
        text(&out.stdout)
            .lines()
            .filter(|l| !l.contains("seeds/s"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(summary("1"), summary("2"));
}

#[test]
fn saved_traces_show_the_same_trace_and_are_never_overwritten() {
    let dir = scratch("save");
    let file = dir.join("run.trace");
    let file_arg = file.to_str().unwrap();
    let replay = [
        "replay",
        "--scenario",
        "echo",
        "--seed",
        "3",
        "--log",
        "off",
        "--save",
        file_arg,
    ];
    let out = xtask(&replay);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = xtask(&["show", file_arg]);
    assert!(shown.status.success());
    let trace_of = |stdout: &[u8]| text(stdout).split("\n--\n").next().unwrap().to_string();
    assert_eq!(trace_of(&out.stdout), trace_of(&shown.stdout));

    let again = xtask(&replay);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );

    // Truncated, corrupt and newer files are errors, not panics.
    let bytes = std::fs::read(&file).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("garbage", b"hello world".to_vec(), "not a Faultline trace"),
        (
            "newer",
            {
                let mut newer = bytes.clone();
                newer[16..20].copy_from_slice(&99u32.to_le_bytes());
                newer
            },
            "newer than this build reads",
        ),
    ];
    for (name, contents, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        let out = xtask(&["show", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            text(&out.stderr).contains(expected),
            "{name}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_dumped_plan_replays_to_the_same_hash_and_bad_plans_are_errors() {
    let dir = scratch("plan");
    let plan = dir.join("plan.json");
    let plan_arg = plan.to_str().unwrap();
    let from_seed = xtask(&[
        "replay",
        "--scenario",
        "unique-ids",
        "--seed",
        "2",
        "--quiet",
        "--log",
        "off",
        "--dump-plan",
        plan_arg,
    ]);
    assert!(from_seed.status.success(), "{}", text(&from_seed.stderr));
    let from_plan = xtask(&["replay", "--plan", plan_arg, "--quiet", "--log", "off"]);
    assert!(from_plan.status.success(), "{}", text(&from_plan.stderr));
    let hash = |out: &Output| {
        text(&out.stdout)
            .lines()
            .find(|l| l.starts_with("events"))
            .unwrap()
            .to_string()
    };
    assert_eq!(hash(&from_seed), hash(&from_plan));

    let broken = dir.join("broken.json");
    let mut contents = std::fs::read_to_string(&plan).unwrap();
    contents = contents.replacen("\"seed\": 2", "\"seed\": two", 1);
    std::fs::write(&broken, contents).unwrap();
    let out = xtask(&["replay", "--plan", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.json") && stderr.contains("line 3"),
        "{stderr}"
    );
}

// Goal: a reader that closes the output early (`| head`) ends the command quietly, with no
// panic on stderr. Method: give the command a pipe whose reader is already gone.
#[test]
fn a_closed_output_ends_the_command_quietly() {
    let histories = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/histories"
    );
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["check-history", "--model", "cas-register"])
        .arg(format!("{histories}/etcd_000.jsonl"))
        .stdout(writer)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}

// Goal: a file without a size (a device, a pipe) that never ends is refused at the limit, not
// read until memory runs out. Method: give /dev/zero as a plan, a history and a campaign
// summary.
#[test]
fn endless_inputs_stop_at_their_limit() {
    for args in [
        &["replay", "--plan", "/dev/zero"][..],
        &["check-history", "--model", "kv", "/dev/zero"],
        &["merge", "/dev/zero"],
    ] {
        let out = xtask(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("limit"), "{args:?}: {stderr}");
    }
}
