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
//!
//! The scenarios are `scenarios/specs/rpc-*.toml`; this module holds the `counter` and `overload`
//! workloads' adapters and their bug tables.

use crate::registry::{COUNTER_AUDIT, RECOVERY};
use crate::spec::View;
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::spec::{self, Adapter, File, Spec, SpecError, err, need};
use faultline_toolbox::{Bug, Planted, Run, switch_for};
use protocols::rpc::ClientId;
use protocols::rpc::counter::{
    CounterBug, CounterClient, CounterClientConfig, CounterObservation, CounterServer,
};
use protocols::rpc::load::{LoadClient, LoadClientConfig, LoadShape, WorkServer};
use protocols::rpc::{BreakerConfig, ClientConfig, RetryBudget, RetryPolicy, ServerConfig};
use serde::{Deserialize, Serialize};
use sim::history::EventKind;
use sim::limits;
use sim::{
    Config, Duration, Instant, Metrics, ObservationRecord, Outcome, Plan, Quantiles, Rng,
    Simulation, TraceLevel, Verdict,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------------
// rpc-unreliable: the `counter` workload on `rpc-counter-server` nodes

/// The adapter's parameters, from `[nodes]` and `[workload]`.
struct Unreliable {
    think_mean: Duration,
    add_percent: u64,
    amount_max: u64,
    call_deadline: Duration,
    attempt_timeout: Duration,
    workers: u32,
    queue_capacity: usize,
    service_time: Duration,
}

/// The one server these workloads run: `nodes.count = 1`.
fn one_server(view: &View) -> Result<(), SpecError> {
    let count = &view.nodes.get_ref().count;
    if *count.get_ref() != 1 {
        return Err(err(
            count,
            "the rpc workloads run one server: `nodes.count = 1`",
        ));
    }
    Ok(())
}

/// Builds the adapter from a specification (`workload.kind = "counter"`).
pub(crate) fn build_counter(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    one_server(&view)?;
    let (n, w) = (view.nodes.get_ref(), view.workload.get_ref());
    let (nodes, workload) = (&view.nodes, &view.workload);
    Ok(Box::new(Unreliable {
        think_mean: *need(workload, "think_mean", &w.think_mean)?.get_ref(),
        add_percent: *need(workload, "add_percent", &w.add_percent)?.get_ref(),
        amount_max: *need(workload, "amount_max", &w.amount_max)?.get_ref(),
        call_deadline: *need(workload, "call_deadline", &w.call_deadline)?.get_ref(),
        attempt_timeout: *need(workload, "attempt_timeout", &w.attempt_timeout)?.get_ref(),
        workers: spec::count(
            "nodes.workers",
            need(nodes, "workers", &n.workers)?,
            1,
            limits::PROCESSES_MAX,
        )? as u32,
        queue_capacity: spec::count(
            "nodes.queue_capacity",
            need(nodes, "queue_capacity", &n.queue_capacity)?,
            0,
            limits::QUEUE_MAX,
        )? as usize,
        service_time: *need(nodes, "service_time", &n.service_time)?.get_ref(),
    }))
}

/// The family's planted bugs for `rpc-counter-server` (the registry's bug table).
pub(crate) const COUNTER_BUGS: &[Planted<CounterBug>] = &[
    Planted {
        bug: Bug {
            name: "no-dedup",
            description: "increments are retried without an idempotency key, so a retried increment is applied twice",
        },
        switch: CounterBug::NoDedup,
    },
    Planted {
        bug: Bug {
            name: "timeout-is-failure",
            description: "a timed-out increment is recorded as fail, though it may have run",
        },
        switch: CounterBug::TimeoutIsFailure,
    },
];

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

impl Adapter for Unreliable {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = UnreliableWorkload {
            clients: spec.clients,
            processes_per_client: spec.processes as usize,
            think_mean: self.think_mean,
            add_percent: self.add_percent,
            amount_max: self.amount_max,
            call_deadline: self.call_deadline,
            attempt_timeout: self.attempt_timeout,
            workers: self.workers,
            queue_capacity: self.queue_capacity,
            service_time: self.service_time,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<UnreliableWorkload>(plan).map(|_| ())
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: UnreliableWorkload = harness::workload(plan)?;
        let amount_max = workload.amount_max;
        harness::check_operations(
            plan,
            Some(&|op| CounterClient::add_of(op, amount_max).map(|_| ())),
        )?;
        let planted = spec.planted(COUNTER_BUGS);
        let bug = switch_for(spec.name, plan.bug.as_deref(), &planted, CounterBug::None)?;
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
            window_max: Unreliable::client_config(&workload, 0).window_max,
            gauge_period: None,
        };
        let service_time = workload.service_time;
        let server = sim.add_node(move |_| CounterServer::new(server_config.clone(), service_time));
        // Each client gets only its own processes' part of the plan's operations.
        let scripts = plan.operations.split(
            workload.processes_per_client as u64,
            workload.clients as usize,
        );
        for (client, script) in (0..workload.clients).zip(scripts) {
            let client_config = CounterClientConfig {
                server,
                processes: workload.processes_per_client,
                first_process: u64::from(client) * workload.processes_per_client as u64,
                think_mean: workload.think_mean,
                add_percent: workload.add_percent,
                amount_max: workload.amount_max,
                call_deadline: workload.call_deadline,
                rpc: Unreliable::client_config(&workload, 0),
                bug,
                script,
            };
            sim.add_client(move |_| CounterClient::new(client_config.clone()));
        }
        harness::validate_faults(plan, &sim)?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let final_value = final_counter(sim.observations());
        let history = harness::take_history(&mut sim);
        let mut checks = Checks::new(&spec.checkers);
        let mut indefinite = 0;
        let audit = audit_adds(sim.observations());
        checks.check(checkers::checks::counter::NAME, || {
            let found = checkers::check_counter(&history, final_value);
            indefinite = found.as_ref().map_or(0, |counter| counter.adds_indefinite);
            let mut verdict = harness::verdict_of(
                checkers::checks::counter::NAME,
                found.map(|counter| counter.violation),
            );
            if let (false, Err(diagnosis)) = (verdict.is_pass(), &audit) {
                verdict
                    .message
                    .push_str(&format!("; the server's audit: {diagnosis}"));
            }
            verdict
        });
        checks.check(COUNTER_AUDIT, || match &audit {
            Ok(()) => Verdict::pass(),
            Err(diagnosis) => {
                Verdict::fail(Outcome::Safety, format!("the server's audit: {diagnosis}"))
                    .by(COUNTER_AUDIT)
            }
        });
        // A breaker opened just before the heal refuses calls for its cooldown: the
        // specification's grace.
        checks.answered(
            &spec.answered,
            &history,
            healed_at,
            sim.now(),
            workload.call_deadline,
        );
        let mut derived = Metrics::default();
        derived.count("adds-indefinite", indefinite);
        Ok(checks.finish(sim, plan, &derived, history))
    }
}

/// The counter's value at the end, as the server last reported it: 0 if it has applied
/// nothing since it last started.
fn final_counter(observations: &[ObservationRecord<CounterObservation>]) -> u64 {
    observations
        .iter()
        .rev()
        .find_map(|record| match record.observation {
            CounterObservation::Started => Some(0),
            CounterObservation::Applied { value, .. } => Some(value),
            CounterObservation::AddIssued { .. } | CounterObservation::AddEnded { .. } => None,
        })
        .unwrap_or(0)
}

/// The white-box check, from what the nodes observed: every `add` a client issued ran on the
/// server as often as the outcome the client recorded allows (`ok` once, `fail` never, `info`
/// or no outcome at most once).
fn audit_adds(observations: &[ObservationRecord<CounterObservation>]) -> Result<(), String> {
    struct Add {
        process: u64,
        amount: u64,
        status: EventKind,
    }
    let mut applied: BTreeMap<(ClientId, u64), u32> = BTreeMap::new();
    let mut adds: BTreeMap<(ClientId, u64), Add> = BTreeMap::new();
    for record in observations {
        match record.observation {
            CounterObservation::Started => {}
            CounterObservation::Applied { client, call, .. } => {
                *applied.entry((client, call)).or_insert(0) += 1;
            }
            CounterObservation::AddIssued {
                client,
                call,
                process,
                amount,
            } => {
                let add = Add {
                    process,
                    amount,
                    status: EventKind::Invoke,
                };
                adds.insert((client, call), add);
            }
            CounterObservation::AddEnded {
                client,
                call,
                status,
            } => {
                if let Some(add) = adds.get_mut(&(client, call)) {
                    add.status = status;
                }
            }
        }
    }
    for (&(id, call), add) in &adds {
        let applied = applied.get(&(id, call)).copied().unwrap_or(0);
        let allowed = match add.status {
            EventKind::Ok => 1..=1,
            EventKind::Fail => 0..=0,
            EventKind::Info | EventKind::Invoke => 0..=1,
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
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rpc-overload

/// The adapter's parameters, from `[nodes]` and `[workload]`; ranges are drawn per seed.
struct Overload {
    workers: u32,
    service_min: Duration,
    service_max: Duration,
    queue_capacity: usize,
    base_per_second: (u64, u64),
    spike_percent: (u64, u64),
    spike_start: Duration,
    spike_length_millis: (u64, u64),
    attempt_timeout: Duration,
    call_deadline: Duration,
    recovery_bound: Duration,
    healthy_goodput_percent: u64,
    healthy_latency_p50: Duration,
}

/// Builds the adapter from a specification (`workload.kind = "overload"`).
pub(crate) fn build_overload(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    one_server(&view)?;
    let (n, w) = (view.nodes.get_ref(), view.workload.get_ref());
    let (nodes, workload) = (&view.nodes, &view.workload);
    let range = |name: &str, value: &Option<toml::Spanned<spec::Between<u64>>>, max: u64| {
        spec::count_range(
            &format!("workload.{name}"),
            need(workload, name, value)?,
            1,
            max,
        )
    };
    let base_per_second = range("base_per_second", &w.base_per_second, limits::RATE_MAX)?;
    let spike_percent = range("spike_percent", &w.spike_percent, 10_000)?;
    // Every client gets its share of each rate, at least one call a second, on every seed.
    let clients = *view.clients.get_ref().count.get_ref();
    let spike_min = base_per_second.0 * spike_percent.0 / 100;
    if base_per_second.0 < clients || spike_min < clients {
        return Err(err(
            need(workload, "base_per_second", &w.base_per_second)?,
            format!(
                "the least rates drawn (base {}, spike {spike_min} calls a second) must be at \
                 least one a second for each of the {clients} clients",
                base_per_second.0
            ),
        ));
    }
    if base_per_second.1 * spike_percent.1 / 100 > limits::RATE_MAX {
        return Err(err(
            need(workload, "spike_percent", &w.spike_percent)?,
            format!(
                "the spike's highest rate, {} calls a second, is above the limit of {}",
                base_per_second.1 * spike_percent.1 / 100,
                limits::RATE_MAX
            ),
        ));
    }
    Ok(Box::new(Overload {
        workers: spec::count(
            "nodes.workers",
            need(nodes, "workers", &n.workers)?,
            1,
            limits::PROCESSES_MAX,
        )? as u32,
        service_min: *need(nodes, "service_min", &n.service_min)?.get_ref(),
        service_max: *need(nodes, "service_max", &n.service_max)?.get_ref(),
        queue_capacity: spec::count(
            "nodes.queue_capacity",
            need(nodes, "queue_capacity", &n.queue_capacity)?,
            0,
            limits::QUEUE_MAX,
        )? as usize,
        base_per_second,
        spike_percent,
        spike_start: *need(workload, "spike_start", &w.spike_start)?.get_ref(),
        spike_length_millis: spec::millis_range(
            "workload.spike_length",
            need(workload, "spike_length", &w.spike_length)?,
            limits::PHASE_MAX,
        )?,
        attempt_timeout: *need(workload, "attempt_timeout", &w.attempt_timeout)?.get_ref(),
        call_deadline: *need(workload, "call_deadline", &w.call_deadline)?.get_ref(),
        recovery_bound: *need(workload, "recovery_bound", &w.recovery_bound)?.get_ref(),
        healthy_goodput_percent: *need(
            workload,
            "healthy_goodput_percent",
            &w.healthy_goodput_percent,
        )?
        .get_ref(),
        healthy_latency_p50: *need(workload, "healthy_latency_p50", &w.healthy_latency_p50)?
            .get_ref(),
    }))
}

/// The family's planted bugs for `rpc-work-server` (the registry's bug table): the switch is
/// whether the clients retry naively.
pub(crate) const OVERLOAD_BUGS: &[Planted<bool>] = &[Planted {
    bug: Bug {
        name: "retry-storm",
        description: "unbounded retries at once, without backoff, budget or breaker: no recovery after the spike",
    },
    switch: true,
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
impl Adapter for Overload {
    fn workload(&self, spec: &Spec, rng: &mut Rng) -> serde_json::Value {
        let base_per_second = rng.between(self.base_per_second.0, self.base_per_second.1);
        let spike_percent = rng.between(self.spike_percent.0, self.spike_percent.1);
        let spike_length = rng.between(self.spike_length_millis.0, self.spike_length_millis.1);
        let workload = OverloadWorkload {
            clients: spec.clients,
            processes_per_client: spec.processes as usize,
            workers: self.workers,
            service_min: self.service_min,
            service_max: self.service_max,
            queue_capacity: self.queue_capacity,
            base_per_second,
            spike_per_second: base_per_second * spike_percent / 100,
            spike_start: self.spike_start,
            spike_length: Duration::from_millis(spike_length),
            attempt_timeout: self.attempt_timeout,
            call_deadline: self.call_deadline,
            recovery_bound: self.recovery_bound,
            healthy_goodput_percent: self.healthy_goodput_percent,
            healthy_latency_p50: self.healthy_latency_p50,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<OverloadWorkload>(plan).map(|_| ())
    }

    /// The load's history processes are slots that arrivals take in turn, not the arrivals.
    fn operations_follow_history(&self) -> bool {
        false
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: OverloadWorkload = harness::workload(plan)?;
        harness::check_operations(
            plan,
            Some(&|_| Err("rpc-overload's arrivals run or not; none is written out".to_string())),
        )?;
        if !plan.operations.at.is_empty() {
            return Err(
                "operations.at: rpc-overload's arrivals keep their own times; none is pinned"
                    .to_string(),
            );
        }
        let planted = spec.planted(OVERLOAD_BUGS);
        let naive = switch_for(spec.name, plan.bug.as_deref(), &planted, false)?;
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
        let (retry, breaker) = Overload::retry_policy(&workload, naive);
        let clients = u64::from(workload.clients);
        // Each client gets only its own processes' part of the plan's operations.
        let scripts = plan.operations.split(
            workload.processes_per_client as u64,
            workload.clients as usize,
        );
        for (client, script) in (0..workload.clients).zip(scripts) {
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
                script,
            };
            sim.add_client(move |_| LoadClient::new(client_config.clone()));
        }
        harness::validate_faults(plan, &sim)?;
        harness::run_phases(&mut sim, plan);

        let history = harness::take_history(&mut sim);
        let seconds = per_second(&history, &BTreeMap::new());
        let spike_end = workload.spike_start + workload.spike_length;
        let mut derived = record_phases(&history, &workload, spike_end);
        let mut checks = Checks::new(&spec.checkers);
        checks.check(RECOVERY, || {
            let (verdict, recovery) = check_recovery(&seconds, &workload, spike_end);
            if let Some(recovery) = recovery {
                derived.count("recovery-ms", recovery.as_millis());
            }
            verdict
        });
        Ok(checks.finish(sim, plan, &derived, history))
    }

    fn summary(&self, _spec: &Spec, run: &Run) -> String {
        // The run's history, as the checkers hold it (a copy: `replay` prints this once).
        let history = checkers::History::from_events(run.history.clone());
        let seconds = per_second(&history, &run.series);
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
    /// From the server's time series, sampled at the end of the second.
    queue: Option<(u64, u64)>,
    busy_percent: Option<u64>,
    shed: Option<u64>,
}

fn per_second(
    history: &checkers::History,
    series: &BTreeMap<String, Vec<(Instant, u64)>>,
) -> Vec<Second> {
    let end = history.events().last().map_or(0, |r| r.time().as_nanos()) / 1_000_000_000 + 1;
    let mut seconds = vec![Second::default(); end as usize];
    let second = |time: u64| (time / 1_000_000_000) as usize;
    for call in calls(history) {
        seconds[second(call.invoked)].offered += 1;
        let Some((completed, status)) = call.completed else {
            continue;
        };
        let at = &mut seconds[second(completed)];
        match status {
            EventKind::Ok => {
                at.ok += 1;
                at.latencies.push(completed - call.invoked);
            }
            EventKind::Fail => at.failed += 1,
            EventKind::Info | EventKind::Invoke => at.indefinite += 1,
        }
    }
    // The point at the end of second k (time k+1 s) describes second k.
    let mut fill = |name: &str, set: fn(&mut Second, u64)| {
        for &(at, value) in series.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            let Some(index) = (at.as_nanos() / 1_000_000_000).checked_sub(1) else {
                continue;
            };
            if let Some(second) = seconds.get_mut(index as usize) {
                set(second, value);
            }
        }
    };
    fill("rpc-queue", |s, v| {
        s.queue = Some((v, s.queue.map_or(0, |q| q.1)))
    });
    fill("rpc-queue-max", |s, v| {
        s.queue = Some((s.queue.map_or(0, |q| q.0), v))
    });
    fill("rpc-busy-percent", |s, v| s.busy_percent = Some(v));
    fill("rpc-shed", |s, v| s.shed = Some(v));
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
            )
            .by("recovery"),
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
            // A run that offered no calls after the spike (an edited or shrunk plan without
            // them) shows nothing about recovery, so it is no failure of it.
            if offered == 0 {
                return (Verdict::pass(), None);
            }
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
                )
                .by("recovery"),
                None,
            )
        }
    }
}

/// A call of the history: when it was invoked, and when and how it completed.
struct Call {
    invoked: u64,
    completed: Option<(u64, EventKind)>,
}

/// The history's calls, paired by the checkers' one pairing.
fn calls(history: &checkers::History) -> Vec<Call> {
    let ops = checkers::pair(history).expect("the load clients write well-formed histories");
    let history = history.events();
    ops.iter()
        .map(|op| Call {
            invoked: history[op.invoke].time().as_nanos(),
            completed: op
                .completion
                .map(|index| (history[index].time().as_nanos(), history[index].kind)),
        })
        .collect()
}

/// Goodput and latency before, during and after the spike, as report metrics derived from
/// the history.
fn record_phases(
    history: &checkers::History,
    workload: &OverloadWorkload,
    spike_end: Duration,
) -> Metrics {
    let spike_start = workload.spike_start.as_nanos();
    let spike_end = spike_end.as_nanos();
    let calls = calls(history);
    let offered = calls.len() as u64;
    let mut samples: Vec<(&'static str, &'static str, u64)> = Vec::new();
    for call in calls {
        let Some((completed, EventKind::Ok)) = call.completed else {
            continue;
        };
        let (counter, latency) = if completed < spike_start {
            ("ok-calls-before-spike", "work-latency-before-spike")
        } else if completed < spike_end {
            ("ok-calls-during-spike", "work-latency-during-spike")
        } else {
            ("ok-calls-after-spike", "work-latency-after-spike")
        };
        samples.push((counter, latency, completed - call.invoked));
    }
    let mut metrics = Metrics::default();
    metrics.count("offered-calls", offered);
    for (counter, latency, nanos) in samples {
        metrics.count(counter, 1);
        metrics.sample(latency, Duration::from_nanos(nanos));
    }
    metrics
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
