//! `unique-ids` (Gossip Glomers challenge 2): three servers hand out ids at 1000 requests a
//! second for 30 virtual seconds, through partitions, crashes, pauses and clock jumps.
//! Safety: every id is unique across the cluster. Liveness: once faults heal, every request is
//! answered.

use crate::harness::{self, FaultMix};
use crate::{Bug, Planted, Run, Scenario, bugs_of, switch_for};
use protocols::unique_ids::{IdBug, IdClient, IdClientConfig, IdServer};
use serde::{Deserialize, Serialize};
use sim::limits;
use sim::rng::stream;
use sim::{
    Config, Duration, FaultBudget, Latency, LinkConfig, Metrics, NodeId, Plan, Rng, Simulation,
    TraceLevel,
};

pub struct UniqueIds;

const BUGS: &[Planted<IdBug>] = &[Planted {
    bug: Bug {
        name: "counter-resets-on-restart",
        description: "ids come from a per-node counter kept in memory, so a restarted node repeats them",
    },
    switch: IdBug::CounterResetsOnRestart,
}];

#[derive(Serialize, Deserialize)]
struct Workload {
    servers: u32,
    clients: u32,
    processes_per_client: usize,
    ops_per_second: u64,
    timeout: Duration,
}

impl harness::Workload for Workload {
    fn validate(&self) -> Result<(), String> {
        harness::check_nodes(u64::from(self.servers), u64::from(self.clients))?;
        limits::count(
            "workload.clients",
            u64::from(self.clients),
            1,
            limits::NODES_MAX,
        )?;
        let processes = u64::from(self.clients).saturating_mul(self.processes_per_client as u64);
        limits::count(
            "workload.processes_per_client",
            self.processes_per_client as u64,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::count(
            "clients times processes_per_client",
            processes,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::count(
            "workload.ops_per_second",
            self.ops_per_second,
            1,
            limits::RATE_MAX,
        )?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

impl Scenario for UniqueIds {
    fn name(&self) -> &'static str {
        "unique-ids"
    }

    fn description(&self) -> &'static str {
        "3 nodes generate ids at 1000 requests/s for 30s through partitions and crashes; ids are unique"
    }

    fn bugs(&self) -> Vec<Bug> {
        bugs_of(BUGS)
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let latency = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
        };
        let client_link = LinkConfig::reliable(Latency::Uniform {
            min: Duration::from_micros(500),
            max: Duration::from_millis(2),
        });
        let mix = FaultMix {
            loss_ppm_max: 100_000,
            duplicate_ppm_max: 50_000,
            partitions: true,
            crashes: true,
            pauses: true,
            clocks: true,
            holds: true,
        };
        let mut swarm = harness::draw_swarm(&mut rng, latency, client_link, &mix);
        // Crashes are what this scenario is about: never switch them off entirely.
        swarm.crash_weight = swarm.crash_weight.max(1);
        let workload = Workload {
            servers: 3,
            clients: 3,
            processes_per_client: 10,
            ops_per_second: 1000,
            timeout: Duration::from_secs(1),
        };
        let safety = Duration::from_secs(30);
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
            (safety, Duration::from_secs(5)),
            &workload,
        )
    }

    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, Some(&IdClient::check_written))?;
        let processes = u64::from(workload.clients) * workload.processes_per_client as u64;
        let bug = switch_for(self.name(), plan.bug.as_deref(), BUGS, IdBug::None)?;
        let mut sim = Simulation::new(Config::for_plan(plan, level));
        let servers: Vec<NodeId> = (0..workload.servers)
            .map(|_| sim.add_node(move |_| IdServer::new(bug)))
            .collect();
        // Each process issues about ops_per_second / processes requests a second.
        let think_mean = Duration::from_nanos(1_000_000_000 * processes / workload.ops_per_second);
        for client in 0..workload.clients {
            let client_config = IdClientConfig {
                servers: servers.clone(),
                processes: workload.processes_per_client,
                first_process: u64::from(client) * workload.processes_per_client as u64,
                think_mean,
                timeout: workload.timeout,
                script: plan.operations.clone(),
            };
            sim.add_client(move |_| IdClient::new(client_config.clone()));
        }
        harness::validate_faults(plan, sim.node_count())?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        let found = checkers::check_unique_ids(&history);
        let ids = found.as_ref().map_or(0, |unique| unique.ok_ids);
        let verdict = harness::verdict_of(
            checkers::checks::unique::NAME,
            found.map(|unique| unique.violation),
        );
        let verdict = if verdict.is_pass() {
            harness::check_answered(&history, healed_at, sim.now(), workload.timeout)
        } else {
            verdict
        };
        let mut derived = Metrics::default();
        derived.count("ids", ids);
        Ok(harness::finish(sim, plan, verdict, &derived, history))
    }
}
