//! `cargo xtask bench engine`: engine throughput on fixed workloads, one core, hash-only trace,
//! no faults, optimized build. Three measurements:
//!
//! - **echo**: 4 echo servers and 1 client, K requests in flight, latency uniform 1-10 ms on
//!   every link, no timers. Figure of merit: messages delivered per wall-clock second.
//! - **heartbeat**: the echo workload, where every node resets a 1 s timer (one key per node,
//!   as an election timeout is reset by each heartbeat) on every message it receives, at K=1.
//!   Target: at least half the echo rate at K=1.
//! - **gossip**: every node, every 10 ms of its clock, sends a counter to 3 peers drawn at
//!   random, for 5 nodes and for 1,000 nodes, each until 2M events. Figure of merit: wall
//!   nanoseconds per event. Target: the 1,000-node figure within 2x of the 5-node figure.
//!   Also: the wall time to add 10,000 such nodes and start them all.

use faultline_toolbox::cli::EXIT_BAD_INPUT;
use protocols::echo::{EchoClient, EchoClientConfig, EchoMessage, EchoServer, EchoTimer};
use sim::{Config, Duration, Latency, LinkConfig, Simulation, TraceLevel};
use sim::{Context, Node, NodeId};

#[derive(clap::Args)]
pub struct Args {
    /// Round trips per echo measurement.
    #[arg(long, default_value_t = 2_000_000)]
    round_trips: u64,
    /// Requests in flight; measures 1, 4 and 64 when not given.
    #[arg(long)]
    inflight: Option<usize>,
}

/// Events per gossip measurement.
const GOSSIP_EVENTS: u64 = 2_000_000;

pub fn run(args: Args) -> i32 {
    if args.round_trips == 0 || args.inflight == Some(0) {
        eprintln!("error: --round-trips and --inflight must be positive");
        return EXIT_BAD_INPUT;
    }
    let in_flight_list = match args.inflight {
        Some(k) => vec![k],
        None => vec![1, 4, 64],
    };
    println!("echo: 4 servers, 1 client, latency uniform 1-10ms, no faults, hash-only trace");
    println!("K\tround_trips\tmessages\twall_ms\tmessages_per_s\tsimulated_per_wall\ttrace_hash");
    let mut echo_rate_k1 = None;
    for k in in_flight_list {
        let run = measure_echo(k, args.round_trips, false);
        if k == 1 {
            echo_rate_k1 = Some(run.rate());
        }
        run.print(k, args.round_trips);
    }
    println!();
    println!("heartbeat: the echo workload at K=1, every node resets a 1s timer on every message");
    println!("K\tround_trips\tmessages\twall_ms\tmessages_per_s\tsimulated_per_wall\ttrace_hash");
    let heartbeat = measure_echo(1, args.round_trips, true);
    heartbeat.print(1, args.round_trips);
    if let Some(echo) = echo_rate_k1 {
        let ratio = heartbeat.rate() / echo;
        println!(
            "  heartbeat / echo at K=1: {ratio:.2} (target at least 0.50: {})",
            verdict(ratio >= 0.5)
        );
    }
    println!();
    println!(
        "gossip: every 10ms each node sends a counter to 3 random peers, {GOSSIP_EVENTS} events"
    );
    println!("nodes\tevents\twall_ms\tns_per_event\ttrace_hash");
    let small = measure_gossip(5);
    let large = measure_gossip(1_000);
    let ratio = large / small;
    let setup = timed(|| {
        let mut sim = gossip_simulation(10_000);
        // Every node starts: one event each.
        while sim.now() == sim::Instant::ZERO && sim.step() {}
    });
    println!("  10,000 nodes added and started: {:.0} ms", setup * 1000.0);
    println!(
        "  1000 nodes / 5 nodes, cost per event: {ratio:.2} (target at most 2.00: {})",
        verdict(ratio <= 2.0)
    );
    0
}

pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

struct EchoRun {
    messages: u64,
    wall_seconds: f64,
    simulated: Duration,
    hash: u64,
}

impl EchoRun {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.wall_seconds
    }

    fn print(&self, k: usize, round_trips: u64) {
        println!(
            "{k}\t{round_trips}\t{}\t{:.1}\t{:.0}\t{:.0}x\t{:016x}",
            self.messages,
            self.wall_seconds * 1000.0,
            self.rate(),
            self.simulated.as_nanos() as f64 / 1e9 / self.wall_seconds,
            self.hash
        );
    }
}

/// Every workload's set-up: latency uniform 1-10 ms on every link, reliable, hash-only trace.
fn config() -> Config {
    let link = LinkConfig::reliable(Latency::Uniform {
        min: Duration::from_millis(1),
        max: Duration::from_millis(10),
    });
    let mut config = Config::new(42, link.clone(), link);
    config.trace_level = TraceLevel::Hash;
    config
}

/// Wall-clock seconds that `work` takes.
fn timed(work: impl FnOnce()) -> f64 {
    // Wall time is what a benchmark measures; it runs outside any simulation.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    work();
    started.elapsed().as_secs_f64()
}

/// Runs the echo workload, with every node resetting a timer per message if `heartbeat`.
fn measure_echo(in_flight: usize, round_trips: u64, heartbeat: bool) -> EchoRun {
    let mut sim = Simulation::new(config());
    let servers: Vec<NodeId> = (0..4)
        .map(|_| sim.add_node(move |_| Heartbeat::new(EchoServer::default(), heartbeat)))
        .collect();
    let client_config = EchoClientConfig {
        servers,
        in_flight,
        round_trips_max: round_trips,
        timeout: None,
        record_history: false,
    };
    sim.add_client(move |_| Heartbeat::new(EchoClient::new(client_config.clone()), heartbeat));
    let wall_seconds = timed(|| while sim.step() {});
    let stats = sim.network_stats();
    assert_eq!(
        stats.delivered,
        2 * round_trips,
        "every request and reply is delivered"
    );
    EchoRun {
        messages: stats.delivered,
        wall_seconds,
        simulated: sim.now() - sim::Instant::ZERO,
        hash: sim.trace().hash(),
    }
}

/// The key of the heartbeat timer: a value the echo nodes never set themselves.
const HEARTBEAT: EchoTimer = EchoTimer::Timeout {
    slot: usize::MAX,
    id: u64::MAX,
};

/// An echo node that, if `on`, resets its heartbeat timer on every message it receives.
struct Heartbeat<N> {
    inner: N,
    on: bool,
}

impl<N> Heartbeat<N> {
    fn new(inner: N, on: bool) -> Heartbeat<N> {
        Heartbeat { inner, on }
    }
}

impl<N: Node<Message = EchoMessage, Timer = EchoTimer, Observation = sim::api::NoObservation>> Node
    for Heartbeat<N>
{
    type Message = EchoMessage;
    type Timer = EchoTimer;
    type Observation = sim::api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, EchoMessage, EchoTimer>) {
        self.inner.on_start(ctx);
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, EchoMessage, EchoTimer>,
        from: NodeId,
        message: EchoMessage,
    ) {
        if self.on {
            ctx.set_timer(Duration::from_secs(1), HEARTBEAT);
        }
        self.inner.on_message(ctx, from, message);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, EchoMessage, EchoTimer>, timer: EchoTimer) {
        if timer != HEARTBEAT {
            self.inner.on_timer(ctx, timer);
        }
    }
}

/// Every 10 ms, sends a counter to `FANOUT` peers drawn at random.
struct Gossip {
    sent: u64,
}

const FANOUT: usize = 3;

impl Node for Gossip {
    type Message = u64;
    type Timer = ();
    type Observation = sim::api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, u64, ()>) {
        let first = Duration::from_micros(ctx.rng().below(10_000));
        ctx.set_timer(first, ());
    }

    fn on_message(&mut self, _ctx: &mut Context<'_, u64, ()>, _from: NodeId, _message: u64) {}

    fn on_timer(&mut self, ctx: &mut Context<'_, u64, ()>, _timer: ()) {
        let others = ctx.members().len() as u64 - 1;
        for _ in 0..FANOUT {
            // A peer other than this node, uniformly: draw among the others, skipping itself.
            let index = ctx.rng().below(others) as usize;
            let mut peer = ctx.members()[index];
            if peer == ctx.id() {
                peer = ctx.members()[others as usize];
            }
            self.sent += 1;
            ctx.send(peer, self.sent);
        }
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

fn gossip_simulation(nodes: u32) -> Simulation<u64, ()> {
    let mut sim = Simulation::new(config());
    for _ in 0..nodes {
        sim.add_node(|_| Gossip { sent: 0 });
    }
    sim
}

/// Runs `nodes` gossiping nodes for `GOSSIP_EVENTS` events; prints the line and returns the
/// wall nanoseconds per event (set-up excluded).
fn measure_gossip(nodes: u32) -> f64 {
    let mut sim = gossip_simulation(nodes);
    let mut events = 0;
    let wall_seconds = timed(|| {
        while events < GOSSIP_EVENTS && sim.step() {
            events += 1;
        }
    });
    let per_event = wall_seconds * 1e9 / events as f64;
    println!(
        "{nodes}\t{events}\t{:.1}\t{per_event:.1}\t{:016x}",
        wall_seconds * 1000.0,
        sim.trace().hash()
    );
    per_event
}
