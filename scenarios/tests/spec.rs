//! Goal: scenarios written as files keep their meaning and their errors are useful. Method:
//! every built-in specification parses and runs exactly the checkers written out below; bad
//! files (edits of a built-in one) give `FILE:LINE: message` with the right line and the valid
//! choices, and never panic.

use faultline_toolbox::Scenario;
use scenarios::spec::{self, SPEC_BYTES_MAX};
use scenarios::{all, find};

/// The Raft scenarios' checkers, all of them.
const CHECKS: &[&str] = &[
    "raft-safety",
    "leader-quorum",
    "linearizable",
    "answered-after-heal",
    "replicated",
];

/// Each built-in scenario's checkers, in the order a run performs them, written out by hand.
const CHECKERS: &[(&str, &[&str])] = &[
    ("echo", &["replies-echo-requests", "answered-after-heal"]),
    ("unique-ids", &["unique-ids", "answered-after-heal"]),
    ("broadcast-single", &["set-full"]),
    ("broadcast-multi", &["set-full"]),
    ("broadcast-partition", &["set-full"]),
    (
        "broadcast-efficiency-1",
        &["set-full", "efficiency-targets"],
    ),
    (
        "broadcast-efficiency-2",
        &["set-full", "efficiency-targets"],
    ),
    ("broadcast-efficiency-1-partition", &["set-full"]),
    ("broadcast-efficiency-2-partition", &["set-full"]),
    (
        "rpc-unreliable",
        &["counter", "counter-audit", "answered-after-heal"],
    ),
    ("rpc-overload", &["recovery"]),
    (
        "wal-kv",
        &["log-intact", "linearizable", "answered-after-heal"],
    ),
    (
        "wal-kv-faulty-disk",
        &["linearizable", "answered-after-heal"],
    ),
    (
        "raft-election",
        &[
            "raft-safety",
            "leader-elected",
            "election-messages",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-reelection",
        &[
            "raft-safety",
            "leader-elected",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-many-elections",
        &[
            "raft-safety",
            "leader-elected",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-kv",
        &[
            "raft-safety",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-persist",
        &[
            "raft-safety",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-figure8",
        &[
            "raft-safety",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-figure8-unreliable",
        &[
            "raft-safety",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    (
        "raft-churn",
        &[
            "raft-safety",
            "leader-quorum",
            "linearizable",
            "answered-after-heal",
            "replicated",
        ],
    ),
    ("raft-agree", CHECKS),
    ("raft-failover", CHECKS),
    ("raft-no-quorum", CHECKS),
    ("raft-backup", CHECKS),
];

/// What `list` showed before the scenarios became files: each scenario's bugs, in order.
const BUGS: &[(&str, &[&str])] = &[
    ("echo", &[]),
    ("unique-ids", &["counter-resets-on-restart"]),
    ("broadcast-single", &[]),
    ("broadcast-multi", &["no-forward"]),
    ("broadcast-partition", &["no-retry", "no-forward"]),
    ("broadcast-efficiency-1", &["no-forward"]),
    ("broadcast-efficiency-2", &["no-forward"]),
    (
        "broadcast-efficiency-1-partition",
        &["no-retry", "no-forward"],
    ),
    (
        "broadcast-efficiency-2-partition",
        &["no-retry", "no-forward"],
    ),
    ("rpc-unreliable", &["no-dedup", "timeout-is-failure"]),
    ("rpc-overload", &["retry-storm"]),
    ("wal-kv", &["ack-before-sync", "trust-torn-length"]),
    ("wal-kv-faulty-disk", &["no-checksum"]),
    ("raft-election", &["election-timeout-not-randomized"]),
    ("raft-reelection", &["stale-read-from-old-leader"]),
    ("raft-many-elections", &["no-truncation-on-conflict"]),
    (
        "raft-kv",
        &[
            "vote-not-persisted",
            "commit-old-term-by-count",
            "no-truncation-on-conflict",
            "stale-read-from-old-leader",
            "lease-read-under-drift",
            "ack-before-sync",
        ],
    ),
    (
        "raft-persist",
        &["ack-before-sync", "no-truncation-on-conflict"],
    ),
    (
        "raft-figure8",
        &[
            "commit-old-term-by-count",
            "no-truncation-on-conflict",
            "ack-before-sync",
            "vote-not-persisted",
        ],
    ),
    (
        "raft-figure8-unreliable",
        &[
            "commit-old-term-by-count",
            "no-truncation-on-conflict",
            "ack-before-sync",
            "vote-not-persisted",
        ],
    ),
    (
        "raft-churn",
        &[
            "vote-not-persisted",
            "ack-before-sync",
            "no-truncation-on-conflict",
        ],
    ),
    ("raft-agree", &["commit-not-forwarded"]),
    (
        "raft-failover",
        &[
            "no-check-quorum",
            "stale-read-from-old-leader",
            "no-truncation-on-conflict",
            "ack-before-sync",
        ],
    ),
    (
        "raft-no-quorum",
        &[
            "no-check-quorum",
            "ack-before-sync",
            "stale-read-from-old-leader",
        ],
    ),
    ("raft-backup", &["no-truncation-on-conflict"]),
];

#[test]
fn the_built_in_scenarios_offer_the_same_bugs_in_the_same_order() {
    let listed: Vec<(&str, Vec<&str>)> = all()
        .iter()
        .map(|s| (s.name(), s.bugs().iter().map(|b| b.name).collect()))
        .collect();
    let expected: Vec<(&str, Vec<&str>)> = BUGS
        .iter()
        .map(|(name, bugs)| (*name, bugs.to_vec()))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn every_built_in_specification_parses_in_list_order() {
    let names: Vec<&str> = all().iter().map(|s| s.name()).collect();
    let expected: Vec<&str> = CHECKERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected);
    // Every file of the folder is compiled in, under its scenario's name.
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let mut compiled: Vec<String> = spec::BUILT_IN.iter().map(|(f, _)| f.to_string()).collect();
    compiled.sort();
    assert_eq!(on_disk, compiled);
    for scenario in all() {
        let file = format!(
            "{}/specs/{}.toml",
            env!("CARGO_MANIFEST_DIR"),
            scenario.name()
        );
        let from_disk =
            scenarios::load_file(std::path::Path::new(&file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_disk.name(), scenario.name());
        assert_eq!(from_disk.description(), scenario.description());
        // The file on disk and the compiled-in text expand to the same plans.
        assert_eq!(from_disk.plan(7, None), scenario.plan(7, None));
        assert_eq!(from_disk.command_line(), format!("--scenario-file {file}"));
        assert_eq!(
            scenario.command_line(),
            format!("--scenario {}", scenario.name())
        );
    }
}

// One short run of each scenario (phases cut to a second each) performs exactly its checkers.
#[test]
fn each_scenario_runs_exactly_its_checkers() {
    for (name, checkers) in CHECKERS {
        let scenario = find(name).unwrap();
        assert_eq!(scenario.checkers(), checkers.to_vec(), "{name}");
        let mut plan = scenario.plan(0, None);
        plan.safety_duration = sim::Duration::from_secs(1);
        plan.liveness_duration = sim::Duration::from_secs(1);
        let run = scenario
            .run(&plan, sim::TraceLevel::Hash)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(run.checked, checkers.to_vec(), "{name}");
    }
}

fn echo_text() -> &'static str {
    include_str!("../specs/echo.toml")
}

/// The echo specification with the first line holding `from` changed to hold `to`, and that
/// line's number.
fn edited(from: &str, to: &str) -> (String, usize) {
    let text = echo_text();
    let line = text
        .lines()
        .position(|l| l.contains(from))
        .unwrap_or_else(|| panic!("echo.toml has no `{from}`"))
        + 1;
    (text.replacen(from, to, 1), line)
}

fn error_of(text: &str) -> String {
    match spec::parse("my.toml", text, None) {
        Ok(scenario) => panic!("accepted: {}", scenario.spec.name),
        Err(error) => error,
    }
}

/// The edit's error is at its line (the last line of an edit that adds lines), and says all
/// of `needles`.
fn fails_at(from: &str, to: &str, needles: &[&str]) {
    let (text, line) = edited(from, to);
    let line = line + to.matches('\n').count();
    let error = error_of(&text);
    let prefix = format!("my.toml:{line}: ");
    assert!(error.starts_with(&prefix), "expected {prefix}...: {error}");
    for needle in needles {
        assert!(error.contains(needle), "`{needle}` missing from: {error}");
    }
}

#[test]
fn bad_files_name_the_line_and_the_valid_choices() {
    // An unknown key.
    fails_at(
        "count = 3",
        "count = 3\ncolour = \"red\"",
        &[
            "`nodes.colour` does not configure node kind `echo-server`",
            "kind, count",
        ],
    );
    // Unknown names.
    fails_at(
        "kind = \"echo-server\"",
        "kind = \"echo-srv\"",
        &["unknown node kind `echo-srv`", "echo-server", "wal-kv"],
    );
    fails_at(
        "kind = \"echo\"",
        "kind = \"echos\"",
        &["unknown workload `echos`", "echo, unique-ids, broadcast"],
    );
    fails_at(
        "checkers = [\"replies-echo-requests\", \"answered-after-heal\"]",
        "checkers = [\"replies-echo-requests\", \"answered\"]",
        &[
            "unknown checker `answered`",
            "answered-after-heal",
            "linearizable",
        ],
    );
    fails_at(
        "bugs = []",
        "bugs = [\"no-retry\"]",
        &[
            "unknown bug `no-retry` for node kind `echo-server`",
            "plants none",
        ],
    );
    // A checker that does not fit the workload.
    fails_at(
        "checkers = [\"replies-echo-requests\", \"answered-after-heal\"]",
        "checkers = [\"linearizable\"]",
        &[
            "checker `linearizable` does not fit workload `echo`",
            "replies-echo-requests, answered-after-heal",
        ],
    );
    // A workload that does not drive the nodes, a key of another workload.
    fails_at(
        "kind = \"echo\"",
        "kind = \"kv\"",
        &["workload `kv` does not drive node kind `echo-server`"],
    );
    fails_at(
        "timeout = \"100ms\"",
        "timeout = \"100ms\"\nkeys = 3",
        &[
            "`workload.keys` is not a parameter of workload `echo`",
            "timeout",
        ],
    );
    // Probabilities.
    fails_at(
        "loss_max = 0.2",
        "loss_max = 5.0",
        &["`network.loss_max` is 5", "from 0 to 1"],
    );
    fails_at(
        "duplicate_max = 0.1",
        "duplicate_max = -0.1",
        &["`network.duplicate_max`", "from 0 to 1"],
    );
    // Counts and durations beyond sim::limits.
    fails_at(
        "count = 3",
        "count = 5000",
        &["`nodes.count` is 5000; the limit is 1000"],
    );
    fails_at(
        "processes = 4",
        "processes = 20000",
        &["`clients.processes` is 20000; the limit is 10000"],
    );
    fails_at(
        "safety = \"5s\"",
        "safety = \"2h\"",
        &["`phases.safety` is 7200s; the limit is 3600s"],
    );
    fails_at(
        "timeout = \"100ms\"",
        "timeout = \"0s\"",
        &["`workload.timeout`", "at least 1ms"],
    );
    fails_at(
        "latency = { uniform = { min = \"1ms\", max = \"10ms\" } }",
        "latency = { uniform = { min = \"1ms\", max = \"10m\" } }",
        &["`network.latency.uniform.max` is 600s; the limit is 60s"],
    );
    // A fault kind that does not exist, and a duration that does not parse.
    fails_at(
        "kinds = [\"crash\", \"pause\", \"clock\"]",
        "kinds = [\"crash\", \"earthquake\"]",
        &[
            "unknown fault kind `earthquake`",
            "partition, crash, pause, clock, hold",
        ],
    );
    fails_at(
        "liveness = \"2s\"",
        "liveness = \"2 parsecs\"",
        &["2 parsecs"],
    );
    fails_at(
        "faulty_nodes_max = 2",
        "faulty_nodes_max = \"most\"",
        &["`faults.faulty_nodes_max` is `most`", "\"minority\""],
    );
    fails_at(
        "faulty_nodes_max = 2",
        "faulty_nodes_max = 4",
        &["`faults.faulty_nodes_max` is 4; the limit is 3"],
    );
}

#[test]
fn files_that_are_not_text_or_too_large_are_refused() {
    let dir = std::env::temp_dir().join(format!("faultline-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Not UTF-8: the line of the first bad byte.
    let path = dir.join("latin1.toml");
    let mut bytes = b"name = \"echo\"\n# caf".to_vec();
    bytes.extend_from_slice(&[0xe9, b'\n']);
    std::fs::write(&path, &bytes).unwrap();
    let error = scenarios::load_file(&path).err().expect("refused");
    assert_eq!(
        error,
        format!("{}:2: the file is not UTF-8 text", path.display())
    );
    // Too large.
    let path = dir.join("huge.toml");
    let huge = format!("{}\n{}", echo_text(), "#".repeat(SPEC_BYTES_MAX as usize));
    std::fs::write(&path, huge).unwrap();
    let error = scenarios::load_file(&path).err().expect("refused");
    assert!(
        error.starts_with(&format!("{}: the file has ", path.display()))
            && error.contains("a scenario file has a limit of 1048576 bytes"),
        "{error}"
    );
    // Missing.
    let error = scenarios::load_file(&dir.join("absent.toml"))
        .err()
        .expect("refused");
    assert!(error.starts_with(&format!("{}: ", dir.join("absent.toml").display())));
    let _ = std::fs::remove_dir_all(&dir);
}

// A user's file is a scenario of its own: another node count gives other plans, named after
// the file's scenario, that its scenario runs; the bugs it may switch on are those it lists.
#[test]
fn a_users_file_is_a_scenario_of_its_own() {
    let text = include_str!("../specs/broadcast-partition.toml")
        .replace("name = \"broadcast-partition\"", "name = \"my-broadcast\"")
        .replace("count = 5", "count = 7")
        .replace(
            "bugs = [\"no-retry\", \"no-forward\"]",
            "bugs = [\"no-retry\"]",
        );
    let mine = spec::parse("my.toml", &text, None).unwrap_or_else(|e| panic!("{e}"));
    // Checkers listed in another order run in the workload's order.
    let reordered = include_str!("../specs/echo.toml").replace(
        "checkers = [\"replies-echo-requests\", \"answered-after-heal\"]",
        "checkers = [\"answered-after-heal\", \"replies-echo-requests\"]",
    );
    let echo = spec::parse("echo.toml", &reordered, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        echo.checkers(),
        ["replies-echo-requests", "answered-after-heal"]
    );
    let plan = mine.plan(3, Some("no-retry"));
    assert_eq!(plan.scenario, "my-broadcast");
    assert_eq!(plan.workload["servers"], 7);
    assert_eq!(mine.bugs().len(), 1);
    assert!(faultline_toolbox::check_bug(&mine, Some("no-forward")).is_err());
    let mut short = plan.clone();
    short.safety_duration = sim::Duration::from_secs(2);
    short.liveness_duration = sim::Duration::from_secs(2);
    assert!(mine.run(&short, sim::TraceLevel::Hash).is_ok());
}

mod mutated {
    //! No file panics: a built-in file with one value replaced by an odd one parses to an
    //! error or to a scenario whose plans can be drawn.
    use proptest::prelude::*;
    use scenarios::spec::{self, BUILT_IN};

    const ODD: &[&str] = &[
        "0",
        "-1",
        "1.5",
        "5.0",
        "nan",
        "inf",
        "1e300",
        "18446744073709551615",
        "99999999999999999999",
        "\"0s\"",
        "\"1ns\"",
        "\"3601s\"",
        "\"18446744073709551615ns\"",
        "\"5 parsecs\"",
        "\"\"",
        "[]",
        "{}",
        "{ min = 5, max = 1 }",
        "{ min = \"2s\", max = \"1s\" }",
        "{ min = 0.5, max = 0.1 }",
        "{ uniform = { min = \"10ms\", max = \"1ms\" } }",
        "{ constant = \"2m\" }",
        "true",
        "\"crash\"",
        "[\"partition\", \"partition\"]",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn an_odd_value_never_panics(file in 0..BUILT_IN.len(), line: usize, odd in 0..ODD.len()) {
            let text = BUILT_IN[file].1;
            let values: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.starts_with('#') && l.contains(" = "))
                .map(|(i, _)| i)
                .collect();
            let target = values[line % values.len()];
            let edited: Vec<String> = text
                .lines()
                .enumerate()
                .map(|(i, l)| match (i == target, l.split_once(" = ")) {
                    (true, Some((key, _))) => format!("{key} = {}", ODD[odd]),
                    _ => l.to_string(),
                })
                .collect();
            if let Ok(scenario) = spec::parse("odd.toml", &edited.join("\n"), None) {
                for seed in 0..3 {
                    let _ = faultline_toolbox::Scenario::plan(&scenario, seed, None);
                }
            }
        }
    }
}

// The format's documentation names every node kind, workload, checker, key and bug the
// registries know, so the one list and its documentation cannot drift apart.
#[test]
fn the_documentation_names_every_registered_name() {
    use scenarios::registry;
    let readme = include_str!("../specs/README.md");
    let mut names: Vec<String> = Vec::new();
    for kind in registry::NODE_KINDS {
        names.push(kind.name.to_string());
        names.extend(kind.config.iter().map(|k| k.to_string()));
        names.extend((kind.bugs)().iter().map(|b| b.name.to_string()));
    }
    for workload in registry::WORKLOADS {
        names.push(workload.name.to_string());
        names.extend(workload.params.iter().map(|k| k.to_string()));
    }
    names.extend(
        registry::REGISTRY
            .checker_names()
            .iter()
            .map(|c| c.to_string()),
    );
    for name in names {
        assert!(
            readme.contains(&format!("`{name}`")),
            "scenarios/specs/README.md does not name `{name}`"
        );
    }
}

// A file that never ends (a device, a pipe) reports no size; reading stops past the cap.
#[test]
fn an_endless_file_is_refused_at_the_cap() {
    let endless = std::path::Path::new("/dev/zero");
    if !endless.exists() {
        return;
    }
    let error = scenarios::load_file(endless).err().unwrap();
    assert_eq!(
        error,
        "/dev/zero: a scenario file has a limit of 1048576 bytes, and this one has more"
    );
}
