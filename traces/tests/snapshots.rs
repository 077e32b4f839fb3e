//! Goal: the canonical trace of a few short runs stays exactly as reviewed. Method: shorten a
//! scenario's plan (an edited plan, as a user would make one), run it recording every event,
//! and compare the rendering with the stored snapshot. A change to the engine's event order,
//! the network's draws or the rendering shows up here as a reviewed diff (`cargo insta review`).

use sim::{Duration, Plan, TraceLevel};

fn short_plan(
    scenario: &str,
    seed: u64,
    bug: Option<&str>,
    safety: Duration,
    liveness: Duration,
) -> Plan {
    let scenario = scenarios::find(scenario).expect("a built-in scenario");
    let mut plan = scenario.plan(seed, bug);
    plan.safety_duration = safety;
    plan.liveness_duration = liveness;
    plan.faults.retain(|f| f.at < sim::Instant::ZERO + safety);
    plan
}

fn render(plan: &Plan) -> String {
    let scenario = scenarios::find(&plan.scenario).expect("a built-in scenario");
    let run = scenario
        .run(plan, TraceLevel::Record)
        .expect("a valid plan");
    let mut text = traces::render(run.trace.records());
    text.push_str(&format!(
        "-- verdict {:?}, {} events, hash {:016x}\n",
        run.report.verdict.outcome, run.report.event_count, run.report.trace_hash
    ));
    assert_eq!(run.report.event_count as usize, run.trace.records().len());
    text
}

#[test]
fn echo_seed_1() {
    let plan = short_plan(
        "echo",
        1,
        None,
        Duration::from_millis(60),
        Duration::from_millis(40),
    );
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn echo_with_loss_crash_and_restart() {
    // A hand-written fault plan: crash a server while requests are in flight, restart it, and
    // lose a third of the messages.
    let mut plan = short_plan(
        "echo",
        2,
        None,
        Duration::from_millis(60),
        Duration::from_millis(300),
    );
    plan.swarm.link.loss_ppm = 300_000;
    plan.swarm.client_link.loss_ppm = 300_000;
    plan.faults = vec![
        sim::ScheduledFault {
            at: sim::Instant::ZERO + Duration::from_millis(5),
            fault: sim::Fault::Crash(sim::NodeId(1)),
        },
        sim::ScheduledFault {
            at: sim::Instant::ZERO + Duration::from_millis(30),
            fault: sim::Fault::Restart(sim::NodeId(1)),
        },
    ];
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn unique_ids_seed_3() {
    let mut plan = short_plan(
        "unique-ids",
        3,
        None,
        Duration::from_millis(40),
        Duration::from_millis(20),
    );
    plan.workload["processes_per_client"] = 2.into();
    plan.workload["clients"] = 1.into();
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn unique_ids_counter_resets_on_restart() {
    // The planted bug, caught in a few lines: n0 restarts and hands out n0-0 again.
    let mut plan = short_plan(
        "unique-ids",
        3,
        Some("counter-resets-on-restart"),
        Duration::from_millis(40),
        Duration::from_millis(20),
    );
    plan.workload["processes_per_client"] = 2.into();
    plan.workload["clients"] = 1.into();
    plan.workload["servers"] = 1.into();
    plan.faults = vec![
        sim::ScheduledFault {
            at: sim::Instant::ZERO + Duration::from_millis(15),
            fault: sim::Fault::Crash(sim::NodeId(0)),
        },
        sim::ScheduledFault {
            at: sim::Instant::ZERO + Duration::from_millis(16),
            fault: sim::Fault::Restart(sim::NodeId(0)),
        },
    ];
    let text = render(&plan);
    assert!(
        text.contains("Safety"),
        "the planted bug is caught:\n{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn wal_kv_crash_and_recovery() {
    // A write-ahead-logged node crashes with a batch of records in flight: the unsynced write
    // is torn (15 of its 56 bytes reach the disk), and recovery replays the four acknowledged
    // records, cuts the torn tail and serves again.
    let mut plan = short_plan(
        "wal-kv",
        6,
        None,
        Duration::from_millis(40),
        Duration::from_millis(60),
    );
    plan.workload["processes"] = 4.into();
    plan.workload["keys"] = 2.into();
    plan.workload["think_mean"] = "3ms".into();
    plan.workload["timeout"] = "20ms".into();
    plan.swarm.disk.crash_lose_ppm = 0;
    plan.swarm.disk.crash_tear_ppm = 1_000_000;
    plan.faults = vec![
        sim::ScheduledFault {
            at: sim::Instant::ZERO + Duration::from_micros(25_000),
            fault: sim::Fault::Crash(sim::NodeId(0)),
        },
        sim::ScheduledFault {
            at: sim::Instant::ZERO + Duration::from_micros(28_000),
            fault: sim::Fault::Restart(sim::NodeId(0)),
        },
    ];
    let text = render(&plan);
    assert!(
        text.contains("torn-write wal @113: 15 of 56 bytes"),
        "{text}"
    );
    assert!(text.contains("recovered 4 records"), "{text}");
    assert!(text.contains("verdict Pass"), "{text}");
    insta::assert_snapshot!(text);
}

/// Goal: the story of a bug is in the repository, and shrinking is the same on any machine.
/// Method: shrink the lowest failing seed of unique-ids' planted bug (248,229 events, 26
/// faults, 24,945 operations) and snapshot the shrunk plan's file (the header and the plan
/// `cargo xtask shrink` writes) and its whole trace: a crash of the server that handed out an
/// id, its restart at the heal, and the same id handed out again.
#[test]
fn unique_ids_counter_reset_shrunk() {
    let scenario = scenarios::find("unique-ids").expect("a built-in scenario");
    let plan = scenario.plan(0, Some("counter-resets-on-restart"));
    let options = faultline_toolbox::shrink::Options::default();
    let shrunk = faultline_toolbox::shrink::shrink(scenario, &plan, &options, &mut |_, _| true)
        .expect("it fails");
    assert!(shrunk.one_minimal);
    let entry = shrunk
        .entry("cargo xtask replay --scenario unique-ids --seed 0 --bug counter-resets-on-restart");
    let mut text = serde_json::to_string_pretty(&entry).expect("an entry serializes");
    text.push('\n');
    text.push_str(&render(&shrunk.plan));
    insta::assert_snapshot!(text);
}

#[test]
fn raft_election_seed_0() {
    // Three Raft nodes start together in a calm network: the first to time out asks for
    // pre-votes, then votes, becomes leader of term 1, appends its no-op and sends heartbeats;
    // each vote and each acknowledged append waits for its sync. The client stays quiet. (The
    // run is too short for `leader-elected`, which wants the term stable for 2 s: its verdict
    // is liveness.)
    let mut plan = short_plan(
        "raft-election",
        0,
        None,
        Duration::from_millis(360),
        Duration::from_millis(40),
    );
    plan.workload["processes"] = 1.into();
    plan.workload["think_mean"] = "1h".into();
    let text = render(&plan);
    assert!(text.contains("BecameLeader { term: 1"), "{text}");
    assert!(text.contains("verdict Liveness"), "{text}");
    insta::assert_snapshot!(text);
}
