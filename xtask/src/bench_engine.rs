//! `cargo xtask bench engine`: engine throughput on a fixed workload: 4 echo servers and 1
//! client, K requests in flight, latency uniform 1-10 ms on every link, no faults, hash-only
//! trace. The figure of merit is messages delivered per wall-clock second on one core.

use protocols::echo::{EchoClient, EchoClientConfig, EchoServer};
use sim::{Config, Duration, Latency, LinkConfig, NodeId, Simulation, TraceLevel};

#[derive(clap::Args)]
pub struct Args {
    /// Round trips per measurement.
    #[arg(long, default_value_t = 2_000_000)]
    round_trips: u64,
    /// Requests in flight; measures 1, 4 and 64 when not given.
    #[arg(long)]
    inflight: Option<usize>,
}

/// madsim's figure on this workload and machine (../shared/design/anchors.md).
const MADSIM_MESSAGES_PER_SECOND: f64 = 685_000.0;
const TARGET_MESSAGES_PER_SECOND: f64 = 7_000_000.0;

pub fn run(args: Args) -> i32 {
    if args.round_trips == 0 || args.inflight == Some(0) {
        eprintln!("error: --round-trips and --inflight must be positive");
        return crate::EXIT_BAD_INPUT;
    }
    let in_flight_list = match args.inflight {
        Some(k) => vec![k],
        None => vec![1, 4, 64],
    };
    println!(
        "engine: 4 echo servers, 1 client, latency uniform 1-10ms, no faults, hash-only trace"
    );
    println!("K\tround_trips\tmessages\twall_ms\tmessages_per_s\tsimulated_per_wall\ttrace_hash");
    for k in in_flight_list {
        let (messages, wall_seconds, simulated, hash) = measure(k, args.round_trips);
        let rate = messages as f64 / wall_seconds;
        println!(
            "{k}\t{}\t{messages}\t{:.1}\t{:.0}\t{:.0}x\t{hash:016x}",
            args.round_trips,
            wall_seconds * 1000.0,
            rate,
            simulated.as_nanos() as f64 / 1e9 / wall_seconds
        );
        if k == 1 {
            println!(
                "  target at K=1: {:.1}M messages/s (10x madsim's {:.0}k); {} ({:.1}x madsim)",
                TARGET_MESSAGES_PER_SECOND / 1e6,
                MADSIM_MESSAGES_PER_SECOND / 1e3,
                if rate >= TARGET_MESSAGES_PER_SECOND {
                    "met"
                } else {
                    "NOT met"
                },
                rate / MADSIM_MESSAGES_PER_SECOND
            );
        }
    }
    0
}

/// Runs the workload; returns (messages delivered, wall seconds, virtual time, trace hash).
fn measure(in_flight: usize, round_trips: u64) -> (u64, f64, Duration, u64) {
    let link = LinkConfig::reliable(Latency::Uniform {
        min: Duration::from_millis(1),
        max: Duration::from_millis(10),
    });
    let mut config = Config::new(42, link.clone(), link);
    config.trace_level = TraceLevel::Hash;
    let mut sim = Simulation::new(config);
    let servers: Vec<NodeId> = (0..4)
        .map(|_| sim.add_node(|_| EchoServer::default()))
        .collect();
    let client_config = EchoClientConfig {
        servers,
        in_flight,
        round_trips_max: round_trips,
        timeout: None,
        record_history: false,
    };
    sim.add_client(move |_| EchoClient::new(client_config.clone()));
    // The benchmark measures wall time; it runs outside any simulation.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    while sim.step() {}
    let wall_seconds = started.elapsed().as_secs_f64();
    let stats = sim.network_stats();
    assert_eq!(
        stats.delivered,
        2 * round_trips,
        "every request and reply is delivered"
    );
    (
        stats.delivered,
        wall_seconds,
        sim.now() - sim::Instant::ZERO,
        sim.trace().hash(),
    )
}
