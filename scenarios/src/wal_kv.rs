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
//!
//! The scenarios are `scenarios/specs/wal-kv*.toml`; this module is the `kv` workload's adapter
//! and the family's one bug table (each file offers some of its bugs).

use crate::registry::LOG_INTACT;
use crate::spec::View;
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::spec::{Adapter, File, Spec, SpecError, err, need, one_client};
use faultline_toolbox::{Bug, Planted, Run, switch_for};
use protocols::kv_client::{ClientTimer, KvClient, KvClientConfig, KvOp, OpMix};
use protocols::wal_kv::{WalBug, WalKv, WalKvProtocol, WalMessage, WalObservation};
use serde::{Deserialize, Serialize};
use sim::api::observe::{Observed, checker};
use sim::limits;
use sim::{
    Config, Duration, Either, Metrics, NoObservation, NoTimer, Plan, Rng, Simulation, TraceLevel,
};

/// The family's planted bugs (the registry's bug table for `wal-kv`).
pub(crate) const BUGS: &[Planted<WalBug>] = &[
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
    Planted {
        bug: Bug {
            name: "no-checksum",
            description: "recovery replays log records without verifying their checksums",
        },
        switch: WalBug::NoChecksum,
    },
];

/// The adapter: one wal-kv node and one kv client.
struct WalKvAdapter {
    keys: usize,
    think_mean: Duration,
    timeout: Duration,
}

/// Builds the adapter from a specification (`workload.kind = "kv"`).
pub(crate) fn build(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    let count = &view.nodes.get_ref().count;
    if *count.get_ref() != 1 {
        return Err(err(count, "wal-kv is a single node: `nodes.count = 1`"));
    }
    one_client(file, "kv")?;
    let w = view.workload.get_ref();
    let keys = need(&view.workload, "keys", &w.keys)?;
    Ok(Box::new(WalKvAdapter {
        keys: faultline_toolbox::spec::count("workload.keys", keys, 1, limits::QUEUE_MAX)? as usize,
        think_mean: *need(&view.workload, "think_mean", &w.think_mean)?.get_ref(),
        timeout: *need(&view.workload, "timeout", &w.timeout)?.get_ref(),
    }))
}

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

impl Adapter for WalKvAdapter {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = Workload {
            processes: spec.processes as usize,
            keys: self.keys,
            think_mean: self.think_mean,
            timeout: self.timeout,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<Workload>(plan).map(|_| ())
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(
            plan,
            Some(&|op| match KvOp::from_written(op)? {
                KvOp::Cas { .. } => Err("wal-kv offers get, put and append, not cas".to_string()),
                _ => Ok(()),
            }),
        )?;
        let planted = spec.planted(BUGS);
        let bug = switch_for(spec.name, plan.bug.as_deref(), &planted, WalBug::None)?;
        // The client and the server have timer types of their own (the server's has no
        // values): `Either` composes them into the simulation's.
        type Member = Either<KvClient<WalKvProtocol>, WalKv>;
        let mut sim: Simulation<
            WalMessage,
            Either<ClientTimer, NoTimer>,
            Either<NoObservation, WalObservation>,
        > = Simulation::new(Config::for_plan(plan, level));
        let mut checks = Checks::new(&spec.checkers);
        checks.check(LOG_INTACT, || {
            // On a disk that only loses unsynced writes, recovery must find the acknowledged
            // log whole, and the run fails at the recovery that does not.
            sim.add_checker(checker(LOG_INTACT, |observed: Observed<'_, _>| {
                match observed.observation {
                    Either::Right(WalObservation::Recovered { damaged: true, .. }) => Err(
                        "recovery found the acknowledged log damaged, but this disk only loses unsynced writes"
                            .to_string(),
                    ),
                    _ => Ok(()),
                }
            }));
            // Its violation, if any, stops the run and is the verdict (`harness::finish`).
            sim::Verdict::pass()
        });
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
            mix: OpMix::GET_PUT,
            retry: None,
        };
        sim.add_client(move |_| Member::Left(KvClient::new(client_config.clone())));
        harness::validate_faults(plan, &sim)?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        checks.check(checkers::registry::LINEARIZABLE, || {
            harness::check_linearizable(&history, checkers::BuiltinModel::Kv)
        });
        checks.answered(
            &spec.answered,
            &history,
            healed_at,
            sim.now(),
            workload.timeout,
        );
        Ok(checks.finish(sim, plan, &Metrics::default(), history))
    }
}
