//! Goal: every input of issue 11's "Found" list that aborted, hung or ate the machine is now an
//! exit-2 error whose first line names the field and its limit, or a run within bounds; output
//! paths are checked before a run starts; stored traces detect damage. Method: run the built
//! binary under a memory limit (`bounded`), on plans and files edited as a user would.

mod bounded;

use bounded::{run, scratch, short_plan};
use std::path::Path;

/// Writes `plan` with the workload field `field` (or a top-level field, `swarm.x` style paths
/// are not needed) set to `value`, and returns its path.
fn edited_plan(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut plan = short_plan("echo", 3);
    edit(&mut plan);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

fn replay_plan(dir: &Path, plan: &str) -> bounded::Ended {
    let ended = run(dir, &["replay", "--plan", plan, "--quiet", "--log", "off"]);
    ended.assert_contract(plan);
    ended
}

#[test]
fn absurd_plans_name_the_field_and_the_limit() {
    let dir = scratch("plans");
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: [(&str, Edit, &str); 7] = [
        (
            "timeout",
            Box::new(|p| p["workload"]["timeout"] = "0s".into()),
            "`workload.timeout` is 0s; it must be at least 1ms",
        ),
        (
            "in-flight",
            Box::new(|p| p["workload"]["in_flight"] = 1_000_000_000_000u64.into()),
            "`workload.in_flight` is 1000000000000; the limit is 10000",
        ),
        (
            "in-flight-million",
            Box::new(|p| p["workload"]["in_flight"] = 1_000_000.into()),
            "the limit is 10000",
        ),
        (
            "safety",
            Box::new(|p| p["safety_duration"] = "1000000000s".into()),
            "`safety_duration` is 1000000000s; the limit is 3600s",
        ),
        (
            "servers",
            Box::new(|p| p["workload"]["servers"] = 10_000.into()),
            "`workload.servers` is 10000; the limit is 1000",
        ),
        (
            "negative",
            Box::new(|p| p["swarm"]["fault_gap_mean"] = "-5s".into()),
            "`swarm.fault_gap_mean`: `-5s`: a duration must not be negative",
        ),
        (
            "bare-number",
            Box::new(|p| p["workload"]["timeout"] = 100_000_000.into()),
            "`workload.timeout`: the duration 100000000 needs a unit",
        ),
    ];
    for (name, edit, expected) in cases {
        let plan = edited_plan(&dir, &format!("{name}.json"), edit);
        let ended = replay_plan(&dir, &plan);
        assert_eq!(ended.code, Some(2), "{name}: {}", ended.stderr);
        assert!(
            ended.error().starts_with("error: ") && ended.error().contains(expected),
            "{name}: {}",
            ended.error()
        );
    }
    // Found by the sweep below: a client whose calls fail at once looped at one instant.
    let mut plan = short_plan("rpc-unreliable", 1);
    plan["workload"]["think_mean"] = "0s".into();
    std::fs::write(dir.join("think.json"), plan.to_string()).unwrap();
    let ended = replay_plan(&dir, dir.join("think.json").to_str().unwrap());
    assert!(
        ended
            .error()
            .contains("`workload.think_mean` is 0s; it must be at least 1ms"),
        "{}",
        ended.error()
    );
    // A plan at a limit still runs to a verdict (requests time out before any reply: liveness).
    let plan = edited_plan(&dir, "fine.json", |p| {
        p["workload"]["timeout"] = "1ms".into();
    });
    let ended = replay_plan(&dir, &plan);
    assert_eq!(ended.code, Some(3), "{}", ended.stderr);
}

// Output paths are checked before the run: nothing is printed on stdout (no trace, no report).
#[test]
fn output_paths_are_checked_before_the_run() {
    let dir = scratch("outputs");
    std::fs::write(dir.join("exists.svg"), "mine").unwrap();
    let replay = [
        "replay",
        "--scenario",
        "echo",
        "--seed",
        "3",
        "--log",
        "off",
    ];
    let cases: [(&[&str], &str); 6] = [
        (
            &["--diagram", "exists.svg"],
            "--diagram exists.svg: the file exists; pass --force",
        ),
        (
            &["--save", "missing/run.trace"],
            "--save missing/run.trace: there is no folder missing",
        ),
        (
            &["--history", "missing/h.jsonl"],
            "there is no folder missing",
        ),
        (
            &["--diagram", "missing/x.svg"],
            "there is no folder missing",
        ),
        (&["--dump-plan", "."], "--dump-plan .: is a folder"),
        (
            &["--save", "same", "--history", "./same"],
            "--save and --history both name",
        ),
    ];
    for (flags, expected) in cases {
        let args: Vec<&str> = replay.iter().chain(flags.iter()).copied().collect();
        let ended = run(&dir, &args);
        assert_eq!(ended.code, Some(2), "{flags:?}: {}", ended.stderr);
        assert!(
            ended.error().contains(expected),
            "{flags:?}: {}",
            ended.error()
        );
        assert_eq!(ended.stdout, "", "{flags:?}: the run started");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("exists.svg")).unwrap(),
        "mine"
    );
    let ended = run(
        &dir,
        &[
            &replay[..],
            &["--diagram", "exists.svg", "--force", "--quiet"],
        ]
        .concat(),
    );
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        std::fs::read_to_string(dir.join("exists.svg"))
            .unwrap()
            .starts_with("<svg")
    );
}

#[test]
fn diagram_flags_are_checked_and_choose_the_window() {
    let dir = scratch("diagram");
    let replay = [
        "replay",
        "--scenario",
        "echo",
        "--seed",
        "3",
        "--log",
        "off",
        "--quiet",
    ];
    let bad: [(&[&str], &str); 3] = [
        (
            &[
                "--diagram",
                "a.svg",
                "--diagram-from",
                "2s",
                "--diagram-to",
                "1s",
            ],
            "is after",
        ),
        (
            &["--diagram", "a.svg", "--diagram-from=-1"],
            "must not be negative",
        ),
        (
            &["--diagram", "a.svg", "--diagram-nodes", "n0,x"],
            "`x` is not a node",
        ),
    ];
    for (flags, expected) in bad {
        let ended = run(&dir, &[&replay[..], flags].concat());
        assert_eq!(ended.code, Some(2), "{flags:?}");
        assert!(
            ended.stderr.contains(expected),
            "{flags:?}: {}",
            ended.stderr
        );
    }
    let flags = [
        "--diagram",
        "a.svg",
        "--diagram-from",
        "1.5",
        "--diagram-to",
        "1600ms",
        "--diagram-nodes",
        "n1,3",
    ];
    let ended = run(&dir, &[&replay[..], &flags].concat());
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let svg = std::fs::read_to_string(dir.join("a.svg")).unwrap();
    assert!(svg.contains(">n1</text>") && svg.contains(">n3</text>"));
    assert!(!svg.contains(">n0</text>") && !svg.contains(">n2</text>"));
    assert!(
        svg.contains("virtual time 1.5"),
        "the window starts at 1.5s"
    );
    assert!(
        svg.contains("events before"),
        "the note says what was left out"
    );
}

#[test]
fn damaged_and_older_traces_say_so_in_words() {
    let dir = scratch("traces");
    let ended = run(
        &dir,
        &[
            "replay",
            "--scenario",
            "echo",
            "--seed",
            "3",
            "--log",
            "off",
            "--quiet",
            "--save",
            "run.trace",
        ],
    );
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let bytes = std::fs::read(dir.join("run.trace")).unwrap();
    let middle = bytes.len() / 2;
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Damage, &str); 3] = [
        (
            "flipped",
            Box::new(move |b| b[middle] ^= 0x10),
            "do not match their checksum",
        ),
        // A digit one higher: bincode would have read it as another number.
        (
            "digit",
            Box::new(move |b| b[middle] = b[middle].wrapping_add(1)),
            "do not match their checksum",
        ),
        (
            "older",
            Box::new(|b| b[16..20].copy_from_slice(&1u32.to_le_bytes())),
            "written by an older version of Faultline (trace format version 1",
        ),
    ];
    for (name, damage, expected) in cases {
        let mut damaged = bytes.clone();
        damage(&mut damaged);
        std::fs::write(dir.join(name), damaged).unwrap();
        let ended = run(&dir, &["show", name]);
        assert_eq!(ended.code, Some(2), "{name}");
        assert!(
            ended.error().contains(expected),
            "{name}: {}",
            ended.error()
        );
        assert!(!ended.stderr.contains("DecodeError"), "{name}: Debug text");
    }
    assert!(run(&dir, &["show", "flipped"]).error().contains("bytes "));
}

// `--format json` is streamed, with the same keys as before: replay, report, trace (a streamed
// trace comes first in the document).
#[test]
fn json_output_keeps_its_shape() {
    let dir = scratch("json");
    let ended = run(
        &dir,
        &[
            "replay",
            "--scenario",
            "echo",
            "--seed",
            "3",
            "--log",
            "off",
            "--format",
            "json",
        ],
    );
    assert_eq!(ended.code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&ended.stdout).expect("one JSON document");
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["replay", "report", "trace"]);
    assert!(json["trace"].as_array().unwrap().len() > 1_000);
    let quiet = run(
        &dir,
        &[
            "replay",
            "--scenario",
            "echo",
            "--seed",
            "3",
            "--log",
            "off",
            "--format",
            "json",
            "--quiet",
        ],
    );
    let quiet: serde_json::Value = serde_json::from_str(&quiet.stdout).unwrap();
    assert!(quiet.get("trace").is_none());
    assert_eq!(quiet["report"], json["report"]);
}

// The wal-kv verdict names lines of the history file `--history` writes, with virtual times.
#[test]
fn linearizability_verdicts_name_history_lines_and_times() {
    let scenario = scenarios::find("wal-kv").unwrap();
    let failure = (0..40)
        .map(|seed| {
            faultline_toolbox::run_seed(
                scenario,
                seed,
                Some("ack-before-sync"),
                sim::TraceLevel::Hash,
            )
            .unwrap()
        })
        .find(|run| run.report.verdict.outcome == sim::Outcome::Safety)
        .expect("ack-before-sync loses a write within 40 seeds");
    let message = &failure.report.verdict.message;
    assert!(message.contains("(history lines "), "{message}");
    assert!(!message.contains(" (lines "), "{message}");
    assert!(message.contains("replay --history"), "{message}");
    assert!(failure.report.verdict.at.is_some());
}

/// The paths of every number and string in `value`, except under `faults` (the property
/// tests cover those).
fn leaves(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if key != "faults" {
                    leaves(child, &format!("{prefix}/{key}"), out);
                }
            }
        }
        serde_json::Value::Number(_) | serde_json::Value::String(_) => out.push(prefix.to_string()),
        _ => {}
    }
}

// Every field of a plan (swarm, phases, workload) of every scenario family, set to each
// extreme a hand edit or a careless tool might write: an error naming the field, or a run
// within bounds. The property tests explore combinations; this sweep misses no single field.
#[test]
fn every_plan_field_at_its_extremes() {
    let dir = scratch("fields");
    let extremes = [
        serde_json::json!(0),
        serde_json::json!(u64::MAX),
        serde_json::json!(1_000_000_000_000u64),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!("0s"),
        serde_json::json!("1ns"),
        serde_json::json!("1000000000s"),
    ];
    let families = [
        "echo",
        "unique-ids",
        "broadcast-multi",
        "rpc-unreliable",
        "rpc-overload",
        "wal-kv",
    ];
    for scenario in families {
        let base = short_plan(scenario, 1);
        let mut paths = Vec::new();
        leaves(&base, "", &mut paths);
        for path in paths.iter().filter(|p| !p.starts_with("/scenario")) {
            for value in &extremes {
                let mut plan = base.clone();
                *plan.pointer_mut(path).unwrap() = value.clone();
                std::fs::write(dir.join("plan.json"), serde_json::to_vec(&plan).unwrap()).unwrap();
                let ended = run(
                    &dir,
                    &["replay", "--plan", "plan.json", "--quiet", "--log", "off"],
                );
                let what = format!("{scenario} {path} = {value}");
                ended.assert_contract(&what);
                if ended.code == Some(2) && path.starts_with("/workload") {
                    let field = path.trim_start_matches('/').replace('/', ".");
                    assert!(
                        ended.error().contains(&format!("`{field}`"))
                            || ended.error().contains("clients"),
                        "{what}: {}",
                        ended.error()
                    );
                }
            }
        }
    }
}
