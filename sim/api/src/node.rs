//! Nodes and their context. A protocol implements [`Node`]; a host (the simulator, a real
//! host, a unit test) calls its handlers with a [`Context`] that it builds: the inputs the
//! handler may read (this node, its peers, its local clock, its random stream) and a buffer
//! the handler fills with [`Effect`]s. The host carries the effects out, in order, after the
//! handler returns.

use crate::disk::{DiskOp, IoId, IoResult};
use crate::history::{Event as HistoryEvent, EventKind};
use crate::rng::{KeyedRng, Keys, Rng};
use crate::time::{Duration, Instant};
use crate::wire::Wire;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::Hash;

/// A node, `n0`, `n1`, ... in traces and plans. Ids are given in the order nodes are added to
/// a run and never reused: a restarted node keeps its id, a node that joins late gets a new one.
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

/// What a message must offer: a wire encoding (a real network carries it; the trace hash
/// covers it), cloning (a network may duplicate it) and `Debug` (the text trace shows it).
/// Every serde type has the encoding already (see [`Wire`]).
pub trait Message: Wire + Clone + fmt::Debug + 'static {}
impl<T: Wire + Clone + fmt::Debug + 'static> Message for T {}

/// What a timer must offer. A timer is its own key: setting a timer equal to a pending one
/// replaces it, and `cancel_timer` names the timer to cancel, so a protocol keeps no handles.
/// `Ord` keys the host's timer table, `Hash` feeds the trace hash, `Debug` the text trace.
pub trait Timer: Clone + Ord + Hash + fmt::Debug + 'static {}
impl<T: Clone + Ord + Hash + fmt::Debug + 'static> Timer for T {}

/// A timer type for protocols that set none.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum NoTimer {}

/// What an observation must offer: a wire encoding (the trace hash covers it, and a real host
/// can ship it to a checker elsewhere), cloning and `Debug` (the text trace shows it).
/// Observations are what a protocol reports for checkers outside it (`became leader of term
/// 3`, `applied index 7`, `learned value 42`): see [`Context::observe`].
pub trait Observation: Wire + Clone + fmt::Debug + 'static {}
impl<T: Wire + Clone + fmt::Debug + 'static> Observation for T {}

/// An observation type for protocols that report none.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum NoObservation {}

/// A protocol's state machine. Handlers run to completion, single-threaded, and act only
/// through the context; they never read the wall clock, OS randomness, the network or files.
///
/// A crash drops the instance; a restart builds a fresh one and calls `on_start` with
/// `ctx.incarnation() > 0`. Anything that must survive a crash lives on the node's disk.
pub trait Node: 'static {
    type Message: Message;
    /// Timers are data: the value given to `set_timer` comes back to `on_timer`, and the trace
    /// shows it, so a reader sees why a node woke up.
    type Timer: Timer;
    /// What the node reports to checkers outside it ([`Context::observe`]); `NoObservation`
    /// for a node that reports nothing.
    type Observation: Observation;

    fn on_start(&mut self, ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>);
    fn on_message(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>,
        from: NodeId,
        message: Self::Message,
    );
    fn on_timer(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>,
        timer: Self::Timer,
    );

    /// A disk operation submitted with `Context::disk` completed. Protocols without a disk
    /// need not implement it.
    fn on_disk(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>,
        id: IoId,
        result: IoResult,
    ) {
        let _ = (ctx, id, result);
    }
}

/// Something a handler asked its host to do.
#[derive(Clone, PartialEq, Debug)]
pub enum Effect<M, T, O = NoObservation> {
    Send {
        to: NodeId,
        message: M,
    },
    /// Fire `timer` after `after` has passed on this node's clock, replacing a pending timer
    /// equal to it.
    SetTimer {
        after: Duration,
        timer: T,
    },
    /// Cancel the pending timer equal to `timer`, if there is one.
    CancelTimer {
        timer: T,
    },
    Disk {
        id: IoId,
        op: DiskOp,
    },
    /// A client operation's invocation or completion, for the run's history.
    History(HistoryEvent),
    /// A line for people in the trace.
    Annotate(String),
    /// Add `delta` to the run's counter `name`.
    Count {
        name: &'static str,
        delta: u64,
    },
    /// One sample of the latency metric `name`.
    Sample {
        name: &'static str,
        latency: Duration,
    },
    /// One point of the time series `name` (a queue's length, busy workers): the host stamps
    /// it with the time.
    Series {
        name: &'static str,
        value: u64,
    },
    /// An observation for checkers outside the node.
    Observe(O),
    /// The node now leads (`true`) or no longer does (`false`): see [`Context::set_leading`].
    Leading(bool),
}

impl<M, T, O> Effect<M, T, O> {
    /// The same effect with its message, timer and observation converted: how a node
    /// embedded in a larger one (see [`Either`]) hands its effects to its host.
    pub fn map<M2, T2, O2>(
        self,
        message: impl FnOnce(M) -> M2,
        timer: impl FnOnce(T) -> T2,
        observation: impl FnOnce(O) -> O2,
    ) -> Effect<M2, T2, O2> {
        match self {
            Effect::Send { to, message: m } => Effect::Send {
                to,
                message: message(m),
            },
            Effect::SetTimer { after, timer: t } => Effect::SetTimer {
                after,
                timer: timer(t),
            },
            Effect::CancelTimer { timer: t } => Effect::CancelTimer { timer: timer(t) },
            Effect::Disk { id, op } => Effect::Disk { id, op },
            Effect::History(record) => Effect::History(record),
            Effect::Annotate(text) => Effect::Annotate(text),
            Effect::Count { name, delta } => Effect::Count { name, delta },
            Effect::Sample { name, latency } => Effect::Sample { name, latency },
            Effect::Series { name, value } => Effect::Series { name, value },
            Effect::Observe(o) => Effect::Observe(observation(o)),
            Effect::Leading(leading) => Effect::Leading(leading),
        }
    }
}

/// What a handler may read, as its host hands it over.
pub struct Inputs<'a> {
    /// This node.
    pub id: NodeId,
    /// How many times this node has been restarted: 0 for the first start.
    pub incarnation: u32,
    /// The node's local clock.
    pub now: Instant,
    /// The servers of this node's group, in id order (this node among them if it is one).
    pub members: &'a [NodeId],
    /// This node's random stream.
    pub rng: &'a mut Rng,
    /// This node's keyed draws, the same in every incarnation.
    pub keys: Keys,
    /// The next disk operation's id; the context counts it up.
    pub next_io: &'a mut u64,
}

/// A handler's view of its host for one call: inputs to read, and effects to fill.
pub struct Context<'a, M, T, O = NoObservation> {
    inputs: Inputs<'a>,
    effects: Effects<'a, M, T, O>,
}

/// Where a context's effects go: the host's buffer, or (for an embedded node) on to the
/// enclosing context, converted one by one, so embedding allocates nothing.
enum Effects<'a, M, T, O> {
    Buffer(&'a mut Vec<Effect<M, T, O>>),
    Forward(&'a mut dyn FnMut(Effect<M, T, O>)),
}

impl<M, T, O> Effects<'_, M, T, O> {
    #[inline]
    fn push(&mut self, effect: Effect<M, T, O>) {
        match self {
            Effects::Buffer(buffer) => buffer.push(effect),
            Effects::Forward(forward) => forward(effect),
        }
    }
}

impl<'a, M, T, O> Context<'a, M, T, O> {
    /// A context over `inputs` whose effects go to the end of `effects`.
    pub fn new(inputs: Inputs<'a>, effects: &'a mut Vec<Effect<M, T, O>>) -> Context<'a, M, T, O> {
        Context {
            inputs,
            effects: Effects::Buffer(effects),
        }
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.inputs.id
    }

    /// How many times this node has been restarted: 0 for the first start.
    pub fn incarnation(&self) -> u32 {
        self.inputs.incarnation
    }

    /// The node's local clock. It may jump backwards when the host's clock is set back (a
    /// simulated clock fault, NTP on a real host); timers are unaffected by jumps.
    pub fn now(&self) -> Instant {
        self.inputs.now
    }

    /// This node's random stream, derived in a simulation from (seed, node, incarnation).
    pub fn rng(&mut self) -> &mut Rng {
        self.inputs.rng
    }

    /// Draws keyed by `key` in this node's own key space: the same (seed, node, key) draws the
    /// same in every run and incarnation, whatever was drawn before. For draws that must not
    /// shift when an earlier event goes: a client's k-th operation of a process, say, keyed
    /// `[process, k]`, draws the same whether or not a fault or another operation came before.
    pub fn keyed_rng(&self, key: [u64; 2]) -> KeyedRng {
        self.inputs.keys.rng(key)
    }

    /// The servers of this node's group other than this node, in id order. Clients are never
    /// among them.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let id = self.inputs.id;
        self.inputs
            .members
            .iter()
            .copied()
            .filter(move |&n| n != id)
    }

    /// The servers of this node's group, in id order (this node among them if it is one).
    pub fn members(&self) -> &[NodeId] {
        self.inputs.members
    }

    /// Sends `message` to `to`.
    pub fn send(&mut self, to: NodeId, message: M) {
        self.effects.push(Effect::Send { to, message });
    }

    /// Sets `timer` to fire after `after` has elapsed on this node's clock (a drifting clock
    /// fires early or late in real time). A pending timer equal to `timer` is replaced.
    pub fn set_timer(&mut self, after: Duration, timer: T) {
        self.effects.push(Effect::SetTimer { after, timer });
    }

    /// Cancels the pending timer equal to `timer`; cancelling one that fired or was cancelled
    /// already does nothing.
    pub fn cancel_timer(&mut self, timer: T) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    /// Submits a disk operation on this node's disk; it completes later, in `Node::on_disk`,
    /// under the returned id. `crate::disk` states what every host guarantees.
    pub fn disk(&mut self, op: DiskOp) -> IoId {
        let id = IoId(*self.inputs.next_io);
        *self.inputs.next_io += 1;
        self.effects.push(Effect::Disk { id, op });
        id
    }

    /// Adds a line for people to the trace: `ctx.annotate(format_args!("leader, term {t}"))`.
    pub fn annotate(&mut self, text: fmt::Arguments<'_>) {
        self.effects.push(Effect::Annotate(text.to_string()));
    }

    /// Records that client `process` invoked operation `f` (the history's `invoke` line).
    pub fn invoke(&mut self, process: u64, f: &str, key: Option<&str>, value: serde_json::Value) {
        let record = history_event(EventKind::Invoke, process, f, key, value);
        self.effects.push(Effect::History(record));
    }

    /// Records how client `process`'s outstanding operation completed.
    pub fn complete(
        &mut self,
        process: u64,
        status: EventKind,
        f: &str,
        key: Option<&str>,
        value: serde_json::Value,
    ) {
        assert!(
            status != EventKind::Invoke,
            "complete() takes ok, fail or info"
        );
        let record = history_event(status, process, f, key, value);
        self.effects.push(Effect::History(record));
    }

    /// Adds `delta` to the run's counter `name`.
    pub fn count(&mut self, name: &'static str, delta: u64) {
        self.effects.push(Effect::Count { name, delta });
    }

    /// Records one sample of the latency metric `name` (reported as quantiles).
    pub fn sample(&mut self, name: &'static str, latency: Duration) {
        self.effects.push(Effect::Sample { name, latency });
    }

    /// One point of the time series `name` (a queue's length, busy workers), stamped by the
    /// host with the time. A series is a run's curve, not a per-run figure.
    pub fn series(&mut self, name: &'static str, value: u64) {
        self.effects.push(Effect::Series { name, value });
    }

    /// Reports `observation` to the checkers watching this run. The host stamps it with the
    /// node, its incarnation and the global time, records it in the trace, and hands it to
    /// every online checker at once; it outlives a crash of the node.
    pub fn observe(&mut self, observation: O) {
        self.effects.push(Effect::Observe(observation));
    }

    /// Tells the host that this node now leads (a Raft leader, a primary) or no longer does.
    /// The simulator aims its leader-targeted faults (`Fault::CrashLeader`, as Jepsen's
    /// nemeses aim at primaries and the MIT Raft tests crash the leader) at the node that
    /// claimed leadership last and has not given it up or crashed since; nothing else depends
    /// on it, and a protocol with no leader never calls it.
    pub fn set_leading(&mut self, leading: bool) {
        self.effects.push(Effect::Leading(leading));
    }

    /// Runs `handler` with a context of other message, timer and observation types over the
    /// same inputs, and hands its effects on converted: how a node embeds another protocol's
    /// node.
    pub fn embed<M2, T2, O2>(
        &mut self,
        message: impl Fn(M2) -> M,
        timer: impl Fn(T2) -> T,
        observation: impl Fn(O2) -> O,
        handler: impl FnOnce(&mut Context<'_, M2, T2, O2>),
    ) {
        let parent = &mut self.effects;
        let mut forward =
            |effect: Effect<M2, T2, O2>| parent.push(effect.map(&message, &timer, &observation));
        let inputs = Inputs {
            id: self.inputs.id,
            incarnation: self.inputs.incarnation,
            now: self.inputs.now,
            members: self.inputs.members,
            rng: self.inputs.rng,
            keys: self.inputs.keys,
            next_io: self.inputs.next_io,
        };
        handler(&mut Context {
            inputs,
            effects: Effects::Forward(&mut forward),
        });
    }
}

/// A history event as a client records it; its host stamps the time.
fn history_event(
    kind: EventKind,
    process: u64,
    f: &str,
    key: Option<&str>,
    value: serde_json::Value,
) -> HistoryEvent {
    let event = HistoryEvent::new(kind, process, f, value);
    match key {
        Some(key) => event.with_key(key),
        None => event,
    }
}

/// One of two nodes, or one of two nodes' timers (or messages): how one simulation holds a
/// client and a server with timer types of their own. Both sides share the message type, so
/// they can talk; the timer type is `Either<L::Timer, R::Timer>`.
///
/// ```ignore
/// let mut sim = Simulation::<KvMessage, Either<ClientTimer, NoTimer>>::new(config);
/// sim.add_node(|_| Either::Right(Server::new()));
/// sim.add_client(|_| Either::Left(Client::new()));
/// ```
///
/// `Debug` shows the value inside, so traces read `Think { process: 0 }`, not `Left(..)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Either<L, R> {
    Left(L),
    Right(R),
}

impl<L: fmt::Debug, R: fmt::Debug> fmt::Debug for Either<L, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Either::Left(l) => l.fmt(f),
            Either::Right(r) => r.fmt(f),
        }
    }
}

impl<L, R> Either<L, R> {
    pub fn left(self) -> Option<L> {
        match self {
            Either::Left(l) => Some(l),
            Either::Right(_) => None,
        }
    }

    pub fn right(self) -> Option<R> {
        match self {
            Either::Left(_) => None,
            Either::Right(r) => Some(r),
        }
    }

    pub fn as_ref(&self) -> Either<&L, &R> {
        match self {
            Either::Left(l) => Either::Left(l),
            Either::Right(r) => Either::Right(r),
        }
    }
}

impl<L, R> Node for Either<L, R>
where
    L: Node,
    R: Node<Message = L::Message>,
    // Observations travel as `Either` too, whose wire encoding is serde's.
    L::Observation: Serialize + serde::de::DeserializeOwned,
    R::Observation: Serialize + serde::de::DeserializeOwned,
{
    type Message = L::Message;
    type Timer = Either<L::Timer, R::Timer>;
    type Observation = Either<L::Observation, R::Observation>;

    fn on_start(&mut self, ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>) {
        match self {
            Either::Left(node) => {
                ctx.embed(|m| m, Either::Left, Either::Left, |ctx| node.on_start(ctx))
            }
            Either::Right(node) => ctx.embed(
                |m| m,
                Either::Right,
                Either::Right,
                |ctx| node.on_start(ctx),
            ),
        }
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>,
        from: NodeId,
        message: Self::Message,
    ) {
        match self {
            Either::Left(node) => {
                ctx.embed(
                    |m| m,
                    Either::Left,
                    Either::Left,
                    |ctx| node.on_message(ctx, from, message),
                );
            }
            Either::Right(node) => {
                ctx.embed(
                    |m| m,
                    Either::Right,
                    Either::Right,
                    |ctx| node.on_message(ctx, from, message),
                );
            }
        }
    }

    fn on_timer(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>,
        timer: Self::Timer,
    ) {
        match (self, timer) {
            (Either::Left(node), Either::Left(timer)) => {
                ctx.embed(
                    |m| m,
                    Either::Left,
                    Either::Left,
                    |ctx| node.on_timer(ctx, timer),
                );
            }
            (Either::Right(node), Either::Right(timer)) => {
                ctx.embed(
                    |m| m,
                    Either::Right,
                    Either::Right,
                    |ctx| node.on_timer(ctx, timer),
                );
            }
            _ => unreachable!("a node gets only the timers it set"),
        }
    }

    fn on_disk(
        &mut self,
        ctx: &mut Context<'_, Self::Message, Self::Timer, Self::Observation>,
        id: IoId,
        result: IoResult,
    ) {
        match self {
            Either::Left(node) => ctx.embed(
                |m| m,
                Either::Left,
                Either::Left,
                |ctx| node.on_disk(ctx, id, result),
            ),
            Either::Right(node) => {
                ctx.embed(
                    |m| m,
                    Either::Right,
                    Either::Right,
                    |ctx| node.on_disk(ctx, id, result),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    /// Pings its peers at start, answers pings with pongs, and re-arms a timer on each message.
    struct Pinger;

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
    enum Tick {
        Quiet,
    }

    impl Node for Pinger {
        type Message = String;
        type Timer = Tick;
        type Observation = NoObservation;
        fn on_start(&mut self, ctx: &mut Context<'_, String, Tick>) {
            let peers: Vec<NodeId> = ctx.peers().collect();
            for peer in peers {
                ctx.send(peer, "ping".into());
            }
            ctx.set_timer(Duration::from_secs(1), Tick::Quiet);
        }
        fn on_message(&mut self, ctx: &mut Context<'_, String, Tick>, from: NodeId, m: String) {
            if m == "ping" {
                ctx.send(from, "pong".into());
            }
            ctx.set_timer(Duration::from_secs(1), Tick::Quiet);
        }
        fn on_timer(&mut self, ctx: &mut Context<'_, String, Tick>, _timer: Tick) {
            ctx.annotate(format_args!("quiet at {}", ctx.now()));
            ctx.cancel_timer(Tick::Quiet);
        }
    }

    fn send(to: u32, text: &str) -> Effect<String, Tick> {
        Effect::Send {
            to: NodeId(to),
            message: text.to_string(),
        }
    }

    fn arm() -> Effect<String, Tick> {
        Effect::SetTimer {
            after: Duration::from_secs(1),
            timer: Tick::Quiet,
        }
    }

    // Goal: a handler's effects are values a test reads, in the order they were made, with no
    // simulator. Method: run each handler of a small protocol through the test host.
    #[test]
    fn handlers_are_tested_through_their_effects() {
        let members = vec![NodeId(0), NodeId(1), NodeId(2)];
        let mut host = TestHost::new(NodeId(1), members, 7);
        let mut node = Pinger;
        assert_eq!(
            host.start(&mut node),
            [send(0, "ping"), send(2, "ping"), arm()],
            "peers are the members other than this node"
        );
        assert_eq!(
            host.deliver(&mut node, NodeId(2), "ping".into()),
            [send(2, "pong"), arm()]
        );
        host.now = Instant::ZERO + Duration::from_secs(5);
        assert_eq!(
            host.fire(&mut node, Tick::Quiet),
            [
                Effect::Annotate("quiet at 5.000000s".into()),
                Effect::CancelTimer { timer: Tick::Quiet }
            ]
        );
    }

    /// A second protocol with its own timer type, to compose with `Pinger`.
    struct Counter {
        started: u32,
    }

    impl Node for Counter {
        type Message = String;
        type Timer = u8;
        type Observation = NoObservation;
        fn on_start(&mut self, ctx: &mut Context<'_, String, u8>) {
            self.started += 1;
            ctx.set_timer(Duration::from_millis(5), 9);
            ctx.count("counter-starts", 1);
        }
        fn on_message(&mut self, _: &mut Context<'_, String, u8>, _: NodeId, _: String) {}
        fn on_timer(&mut self, ctx: &mut Context<'_, String, u8>, timer: u8) {
            ctx.send(NodeId(0), format!("timer {timer}"));
        }
    }

    // Goal: `Either` runs either node under the composed timer type, wrapping its timers on the
    // way out and unwrapping them on the way in, and shows the inner value in traces.
    #[test]
    fn either_composes_two_nodes_with_their_own_timers() {
        type Both = Either<Pinger, Counter>;
        let mut host = TestHost::new(NodeId(0), vec![NodeId(0), NodeId(1)], 1);
        let mut left: Both = Either::Left(Pinger);
        let mut right: Both = Either::Right(Counter { started: 0 });
        assert_eq!(
            host.start(&mut left),
            [
                Effect::Send {
                    to: NodeId(1),
                    message: "ping".to_string()
                },
                Effect::SetTimer {
                    after: Duration::from_secs(1),
                    timer: Either::Left(Tick::Quiet)
                }
            ]
        );
        assert_eq!(
            host.start(&mut right),
            [
                Effect::SetTimer {
                    after: Duration::from_millis(5),
                    timer: Either::Right(9)
                },
                Effect::Count {
                    name: "counter-starts",
                    delta: 1
                }
            ]
        );
        assert_eq!(
            host.fire(&mut right, Either::Right(9)),
            [Effect::Send {
                to: NodeId(0),
                message: "timer 9".to_string()
            }]
        );
        assert_eq!(format!("{:?}", Either::<Tick, u8>::Right(9)), "9");
        let Either::Right(counter) = &right else {
            unreachable!()
        };
        assert_eq!(counter.started, 1);
    }

    // Goal: disk operations get ids unique per node, counted by the host across calls.
    #[test]
    fn disk_ids_count_up_across_calls() {
        let mut rng = Rng::from_seed(1, 1);
        let mut next_io = 5;
        let mut effects: Vec<Effect<(), ()>> = Vec::new();
        for expected in [5, 6] {
            let inputs = Inputs {
                id: NodeId(0),
                incarnation: 0,
                now: Instant::ZERO,
                members: &[],
                rng: &mut rng,
                keys: crate::rng::Keys::new(1, 2),
                next_io: &mut next_io,
            };
            let mut ctx = Context::new(inputs, &mut effects);
            assert_eq!(ctx.disk(DiskOp::SyncDir), IoId(expected));
        }
        assert_eq!(next_io, 7);
        assert_eq!(effects.len(), 2);
    }
}
