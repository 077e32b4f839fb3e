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
    Config, Duration, FaultBudget, Latency, NodeId, Outcome, Plan, Rng, Simulation, TraceLevel,
    Verdict,
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
        let client = sim.add_client(move |_| EchoClient::new(client_config.clone()));
        harness::validate_faults(plan, sim.node_count())?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let echo = sim
            .node::<EchoClient>(client)
            .expect("the client never crashes");
        let verdict = if echo.mismatches > 0 {
            Verdict::fail(
                Outcome::Safety,
                format!("{} replies differed from their requests", echo.mismatches),
            )
        } else {
            harness::check_answered(sim.history(), healed_at, sim.now(), workload.timeout)
        };
        let (round_trips, timeouts) = (echo.round_trips, echo.timeouts);
        sim.metrics_mut().count("round-trips", round_trips);
        sim.metrics_mut().count("timeouts", timeouts);
        Ok(harness::finish(sim, plan, verdict))
    }
}
