//! The store's scenarios: a seed expanded into a plan (the fault mix, the fault schedule, the
//! workload) and a plan run in the simulator, judged by the online durability checker, the
//! linearizability of the clients' history and the liveness check after the heal. This is
//! the one file that knows the simulator; `protocol.rs` knows only the protocol API.
//!
//! Everything here is built from the toolbox (`faultline-toolbox`): `Scenario` is what its
//! command line runs, and `harness` draws the swarm and the faults, runs the two phases and
//! judges the history.

use crate::protocol::{
    Bug, Client, ClientConfig, ClientTimer, DURABILITY, Durability, KvMessage, Replica,
    ReplicaConfig, ReplicaObservation, ReplicaTimer,
};
use faultline_toolbox::harness::{self, Answered, Checks, FaultMix};
use faultline_toolbox::{Planted, Run, Scenario, bugs_of, switch_for};
use serde::{Deserialize, Serialize};
use sim::api::observe::{Observed, checker};
use sim::history::EventKind;
use sim::rng::stream;
use sim::{
    Config, Duration, Either, FaultBudget, Instant, Latency, LinkConfig, Metrics, NoObservation,
    Plan, Rng, Simulation, TraceLevel, Verdict, limits,
};

/// The planted bugs, by the names the command line takes (`--bug ack-before-sync`).
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

/// The checks a run performs, in order: the online one stops the run at its violation.
const CHECKERS: &[&str] = &[
    DURABILITY,
    checkers::registry::LINEARIZABLE,
    checkers::checks::answered::NAME,
];

/// One scenario of the store: how many replicas, and which faults.
pub struct Store {
    name: &'static str,
    description: &'static str,
    servers: u32,
    /// `None`: no faults at all.
    mix: Option<FaultMix>,
}

/// The scenarios, in the order `list` shows them.
pub fn all() -> Vec<&'static dyn Scenario> {
    static STORES: [Store; 2] = [
        Store {
            name: "store-calm",
            description: "3 replicas, 6 client processes, no faults: every operation answered, the history linearizable",
            servers: 3,
            mix: None,
        },
        Store {
            name: "store-crashes",
            description: "3 replicas under crashes (the primary's aimed at), partitions, pauses, loss and duplication",
            servers: 3,
            mix: Some(FaultMix {
                loss_ppm_max: 50_000,
                duplicate_ppm_max: 50_000,
                partitions: true,
                crashes: true,
                pauses: true,
                clocks: false,
                holds: false,
                leader_crashes: true,
            }),
        },
    ];
    STORES.iter().map(|s| s as &dyn Scenario).collect()
}

/// What a plan holds of the workload: its `workload` section, checked when a plan is run
/// (a plan file is user input).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workload {
    servers: u32,
    processes: u64,
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
        limits::count("workload.keys", self.keys, 1, 1_000)?;
        limits::think("workload.think_mean", self.think_mean)?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

/// How long the faults last, and then how long the healed run must answer.
const SAFETY: Duration = Duration::from_secs(10);
const LIVENESS: Duration = Duration::from_secs(5);

type Member = Either<Client, Replica>;
type StoreSim = Simulation<
    KvMessage,
    Either<ClientTimer, ReplicaTimer>,
    Either<NoObservation, ReplicaObservation>,
>;

impl Scenario for Store {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn bugs(&self) -> Vec<faultline_toolbox::Bug> {
        bugs_of(BUGS)
    }

    fn checkers(&self) -> Vec<&'static str> {
        CHECKERS.to_vec()
    }

    /// The client draws its own operations: a plan has no `operations` script for the
    /// shrinker to cut (it shrinks the faults and the phases).
    fn operations_follow_history(&self) -> bool {
        false
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let latency = Latency::Uniform {
            min: Duration::from_micros(500),
            max: Duration::from_millis(5),
        };
        let link = LinkConfig::reliable(latency.clone());
        let (swarm, faults) = match &self.mix {
            None => (sim::Swarm::quiet(link.clone(), link), Vec::new()),
            Some(mix) => {
                let swarm = harness::draw_swarm(&mut rng, latency, link, mix);
                // At most a minority faulty at once: the store needs a majority to answer.
                let budget = FaultBudget {
                    faulty_nodes_max: (self.servers as usize - 1) / 2,
                };
                let faults = harness::draw_faults(&swarm, self.servers, budget, SAFETY, &mut rng);
                (swarm, faults)
            }
        };
        let workload = Workload {
            servers: self.servers,
            processes: 6,
            keys: 3,
            think_mean: Duration::from_millis(rng.between(5, 50)),
            timeout: Duration::from_millis(500),
        };
        harness::plan(
            self.name,
            seed,
            bug,
            swarm,
            faults,
            (SAFETY, LIVENESS),
            &workload,
        )
    }

    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, None)?;
        let bug = switch_for(self.name, plan.bug.as_deref(), BUGS, Bug::None)?;
        let mut sim: StoreSim = Simulation::new(Config::for_plan(plan, level));
        let mut checks = Checks::new(CHECKERS);
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
        let config = ReplicaConfig::new(&servers, bug);
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
        // Once faults heal, a restarted primary recovers and catches its backups up within the
        // grace; after that every operation is answered.
        let answered = Answered {
            accept: vec![EventKind::Ok],
            grace: Duration::from_secs(1),
        };
        let end = sim.now();
        checks.answered(&answered, &history, healed_at, end, workload.timeout);
        Ok(checks.finish(sim, plan, &Metrics::default(), history))
    }
}
