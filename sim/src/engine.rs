//! The discrete-event engine. One thread, one event queue ordered by (time, insertion
//! sequence), and a clock that jumps straight to the next event.
//!
//! Events live in a slab of slots that is reused, and the heap holds only (time, sequence,
//! slot), so delivering a message allocates, clones and serializes nothing: the message moves
//! from the sender's `send` into its slot and from there into the receiver's handler.

use crate::api::{Context, IoId, Message, Node, NodeId, TimerId};
use crate::disk::{Disk, DiskConfig, DiskOp, Durability, IoResult};
use crate::history::HistoryRecord;
use crate::net::LinkConfig;
use crate::plan::{Fault, ScheduledFault};
use crate::report::{Metrics, Report, Verdict};
use crate::rng::{Rng, stream};
use crate::time::{Duration, Instant};
use crate::trace::{DropReason, NO_NODE, Trace, TraceLevel};
use std::any::Any;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt;

thread_local! {
    /// The event being handled, for log lines (see `current_event`).
    static CURRENT: Cell<(u64, u32)> = const { Cell::new((0, NO_NODE)) };
}

/// Marks the end of a handler: a panic after it is not the node's.
fn leave_handler() {
    CURRENT.with(|c| c.set((c.get().0, NO_NODE)));
}

/// The global virtual time and node of the event being handled on this thread: log lines
/// written through `tracing` are stamped with it (see `traces::logging`), and a panic inside a
/// handler is reported with it. The node is `None` outside handlers.
pub fn current_event() -> (Instant, Option<NodeId>) {
    let (time, node) = CURRENT.with(Cell::get);
    let node = (node != NO_NODE).then_some(NodeId(node));
    (Instant::from_nanos(time), node)
}

/// How a simulation is set up; everything else comes from the seed and the plan.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Node-to-node links.
    pub link: LinkConfig,
    /// Links with a client at either end.
    pub client_link: LinkConfig,
    pub trace_level: TraceLevel,
    /// Every node's disk.
    pub disk: DiskConfig,
    /// A bound on the events one run may process: a protocol that sets zero-delay timers in a
    /// loop would otherwise never let virtual time advance.
    pub events_max: u64,
}

impl Config {
    pub fn new(seed: u64, link: LinkConfig, client_link: LinkConfig) -> Config {
        Config {
            seed,
            link,
            client_link,
            trace_level: TraceLevel::Hash,
            disk: DiskConfig::default(),
            events_max: 500_000_000,
        }
    }
}

impl Config {
    /// The configuration a plan asks for.
    pub fn for_plan(plan: &crate::plan::Plan, trace_level: TraceLevel) -> Config {
        Config {
            trace_level,
            disk: plan.swarm.disk.clone(),
            ..Config::new(
                plan.seed,
                plan.swarm.link.clone(),
                plan.swarm.client_link.clone(),
            )
        }
    }
}

/// Message accounting: every message sent (plus every duplicate) is delivered, dropped or
/// still in flight.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NetworkStats {
    pub sent: u64,
    pub duplicated: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub in_flight: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    time: u64,
    sequence: u64,
    slot: u32,
}

enum Event<M, T> {
    Start {
        node: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        id: u64,
        message: M,
    },
    Timer {
        node: u32,
        incarnation: u32,
        id: u64,
        timer: T,
    },
    Fault(Fault),
    /// A busy node may handle its next waiting event.
    Wake {
        node: u32,
    },
    DiskDone {
        node: u32,
        incarnation: u32,
        id: u64,
        result: IoResult,
        durability: Option<Durability>,
    },
}

impl<M, T> Event<M, T> {
    /// The node whose availability decides when the event can be handled.
    fn target(&self) -> Option<u32> {
        match self {
            Event::Deliver { to, .. } => Some(*to),
            Event::Timer { node, .. } | Event::DiskDone { node, .. } => Some(*node),
            Event::Start { .. } | Event::Fault(_) | Event::Wake { .. } => None,
        }
    }
}

struct Slot<M, T> {
    generation: u32,
    event: Option<Event<M, T>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Up,
    Down,
    Paused,
}

/// A node's clock: local = base_local + (global - base_global) * (1 + drift).
#[derive(Clone, Copy, Debug)]
struct Clock {
    base_global: u64,
    base_local: i128,
    drift_ppm: i32,
}

impl Clock {
    fn local(&self, global: u64) -> i128 {
        let elapsed = i128::from(global - self.base_global);
        self.base_local + elapsed + elapsed * i128::from(self.drift_ppm) / 1_000_000
    }

    /// The global time that passes while `after` passes on this clock.
    fn global_span(&self, after: Duration) -> u64 {
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let span = i128::from(after.as_nanos()) * 1_000_000 / rate.max(1);
        span.min(i128::from(u64::MAX)) as u64
    }
}

pub(crate) struct NodeState {
    pub(crate) incarnation: u32,
    pub(crate) rng: Rng,
    status: Status,
    started: bool,
    is_client: bool,
    busy_until: u64,
    clock: Clock,
    /// Slots of events that arrived while the node was paused, in arrival order.
    deferred: Vec<u32>,
    /// Slots of events waiting for the node to finish charged work, in arrival order; one
    /// `Wake` at a time lets the first through, so a busy node costs O(log n) per event.
    busy_waiting: VecDeque<u32>,
    wake_pending: bool,
}

struct Network {
    size: usize,
    /// Index 0 is the node-to-node default, 1 the client default, later ones overrides.
    configs: Vec<LinkConfig>,
    link_config: Vec<u16>,
    cut: Vec<bool>,
    held: Vec<bool>,
    in_flight: Vec<u32>,
    /// Slots of held messages per link, in arrival order.
    held_messages: BTreeMap<usize, Vec<u32>>,
}

/// The engine's state that handlers reach through `Context`.
pub(crate) struct Core<M, T> {
    seed: u64,
    now: u64,
    sequence: u64,
    queue: BinaryHeap<Reverse<Entry>>,
    slots: Vec<Slot<M, T>>,
    free_slots: Vec<u32>,
    pub(crate) nodes: Vec<NodeState>,
    network: Network,
    network_rng: Rng,
    trace: Trace,
    pub(crate) metrics: Metrics,
    history: Vec<HistoryRecord>,
    fault_counts: BTreeMap<&'static str, u64>,
    stats: NetworkStats,
    next_message_id: u64,
    next_timer_id: u64,
    events_handled: u64,
    events_max: u64,
    /// One disk per node; disks outlive crashes.
    pub(crate) disks: Vec<Disk>,
    disk_rngs: Vec<Rng>,
    disk_config: DiskConfig,
    /// Nodes whose disks have suffered a storage fault (the disk fault budget).
    disk_faulty: Vec<u32>,
    next_io_id: u64,
}

type Factory<M, T> = Box<dyn FnMut(NodeId) -> Box<dyn Node<Message = M, Timer = T>>>;

/// A simulation of nodes exchanging messages of type `M` and setting timers of type `T`.
pub struct Simulation<M, T> {
    core: Core<M, T>,
    instances: Vec<Option<Box<dyn Node<Message = M, Timer = T>>>>,
    factories: Vec<Factory<M, T>>,
}

impl<M: Message, T: Message> Simulation<M, T> {
    pub fn new(config: Config) -> Simulation<M, T> {
        CURRENT.with(|c| c.set((0, NO_NODE)));
        config.link.validate().expect("invalid node-to-node link");
        config.client_link.validate().expect("invalid client link");
        config.disk.validate().expect("invalid disk configuration");
        Simulation {
            core: Core {
                seed: config.seed,
                now: 0,
                sequence: 0,
                queue: BinaryHeap::new(),
                slots: Vec::new(),
                free_slots: Vec::new(),
                nodes: Vec::new(),
                network: Network {
                    size: 0,
                    configs: vec![config.link, config.client_link],
                    link_config: Vec::new(),
                    cut: Vec::new(),
                    held: Vec::new(),
                    in_flight: Vec::new(),
                    held_messages: BTreeMap::new(),
                },
                network_rng: Rng::from_seed(config.seed, stream::NETWORK),
                trace: Trace::new(config.trace_level),
                metrics: Metrics::default(),
                history: Vec::new(),
                fault_counts: BTreeMap::new(),
                stats: NetworkStats::default(),
                next_message_id: 0,
                next_timer_id: 0,
                events_handled: 0,
                events_max: config.events_max,
                disks: Vec::new(),
                disk_rngs: Vec::new(),
                disk_config: config.disk,
                disk_faulty: Vec::new(),
                next_io_id: 0,
            },
            instances: Vec::new(),
            factories: Vec::new(),
        }
    }

    /// Adds a server node, started at time zero. `factory` builds a fresh instance for the
    /// first start and for every restart.
    pub fn add_node<N, F>(&mut self, factory: F) -> NodeId
    where
        N: Node<Message = M, Timer = T>,
        F: FnMut(NodeId) -> N + 'static,
    {
        self.add(factory, false)
    }

    /// Adds a client (a workload generator). Links to and from clients use the client link
    /// configuration, and generated fault schedules leave clients alone.
    pub fn add_client<N, F>(&mut self, factory: F) -> NodeId
    where
        N: Node<Message = M, Timer = T>,
        F: FnMut(NodeId) -> N + 'static,
    {
        self.add(factory, true)
    }

    fn add<N, F>(&mut self, mut factory: F, is_client: bool) -> NodeId
    where
        N: Node<Message = M, Timer = T>,
        F: FnMut(NodeId) -> N + 'static,
    {
        assert!(
            self.core.events_handled == 0,
            "add every node before the simulation runs"
        );
        let id = NodeId(self.core.nodes.len() as u32);
        self.core.nodes.push(NodeState {
            incarnation: 0,
            rng: Rng::for_node(self.core.seed, id.0, 0),
            status: Status::Down,
            started: false,
            is_client,
            busy_until: 0,
            clock: Clock {
                base_global: 0,
                base_local: 0,
                drift_ppm: 0,
            },
            deferred: Vec::new(),
            busy_waiting: VecDeque::new(),
            wake_pending: false,
        });
        self.core.disks.push(Disk::default());
        let disk_stream = stream::DISK_BASE + u64::from(id.0);
        self.core
            .disk_rngs
            .push(Rng::from_seed(self.core.seed, disk_stream));
        self.instances.push(None);
        self.factories
            .push(Box::new(move |id| Box::new(factory(id))));
        self.core.network.resize(&self.core.nodes);
        self.core.push(0, Event::Start { node: id.0 });
        id
    }

    /// Schedules a fault at a global virtual time.
    pub fn schedule(&mut self, at: Instant, fault: Fault) {
        let at = at.as_nanos().max(self.core.now);
        self.core.push(at, Event::Fault(fault));
    }

    pub fn schedule_all(&mut self, faults: &[ScheduledFault]) {
        for scheduled in faults {
            self.schedule(scheduled.at, scheduled.fault.clone());
        }
    }

    /// Global virtual time.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.core.now)
    }

    pub fn node_count(&self) -> usize {
        self.core.nodes.len()
    }

    /// Servers, in id order.
    pub fn servers(&self) -> Vec<NodeId> {
        (0..self.core.nodes.len() as u32)
            .map(NodeId)
            .filter(|n| !self.core.nodes[n.index()].is_client)
            .collect()
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.core.nodes[node.index()].status == Status::Up
    }

    /// Read access to a live node's state, for checkers: `None` if the node is down or is
    /// not an `N`.
    pub fn node<N: Any>(&self, node: NodeId) -> Option<&N> {
        let instance: &dyn Any = self.instances[node.index()].as_deref()?;
        instance.downcast_ref::<N>()
    }

    pub fn history(&self) -> &[HistoryRecord] {
        &self.core.history
    }

    pub fn trace(&self) -> &Trace {
        &self.core.trace
    }

    pub fn into_parts(self) -> (Trace, Vec<HistoryRecord>) {
        (self.core.trace, self.core.history)
    }

    /// A node's disk, for checkers.
    pub fn disk(&self, node: NodeId) -> &Disk {
        &self.core.disks[node.index()]
    }

    pub fn metrics(&self) -> &Metrics {
        &self.core.metrics
    }

    pub fn metrics_mut(&mut self) -> &mut Metrics {
        &mut self.core.metrics
    }

    /// Faults injected so far, by kind.
    pub fn fault_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.core.fault_counts
    }

    pub fn network_stats(&self) -> NetworkStats {
        let mut stats = self.core.stats;
        stats.in_flight = self
            .core
            .network
            .in_flight
            .iter()
            .map(|&n| u64::from(n))
            .sum();
        stats
    }

    /// Handles the next event, if there is one; returns false when the queue is empty.
    pub fn step(&mut self) -> bool {
        match self.core.queue.peek() {
            Some(&Reverse(entry)) => {
                self.core.queue.pop();
                self.handle(entry);
                true
            }
            None => false,
        }
    }

    /// Handles every event up to and including `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: Instant) {
        let deadline = deadline.as_nanos();
        while let Some(&Reverse(entry)) = self.core.queue.peek() {
            if entry.time > deadline {
                break;
            }
            self.core.queue.pop();
            self.handle(entry);
        }
        self.core.now = self.core.now.max(deadline);
    }

    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now() + span);
    }

    /// Runs until `condition` holds, checking it every `period` of virtual time, or until
    /// `deadline`. Returns whether the condition held.
    pub fn run_until_condition(
        &mut self,
        deadline: Instant,
        period: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> bool {
        assert!(period > Duration::ZERO);
        loop {
            if condition(self) {
                return true;
            }
            if self.now() >= deadline {
                return false;
            }
            let next = (self.now() + period).min(deadline);
            self.run_until(next);
        }
    }

    /// Applies a fault now.
    pub fn apply(&mut self, fault: Fault) {
        self.apply_fault(fault);
    }

    /// Starts a named phase of the run; it shows in the trace.
    pub fn begin_phase(&mut self, name: &str) {
        self.core.trace.phase(self.core.now, name);
    }

    /// The liveness phase begins: every fault is healed. Partitions heal, held links release,
    /// paused nodes resume, crashed nodes restart, and lossy or duplicating links (overrides
    /// included) become reliable. Latency and clock skew stay: they are not faults.
    pub fn heal_all(&mut self) {
        self.begin_phase("liveness");
        self.apply_fault(Fault::Heal);
        let held: Vec<usize> = self.core.network.held_messages.keys().copied().collect();
        for link in held {
            let size = self.core.network.size;
            let (from, to) = (NodeId((link / size) as u32), NodeId((link % size) as u32));
            self.apply_fault(Fault::Release { from, to });
        }
        self.core.network.held.iter_mut().for_each(|h| *h = false);
        for config in &mut self.core.network.configs {
            config.loss_ppm = 0;
            config.duplicate_ppm = 0;
        }
        // Disks stop failing; what they already lost or corrupted stays so, and a full disk
        // stays full.
        let faults = &mut self.core.disk_config.faults;
        faults.read_corrupt_ppm = 0;
        faults.latent_ppm = 0;
        faults.read_error_ppm = 0;
        faults.write_error_ppm = 0;
        faults.misdirect_ppm = 0;
        for node in 0..self.core.nodes.len() as u32 {
            match self.core.nodes[node as usize].status {
                Status::Paused => self.apply_fault(Fault::Resume(NodeId(node))),
                Status::Down if self.core.nodes[node as usize].started => {
                    self.apply_fault(Fault::Restart(NodeId(node)))
                }
                _ => {}
            }
        }
    }

    /// A report of the run so far.
    pub fn report(&self, scenario: &str, seed: u64, bug: Option<&str>, verdict: Verdict) -> Report {
        let (counters, gauges, latencies) = self.core.metrics.summarize();
        Report {
            scenario: scenario.to_string(),
            seed,
            bug: bug.map(str::to_string),
            verdict,
            counters,
            gauges,
            latencies,
            faults: self
                .core
                .fault_counts
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            trace_hash: self.core.trace.hash(),
            event_count: self.core.trace.event_count(),
            virtual_time: self.now() - Instant::ZERO,
        }
    }

    fn handle(&mut self, entry: Entry) {
        let core = &mut self.core;
        assert!(entry.time >= core.now, "the event queue went back in time");
        core.now = entry.time;
        core.events_handled += 1;
        assert!(
            core.events_handled <= core.events_max,
            "more than {} events: a runaway simulation (a zero-delay timer or message loop?)",
            core.events_max
        );
        let slot = entry.slot as usize;
        let Some(event) = core.slots[slot].event.as_ref() else {
            // A cancelled timer.
            core.free(entry.slot);
            return;
        };
        if let Some(target) = event.target() {
            let state = &mut core.nodes[target as usize];
            if state.status == Status::Paused {
                state.deferred.push(entry.slot);
                return;
            }
            if state.status == Status::Up
                && (state.busy_until > core.now || !state.busy_waiting.is_empty())
            {
                // Behind the node's charged work, and behind whatever already waits for it.
                state.busy_waiting.push_back(entry.slot);
                if !std::mem::replace(&mut state.wake_pending, true) {
                    let at = state.busy_until.max(core.now);
                    core.push(at, Event::Wake { node: target });
                }
                return;
            }
        }
        self.dispatch(entry.slot);
    }

    /// Handles the event in `slot` now (its node is up and free, or the event needs no node).
    fn dispatch(&mut self, slot: u32) {
        let core = &mut self.core;
        let Some(event) = core.slots[slot as usize].event.as_ref() else {
            // A cancelled timer.
            core.free(slot);
            return;
        };
        if let Event::Deliver { from, to, id, .. } = *event {
            let link = core.network.link(from, to);
            if core.network.held[link] && core.nodes[to as usize].status == Status::Up {
                core.trace.hold(core.now, from, to, id);
                core.network
                    .held_messages
                    .entry(link)
                    .or_default()
                    .push(slot);
                return;
            }
        }
        let event = core.slots[slot as usize]
            .event
            .take()
            .expect("checked above");
        core.free(slot);
        match event {
            Event::Start { node } => self.start(node),
            Event::Deliver {
                from,
                to,
                id,
                message,
            } => self.deliver(from, to, id, message),
            Event::Timer {
                node,
                incarnation,
                id,
                timer,
            } => {
                let state = &self.core.nodes[node as usize];
                if state.status != Status::Up || state.incarnation != incarnation {
                    return; // The node crashed since; its timers died with it.
                }
                self.core.trace.timer_fire(self.core.now, node, id, &timer);
                let instance = self.instances[node as usize]
                    .as_mut()
                    .expect("up node has an instance");
                CURRENT.with(|c| c.set((self.core.now, node)));
                let mut ctx = Context {
                    core: &mut self.core,
                    node: NodeId(node),
                };
                instance.on_timer(&mut ctx, timer);
                leave_handler();
            }
            Event::Fault(fault) => self.apply_fault(fault),
            Event::Wake { node } => self.wake(node),
            Event::DiskDone {
                node,
                incarnation,
                id,
                result,
                durability,
            } => {
                let state = &self.core.nodes[node as usize];
                if state.status != Status::Up || state.incarnation != incarnation {
                    return; // The node crashed since: the crash already decided what survived.
                }
                let core = &mut self.core;
                if let Some(durability) = durability {
                    core.disks[node as usize].make_durable(durability);
                }
                core.trace.disk_complete(core.now, node, id, &result);
                let instance = self.instances[node as usize]
                    .as_mut()
                    .expect("up node has an instance");
                CURRENT.with(|c| c.set((core.now, node)));
                let mut ctx = Context {
                    core,
                    node: NodeId(node),
                };
                instance.on_disk(&mut ctx, IoId(id), result);
                leave_handler();
            }
        }
    }

    /// Lets the first event waiting for a busy node through, once its work is done.
    fn wake(&mut self, node: u32) {
        let core = &mut self.core;
        let state = &mut core.nodes[node as usize];
        state.wake_pending = false;
        match state.status {
            // A crash already dropped what waited.
            Status::Down => return,
            // They wait for the resume now, ahead of what arrived during the pause.
            Status::Paused => {
                let mut waiting: Vec<u32> = state.busy_waiting.drain(..).collect();
                waiting.append(&mut state.deferred);
                state.deferred = waiting;
                return;
            }
            Status::Up => {}
        }
        if state.busy_until <= core.now
            && let Some(slot) = state.busy_waiting.pop_front()
        {
            self.dispatch(slot);
        }
        let core = &mut self.core;
        let state = &mut core.nodes[node as usize];
        if state.status == Status::Up && !state.busy_waiting.is_empty() && !state.wake_pending {
            state.wake_pending = true;
            let at = state.busy_until.max(core.now);
            core.push(at, Event::Wake { node });
        }
    }

    fn deliver(&mut self, from: u32, to: u32, id: u64, message: M) {
        let core = &mut self.core;
        let link = core.network.link(from, to);
        core.network.in_flight[link] -= 1;
        let reason = if core.nodes[to as usize].status == Status::Down {
            Some(DropReason::NodeDown)
        } else if core.network.cut[link] {
            Some(DropReason::Partition)
        } else {
            None
        };
        if let Some(reason) = reason {
            core.stats.dropped += 1;
            core.trace.drop_message(core.now, from, to, id, reason);
            return;
        }
        core.stats.delivered += 1;
        core.trace.deliver(core.now, from, to, id, &message);
        let instance = self.instances[to as usize]
            .as_mut()
            .expect("up node has an instance");
        CURRENT.with(|c| c.set((core.now, to)));
        let mut ctx = Context {
            core,
            node: NodeId(to),
        };
        instance.on_message(&mut ctx, NodeId(from), message);
        leave_handler();
    }

    /// Starts a node that is down: its first start, or a restart with a fresh instance and a
    /// fresh random stream.
    fn start(&mut self, node: u32) {
        let core = &mut self.core;
        let state = &mut core.nodes[node as usize];
        if state.status != Status::Down {
            return;
        }
        if state.started {
            state.incarnation += 1;
            state.rng = Rng::for_node(core.seed, node, state.incarnation);
        }
        state.started = true;
        state.status = Status::Up;
        state.busy_until = 0;
        let incarnation = state.incarnation;
        core.trace.start(core.now, node, incarnation);
        CURRENT.with(|c| c.set((core.now, node)));
        let mut instance = (self.factories[node as usize])(NodeId(node));
        let mut ctx = Context {
            core,
            node: NodeId(node),
        };
        instance.on_start(&mut ctx);
        leave_handler();
        self.instances[node as usize] = Some(instance);
    }

    fn apply_fault(&mut self, fault: Fault) {
        let core = &mut self.core;
        let now = core.now;
        let size = core.nodes.len() as u32;
        let known = |n: &NodeId| n.0 < size;
        let kind = fault.kind();
        match &fault {
            Fault::Partition(partition) => {
                assert!(
                    partition.nodes().iter().all(known),
                    "partition names an unknown node: {partition}"
                );
                core.network.cut.iter_mut().for_each(|c| *c = false);
                for (from, to) in partition.cut_links() {
                    let link = core.network.link(from.0, to.0);
                    core.network.cut[link] = true;
                }
                core.trace
                    .fault(now, NO_NODE, kind, format_args!("{partition}"));
            }
            Fault::Heal => {
                core.network.cut.iter_mut().for_each(|c| *c = false);
                core.trace
                    .fault(now, NO_NODE, kind, format_args!("all links restored"));
            }
            Fault::Crash(node) => {
                assert!(known(node), "crash of unknown node {node}");
                let state = &mut core.nodes[node.index()];
                if state.status == Status::Down {
                    return;
                }
                state.status = Status::Down;
                state.busy_until = 0;
                let deferred = std::mem::take(&mut state.deferred);
                let state_busy_waiting = std::mem::take(&mut state.busy_waiting);
                state.wake_pending = false;
                self.instances[node.index()] = None;
                core.trace.crash(now, node.0);
                let events = core.disks[node.index()]
                    .crash(&core.disk_config, &mut core.disk_rngs[node.index()]);
                for event in events {
                    *core.fault_counts.entry(event.kind).or_insert(0) += 1;
                    core.trace
                        .fault(now, node.0, event.kind, format_args!("{}", event.detail));
                }
                // Messages held on links into the node wait in the network for a node that is
                // gone: like those it had not handled yet, they are dropped.
                let size = core.network.size;
                let held_into: Vec<usize> = core
                    .network
                    .held_messages
                    .keys()
                    .copied()
                    .filter(|link| link % size == node.index())
                    .collect();
                let mut dropped = deferred;
                dropped.extend(state_busy_waiting);
                for link in held_into {
                    dropped.extend(core.network.held_messages.remove(&link).unwrap_or_default());
                }
                for slot in dropped {
                    if let Some(Event::Deliver { from, to, id, .. }) =
                        core.slots[slot as usize].event.take()
                    {
                        let link = core.network.link(from, to);
                        core.network.in_flight[link] -= 1;
                        core.stats.dropped += 1;
                        core.trace
                            .drop_message(now, from, to, id, DropReason::NodeDown);
                    }
                    core.free(slot);
                }
            }
            Fault::Restart(node) => {
                assert!(known(node), "restart of unknown node {node}");
                if core.nodes[node.index()].status != Status::Down {
                    return;
                }
                self.start(node.0);
                return;
            }
            Fault::Pause(node) => {
                assert!(known(node), "pause of unknown node {node}");
                if core.nodes[node.index()].status != Status::Up {
                    return;
                }
                core.nodes[node.index()].status = Status::Paused;
                core.trace.pause(now, node.0);
            }
            Fault::Resume(node) => {
                assert!(known(node), "resume of unknown node {node}");
                let state = &mut core.nodes[node.index()];
                if state.status != Status::Paused {
                    return;
                }
                state.status = Status::Up;
                let deferred = std::mem::take(&mut state.deferred);
                core.trace.resume(now, node.0);
                for slot in deferred {
                    core.requeue(now, slot);
                }
            }
            Fault::Hold { from, to } => {
                assert!(
                    known(from) && known(to),
                    "hold of an unknown link {from}->{to}"
                );
                let link = core.network.link(from.0, to.0);
                core.network.held[link] = true;
                core.trace
                    .fault(now, NO_NODE, kind, format_args!("{from} -> {to}"));
            }
            Fault::Release { from, to } => {
                assert!(
                    known(from) && known(to),
                    "release of an unknown link {from}->{to}"
                );
                let link = core.network.link(from.0, to.0);
                core.network.held[link] = false;
                core.trace
                    .fault(now, NO_NODE, kind, format_args!("{from} -> {to}"));
                let held = core.network.held_messages.remove(&link).unwrap_or_default();
                for slot in held {
                    let config = &core.network.configs[core.network.link_config[link] as usize];
                    let latency = config.latency.sample(&mut core.network_rng);
                    core.requeue(now + latency.as_nanos(), slot);
                }
            }
            Fault::ClockJump { node, offset_nanos } => {
                assert!(known(node), "clock jump of unknown node {node}");
                let clock = &mut core.nodes[node.index()].clock;
                let local = clock.local(now);
                *clock = Clock {
                    base_global: now,
                    base_local: local + i128::from(*offset_nanos),
                    drift_ppm: clock.drift_ppm,
                };
                core.trace.fault(
                    now,
                    node.0,
                    kind,
                    format_args!("{}", SignedNanos(*offset_nanos)),
                );
            }
            Fault::ClockDrift { node, drift_ppm } => {
                assert!(known(node), "clock drift of unknown node {node}");
                let clock = &mut core.nodes[node.index()].clock;
                *clock = Clock {
                    base_global: now,
                    base_local: clock.local(now),
                    drift_ppm: *drift_ppm,
                };
                core.trace
                    .fault(now, node.0, kind, format_args!("{drift_ppm}ppm"));
            }
            Fault::Link { from, to, config } => {
                assert!(
                    known(from) && known(to),
                    "override of an unknown link {from}->{to}"
                );
                let link = core.network.link(from.0, to.0);
                match config {
                    Some(config) => {
                        config.validate().expect("invalid link override");
                        assert!(
                            core.network.configs.len() < usize::from(u16::MAX),
                            "too many link overrides"
                        );
                        core.network.configs.push(config.clone());
                        core.network.link_config[link] = (core.network.configs.len() - 1) as u16;
                        core.trace.fault(
                            now,
                            NO_NODE,
                            kind,
                            format_args!("{from} -> {to}: {config:?}"),
                        );
                    }
                    None => {
                        core.network.link_config[link] =
                            core.network.default_config(from.0, to.0, &core.nodes);
                        core.trace.fault(
                            now,
                            NO_NODE,
                            kind,
                            format_args!("{from} -> {to}: default"),
                        );
                    }
                }
            }
        }
        if !fault.is_repair() {
            *core.fault_counts.entry(kind).or_insert(0) += 1;
        }
    }
}

/// `-250ms`, `+1s`.
struct SignedNanos(i64);

impl fmt::Display for SignedNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        write!(f, "{sign}{}", Duration::from_nanos(self.0.unsigned_abs()))
    }
}

impl Network {
    #[inline]
    fn link(&self, from: u32, to: u32) -> usize {
        from as usize * self.size + to as usize
    }

    fn default_config(&self, from: u32, to: u32, nodes: &[NodeState]) -> u16 {
        u16::from(nodes[from as usize].is_client || nodes[to as usize].is_client)
    }

    /// Grows the link tables to the node count; only before the run starts.
    fn resize(&mut self, nodes: &[NodeState]) {
        let size = nodes.len();
        self.size = size;
        self.link_config = (0..size * size)
            .map(|link| self.default_config((link / size) as u32, (link % size) as u32, nodes))
            .collect();
        self.cut = vec![false; size * size];
        self.held = vec![false; size * size];
        self.in_flight = vec![0; size * size];
    }
}

impl<M: Message, T: Message> Core<M, T> {
    #[inline]
    fn push(&mut self, time: u64, event: Event<M, T>) -> TimerId {
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    event: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        debug_assert!(entry.event.is_none());
        entry.event = Some(event);
        let generation = entry.generation;
        self.requeue(time, slot);
        TimerId { slot, generation }
    }

    #[inline]
    fn requeue(&mut self, time: u64, slot: u32) {
        self.queue.push(Reverse(Entry {
            time,
            sequence: self.sequence,
            slot,
        }));
        self.sequence += 1;
    }

    #[inline]
    fn free(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free_slots.push(slot);
    }

    pub(crate) fn local_now(&self, node: NodeId) -> Instant {
        let local = self.nodes[node.index()].clock.local(self.now);
        Instant::from_nanos(local.clamp(0, i128::from(u64::MAX)) as u64)
    }

    #[inline]
    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, message: M) {
        assert!(
            to.index() < self.nodes.len(),
            "{from} sent to unknown node {to}"
        );
        let (from, to) = (from.0, to.0);
        let id = self.next_message_id;
        self.next_message_id += 1;
        self.stats.sent += 1;
        self.trace.send(self.now, from, to, id, &message);
        let link = self.network.link(from, to);
        if self.network.cut[link] {
            self.stats.dropped += 1;
            self.trace
                .drop_message(self.now, from, to, id, DropReason::Partition);
            return;
        }
        let config = &self.network.configs[self.network.link_config[link] as usize];
        if self.network_rng.chance_ppm(config.loss_ppm) {
            self.stats.dropped += 1;
            *self.fault_counts.entry("loss").or_insert(0) += 1;
            self.trace
                .drop_message(self.now, from, to, id, DropReason::Loss);
            return;
        }
        let capacity = config.queue_capacity;
        if self.network.in_flight[link] >= capacity {
            self.stats.dropped += 1;
            self.trace
                .drop_message(self.now, from, to, id, DropReason::QueueFull);
            return;
        }
        if self.network_rng.chance_ppm(config.duplicate_ppm)
            && self.network.in_flight[link] + 1 < capacity
        {
            let latency = config.latency.sample(&mut self.network_rng);
            self.stats.duplicated += 1;
            *self.fault_counts.entry("duplicate").or_insert(0) += 1;
            self.trace.duplicate(self.now, from, to, id);
            self.network.in_flight[link] += 1;
            let copy = Event::Deliver {
                from,
                to,
                id,
                message: message.clone(),
            };
            self.push(self.now + latency.as_nanos(), copy);
        }
        let config = &self.network.configs[self.network.link_config[link] as usize];
        let latency = config.latency.sample(&mut self.network_rng);
        self.network.in_flight[link] += 1;
        self.push(
            self.now + latency.as_nanos(),
            Event::Deliver {
                from,
                to,
                id,
                message,
            },
        );
    }

    pub(crate) fn set_timer(&mut self, node: NodeId, after: Duration, timer: T) -> TimerId {
        let state = &self.nodes[node.index()];
        let incarnation = state.incarnation;
        let span = state.clock.global_span(after);
        let id = self.next_timer_id;
        self.next_timer_id += 1;
        self.trace
            .timer_set(self.now, node.0, id, after.as_nanos(), &timer);
        self.push(
            self.now.saturating_add(span),
            Event::Timer {
                node: node.0,
                incarnation,
                id,
                timer,
            },
        )
    }

    pub(crate) fn cancel_timer(&mut self, node: NodeId, handle: TimerId) {
        let Some(slot) = self.slots.get_mut(handle.slot as usize) else {
            return;
        };
        if slot.generation != handle.generation {
            return;
        }
        if let Some(Event::Timer {
            node: owner, id, ..
        }) = slot.event
        {
            assert_eq!(owner, node.0, "{node} cancelled another node's timer");
            slot.event = None;
            self.trace.timer_cancel(self.now, node.0, id);
        }
    }

    pub(crate) fn charge(&mut self, node: NodeId, busy: Duration) {
        let state = &mut self.nodes[node.index()];
        state.busy_until = state.busy_until.max(self.now) + busy.as_nanos();
    }

    pub(crate) fn annotate(&mut self, node: NodeId, text: fmt::Arguments<'_>) {
        self.trace.note(self.now, node.0, text);
    }

    pub(crate) fn disk_submit(&mut self, node: NodeId, op: DiskOp) -> IoId {
        let index = node.index();
        let id = self.next_io_id;
        self.next_io_id += 1;
        self.trace.disk_submit(self.now, node.0, id, &op);
        let faults = &self.disk_config.faults;
        let faulty = faults.any()
            && (faults.unlimited
                || self.disk_faulty.contains(&node.0)
                || self.disk_faulty.len() < faults.nodes_max as usize);
        let submitted =
            self.disks[index].submit(&op, &self.disk_config, faulty, &mut self.disk_rngs[index]);
        for event in &submitted.events {
            *self.fault_counts.entry(event.kind).or_insert(0) += 1;
            self.trace.fault(
                self.now,
                node.0,
                event.kind,
                format_args!("{}", event.detail),
            );
            if event.kind != "disk-full" && !self.disk_faulty.contains(&node.0) {
                self.disk_faulty.push(node.0);
            }
        }
        let incarnation = self.nodes[index].incarnation;
        self.push(
            self.now + submitted.latency.as_nanos(),
            Event::DiskDone {
                node: node.0,
                incarnation,
                id,
                result: submitted.result,
                durability: submitted.durability,
            },
        );
        IoId(id)
    }

    pub(crate) fn record_history(&mut self, node: NodeId, mut record: HistoryRecord) {
        record.time = self.now;
        self.trace.client(self.now, node.0, &record);
        self.history.push(record);
    }
}
