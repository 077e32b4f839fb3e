//! Goal: a user's scenario file runs through the command line as a built-in scenario does.
//! Method: a built-in specification with another node count and name, written to a temporary
//! file, is listed, fuzzed and replayed by the built binary; the replay line a failing seed
//! prints reproduces the failure, and a plan dumped from it runs with the file. Bad files are
//! errors (exit 2) naming the file and line.

mod common;

use common::{text, xtask};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    common::scratch("scenario-file", name)
}

/// broadcast-multi, renamed and with 4 nodes: its planted no-forward fails in a few seconds.
fn write_spec(dir: &Path) -> PathBuf {
    let text = include_str!("../../scenarios/specs/broadcast-multi.toml")
        .replace("name = \"broadcast-multi\"", "name = \"my-broadcast\"")
        .replace("count = 5", "count = 4")
        .replace("processes = 10", "processes = 8");
    assert!(text.contains("count = 4") && text.contains("my-broadcast"));
    let path = dir.join("my-broadcast.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn list_fuzz_and_replay_run_a_users_file() {
    let dir = scratch("round-trip");
    let spec = write_spec(&dir);
    let file = spec.to_str().unwrap();

    let out = xtask(&["list", "--scenario-file", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines.iter().all(|l| l.split('\t').count() == 3), "{stdout}");
    assert!(lines[0].starts_with("my-broadcast\t-\t"), "{stdout}");
    assert!(
        lines[1].starts_with("my-broadcast\tno-forward\t"),
        "{stdout}"
    );

    let out = xtask(&[
        "fuzz",
        "--scenario-file",
        file,
        "--bug",
        "no-forward",
        "--seeds",
        "2",
        "--jobs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let failure = stdout
        .lines()
        .find(|l| l.starts_with("FAIL my-broadcast seed "))
        .unwrap_or_else(|| panic!("a failure line: {stdout}"));
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("replay: "))
        .expect("a replay line");
    let command = line
        .trim_start()
        .strip_prefix("replay: cargo xtask ")
        .unwrap();
    assert!(
        command.starts_with(&format!("replay --scenario-file {file} --seed ")),
        "{command}"
    );
    assert!(command.ends_with(" --bug no-forward"), "{command}");
    let plan = dir.join("plan.json");
    let args: Vec<&str> = command
        .split(' ')
        .chain(["--quiet", "--log", "off", "--dump-plan"])
        .chain([plan.to_str().unwrap()])
        .collect();
    let replay = xtask(&args);
    assert_eq!(replay.status.code(), Some(3), "{}", text(&replay.stderr));
    let message = failure.split_once(": ").unwrap().1;
    let replayed = text(&replay.stdout);
    assert!(
        replayed.contains(message),
        "replay shows the same failure: {message}\n{replayed}"
    );
    assert!(replayed.contains(&format!("replay    cargo xtask {command}")));

    // The dumped plan names the file's scenario, and runs with the file, to the same verdict.
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    assert!(plan_text.contains("\"scenario\": \"my-broadcast\""));
    assert!(plan_text.contains("\"servers\": 4"));
    let plan = plan.to_str().unwrap();
    let again = xtask(&[
        "replay",
        "--plan",
        plan,
        "--scenario-file",
        file,
        "--quiet",
        "--log",
        "off",
    ]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains(message));
    // Without the file, the plan's scenario is unknown: the error says how to run it.
    let alone = xtask(&["replay", "--plan", plan, "--quiet", "--log", "off"]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(
        text(&alone.stderr).contains("unknown scenario `my-broadcast`")
            && text(&alone.stderr).contains("--scenario-file"),
        "{}",
        text(&alone.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_file_is_an_error_naming_its_line() {
    let dir = scratch("bad");
    let path = dir.join("bad.toml");
    let text_in =
        include_str!("../../scenarios/specs/echo.toml").replace("loss_max = 0.2", "loss_max = 5.0");
    let line = text_in
        .lines()
        .position(|l| l.starts_with("loss_max"))
        .unwrap()
        + 1;
    std::fs::write(&path, text_in).unwrap();
    let file = path.to_str().unwrap();
    for args in [
        vec!["list", "--scenario-file", file],
        vec!["fuzz", "--scenario-file", file, "--seeds", "1"],
        vec!["replay", "--scenario-file", file, "--seed", "1"],
    ] {
        let out = xtask(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("error: {file}:{line}: `network.loss_max` is 5")),
            "{args:?}: {stderr}"
        );
    }
    let out = xtask(&[
        "fuzz",
        "--scenario-file",
        file,
        "--scenario",
        "echo",
        "--seeds",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // The corpus keeps plans of registered scenarios only.
    let good = write_spec(&dir);
    let out = xtask(&[
        "fuzz",
        "--scenario-file",
        good.to_str().unwrap(),
        "--seeds",
        "1",
        "--add-to-corpus",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--add-to-corpus keeps plans of registered scenarios"));
    let _ = std::fs::remove_dir_all(&dir);
}
