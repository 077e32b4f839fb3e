//! Goal: no input makes the command line panic, abort, hang or run out of memory: whatever the
//! plan, stored trace, history or command line, it ends with an exit code from 0 to 6.
//! Method: proptest feeds random and mutated inputs (from real plans, traces and histories) to
//! the library's parsers in-process, and to the built binary under a memory limit and a time
//! bound (`bounded`). Cases are few enough for the suite's time budget; failures proptest finds
//! are kept in `parsers_fuzzed.proptest-regressions` and replayed first, and the ones that
//! found a bug have a test of their own in `inputs.rs`.

mod bounded;

use bounded::{scratch, short_plan, xtask};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// `cases` per property; failures are saved beside this file and replayed first.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/parsers_fuzzed.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

const SCENARIOS: [&str; 5] = [
    "echo",
    "unique-ids",
    "broadcast-multi",
    "rpc-unreliable",
    "wal-kv",
];

/// Values that have broken parsers before, or sit just past a limit. Durations and counts at
/// or near a limit would be legal and slow; the limits' own tests cover those.
fn interesting() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(0.5)),
        Just(json!(1e300)),
        Just(json!(4_294_967_296u64)),
        Just(json!(1_000_000_000_000u64)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(10_001)),
        Just(json!(1_000_001)),
        Just(json!("0s")),
        Just(json!("1ns")),
        Just(json!("1ms")),
        Just(json!("-5s")),
        Just(json!("3601s")),
        Just(json!("1000000000s")),
        Just(json!("18446744073709551615ns")),
        Just(json!("99999999999999999999s")),
        Just(json!("1.5")),
        Just(json!("5 parsecs")),
        Just(json!("")),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        Just(json!("x".repeat(10_000))),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9 .-]{0,12}".prop_map(|s| json!(s)),
    ]
}

/// Values a user might write while editing a plan: small, legal, cheap to run.
fn mild() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..5).prop_map(|n| json!(n)),
        prop_oneof![
            Just("0s"),
            Just("1ms"),
            Just("10ms"),
            Just("250ms"),
            Just("1s"),
            Just("2s")
        ]
        .prop_map(|s| json!(s)),
        Just(json!(false)),
    ]
}

/// Every path to a value in `value` (object keys and array indices).
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        prefix.push(key);
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn at_path<'a>(value: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(value, |v, key| match v {
        Value::Object(map) => map.get_mut(key).expect("a path of this value"),
        Value::Array(items) => &mut items[key.parse::<usize>().expect("an index")],
        _ => unreachable!("paths only go through objects and arrays"),
    })
}

/// Byte-level damage: flip, overwrite, delete, insert, duplicate, truncate.
#[derive(Clone, Debug)]
enum Damage {
    Flip(usize, u8),
    Set(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bit)| Damage::Flip(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Set(at, byte)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Damage::Delete(at, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, b)| Damage::Insert(at, b)),
        (any::<usize>(), 1usize..256).prop_map(|(at, n)| Damage::Duplicate(at, n)),
        any::<usize>().prop_map(Damage::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match damage {
        Damage::Flip(at, bit) => bytes[at % len] ^= bit,
        Damage::Set(at, byte) => bytes[at % len] = *byte,
        Damage::Delete(at, n) => {
            let start = at % len;
            bytes.drain(start..(start + n).min(len));
        }
        Damage::Insert(at, inserted) => {
            let at = at % len;
            bytes.splice(at..at, inserted.iter().copied());
        }
        Damage::Duplicate(at, n) => {
            let start = at % len;
            let copy = bytes[start..(start + n).min(len)].to_vec();
            bytes.splice(start..start, copy);
        }
        Damage::Truncate(at) => bytes.truncate(at % len),
    }
}

/// A plan with some values replaced, keys removed, or bytes damaged.
#[derive(Clone, Debug)]
enum PlanEdit {
    /// A number or duration halved, doubled, zeroed or moved a little: still the right type.
    Nudge(usize, u8),
    Replace(usize, Value),
    /// A value of the workload replaced: the scenario's own parameters.
    Workload(usize, Value),
    Remove(usize),
    Bytes(Damage),
}

fn plan_edit() -> impl Strategy<Value = PlanEdit> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..4).prop_map(|(at, how)| PlanEdit::Nudge(at, how)),
        2 => (any::<usize>(), mild()).prop_map(|(at, v)| PlanEdit::Replace(at, v)),
        3 => (any::<usize>(), interesting()).prop_map(|(at, v)| PlanEdit::Workload(at, v)),
        4 => (any::<usize>(), interesting()).prop_map(|(at, v)| PlanEdit::Replace(at, v)),
        1 => any::<usize>().prop_map(PlanEdit::Remove),
        1 => damage().prop_map(PlanEdit::Bytes),
    ]
}

fn nudge(value: &Value, how: u8) -> Value {
    let change = |n: u64| match how {
        0 => n / 2,
        1 => n.saturating_mul(2),
        2 => 0,
        _ => n.saturating_add(1),
    };
    if let Some(n) = value.as_u64() {
        return json!(change(n));
    }
    match value.as_str().map(sim::Duration::parse) {
        Some(Ok(d)) => {
            let nanos = match how {
                3 => d.as_nanos().saturating_add(1_000_000),
                _ => change(d.as_nanos()),
            };
            json!(sim::Duration::from_nanos(nanos).to_string())
        }
        _ => value.clone(),
    }
}

fn edited_plan(scenario: usize, edits: &[PlanEdit]) -> Vec<u8> {
    let mut plan = short_plan(SCENARIOS[scenario % SCENARIOS.len()], scenario as u64);
    let mut damages = Vec::new();
    for edit in edits {
        let mut all = Vec::new();
        paths(&plan, &mut Vec::new(), &mut all);
        match edit {
            PlanEdit::Nudge(at, how) => {
                let leaves: Vec<&Vec<String>> = all
                    .iter()
                    .filter(|p| {
                        let mut probe = plan.clone();
                        matches!(at_path(&mut probe, p), Value::Number(_) | Value::String(_))
                    })
                    .collect();
                if let Some(path) = leaves.get(at % leaves.len().max(1)) {
                    let leaf = at_path(&mut plan, path);
                    *leaf = nudge(leaf, *how);
                }
            }
            PlanEdit::Workload(at, value) => {
                let fields: Vec<&Vec<String>> = all
                    .iter()
                    .filter(|p| p.len() == 2 && p[0] == "workload")
                    .collect();
                if let Some(path) = fields.get(at % fields.len().max(1)) {
                    *at_path(&mut plan, path) = value.clone();
                }
            }
            PlanEdit::Replace(at, value) => {
                *at_path(&mut plan, &all[at % all.len()]) = value.clone()
            }
            PlanEdit::Remove(at) => {
                let path = &all[at % all.len()];
                if let Some((key, parent)) = path.split_last()
                    && let Value::Object(map) = at_path(&mut plan, parent)
                {
                    map.remove(key);
                }
            }
            PlanEdit::Bytes(damage) => damages.push(damage.clone()),
        }
    }
    let mut bytes = serde_json::to_vec_pretty(&plan).expect("serializes");
    for damage in &damages {
        apply(&mut bytes, damage);
    }
    bytes
}

proptest! {
    #![proptest_config(config(100))]

    // Edited plans, run by `replay --plan`: an error (2) or a verdict, within bounds.
    #[test]
    fn edited_plans_end_within_the_contract(
        scenario in 0usize..SCENARIOS.len(),
        edits in prop::collection::vec(plan_edit(), 1..4),
    ) {
        let bytes = edited_plan(scenario, &edits);
        let in_process = std::str::from_utf8(&bytes).map(sim::Plan::from_json);
        let dir = scratch("plan");
        std::fs::write(dir.join("plan.json"), &bytes).unwrap();
        let args = ["replay", "--plan", "plan.json", "--quiet", "--log", "off"].map(String::from);
        let ended = xtask(&dir, &args);
        ended.assert_contract(&String::from_utf8_lossy(&bytes));
        if let Ok(Err(error)) = in_process {
            prop_assert_eq!(ended.code, Some(2), "{}", error);
        }
    }
}

fn stored_trace() -> &'static Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let scenario = scenarios::find("echo").unwrap();
        let plan: sim::Plan = serde_json::from_value(short_plan("echo", 1)).unwrap();
        let run = scenario.run(&plan, sim::TraceLevel::Record).unwrap();
        let stored = traces::store::StoredTrace {
            commit: "test".to_string(),
            plan_json: plan.to_json(),
            report: run.report,
            records: run.trace.into_records(),
        };
        traces::store::encode(&stored).unwrap()
    })
}

proptest! {
    #![proptest_config(config(512))]

    // Damaged stored traces, decoded in-process: an error, never a panic; damage is detected.
    #[test]
    fn damaged_traces_are_errors(damages in prop::collection::vec(damage(), 1..4)) {
        let mut bytes = stored_trace().clone();
        for damage in &damages {
            apply(&mut bytes, damage);
        }
        let decoded = traces::store::decode(&bytes);
        if bytes != *stored_trace() {
            prop_assert!(decoded.is_err(), "damage went unnoticed");
        }
    }

    // Random and damaged histories, parsed in-process: a result, never a panic.
    #[test]
    fn damaged_histories_parse_or_say_where(
        file in 0usize..8,
        damages in prop::collection::vec(damage(), 0..4),
    ) {
        let mut bytes = history_file(file);
        for damage in &damages {
            apply(&mut bytes, damage);
        }
        if let Err(error) = checkers::parse_history(&String::from_utf8_lossy(&bytes)) {
            prop_assert!(error.line > 0, "{}", error);
        }
    }
}

fn history_file(index: usize) -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/histories"
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("../shared/testdata beside the checkout")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    std::fs::read(&files[index % files.len()]).unwrap()
}

/// One command-line word: a flag with a value drawn from the valid, the wrong and the absurd.
fn word() -> impl Strategy<Value = Vec<String>> {
    let value = prop_oneof![
        Just("echo"),
        Just("broadcast-single"),
        Just("nope"),
        Just(""),
        Just("0"),
        Just("3"),
        Just("-1"),
        Just("18446744073709551616"),
        Just("1.5"),
        Just("2s"),
        Just("-2s"),
        Just("99999999999h"),
        Just("n0,n1"),
        Just("x"),
        Just("text"),
        Just("json"),
        Just("plan.json"),
        Just("garbage.json"),
        Just("run.trace"),
        Just("missing/out"),
        Just("."),
        Just("exists"),
        Just("out.svg"),
        Just("h.jsonl"),
        Just("off"),
        Just("warn"),
        Just("no-retry"),
        Just("counter-resets-on-restart"),
    ];
    let flag = prop_oneof![
        Just("--scenario"),
        Just("--seed"),
        Just("--bug"),
        Just("--format"),
        Just("--save"),
        Just("--history"),
        Just("--diagram"),
        Just("--diagram-from"),
        Just("--diagram-to"),
        Just("--diagram-nodes"),
        Just("--dump-plan"),
        Just("--plan"),
        Just("--log"),
        Just("--model"),
        Just("--timeout"),
        Just("--nope"),
    ];
    prop_oneof![
        4 => (flag, value).prop_map(|(f, v)| vec![f.to_string(), v.to_string()]),
        1 => prop_oneof![Just("--quiet"), Just("--force"), Just("--help"), Just("run.trace")]
            .prop_map(|w| vec![w.to_string()]),
    ]
}

proptest! {
    #![proptest_config(config(100))]

    // Random command lines of the subcommands that read files and flags.
    #[test]
    fn command_lines_end_within_the_contract(
        command in prop_oneof![
            Just("replay"), Just("replay echo"), Just("show"), Just("list"), Just("check-history"),
        ],
        words in prop::collection::vec(word(), 0..6),
    ) {
        let dir = scratch("cli");
        std::fs::write(dir.join("plan.json"), serde_json::to_vec(&short_plan("echo", 2)).unwrap()).unwrap();
        std::fs::write(dir.join("garbage.json"), b"{\"scenario\": ").unwrap();
        std::fs::write(dir.join("exists"), b"mine").unwrap();
        std::fs::write(dir.join("run.trace"), &stored_trace()[..]).unwrap();
        std::fs::write(dir.join("h.jsonl"), history_file(0)).unwrap();
        let mut args: Vec<String> = match command {
            "replay echo" => ["replay", "--scenario", "echo", "--seed", "3"].map(String::from).to_vec(),
            _ => vec![command.to_string()],
        };
        args.extend(words.into_iter().flatten());
        if command == "check-history" {
            args.extend(["--timeout".to_string(), "2".to_string()]);
        }
        let ended = xtask(&dir, &args);
        ended.assert_contract(&args.join(" "));
        if !args.iter().any(|a| a == "--force") {
            prop_assert_eq!(std::fs::read(dir.join("exists")).unwrap(), b"mine".to_vec(),
                "a file was replaced without --force: {}", args.join(" "));
        }
    }
}
