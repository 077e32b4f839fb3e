//! The Raft family: a cluster of Raft nodes serving a key-value store, clients that find the
//! leader and retry, and Raft's safety invariants judged online.
//!
//! Two workloads share this adapter:
//! - `raft-kv`: gets, puts, appends and cas on a few keys; the history must be linearizable.
//! - `raft-election`: the same clients, lighter, and the election checks of the MIT 6.5840
//!   labs: a leader within `elect_within` of the start, a leader whose term is stable for the
//!   last `stable_for` of the run, and the first election within `election_messages_max`
//!   messages between servers.
//!
//! The scenarios are `scenarios/specs/raft-*.toml`; this module is the family's one bug table.

use crate::registry::{ELECTION_MESSAGES, LEADER_ELECTED, LEADER_QUORUM, RAFT_SAFETY, REPLICATED};
use crate::spec::View;
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::spec::{Adapter, File, Spec, SpecError, need, one_client};
use faultline_toolbox::{Bug, Planted, Run, switch_for};
use protocols::kv_client::{ClientTimer, KvClient, KvClientConfig, KvOp, OpMix, Retry};
use protocols::raft::invariants::Invariants;
use protocols::raft::{
    Raft, RaftBug, RaftConfig, RaftKvProtocol, RaftMessage, RaftObservation, RaftTimer,
};
use serde::{Deserialize, Serialize};
use sim::api::observe::{Observed, checker};
use sim::limits;
use sim::{
    Config, Duration, Either, Fault, Instant, Metrics, NoObservation, NodeId, Plan, Rng,
    Simulation, TraceLevel, Verdict,
};
use std::collections::{BTreeMap, BTreeSet};

/// The family's planted bugs (the registry's bug table for `raft`).
pub(crate) const BUGS: &[Planted<RaftBug>] = &[
    Planted {
        bug: Bug {
            name: "vote-not-persisted",
            description: "grants a vote without recording it, so a restarted node may vote twice in a term",
        },
        switch: RaftBug::VoteNotPersisted,
    },
    Planted {
        bug: Bug {
            name: "commit-old-term-by-count",
            description: "a leader commits entries of earlier terms by counting replicas (Figure 8)",
        },
        switch: RaftBug::CommitOldTermByCount,
    },
    Planted {
        bug: Bug {
            name: "no-truncation-on-conflict",
            description: "a follower overwrites conflicting entries but keeps the rest of its log after them",
        },
        switch: RaftBug::NoTruncationOnConflict,
    },
    Planted {
        bug: Bug {
            name: "stale-read-from-old-leader",
            description: "a leader answers gets at once, without confirming it still leads (no ReadIndex)",
        },
        switch: RaftBug::StaleReadFromOldLeader,
    },
    Planted {
        bug: Bug {
            name: "lease-read-under-drift",
            description: "a leader answers gets from a lease timed by its own clock, which can jump and drift",
        },
        switch: RaftBug::LeaseReadUnderDrift,
    },
    Planted {
        bug: Bug {
            name: "ack-before-sync",
            description: "a follower acknowledges entries when their write completes, before the sync",
        },
        switch: RaftBug::AckBeforeSync,
    },
    Planted {
        bug: Bug {
            name: "election-timeout-not-randomized",
            description: "every election timeout is the least one, so nodes that start together split their votes forever",
        },
        switch: RaftBug::ElectionTimeoutNotRandomized,
    },
    Planted {
        bug: Bug {
            name: "no-check-quorum",
            description: "a leader that no longer hears from a majority keeps leading",
        },
        switch: RaftBug::NoCheckQuorum,
    },
    Planted {
        bug: Bug {
            name: "commit-not-forwarded",
            description: "a leader never tells its followers its commit index, so they apply nothing",
        },
        switch: RaftBug::CommitNotForwarded,
    },
];

/// The election checks' thresholds (from the file; `raft-election` only).
#[derive(Clone, Copy)]
struct ElectionChecks {
    elect_within: Duration,
    stable_for: Duration,
    messages_max: u64,
}

/// The adapter: Raft servers and one kv client.
struct RaftAdapter {
    keys: usize,
    think_mean: Duration,
    timeout: Duration,
    attempt_timeout: Duration,
    heartbeat: Duration,
    election: (Duration, Duration),
    election_checks: Option<ElectionChecks>,
}

/// Builds the adapter from a specification (`workload.kind = "raft-kv"` or `"raft-election"`).
pub(crate) fn build(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    one_client(file, view.workload.get_ref().kind.get_ref())?;
    let nodes = view.nodes.get_ref();
    let election = need(&view.nodes, "election_timeout", &nodes.election_timeout)?;
    let w = view.workload.get_ref();
    let keys = need(&view.workload, "keys", &w.keys)?;
    let election_checks = match w.kind.get_ref().as_str() {
        "raft-election" => Some(ElectionChecks {
            elect_within: *need(&view.workload, "elect_within", &w.elect_within)?.get_ref(),
            stable_for: *need(&view.workload, "stable_for", &w.stable_for)?.get_ref(),
            messages_max: *need(
                &view.workload,
                "election_messages_max",
                &w.election_messages_max,
            )?
            .get_ref(),
        }),
        _ => None,
    };
    Ok(Box::new(RaftAdapter {
        keys: faultline_toolbox::spec::count("workload.keys", keys, 1, limits::QUEUE_MAX)? as usize,
        think_mean: *need(&view.workload, "think_mean", &w.think_mean)?.get_ref(),
        timeout: *need(&view.workload, "timeout", &w.timeout)?.get_ref(),
        attempt_timeout: *need(&view.workload, "attempt_timeout", &w.attempt_timeout)?.get_ref(),
        heartbeat: *need(&view.nodes, "heartbeat", &nodes.heartbeat)?.get_ref(),
        election: (election.get_ref().min, election.get_ref().max),
        election_checks,
    }))
}

/// The plan's workload section.
#[derive(Serialize, Deserialize)]
struct Workload {
    servers: u32,
    processes: usize,
    keys: usize,
    think_mean: Duration,
    timeout: Duration,
    attempt_timeout: Duration,
    heartbeat: Duration,
    election_min: Duration,
    election_max: Duration,
}

impl harness::Workload for Workload {
    fn validate(&self) -> Result<(), String> {
        harness::check_nodes(u64::from(self.servers), 1)?;
        limits::count(
            "workload.processes",
            self.processes as u64,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::count("workload.keys", self.keys as u64, 1, limits::QUEUE_MAX)?;
        limits::think("workload.think_mean", self.think_mean)?;
        limits::timeout("workload.timeout", self.timeout)?;
        limits::timeout("workload.attempt_timeout", self.attempt_timeout)?;
        limits::timeout("workload.heartbeat", self.heartbeat)?;
        limits::timeout("workload.election_min", self.election_min)?;
        limits::timeout("workload.election_max", self.election_max)?;
        if self.heartbeat >= self.election_min || self.election_min > self.election_max {
            return Err(format!(
                "`workload.heartbeat` ({}) must be below `workload.election_min` ({}), and that at most `workload.election_max` ({})",
                self.heartbeat, self.election_min, self.election_max
            ));
        }
        Ok(())
    }
}

type Member = Either<KvClient<RaftKvProtocol>, Raft>;
type RaftSim =
    Simulation<RaftMessage, Either<ClientTimer, RaftTimer>, Either<NoObservation, RaftObservation>>;

impl Adapter for RaftAdapter {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = Workload {
            servers: spec.servers,
            processes: spec.processes as usize,
            keys: self.keys,
            think_mean: self.think_mean,
            timeout: self.timeout,
            attempt_timeout: self.attempt_timeout,
            heartbeat: self.heartbeat,
            election_min: self.election.0,
            election_max: self.election.1,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<Workload>(plan).map(|_| ())
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, Some(&|op| KvOp::from_written(op).map(|_| ())))?;
        let planted = spec.planted(BUGS);
        let bug = switch_for(spec.name, plan.bug.as_deref(), &planted, RaftBug::None)?;
        let mut sim: RaftSim = Simulation::new(Config::for_plan(plan, level));
        let mut checks = Checks::new(&spec.checkers);
        checks.check(RAFT_SAFETY, || {
            let mut invariants = Invariants::new(spec.servers);
            sim.add_checker(checker(
                RAFT_SAFETY,
                move |observed: Observed<'_, _>| match observed.observation {
                    Either::Right(observation) => {
                        invariants.observe(observed.node, observed.incarnation, observation)
                    }
                    Either::Left(_) => Ok(()),
                },
            ));
            // Its violation, if any, stops the run and is the verdict (`harness::finish`).
            Verdict::pass()
        });
        let config = RaftConfig {
            heartbeat: workload.heartbeat,
            election_min: workload.election_min,
            election_max: workload.election_max,
            bug,
        };
        let servers: Vec<NodeId> = (0..workload.servers)
            .map(|_| {
                let config = config.clone();
                sim.add_node(move |_| Member::Right(Raft::new(config.clone())))
            })
            .collect();
        let client_config = KvClientConfig {
            servers,
            processes: workload.processes,
            first_process: 0,
            key_count: workload.keys,
            think_mean: workload.think_mean,
            timeout: workload.timeout,
            stop_after: Duration::MAX,
            script: plan.operations.clone(),
            mix: OpMix {
                get: 10,
                put: 6,
                append: 3,
                cas: 1,
            },
            retry: Some(Retry {
                attempt_timeout: workload.attempt_timeout,
                backoff: workload.heartbeat,
            }),
        };
        sim.add_client(move |_| Member::Left(KvClient::new(client_config.clone())));
        harness::validate_faults(plan, &sim)?;

        harness::start_phases(&mut sim, plan);
        // The first election, and what it cost in messages between servers.
        let election_messages = self.election_checks.and_then(|_| {
            let safety_end = Instant::ZERO + plan.safety_duration;
            let step = Duration::from_millis(1);
            sim.run_until_condition(safety_end, step, |sim| first_leader(sim).is_some())
                .then(|| sim.network_stats().sent_server_to_server)
        });
        let healed_at = harness::end_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        if let Some(election) = self.election_checks {
            checks.check(LEADER_ELECTED, || elected(&sim, election));
            checks.check(ELECTION_MESSAGES, || match election_messages {
                Some(sent) if sent > election.messages_max => Verdict::fail(
                    sim::Outcome::Liveness,
                    format!(
                        "the first election took {sent} messages between servers; the limit is {}",
                        election.messages_max
                    ),
                ),
                _ => Verdict::pass(),
            });
        }
        checks.check(LEADER_QUORUM, || {
            leader_quorum(&sim, plan, &workload, healed_at)
        });
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
        checks.check(REPLICATED, || {
            replicated(&sim, workload.servers, spec.answered.grace)
        });
        Ok(checks.finish(sim, plan, &Metrics::default(), history))
    }
}

/// When the first leader was elected.
fn first_leader(sim: &RaftSim) -> Option<Instant> {
    sim.observations().iter().find_map(|record| {
        matches!(
            record.observation,
            Either::Right(RaftObservation::BecameLeader { .. })
        )
        .then_some(record.time)
    })
}

/// `leader-elected`: a leader within `elect_within` of the start, and at the end a leader that
/// has led, without a new election or a step-down anywhere, for the last `stable_for`.
fn elected(sim: &RaftSim, checks: ElectionChecks) -> Verdict {
    let liveness = |message: String| Verdict::fail(sim::Outcome::Liveness, message);
    match first_leader(sim) {
        Some(at) if at <= Instant::ZERO + checks.elect_within => {}
        Some(at) => {
            return liveness(format!(
                "the first leader was elected at {at}, later than {} after the start",
                checks.elect_within
            ));
        }
        None => return liveness("no leader was ever elected".to_string()),
    }
    let end = sim.now();
    let Some(leader) = sim.observations().iter().rev().find(|record| {
        matches!(
            record.observation,
            Either::Right(RaftObservation::BecameLeader { .. })
        )
    }) else {
        unreachable!("a first leader was found above")
    };
    if end.saturating_since(leader.time) < checks.stable_for {
        return liveness(format!(
            "{} became leader at {}, less than {} before the end at {end}: the term is not stable",
            leader.node, leader.time, checks.stable_for
        ));
    }
    // The last leader must still lead: it neither stepped down nor crashed and recovered.
    let lost = sim.observations().iter().find(|record| {
        record.node == leader.node
            && record.time >= leader.time
            && matches!(
                record.observation,
                Either::Right(
                    RaftObservation::SteppedDown { .. } | RaftObservation::Recovered { .. }
                )
            )
    });
    match lost {
        Some(record) => liveness(format!(
            "no leader at the end: {}, the last elected, lost its leadership at {} and none was elected after",
            leader.node, record.time
        )),
        None => Verdict::pass(),
    }
}

/// `replicated`: once faults heal, every server applies every entry committed up to
/// `1s + grace` before the end (the MIT labs' agreement: a command counts only once every
/// server has applied it). A server's applied index is that of its latest incarnation: a
/// restarted node applies its log again from the start.
fn replicated(sim: &RaftSim, servers: u32, grace: Duration) -> Verdict {
    let by = Instant::ZERO
        + sim
            .now()
            .saturating_since(Instant::ZERO + Duration::from_secs(1) + grace);
    let mut committed = 0;
    let mut applied: BTreeMap<NodeId, (u32, u64)> = BTreeMap::new();
    for record in sim.observations() {
        let Either::Right(observation) = &record.observation else {
            continue;
        };
        let mut advance = |index: u64| {
            let latest = applied
                .entry(record.node)
                .or_insert((record.incarnation, 0));
            if record.incarnation > latest.0 {
                *latest = (record.incarnation, 0);
            }
            latest.1 = latest.1.max(index);
        };
        match observation {
            RaftObservation::Committed { entries, .. } if record.time <= by => {
                committed = entries
                    .iter()
                    .fold(committed, |c, &(index, _)| c.max(index));
            }
            RaftObservation::Recovered { .. } => advance(0),
            RaftObservation::Applied { entries } => advance(
                entries
                    .iter()
                    .map(|&(index, _, _)| index)
                    .max()
                    .unwrap_or(0),
            ),
            _ => {}
        }
    }
    for node in (0..servers).map(NodeId) {
        let (_, index) = applied.get(&node).copied().unwrap_or((0, 0));
        if index < committed {
            return Verdict::fail(
                sim::Outcome::Liveness,
                format!(
                    "{node} applied entries up to index {index} by the end at {}, but index {committed} was committed by {by}: every server must apply every committed entry once faults heal",
                    sim.now()
                ),
            );
        }
    }
    Verdict::pass()
}

/// The servers' connectivity as the plan's faults make it at one moment.
#[derive(Clone, Default)]
struct Connectivity {
    /// Directed links cut by the current partition.
    cut: BTreeSet<(NodeId, NodeId)>,
    down: BTreeSet<NodeId>,
    paused: BTreeSet<NodeId>,
}

impl Connectivity {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::Partition(partition) => self.cut = partition.cut_links().into_iter().collect(),
            Fault::Heal => self.cut.clear(),
            Fault::Crash(n) => {
                self.down.insert(*n);
            }
            Fault::Restart(n) | Fault::Start(n) => {
                self.down.remove(n);
            }
            Fault::Pause(n) => {
                self.paused.insert(*n);
            }
            Fault::Resume(n) => {
                self.paused.remove(n);
            }
            _ => {}
        }
    }

    /// Servers (`node` included) whose messages reach `node`.
    fn reaching(&self, node: NodeId, servers: u32) -> usize {
        (0..servers)
            .map(NodeId)
            .filter(|&m| m == node || !self.cut.contains(&(m, node)))
            .count()
    }

    /// Servers (`node` included) up, not paused, and linked with `node` both ways.
    fn quorum_of(&self, node: NodeId, servers: u32) -> usize {
        (0..servers)
            .map(NodeId)
            .filter(|&m| {
                m == node
                    || !(self.down.contains(&m)
                        || self.paused.contains(&m)
                        || self.cut.contains(&(m, node))
                        || self.cut.contains(&(node, m)))
            })
            .count()
    }
}

/// `leader-quorum`: no node becomes leader while a partition has kept a majority's messages
/// from reaching it for the whole of its candidacy, and a leader cut off from a majority (by
/// partitions, crashes and pauses of the plan) steps down within twice the longest election
/// timeout plus the longest a reply to an append sent before the cut can take (the message
/// both ways, the follower's write and sync) (check-quorum). Judged against the plan's faults:
/// a leader crash, whose node the plan does not name, counts as no fault, and clock faults
/// widen the bound (by a second, and twice over for drift).
fn leader_quorum(sim: &RaftSim, plan: &Plan, workload: &Workload, healed_at: Instant) -> Verdict {
    let servers = workload.servers;
    let majority = servers as usize / 2 + 1;
    let delay = latency_max(&plan.swarm.link.latency);
    let disk = &plan.swarm.disk;
    let reply =
        delay.saturating_mul(2) + latency_max(&disk.latency) + latency_max(&disk.sync_latency);
    let clocks = plan
        .faults
        .iter()
        .any(|f| matches!(f.fault, Fault::ClockJump { .. } | Fault::ClockDrift { .. }));
    let mut limit = workload.election_max.saturating_mul(2) + reply;
    if clocks {
        limit = limit.saturating_mul(2) + Duration::from_secs(1);
    }
    let candidacy = workload.election_max + reply;
    // The connectivity from each change on; everything heals with the liveness phase.
    let mut changes: Vec<(Instant, Connectivity)> = vec![(Instant::ZERO, Connectivity::default())];
    let mut now = Connectivity::default();
    for scheduled in plan.faults.iter().filter(|f| f.at < healed_at) {
        now.apply(&scheduled.fault);
        changes.push((scheduled.at, now.clone()));
    }
    changes.push((healed_at, Connectivity::default()));
    let at = |time: Instant| -> usize { changes.partition_point(|(t, _)| *t <= time) - 1 };
    let fail = |message: String| Verdict::fail(sim::Outcome::Safety, message);

    let records = sim.observations();
    for (position, record) in records.iter().enumerate() {
        let Either::Right(RaftObservation::BecameLeader { term, .. }) = &record.observation else {
            continue;
        };
        let node = record.node;
        // Elected: some moment of its candidacy let a majority's votes reach it.
        let from = Instant::ZERO + record.time.saturating_since(Instant::ZERO + candidacy);
        let reached = changes[at(from)..=at(record.time)]
            .iter()
            .any(|(_, c)| c.reaching(node, servers) >= majority);
        if !reached {
            return fail(format!(
                "{node} became leader of term {term} at {}, though since {from} no majority's messages could reach it: no leader without a quorum",
                record.time
            ));
        }
        // Leading: until it steps down, crashes or restarts.
        let until = records[position + 1..]
            .iter()
            .find(|later| {
                later.node == node
                    && matches!(
                        later.observation,
                        Either::Right(
                            RaftObservation::SteppedDown { .. }
                                | RaftObservation::Recovered { .. }
                                | RaftObservation::BecameLeader { .. }
                        )
                    )
            })
            .map_or(sim.now(), |later| later.time);
        let mut cut_since: Option<Instant> = None;
        for (index, (start, connectivity)) in changes.iter().enumerate().skip(at(record.time)) {
            let start = (*start).max(record.time);
            if start >= until {
                break;
            }
            if connectivity.down.contains(&node) {
                break;
            }
            let end = changes
                .get(index + 1)
                .map_or(until, |(t, _)| (*t).min(until));
            if connectivity.paused.contains(&node)
                || connectivity.quorum_of(node, servers) >= majority
            {
                cut_since = None;
                continue;
            }
            let since = *cut_since.get_or_insert(start);
            if end.saturating_since(since) > limit {
                return fail(format!(
                    "{node}, leader of term {term} since {}, has been cut off from a majority since {since} and still led {limit} later: a leader that lost its quorum must step down",
                    record.time
                ));
            }
        }
    }
    Verdict::pass()
}

/// The longest delay a latency draws (an exponential's, beyond any practical one, is taken as
/// its floor plus 20 means).
fn latency_max(latency: &sim::Latency) -> Duration {
    match *latency {
        sim::Latency::Constant(d) => d,
        sim::Latency::Uniform { max, .. } => max,
        sim::Latency::Exponential { floor, mean } => floor + mean.saturating_mul(20),
        sim::Latency::Tail {
            fast_max, slow_max, ..
        } => fast_max.max(slow_max),
    }
}
