//! `echo`: three servers that answer every request with its payload, one client with a few
//! requests in flight, over a lossy, duplicating network with crashed and paused servers.
//! Safety: every reply equals its request. Liveness: once faults heal, every request is
//! answered.

use crate::harness::{self, FaultMix};
use crate::{Run, Scenario};
use protocols::echo::{EchoClient, EchoClientConfig, EchoServer};
use serde::{Deserialize, Serialize};
use sim::limits;
use sim::rng::stream;
use sim::{
    Config, Duration, FaultBudget, Latency, Metrics, NodeId, Outcome, Plan, Rng, Simulation,
    TraceLevel, Verdict,
};

pub struct Echo;

#[derive(Serialize, Deserialize)]
struct Workload {
    servers: u32,
    in_flight: usize,
    timeout: Duration,
}

impl harness::Workload for Workload {
    fn validate(&self) -> Result<(), String> {
        harness::check_nodes(u64::from(self.servers), 1)?;
        limits::count(
            "workload.in_flight",
            self.in_flight as u64,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

impl Scenario for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn description(&self) -> &'static str {
        "3 echo servers, a client with 4 requests in flight over a lossy network; replies equal requests"
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let latency = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
        };
        let mix = FaultMix {
            loss_ppm_max: 200_000,
            duplicate_ppm_max: 100_000,
            partitions: false,
            crashes: true,
            pauses: true,
            clocks: true,
            holds: false,
        };
        let mut swarm = harness::draw_swarm(
            &mut rng,
            latency,
            sim::LinkConfig::reliable(Latency::Constant(Duration::ZERO)),
            &mix,
        );
        // The client talks to the servers over the faulty network: echo has no server-to-server
        // traffic to break.
        swarm.client_link = swarm.link.clone();
        let workload = Workload {
            servers: 3,
            in_flight: 4,
            timeout: Duration::from_millis(100),
        };
        let safety = Duration::from_secs(5);
        let faults = harness::draw_faults(
            &swarm,
            workload.servers,
            FaultBudget {
                faulty_nodes_max: 2,
            },
            safety,
            &mut rng,
        );
        harness::plan(
            self.name(),
            seed,
            bug,
            swarm,
            faults,
            (safety, Duration::from_secs(2)),
            &workload,
        )
    }

    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, None)?;
        // Echo plants no bugs: a plan that names one is refused.
        crate::switch_for::<()>(self.name(), plan.bug.as_deref(), &[], ())?;
        let mut sim = Simulation::new(Config::for_plan(plan, level));
        let servers: Vec<NodeId> = (0..workload.servers)
            .map(|_| sim.add_node(|_| EchoServer::default()))
            .collect();
        let client_config = EchoClientConfig {
            servers,
            in_flight: workload.in_flight,
            round_trips_max: u64::MAX,
            timeout: Some(workload.timeout),
            record_history: true,
        };
        sim.add_client(move |_| EchoClient::new(client_config.clone()));
        harness::validate_faults(plan, sim.node_count())?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        let echoes = EchoCheck::of(&history);
        let verdict = match echoes.mismatches {
            0 => harness::check_answered(&history, healed_at, sim.now(), workload.timeout),
            mismatches => Verdict::fail(
                Outcome::Safety,
                format!("{mismatches} replies differed from their requests"),
            )
            .by("replies-echo-requests"),
        };
        let mut derived = Metrics::default();
        derived.count("round-trips", echoes.round_trips);
        derived.count("timeouts", echoes.timeouts);
        Ok(harness::finish(sim, plan, verdict, &derived, history))
    }
}

/// What the history says of the echoes: replies that differ from their request (none may),
/// round trips, and requests that timed out.
struct EchoCheck {
    mismatches: u64,
    round_trips: u64,
    timeouts: u64,
}

impl EchoCheck {
    fn of(history: &checkers::History) -> EchoCheck {
        let mut check = EchoCheck {
            mismatches: 0,
            round_trips: 0,
            timeouts: 0,
        };
        let ops = checkers::pair(history).expect("the echo client writes a well-formed history");
        for op in ops {
            match (op.status, op.completion) {
                (checkers::EventKind::Ok, _) => {
                    check.round_trips += 1;
                    if op.result(history) != Some(op.argument(history)) {
                        check.mismatches += 1;
                    }
                }
                (checkers::EventKind::Info, Some(_)) => check.timeouts += 1,
                _ => {}
            }
        }
        check
    }
}
