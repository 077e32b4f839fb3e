//! Goal: observation goes through the front door. A protocol's observations reach the run's
//! record and every online checker as they happen, crashed incarnations included; the first
//! violation stops the run at its event and names the checker, the node, the time and the
//! trace event; observations are part of the trace and its hash.
//!
//! Method: a toy election in which each node claims leadership of the terms a plan gives it;
//! a "one leader per term" checker keeps every claim it has seen. Node 0 claims term 3 and then
//! crashes; when node 1 claims term 3 as well, the checker still knows of node 0's claim.

use sim::api::observe::{Observed, checker};
use sim::{
    Config, Context, Duration, Fault, Instant, Latency, LinkConfig, Node, NodeId, Simulation,
    TraceEvent, TraceLevel, Verdict,
};
use std::collections::BTreeMap;

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
enum Election {
    BecameLeader { term: u64 },
}

/// Claims term `terms[k]` at `10 ms * (k + 1)` of its first life.
struct Claimant {
    terms: Vec<u64>,
    next: usize,
}

impl Node for Claimant {
    type Message = ();
    type Timer = ();
    type Observation = Election;

    fn on_start(&mut self, ctx: &mut Context<'_, (), (), Election>) {
        if ctx.incarnation() == 0 {
            ctx.set_timer(Duration::from_millis(10), ());
        }
    }

    fn on_message(&mut self, _: &mut Context<'_, (), (), Election>, _: NodeId, _: ()) {}

    fn on_timer(&mut self, ctx: &mut Context<'_, (), (), Election>, _: ()) {
        let Some(&term) = self.terms.get(self.next) else {
            return;
        };
        self.next += 1;
        ctx.observe(Election::BecameLeader { term });
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

/// Node 0 claims terms 1 and 3 and crashes at 25 ms; node 1 claims `second` at 10, 20 and 30
/// ms. Node 1's third claim comes after node 0's crash.
fn run(second: [u64; 3]) -> Simulation<(), (), Election> {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(7, link.clone(), link);
    config.trace_level = TraceLevel::Record;
    let mut sim = Simulation::new(config);
    sim.add_node(|_| Claimant {
        terms: vec![1, 3],
        next: 0,
    });
    sim.add_node(move |_| Claimant {
        terms: second.to_vec(),
        next: 0,
    });
    let mut leaders: BTreeMap<u64, NodeId> = BTreeMap::new();
    sim.add_checker(checker(
        "one-leader-per-term",
        move |observed: Observed<'_, Election>| {
            let Election::BecameLeader { term } = *observed.observation;
            match leaders.insert(term, observed.node) {
                Some(first) if first != observed.node => Err(format!(
                    "{} became leader of term {term}, which {first} led already",
                    observed.node
                )),
                _ => Ok(()),
            }
        },
    ));
    sim.schedule(
        Instant::ZERO + Duration::from_millis(25),
        Fault::Crash(NodeId(0)),
    );
    sim.run_until(Instant::ZERO + Duration::from_millis(100));
    sim
}

#[test]
fn an_online_checker_judges_against_what_a_crashed_node_observed() {
    let sim = run([2, 4, 3]);
    let violation = sim.violation().expect("term 3 has two leaders");
    assert_eq!(violation.checker, "one-leader-per-term");
    assert_eq!(
        violation.message,
        "n1 became leader of term 3, which n0 led already"
    );
    assert_eq!(violation.node, NodeId(1));
    assert_eq!(violation.time, Instant::ZERO + Duration::from_millis(30));
    // The run stopped at the violation: nothing after 30 ms was handled.
    assert_eq!(sim.now(), Instant::ZERO + Duration::from_millis(30));
    // The event index points at the observation in the trace.
    let record = &sim.trace().records()[violation.event as usize];
    assert_eq!(record.node, 1);
    assert_eq!(record.time_nanos, 30_000_000);
    assert_eq!(
        record.event,
        TraceEvent::Observe {
            observation: "BecameLeader { term: 3 }".to_string()
        }
    );
    // Node 0's claim outlived its crash in the run's record, with its incarnation.
    let claims: Vec<(u32, u32, u64)> = sim
        .observations()
        .iter()
        .map(|r| {
            let Election::BecameLeader { term } = r.observation;
            (r.node.0, r.incarnation, term)
        })
        .collect();
    assert_eq!(
        claims,
        [(0, 0, 1), (1, 0, 2), (0, 0, 3), (1, 0, 4), (1, 0, 3)]
    );
    assert!(!sim.is_up(NodeId(0)));
    // The verdict names the checker and the place.
    let verdict = Verdict::from_violation(violation);
    assert_eq!(
        verdict.headline(),
        format!(
            "safety [one-leader-per-term at 0.030000s on n1 (trace event {})]: \
             n1 became leader of term 3, which n0 led already",
            violation.event
        )
    );
}

#[test]
fn a_run_without_violations_runs_to_its_end() {
    let sim = run([2, 4, 5]);
    assert_eq!(sim.violation(), None);
    assert_eq!(sim.now(), Instant::ZERO + Duration::from_millis(100));
    assert_eq!(sim.observations().len(), 5);
}

#[test]
fn observations_are_part_of_the_trace_hash() {
    let (a, b) = (run([2, 4, 5]), run([2, 4, 6]));
    assert_eq!(a.trace().event_count(), b.trace().event_count());
    assert_ne!(a.trace().hash(), b.trace().hash());
    assert_eq!(run([2, 4, 5]).trace().hash(), a.trace().hash());
}

/// Observes on every timer tick, forever.
struct Chatty;

impl Node for Chatty {
    type Message = ();
    type Timer = ();
    type Observation = Election;

    fn on_start(&mut self, ctx: &mut Context<'_, (), (), Election>) {
        ctx.set_timer(Duration::from_millis(1), ());
    }

    fn on_message(&mut self, _: &mut Context<'_, (), (), Election>, _: NodeId, _: ()) {}

    fn on_timer(&mut self, ctx: &mut Context<'_, (), (), Election>, _: ()) {
        ctx.observe(Election::BecameLeader { term: 1 });
        ctx.set_timer(Duration::from_millis(1), ());
    }
}

// Goal: a protocol that observes without end halts the run at the engine's bound instead of
// exhausting memory. Method: a bound of 100 and a node that observes every millisecond.
#[test]
fn a_run_keeps_a_bounded_number_of_observations() {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(7, link.clone(), link);
    config.observations_max = 100;
    let mut sim = Simulation::new(config);
    sim.add_node(|_| Chatty);
    sim.run_until(Instant::ZERO + Duration::from_secs(10));
    let halt = sim.halted().expect("the bound halts the run");
    assert_eq!(halt.at, Instant::ZERO + Duration::from_millis(100));
    assert_eq!(
        halt.reason,
        "kept 100 observations (the last by n0), the most a run keeps; does a protocol observe \
         in a loop?"
    );
    assert_eq!(sim.observations().len(), 100);
}
