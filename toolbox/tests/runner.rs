//! Goal: a panic in the code under test becomes that seed's verdict, naming the node and the
//! virtual time, and never takes the campaign down. Method: a protocol that panics on its
//! third timer runs through the campaign's runner, twice in a row on one thread.

use faultline_toolbox::runner::{execute, install_quiet_panic_hook};
use faultline_toolbox::{Run, Scenario};
use sim::{
    Config, Context, Duration, Latency, LinkConfig, Node, NodeId, Outcome, Plan, Simulation, Swarm,
    TraceLevel, Verdict,
};

struct Fragile {
    ticks: u32,
}

impl Node for Fragile {
    type Message = ();
    type Timer = ();
    type Observation = sim::api::NoObservation;
    fn on_start(&mut self, ctx: &mut Context<'_, (), ()>) {
        ctx.set_timer(Duration::from_millis(10), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, (), ()>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, (), ()>, _: ()) {
        self.ticks += 1;
        assert!(self.ticks < 3, "the third tick breaks an invariant");
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

struct FragileScenario;

impl Scenario for FragileScenario {
    fn name(&self) -> &'static str {
        "fragile"
    }
    fn description(&self) -> &'static str {
        "panics on its third tick"
    }
    fn plan(&self, seed: u64, _bug: Option<&str>) -> Plan {
        let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
        let swarm = Swarm::quiet(link.clone(), link);
        let phases = (Duration::from_millis(100), Duration::ZERO);
        faultline_toolbox::harness::plan("fragile", seed, None, swarm, vec![], phases, &())
    }
    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let mut sim: Simulation<(), ()> = Simulation::new(Config::for_plan(plan, level));
        sim.add_node(|_| Fragile { ticks: 0 });
        sim.add_node(|_| Fragile { ticks: 0 });
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
fn a_panic_is_the_seeds_verdict_with_node_and_time() {
    install_quiet_panic_hook();
    for seed in 0..2 {
        let (result, run) = execute(
            &FragileScenario,
            &FragileScenario.plan(seed, None),
            TraceLevel::Hash,
        )
        .expect("a valid plan");
        assert!(run.is_none());
        assert_eq!(result.verdict.outcome, Outcome::Panic);
        let message = &result.verdict.message;
        assert!(
            message.contains("the third tick breaks an invariant"),
            "{message}"
        );
        assert!(
            message.contains("in a handler of n0 at 0.030000s"),
            "{message}"
        );
        assert_eq!(
            result.replay_line("cargo xtask"),
            format!("cargo xtask replay --scenario fragile --seed {seed}")
        );
    }
}
