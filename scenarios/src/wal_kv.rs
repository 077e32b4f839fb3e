//! `wal-kv` and `wal-kv-faulty-disk`: a single durable key-value node with a write-ahead log,
//! clients doing gets, puts and appends, and a node that crashes and restarts.
//!
//! - `wal-kv`: crashes tear and lose unsynced writes. The history must be linearizable (so no
//!   acknowledged write is lost and no stale or invented value is read), the node must never
//!   claim data loss (only unsynced data is ever lost), and once faults heal every operation is
//!   answered.
//! - `wal-kv-faulty-disk`: the log also suffers corruption, latent sector errors, I/O errors,
//!   misdirected writes and a full disk. A single copy can be destroyed, so the node may refuse
//!   (a `fail` naming the data loss) but must never serve a wrong or older value: the history
//!   must still be linearizable, and once faults heal every operation is answered, `ok` or
//!   `fail`.

use crate::harness::{self, FaultMix};
use crate::{Bug, Planted, Run, Scenario, bugs_of, switch_for};
use protocols::kv_client::{ClientTimer, KvClient, KvClientConfig, KvOp};
use protocols::wal_kv::{LOG_FILE, WalBug, WalKv, WalKvProtocol, WalMessage, WalObservation};
use serde::{Deserialize, Serialize};
use sim::api::observe::{Observed, checker};
use sim::history::EventKind;
use sim::limits;
use sim::plan::draw_ppm;
use sim::rng::stream;
use sim::{
    Config, DiskConfig, DiskFaults, Duration, Either, FaultBudget, Latency, LinkConfig, Metrics,
    NoObservation, NoTimer, Plan, Rng, Simulation, TraceLevel,
};

pub struct WalKvScenario {
    faulty_disk: bool,
}

pub(crate) const SCENARIOS: &[&dyn Scenario] = &[
    &WalKvScenario { faulty_disk: false },
    &WalKvScenario { faulty_disk: true },
];

const CLEAN_BUGS: &[Planted<WalBug>] = &[
    Planted {
        bug: Bug {
            name: "ack-before-sync",
            description: "acknowledges a write when the log write completes, before the sync",
        },
        switch: WalBug::AckBeforeSync,
    },
    Planted {
        bug: Bug {
            name: "trust-torn-length",
            description: "after a torn tail, trusts the torn record's length field instead of truncating the log",
        },
        switch: WalBug::TrustTornLength,
    },
];

const FAULTY_BUGS: &[Planted<WalBug>] = &[Planted {
    bug: Bug {
        name: "no-checksum",
        description: "recovery replays log records without verifying their checksums",
    },
    switch: WalBug::NoChecksum,
}];

#[derive(Serialize, Deserialize)]
struct Workload {
    processes: usize,
    keys: usize,
    think_mean: Duration,
    timeout: Duration,
}

impl harness::Workload for Workload {
    fn validate(&self) -> Result<(), String> {
        limits::count(
            "workload.processes",
            self.processes as u64,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::count("workload.keys", self.keys as u64, 1, limits::QUEUE_MAX)?;
        limits::think("workload.think_mean", self.think_mean)?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

impl WalKvScenario {
    /// The bugs this variant plants: a checksum matters only on a disk that corrupts.
    fn planted(&self) -> &'static [Planted<WalBug>] {
        if self.faulty_disk {
            FAULTY_BUGS
        } else {
            CLEAN_BUGS
        }
    }
}

impl Scenario for WalKvScenario {
    fn name(&self) -> &'static str {
        if self.faulty_disk {
            "wal-kv-faulty-disk"
        } else {
            "wal-kv"
        }
    }

    fn description(&self) -> &'static str {
        if self.faulty_disk {
            "a write-ahead-logged kv node on a disk that corrupts, misdirects and fails; never a wrong value"
        } else {
            "a write-ahead-logged kv node that crashes and tears writes; linearizable, no acknowledged write lost"
        }
    }

    fn bugs(&self) -> Vec<Bug> {
        bugs_of(self.planted())
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let client_link = LinkConfig::reliable(Latency::Uniform {
            min: Duration::from_micros(100),
            max: Duration::from_millis(1),
        });
        let mix = FaultMix {
            loss_ppm_max: 0,
            duplicate_ppm_max: 0,
            partitions: false,
            crashes: true,
            pauses: true,
            clocks: false,
            holds: false,
        };
        let mut swarm = harness::draw_swarm(
            &mut rng,
            Latency::Constant(Duration::from_millis(1)),
            client_link,
            &mix,
        );
        swarm.crash_weight = swarm.crash_weight.max(2);
        swarm.fault_gap_mean = Duration::from_millis(rng.between(300, 2_000));
        let mut disk = DiskConfig {
            // Small sectors, so a batch of records spans several and can tear between them.
            sector_bytes: 64,
            crash_lose_ppm: draw_ppm(&mut rng, 500_000),
            crash_tear_ppm: draw_ppm(&mut rng, 500_000),
            ..DiskConfig::default()
        };
        if self.faulty_disk {
            disk.faults = DiskFaults {
                read_corrupt_ppm: draw_ppm(&mut rng, 100_000),
                latent_ppm: draw_ppm(&mut rng, 50_000),
                read_error_ppm: draw_ppm(&mut rng, 100_000),
                write_error_ppm: draw_ppm(&mut rng, 50_000),
                misdirect_ppm: draw_ppm(&mut rng, 20_000),
                // The node's metadata file is the region the protocol trusts.
                files: vec![LOG_FILE.to_string()],
                nodes_max: 1,
                unlimited: false,
            };
            if rng.below(4) == 0 {
                disk.capacity_bytes = rng.between(4_096, 32_768);
            }
        }
        swarm.disk = disk;
        let workload = Workload {
            // Enough keys that few operations on any one key are ever indeterminate at once:
            // the linearizability search is exponential in those.
            processes: 4,
            keys: 24,
            think_mean: Duration::from_millis(20),
            timeout: Duration::from_millis(500),
        };
        let safety = Duration::from_secs(20);
        let faults = harness::draw_faults(
            &swarm,
            1,
            FaultBudget {
                faulty_nodes_max: 1,
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
            (safety, Duration::from_secs(3)),
            &workload,
        )
    }

    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, Some(&|op| KvOp::from_written(op).map(|_| ())))?;
        let bug = switch_for(
            self.name(),
            plan.bug.as_deref(),
            self.planted(),
            WalBug::None,
        )?;
        // The client and the server have timer types of their own (the server's has no
        // values): `Either` composes them into the simulation's.
        type Member = Either<KvClient<WalKvProtocol>, WalKv>;
        let mut sim: Simulation<
            WalMessage,
            Either<ClientTimer, NoTimer>,
            Either<NoObservation, WalObservation>,
        > = Simulation::new(Config::for_plan(plan, level));
        if !self.faulty_disk {
            // This disk only loses unsynced writes: recovery must find the acknowledged log
            // whole, and the run fails at the recovery that does not.
            sim.add_checker(checker("log-intact", |observed: Observed<'_, _>| {
                match observed.observation {
                    Either::Right(WalObservation::Recovered { damaged: true, .. }) => Err(
                        "recovery found the acknowledged log damaged, but this disk only loses unsynced writes"
                            .to_string(),
                    ),
                    _ => Ok(()),
                }
            }));
        }
        let server = sim.add_node(move |_| Member::Right(WalKv::new(bug)));
        let client_config = KvClientConfig {
            servers: vec![server],
            processes: workload.processes,
            first_process: 0,
            key_count: workload.keys,
            think_mean: workload.think_mean,
            timeout: workload.timeout,
            stop_after: Duration::MAX,
            script: plan.operations.clone(),
        };
        sim.add_client(move |_| Member::Left(KvClient::new(client_config.clone())));
        harness::validate_faults(plan, sim.node_count())?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        let mut verdict = harness::check_linearizable(&history, checkers::BuiltinModel::Kv);
        if verdict.is_pass() {
            let answers: &[EventKind] = if self.faulty_disk {
                &[EventKind::Ok, EventKind::Fail]
            } else {
                &[EventKind::Ok]
            };
            verdict = harness::check_answered_with(
                &history,
                healed_at,
                sim.now(),
                workload.timeout,
                answers,
            );
        }
        Ok(harness::finish(
            sim,
            plan,
            verdict,
            &Metrics::default(),
            history,
        ))
    }
}
