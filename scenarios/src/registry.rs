//! Faultline's names, as its specification files use them: node kinds (each with its
//! family's bug table), workloads and the checkers of this crate's own (the history checkers
//! are `checkers::registry`'s). The toolbox looks names up in [`REGISTRY`]; a user's tool
//! gives its own.

use faultline_toolbox::registry::{CheckerKind, NodeKind, Registry, WorkloadKind};
use faultline_toolbox::{Bug, bugs_of};

/// Every name a built-in specification file may use.
pub const REGISTRY: Registry = Registry {
    node_kinds: NODE_KINDS,
    workloads: WORKLOADS,
    checkers: OWN_CHECKERS,
};

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
        settings: &[],
    },
    CheckerKind {
        name: EFFICIENCY_TARGETS,
        summary: "broadcast's msgs-per-op and latency quantiles stay below `[check.efficiency-targets]` (a miss is liveness)",
        settings: &["msgs_per_op_max", "latency_median_max", "latency_max"],
    },
    CheckerKind {
        name: COUNTER_AUDIT,
        summary: "the server's own record: each add ran as often as its client's outcome allows",
        settings: &[],
    },
    CheckerKind {
        name: RECOVERY,
        summary: "healthy before an overload spike, and healthy again within `recovery_bound` of its end",
        settings: &[],
    },
    CheckerKind {
        name: LOG_INTACT,
        summary: "online: recovery never finds the acknowledged log damaged (a disk that only loses unsynced writes)",
        settings: &[],
    },
    CheckerKind {
        name: RAFT_SAFETY,
        summary: "online: one leader per term, log matching, leader completeness, state machine safety, commits never undone and safe from every later election, acknowledged writes committed",
        settings: &[],
    },
    CheckerKind {
        name: LEADER_ELECTED,
        summary: "a leader within `elect_within` of the start, and one whose term held for the last `stable_for` of the run (a miss is liveness)",
        settings: &[],
    },
    CheckerKind {
        name: ELECTION_MESSAGES,
        summary: "the first election took at most `election_messages_max` messages between servers (a miss is liveness)",
        settings: &[],
    },
    CheckerKind {
        name: LEADER_QUORUM,
        summary: "no leader elected while the plan's partitions kept a majority from reaching it, and a leader cut off from a majority steps down within twice `election_timeout.max` plus the longest message delay",
        settings: &[],
    },
    CheckerKind {
        name: REPLICATED,
        summary: "once faults heal, every server applies every entry committed up to 1s plus the `answered-after-heal` grace before the end (a miss is liveness)",
        settings: &[],
    },
];
