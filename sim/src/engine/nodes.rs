//! Nodes: their lifecycle (start, crash, restart, pause, resume), their clocks and timers, and
//! `call`, the one place where a handler runs.

use super::queue::{Event, Handle};
use super::{CURRENT, Core, LogCapture, Simulation};
use crate::api::{Context, Effect, Inputs, Message, Node, NodeId, Observation, Timer};
use crate::rng::{Keys, Rng};
use crate::time::{Duration, Instant};
use crate::trace::NO_NODE;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Status {
    Up,
    Down,
    Paused,
}

/// A node's clock: local = base_local + (global - base_global) * (1 + drift).
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    base_global: u64,
    base_local: i128,
    drift_ppm: i32,
}

impl Clock {
    #[inline]
    fn local(&self, global: u64) -> i128 {
        let elapsed = i128::from(global - self.base_global);
        if self.drift_ppm == 0 {
            // The common case, without a 128-bit division on every handler call.
            return self.base_local + elapsed;
        }
        self.base_local + elapsed + elapsed * i128::from(self.drift_ppm) / 1_000_000
    }

    /// The global time that passes while `after` passes on this clock.
    #[inline]
    fn global_span(&self, after: Duration) -> u64 {
        if self.drift_ppm == 0 {
            return after.as_nanos();
        }
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let span = i128::from(after.as_nanos()) * 1_000_000 / rate.max(1);
        span.min(i128::from(u64::MAX)) as u64
    }

    /// Moves the clock by `offset` now; it keeps its rate.
    pub(super) fn jump(&mut self, now: u64, offset_nanos: i64) {
        *self = Clock {
            base_global: now,
            base_local: self.local(now) + i128::from(offset_nanos),
            drift_ppm: self.drift_ppm,
        };
    }

    /// Sets the clock's rate from now on.
    pub(super) fn drift(&mut self, now: u64, drift_ppm: i32) {
        *self = Clock {
            base_global: now,
            base_local: self.local(now),
            drift_ppm,
        };
    }
}

pub(crate) struct NodeState {
    pub(crate) incarnation: u32,
    pub(crate) rng: Rng,
    /// The node's keyed draws (`Context::keyed_rng`).
    pub(super) keys: Keys,
    pub(super) status: Status,
    pub(super) started: bool,
    pub(super) is_client: bool,
    /// The next disk operation's id (ids are unique per node across restarts).
    pub(super) next_io: u64,
    /// When the incarnation started, and its disk operations so far: a disk operation's draws
    /// are keyed by the two, so that removing operations of an earlier incarnation leaves a
    /// later one's as they were.
    pub(super) started_at: u64,
    pub(super) io_since_start: u64,
    pub(super) clock: Clock,
    /// Slots of events that arrived while the node was paused, in arrival order.
    pub(super) deferred: Vec<u32>,
    /// What the `getrandom` shims draw while this node's code runs (`faultline_entropy`):
    /// from the seed, the node and the incarnation.
    pub(super) entropy: u64,
}

/// The key of a node's entropy stream among its keyed draws, with the incarnation.
const ENTROPY_KEY: u64 = u64::MAX;

impl NodeState {
    pub(super) fn new(rng: Rng, keys: Keys, is_client: bool) -> NodeState {
        NodeState {
            incarnation: 0,
            rng,
            keys,
            status: Status::Down,
            started: false,
            is_client,
            next_io: 0,
            started_at: 0,
            io_since_start: 0,
            clock: Clock {
                base_global: 0,
                base_local: 0,
                drift_ppm: 0,
            },
            deferred: Vec::new(),
            entropy: 0,
        }
    }
}

/// A pending timer in a node's timer table.
#[derive(Clone, Copy)]
pub(super) struct PendingTimer {
    handle: Handle,
    /// The timer's id in the trace.
    id: u64,
}

impl<M: Message, T: Timer, O: Observation> Simulation<M, T, O> {
    /// Runs one handler of an up node: the only place where protocol code is called. The
    /// handler fills a context's effect buffer; the effects are carried out in order once it
    /// returns. Log lines and panics inside it are attributed to the node and the current
    /// virtual time.
    #[inline]
    pub(super) fn call(
        &mut self,
        node: u32,
        handler: impl FnOnce(
            &mut dyn Node<Message = M, Timer = T, Observation = O>,
            &mut Context<'_, M, T, O>,
        ),
    ) {
        let instance = self.instances[node as usize]
            .as_deref_mut()
            .expect("an up node has an instance");
        let core = &mut self.core;
        CURRENT.with(|c| c.set((core.now, node)));
        let mut effects = std::mem::take(&mut core.effects);
        let now = core.local_now(NodeId(node));
        let state = &mut core.nodes[node as usize];
        let inputs = Inputs {
            id: NodeId(node),
            incarnation: state.incarnation,
            now,
            members: &core.members,
            rng: &mut state.rng,
            keys: state.keys,
            next_io: &mut state.next_io,
        };
        // Third-party code inside the handler that asks `getrandom` (patched with Faultline's
        // shim) draws from the node's stream.
        faultline_entropy::enter(state.entropy);
        let capture = core.trace.records_on().then(LogCapture::start);
        handler(instance, &mut Context::new(inputs, &mut effects));
        if let Some(entropy) = faultline_entropy::leave() {
            core.nodes[node as usize].entropy = entropy;
        }
        for (level, text) in capture.map(LogCapture::finish).unwrap_or_default() {
            core.trace.log(core.now, node, level, text);
        }
        for effect in effects.drain(..) {
            core.carry_out(NodeId(node), effect);
        }
        core.effects = effects;
        CURRENT.with(|c| c.set((core.now, NO_NODE)));
    }

    /// Starts a node that is down: its first start, or a restart with a fresh instance and a
    /// fresh random stream.
    pub(super) fn start(&mut self, node: u32) {
        let core = &mut self.core;
        let state = &mut core.nodes[node as usize];
        if state.status != Status::Down {
            return;
        }
        if state.started {
            state.incarnation += 1;
            state.rng = Rng::for_node(core.seed, node, state.incarnation);
        }
        if !state.started && !state.is_client {
            core.join(NodeId(node));
        }
        let state = &mut core.nodes[node as usize];
        state.started = true;
        state.status = Status::Up;
        state.started_at = core.now;
        state.io_since_start = 0;
        let incarnation = state.incarnation;
        let mut entropy = state.keys.rng([ENTROPY_KEY, u64::from(incarnation)]);
        state.entropy = entropy.next_u64();
        core.trace.start(core.now, node, incarnation);
        CURRENT.with(|c| c.set((core.now, node)));
        // The node's constructor runs as its code: with its entropy, its log lines kept.
        faultline_entropy::enter(state.entropy);
        let capture = core.trace.records_on().then(LogCapture::start);
        let instance = (self.factories[node as usize])(NodeId(node));
        if let Some(entropy) = faultline_entropy::leave() {
            core.nodes[node as usize].entropy = entropy;
        }
        for (level, text) in capture.map(LogCapture::finish).unwrap_or_default() {
            core.trace.log(core.now, node, level, text);
        }
        self.instances[node as usize] = Some(instance);
        self.call(node, |instance, ctx| instance.on_start(ctx));
    }

    /// Drops the node's instance, its timers (by incarnation) and the messages waiting for it;
    /// its disk decides what survives.
    pub(super) fn crash(&mut self, node: NodeId) {
        let core = &mut self.core;
        let state = &mut core.nodes[node.index()];
        if state.status == Status::Down {
            return;
        }
        state.status = Status::Down;
        if core.leader == Some(node) {
            core.leader = None;
        }
        let mut waiting = std::mem::take(&mut state.deferred);
        self.instances[node.index()] = None;
        core.timers[node.index()].clear();
        core.trace.crash(core.now, node.0);
        core.crash_disk(node);
        // Messages held on links into the node wait in the network for a node that is gone:
        // like those it had not handled yet, they are dropped.
        waiting.extend(core.network.take_held_into(node));
        core.drop_waiting(waiting);
    }

    pub(super) fn pause(&mut self, node: NodeId) {
        let core = &mut self.core;
        if core.nodes[node.index()].status != Status::Up {
            return;
        }
        core.nodes[node.index()].status = Status::Paused;
        core.trace.pause(core.now, node.0);
    }

    /// The node handles what waited for it, in arrival order.
    pub(super) fn resume(&mut self, node: NodeId) {
        let core = &mut self.core;
        let state = &mut core.nodes[node.index()];
        if state.status != Status::Paused {
            return;
        }
        state.status = Status::Up;
        let deferred = std::mem::take(&mut state.deferred);
        core.trace.resume(core.now, node.0);
        for slot in deferred {
            core.queue.requeue(core.now, slot);
        }
    }

    pub(super) fn fire_timer(&mut self, node: u32, incarnation: u32, id: u64, timer: T) {
        let state = &self.core.nodes[node as usize];
        if state.status != Status::Up || state.incarnation != incarnation {
            return; // The node crashed since; its timers died with it.
        }
        let pending = self.core.timers[node as usize].remove(&timer);
        assert_eq!(
            pending.map(|p| p.id),
            Some(id),
            "a firing timer is the pending one under its key"
        );
        self.core.trace.timer_fire(self.core.now, node, id, &timer);
        self.call(node, |instance, ctx| instance.on_timer(ctx, timer));
    }
}

impl<M: Message, T: Timer, O: Observation> Core<M, T, O> {
    pub(crate) fn local_now(&self, node: NodeId) -> Instant {
        let local = self.nodes[node.index()].clock.local(self.now);
        Instant::from_nanos(local.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// Carries out one effect of a handler of `node`.
    #[inline]
    fn carry_out(&mut self, node: NodeId, effect: Effect<M, T, O>) {
        match effect {
            Effect::Send { to, message } => self.send(node, to, message),
            Effect::SetTimer { after, timer } => self.set_timer(node, after, timer),
            Effect::CancelTimer { timer } => self.cancel_timer(node, &timer),
            Effect::Disk { id, op } => self.disk_submit(node, id, op),
            Effect::History(record) => self.record_history(node, record),
            Effect::Annotate(text) => self.trace.note(self.now, node.0, format_args!("{text}")),
            Effect::Count { name, delta } => self.metrics.count(name, delta),
            Effect::Sample { name, latency } => self.metrics.sample(name, latency),
            Effect::Series { name, value } => {
                self.metrics
                    .series(name, Instant::from_nanos(self.now), value)
            }
            Effect::Observe(observation) => self.observe(node, observation),
            Effect::Leading(true) => self.leader = Some(node),
            Effect::Leading(false) => {
                if self.leader == Some(node) {
                    self.leader = None;
                }
            }
        }
    }

    /// Sets `timer`, replacing the pending timer equal to it: re-armed in place when it is
    /// due no earlier than its heap entry (the heartbeat pattern), else cancelled and queued
    /// anew. Either way the trace shows the old timer cancelled and a new one set.
    fn set_timer(&mut self, node: NodeId, after: Duration, timer: T) {
        let state = &self.nodes[node.index()];
        let incarnation = state.incarnation;
        let due = self.now.saturating_add(state.clock.global_span(after));
        let id = self.next_timer_id;
        self.next_timer_id += 1;
        if let Some(pending) = self.timers[node.index()].get_mut(&timer)
            && let Some(Event::Timer {
                id: event_id,
                due: event_due,
                queued_at,
                timer: event_timer,
                ..
            }) = self.queue.timer_mut(pending.handle)
            && *queued_at <= due
        {
            self.trace.timer_cancel(self.now, node.0, pending.id);
            self.trace
                .timer_set(self.now, node.0, id, after.as_nanos(), &timer);
            (*event_id, *event_due, pending.id) = (id, due, id);
            *event_timer = timer;
            return;
        }
        self.cancel_timer(node, &timer);
        self.trace
            .timer_set(self.now, node.0, id, after.as_nanos(), &timer);
        let event = Event::Timer {
            node: node.0,
            incarnation,
            id,
            due,
            queued_at: due,
            timer: timer.clone(),
        };
        let handle = self.queue.push(due, event);
        self.timers[node.index()].insert(timer, PendingTimer { handle, id });
    }

    fn cancel_timer(&mut self, node: NodeId, timer: &T) {
        if let Some(pending) = self.timers[node.index()].remove(timer) {
            let cancelled = self.queue.cancel_timer(node.0, pending.handle);
            assert_eq!(
                cancelled,
                Some(pending.id),
                "a pending timer is in the queue"
            );
            self.trace.timer_cancel(self.now, node.0, pending.id);
        }
    }
}
