//! Goal: a plan's `operations` decide which client operations run and may spell some out;
//! the rest are drawn by key, so removing one operation leaves every other as it was.
//!
//! Method: wal-kv plans with a script, their histories read per process, compared with the
//! unscripted run of the same seed; malformed scripts refused with the field named.

use sim::api::ops::{Script, TimedOp, WrittenOp};
use sim::history::EventKind;
use sim::{Plan, TraceLevel};
use std::collections::BTreeMap;

/// Per process, the invocations: (f, key, argument).
fn invocations(plan: &Plan) -> BTreeMap<u64, Vec<(String, Option<String>, String)>> {
    let scenario = scenarios::find(&plan.scenario).unwrap();
    let run = scenario.run(plan, TraceLevel::Hash).unwrap();
    let mut ops: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for event in run.history.iter().filter(|e| e.kind == EventKind::Invoke) {
        let op = (event.f.clone(), event.key.clone(), event.value.to_string());
        ops.entry(event.process).or_default().push(op);
    }
    ops
}

fn wal_kv(seed: u64) -> Plan {
    let mut plan = scenarios::find("wal-kv").unwrap().plan(seed, None);
    // No faults: the runs differ only by the script.
    plan.faults.clear();
    plan
}

#[test]
fn a_script_runs_what_it_lists_and_writes_what_it_spells_out() {
    let plain = invocations(&wal_kv(3));
    let mut plan = wal_kv(3);
    plan.operations = Script {
        only: BTreeMap::from([(0, vec![[0, 3]]), (1, vec![])]),
        written: vec![WrittenOp {
            process: 2,
            index: 1,
            f: "put".to_string(),
            key: Some("k1".to_string()),
            value: "x".into(),
        }],
        ..Script::default()
    };
    let scripted = invocations(&plan);
    assert_eq!(
        scripted[&0],
        plain[&0][..3],
        "process 0 runs its first three"
    );
    assert!(!scripted.contains_key(&1), "process 1 runs nothing");
    assert_eq!(
        scripted[&2][1],
        (
            "put".to_string(),
            Some("k1".to_string()),
            "\"x\"".to_string()
        )
    );
    assert_eq!(scripted[&2][0], plain[&2][0]);
    assert_eq!(
        scripted[&2][2..5],
        plain[&2][2..5],
        "later draws are untouched"
    );
}

#[test]
fn removing_one_operation_leaves_the_others_as_drawn() {
    let plain = invocations(&wal_kv(5));
    let mut plan = wal_kv(5);
    plan.operations.only = BTreeMap::from([(0, vec![[0, 4], [5, u64::MAX]])]);
    let scripted = invocations(&plan);
    let mut expected = plain[&0].clone();
    expected.remove(4);
    let n = 20;
    assert_eq!(scripted[&0][..n], expected[..n]);
    for process in 1..4 {
        assert_eq!(
            scripted[&process][..n],
            plain[&process][..n],
            "process {process}"
        );
    }
    // The same plan, saved and read back, is the same run.
    let again = Plan::from_json(&plan.to_json()).unwrap();
    assert_eq!(again, plan);
}

#[test]
fn malformed_scripts_are_refused_by_field() {
    let run = |plan: &Plan| {
        let scenario = scenarios::find(&plan.scenario).unwrap();
        scenario.run(plan, TraceLevel::Hash).err().unwrap()
    };
    let mut plan = wal_kv(0);
    plan.operations.written.push(WrittenOp {
        process: 0,
        index: 2,
        f: "inc".to_string(),
        key: Some("k1".to_string()),
        value: serde_json::Value::Null,
    });
    assert_eq!(
        run(&plan),
        "operations.written[0]: unknown kv operation `inc`; valid operations: get, put, append, cas"
    );
    plan.operations.written[0].f = "cas".to_string();
    assert_eq!(
        run(&plan),
        "operations.written[0]: `cas` needs `[from, to]`, two strings, not null"
    );
    plan.operations.written[0].value = serde_json::json!(["", "1"]);
    assert_eq!(
        run(&plan),
        "operations.written[0]: wal-kv offers get, put and append, not cas"
    );
    plan.operations.written[0].f = "put".to_string();
    plan.operations.written[0].value = serde_json::Value::Null;
    assert_eq!(
        run(&plan),
        "operations.written[0]: `put` needs a string value, not null"
    );

    let mut echo = scenarios::find("echo").unwrap().plan(0, None);
    echo.operations.only.insert(0, vec![]);
    assert_eq!(
        run(&echo),
        "scenario `echo` takes no `operations`: its clients are not scripted"
    );

    let mut json: serde_json::Value = serde_json::from_str(&wal_kv(0).to_json()).unwrap();
    json["operations"] = serde_json::json!({"only": {"2": [[4, 2]]}});
    let error = Plan::from_json(&json.to_string()).unwrap_err();
    assert!(error.starts_with("operations.only.2[0]: [4, 2)"), "{error}");
}

// rpc-overload's open-loop load: an arrival left out still takes its time, so every other
// arrival keeps its absolute time.
#[test]
fn an_arrival_left_out_keeps_the_others_times() {
    let arrivals = |plan: &Plan| -> Vec<i64> {
        let scenario = scenarios::find(&plan.scenario).unwrap();
        let run = scenario.run(plan, TraceLevel::Hash).unwrap();
        let first_client = plan.workload["processes_per_client"].as_u64().unwrap();
        let mut times: Vec<i64> = run
            .history
            .iter()
            .filter(|e| e.kind == EventKind::Invoke && e.process < first_client)
            .map(|e| e.time.unwrap())
            .collect();
        times.sort_unstable();
        times.truncate(50);
        times
    };
    let mut plan = scenarios::find("rpc-overload").unwrap().plan(1, None);
    let plain = arrivals(&plan);
    plan.operations.only = BTreeMap::from([(0, vec![[0, 10], [11, u64::MAX]])]);
    let scripted = arrivals(&plan);
    let mut expected = plain.clone();
    expected.remove(10);
    assert_eq!(scripted[..49], expected[..49]);

    plan.operations.only.clear();
    plan.operations.written.push(WrittenOp {
        process: 0,
        index: 0,
        f: "work".to_string(),
        key: None,
        value: serde_json::Value::Null,
    });
    let scenario = scenarios::find("rpc-overload").unwrap();
    let error = scenario.run(&plan, TraceLevel::Hash).err().unwrap();
    assert_eq!(
        error,
        "operations.written[0]: rpc-overload's arrivals run or not; none is written out"
    );
}

// Goal: an operation pinned to a time (`operations.at`) is invoked then, even when the
// operations before it in its process are removed; rpc-overload's arrivals refuse pins.
#[test]
fn a_pinned_operation_keeps_its_time() {
    let times = |plan: &Plan| -> Vec<(u64, i64)> {
        let scenario = scenarios::find(&plan.scenario).unwrap();
        let run = scenario.run(plan, TraceLevel::Hash).unwrap();
        run.history
            .iter()
            .filter(|e| e.kind == EventKind::Invoke && e.process == 1)
            .map(|e| (e.process, e.time.unwrap()))
            .collect()
    };
    let mut plan = wal_kv(4);
    plan.operations.only = BTreeMap::from([(1, vec![[0, 6]])]);
    let plain = times(&plan);
    assert_eq!(plain.len(), 6);
    // Without operations 1 to 4, operation 5 comes earlier, unless it is pinned.
    plan.operations.only = BTreeMap::from([(1, vec![[0, 1], [5, 6]])]);
    let unpinned = times(&plan);
    assert!(unpinned[1].1 < plain[5].1, "{unpinned:?} {plain:?}");
    let at = sim::Instant::from_nanos(u64::try_from(plain[5].1).unwrap());
    plan.operations.at = vec![TimedOp {
        process: 1,
        index: 5,
        at,
    }];
    assert_eq!(times(&plan), vec![plain[0], plain[5]]);

    let mut overload = scenarios::find("rpc-overload").unwrap().plan(1, None);
    overload.operations.at = vec![TimedOp {
        process: 0,
        index: 0,
        at,
    }];
    let scenario = scenarios::find("rpc-overload").unwrap();
    let error = scenario.run(&overload, TraceLevel::Hash).err().unwrap();
    assert!(error.starts_with("operations.at: "), "{error}");
}

// Goal: a plan cannot crash a client (its operations would be left without completions, and
// the history checker would blame the protocol); the error says so.
#[test]
fn a_plan_cannot_crash_a_client() {
    let mut plan = wal_kv(4);
    plan.faults = vec![sim::ScheduledFault {
        at: sim::Instant::from_nanos(1_000_000),
        fault: sim::Fault::Crash(sim::api::NodeId(1)),
    }];
    let scenario = scenarios::find("wal-kv").unwrap();
    let error = scenario.run(&plan, TraceLevel::Hash).err().unwrap();
    assert!(error.contains("is a crash of n1, a client"), "{error}");
}
