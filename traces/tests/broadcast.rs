//! Goal: the canonical trace and the Lamport diagram of a small broadcast run stay exactly as
//! reviewed, and the diagram accounts for every message. Method: shorten `broadcast-partition`'s
//! plan to 3 nodes and a hand-written partition that isolates n0 (the centre of the 3-node grid)
//! and then heals, run it recording every event, and compare the text trace and the SVG with
//! the stored snapshots (`cargo insta review` accepts a reviewed change).

use sim::{
    Duration, Fault, Instant, Latency, NodeId, Partition, Plan, ScheduledFault, TraceEvent,
    TraceLevel,
};
use traces::diagram::Window;

fn at(millis: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(millis)
}

/// 3 nodes, 2 client processes at 10 operations a second for 1.2 s, a fixed 20-60 ms link
/// without loss or duplication, n0 cut off from 300 ms to 900 ms, then 1 s to settle.
fn small_partition_plan(bug: Option<&str>) -> Plan {
    let scenario = scenarios::find("broadcast-partition").expect("a built-in scenario");
    let mut plan = scenario.plan(1, bug);
    plan.safety_duration = Duration::from_millis(1200);
    plan.liveness_duration = Duration::from_secs(1);
    plan.workload["servers"] = 3.into();
    plan.workload["processes"] = 2.into();
    plan.swarm.link = sim::LinkConfig::reliable(Latency::Uniform {
        min: Duration::from_millis(20),
        max: Duration::from_millis(60),
    });
    plan.faults = vec![
        ScheduledFault {
            at: at(300),
            fault: Fault::Partition(Partition::Groups(vec![
                vec![NodeId(0)],
                vec![NodeId(1), NodeId(2)],
            ])),
        },
        ScheduledFault {
            at: at(900),
            fault: Fault::Heal,
        },
    ];
    plan
}

fn run(plan: &Plan) -> faultline_toolbox::Run {
    let scenario = scenarios::find(&plan.scenario).expect("a built-in scenario");
    let run = scenario
        .run(plan, TraceLevel::Record)
        .expect("a valid plan");
    assert_eq!(run.report.event_count as usize, run.trace.records().len());
    run
}

fn render(run: &faultline_toolbox::Run) -> String {
    let mut text = traces::render(run.trace.records());
    text.push_str(&format!(
        "-- verdict {:?}: {}\n-- {} events, hash {:016x}\n",
        run.report.verdict.outcome,
        run.report.verdict.message,
        run.report.event_count,
        run.report.trace_hash
    ));
    text
}

fn count(run: &faultline_toolbox::Run, matches: impl Fn(&TraceEvent) -> bool) -> usize {
    run.trace
        .records()
        .iter()
        .filter(|r| matches(&r.event))
        .count()
}

#[test]
fn broadcast_partition_heals() {
    let run = run(&small_partition_plan(None));
    assert!(run.report.verdict.is_pass(), "{:?}", run.report.verdict);
    // The partition must have cost something, or the snapshot shows nothing of interest.
    assert!(
        count(&run, |e| matches!(e, TraceEvent::Drop { .. })) > 0,
        "the partition dropped gossip"
    );
    assert!(
        count(
            &run,
            |e| matches!(e, TraceEvent::Note { text } if text.starts_with("retry"))
        ) > 0,
        "retries carried values across once the partition healed"
    );
    insta::assert_snapshot!(render(&run));
}

#[test]
fn broadcast_partition_no_retry_loses_values() {
    // The planted bug on the same plan: gossip dropped by the partition is never sent again.
    let run = run(&small_partition_plan(Some("no-retry")));
    assert_eq!(
        run.report.verdict.outcome,
        sim::Outcome::Liveness,
        "{:?}",
        run.report.verdict
    );
    insta::assert_snapshot!(render(&run));
}

#[test]
fn broadcast_partition_diagram() {
    let run = run(&small_partition_plan(None));
    let svg = traces::diagram::lamport_svg(run.trace.records(), &Window::all());
    check_accounting(&run, &svg);
    insta::assert_snapshot!(svg);
}

// Goal: on a larger run (25 nodes, hundreds of messages) the diagram still draws one arrow per
// delivery and one cross per drop, and is byte-for-byte deterministic. Method: compare counts
// of SVG elements with counts of trace events, and render twice.
#[test]
fn efficiency_diagram_accounts_for_every_message() {
    let scenario =
        scenarios::find("broadcast-efficiency-1-partition").expect("a built-in scenario");
    let mut plan = scenario.plan(4, None);
    // Long enough for a retry round to carry the values the partition held back.
    plan.safety_duration = Duration::from_millis(1500);
    plan.liveness_duration = Duration::from_secs(3);
    plan.faults = vec![
        ScheduledFault {
            at: at(500),
            fault: Fault::Partition(Partition::Groups(vec![
                (0..5).map(NodeId).collect(),
                (5..25).map(NodeId).collect(),
            ])),
        },
        ScheduledFault {
            at: at(1200),
            fault: Fault::Heal,
        },
    ];
    let run = run(&plan);
    assert!(run.report.verdict.is_pass(), "{:?}", run.report.verdict);
    let sends = count(&run, |e| matches!(e, TraceEvent::Send { .. }));
    assert!(sends > 300, "a few hundred messages, not {sends}");
    let svg = traces::diagram::lamport_svg(run.trace.records(), &Window::all());
    check_accounting(&run, &svg);
    assert_eq!(
        svg,
        traces::diagram::lamport_svg(run.trace.records(), &Window::all())
    );
}

/// One arrow per delivery and one cross per drop of a message sent within the drawn window,
/// one lane per node drawn.
fn check_accounting(run: &faultline_toolbox::Run, svg: &str) {
    let drawn = traces::diagram::drawn_records(run.trace.records(), &Window::all());
    let sent: std::collections::BTreeSet<u64> = drawn
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::Send { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    let outcomes = |delivery: bool| {
        drawn
            .iter()
            .filter(|r| match r.event {
                TraceEvent::Deliver { id, .. } => delivery && sent.contains(&id),
                TraceEvent::Drop { id, .. } => !delivery && sent.contains(&id),
                _ => false,
            })
            .count()
    };
    let delivered = outcomes(true);
    assert!(delivered > 0);
    assert_eq!(svg.matches("marker-end=\"url(#head)\"").count(), delivered);
    assert_eq!(
        svg.matches("class=\"msg dropped\"").count(),
        outcomes(false)
    );
    let nodes = drawn
        .iter()
        .map(|r| r.node)
        .filter(|&n| n != sim::trace::NO_NODE)
        .max();
    let lanes = nodes.expect("a run has nodes") as usize + 1;
    assert_eq!(svg.matches("class=\"lane\"").count(), lanes);
}
