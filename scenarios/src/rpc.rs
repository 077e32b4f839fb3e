//! RPC scenarios (issue 6).
//!
//! `rpc-unreliable`: a counter service behind a network that loses 10% of requests and 10% of
//! replies, duplicates and reorders, with server pauses. Clients `add` random positive amounts
//! exactly once and `read` the total. Safety: the final counter equals the acknowledged adds
//! plus some subset of the indefinite ones (Maelstrom's counter check, an exact subset sum),
//! every `read` lies between what had certainly been added and what might have been, and the
//! server's audit agrees that each `add` ran exactly once, or at most once if indefinite.
//!
//! `rpc-overload`: open-loop clients at a steady rate below capacity, a spike of a few seconds
//! well above it, then the steady rate again. With the retry budget, backoff, circuit breaker
//! and load shedding the system recovers within a bound; with naive retries (the planted
//! `retry-storm`) it stays saturated after the spike has passed, a metastable failure.

use crate::harness::{self, FaultMix};
use crate::{Bug, Run, Scenario};
use protocols::rpc::counter::{CounterBug, CounterClient, CounterClientConfig, CounterServer};
use protocols::rpc::load::{LoadClient, LoadClientConfig, LoadShape, WorkServer};
use protocols::rpc::{BreakerConfig, ClientConfig, RetryBudget, RetryPolicy, ServerConfig};
use serde::{Deserialize, Serialize};
use sim::history::OpStatus;
use sim::limits;
use sim::rng::stream;
use sim::{
    Config, Duration, FaultBudget, HistoryRecord, Instant, Latency, LinkConfig, NodeId, Outcome,
    Plan, Quantiles, Rng, Simulation, Swarm, TraceEvent, TraceLevel, Verdict,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) const SCENARIOS: &[&dyn Scenario] = &[&Unreliable, &Overload];

// ---------------------------------------------------------------------------------------------
// rpc-unreliable

pub struct Unreliable;

const UNRELIABLE_BUGS: &[Bug] = &[
    Bug {
        name: "no-dedup",
        description: "increments are retried without an idempotency key, so a retried increment is applied twice",
    },
    Bug {
        name: "timeout-is-failure",
        description: "a timed-out increment is recorded as fail, though it may have run",
    },
];

/// Indefinite increments the subset-sum check takes at most: meet in the middle enumerates
/// 2^20 sums per half, a few milliseconds; beyond it the verdict is `unknown`.
pub const SUBSET_ITEMS_MAX: usize = 40;

#[derive(Serialize, Deserialize)]
struct UnreliableWorkload {
    clients: u32,
    processes_per_client: usize,
    think_mean: Duration,
    add_percent: u64,
    amount_max: u64,
    call_deadline: Duration,
    attempt_timeout: Duration,
    workers: u32,
    queue_capacity: usize,
    service_time: Duration,
}

/// What both rpc workloads have: one server and its clients, each with its processes.
fn check_clients(
    clients: u32,
    processes_per_client: usize,
    workers: u32,
    queue_capacity: usize,
) -> Result<(), String> {
    harness::check_nodes(1, u64::from(clients))?;
    limits::count(
        "workload.clients",
        u64::from(clients),
        1,
        limits::WORKLOAD_NODES_MAX,
    )?;
    limits::count(
        "workload.processes_per_client",
        processes_per_client as u64,
        1,
        limits::PROCESSES_MAX,
    )?;
    limits::count(
        "clients times processes_per_client",
        u64::from(clients).saturating_mul(processes_per_client as u64),
        1,
        limits::PROCESSES_MAX,
    )?;
    limits::count(
        "workload.workers",
        u64::from(workers),
        1,
        limits::PROCESSES_MAX,
    )?;
    limits::count(
        "workload.queue_capacity",
        queue_capacity as u64,
        0,
        limits::QUEUE_MAX,
    )
}

impl harness::Workload for UnreliableWorkload {
    fn validate(&self) -> Result<(), String> {
        check_clients(
            self.clients,
            self.processes_per_client,
            self.workers,
            self.queue_capacity,
        )?;
        limits::think("workload.think_mean", self.think_mean)?;
        limits::count("workload.add_percent", self.add_percent, 0, 100)?;
        limits::count("workload.amount_max", self.amount_max, 1, 1 << 40)?;
        limits::timeout("workload.call_deadline", self.call_deadline)?;
        limits::timeout("workload.attempt_timeout", self.attempt_timeout)?;
        limits::duration(
            "workload.service_time",
            self.service_time,
            limits::LATENCY_MAX,
        )
    }
}

impl Unreliable {
    fn client_config(workload: &UnreliableWorkload, channel: u32) -> ClientConfig {
        ClientConfig {
            channel,
            calls_max: workload.processes_per_client.max(1),
            window_max: 64.max(workload.processes_per_client as u64),
            retry: RetryPolicy {
                attempts_max: 8,
                attempt_timeout: workload.attempt_timeout,
                backoff_initial: Duration::from_millis(10),
                backoff_max: Duration::from_millis(200),
                jitter: true,
                // With a fifth of the attempts lost, calls need about a quarter of a retry
                // each; half leaves room without letting a pause turn into a storm.
                budget: Some(RetryBudget {
                    retry_percent: 50,
                    reserve: 20,
                }),
            },
            breaker: Some(BreakerConfig {
                failures_to_open: 8,
                cooldown: Duration::from_millis(200),
            }),
        }
    }
}

impl Scenario for Unreliable {
    fn name(&self) -> &'static str {
        "rpc-unreliable"
    }

    fn description(&self) -> &'static str {
        "exactly-once counter over RPC; 10% of requests and replies lost, duplicates, reordering, server pauses"
    }

    fn bugs(&self) -> &'static [Bug] {
        UNRELIABLE_BUGS
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let latency = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(15),
        };
        let mix = FaultMix {
            loss_ppm_max: 0,
            duplicate_ppm_max: 0,
            partitions: false,
            // The counter lives in memory: a crash would lose it, which is not this
            // scenario's subject.
            crashes: false,
            pauses: true,
            clocks: true,
            holds: false,
        };
        let mut swarm = harness::draw_swarm(
            &mut rng,
            latency.clone(),
            LinkConfig::reliable(latency.clone()),
            &mix,
        );
        // Every seed loses a tenth of requests and replies, and duplicates some; the spread of
        // latencies reorders.
        swarm.client_link = LinkConfig {
            latency,
            loss_ppm: 100_000,
            duplicate_ppm: rng.between(10_000, 100_000) as u32,
            queue_capacity: u32::MAX,
        };
        // Short pauses: long ones only add indefinite increments, which the subset sum pays
        // for exponentially.
        swarm.fault_gap_mean = Duration::from_millis(rng.between(100, 600));
        let workload = UnreliableWorkload {
            clients: 2,
            processes_per_client: 3,
            think_mean: Duration::from_millis(20),
            add_percent: 80,
            amount_max: 1 << 32,
            call_deadline: Duration::from_secs(2),
            attempt_timeout: Duration::from_millis(60),
            workers: 2,
            queue_capacity: 64,
            service_time: Duration::from_millis(1),
        };
        let safety = Duration::from_secs(10);
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
        let workload: UnreliableWorkload = harness::workload(plan)?;
        let bug = match plan.bug.as_deref() {
            None => CounterBug::None,
            Some("no-dedup") => CounterBug::NoDedup,
            Some("timeout-is-failure") => CounterBug::TimeoutIsFailure,
            Some(other) => return Err(format!("unknown bug `{other}` for rpc-unreliable")),
        };
        let mut config = Config::new(
            plan.seed,
            plan.swarm.link.clone(),
            plan.swarm.client_link.clone(),
        );
        config.trace_level = level;
        let mut sim = Simulation::new(config);
        let server_config = ServerConfig {
            workers: workload.workers,
            queue_capacity: workload.queue_capacity,
            sessions_max: 64,
            window_max: Self::client_config(&workload, 0).window_max,
            gauge_period: None,
        };
        let service_time = workload.service_time;
        let server = sim.add_node(move |_| CounterServer::new(server_config.clone(), service_time));
        let mut clients = Vec::new();
        for client in 0..workload.clients {
            let client_config = CounterClientConfig {
                server,
                processes: workload.processes_per_client,
                first_process: u64::from(client) * workload.processes_per_client as u64,
                think_mean: workload.think_mean,
                add_percent: workload.add_percent,
                amount_max: workload.amount_max,
                call_deadline: workload.call_deadline,
                rpc: Self::client_config(&workload, 0),
                bug,
            };
            clients.push(sim.add_client(move |_| CounterClient::new(client_config.clone())));
        }
        harness::validate_faults(plan, sim.node_count())?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let counter = sim
            .node::<CounterServer>(server)
            .expect("the server is up after healing");
        let final_value = counter.value();
        let stored = counter.stored_replies() as u64;
        let mut verdict = check_counter(sim.history(), final_value);
        let audit = audit_adds(&sim, server, &clients);
        if !verdict.is_pass() {
            if let Err(diagnosis) = &audit {
                verdict
                    .message
                    .push_str(&format!("; the server's audit: {diagnosis}"));
            }
        } else if let Err(diagnosis) = audit {
            verdict = Verdict::fail(Outcome::Safety, format!("the server's audit: {diagnosis}"));
        }
        if verdict.is_pass() {
            // A breaker opened just before the heal refuses calls for its cooldown; a call
            // answered after that is what liveness asks for.
            let grace = Duration::from_millis(500);
            verdict = harness::check_answered(
                sim.history(),
                healed_at + grace,
                sim.now(),
                workload.call_deadline,
            );
        }
        let indefinite = counter_ops(sim.history())
            .adds
            .iter()
            .filter(|a| a.status != OpStatus::Ok && a.status != OpStatus::Fail)
            .count();
        sim.metrics_mut()
            .count("adds-indefinite", indefinite as u64);
        sim.metrics_mut().count("stored-replies-at-end", stored);
        Ok(harness::finish(sim, plan, verdict))
    }
}

#[derive(Clone, Copy, Debug)]
struct AddOp {
    amount: u64,
    invoked: usize,
    /// History index of the completion; `usize::MAX` if none.
    completed: usize,
    /// `Invoke` when the history has no completion: indeterminate, like `info`.
    status: OpStatus,
}

#[derive(Clone, Copy, Debug)]
struct ReadOp {
    process: u64,
    value: u64,
    invoked: usize,
    completed: usize,
}

struct CounterOps {
    adds: Vec<AddOp>,
    reads: Vec<ReadOp>,
}

/// Pairs each process's invocations with their completions.
fn counter_ops(history: &[HistoryRecord]) -> CounterOps {
    let mut open: BTreeMap<u64, (usize, &HistoryRecord)> = BTreeMap::new();
    let mut ops = CounterOps {
        adds: Vec::new(),
        reads: Vec::new(),
    };
    let close = |ops: &mut CounterOps,
                 invoked: usize,
                 invoke: &HistoryRecord,
                 completed: usize,
                 completion: Option<&HistoryRecord>| {
        let status = completion.map_or(OpStatus::Invoke, |c| c.status);
        match invoke.f.as_str() {
            "add" => ops.adds.push(AddOp {
                amount: invoke.value.as_u64().expect("an add's amount"),
                invoked,
                completed,
                status,
            }),
            "read" if status == OpStatus::Ok => ops.reads.push(ReadOp {
                process: invoke.process,
                value: completion
                    .and_then(|c| c.value.as_u64())
                    .expect("a read's value"),
                invoked,
                completed,
            }),
            _ => {}
        }
    };
    for (index, record) in history.iter().enumerate() {
        if record.status == OpStatus::Invoke {
            assert!(
                open.insert(record.process, (index, record)).is_none(),
                "one operation per process"
            );
        } else if let Some((invoked, invoke)) = open.remove(&record.process) {
            close(&mut ops, invoked, invoke, index, Some(record));
        }
    }
    for (_, (invoked, invoke)) in open {
        close(&mut ops, invoked, invoke, usize::MAX, None);
    }
    ops
}

/// The counter check on a history of `add`s and `read`s and the counter's final value:
/// - the final value is the sum of the acknowledged adds plus some subset of the indefinite
///   ones (`info`, or never completed); failed adds count for nothing;
/// - every read returned at least the adds acknowledged before it began, and at most the adds
///   (not failed) invoked before it ended.
pub fn check_counter(history: &[HistoryRecord], final_value: u64) -> Verdict {
    let ops = counter_ops(history);
    for read in &ops.reads {
        let lower: u64 = ops
            .adds
            .iter()
            .filter(|a| a.status == OpStatus::Ok && a.completed < read.invoked)
            .map(|a| a.amount)
            .sum();
        let upper: u64 = ops
            .adds
            .iter()
            .filter(|a| a.status != OpStatus::Fail && a.invoked < read.completed)
            .map(|a| a.amount)
            .sum();
        if read.value < lower || read.value > upper {
            return Verdict::fail(
                Outcome::Safety,
                format!(
                    "process {} read {} at {}, outside the possible range {lower}..={upper} (acknowledged before it began .. not failed and invoked before it ended)",
                    read.process,
                    read.value,
                    history[read.completed].time()
                ),
            );
        }
    }
    let acknowledged: u64 = ops
        .adds
        .iter()
        .filter(|a| a.status == OpStatus::Ok)
        .map(|a| a.amount)
        .sum();
    let indefinite: Vec<u64> = ops
        .adds
        .iter()
        .filter(|a| a.status == OpStatus::Info || a.status == OpStatus::Invoke)
        .map(|a| a.amount)
        .collect();
    let Some(surplus) = final_value.checked_sub(acknowledged) else {
        return Verdict::fail(
            Outcome::Safety,
            format!(
                "the final counter {final_value} is below the {acknowledged} that acknowledged adds sum to: an acknowledged add was lost"
            ),
        );
    };
    match subset_sum(&indefinite, surplus, SUBSET_ITEMS_MAX) {
        Some(true) => Verdict::pass(),
        Some(false) => Verdict::fail(
            Outcome::Safety,
            format!(
                "the final counter {final_value} is the acknowledged adds ({acknowledged}) plus {surplus}, which no subset of the {} indefinite adds sums to: an add ran twice, or one recorded failed ran",
                indefinite.len()
            ),
        ),
        None => Verdict::fail(
            Outcome::Unknown,
            format!(
                "{} indefinite adds could explain the surplus {surplus}; the subset-sum check takes at most {SUBSET_ITEMS_MAX}",
                indefinite.len()
            ),
        ),
    }
}

/// Whether some subset of `items` (positive) sums exactly to `target`; `None` if more than
/// `items_max` items could take part. Meet in the middle: every subset sum of each half, then
/// a search of one half's sorted sums for each of the other's complement.
pub fn subset_sum(items: &[u64], target: u64, items_max: usize) -> Option<bool> {
    assert!(items.iter().all(|&x| x > 0), "items are positive");
    if target == 0 {
        return Some(true);
    }
    // An item larger than the target cannot take part.
    let usable: Vec<u64> = items.iter().copied().filter(|&x| x <= target).collect();
    if usable.len() > items_max {
        return None;
    }
    let total: u128 = usable.iter().map(|&x| u128::from(x)).sum();
    if total < u128::from(target) {
        return Some(false);
    }
    let sums = |half: &[u64]| {
        let mut sums = vec![0u64];
        for &x in half {
            let with_x: Vec<u64> = sums
                .iter()
                .filter_map(|&s| s.checked_add(x))
                .filter(|&s| s <= target)
                .collect();
            sums.extend(with_x);
        }
        sums
    };
    let (left, right) = usable.split_at(usable.len() / 2);
    let left = sums(left);
    let mut right = sums(right);
    right.sort_unstable();
    Some(
        left.iter()
            .any(|&s| right.binary_search(&(target - s)).is_ok()),
    )
}

/// The white-box check: every logged `add` ran as often as its recorded outcome allows.
fn audit_adds<M: sim::Message, T: sim::Timer>(
    sim: &Simulation<M, T>,
    server: NodeId,
    clients: &[NodeId],
) -> Result<(), String> {
    let counter = sim.node::<CounterServer>(server).expect("the server is up");
    for &node in clients {
        let Some(client) = sim.node::<CounterClient>(node) else {
            continue;
        };
        let id = client.id();
        for (&call, add) in client.adds() {
            let applied = counter.applied(id, call);
            let allowed = match add.status {
                OpStatus::Ok => 1..=1,
                OpStatus::Fail => 0..=0,
                OpStatus::Info | OpStatus::Invoke => 0..=1,
            };
            if !allowed.contains(&applied) {
                return Err(format!(
                    "process {}'s add of {} (call {id:?}#{call}) was recorded {} but applied {applied} times",
                    add.process,
                    add.amount,
                    add.status.as_str()
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rpc-overload

pub struct Overload;

const OVERLOAD_BUGS: &[Bug] = &[Bug {
    name: "retry-storm",
    description: "unbounded retries at once, without backoff, budget or breaker: no recovery after the spike",
}];

#[derive(Serialize, Deserialize)]
struct OverloadWorkload {
    clients: u32,
    processes_per_client: usize,
    workers: u32,
    service_min: Duration,
    service_max: Duration,
    queue_capacity: usize,
    /// Offered calls per second over all clients, outside and during the spike.
    base_per_second: u64,
    spike_per_second: u64,
    spike_start: Duration,
    spike_length: Duration,
    attempt_timeout: Duration,
    call_deadline: Duration,
    /// The system must be healthy again this long after the spike ends.
    recovery_bound: Duration,
    /// A second is healthy when this share of its offered calls succeeded...
    healthy_goodput_percent: u64,
    /// ...and the median successful call took at most this long.
    healthy_latency_p50: Duration,
}

impl harness::Workload for OverloadWorkload {
    fn validate(&self) -> Result<(), String> {
        check_clients(
            self.clients,
            self.processes_per_client,
            self.workers,
            self.queue_capacity,
        )?;
        let service = |field: &str, value| limits::duration(field, value, limits::LATENCY_MAX);
        service("workload.service_min", self.service_min)?;
        service("workload.service_max", self.service_max)?;
        if self.service_min > self.service_max {
            return Err("`workload.service_min` is above `workload.service_max`".into());
        }
        // Every client gets its share of the rate: at least one call a second.
        let clients = u64::from(self.clients);
        let rate = |field: &str, value| limits::count(field, value, clients, limits::RATE_MAX);
        rate("workload.base_per_second", self.base_per_second)?;
        rate("workload.spike_per_second", self.spike_per_second)?;
        let phase = |field: &str, value| limits::duration(field, value, limits::PHASE_MAX);
        phase("workload.spike_start", self.spike_start)?;
        phase("workload.spike_length", self.spike_length)?;
        phase("workload.recovery_bound", self.recovery_bound)?;
        phase("workload.healthy_latency_p50", self.healthy_latency_p50)?;
        limits::timeout("workload.attempt_timeout", self.attempt_timeout)?;
        limits::timeout("workload.call_deadline", self.call_deadline)?;
        limits::count(
            "workload.healthy_goodput_percent",
            self.healthy_goodput_percent,
            0,
            100,
        )
    }
}

impl Overload {
    fn retry_policy(
        workload: &OverloadWorkload,
        naive: bool,
    ) -> (RetryPolicy, Option<BreakerConfig>) {
        if naive {
            // The planted bug: retry every failure at once, as often as the deadline allows.
            // The attempt limit is only there so that no loop is unbounded; the deadline ends
            // calls long before it.
            let policy = RetryPolicy {
                attempts_max: 10_000,
                attempt_timeout: workload.attempt_timeout,
                backoff_initial: Duration::ZERO,
                backoff_max: Duration::ZERO,
                jitter: false,
                budget: None,
            };
            return (policy, None);
        }
        let policy = RetryPolicy {
            attempts_max: 3,
            attempt_timeout: workload.attempt_timeout,
            backoff_initial: Duration::from_millis(25),
            backoff_max: Duration::from_millis(200),
            jitter: true,
            budget: Some(RetryBudget {
                retry_percent: 10,
                reserve: 10,
            }),
        };
        let breaker = BreakerConfig {
            failures_to_open: 10,
            cooldown: Duration::from_millis(500),
        };
        (policy, Some(breaker))
    }
}

impl Scenario for Overload {
    fn name(&self) -> &'static str {
        "rpc-overload"
    }

    fn description(&self) -> &'static str {
        "open-loop load with a spike of a few seconds; retry budget, breaker and shedding recover within 5s"
    }

    fn bugs(&self) -> &'static [Bug] {
        OVERLOAD_BUGS
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let latency = Latency::Uniform {
            // A few milliseconds each way: a naive client's retries, one per round trip, are
            // the bulk of the events of a retry storm.
            min: Duration::from_millis(3),
            max: Duration::from_millis(10),
        };
        let link = LinkConfig::reliable(latency);
        // 8 workers at 10ms a call on average: 800 calls a second.
        let base_per_second = rng.between(440, 600);
        let spike_percent = rng.between(250, 400);
        let workload = OverloadWorkload {
            clients: 4,
            processes_per_client: 400,
            workers: 8,
            service_min: Duration::from_millis(5),
            service_max: Duration::from_millis(15),
            // Half a second of work: longer than a call's deadline, so once the queue is full
            // every call it admits is answered too late to count.
            queue_capacity: 400,
            base_per_second,
            spike_per_second: base_per_second * spike_percent / 100,
            spike_start: Duration::from_secs(4),
            spike_length: Duration::from_millis(rng.between(2_000, 4_000)),
            attempt_timeout: Duration::from_millis(150),
            call_deadline: Duration::from_millis(400),
            recovery_bound: Duration::from_secs(5),
            healthy_goodput_percent: 90,
            healthy_latency_p50: Duration::from_millis(100),
        };
        harness::plan(
            self.name(),
            seed,
            bug,
            Swarm::quiet(link.clone(), link),
            Vec::new(),
            (Duration::from_secs(12), Duration::from_secs(4)),
            &workload,
        )
    }

    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: OverloadWorkload = harness::workload(plan)?;
        let naive = match plan.bug.as_deref() {
            None => false,
            Some("retry-storm") => true,
            Some(other) => return Err(format!("unknown bug `{other}` for rpc-overload")),
        };
        let mut config = Config::new(
            plan.seed,
            plan.swarm.link.clone(),
            plan.swarm.client_link.clone(),
        );
        config.trace_level = level;
        let mut sim = Simulation::new(config);
        let window_max = 2 * workload.processes_per_client as u64;
        let server_config = ServerConfig {
            workers: workload.workers,
            queue_capacity: workload.queue_capacity,
            sessions_max: 64,
            window_max,
            gauge_period: Some(Duration::from_secs(1)),
        };
        let (service_min, service_max) = (workload.service_min, workload.service_max);
        let server =
            sim.add_node(move |_| WorkServer::new(server_config.clone(), service_min, service_max));
        let run_length = plan.safety_duration + plan.liveness_duration;
        let (retry, breaker) = Self::retry_policy(&workload, naive);
        let clients = u64::from(workload.clients);
        for client in 0..workload.clients {
            let client_config = LoadClientConfig {
                server,
                first_process: u64::from(client) * workload.processes_per_client as u64,
                processes: workload.processes_per_client,
                shape: LoadShape {
                    base_per_second: workload.base_per_second / clients,
                    spike_per_second: workload.spike_per_second / clients,
                    spike_start: workload.spike_start,
                    spike_length: workload.spike_length,
                },
                arrivals_end: run_length,
                call_deadline: workload.call_deadline,
                rpc: ClientConfig {
                    channel: 0,
                    calls_max: workload.processes_per_client,
                    window_max,
                    retry: retry.clone(),
                    breaker,
                },
            };
            sim.add_client(move |_| LoadClient::new(client_config.clone()));
        }
        harness::validate_faults(plan, sim.node_count())?;
        harness::run_phases(&mut sim, plan);

        let seconds = per_second(sim.history(), &[]);
        let spike_end = workload.spike_start + workload.spike_length;
        let verdict = check_recovery(&seconds, &workload, spike_end);
        record_phases(&mut sim, &workload, spike_end);
        let mut run = harness::finish(sim, plan, verdict.0);
        if let Some(recovery) = verdict.1 {
            run.report
                .counters
                .insert("recovery-ms".to_string(), recovery.as_millis());
        }
        Ok(run)
    }

    fn summary_reads_the_trace(&self) -> bool {
        true
    }

    fn summary(&self, run: &Run) -> String {
        let gauges: Vec<(Instant, String)> = run
            .trace
            .records()
            .iter()
            .filter_map(|r| match &r.event {
                TraceEvent::Note { text } if text.starts_with("gauge ") => {
                    Some((Instant::from_nanos(r.time_nanos), text.clone()))
                }
                _ => None,
            })
            .collect();
        let seconds = per_second(&run.history, &gauges);
        render_table(&seconds)
    }
}

/// What happened in one second of an overload run.
#[derive(Clone, Default)]
struct Second {
    /// Calls invoked (offered load).
    offered: u64,
    /// Calls that completed `ok` (goodput), `fail` (definite: shed, breaker) and `info`.
    ok: u64,
    failed: u64,
    indefinite: u64,
    /// Latencies of the calls that completed `ok` in this second.
    latencies: Vec<u64>,
    /// From the server's gauge note at the end of the second, if the trace was recorded.
    queue: Option<(u64, u64)>,
    busy_percent: Option<u64>,
    shed: Option<u64>,
}

fn per_second(history: &[HistoryRecord], gauges: &[(Instant, String)]) -> Vec<Second> {
    let end = history.last().map_or(0, |r| r.time) / 1_000_000_000 + 1;
    let mut seconds = vec![Second::default(); end as usize];
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    for record in history {
        let second = &mut seconds[(record.time / 1_000_000_000) as usize];
        match record.status {
            OpStatus::Invoke => {
                second.offered += 1;
                open.insert(record.process, record.time);
            }
            OpStatus::Ok => {
                second.ok += 1;
                let invoked = open
                    .remove(&record.process)
                    .expect("a completion follows its invocation");
                second.latencies.push(record.time - invoked);
            }
            OpStatus::Fail => {
                second.failed += 1;
                open.remove(&record.process);
            }
            OpStatus::Info => {
                second.indefinite += 1;
                open.remove(&record.process);
            }
        }
    }
    for (at, text) in gauges {
        // The note at the end of second k (time k+1 s) describes second k.
        let Some(index) = (at.as_nanos() / 1_000_000_000).checked_sub(1) else {
            continue;
        };
        let Some(second) = seconds.get_mut(index as usize) else {
            continue;
        };
        let number_after = |label: &str| -> Option<u64> {
            let rest = &text[text.find(label)? + label.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        second.queue = number_after("gauge queue ").zip(number_after(" max "));
        second.busy_percent = number_after(" busy ");
        second.shed = number_after(" shed ");
    }
    seconds
}

fn is_healthy(second: &Second, workload: &OverloadWorkload) -> bool {
    let goodput_ok = second.ok * 100 >= second.offered * workload.healthy_goodput_percent;
    let latency_ok = Quantiles::of(&second.latencies).p50 <= workload.healthy_latency_p50;
    goodput_ok && latency_ok
}

/// The recovery check: healthy before the spike, and healthy from some second no later than
/// `recovery_bound` after the spike's end through to the end of the run. Returns the verdict
/// and how long recovery took.
fn check_recovery(
    seconds: &[Second],
    workload: &OverloadWorkload,
    spike_end: Duration,
) -> (Verdict, Option<Duration>) {
    let spike_start_second = workload.spike_start.as_millis() / 1_000;
    // The last second may be cut short by the end of the run.
    let complete = seconds.len().saturating_sub(1);
    if let Some((index, second)) = seconds[..complete.min(spike_start_second as usize)]
        .iter()
        .enumerate()
        .find(|(_, s)| !is_healthy(s, workload))
    {
        return (
            Verdict::fail(
                Outcome::Liveness,
                format!(
                    "second {index} before the spike was unhealthy ({} of {} calls ok): the base rate overloads the server",
                    second.ok, second.offered
                ),
            ),
            None,
        );
    }
    let first_after = spike_end.as_nanos().div_ceil(1_000_000_000) as usize;
    let mut recovered_at = None;
    for index in (first_after..complete).rev() {
        if !is_healthy(&seconds[index], workload) {
            break;
        }
        recovered_at = Some(index);
    }
    let bound_second = (spike_end + workload.recovery_bound).as_nanos() / 1_000_000_000;
    match recovered_at {
        Some(index) if index as u64 <= bound_second => {
            let recovery = Duration::from_secs(index as u64)
                .as_nanos()
                .saturating_sub(spike_end.as_nanos());
            (Verdict::pass(), Some(Duration::from_nanos(recovery)))
        }
        _ => {
            let after: Vec<&Second> = seconds[first_after.min(complete)..complete]
                .iter()
                .collect();
            let offered: u64 = after.iter().map(|s| s.offered).sum();
            let ok: u64 = after.iter().map(|s| s.ok).sum();
            (
                Verdict::fail(
                    Outcome::Liveness,
                    format!(
                        "no recovery within {} of the spike's end at {}: {ok} of {offered} calls offered after it succeeded{}",
                        workload.recovery_bound,
                        Instant::ZERO + spike_end,
                        recovered_at.map_or(String::new(), |i| format!(
                            " (healthy only from second {i})"
                        ))
                    ),
                ),
                None,
            )
        }
    }
}

/// Goodput and latency before, during and after the spike, as report metrics.
fn record_phases<M: sim::Message, T: sim::Timer>(
    sim: &mut Simulation<M, T>,
    workload: &OverloadWorkload,
    spike_end: Duration,
) {
    let spike_start = workload.spike_start.as_nanos();
    let spike_end = spike_end.as_nanos();
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut samples: Vec<(&'static str, &'static str, u64)> = Vec::new();
    for record in sim.history() {
        match record.status {
            OpStatus::Invoke => {
                open.insert(record.process, record.time);
            }
            OpStatus::Ok => {
                let invoked = open
                    .remove(&record.process)
                    .expect("a completion follows its invocation");
                let (counter, latency) = if record.time < spike_start {
                    ("ok-calls-before-spike", "work-latency-before-spike")
                } else if record.time < spike_end {
                    ("ok-calls-during-spike", "work-latency-during-spike")
                } else {
                    ("ok-calls-after-spike", "work-latency-after-spike")
                };
                samples.push((counter, latency, record.time - invoked));
            }
            OpStatus::Fail | OpStatus::Info => {
                open.remove(&record.process);
            }
        }
    }
    let offered = sim
        .history()
        .iter()
        .filter(|r| r.status == OpStatus::Invoke)
        .count() as u64;
    let metrics = sim.metrics_mut();
    metrics.count("offered-calls", offered);
    for (counter, latency, nanos) in samples {
        metrics.count(counter, 1);
        metrics.sample(latency, Duration::from_nanos(nanos));
    }
}

fn render_table(seconds: &[Second]) -> String {
    let mut out = String::new();
    out.push_str("--\nper second: offered calls, ok (goodput), fail, info, latency of ok calls, server queue and workers\n");
    out.push_str("second  offered     ok  goodput   fail   info     p50      p99   queue  q-max   shed  busy\n");
    let optional = |value: Option<u64>| value.map_or("-".to_string(), |v| v.to_string());
    for (index, second) in seconds.iter().enumerate() {
        let quantiles = Quantiles::of(&second.latencies);
        let goodput = (second.ok * 100).checked_div(second.offered).unwrap_or(0);
        let latency = |d: Duration| {
            if second.latencies.is_empty() {
                "-".to_string()
            } else {
                format!("{}ms", d.as_millis())
            }
        };
        writeln!(
            out,
            "{index:>6} {:>8} {:>6} {:>7}% {:>6} {:>6} {:>7} {:>8} {:>7} {:>6} {:>6} {:>4}%",
            second.offered,
            second.ok,
            goodput,
            second.failed,
            second.indefinite,
            latency(quantiles.p50),
            latency(quantiles.p99),
            optional(second.queue.map(|q| q.0)),
            optional(second.queue.map(|q| q.1)),
            optional(second.shed),
            optional(second.busy_percent),
        )
        .expect("writing to a String");
    }
    out
}
