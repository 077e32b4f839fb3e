//! Broadcast scenarios (Gossip Glomers challenges 3a to 3e, on Maelstrom's broadcast workload).
//! The scenarios are `scenarios/specs/broadcast-*.toml` (the node kind is the variant); this
//! module is the `broadcast` workload's adapter and the family's bug table.
//!
//! A client sends `topology` to every server, then its processes send `broadcast` (a new value)
//! and `read` half and half, to random servers, over zero-latency client links, until the end of
//! the safety phase. The liveness phase heals every fault and lets the cluster settle for 10
//! virtual seconds with no client traffic. Then the checker (Maelstrom's set-full, made exact by
//! reading every node's true state):
//!
//! - safety: no node holds, and no read returns, a value no client ever broadcast, and no read
//!   returns a value before it was broadcast;
//! - liveness: every acknowledged value is on every node (`values-lost` counts the misses);
//! - targets (the efficiency scenarios without faults): msgs-per-op and latency quantiles below
//!   the challenge's bounds. A seed that misses them fails as `liveness`: nothing wrong was
//!   returned, but the cluster did not do its job within its budget of messages or time.
//!
//! Metrics, per run:
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `server-messages` | counter | node-to-node messages sent, acknowledgements included; duplicates the network injects are not sends and are not counted |
//! | `client-ops` | counter | broadcasts plus reads invoked (the initial `topology` messages are setup, not counted) |
//! | `msgs-per-op-x1000` | gauge | 1000 * server-messages / client-ops, rounded down; `fuzz` shows its quantiles across seeds |
//! | `values-acked`, `values-lost`, `values-stale` | counters | acknowledged broadcasts; those missing from some node at the end; those missing from some read invoked after their acknowledgement |
//! | `broadcast-latency` | samples | from a broadcast's acknowledgement to the moment the last node learned the value, in global virtual time |
//!
//! Latency is measured from the nodes' true state: each server is wrapped in an observer that,
//! after every handler, reports the values the server learned to a tracker shared by the run;
//! the event that makes the last node learn a value stamps it with global virtual time.

use crate::registry::EFFICIENCY_TARGETS;
use crate::spec::{Targets, View};
use checkers::NodeValues;
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::spec::{Adapter, File, Spec, SpecError, need, one_client};
use faultline_toolbox::{Bug, Planted, Run, switch_for};
use protocols::broadcast::{
    BroadcastBug, BroadcastClient, BroadcastClientConfig, BroadcastConfig, BroadcastMessage,
    BroadcastObservation, BroadcastServer, BroadcastTimer,
};
use serde::{Deserialize, Serialize};
use sim::history::EventKind;
use sim::limits;
use sim::{
    Config, Duration, Instant, Metrics, NodeId, ObservationRecord, Outcome, Plan, Quantiles, Rng,
    Simulation, TraceLevel, Verdict,
};
use std::collections::BTreeMap;

/// The family's planted bugs (the registry's bug table for every broadcast node kind).
pub(crate) const BUGS: &[Planted<BroadcastBug>] = &[
    Planted {
        bug: Bug {
            name: "no-retry",
            description: "unacknowledged gossip is never sent again, so values sent across a partition are lost",
        },
        switch: BroadcastBug::NoRetry,
    },
    Planted {
        bug: Bug {
            name: "no-forward",
            description: "values learned from a peer are not passed on, so only the first node's neighbours hear of them",
        },
        switch: BroadcastBug::NoForward,
    },
];

#[derive(Clone, Copy, Debug)]
enum Variant {
    Single,
    Naive,
    FaultTolerant,
    Efficient {
        flush_interval: Duration,
        hub_flush_interval: Duration,
    },
}

impl Variant {
    fn config(self) -> BroadcastConfig {
        match self {
            Variant::Single => BroadcastConfig::single(),
            Variant::Naive => BroadcastConfig::naive(),
            Variant::FaultTolerant => BroadcastConfig::fault_tolerant(),
            Variant::Efficient {
                flush_interval,
                hub_flush_interval,
            } => BroadcastConfig::efficient(flush_interval, hub_flush_interval),
        }
    }
}

/// The adapter: broadcast servers of one variant (the node kind) and one client.
struct Broadcast {
    variant: Variant,
    ops_per_second: u64,
    timeout: Duration,
    /// `[check.efficiency-targets]`, when the file lists that checker.
    targets: Option<Targets>,
}

/// Builds the adapter from a specification (`workload.kind = "broadcast"`).
pub(crate) fn build(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    let nodes = view.nodes.get_ref();
    one_client(file, "broadcast")?;
    let variant = match nodes.kind.get_ref().as_str() {
        "broadcast-single" => Variant::Single,
        "broadcast-naive" => Variant::Naive,
        "broadcast-fault-tolerant" => Variant::FaultTolerant,
        _ => {
            let interval = |name: &str, value: &Option<toml::Spanned<Duration>>| {
                let value = need(&view.nodes, name, value)?;
                faultline_toolbox::spec::limit(
                    value,
                    limits::duration(
                        &format!("nodes.{name}"),
                        *value.get_ref(),
                        limits::PHASE_MAX,
                    ),
                )?;
                Ok::<Duration, SpecError>(*value.get_ref())
            };
            Variant::Efficient {
                flush_interval: interval("flush_interval", &nodes.flush_interval)?,
                hub_flush_interval: interval("hub_flush_interval", &nodes.hub_flush_interval)?,
            }
        }
    };
    let w = view.workload.get_ref();
    Ok(Box::new(Broadcast {
        variant,
        ops_per_second: *need(&view.workload, "ops_per_second", &w.ops_per_second)?.get_ref(),
        timeout: *need(&view.workload, "timeout", &w.timeout)?.get_ref(),
        targets: view.targets(file)?,
    }))
}

#[derive(Serialize, Deserialize)]
struct Workload {
    servers: u32,
    /// Client processes, each with one operation outstanding at most.
    processes: usize,
    /// Operations a second over all processes.
    ops_per_second: u64,
    timeout: Duration,
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
        limits::count(
            "workload.ops_per_second",
            self.ops_per_second,
            1,
            limits::RATE_MAX,
        )?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

impl Adapter for Broadcast {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = Workload {
            servers: spec.servers,
            processes: spec.processes as usize,
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
        harness::check_operations(plan, Some(&|op| BroadcastClient::op_of(op).map(|_| ())))?;
        let planted = spec.planted(BUGS);
        let bug = switch_for(spec.name, plan.bug.as_deref(), &planted, BroadcastBug::None)?;
        let server_config = self.variant.config().with_bug(bug);
        let mut sim: Simulation<BroadcastMessage, BroadcastTimer, BroadcastObservation> =
            Simulation::new(Config::for_plan(plan, level));
        let servers: Vec<NodeId> = (0..workload.servers)
            .map(|_| {
                let config = server_config.clone();
                sim.add_node(move |_| BroadcastServer::new(config.clone()))
            })
            .collect();
        let processes = workload.processes as u64;
        let client_config = BroadcastClientConfig {
            topology: grid(&servers),
            servers: servers.clone(),
            processes: workload.processes,
            // Each process issues about ops_per_second / processes operations a second.
            think_mean: Duration::from_nanos(1_000_000_000 * processes / workload.ops_per_second),
            timeout: workload.timeout,
            stop_at: Instant::ZERO + plan.safety_duration,
            script: plan.operations.clone(),
        };
        sim.add_client(move |_| BroadcastClient::new(client_config.clone()));
        harness::validate_faults(plan, &sim)?;

        harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        let holdings = holdings(&servers, sim.observations());
        let settle = harness::nanos(plan.liveness_duration.as_nanos());
        // The statistics, and the finding as a verdict (a malformed history has no statistics).
        let (check, found) = match checkers::check_set_full(&history, &holdings, settle) {
            Ok(mut check) => {
                let violation = check.violation.take();
                (check, Ok(violation))
            }
            Err(error) => (checkers::SetFull::default(), Err(error)),
        };
        // Msgs-per-op: node-to-node messages as the engine counted them, per client operation
        // in the history.
        let server_messages = sim.network_stats().sent_server_to_server;
        let client_ops = history
            .events()
            .iter()
            .filter(|r| r.kind == EventKind::Invoke)
            .count() as u64;
        let msgs_per_op_x1000 = (server_messages * 1000)
            .checked_div(client_ops)
            .unwrap_or(0);
        let latency = Quantiles::of(&check.latencies_nanos);
        let mut derived = Metrics::default();
        derived.gauge("msgs-per-op-x1000", msgs_per_op_x1000);
        derived.count("client-ops", client_ops);
        derived.count("values-acked", check.acked);
        derived.count("values-lost", check.lost);
        derived.count("values-stale", check.stale);
        for &nanos in &check.latencies_nanos {
            derived.sample("broadcast-latency", Duration::from_nanos(nanos));
        }
        let mut checks = Checks::new(&spec.checkers);
        checks.check(checkers::checks::set_full::NAME, || {
            harness::verdict_of(checkers::checks::set_full::NAME, found)
        });
        if let Some(targets) = self.targets {
            checks.check(EFFICIENCY_TARGETS, || {
                check_targets(targets, msgs_per_op_x1000, &latency)
            });
        }
        Ok(checks.finish(sim, plan, &derived, history))
    }

    fn summary(&self, _spec: &Spec, run: &Run) -> String {
        let counter = |name: &str| run.report.counters.get(name).copied().unwrap_or(0);
        let (messages, ops) = (counter("msgs-server-to-server"), counter("client-ops"));
        let mut text = format!(
            "broadcast msgs-per-op {} ({messages} node-to-node messages / {ops} client operations)\n",
            Thousandths((messages * 1000).checked_div(ops).unwrap_or(0))
        );
        // The report above lists broadcast-latency's quantiles already.
        let latency = run
            .report
            .latencies
            .get("broadcast-latency")
            .copied()
            .unwrap_or_default();
        text += &format!(
            "broadcast values: {} acknowledged, {} lost, {} stale\n",
            counter("values-acked"),
            counter("values-lost"),
            counter("values-stale")
        );
        if let Some(targets) = self.targets {
            let met = |ok: bool| if ok { "met" } else { "MISSED" };
            let x1000 = run
                .report
                .gauges
                .get("msgs-per-op-x1000")
                .copied()
                .unwrap_or(0);
            text += &format!(
                "broadcast targets: msgs-per-op < {} {}; median latency < {} {}; max latency < {} {}\n",
                targets.msgs_per_op_max,
                met(x1000 < targets.msgs_per_op_max * 1000),
                targets.latency_median_max,
                met(latency.p50 < targets.latency_median_max),
                targets.latency_max,
                met(latency.max < targets.latency_max),
            );
        }
        text
    }
}

/// A count in thousandths, shown as a decimal: `5812` is `5.812`.
struct Thousandths(u64);

impl std::fmt::Display for Thousandths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

fn check_targets(targets: Targets, msgs_per_op_x1000: u64, latency: &Quantiles) -> Verdict {
    let mut missed = Vec::new();
    if msgs_per_op_x1000 >= targets.msgs_per_op_max * 1000 {
        missed.push(format!(
            "msgs-per-op {} is not below {}",
            Thousandths(msgs_per_op_x1000),
            targets.msgs_per_op_max
        ));
    }
    if latency.count == 0 {
        missed.push("no broadcast was acknowledged, so there is no latency to judge".to_string());
    }
    if latency.p50 >= targets.latency_median_max {
        missed.push(format!(
            "median latency {} is not below {}",
            latency.p50, targets.latency_median_max
        ));
    }
    if latency.max >= targets.latency_max {
        missed.push(format!(
            "maximum latency {} is not below {}",
            latency.max, targets.latency_max
        ));
    }
    if missed.is_empty() {
        Verdict::pass()
    } else {
        Verdict::fail(
            Outcome::Liveness,
            format!("efficiency targets missed: {}", missed.join("; ")),
        )
        .by(EFFICIENCY_TARGETS)
    }
}

/// Maelstrom's grid topology: servers in rows of ceil(sqrt(n)), each linked to the servers
/// left, right, above and below it.
fn grid(servers: &[NodeId]) -> BTreeMap<NodeId, Vec<NodeId>> {
    let count = servers.len();
    let width = (1..=count).find(|w| w * w >= count).unwrap_or(1);
    let mut topology = BTreeMap::new();
    for (index, &server) in servers.iter().enumerate() {
        let mut neighbours = Vec::new();
        if index % width > 0 {
            neighbours.push(servers[index - 1]);
        }
        if index % width + 1 < width && index + 1 < count {
            neighbours.push(servers[index + 1]);
        }
        if index >= width {
            neighbours.push(servers[index - width]);
        }
        if index + width < count {
            neighbours.push(servers[index + width]);
        }
        neighbours.sort();
        topology.insert(server, neighbours);
    }
    topology
}

/// What each server holds at the end, and when it learned each value (global virtual time),
/// from the servers' observations: a server's latest incarnation counts.
fn holdings(
    servers: &[NodeId],
    observations: &[ObservationRecord<BroadcastObservation>],
) -> Vec<NodeValues> {
    let mut holdings: Vec<(u32, NodeValues)> = servers
        .iter()
        .map(|node| {
            let values = NodeValues {
                node: node.to_string(),
                learned: BTreeMap::new(),
            };
            (0, values)
        })
        .collect();
    for record in observations {
        let BroadcastObservation::Learned { value } = record.observation;
        let Ok(index) = servers.binary_search(&record.node) else {
            continue;
        };
        let (incarnation, holding) = &mut holdings[index];
        if record.incarnation != *incarnation {
            // A restarted server starts over from what it knows again.
            *incarnation = record.incarnation;
            holding.learned.clear();
        }
        let time = harness::nanos(record.time.as_nanos());
        holding.learned.entry(value).or_insert(time);
    }
    holdings.into_iter().map(|(_, holding)| holding).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the grid matches Maelstrom's layout. Method: the 5-node grid by hand.
    #[test]
    fn grid_of_five() {
        let servers: Vec<NodeId> = (0..5).map(NodeId).collect();
        let topology = grid(&servers);
        let expect: BTreeMap<NodeId, Vec<NodeId>> = [
            (0, vec![1, 3]),
            (1, vec![0, 2, 4]),
            (2, vec![1]),
            (3, vec![0, 4]),
            (4, vec![1, 3]),
        ]
        .into_iter()
        .map(|(n, ns)| (NodeId(n), ns.into_iter().map(NodeId).collect()))
        .collect();
        assert_eq!(topology, expect);
        assert_eq!(grid(&servers[..1]), BTreeMap::from([(NodeId(0), vec![])]));
    }
}
