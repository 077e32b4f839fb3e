//! The registries a specification's names are looked up in: node kinds, workloads, checkers
//! and (through each node kind) planted bugs. Each is the one list of its names; every lookup
//! that fails lists the valid ones.

use crate::spec::{Adapter, File, SpecError, err};
use faultline_toolbox::{Bug, bugs_of};
use toml::Spanned;

/// A kind of server node: the protocol and how it is configured.
pub struct NodeKind {
    pub name: &'static str,
    pub summary: &'static str,
    /// The `[nodes]` keys that configure this kind (besides `kind` and `count`).
    pub config: &'static [&'static str],
    /// The family's planted bugs (its one `Planted` table).
    pub bugs: fn() -> Vec<Bug>,
}

/// A workload: what the clients do, the nodes it drives and the checkers that can judge it.
pub struct WorkloadKind {
    pub name: &'static str,
    pub summary: &'static str,
    /// The node kinds it drives.
    pub node_kinds: &'static [&'static str],
    /// The `[workload]` keys it takes (besides `kind`).
    pub params: &'static [&'static str],
    /// The checkers that fit it, in the order a run performs them.
    pub checkers: &'static [&'static str],
    /// Builds the family adapter from the file.
    pub(crate) build: fn(&File) -> Result<Box<dyn Adapter>, SpecError>,
}

/// A checker a specification can name.
pub struct CheckerKind {
    pub name: &'static str,
    pub summary: &'static str,
}

pub const REPLIES_ECHO_REQUESTS: &str = "replies-echo-requests";
pub const EFFICIENCY_TARGETS: &str = "efficiency-targets";
pub const COUNTER_AUDIT: &str = "counter-audit";
pub const RECOVERY: &str = "recovery";
pub const LOG_INTACT: &str = "log-intact";
pub const RAFT_SAFETY: &str = "raft-safety";
pub const LEADER_ELECTED: &str = "leader-elected";
pub const ELECTION_MESSAGES: &str = "election-messages";
pub const LEADER_QUORUM: &str = "leader-quorum";
pub const REPLICATED: &str = "replicated";

fn no_bugs() -> Vec<Bug> {
    Vec::new()
}

fn broadcast_bugs() -> Vec<Bug> {
    bugs_of(crate::broadcast::BUGS)
}

pub const NODE_KINDS: &[NodeKind] = &[
    NodeKind {
        name: "echo-server",
        summary: "answers every request with its payload",
        config: &[],
        bugs: no_bugs,
    },
    NodeKind {
        name: "unique-ids-server",
        summary: "hands out ids unique across the cluster (Gossip Glomers 2)",
        config: &[],
        bugs: || bugs_of(crate::unique_ids::BUGS),
    },
    NodeKind {
        name: "broadcast-single",
        summary: "broadcast on one node: stores values, answers reads (3a)",
        config: &[],
        bugs: broadcast_bugs,
    },
    NodeKind {
        name: "broadcast-naive",
        summary: "broadcast flooding to the topology's neighbours, no retries (3b)",
        config: &[],
        bugs: broadcast_bugs,
    },
    NodeKind {
        name: "broadcast-fault-tolerant",
        summary: "flooding with acknowledgements and retries (3c)",
        config: &[],
        bugs: broadcast_bugs,
    },
    NodeKind {
        name: "broadcast-efficient",
        summary: "a batching star: leaves flush every flush_interval, the hub every hub_flush_interval (3d, 3e)",
        config: &["flush_interval", "hub_flush_interval"],
        bugs: broadcast_bugs,
    },
    NodeKind {
        name: "rpc-counter-server",
        summary: "a counter behind the RPC library's server: workers, a queue, an exactly-once table",
        config: &["workers", "queue_capacity", "service_time"],
        bugs: || bugs_of(crate::rpc::COUNTER_BUGS),
    },
    NodeKind {
        name: "rpc-work-server",
        summary: "a server doing work of random length behind the RPC library: workers, a queue, load shedding",
        config: &["workers", "queue_capacity", "service_min", "service_max"],
        bugs: || bugs_of(crate::rpc::OVERLOAD_BUGS),
    },
    NodeKind {
        name: "wal-kv",
        summary: "a durable single-node kv store with a write-ahead log",
        config: &[],
        bugs: || bugs_of(crate::wal_kv::BUGS),
    },
    NodeKind {
        name: "raft",
        summary: "Raft with pre-vote, check-quorum, ReadIndex reads and exactly-once writes, serving a kv store",
        config: &["heartbeat", "election_timeout"],
        bugs: || bugs_of(crate::raft::BUGS),
    },
];

pub const WORKLOADS: &[WorkloadKind] = &[
    WorkloadKind {
        name: "echo",
        summary: "one client with `clients.processes` requests in flight, each retried after `timeout`",
        node_kinds: &["echo-server"],
        params: &["timeout"],
        checkers: &[REPLIES_ECHO_REQUESTS, checkers::checks::answered::NAME],
        build: crate::echo::build,
    },
    WorkloadKind {
        name: "unique-ids",
        summary: "clients' processes ask for ids at `ops_per_second` in all",
        node_kinds: &["unique-ids-server"],
        params: &["ops_per_second", "timeout"],
        checkers: &[
            checkers::checks::unique::NAME,
            checkers::checks::answered::NAME,
        ],
        build: crate::unique_ids::build,
    },
    WorkloadKind {
        name: "broadcast",
        summary: "Maelstrom's broadcast: topology, then broadcasts and reads half and half at `ops_per_second` until the safety phase ends",
        node_kinds: &[
            "broadcast-single",
            "broadcast-naive",
            "broadcast-fault-tolerant",
            "broadcast-efficient",
        ],
        params: &["ops_per_second", "timeout"],
        checkers: &[checkers::checks::set_full::NAME, EFFICIENCY_TARGETS],
        build: crate::broadcast::build,
    },
    WorkloadKind {
        name: "counter",
        summary: "exactly-once adds of random amounts and reads of a counter over RPC",
        node_kinds: &["rpc-counter-server"],
        params: &[
            "think_mean",
            "add_percent",
            "amount_max",
            "call_deadline",
            "attempt_timeout",
        ],
        checkers: &[
            checkers::checks::counter::NAME,
            COUNTER_AUDIT,
            checkers::checks::answered::NAME,
        ],
        build: crate::rpc::build_counter,
    },
    WorkloadKind {
        name: "overload",
        summary: "open-loop calls at a base rate with a spike well above capacity",
        node_kinds: &["rpc-work-server"],
        params: &[
            "base_per_second",
            "spike_percent",
            "spike_start",
            "spike_length",
            "attempt_timeout",
            "call_deadline",
            "recovery_bound",
            "healthy_goodput_percent",
            "healthy_latency_p50",
        ],
        checkers: &[RECOVERY],
        build: crate::rpc::build_overload,
    },
    WorkloadKind {
        name: "kv",
        summary: "gets, puts and appends on `keys` keys, one operation outstanding per process",
        node_kinds: &["wal-kv"],
        params: &["keys", "think_mean", "timeout"],
        checkers: &[
            LOG_INTACT,
            checkers::registry::LINEARIZABLE,
            checkers::checks::answered::NAME,
        ],
        build: crate::wal_kv::build,
    },
    WorkloadKind {
        name: "raft-kv",
        summary: "gets, puts, appends and cas (50/30/15/5) on `keys` keys; clients find the leader and retry after `attempt_timeout`",
        node_kinds: &["raft"],
        params: &["keys", "think_mean", "timeout", "attempt_timeout"],
        checkers: &[
            RAFT_SAFETY,
            LEADER_QUORUM,
            checkers::registry::LINEARIZABLE,
            checkers::checks::answered::NAME,
            REPLICATED,
        ],
        build: crate::raft::build,
    },
    WorkloadKind {
        name: "raft-election",
        summary: "raft-kv's clients, and a leader within `elect_within`, stable for the last `stable_for`, elected first within `election_messages_max` messages",
        node_kinds: &["raft"],
        params: &[
            "keys",
            "think_mean",
            "timeout",
            "attempt_timeout",
            "elect_within",
            "stable_for",
            "election_messages_max",
        ],
        checkers: &[
            RAFT_SAFETY,
            LEADER_ELECTED,
            ELECTION_MESSAGES,
            LEADER_QUORUM,
            checkers::registry::LINEARIZABLE,
            checkers::checks::answered::NAME,
            REPLICATED,
        ],
        build: crate::raft::build,
    },
];

/// The checkers of this crate's own (the history checkers are `checkers::registry`'s).
pub const OWN_CHECKERS: &[CheckerKind] = &[
    CheckerKind {
        name: REPLIES_ECHO_REQUESTS,
        summary: "every echo reply equals its request",
    },
    CheckerKind {
        name: EFFICIENCY_TARGETS,
        summary: "broadcast's msgs-per-op and latency quantiles stay below `[check.efficiency-targets]` (a miss is liveness)",
    },
    CheckerKind {
        name: COUNTER_AUDIT,
        summary: "the server's own record: each add ran as often as its client's outcome allows",
    },
    CheckerKind {
        name: RECOVERY,
        summary: "healthy before an overload spike, and healthy again within `recovery_bound` of its end",
    },
    CheckerKind {
        name: LOG_INTACT,
        summary: "online: recovery never finds the acknowledged log damaged (a disk that only loses unsynced writes)",
    },
    CheckerKind {
        name: RAFT_SAFETY,
        summary: "online: one leader per term, log matching, leader completeness, state machine safety, commits never undone and safe from every later election, acknowledged writes committed",
    },
    CheckerKind {
        name: LEADER_ELECTED,
        summary: "a leader within `elect_within` of the start, and one whose term held for the last `stable_for` of the run (a miss is liveness)",
    },
    CheckerKind {
        name: ELECTION_MESSAGES,
        summary: "the first election took at most `election_messages_max` messages between servers (a miss is liveness)",
    },
    CheckerKind {
        name: LEADER_QUORUM,
        summary: "no leader elected while the plan's partitions kept a majority from reaching it, and a leader cut off from a majority steps down within twice `election_timeout.max` plus the longest message delay",
    },
    CheckerKind {
        name: REPLICATED,
        summary: "once faults heal, every server applies every entry committed up to 1s plus the `answered-after-heal` grace before the end (a miss is liveness)",
    },
];

/// The node kind called `name`; the error lists the valid ones.
pub fn node_kind(name: &str) -> Result<&'static NodeKind, String> {
    NODE_KINDS.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<&str> = NODE_KINDS.iter().map(|k| k.name).collect();
        format!(
            "unknown node kind `{name}`; valid node kinds: {}",
            names.join(", ")
        )
    })
}

/// The workload called `name`; the error lists the valid ones.
pub fn workload(name: &str) -> Result<&'static WorkloadKind, String> {
    WORKLOADS.iter().find(|w| w.name == name).ok_or_else(|| {
        let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
        format!(
            "unknown workload `{name}`; valid workloads: {}",
            names.join(", ")
        )
    })
}

/// Every checker name: the history checkers, then this crate's own.
pub fn checker_names() -> Vec<&'static str> {
    checkers::registry::CHECKERS
        .iter()
        .map(|c| c.name)
        .chain(OWN_CHECKERS.iter().map(|c| c.name))
        .collect()
}

/// The checker called `name` (its static name); the error lists the valid ones.
pub fn checker(name: &str) -> Result<&'static str, String> {
    checker_names()
        .into_iter()
        .find(|&c| c == name)
        .ok_or_else(|| {
            format!(
                "unknown checker `{name}`; valid checkers: {}",
                checker_names().join(", ")
            )
        })
}

/// Every key given in `[nodes]` and `[workload]` applies to the kind named there.
pub(crate) fn check_keys(
    file: &File,
    node_kind: &NodeKind,
    workload: &WorkloadKind,
) -> Result<(), SpecError> {
    fn given<T>(value: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
        value.as_ref().map(Spanned::span)
    }
    let nodes = file.nodes.get_ref();
    let node_keys = [
        ("flush_interval", given(&nodes.flush_interval)),
        ("hub_flush_interval", given(&nodes.hub_flush_interval)),
        ("workers", given(&nodes.workers)),
        ("queue_capacity", given(&nodes.queue_capacity)),
        ("service_time", given(&nodes.service_time)),
        ("service_min", given(&nodes.service_min)),
        ("service_max", given(&nodes.service_max)),
        ("heartbeat", given(&nodes.heartbeat)),
        ("election_timeout", given(&nodes.election_timeout)),
    ];
    for (key, span) in &node_keys {
        if let Some(span) = span
            && !node_kind.config.contains(key)
        {
            return Err(SpecError::at(
                span.clone(),
                format!(
                    "`nodes.{key}` does not configure node kind `{}`; {}",
                    node_kind.name,
                    keys_of(node_kind.config)
                ),
            ));
        }
    }
    for key in node_kind.config {
        if !node_keys.iter().any(|(k, span)| k == key && span.is_some()) {
            return Err(err(
                &file.nodes,
                format!("node kind `{}` needs `nodes.{key}`", node_kind.name),
            ));
        }
    }
    let w = file.workload.get_ref();
    let workload_keys = [
        ("timeout", given(&w.timeout)),
        ("ops_per_second", given(&w.ops_per_second)),
        ("think_mean", given(&w.think_mean)),
        ("keys", given(&w.keys)),
        ("add_percent", given(&w.add_percent)),
        ("amount_max", given(&w.amount_max)),
        ("call_deadline", given(&w.call_deadline)),
        ("attempt_timeout", given(&w.attempt_timeout)),
        ("base_per_second", given(&w.base_per_second)),
        ("spike_percent", given(&w.spike_percent)),
        ("spike_start", given(&w.spike_start)),
        ("spike_length", given(&w.spike_length)),
        ("recovery_bound", given(&w.recovery_bound)),
        ("healthy_goodput_percent", given(&w.healthy_goodput_percent)),
        ("healthy_latency_p50", given(&w.healthy_latency_p50)),
        ("elect_within", given(&w.elect_within)),
        ("stable_for", given(&w.stable_for)),
        ("election_messages_max", given(&w.election_messages_max)),
    ];
    for (key, span) in &workload_keys {
        if let Some(span) = span
            && !workload.params.contains(key)
        {
            return Err(SpecError::at(
                span.clone(),
                format!(
                    "`workload.{key}` is not a parameter of workload `{}`; {}",
                    workload.name,
                    keys_of(workload.params)
                ),
            ));
        }
    }
    for key in workload.params {
        if !workload_keys
            .iter()
            .any(|(k, span)| k == key && span.is_some())
        {
            return Err(err(
                &file.workload,
                format!("workload `{}` needs `workload.{key}`", workload.name),
            ));
        }
    }
    Ok(())
}

fn keys_of(keys: &[&str]) -> String {
    if keys.is_empty() {
        "it takes no keys".to_string()
    } else {
        format!("its keys: {}", keys.join(", "))
    }
}
