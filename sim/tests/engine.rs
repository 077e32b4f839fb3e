//! Goal: the engine's guarantees hold for any seed, network and fault schedule. Method: a
//! chatty test protocol (every node sends to random peers on random timers) runs under
//! generated swarm options and fault schedules; properties are checked against the recorded
//! trace and the network's accounting.

use proptest::prelude::*;
use sim::{
    Config, Context, Duration, Fault, FaultBudget, Instant, Latency, LinkConfig, Node, NodeId, Rng,
    ScheduledFault, Simulation, Swarm, TraceEvent, TraceLevel,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ping {
    sequence: u64,
}

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
enum Tick {
    Send,
}

/// What a chatter reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Chat {
    /// At start: its first draws, and how many pings this instance has received (0 unless
    /// memory survived a crash).
    Started { draws: Vec<u64>, received: u64 },
    /// A ping arrived: this instance's count so far.
    Received { total: u64 },
}

/// Sends a ping to a random peer every few milliseconds, reports its first draws, and counts
/// the pings it receives.
struct Chatter {
    sent: u64,
    received: u64,
}

impl Chatter {
    fn new() -> Chatter {
        Chatter {
            sent: 0,
            received: 0,
        }
    }
}

type ChatContext<'a> = Context<'a, Ping, Tick, Chat>;

impl Node for Chatter {
    type Message = Ping;
    type Timer = Tick;
    type Observation = Chat;

    fn on_start(&mut self, ctx: &mut ChatContext<'_>) {
        let draws = (0..4).map(|_| ctx.rng().next_u64()).collect();
        ctx.observe(Chat::Started {
            draws,
            received: self.received,
        });
        ctx.set_timer(Duration::from_millis(1), Tick::Send);
    }

    fn on_message(&mut self, ctx: &mut ChatContext<'_>, _from: NodeId, _message: Ping) {
        self.received += 1;
        ctx.observe(Chat::Received {
            total: self.received,
        });
    }

    fn on_timer(&mut self, ctx: &mut ChatContext<'_>, _timer: Tick) {
        let count = ctx.members().len() as u64;
        let index = ctx.rng().below(count) as usize;
        let to = ctx.members()[index];
        self.sent += 1;
        ctx.send(
            to,
            Ping {
                sequence: self.sent,
            },
        );
        let pause = Duration::from_micros(ctx.rng().between(500, 5_000));
        ctx.set_timer(pause, Tick::Send);
    }
}

fn lossy(loss_ppm: u32, duplicate_ppm: u32) -> LinkConfig {
    LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_micros(100),
            max: Duration::from_millis(20),
        },
        loss_ppm,
        duplicate_ppm,
        queue_capacity: 50,
    }
}

fn simulation(seed: u64, nodes: u32, link: LinkConfig) -> Simulation<Ping, Tick, Chat> {
    let mut config = Config::new(seed, link.clone(), link);
    config.trace_level = TraceLevel::Record;
    let mut sim = Simulation::new(config);
    for _ in 0..nodes {
        sim.add_node(|_| Chatter::new());
    }
    sim
}

fn schedule(seed: u64, nodes: u32, link: &LinkConfig) -> Vec<ScheduledFault> {
    let swarm = Swarm {
        partition_weight: 3,
        crash_weight: 2,
        pause_weight: 2,
        clock_weight: 1,
        hold_weight: 2,
        fault_gap_mean: Duration::from_millis(150),
        ..Swarm::quiet(link.clone(), link.clone())
    };
    let servers = sim::plan::Server::first(nodes);
    let budget = FaultBudget {
        faulty_nodes_max: nodes as usize - 1,
    };
    sim::plan::generate_schedule(
        &swarm,
        &servers,
        budget,
        Duration::from_secs(2),
        &mut Rng::from_seed(seed, 99),
    )
}

/// Replays a trace's fault events and checks every delivery against the state of the world.
fn check_trace(sim: &Simulation<Ping, Tick, Chat>) {
    let records = sim.trace().records();
    let mut cut: Option<Cut> = None;
    let mut held: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut down: BTreeSet<u32> = BTreeSet::new();
    let mut paused: BTreeSet<u32> = BTreeSet::new();
    let mut deliveries: BTreeMap<u64, u64> = BTreeMap::new();
    let mut duplicates: BTreeMap<u64, u64> = BTreeMap::new();
    let mut last_time = 0;
    for record in records {
        assert!(record.time_nanos >= last_time, "events in time order");
        last_time = record.time_nanos;
        let node = record.node;
        match &record.event {
            TraceEvent::Fault { kind, .. } if kind == "heal" => cut = None,
            TraceEvent::Fault { kind, detail } if kind == "partition" => {
                cut = Some(Cut::parse(detail))
            }
            TraceEvent::Fault { kind, detail } if kind == "hold" => {
                assert!(held.insert(parse_link(detail)))
            }
            TraceEvent::Fault { kind, detail } if kind == "release" => {
                held.remove(&parse_link(detail));
            }
            TraceEvent::Crash => assert!(down.insert(node)),
            TraceEvent::Start { .. } => {
                down.remove(&node);
            }
            TraceEvent::Pause => assert!(paused.insert(node)),
            TraceEvent::Resume => assert!(paused.remove(&node)),
            TraceEvent::Deliver { from, id, .. } => {
                assert!(
                    !cut.as_ref().is_some_and(|c| c.cuts(*from, node)),
                    "#{id} crossed a partition {from}->{node}"
                );
                assert!(
                    !held.contains(&(*from, node)),
                    "#{id} crossed held link {from}->{node}"
                );
                assert!(!down.contains(&node), "#{id} delivered to crashed n{node}");
                assert!(!paused.contains(&node), "#{id} delivered to paused n{node}");
                *deliveries.entry(*id).or_insert(0) += 1;
            }
            TraceEvent::Hold { from, id } => {
                assert!(held.contains(&(*from, node)), "#{id} held on a free link")
            }
            TraceEvent::Duplicate { id, .. } => *duplicates.entry(*id).or_insert(0) += 1,
            _ => {}
        }
    }
    for (id, count) in deliveries {
        let allowed = 1 + duplicates.get(&id).copied().unwrap_or(0);
        assert!(
            count <= allowed,
            "#{id} delivered {count} times, {allowed} allowed"
        );
    }
    let stats = sim.network_stats();
    assert_eq!(
        stats.sent + stats.duplicated,
        stats.delivered + stats.dropped + stats.in_flight,
        "every message is delivered, dropped or in flight: {stats:?}"
    );
}

/// `n0 -> n1`.
fn parse_link(detail: &str) -> (u32, u32) {
    let (from, to) = detail.split_once(" -> ").expect("a link");
    let node = |s: &str| s.trim().trim_start_matches('n').parse().expect("node id");
    (node(from), node(to))
}

/// The oracle for partitions, written from the shapes' documented meaning rather than with the
/// engine's `cut_links`: which group (or side) each named node is on, and whether a link
/// between two sides is cut.
enum Cut {
    /// Node to group index; links between different groups are cut both ways.
    Groups(BTreeMap<u32, usize>),
    /// Left and right cannot talk; the bridge talks to both.
    Bridge(BTreeSet<u32>, BTreeSet<u32>),
    /// From `from` to `to` only.
    OneWay(BTreeSet<u32>, BTreeSet<u32>),
}

impl Cut {
    /// Reads a rendered partition: `groups {n0} | {n1,n2}`, `bridge {..} - n2 - {..}`,
    /// `one-way {..} -/-> {..}`.
    fn parse(detail: &str) -> Cut {
        let sets: Vec<BTreeSet<u32>> = detail
            .split('{')
            .skip(1)
            .map(|part| {
                let inside = &part[..part.find('}').expect("closing brace")];
                inside
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim_start_matches('n').parse().expect("node id"))
                    .collect()
            })
            .collect();
        if detail.starts_with("groups") {
            let mut group_of = BTreeMap::new();
            for (index, set) in sets.iter().enumerate() {
                for &node in set {
                    group_of.insert(node, index);
                }
            }
            Cut::Groups(group_of)
        } else if detail.starts_with("bridge") {
            Cut::Bridge(sets[0].clone(), sets[1].clone())
        } else {
            assert!(detail.starts_with("one-way"), "unknown shape: {detail}");
            Cut::OneWay(sets[0].clone(), sets[1].clone())
        }
    }

    fn cuts(&self, from: u32, to: u32) -> bool {
        match self {
            Cut::Groups(group_of) => match (group_of.get(&from), group_of.get(&to)) {
                (Some(a), Some(b)) => a != b,
                _ => false, // A node no group names keeps its links.
            },
            Cut::Bridge(left, right) => {
                (left.contains(&from) && right.contains(&to))
                    || (right.contains(&from) && left.contains(&to))
            }
            Cut::OneWay(senders, receivers) => senders.contains(&from) && receivers.contains(&to),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    // Nothing crosses a partition, nothing reaches a crashed or paused node, duplicates are
    // accounted for, and every message is delivered, dropped or still in flight.
    #[test]
    fn network_guarantees(seed in any::<u64>(), nodes in 2u32..6, loss_ppm in 0u32..300_000, duplicate_ppm in 0u32..300_000) {
        let link = lossy(loss_ppm, duplicate_ppm);
        let mut sim = simulation(seed, nodes, link.clone());
        sim.schedule_all(&schedule(seed, nodes, &link));
        sim.run_until(Instant::ZERO + Duration::from_secs(2));
        check_trace(&sim);
        sim.heal_all();
        sim.run_for(Duration::from_millis(500));
        check_trace(&sim);
    }

    // The same seed gives the same trace, event for event.
    #[test]
    fn same_seed_same_trace(seed in any::<u64>(), nodes in 2u32..5) {
        let link = lossy(100_000, 100_000);
        let run = || {
            let mut sim = simulation(seed, nodes, link.clone());
            sim.schedule_all(&schedule(seed, nodes, &link));
            sim.run_until(Instant::ZERO + Duration::from_secs(1));
            (sim.trace().hash(), sim.trace().records().to_vec())
        };
        prop_assert_eq!(run(), run());
    }

    // A node's random stream depends on the seed and the node alone: adding a node or
    // changing the network's loss does not shift it.
    #[test]
    fn node_streams_are_independent(seed in any::<u64>()) {
        let draws = |nodes: u32, loss_ppm: u32| {
            let mut sim = simulation(seed, nodes, lossy(loss_ppm, 0));
            sim.run_until(Instant::ZERO);
            let started = sim.observations().iter().find_map(|r| match &r.observation {
                Chat::Started { draws, .. } if r.node == NodeId(1) => Some(draws.clone()),
                _ => None,
            });
            started.expect("n1 started")
        };
        let base = draws(2, 0);
        prop_assert_eq!(&base, &draws(5, 0));
        prop_assert_eq!(&base, &draws(2, 500_000));
    }
}

// Goal: the queue orders by (time, insertion sequence). Method: timers set for the same
// instant fire in the order they were set.
#[test]
fn same_time_events_fire_in_insertion_order() {
    /// Reports each timer as it fires.
    struct Orderly;
    impl Node for Orderly {
        type Message = ();
        type Timer = u32;
        type Observation = u32;
        fn on_start(&mut self, ctx: &mut Context<'_, (), u32, u32>) {
            for i in [3, 1, 2, 0] {
                ctx.set_timer(Duration::from_millis(5), i);
            }
        }
        fn on_message(&mut self, _: &mut Context<'_, (), u32, u32>, _: NodeId, _: ()) {}
        fn on_timer(&mut self, ctx: &mut Context<'_, (), u32, u32>, timer: u32) {
            ctx.observe(timer);
        }
    }
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim: Simulation<(), u32, u32> = Simulation::new(Config::new(1, link.clone(), link));
    let node = sim.add_node(|_| Orderly);
    sim.run_for(Duration::from_secs(1));
    let fired: Vec<(NodeId, Instant, u32)> = sim
        .observations()
        .iter()
        .map(|r| (r.node, r.time, r.observation))
        .collect();
    let at = Instant::ZERO + Duration::from_millis(5);
    assert_eq!(
        fired,
        [3, 1, 2, 0].map(|timer| (node, at, timer)),
        "all four fire at 5 ms, in the order they were set"
    );
}

/// What a clocked node reports when a timer fires: the timer and what its own clock said, in
/// nanoseconds. The record carries the global time.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Fired {
    timer: u32,
    local_nanos: u64,
}

/// Reports each timer it fires, and can cancel timers.
struct Clocked;

impl Node for Clocked {
    type Message = ();
    type Timer = u32;
    type Observation = Fired;
    fn on_start(&mut self, ctx: &mut Context<'_, (), u32, Fired>) {
        ctx.set_timer(Duration::from_secs(1), 1);
        ctx.set_timer(Duration::from_millis(500), 2);
        ctx.cancel_timer(2);
        ctx.cancel_timer(2);
    }
    fn on_message(&mut self, _: &mut Context<'_, (), u32, Fired>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, (), u32, Fired>, timer: u32) {
        let local_nanos = ctx.now().as_nanos();
        ctx.observe(Fired { timer, local_nanos });
    }
}

// Goal: timers run on the node's clock: a clock 10% fast fires a 1 s timer after about 0.909
// s of global time; a backwards jump changes `now()` but not when timers fire; a cancelled
// timer never fires.
#[test]
fn timers_follow_the_local_clock() {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim: Simulation<(), u32, Fired> = Simulation::new(Config::new(1, link.clone(), link));
    let fast = sim.add_node(|_| Clocked);
    let jumpy = sim.add_node(|_| Clocked);
    sim.apply(Fault::ClockDrift {
        node: fast,
        drift_ppm: 100_000,
    });
    sim.schedule(
        Instant::ZERO + Duration::from_millis(100),
        Fault::ClockJump {
            node: jumpy,
            offset_nanos: -50_000_000,
        },
    );
    sim.run_for(Duration::from_secs(2));
    // (timer, global time, local clock) of each firing on `node`.
    let fired = |node: NodeId| -> Vec<(u32, Instant, u64)> {
        let records = sim.observations().iter().filter(|r| r.node == node);
        let fired = records.map(|r| (r.observation.timer, r.time, r.observation.local_nanos));
        fired.collect()
    };
    let fast_fired = fired(fast);
    assert_eq!(fast_fired.len(), 1, "the cancelled timer never fires");
    assert_eq!(
        (fast_fired[0].0, fast_fired[0].1),
        (1, Instant::from_nanos(909_090_909))
    );
    // The fast clock reads about 1 s when its 1 s timer fires.
    let fast_local = fast_fired[0].2;
    assert!(
        fast_local.abs_diff(1_000_000_000) <= 1,
        "fast clock at its timer: {fast_local} ns"
    );
    // The jump set the clock back 50 ms: it reads 0.95 s when the timer fires at 1 s.
    assert_eq!(
        fired(jumpy),
        [(1, Instant::ZERO + Duration::from_secs(1), 950_000_000)]
    );
}

/// How many pings `node`'s incarnation `incarnation` reported receiving, checked against the
/// count it reported with its last one.
fn received(sim: &Simulation<Ping, Tick, Chat>, node: NodeId, incarnation: u32) -> u64 {
    let totals: Vec<u64> = sim
        .observations()
        .iter()
        .filter(|r| r.node == node && r.incarnation == incarnation)
        .filter_map(|r| match r.observation {
            Chat::Received { total } => Some(total),
            Chat::Started { .. } => None,
        })
        .collect();
    let count = totals.len() as u64;
    assert_eq!(
        totals.last().copied().unwrap_or(0),
        count,
        "{node} counts each ping once"
    );
    count
}

// Goal: a held link keeps its messages until released, then delivers them all; a crash
// loses the node's memory and timers, and a restart builds a fresh instance.
#[test]
fn hold_release_crash_restart() {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim = simulation(5, 2, link);
    let (a, b) = (NodeId(0), NodeId(1));
    sim.apply(Fault::Hold { from: a, to: b });
    sim.run_for(Duration::from_millis(200));
    let received_while_held = received(&sim, b, 0);
    let stats = sim.network_stats();
    assert!(
        stats.in_flight > 10,
        "messages wait on the held link: {stats:?}"
    );
    sim.apply(Fault::Release { from: a, to: b });
    sim.run_for(Duration::from_millis(50));
    let received_before_crash = received(&sim, b, 0);
    assert!(received_before_crash > received_while_held + 10);

    sim.apply(Fault::Crash(b));
    assert!(!sim.is_up(b));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(
        received(&sim, b, 0),
        received_before_crash,
        "a crashed node receives nothing"
    );
    sim.apply(Fault::Restart(b));
    assert!(sim.is_up(b));
    sim.run_for(Duration::from_millis(100));
    // The fresh instance starts with no memory of the pings the first one counted, and counts
    // from there.
    let reports: Vec<&Chat> = sim
        .observations()
        .iter()
        .filter(|r| r.node == b && r.incarnation == 1)
        .map(|r| &r.observation)
        .collect();
    assert!(
        matches!(reports.first(), Some(Chat::Started { received: 0, .. })),
        "memory does not survive a crash: {:?}",
        reports.first()
    );
    assert_eq!(
        reports.get(1).copied(),
        Some(&Chat::Received { total: 1 }),
        "the restarted instance counts from zero"
    );
    assert!(received(&sim, b, 1) > 10, "the restarted instance receives");
    assert_eq!(
        received(&sim, b, 0),
        received_before_crash,
        "the first incarnation's reports outlive it"
    );
    check_trace(&sim);
}

// Goal: messages held on a link into a node that crashes are dropped with it, as the ones it
// had not handled yet are, and never reach its next incarnation.
#[test]
fn held_messages_die_with_their_destination() {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim = simulation(6, 2, link);
    let (a, b) = (NodeId(0), NodeId(1));
    sim.apply(Fault::Hold { from: a, to: b });
    sim.run_for(Duration::from_millis(100));
    let held = sim.network_stats().in_flight;
    assert!(held > 10, "messages wait on the held link");
    let dropped_before = sim.network_stats().dropped;
    sim.apply(Fault::Crash(b));
    assert!(
        sim.network_stats().dropped >= dropped_before + held - 2,
        "{:?}",
        sim.network_stats()
    );
    sim.apply(Fault::Restart(b));
    sim.apply(Fault::Release { from: a, to: b });
    sim.run_for(Duration::from_millis(1));
    check_trace(&sim);
}

// Goal: a paused node handles what arrived for it, after the resume and in arrival order.
// Method: a client sends 50 requests in a burst and one more later while the server is
// paused; replies come back in order, none while the server is paused.
#[test]
fn a_paused_node_serves_in_arrival_order() {
    struct Echo;
    impl Node for Echo {
        type Message = u32;
        type Timer = ();
        type Observation = u32;
        fn on_start(&mut self, _: &mut Context<'_, u32, (), u32>) {}
        fn on_message(&mut self, ctx: &mut Context<'_, u32, (), u32>, from: NodeId, message: u32) {
            ctx.send(from, message);
        }
        fn on_timer(&mut self, _: &mut Context<'_, u32, (), u32>, _: ()) {}
    }
    /// Reports each reply it receives.
    struct Burst {
        replies: u32,
    }
    impl Node for Burst {
        type Message = u32;
        type Timer = ();
        type Observation = u32;
        fn on_start(&mut self, ctx: &mut Context<'_, u32, (), u32>) {
            ctx.set_timer(Duration::from_millis(200), ());
        }
        fn on_message(&mut self, ctx: &mut Context<'_, u32, (), u32>, _: NodeId, message: u32) {
            self.replies += 1;
            ctx.observe(message);
        }
        fn on_timer(&mut self, ctx: &mut Context<'_, u32, (), u32>, _: ()) {
            let next = self.replies;
            for i in 0..50 {
                ctx.send(NodeId(0), next + i);
            }
        }
    }
    let link = LinkConfig::reliable(Latency::Uniform {
        min: Duration::from_millis(1),
        max: Duration::from_millis(1),
    });
    let mut sim: Simulation<u32, (), u32> = Simulation::new(Config::new(1, link.clone(), link));
    sim.add_node(|_| Echo);
    let client = sim.add_client(|_| Burst { replies: 0 });
    sim.schedule(
        Instant::ZERO + Duration::from_millis(150),
        Fault::Pause(NodeId(0)),
    );
    sim.schedule(
        Instant::ZERO + Duration::from_millis(300),
        Fault::Resume(NodeId(0)),
    );
    sim.run_for(Duration::from_secs(1));
    let replies: Vec<(u32, Instant)> = sim
        .observations()
        .iter()
        .filter(|r| r.node == client)
        .map(|r| (r.observation, r.time))
        .collect();
    assert_eq!(
        replies.len(),
        sim.observations().len(),
        "only the client reports"
    );
    let order: Vec<u32> = replies.iter().map(|&(m, _)| m).collect();
    assert_eq!(order, (0..50).collect::<Vec<u32>>());
    assert!(
        replies
            .iter()
            .all(|&(_, t)| t == Instant::ZERO + Duration::from_millis(301)),
        "every reply leaves at the resume (300 ms) and arrives 1 ms later: {replies:?}"
    );
}

// Goal: a run whose virtual time stops advancing halts with a reason that names the node and
// the event kind, instead of running (and growing) without end.
// Method: a node sets a zero-delay timer from its timer handler, forever.
#[test]
fn a_run_that_stops_time_halts() {
    struct Spin;
    impl Node for Spin {
        type Message = ();
        type Timer = ();
        type Observation = sim::api::NoObservation;
        fn on_start(&mut self, ctx: &mut Context<'_, (), ()>) {
            ctx.set_timer(Duration::from_millis(5), ());
        }
        fn on_message(&mut self, _: &mut Context<'_, (), ()>, _: NodeId, _: ()) {}
        fn on_timer(&mut self, ctx: &mut Context<'_, (), ()>, _: ()) {
            ctx.set_timer(Duration::ZERO, ());
        }
    }
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim: Simulation<(), ()> = Simulation::new(Config::new(1, link.clone(), link));
    sim.add_node(|_| Spin);
    sim.run_for(Duration::from_secs(10));
    let halt = sim.halted().expect("the run halts");
    assert_eq!(halt.at, Instant::ZERO + Duration::from_millis(5));
    assert!(
        halt.reason.contains("virtual time stopped") && halt.reason.contains("timer on n0"),
        "{}",
        halt.reason
    );
    assert_eq!(sim.now(), halt.at, "the clock stays where the run halted");
    assert!(!sim.step(), "a halted run handles nothing more");
}

// Goal: a streamed trace is the recorded trace, event for event, handed over as it happens and
// not kept; the hash is the same at every level.
#[test]
fn a_streamed_trace_is_the_recorded_trace_and_keeps_nothing() {
    let run = |level: TraceLevel| {
        let link = lossy(100_000, 100_000);
        let mut config = Config::new(11, link.clone(), link.clone());
        config.trace_level = level;
        let mut sim = Simulation::new(config);
        for _ in 0..3 {
            sim.add_node(|_| Chatter::new());
        }
        sim.schedule_all(&schedule(11, 3, &link));
        sim.run_until(Instant::ZERO + Duration::from_secs(1));
        (sim.trace().hash(), sim.trace().records().to_vec())
    };
    let streamed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let into = streamed.clone();
    let sink = sim::TraceSink::new(move |record| into.borrow_mut().push(record));
    let (stream_hash, kept) = run(TraceLevel::Stream(sink));
    let (record_hash, recorded) = run(TraceLevel::Record);
    let (hash_only, _) = run(TraceLevel::Hash);
    assert!(kept.is_empty(), "a streamed trace keeps nothing");
    assert!(recorded.len() > 1000);
    assert_eq!(*streamed.borrow(), recorded);
    assert_eq!((stream_hash, record_hash), (hash_only, hash_only));
}

/// Claims leadership when its timer fires (`n{k}` after `k` milliseconds).
struct Claimer;

impl Node for Claimer {
    type Message = ();
    type Timer = ();
    type Observation = ();

    fn on_start(&mut self, ctx: &mut Context<'_, (), (), ()>) {
        let after = Duration::from_millis(u64::from(ctx.id().0));
        ctx.set_timer(after, ());
    }
    fn on_message(&mut self, _: &mut Context<'_, (), (), ()>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, (), (), ()>, _: ()) {
        ctx.set_leading(true);
    }
}

// Goal: a leader crash hits the node that claimed leadership last and still holds it, does
// nothing when no node leads, and its restart brings back the node it crashed. Method: nodes
// claim one after another; crash the leader at chosen moments.
#[test]
fn crash_leader_aims_at_the_last_claim() {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim: Simulation<(), (), ()> = Simulation::new(Config::new(1, link.clone(), link));
    let nodes: Vec<NodeId> = (0..3).map(|_| sim.add_node(|_| Claimer)).collect();
    let up = |sim: &Simulation<(), (), ()>| nodes.iter().map(|&n| sim.is_up(n)).collect::<Vec<_>>();
    sim.run_for(Duration::from_micros(1500));
    // n0 and n1 have claimed; n1 last.
    sim.apply(Fault::CrashLeader { episode: 0 });
    assert_eq!(up(&sim), [true, false, true]);
    // n0 claimed before n1 but never gave up: the engine remembers only the last claim.
    sim.apply(Fault::CrashLeader { episode: 1 });
    assert_eq!(up(&sim), [true, false, true], "no node leads now");
    sim.run_for(Duration::from_millis(2));
    sim.apply(Fault::CrashLeader { episode: 2 });
    assert_eq!(up(&sim), [true, false, false], "n2 claimed at 2ms");
    sim.apply(Fault::RestartLeader { episode: 1 });
    assert_eq!(up(&sim), [true, false, false], "episode 1 crashed nothing");
    sim.apply(Fault::RestartLeader { episode: 0 });
    assert_eq!(up(&sim), [true, true, false]);
    sim.apply(Fault::RestartLeader { episode: 2 });
    assert_eq!(up(&sim), [true, true, true]);
    assert_eq!(sim.fault_counts().get("crash-leader"), Some(&2));
}
