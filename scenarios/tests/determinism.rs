//! Goal: every scenario is a pure function of its seed (and plan). Method: run seeds of every
//! built-in scenario (planted bugs included) twice, once from the seed and once from the plan
//! after a round trip through JSON, at both trace levels, and compare trace hashes and verdicts.
//! A deliberately nondeterministic scenario checks that `execute_twice` catches the difference
//! and names the first event that differs.

use faultline_toolbox::runner::execute_twice;
use faultline_toolbox::{Run, Scenario};
use sim::{
    Config, Context, Duration, Latency, LinkConfig, Node, NodeId, Outcome, Plan, Simulation, Swarm,
    TraceLevel, Verdict,
};
use std::sync::atomic::{AtomicU64, Ordering};

const SEEDS: u64 = 6;

#[test]
fn every_scenario_replays_from_its_seed_and_its_plan() {
    for scenario in scenarios::all() {
        let bugs = std::iter::once(None).chain(scenario.bugs().into_iter().map(|b| Some(b.name)));
        for bug in bugs {
            for seed in 0..SEEDS {
                let plan = scenario.plan(seed, bug);
                assert_eq!(
                    plan,
                    scenario.plan(seed, bug),
                    "{} seed {seed}: plans are deterministic",
                    scenario.name()
                );
                let reloaded = Plan::from_json(&plan.to_json()).expect("a dumped plan loads");
                let a = scenario.run(&plan, TraceLevel::Hash).expect("a valid plan");
                let b = scenario
                    .run(&reloaded, TraceLevel::Record)
                    .expect("a valid plan");
                let context = format!("{} seed {seed} bug {bug:?}", scenario.name());
                assert_eq!(
                    a.report, b.report,
                    "{context}: same report from the seed and the reloaded plan"
                );
                assert_eq!(
                    b.trace.records().len() as u64,
                    b.report.event_count,
                    "{context}"
                );
            }
        }
    }
}

static GLOBAL_STATE: AtomicU64 = AtomicU64::new(0);

/// A node that reads process-global state: each run sees a different value, exactly the kind
/// of bug `--check-determinism` exists to catch.
struct Leaky;

impl Node for Leaky {
    type Message = u64;
    type Timer = ();
    type Observation = sim::api::NoObservation;
    fn on_start(&mut self, ctx: &mut Context<'_, u64, ()>) {
        let value = GLOBAL_STATE.fetch_add(1, Ordering::Relaxed);
        ctx.set_timer(Duration::from_millis(1 + value % 7), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, u64, ()>, _: NodeId, _: u64) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, u64, ()>, _: ()) {
        ctx.send(NodeId(0), 1);
    }
}

struct LeakyScenario;

impl Scenario for LeakyScenario {
    fn name(&self) -> &'static str {
        "leaky"
    }
    fn description(&self) -> &'static str {
        "reads global state"
    }
    fn plan(&self, seed: u64, _bug: Option<&str>) -> Plan {
        let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
        let swarm = Swarm::quiet(link.clone(), link);
        let phases = (Duration::from_millis(100), Duration::ZERO);
        faultline_toolbox::harness::plan("leaky", seed, None, swarm, vec![], phases, &())
    }
    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let mut sim: Simulation<u64, ()> = Simulation::new(Config::for_plan(plan, level));
        sim.add_node(|_| Leaky);
        sim.run_for(plan.safety_duration);
        let history = faultline_toolbox::harness::take_history(&mut sim);
        Ok(faultline_toolbox::harness::finish(
            sim,
            plan,
            Verdict::pass(),
            &sim::Metrics::default(),
            history,
        ))
    }
}

#[test]
fn nondeterminism_is_detected_and_located() {
    let result = execute_twice(&LeakyScenario, &LeakyScenario.plan(1, None)).expect("a valid plan");
    assert_eq!(result.verdict.outcome, Outcome::Nondeterminism);
    assert!(
        result
            .verdict
            .message
            .contains("first difference at event 1"),
        "{}",
        result.verdict.message
    );
    assert!(
        result.verdict.message.contains("TimerSet"),
        "{}",
        result.verdict.message
    );
}

#[test]
fn deterministic_scenarios_pass_the_double_run() {
    let scenario = scenarios::find("echo").unwrap();
    for seed in 0..3 {
        let result = execute_twice(scenario, &scenario.plan(seed, None)).expect("a valid plan");
        assert_eq!(
            result.verdict.outcome,
            Outcome::Pass,
            "{}",
            result.verdict.message
        );
    }
}
