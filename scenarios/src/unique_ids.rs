//! `unique-ids` (Gossip Glomers challenge 2): three servers hand out ids at 1000 requests a
//! second for 30 virtual seconds, through partitions, crashes, pauses and clock jumps.
//! Safety: every id is unique across the cluster. Liveness: once faults heal, every request is
//! answered.
//!
//! The scenario is `scenarios/specs/unique-ids.toml`; this module is the `unique-ids` workload's
//! adapter and the family's bug table.

use crate::spec::View;
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::spec::{Adapter, File, Spec, SpecError, need};
use faultline_toolbox::{Bug, Planted, Run, switch_for};
use protocols::unique_ids::{IdBug, IdClient, IdClientConfig, IdServer};
use serde::{Deserialize, Serialize};
use sim::limits;
use sim::{Config, Duration, Metrics, NodeId, Plan, Rng, Simulation, TraceLevel};

/// The family's planted bugs (the registry's bug table for `unique-ids-server`).
pub(crate) const BUGS: &[Planted<IdBug>] = &[Planted {
    bug: Bug {
        name: "counter-resets-on-restart",
        description: "ids come from a per-node counter kept in memory, so a restarted node repeats them",
    },
    switch: IdBug::CounterResetsOnRestart,
}];

/// The adapter: id servers and clients asking for ids.
struct UniqueIds {
    ops_per_second: u64,
    timeout: Duration,
}

/// Builds the adapter from a specification (`workload.kind = "unique-ids"`).
pub(crate) fn build(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    let w = view.workload.get_ref();
    Ok(Box::new(UniqueIds {
        ops_per_second: *need(&view.workload, "ops_per_second", &w.ops_per_second)?.get_ref(),
        timeout: *need(&view.workload, "timeout", &w.timeout)?.get_ref(),
    }))
}

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

impl Adapter for UniqueIds {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = Workload {
            servers: spec.servers,
            clients: spec.clients,
            processes_per_client: spec.processes as usize,
            ops_per_second: self.ops_per_second,
            timeout: self.timeout,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<Workload>(plan).map(|_| ())
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, Some(&IdClient::check_written))?;
        let processes = u64::from(workload.clients) * workload.processes_per_client as u64;
        let planted = spec.planted(BUGS);
        let bug = switch_for(spec.name, plan.bug.as_deref(), &planted, IdBug::None)?;
        let mut sim = Simulation::new(Config::for_plan(plan, level));
        let servers: Vec<NodeId> = (0..workload.servers)
            .map(|_| sim.add_node(move |_| IdServer::new(bug)))
            .collect();
        // Each process issues about ops_per_second / processes requests a second.
        let think_mean = Duration::from_nanos(1_000_000_000 * processes / workload.ops_per_second);
        // Each client gets only its own processes' part of the plan's operations.
        let scripts = plan.operations.split(
            workload.processes_per_client as u64,
            workload.clients as usize,
        );
        for (client, script) in (0..workload.clients).zip(scripts) {
            let client_config = IdClientConfig {
                servers: servers.clone(),
                processes: workload.processes_per_client,
                first_process: u64::from(client) * workload.processes_per_client as u64,
                think_mean,
                timeout: workload.timeout,
                script,
            };
            sim.add_client(move |_| IdClient::new(client_config.clone()));
        }
        harness::validate_faults(plan, &sim)?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        let mut checks = Checks::new(&spec.checkers);
        let mut ids = 0;
        checks.check(checkers::checks::unique::NAME, || {
            let found = checkers::check_unique_ids(&history);
            ids = found.as_ref().map_or(0, |unique| unique.ok_ids);
            harness::verdict_of(
                checkers::checks::unique::NAME,
                found.map(|unique| unique.violation),
            )
        });
        checks.answered(
            &spec.answered,
            &history,
            healed_at,
            sim.now(),
            workload.timeout,
        );
        let mut derived = Metrics::default();
        derived.count("ids", ids);
        Ok(checks.finish(sim, plan, &derived, history))
    }
}
