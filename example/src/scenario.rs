//! The store's scenarios. They are written as data, in specification files (`specs/*.toml`,
//! in the toolbox's format), whose names this module registers: the node kind `replica`, the
//! workload `store` and the checker `durability`, with the planted bugs. What cannot be data
//! is the adapter here: the plan's workload section, the simulation's nodes and client, and
//! the checks. This is the one file that knows the simulator; `protocol.rs` knows only the
//! protocol API.
//!
//! A file of your own (`--scenario-file my.toml`) may use the same names: copy
//! `specs/store-crashes.toml`, change the fault mix, the counts or the phases, and fuzz it.

use crate::protocol::{
    Bug, Client, ClientConfig, ClientTimer, DURABILITY, Durability, KvMessage, Replica,
    ReplicaConfig, ReplicaObservation, ReplicaTimer,
};
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::registry::{CheckerKind, NodeKind, Registry, WorkloadKind};
use faultline_toolbox::spec::{self, Adapter, File, Spec, SpecError, count, limit, one_client};
use faultline_toolbox::{Planted, Run, Scenario, bugs_of, switch_for};
use serde::{Deserialize, Serialize};
use sim::api::observe::{Observed, checker};
use sim::{
    Config, Duration, Either, Instant, Metrics, NoObservation, Plan, Rng, Simulation, TraceLevel,
    Verdict, limits,
};

/// The planted bugs, by the names files and the command line use (`--bug ack-before-sync`).
pub const BUGS: &[Planted<Bug>] = &[
    Planted {
        bug: faultline_toolbox::Bug {
            name: "ack-before-sync",
            description: "the primary answers a put once it has sent it, before its sync and a majority",
        },
        switch: Bug::AckBeforeSync,
    },
    Planted {
        bug: faultline_toolbox::Bug {
            name: "no-sync-dir",
            description: "a replica creates its log file without syncing the directory",
        },
        switch: Bug::NoSyncDir,
    },
];

/// The names the store's specification files may use.
pub const REGISTRY: Registry = Registry {
    node_kinds: &[NodeKind {
        name: "replica",
        summary: "a primary-backup replica of the key-value store; the lowest-numbered is the primary",
        config: &["heartbeat"],
        bugs: || bugs_of(BUGS),
    }],
    workloads: &[WorkloadKind {
        name: "store",
        summary: "puts of unique values and gets on `keys` keys, one operation outstanding per process",
        node_kinds: &["replica"],
        params: &["keys", "think_mean", "timeout"],
        checkers: &[
            DURABILITY,
            checkers::registry::LINEARIZABLE,
            checkers::checks::answered::NAME,
        ],
        build,
    }],
    checkers: &[CheckerKind {
        name: DURABILITY,
        summary: "online: a committed index never holds another entry, and a recovered primary has every committed entry",
        settings: &[],
    }],
};

/// The store's own specification files, in the order `list` shows them.
const BUILT_IN: &[(&str, &str)] = &[
    ("store-calm.toml", include_str!("../specs/store-calm.toml")),
    (
        "store-crashes.toml",
        include_str!("../specs/store-crashes.toml"),
    ),
];

/// The store's scenarios: its specification files, parsed once.
pub fn all() -> Vec<&'static dyn Scenario> {
    spec::built_in(REGISTRY, "example/specs", BUILT_IN)
}

/// What a plan holds of the workload: its `workload` section, checked again when a plan runs
/// (a plan file is user input).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workload {
    servers: u32,
    processes: u64,
    heartbeat: Duration,
    keys: u64,
    think_mean: Duration,
    timeout: Duration,
}

impl harness::Workload for Workload {
    fn validate(&self) -> Result<(), String> {
        harness::check_nodes(u64::from(self.servers), 1)?;
        limits::count(
            "workload.processes",
            self.processes,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::timeout("workload.heartbeat", self.heartbeat)?;
        limits::count("workload.keys", self.keys, 1, KEYS_MAX)?;
        limits::think("workload.think_mean", self.think_mean)?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

const KEYS_MAX: u64 = 1_000;

/// The adapter: the store's keys from the file, checked against their limits at their lines.
struct Store {
    heartbeat: Duration,
    keys: u64,
    think_mean: Duration,
    timeout: Duration,
}

fn build(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    one_client(file, "store")?;
    let heartbeat = file.need::<Duration>("nodes", "heartbeat")?;
    limit(
        &heartbeat,
        limits::timeout("nodes.heartbeat", *heartbeat.get_ref()),
    )?;
    let keys = file.need::<u64>("workload", "keys")?;
    let think_mean = file.need::<Duration>("workload", "think_mean")?;
    limit(
        &think_mean,
        limits::think("workload.think_mean", *think_mean.get_ref()),
    )?;
    let timeout = file.need::<Duration>("workload", "timeout")?;
    limit(
        &timeout,
        limits::timeout("workload.timeout", *timeout.get_ref()),
    )?;
    Ok(Box::new(Store {
        heartbeat: *heartbeat.get_ref(),
        keys: count("workload.keys", &keys, 1, KEYS_MAX)?,
        think_mean: *think_mean.get_ref(),
        timeout: *timeout.get_ref(),
    }))
}

type Member = Either<Client, Replica>;
type StoreSim = Simulation<
    KvMessage,
    Either<ClientTimer, ReplicaTimer>,
    Either<NoObservation, ReplicaObservation>,
>;

impl Adapter for Store {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = Workload {
            servers: spec.servers,
            processes: spec.processes,
            heartbeat: self.heartbeat,
            keys: self.keys,
            think_mean: self.think_mean,
            timeout: self.timeout,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<Workload>(plan).map(|_| ())
    }

    /// The client draws its own operations: a plan has no `operations` script for the
    /// shrinker to cut (it shrinks the faults, the phases and the workload's counts).
    fn operations_follow_history(&self) -> bool {
        false
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, None)?;
        let planted = spec.planted(BUGS);
        let bug = switch_for(spec.name, plan.bug.as_deref(), &planted, Bug::None)?;
        let mut sim: StoreSim = Simulation::new(Config::for_plan(plan, level));
        let mut checks = Checks::new(&spec.checkers);
        checks.check(DURABILITY, || {
            let mut durability = Durability::default();
            sim.add_checker(checker(
                DURABILITY,
                move |observed: Observed<'_, _>| match observed.observation {
                    Either::Right(observation) => durability.observe(observed.node, observation),
                    Either::Left(_) => Ok(()),
                },
            ));
            // Its violation, if any, stops the run and is the verdict (`Checks::finish`).
            Verdict::pass()
        });
        let servers: Vec<_> = (0..workload.servers).map(sim::NodeId).collect();
        let mut config = ReplicaConfig::new(&servers, bug);
        config.heartbeat = workload.heartbeat;
        for _ in &servers {
            let config = config.clone();
            sim.add_node(move |_| Member::Right(Replica::new(config.clone())));
        }
        let client = ClientConfig {
            primary: config.primary,
            first_process: 0,
            processes: workload.processes,
            keys: workload.keys,
            think_mean: workload.think_mean,
            timeout: workload.timeout,
            stop_after: Instant::ZERO + plan.safety_duration + plan.liveness_duration,
        };
        sim.add_client(move |_| Member::Left(Client::new(client.clone())));
        harness::validate_faults(plan, &sim)?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        checks.check(checkers::registry::LINEARIZABLE, || {
            harness::check_linearizable(&history, checkers::BuiltinModel::Kv)
        });
        let end = sim.now();
        checks.answered(&spec.answered, &history, healed_at, end, workload.timeout);
        Ok(checks.finish(sim, plan, &Metrics::default(), history))
    }
}
