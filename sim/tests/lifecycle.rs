//! Goal: nodes have a lifecycle. A node can join a run late, start down and be started by a
//! plan step, or be added while the run is under way; members (what `Context::members` and
//! `peers` say) are the servers that have joined, never clients; and a run of 10,000 nodes is
//! set up and run.

use sim::{
    Config, Context, Duration, Fault, Instant, Latency, LinkConfig, Node, NodeId, Simulation,
    TraceEvent, TraceLevel,
};

/// What a roll reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Report {
    /// The members and peers it sees (every 100 ms).
    Saw {
        members: Vec<NodeId>,
        peers: Vec<NodeId>,
    },
    /// A ping arrived.
    Pinged,
}

/// Every 100 ms, reports the members and peers it sees, and sends a ping to every peer;
/// reports each ping it receives.
struct Roll;

impl Node for Roll {
    type Message = u32;
    type Timer = ();
    type Observation = Report;

    fn on_start(&mut self, ctx: &mut Context<'_, u32, (), Report>) {
        self.on_timer(ctx, ());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, u32, (), Report>, _from: NodeId, _: u32) {
        ctx.observe(Report::Pinged);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, u32, (), Report>, _timer: ()) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        ctx.observe(Report::Saw {
            members: ctx.members().to_vec(),
            peers: peers.clone(),
        });
        for peer in peers {
            ctx.send(peer, 0);
        }
        ctx.set_timer(Duration::from_millis(100), ());
    }
}

fn simulation(seed: u64) -> Simulation<u32, (), Report> {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(seed, link.clone(), link);
    config.trace_level = TraceLevel::Record;
    Simulation::new(config)
}

fn at(millis: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(millis)
}

fn starts(sim: &Simulation<u32, (), Report>) -> Vec<(u32, Instant)> {
    let records = sim.trace().records();
    let start = |r: &&sim::TraceRecord| matches!(r.event, TraceEvent::Start { .. });
    let records = records.iter().filter(start);
    records
        .map(|r| (r.node, Instant::from_nanos(r.time_nanos)))
        .collect()
}

/// What `node` saw, in order: (global time, members, peers).
fn seen(sim: &Simulation<u32, (), Report>, node: NodeId) -> Vec<(Instant, &[NodeId], &[NodeId])> {
    let records = sim.observations().iter().filter(|r| r.node == node);
    let seen = records.filter_map(|r| match &r.observation {
        Report::Saw { members, peers } => Some((r.time, members.as_slice(), peers.as_slice())),
        Report::Pinged => None,
    });
    seen.collect()
}

/// How many pings `node` received.
fn pings(sim: &Simulation<u32, (), Report>, node: NodeId) -> usize {
    let records = sim.observations().iter().filter(|r| r.node == node);
    records.filter(|r| r.observation == Report::Pinged).count()
}

// Method: three servers from the start, one that joins at 2 s, one added down and started by
// a plan step at 3 s, and a client. Each starts when told; the members grow as they join; the
// client is never a member; messages to the node that is still down are dropped.
#[test]
fn late_and_down_nodes_start_when_told_and_join_the_members() {
    let mut sim = simulation(1);
    let first: Vec<NodeId> = (0..3).map(|_| sim.add_node(|_| Roll)).collect();
    let late = sim.add_node_at(at(2_000), |_| Roll);
    let down = sim.add_node_down(|_| Roll);
    let client = sim.add_client(|_| Roll);
    sim.schedule(at(3_000), Fault::Start(down));
    assert_eq!(
        sim.members(),
        first.as_slice(),
        "only the first three have joined"
    );
    sim.run_until(at(4_000));

    let started = starts(&sim);
    assert!(started.contains(&(late.0, at(2_000))), "{started:?}");
    assert!(started.contains(&(down.0, at(3_000))), "{started:?}");
    assert_eq!(sim.members(), [first.as_slice(), &[late, down]].concat());

    let n0 = seen(&sim, first[0]);
    assert_eq!(n0.len(), 41, "n0 reports every 100 ms from 0 to 4 s");
    let members_at = |t: u64| {
        let seen = n0.iter().rev().find(|(time, ..)| *time <= at(t));
        seen.map(|(_, members, _)| members.len()).unwrap()
    };
    assert_eq!((members_at(1_950), members_at(2_050)), (3, 4));
    assert_eq!((members_at(2_950), members_at(3_050)), (4, 5));
    for (_, members, peers) in &n0 {
        assert!(!members.contains(&client), "a client is never a member");
        assert!(!peers.contains(&first[0]) && peers.len() + 1 == members.len());
    }
    // The client sees every member as a peer.
    let client_view = seen(&sim, client);
    let (_, members, peers) = client_view.last().unwrap();
    assert_eq!(members, peers);
    assert_eq!(*members, sim.members());
    // Nothing reached the node added down before it started: it counts only later pings.
    let down_view = seen(&sim, down);
    assert_eq!(down_view.first().unwrap().0, at(3_000));
    assert!(pings(&sim, down) > 0);
}

// Method: a node added after the run has begun starts at once, and others reach it (the link
// tables grow as it joins).
#[test]
fn a_node_added_during_the_run_starts_and_is_reached() {
    let mut sim = simulation(2);
    for _ in 0..3 {
        sim.add_node(|_| Roll);
    }
    sim.run_until(at(1_000));
    let joiner = sim.add_node(|_| Roll);
    assert!(sim.members().contains(&joiner));
    sim.run_until(at(2_000));
    let pings = pings(&sim, joiner);
    // Three peers ping it every 100 ms for about a second.
    assert!((27..=33).contains(&pings), "{pings} pings");
}

/// Pings one random member at start and every second.
struct Sparse;

impl Node for Sparse {
    type Message = u32;
    type Timer = ();
    type Observation = sim::api::NoObservation;
    fn on_start(&mut self, ctx: &mut Context<'_, u32, ()>) {
        self.on_timer(ctx, ());
    }
    fn on_message(&mut self, _ctx: &mut Context<'_, u32, ()>, _from: NodeId, _message: u32) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, u32, ()>, _timer: ()) {
        let count = ctx.members().len() as u64;
        let index = ctx.rng().below(count) as usize;
        let to = ctx.members()[index];
        ctx.send(to, 1);
        ctx.set_timer(Duration::from_secs(1), ());
    }
}

// Method: 10,000 nodes each ping a random member at start and every second for 3 seconds;
// every ping is delivered. (The time it takes is a benchmark's business, not a test's.)
#[test]
fn ten_thousand_nodes_are_set_up_and_run() {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(5)));
    let mut sim: Simulation<u32, ()> = Simulation::new(Config::new(3, link.clone(), link));
    for _ in 0..10_000 {
        sim.add_node(|_| Sparse);
    }
    sim.run_until(at(3_500));
    let stats = sim.network_stats();
    assert_eq!((stats.sent, stats.delivered), (40_000, 40_000));
    assert_eq!(sim.members().len(), 10_000);
}
