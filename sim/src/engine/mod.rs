//! The discrete-event engine. One thread, one event queue ordered by (time, insertion
//! sequence), and a clock that jumps straight to the next event.
//!
//! - `queue`: the heap of (time, sequence, slot) over a reusable slab of events, so delivering
//!   a message allocates and clones nothing: the message moves from the sender's effect buffer
//!   into its slot and from there into the receiver's handler (its wire encoding is streamed
//!   into the trace hash, never into a buffer).
//! - `network`: links, partitions, held links, loss, duplication, queues, delivery.
//! - `nodes`: node lifecycle (start, crash, restart, pause, resume), clocks, timer tables, and
//!   the one place that calls a handler and carries out its effects.
//! - `faults`: applying a scheduled fault, and healing every fault for the liveness phase.
//! - `storage`: disk operations as effects, and their completions.

mod faults;
mod network;
mod nodes;
mod queue;
mod storage;

use crate::HistoryEvent;
use crate::api::{
    Effect, Message, NoObservation, Node, NodeId, Observation, Observed, OnlineChecker, Timer,
    Violation,
};
use crate::disk::{Disk, DiskConfig};
use crate::limits::{NODES_MAX, OBSERVATIONS_MAX};
use crate::net::LinkConfig;
use crate::plan::{Fault, ScheduledFault};
use crate::report::{Metrics, Report, Verdict};
use crate::rng::{Keys, Rng, stream};
use crate::time::{Duration, Instant};
use crate::trace::{LOG_LINE_BYTES_MAX, LOG_LINES_MAX, NO_NODE, Trace, TraceLevel};
use network::Network;
use nodes::{NodeState, PendingTimer, Status};
use queue::{Entry, Event, EventQueue};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

pub use network::NetworkStats;

thread_local! {
    /// The event being handled, for log lines (see `current_event`).
    static CURRENT: Cell<(u64, u32)> = const { Cell::new((0, NO_NODE)) };
    /// The log lines (level, text) of the handler running now, while its run records its
    /// trace (see `capture_log_line`); `None` otherwise.
    static LOG_LINES: RefCell<Option<Vec<(String, String)>>> = const { RefCell::new(None) };
}

/// Captures the log lines of a node's code (a handler, or its constructor) for a recording
/// trace, from `start` to `finish`. If the code panics, its lines so far go to stderr, as
/// lines that no trace keeps do, and the thread stops capturing.
pub(crate) struct LogCapture(());

impl LogCapture {
    pub(crate) fn start() -> LogCapture {
        LOG_LINES.with(|lines| *lines.borrow_mut() = Some(Vec::new()));
        LogCapture(())
    }

    /// The lines captured, as (level, text).
    pub(crate) fn finish(self) -> Vec<(String, String)> {
        LOG_LINES
            .with(|lines| lines.borrow_mut().take())
            .unwrap_or_default()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        let Some(lines) = LOG_LINES.with(|lines| lines.borrow_mut().take()) else {
            return;
        };
        let (time, node) = current_event();
        let node = node.map_or_else(|| "--".to_string(), |n| n.to_string());
        for (level, text) in lines {
            eprintln!("{time:>10} {node:<4} {level:>5} {text}");
        }
    }
}

/// Keeps a log line in the trace of the run whose handler is running on this thread, stamped
/// with the event's time and node, if that run records its trace; false otherwise (the
/// caller shows the line elsewhere). For log subscribers (`traces::logging`): a line in the
/// trace is never hashed, so it cannot change the run.
/// A line is cut to `trace::LOG_LINE_BYTES_MAX`, and one handler's lines past
/// `trace::LOG_LINES_MAX` are dropped, so that memory stays bounded.
pub fn capture_log_line(level: &str, text: &str) -> bool {
    LOG_LINES.with(|lines| match lines.borrow_mut().as_mut() {
        Some(lines) => {
            if lines.len() <= LOG_LINES_MAX {
                lines.push((level.to_string(), cut(text, LOG_LINE_BYTES_MAX)));
            }
            true
        }
        None => false,
    })
}

/// `text`, cut at a character boundary to at most `bytes` bytes and marked so if it was.
fn cut(text: &str, bytes: usize) -> String {
    if text.len() <= bytes {
        return text.to_string();
    }
    let end = (0..=bytes)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{} [cut]", &text[..end])
}

/// The global virtual time and node of the event being handled on this thread: log lines
/// written through `tracing` are stamped with it (see `traces::logging`), and a panic inside a
/// handler is reported with it. The node is `None` outside handlers.
///
/// This is context the host owns, for logs and panic messages (and later, deterministic
/// randomness for third-party code that reaches for a global); it is not a channel for
/// scenarios to read protocol state.
pub fn current_event() -> (Instant, Option<NodeId>) {
    let (time, node) = CURRENT.with(Cell::get);
    let node = (node != NO_NODE).then_some(NodeId(node));
    (Instant::from_nanos(time), node)
}

/// The most events one virtual instant may hold before the run is declared stalled: time that
/// stops advancing (a zero-delay timer or message loop) would otherwise run without end.
pub const INSTANT_EVENTS_MAX: u64 = 1_000_000;

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
    /// A bound on the events one run may process; past it the run halts (see
    /// `Simulation::halted`).
    pub events_max: u64,
    /// A bound on the observations one run keeps; reaching it halts the run.
    pub observations_max: usize,
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
            observations_max: OBSERVATIONS_MAX,
        }
    }

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

/// Why a run stopped before its deadline: it ran away (too many events, or virtual time that
/// stopped advancing). Scenarios report it as a liveness failure.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Halt {
    pub at: Instant,
    pub reason: String,
}

/// The engine's state that handlers reach through `Context`.
pub(crate) struct Core<M, T, O> {
    seed: u64,
    now: u64,
    queue: EventQueue<M, T>,
    pub(crate) nodes: Vec<NodeState>,
    network: Network,
    /// The keys of every message's draws (`network.rs`).
    network_keys: Keys,
    trace: Trace,
    pub(crate) metrics: Metrics,
    history: Vec<HistoryEvent>,
    /// The servers that have joined (started once, or were added to start with the run), in
    /// id order: every node's `Context::members`.
    members: Vec<NodeId>,
    /// Each node's pending timers, by key.
    timers: Vec<BTreeMap<T, PendingTimer>>,
    /// The effect buffer handlers fill, reused from call to call.
    effects: Vec<Effect<M, T, O>>,
    /// Every observation of every node, crashed incarnations included, in order.
    observations: Vec<ObservationRecord<O>>,
    /// The online checkers, each shown every observation as it happens.
    checkers: Vec<Box<dyn OnlineChecker<O>>>,
    /// The first violation an online checker reported; the run stops at it.
    violation: Option<Violation>,
    observations_max: usize,
    fault_counts: BTreeMap<&'static str, u64>,
    next_message_id: u64,
    next_timer_id: u64,
    events_handled: u64,
    events_max: u64,
    /// Events handled at the current instant, for `INSTANT_EVENTS_MAX`.
    instant_events: u64,
    halted: Option<Halt>,
    /// One disk per node; disks outlive crashes.
    pub(crate) disks: Vec<Disk>,
    /// The keys of each node's disk draws (its operations', its crashes').
    disk_keys: Vec<Keys>,
    disk_config: DiskConfig,
    /// Nodes whose disks have suffered a storage fault (the disk fault budget).
    disk_faulty: Vec<u32>,
    /// The node that claimed leadership last (`Context::set_leading`), while it holds it and
    /// is up: the target of `Fault::CrashLeader`.
    leader: Option<NodeId>,
    /// The node each `Fault::CrashLeader` episode crashed, for its `Fault::RestartLeader`.
    leader_crashes: BTreeMap<u32, NodeId>,
}

type Instance<M, T, O> = Box<dyn Node<Message = M, Timer = T, Observation = O>>;
type Factory<M, T, O> = Box<dyn FnMut(NodeId) -> Instance<M, T, O>>;

/// One observation as the engine keeps it: who, when (global time), where in the trace.
#[derive(Clone, PartialEq, Debug)]
pub struct ObservationRecord<O> {
    pub time: Instant,
    pub node: NodeId,
    pub incarnation: u32,
    /// The observation's index among the trace's events.
    pub event: u64,
    pub observation: O,
}

/// A simulation of nodes exchanging messages of type `M`, setting timers of type `T` and
/// reporting observations of type `O`.
pub struct Simulation<M, T, O = NoObservation> {
    core: Core<M, T, O>,
    instances: Vec<Option<Instance<M, T, O>>>,
    factories: Vec<Factory<M, T, O>>,
}

impl<M: Message, T: Timer, O: Observation> Simulation<M, T, O> {
    pub fn new(config: Config) -> Simulation<M, T, O> {
        CURRENT.with(|c| c.set((0, NO_NODE)));
        config.link.validate().expect("invalid node-to-node link");
        config.client_link.validate().expect("invalid client link");
        config.disk.validate().expect("invalid disk configuration");
        Simulation {
            core: Core {
                seed: config.seed,
                now: 0,
                queue: EventQueue::new(),
                nodes: Vec::new(),
                network: Network::new(config.link, config.client_link),
                network_keys: Keys::new(config.seed, stream::NETWORK),
                trace: Trace::new(config.trace_level),
                metrics: Metrics::default(),
                history: Vec::new(),
                members: Vec::new(),
                timers: Vec::new(),
                effects: Vec::new(),
                observations: Vec::new(),
                checkers: Vec::new(),
                violation: None,
                observations_max: config.observations_max,
                fault_counts: BTreeMap::new(),
                next_message_id: 0,
                next_timer_id: 0,
                events_handled: 0,
                events_max: config.events_max,
                instant_events: 0,
                halted: None,
                disks: Vec::new(),
                disk_keys: Vec::new(),
                disk_config: config.disk,
                disk_faulty: Vec::new(),
                leader: None,
                leader_crashes: BTreeMap::new(),
            },
            instances: Vec::new(),
            factories: Vec::new(),
        }
    }

    /// Adds a server node, started at time zero. `factory` builds a fresh instance for the
    /// first start and for every restart.
    pub fn add_node<N, F>(&mut self, factory: F) -> NodeId
    where
        N: Node<Message = M, Timer = T, Observation = O>,
        F: FnMut(NodeId) -> N + 'static,
    {
        self.add(factory, false, Some(self.now()))
    }

    /// Adds a server node that joins the run at `at` (or now, if that is past): it is not
    /// among the other nodes' members, and generated faults leave it alone, until it starts.
    pub fn add_node_at<N, F>(&mut self, at: Instant, factory: F) -> NodeId
    where
        N: Node<Message = M, Timer = T, Observation = O>,
        F: FnMut(NodeId) -> N + 'static,
    {
        self.add(factory, false, Some(at))
    }

    /// Adds a server node that starts down: a plan step (`Fault::Start`) starts it.
    pub fn add_node_down<N, F>(&mut self, factory: F) -> NodeId
    where
        N: Node<Message = M, Timer = T, Observation = O>,
        F: FnMut(NodeId) -> N + 'static,
    {
        self.add(factory, false, None)
    }

    /// Adds a client (a workload generator), started now. Links to and from clients use the
    /// client link configuration, generated fault schedules leave clients alone, and clients
    /// are never among the members.
    pub fn add_client<N, F>(&mut self, factory: F) -> NodeId
    where
        N: Node<Message = M, Timer = T, Observation = O>,
        F: FnMut(NodeId) -> N + 'static,
    {
        self.add(factory, true, Some(self.now()))
    }

    fn add<N, F>(&mut self, mut factory: F, is_client: bool, start: Option<Instant>) -> NodeId
    where
        N: Node<Message = M, Timer = T, Observation = O>,
        F: FnMut(NodeId) -> N + 'static,
    {
        assert!(
            (self.core.nodes.len() as u64) < NODES_MAX,
            "a simulation has at most {NODES_MAX} nodes"
        );
        let core = &mut self.core;
        let id = NodeId(core.nodes.len() as u32);
        core.nodes.push(NodeState::new(
            Rng::for_node(core.seed, id.0, 0),
            Keys::new(core.seed, stream::KEYED_BASE + u64::from(id.0)),
            is_client,
        ));
        core.network.add_node(is_client);
        core.disks.push(Disk::default());
        let disk_stream = stream::DISK_BASE + u64::from(id.0);
        core.disk_keys.push(Keys::new(core.seed, disk_stream));
        core.timers.push(BTreeMap::new());
        self.instances.push(None);
        self.factories
            .push(Box::new(move |id| Box::new(factory(id))));
        if let Some(at) = start {
            let at = at.as_nanos().max(core.now);
            if at == core.now && !is_client {
                core.join(id);
            }
            core.queue.push(at, Event::Start { node: id.0 });
        }
        id
    }

    /// Schedules a fault at a global virtual time.
    pub fn schedule(&mut self, at: Instant, fault: Fault) {
        let at = at.as_nanos().max(self.core.now);
        self.core.queue.push(at, Event::Fault(fault));
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

    /// The servers that have joined, in id order (what every node's context calls members).
    pub fn members(&self) -> &[NodeId] {
        &self.core.members
    }

    /// Servers, in id order, joined or not.
    pub fn servers(&self) -> Vec<NodeId> {
        (0..self.core.nodes.len() as u32)
            .map(NodeId)
            .filter(|n| !self.core.nodes[n.index()].is_client)
            .collect()
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.core.nodes[node.index()].status == Status::Up
    }

    pub fn history(&self) -> &[HistoryEvent] {
        &self.core.history
    }

    /// The history so far, moved out (the simulation's history is empty after it): for the
    /// end of a run, when the checks take it.
    pub fn take_history(&mut self) -> Vec<HistoryEvent> {
        std::mem::take(&mut self.core.history)
    }

    pub fn trace(&self) -> &Trace {
        &self.core.trace
    }

    /// Every observation of every node so far, crashed incarnations included, in order.
    pub fn observations(&self) -> &[ObservationRecord<O>] {
        &self.core.observations
    }

    /// Registers an online checker: from now on it sees every observation as it happens, and
    /// the first `Err` it returns stops the run there (see `violation`).
    pub fn add_checker(&mut self, checker: impl OnlineChecker<O> + 'static) {
        self.core.checkers.push(Box::new(checker));
    }

    /// The violation an online checker reported, if one did; the run stopped at it.
    pub fn violation(&self) -> Option<&Violation> {
        self.core.violation.as_ref()
    }

    pub fn into_parts(self) -> (Trace, Vec<HistoryEvent>) {
        (self.core.trace, self.core.history)
    }

    /// A node's disk, for checkers.
    pub fn disk(&self, node: NodeId) -> &Disk {
        &self.core.disks[node.index()]
    }

    pub fn metrics(&self) -> &Metrics {
        &self.core.metrics
    }

    /// Faults injected so far, by kind.
    pub fn fault_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.core.fault_counts
    }

    pub fn network_stats(&self) -> NetworkStats {
        self.core.network.stats()
    }

    /// Why the run stopped early, if it ran away; it then handles no more events.
    pub fn halted(&self) -> Option<&Halt> {
        self.core.halted.as_ref()
    }

    /// Handles the next event, if there is one; returns false when the queue is empty, the
    /// run halted, or an online checker found a violation.
    pub fn step(&mut self) -> bool {
        if self.core.stopped() {
            return false;
        }
        match self.core.queue.pop_due(u64::MAX) {
            Some(entry) => {
                self.handle(entry);
                true
            }
            None => false,
        }
    }

    /// Handles every event up to and including `deadline`, then sets the clock to it (unless
    /// the run halted or an online checker found a violation).
    pub fn run_until(&mut self, deadline: Instant) {
        let deadline = deadline.as_nanos();
        while !self.core.stopped() {
            let Some(entry) = self.core.queue.pop_due(deadline) else {
                break;
            };
            self.handle(entry);
        }
        if !self.core.stopped() {
            self.core.now = self.core.now.max(deadline);
        }
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
            if self.now() >= deadline || self.core.stopped() {
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

    /// A report of the run so far.
    pub fn report(&self, scenario: &str, seed: u64, bug: Option<&str>, verdict: Verdict) -> Report {
        let (mut counters, gauges, latencies) = self.core.metrics.summarize();
        // What the engine counts itself, which no protocol can under-report.
        let stats = self.core.network.stats();
        for (name, value) in [
            ("msgs-server-to-server", stats.sent_server_to_server),
            ("msgs-client-to-server", stats.sent_client_to_server),
            ("msgs-server-to-client", stats.sent_server_to_client),
        ] {
            counters.insert(name.to_string(), value);
        }
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
        if self.core.queue.requeue_rearmed(entry.slot, entry.time) {
            return; // A timer re-armed for later: not an event yet.
        }
        if !self.core.advance(entry) {
            return;
        }
        let core = &mut self.core;
        let Some(event) = core.queue.get(entry.slot) else {
            core.queue.take(entry.slot); // A cancelled timer: free its slot.
            return;
        };
        if let Some(target) = event.target() {
            if core.nodes[target as usize].status == Status::Paused {
                core.nodes[target as usize].deferred.push(entry.slot);
                return;
            }
            if let Event::Deliver { from, to, id, .. } = *event
                && core.network.hold_if_held(from, to, entry.slot, &core.nodes)
            {
                core.trace.hold(core.now, from, to, id);
                return;
            }
        }
        let event = core.queue.take(entry.slot).expect("checked above");
        match event {
            Event::Start { node } => self.start(node),
            Event::Deliver {
                from,
                to,
                id,
                queued,
                message,
            } => self.deliver(from, to, id, queued, message),
            Event::Timer {
                node,
                incarnation,
                id,
                timer,
                ..
            } => self.fire_timer(node, incarnation, id, timer),
            Event::Fault(fault) => self.apply_fault(fault),
            Event::DiskDone {
                node,
                incarnation,
                id,
                result,
                durability,
            } => self.disk_done(node, incarnation, id, result, durability),
        }
    }
}

impl<M: Message, T: Timer, O: Observation> Core<M, T, O> {
    /// Moves the clock to `entry` and counts it; halts the run instead when it has run away.
    /// Returns whether the event may be handled.
    #[inline]
    fn advance(&mut self, entry: Entry) -> bool {
        assert!(entry.time >= self.now, "the event queue went back in time");
        if entry.time == self.now {
            self.instant_events += 1;
        } else {
            self.now = entry.time;
            self.instant_events = 1;
        }
        self.events_handled += 1;
        if self.events_handled <= self.events_max && self.instant_events <= INSTANT_EVENTS_MAX {
            return true;
        }
        let (kind, node) = match self.queue.get(entry.slot) {
            Some(event) => (event.kind(), event.target()),
            None => ("cancelled timer", None),
        };
        let on = node.map(|n| format!(" on n{n}")).unwrap_or_default();
        let reason = if self.events_handled > self.events_max {
            format!(
                "ran away: more than {} events (the last a {kind}{on})",
                self.events_max
            )
        } else {
            format!(
                "virtual time stopped advancing: more than {INSTANT_EVENTS_MAX} events at one \
                 instant (the last a {kind}{on}); a zero-delay timer or message loop?"
            )
        };
        self.halted = Some(Halt {
            at: Instant::from_nanos(self.now),
            reason,
        });
        false
    }

    /// A server joins the members (kept in id order).
    fn join(&mut self, node: NodeId) {
        if let Err(at) = self.members.binary_search(&node) {
            self.members.insert(at, node);
        }
    }

    /// Whether the run handles no more events: it halted, or an online checker failed it.
    #[inline]
    fn stopped(&self) -> bool {
        self.halted.is_some() || self.violation.is_some()
    }

    /// Records `observation` of `node` in the trace and the run's observations, and shows it
    /// to every online checker; the first to object stops the run.
    pub(crate) fn observe(&mut self, node: NodeId, observation: O) {
        let event = self.trace.event_count();
        self.trace.observe(self.now, node.0, &observation);
        let record = ObservationRecord {
            time: Instant::from_nanos(self.now),
            node,
            incarnation: self.nodes[node.index()].incarnation,
            event,
            observation,
        };
        if self.violation.is_none() {
            for checker in &mut self.checkers {
                let observed = Observed {
                    time: record.time,
                    node,
                    incarnation: record.incarnation,
                    event,
                    observation: &record.observation,
                };
                if let Err(message) = checker.observe(observed) {
                    self.violation = Some(Violation {
                        checker: checker.name().to_string(),
                        message,
                        time: record.time,
                        node,
                        event,
                    });
                    break;
                }
            }
        }
        self.observations.push(record);
        if self.observations.len() >= self.observations_max && self.halted.is_none() {
            self.halted = Some(Halt {
                at: Instant::from_nanos(self.now),
                reason: format!(
                    "kept {} observations (the last by {node}), the most a run keeps; does a \
                     protocol observe in a loop?",
                    self.observations_max
                ),
            });
        }
    }

    pub(crate) fn record_history(&mut self, node: NodeId, mut record: HistoryEvent) {
        record.time =
            Some(i64::try_from(self.now).expect("virtual time fits an i64 for 292 years"));
        self.trace.client(self.now, node.0, &record);
        self.history.push(record);
    }

    fn count_fault(&mut self, kind: &'static str) {
        *self.fault_counts.entry(kind).or_insert(0) += 1;
    }
}
