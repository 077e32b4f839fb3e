//! Goal: fuzz campaigns scale from one core to a fleet and stay bounded: shards run as separate
//! processes merge into exactly the summary of one run, a campaign over every seed there is
//! runs in bounded memory until its time is up, Ctrl-C keeps what was found, and bad flags and
//! output paths are refused before anything runs. Method: run the built binary.

mod common;

use common::{text, xtask};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn scratch(name: &str) -> PathBuf {
    common::scratch("campaign", name)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// Every line but the last, which has the wall-clock figures.
fn summary_lines(stdout: &str) -> Vec<&str> {
    let lines: Vec<&str> = stdout.lines().collect();
    lines[..lines.len() - 1].to_vec()
}

/// The failure count at the end of the last line.
fn failing(stdout: &str) -> &str {
    let last = stdout.lines().last().expect("a last line");
    last.rsplit(", ").next().unwrap()
}

fn scenarios_json(file: &str) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    json["scenarios"].clone()
}

// Three shards in three processes, merged, print what one run over the same seeds prints:
// outcomes, failing seeds, faults, counters, gauge and latency quantiles, exit code.
#[test]
fn shards_merge_into_the_summary_of_one_run() {
    let dir = scratch("shards");
    let campaign = ["fuzz", "--bug", "no-retry", "--seeds", "5", "--start", "8"];
    let whole_json = path(&dir, "whole.json");
    let whole = xtask(&[&campaign[..], &["--jobs", "2", "--json", &whole_json]].concat());
    let shards: Vec<_> = (0..3)
        .map(|i| {
            let (shard, json) = (format!("{i}/3"), path(&dir, &format!("shard-{i}.json")));
            let args = [
                &campaign[..],
                &["--jobs", "1", "--shard", &shard, "--json", &json],
            ];
            Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args(args.concat())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut shard in shards {
        shard.wait().unwrap();
    }
    let merged_json = path(&dir, "merged.json");
    let files: Vec<String> = (0..3)
        .map(|i| path(&dir, &format!("shard-{i}.json")))
        .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let merged = xtask(&[&["merge", "--json", &merged_json], &files[..]].concat());

    let (whole_out, merged_out) = (text(&whole.stdout), text(&merged.stdout));
    assert_eq!(summary_lines(&whole_out), summary_lines(&merged_out));
    assert_eq!(failing(&whole_out), failing(&merged_out));
    assert!(
        merged_out.ends_with("15 seeds from 3 of 3 shards, 15 failing\n"),
        "{merged_out}"
    );
    assert_eq!(merged.status.code(), whole.status.code());
    assert_eq!(
        whole.status.code(),
        Some(3),
        "no-retry loses values: liveness"
    );
    assert_eq!(scenarios_json(&whole_json), scenarios_json(&merged_json));
    // --bug without --scenario runs every scenario that has the bug.
    for name in [
        "broadcast-partition",
        "broadcast-efficiency-1-partition",
        "broadcast-efficiency-2-partition",
    ] {
        assert!(
            whole_out.contains(&format!("== {name} --bug no-retry: 5 seeds")),
            "{whole_out}"
        );
    }
    assert!(
        whole_out.contains("msgs-per-op across seeds: p50 "),
        "{whole_out}"
    );
    // A shard given twice would count its seeds twice.
    let twice = xtask(&["merge", files[0], files[1], files[0]]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        text(&twice.stderr).contains("both hold shard 0/3"),
        "{}",
        text(&twice.stderr)
    );
}

// Every seed there is, streamed until the time is up.
#[test]
fn a_campaign_over_every_seed_runs_until_its_time_is_up() {
    let out = xtask(&[
        "fuzz",
        "--scenario",
        "echo",
        "--seeds",
        "18446744073709551615",
        "--duration",
        "1",
        "--jobs",
        "1",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(
        last.contains("not run: --duration ran out), 0 failing"),
        "{last}"
    );
}

#[test]
fn bad_flags_and_output_paths_are_refused_before_the_campaign() {
    let dir = scratch("paths");
    let existing = path(&dir, "existing.json");
    std::fs::write(&existing, "keep me").unwrap();
    let missing = path(&dir, "no/such/folder/out.json");
    // Were the paths checked after the run, these would run for half a minute first.
    let endless = [
        "fuzz",
        "--scenario",
        "echo",
        "--seeds",
        "18446744073709551615",
    ];
    for (flags, expected) in [
        (vec!["--json", missing.as_str()], "there is no folder"),
        (vec!["--json", existing.as_str()], "pass --force"),
        (vec!["--jobs", "100000"], "above the limit of 1024"),
        (vec!["--shard", "3/3"], "numbered 0 to 2"),
        (vec!["--shard", "0/2", "--random"], "use --start"),
        (vec!["--start", "2"], "goes past the last seed"),
    ] {
        let out = xtask(&[&endless[..], &["--duration", "30"], &flags[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            text(&out.stderr).contains(expected),
            "{flags:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{flags:?}");
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    let out = xtask(&["fuzz", "--scenario", "echo", "--seeds", "2", "--jobs", "4"]);
    assert!(
        text(&out.stderr).contains("--jobs 4 capped at 2"),
        "{}",
        text(&out.stderr)
    );

    let not_a_summary = path(&dir, "plan.json");
    std::fs::write(&not_a_summary, "{\"seed\": 3}\n").unwrap();
    let broken = path(&dir, "broken.json");
    std::fs::write(&broken, "{\"format\": ").unwrap();
    for (file, expected) in [
        (&not_a_summary, "not a campaign summary"),
        (&broken, "line 1"),
    ] {
        let out = xtask(&["merge", file]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(file.as_str()) && stderr.contains(expected),
            "{stderr}"
        );
    }
}

// Ctrl-C keeps the failing seeds found so far and exits with the worst outcome among them.
#[cfg(unix)]
#[test]
fn ctrl_c_prints_the_partial_summary() {
    let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "fuzz",
            "--bug",
            "counter-resets-on-restart",
            "--seeds",
            "1000000",
            "--jobs",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let signal = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let (_, seeds) = last.rsplit_once("; interrupted after ").expect(&stdout);
    let seeds: u64 = seeds.trim_end_matches(" seeds").parse().unwrap();
    assert!(last.starts_with(&format!("{seeds} seeds in ")), "{last}");
    if seeds == 0 {
        assert_eq!(out.status.code(), Some(0));
    } else {
        // One job runs the seeds in order, and seed 0 fails.
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("FAIL unique-ids seed 0 safety"), "{stdout}");
    }
}
