//! Broadcast (Gossip Glomers challenges 3a to 3e): clients hand integer values to any node, and
//! every node must come to hold every value that was acknowledged.
//!
//! One server state machine covers the four variants; [`BroadcastConfig`] picks one:
//!
//! - `single`: one node, no peers; it stores values and answers reads.
//! - `naive`: flooding over the topology the client suggests. A new value goes to every
//!   neighbour except the one it came from, once, with no acknowledgement: a partition loses it.
//! - `fault_tolerant`: the same flooding, but every gossip message is acknowledged and values
//!   a neighbour has not acknowledged are sent again, so they cross a partition once it heals.
//! - `efficient`: a star of the node's own choosing (the lowest node id is the hub, every other
//!   node a leaf), with batching: a node collects new values for a while and sends them to each
//!   neighbour in one message; acknowledgements and retries as in `fault_tolerant`.
//!
//! Retries are driven by timer rounds, not by the node's clock: a value is sent again when it
//! has stayed unacknowledged through one whole retry round. The clock may jump, the timer
//! rounds do not, so the protocol never reads `ctx.now()`.

use crate::processes::Processes;
use faultline_api::history::EventKind;
use faultline_api::ops::{OpCursor, Script, WrittenOp};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Node, NodeId};
use std::collections::{BTreeMap, BTreeSet};

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum BroadcastMessage {
    /// Client to node: the neighbours suggested for each node (Maelstrom's `topology`).
    Topology {
        request: u64,
        topology: BTreeMap<NodeId, Vec<NodeId>>,
    },
    TopologyOk {
        request: u64,
    },
    /// Client to node: a new value to spread.
    Broadcast {
        request: u64,
        value: u64,
    },
    BroadcastOk {
        request: u64,
    },
    /// Client to node: every value the node holds.
    Read {
        request: u64,
    },
    ReadOk {
        request: u64,
        values: Vec<u64>,
    },
    /// Node to node: values the sender holds. Sorted, without repeats.
    Gossip {
        values: Vec<u64>,
    },
    /// Node to node: the receiver of a `Gossip` now holds these values.
    GossipOk {
        values: Vec<u64>,
    },
}

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum BroadcastTimer {
    /// A server sends the values it has batched up.
    Flush,
    /// A server sends again the values that stayed unacknowledged through a whole round.
    Retry,
    /// Client process `process` is done thinking and issues its next operation.
    Think { process: usize },
    /// Operation `request` of process `process` has not been answered in time.
    Timeout { process: usize, request: u64 },
}

/// Planted bugs, for proving that the checker can fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum BroadcastBug {
    #[default]
    None,
    /// Unacknowledged values are never sent again, so values sent across a partition are lost.
    NoRetry,
    /// Values learned from a peer are not passed on: only the neighbours of the node a client
    /// talked to ever hear of a value.
    NoForward,
}

/// Whose neighbours a node gossips with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Structure {
    /// No peers at all (a single-node cluster).
    Alone,
    /// The neighbours the client's `topology` message suggests.
    Given,
    /// A star over the nodes the `topology` message names: the lowest id is the hub, and
    /// every other node talks only to the hub. Any value is two hops from every node.
    Star,
}

#[derive(Clone, Debug)]
pub struct BroadcastConfig {
    pub structure: Structure,
    /// Gossip is acknowledged, and unacknowledged values are sent again.
    pub acknowledged: bool,
    /// How long a node collects new values before sending them; zero sends them at once.
    pub flush_interval: Duration,
    /// The same for the hub of a star, which forwards every value to every leaf and so gains
    /// the most from batching.
    pub hub_flush_interval: Duration,
    /// The length of a retry round: values unacknowledged for a whole round are sent again.
    pub retry_interval: Duration,
    pub bug: BroadcastBug,
}

impl BroadcastConfig {
    pub fn single() -> BroadcastConfig {
        BroadcastConfig {
            structure: Structure::Alone,
            acknowledged: false,
            flush_interval: Duration::ZERO,
            hub_flush_interval: Duration::ZERO,
            retry_interval: Duration::from_secs(1),
            bug: BroadcastBug::None,
        }
    }

    pub fn naive() -> BroadcastConfig {
        BroadcastConfig {
            structure: Structure::Given,
            ..BroadcastConfig::single()
        }
    }

    pub fn fault_tolerant() -> BroadcastConfig {
        BroadcastConfig {
            structure: Structure::Given,
            acknowledged: true,
            retry_interval: Duration::from_millis(500),
            ..BroadcastConfig::single()
        }
    }

    /// A star with batching: leaves wait `flush_interval`, the hub `hub_flush_interval`.
    pub fn efficient(flush_interval: Duration, hub_flush_interval: Duration) -> BroadcastConfig {
        BroadcastConfig {
            structure: Structure::Star,
            acknowledged: true,
            flush_interval,
            hub_flush_interval,
            // Longer than a round trip plus the receiver's batching, so that a healthy network
            // never sees a retry.
            retry_interval: Duration::from_secs(1),
            bug: BroadcastBug::None,
        }
    }

    pub fn with_bug(self, bug: BroadcastBug) -> BroadcastConfig {
        BroadcastConfig { bug, ..self }
    }
}

/// What a node knows about one neighbour.
#[derive(Default)]
struct Link {
    /// Values to send at the next flush.
    pending: BTreeSet<u64>,
    /// Values sent and not acknowledged yet, with the retry round they were last sent in.
    unacked: BTreeMap<u64, u64>,
}

/// What a broadcast server reports to checkers outside it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum BroadcastObservation {
    /// The node holds `value` from now on (it learned it from a client or a peer).
    Learned { value: u64 },
}

/// The context of the broadcast nodes' handlers.
type Ctx<'a> = Context<'a, BroadcastMessage, BroadcastTimer, BroadcastObservation>;

/// A broadcast server.
pub struct BroadcastServer {
    config: BroadcastConfig,
    values: BTreeSet<u64>,
    links: BTreeMap<NodeId, Link>,
    /// This node is the hub of a star.
    hub: bool,
    flush_armed: bool,
    retry_armed: bool,
    /// Retry rounds completed so far.
    retry_round: u64,
}

impl BroadcastServer {
    pub fn new(config: BroadcastConfig) -> BroadcastServer {
        assert!(
            config.retry_interval > Duration::ZERO,
            "a retry round must take time"
        );
        BroadcastServer {
            config,
            values: BTreeSet::new(),
            links: BTreeMap::new(),
            hub: false,
            flush_armed: false,
            retry_armed: false,
            retry_round: 0,
        }
    }

    fn set_topology(&mut self, me: NodeId, topology: &BTreeMap<NodeId, Vec<NodeId>>) {
        self.hub = false;
        let neighbours: Vec<NodeId> = match self.config.structure {
            Structure::Alone => Vec::new(),
            Structure::Given => topology.get(&me).cloned().unwrap_or_default(),
            Structure::Star => {
                let hub = *topology
                    .keys()
                    .next()
                    .expect("a topology names at least this node");
                if me == hub {
                    self.hub = true;
                    topology.keys().copied().filter(|&n| n != me).collect()
                } else {
                    vec![hub]
                }
            }
        };
        assert!(!neighbours.contains(&me), "{me} is not its own neighbour");
        self.links.retain(|n, _| neighbours.contains(n));
        for neighbour in neighbours {
            // A new neighbour hears of everything learned so far, including values learned
            // before the topology arrived.
            self.links.entry(neighbour).or_insert_with(|| Link {
                pending: self.values.clone(),
                unacked: BTreeMap::new(),
            });
        }
    }

    fn flush_interval(&self) -> Duration {
        if self.hub {
            self.config.hub_flush_interval
        } else {
            self.config.flush_interval
        }
    }

    /// Stores a value; if it is new, queues it for every neighbour except `source`, the peer
    /// it came from (`None`: a client), and reports it. Returns whether it was new.
    fn learn(&mut self, ctx: &mut Ctx<'_>, value: u64, source: Option<NodeId>) -> bool {
        if !self.values.insert(value) {
            return false;
        }
        ctx.observe(BroadcastObservation::Learned { value });
        if source.is_some() && self.config.bug == BroadcastBug::NoForward {
            return true;
        }
        for (&neighbour, link) in &mut self.links {
            if Some(neighbour) != source {
                assert!(
                    !link.unacked.contains_key(&value),
                    "a new value was never sent"
                );
                link.pending.insert(value);
            }
        }
        true
    }

    /// Sends pending values now, or arms the flush timer if the node batches.
    fn schedule_flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.links.values().all(|l| l.pending.is_empty()) {
            return;
        }
        let interval = self.flush_interval();
        if interval == Duration::ZERO {
            self.flush(ctx);
        } else if !self.flush_armed {
            self.flush_armed = true;
            ctx.set_timer(interval, BroadcastTimer::Flush);
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        let round = self.retry_round;
        let mut sends = Vec::new();
        for (&neighbour, link) in &mut self.links {
            if link.pending.is_empty() {
                continue;
            }
            let values: Vec<u64> = std::mem::take(&mut link.pending).into_iter().collect();
            if self.config.acknowledged {
                for &value in &values {
                    let previous = link.unacked.insert(value, round);
                    assert!(previous.is_none(), "a pending value is not also in flight");
                }
            }
            sends.push((neighbour, values));
        }
        for (neighbour, values) in sends {
            send_peer(ctx, neighbour, BroadcastMessage::Gossip { values });
        }
        self.schedule_retry(ctx);
    }

    fn schedule_retry(&mut self, ctx: &mut Ctx<'_>) {
        let waiting = self.links.values().any(|l| !l.unacked.is_empty());
        if waiting && !self.retry_armed && self.config.bug != BroadcastBug::NoRetry {
            assert!(
                self.config.acknowledged,
                "only acknowledged gossip is retried"
            );
            self.retry_armed = true;
            ctx.set_timer(self.config.retry_interval, BroadcastTimer::Retry);
        }
    }

    /// Sends again every value that was last sent before the previous round ended, so it has
    /// gone unacknowledged for at least a whole round.
    fn retry(&mut self, ctx: &mut Ctx<'_>) {
        let round = self.retry_round;
        let mut sends = Vec::new();
        for (&neighbour, link) in &mut self.links {
            let due: Vec<u64> = link
                .unacked
                .iter_mut()
                .filter(|(_, sent_round)| **sent_round < round)
                .map(|(&value, sent_round)| {
                    *sent_round = round;
                    value
                })
                .collect();
            if !due.is_empty() {
                sends.push((neighbour, due));
            }
        }
        if !sends.is_empty() {
            let names: Vec<String> = sends.iter().map(|(n, _)| n.to_string()).collect();
            ctx.annotate(format_args!(
                "retry round {round}: unacknowledged values to {}",
                names.join(", ")
            ));
        }
        for (neighbour, values) in sends {
            send_peer(ctx, neighbour, BroadcastMessage::Gossip { values });
        }
        self.retry_round += 1;
        self.schedule_retry(ctx);
    }
}

/// Node-to-node sends go through here, so that msgs-per-op counts exactly them. Duplicates the
/// network injects are not sends, and are not counted.
fn send_peer(ctx: &mut Ctx<'_>, to: NodeId, message: BroadcastMessage) {
    if let BroadcastMessage::Gossip { values } | BroadcastMessage::GossipOk { values } = &message {
        assert!(!values.is_empty(), "empty gossip is never sent");
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "gossip is sorted and without repeats"
        );
    }
    ctx.send(to, message);
}

impl Node for BroadcastServer {
    type Message = BroadcastMessage;
    type Timer = BroadcastTimer;
    type Observation = BroadcastObservation;

    fn on_start(&mut self, _ctx: &mut Ctx<'_>) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, message: BroadcastMessage) {
        match message {
            BroadcastMessage::Topology { request, topology } => {
                self.set_topology(ctx.id(), &topology);
                ctx.send(from, BroadcastMessage::TopologyOk { request });
                self.schedule_flush(ctx);
            }
            BroadcastMessage::Broadcast { request, value } => {
                self.learn(ctx, value, None);
                ctx.send(from, BroadcastMessage::BroadcastOk { request });
                self.schedule_flush(ctx);
            }
            BroadcastMessage::Read { request } => {
                let values = self.values.iter().copied().collect();
                ctx.send(from, BroadcastMessage::ReadOk { request, values });
            }
            BroadcastMessage::Gossip { values } => {
                assert!(from != ctx.id(), "a node does not gossip with itself");
                if let Some(link) = self.links.get_mut(&from) {
                    // The sender holds these values: no need to send them back to it.
                    for value in &values {
                        link.pending.remove(value);
                        link.unacked.remove(value);
                    }
                }
                for &value in &values {
                    self.learn(ctx, value, Some(from));
                }
                assert!(values.iter().all(|v| self.values.contains(v)));
                if self.config.acknowledged {
                    send_peer(ctx, from, BroadcastMessage::GossipOk { values });
                }
                self.schedule_flush(ctx);
            }
            BroadcastMessage::GossipOk { values } => {
                assert!(
                    self.config.acknowledged,
                    "only acknowledged gossip is answered"
                );
                // Late, duplicated or repeated acknowledgements name values no longer waiting.
                if let Some(link) = self.links.get_mut(&from) {
                    for value in &values {
                        link.unacked.remove(value);
                    }
                }
            }
            BroadcastMessage::TopologyOk { .. }
            | BroadcastMessage::BroadcastOk { .. }
            | BroadcastMessage::ReadOk { .. } => {
                panic!(
                    "{} received a reply meant for a client from {from}",
                    ctx.id()
                )
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: BroadcastTimer) {
        match timer {
            BroadcastTimer::Flush => {
                assert!(self.flush_armed);
                self.flush_armed = false;
                self.flush(ctx);
            }
            BroadcastTimer::Retry => {
                assert!(self.retry_armed);
                self.retry_armed = false;
                self.retry(ctx);
            }
            BroadcastTimer::Think { .. } | BroadcastTimer::Timeout { .. } => {
                panic!("{} got a client's timer", ctx.id())
            }
        }
    }
}

/// How a broadcast client behaves.
#[derive(Clone, Debug)]
pub struct BroadcastClientConfig {
    pub servers: Vec<NodeId>,
    /// Sent to every server when the client starts.
    pub topology: BTreeMap<NodeId, Vec<NodeId>>,
    /// Logical clients, each with at most one operation outstanding; history process ids are
    /// `0..processes`.
    pub processes: usize,
    /// Mean pause between a process's answer and its next operation (exponential).
    pub think_mean: Duration,
    /// Give up on an operation after this long and record it `info`.
    pub timeout: Duration,
    /// No operation starts at or after this time on the client's clock (clients have no clock
    /// faults, so it is global time).
    pub stop_at: Instant,
    /// Which operations run, and any spelled out (checked with `BroadcastClient::op_of`).
    pub script: Script,
}

#[derive(Clone, Copy)]
struct Outstanding {
    /// The broadcast's value, or `None` for a read.
    value: Option<u64>,
}

/// Maelstrom's broadcast workload: each process picks a random server and either broadcasts a
/// new value or reads, half and half. Operation k of process p broadcasts `k * processes + p`:
/// unique across the run, and the same whichever other operations run.
pub struct BroadcastClient {
    config: BroadcastClientConfig,
    processes: Processes<Outstanding>,
    ops: OpCursor,
}

impl BroadcastClient {
    pub fn new(config: BroadcastClientConfig) -> BroadcastClient {
        assert!(
            !config.servers.is_empty(),
            "a broadcast client needs a server"
        );
        assert!(config.processes > 0, "a broadcast client needs a process");
        BroadcastClient {
            processes: Processes::new(config.processes),
            ops: OpCursor::new(0, config.processes, &config.script),
            config,
        }
    }

    /// An operation a plan spells out: `broadcast` of an integer value (`Some(value)`), or
    /// `read` (`None`); neither takes a key.
    pub fn op_of(op: &WrittenOp) -> Result<Option<u64>, String> {
        if op.key.is_some() {
            return Err(format!("`{}` takes no key", op.f));
        }
        match op.f.as_str() {
            "broadcast" => op
                .value
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("`broadcast` needs an integer value, not {}", op.value)),
            "read" if op.value.is_null() => Ok(None),
            "read" => Err("`read` takes no value".to_string()),
            f => Err(format!(
                "unknown broadcast operation `{f}`; valid operations: broadcast, read"
            )),
        }
    }

    fn think(&mut self, ctx: &mut Ctx<'_>, process: usize) {
        let mean = self.config.think_mean;
        let Some(pause) = self.ops.think_exponential(ctx, process, mean) else {
            return;
        };
        ctx.set_timer(pause, BroadcastTimer::Think { process });
    }

    fn issue(&mut self, ctx: &mut Ctx<'_>, process: usize) {
        let Some(taken) = self.ops.take(process) else {
            return;
        };
        let mut rng = ctx.keyed_rng(taken.key);
        let request = self.processes.next_request(process);
        let server = *rng
            .choose(&self.config.servers)
            .expect("servers is not empty");
        let drawn_value = taken.index * self.config.processes as u64 + process as u64;
        let broadcast = match taken.written {
            Some(op) => BroadcastClient::op_of(op).expect("checked with the plan"),
            None => (rng.below(2) == 0).then_some(drawn_value),
        };
        let (value, message) = if let Some(value) = broadcast {
            ctx.invoke(process as u64, "broadcast", None, value.into());
            (Some(value), BroadcastMessage::Broadcast { request, value })
        } else {
            ctx.invoke(process as u64, "read", None, serde_json::Value::Null);
            (None, BroadcastMessage::Read { request })
        };
        ctx.send(server, message);
        ctx.set_timer(
            self.config.timeout,
            BroadcastTimer::Timeout { process, request },
        );
        self.processes.wait(process, request, Outstanding { value });
    }
}

impl Node for BroadcastClient {
    type Message = BroadcastMessage;
    type Timer = BroadcastTimer;
    type Observation = BroadcastObservation;

    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        for (index, &server) in self.config.servers.iter().enumerate() {
            let topology = self.config.topology.clone();
            ctx.send(
                server,
                BroadcastMessage::Topology {
                    request: index as u64,
                    topology,
                },
            );
        }
        for process in 0..self.config.processes {
            self.think(ctx, process);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, _from: NodeId, message: BroadcastMessage) {
        let (request, value) = match message {
            BroadcastMessage::TopologyOk { .. } => return,
            BroadcastMessage::BroadcastOk { request } => (request, None),
            BroadcastMessage::ReadOk { request, values } => (request, Some(values)),
            other => panic!("a client received {other:?}"),
        };
        let Some((process, outstanding)) = self.processes.finish(request) else {
            ctx.count("late-replies", 1);
            return;
        };
        ctx.cancel_timer(BroadcastTimer::Timeout { process, request });
        match (outstanding.value, value) {
            (Some(broadcast), None) => {
                ctx.complete(
                    process as u64,
                    EventKind::Ok,
                    "broadcast",
                    None,
                    broadcast.into(),
                );
            }
            (None, Some(values)) => {
                ctx.complete(process as u64, EventKind::Ok, "read", None, values.into());
            }
            _ => panic!("request {request} was answered with the wrong kind of reply"),
        }
        if ctx.now() < self.config.stop_at {
            self.think(ctx, process);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: BroadcastTimer) {
        match timer {
            BroadcastTimer::Think { process } => {
                if ctx.now() < self.config.stop_at {
                    self.issue(ctx, process);
                }
            }
            BroadcastTimer::Timeout { process, request } => {
                let Some((waiting, outstanding)) = self.processes.finish(request) else {
                    return;
                };
                assert_eq!(process, waiting);
                ctx.count("timeouts", 1);
                let (f, value) = match outstanding.value {
                    Some(value) => ("broadcast", value.into()),
                    None => ("read", serde_json::Value::Null),
                };
                ctx.complete(process as u64, EventKind::Info, f, None, value);
                if ctx.now() < self.config.stop_at {
                    self.think(ctx, process);
                }
            }
            BroadcastTimer::Flush | BroadcastTimer::Retry => {
                panic!("a client got a server's timer")
            }
        }
    }
}
