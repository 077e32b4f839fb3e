//! Goal: a run's report says who found a violation and where, and holds only figures from the
//! front door. Method: a two-node simulation whose online checker objects to the third
//! observation, finished through `harness::finish` with a derived gauge; the same run with a
//! checker that never objects, judged by the scenario's own verdict; and a built-in scenario
//! (wal-kv) whose online checker stops a run at its violation.

use faultline_toolbox::harness;
use sim::api::observe::{Observed, checker};
use sim::{
    Config, Context, Duration, Instant, Latency, LinkConfig, Metrics, Node, NodeId, Outcome,
    Simulation, Verdict,
};

/// Pings its peer every 10 ms and reports every ping it gets.
struct Pinger;

impl Node for Pinger {
    type Message = u64;
    type Timer = ();
    type Observation = u64;

    fn on_start(&mut self, ctx: &mut Context<'_, u64, (), u64>) {
        ctx.set_timer(Duration::from_millis(10), ());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, u64, (), u64>, _: NodeId, ping: u64) {
        ctx.observe(ping);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, u64, (), u64>, _: ()) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            ctx.send(peer, ctx.now().as_nanos());
        }
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

fn finished(objects_at: usize) -> faultline_toolbox::Run {
    let plan = scenarios::find("echo").expect("echo exists").plan(0, None);
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim: Simulation<u64, (), u64> = Simulation::new(Config::new(0, link.clone(), link));
    sim.add_node(|_| Pinger);
    sim.add_node(|_| Pinger);
    let mut seen = 0;
    sim.add_checker(checker("third-ping", move |_: Observed<'_, u64>| {
        seen += 1;
        match seen == objects_at {
            true => Err(format!("ping {seen} is one too many")),
            false => Ok(()),
        }
    }));
    sim.run_until(Instant::ZERO + Duration::from_millis(100));
    let mut derived = Metrics::default();
    derived.gauge("pings-x1000", 1234);
    let history = harness::take_history(&mut sim);
    harness::finish(
        sim,
        &plan,
        Verdict::fail(Outcome::Liveness, "the scenario's own verdict"),
        &derived,
        history,
    )
}

#[test]
fn an_online_checkers_violation_is_the_verdict_with_its_place() {
    let run = finished(3);
    let verdict = &run.report.verdict;
    assert_eq!(verdict.outcome, Outcome::Safety);
    assert_eq!(verdict.checker.as_deref(), Some("third-ping"));
    assert_eq!(verdict.message, "ping 3 is one too many");
    // Both nodes ping at 10 ms (n0 first) and hear each other at 11 ms; the third ping
    // arrives at 21 ms, at n1 (n0's ping, sent first, lands first).
    assert_eq!(verdict.at, Some(Instant::ZERO + Duration::from_millis(21)));
    assert_eq!(verdict.node, Some(NodeId(1)));
    let event = verdict.event.expect("an online checker knows the event");
    assert!(verdict.headline().starts_with(&format!(
        "safety [third-ping at 0.021000s on n1 (trace event {event})]: "
    )));
    // The run stopped there: the engine counted four pings sent, not ten.
    assert_eq!(run.report.counters["msgs-server-to-server"], 4);
    assert_eq!(run.report.gauges["pings-x1000"], 1234);
}

#[test]
fn without_a_violation_the_scenarios_verdict_stands() {
    let run = finished(usize::MAX);
    assert_eq!(run.report.verdict.outcome, Outcome::Liveness);
    assert_eq!(run.report.verdict.checker, None);
    // Ten rounds (10 ms to 100 ms) of two pings.
    assert_eq!(run.report.counters["msgs-server-to-server"], 20);
    assert_eq!(run.report.counters["msgs-client-to-server"], 0);
}

// Goal: a built-in scenario's online checker fails the run where the violation happened.
// Method: wal-kv with its torn-length bug, seed 487, whose first recovery that finds the
// acknowledged log damaged comes at 3.86 s; the run stops there.
#[test]
fn wal_kv_fails_at_the_recovery_that_finds_its_log_damaged() {
    let scenario = scenarios::find("wal-kv").expect("wal-kv exists");
    let plan = scenario.plan(487, Some("trust-torn-length"));
    let run = scenario
        .run(&plan, sim::TraceLevel::Record)
        .expect("a valid plan");
    let verdict = &run.report.verdict;
    assert_eq!(
        verdict.headline(),
        "safety [log-intact at 3.860146s on n0 (trace event 866)]: recovery found the \
         acknowledged log damaged, but this disk only loses unsynced writes"
    );
    assert_eq!(run.report.virtual_time, Duration::from_nanos(3_860_146_617));
    let record = &run.trace.records()[866];
    assert_eq!((record.node, record.time_nanos), (0, 3_860_146_617));
    assert!(
        matches!(&record.event, sim::TraceEvent::Observe { observation }
            if observation.starts_with("Recovered {") && observation.contains("damaged: true")),
        "{record:?}"
    );
}
