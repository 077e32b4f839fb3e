//! The protocol-facing API: everything a protocol may touch. A protocol implements [`Node`];
//! the engine calls its handlers and hands it a [`Context`], through which it reads its clock,
//! draws randomness, sends messages, sets timers, records client operations and annotates the
//! trace. Nothing else of the engine is visible to it.
//!
//! **Architecture Invariant:** `protocols/` imports only this module and the types it hands
//! out (`time`, `rng`, `history`, `hash`, `disk`), directly or through `sim`'s root re-exports.
//! A user's own protocol plugs in the same way.

use crate::disk::{DiskOp, IoResult};
use crate::engine::Core;
use crate::history::{HistoryRecord, OpStatus};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::hash::Hash;

/// A node's index in its simulation, `n0`, `n1`, ... in traces.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A handle to a timer that was set, for cancelling it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// A handle to a disk operation, matched with its completion in `Node::on_disk`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct IoId(pub u64);

impl fmt::Display for IoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "io{}", self.0)
    }
}

/// What a message must offer: cloning (the network may duplicate it), `Debug` (the text trace
/// shows it) and `Hash` (the trace hash covers message contents).
pub trait Message: Clone + fmt::Debug + Hash + 'static {}
impl<T: Clone + fmt::Debug + Hash + 'static> Message for T {}

/// A protocol's state machine. Handlers run to completion, single-threaded, and act only
/// through the context; they never read the wall clock, OS randomness or the network.
///
/// A crash drops the instance; a restart builds a fresh one from the node's factory and calls
/// `on_start` with `ctx.incarnation() > 0`. Anything that must survive a crash lives on the
/// node's disk, never in memory.
pub trait Node: Any {
    type Message: Message;
    /// Timers are data: the value given to `set_timer` comes back to `on_timer`, and the trace
    /// shows it (`Debug`), so a reader sees why a node woke up.
    type Timer: Message;

    fn on_start(&mut self, ctx: &mut Context<'_, Self::Message, Self::Timer>);
    fn on_message(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer>,
        from: NodeId,
        message: Self::Message,
    );
    fn on_timer(&mut self, ctx: &mut Context<'_, Self::Message, Self::Timer>, timer: Self::Timer);

    /// A disk operation submitted with `Context::disk` completed. Protocols without a disk
    /// need not implement it.
    fn on_disk(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer>,
        id: IoId,
        result: IoResult,
    ) {
        let _ = (ctx, id, result);
    }
}

/// The node's window onto the simulation during one handler call.
pub struct Context<'a, M, T> {
    pub(crate) core: &'a mut Core<M, T>,
    pub(crate) node: NodeId,
}

impl<M: Message, T: Message> Context<'_, M, T> {
    /// This node.
    pub fn id(&self) -> NodeId {
        self.node
    }

    /// How many times this node has been restarted: 0 for the first start.
    pub fn incarnation(&self) -> u32 {
        self.core.nodes[self.node.index()].incarnation
    }

    /// The number of nodes in the simulation (servers and clients).
    pub fn node_count(&self) -> usize {
        self.core.nodes.len()
    }

    /// The node's local clock: global virtual time plus the node's offset and drift. It may
    /// jump backwards when a scenario sets it back; timers are unaffected by jumps.
    pub fn now(&self) -> Instant {
        self.core.local_now(self.node)
    }

    /// This node's random stream, derived from (seed, node, incarnation).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.core.nodes[self.node.index()].rng
    }

    /// Sends `message` to `to` through the simulated network.
    pub fn send(&mut self, to: NodeId, message: M) {
        self.core.send(self.node, to, message);
    }

    /// Sets a timer that fires after `after` has elapsed on this node's clock (so a drifting
    /// clock fires early or late in global time). Returns a handle for `cancel_timer`.
    pub fn set_timer(&mut self, after: Duration, timer: T) -> TimerId {
        self.core.set_timer(self.node, after, timer)
    }

    /// Cancels a timer; cancelling one that fired or was cancelled already does nothing.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.core.cancel_timer(self.node, id);
    }

    /// Adds a line for people to the trace: `ctx.annotate(format_args!("leader, term {t}"))`.
    pub fn annotate(&mut self, text: fmt::Arguments<'_>) {
        self.core.annotate(self.node, text);
    }

    /// Records that client `process` invoked operation `f` (the history's `invoke` line).
    pub fn invoke(&mut self, process: u64, f: &str, key: Option<&str>, value: serde_json::Value) {
        let record = HistoryRecord::new(process, OpStatus::Invoke, f, key, value);
        self.core.record_history(self.node, record);
    }

    /// Records how client `process`'s outstanding operation completed.
    pub fn complete(
        &mut self,
        process: u64,
        status: OpStatus,
        f: &str,
        key: Option<&str>,
        value: serde_json::Value,
    ) {
        assert!(
            status != OpStatus::Invoke,
            "complete() takes ok, fail or info"
        );
        let record = HistoryRecord::new(process, status, f, key, value);
        self.core.record_history(self.node, record);
    }

    /// Submits a disk operation on this node's disk; it completes after a virtual latency, in
    /// `Node::on_disk`. Completions of concurrent operations may arrive in any order. See
    /// `sim::disk` for what survives a crash.
    pub fn disk(&mut self, op: DiskOp) -> IoId {
        self.core.disk_submit(self.node, op)
    }

    /// The files on this node's disk as reads see them, with their lengths (a directory
    /// listing: immediate, like a `stat`).
    pub fn disk_files(&self) -> Vec<(String, u64)> {
        self.core.disks[self.node.index()].files()
    }

    /// Adds `delta` to the run's counter `name` (reported and aggregated by `fuzz`).
    pub fn count(&mut self, name: &'static str, delta: u64) {
        self.core.metrics.count(name, delta);
    }

    /// Records one sample of the latency metric `name` (reported as quantiles).
    pub fn sample(&mut self, name: &'static str, latency: Duration) {
        self.core.metrics.sample(name, latency);
    }
}
