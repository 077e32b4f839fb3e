//! Draws as a third-party protocol library might: from rand 0.8's `thread_rng()`, rand 0.9's and
//! 0.10's `rng()` (each seeded once per thread from the OS) and `getrandom` directly. Any of them
//! makes a simulated run depend on more than its seed, unless the build patches in the shims.
use rand::Rng;
use sim::testing::SeedRun;
use sim::{Config, Context, Duration, Instant, Latency, LinkConfig, Node, NodeId, Simulation};

/// An election timeout in milliseconds, from the thread's generator.
pub fn election_timeout_ms() -> u64 {
    rand::thread_rng().gen_range(150..300)
}

/// A jitter in milliseconds, from rand 0.9's thread generator (seeded through getrandom 0.3).
pub fn jitter_ms() -> u64 {
    use rand09::Rng as _;
    rand09::rng().random_range(0..10)
}

/// A nonce from the operating system.
pub fn nonce() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS gives randomness");
    u64::from_le_bytes(bytes)
}

/// A backoff in milliseconds, from rand 0.10's thread generator (seeded through getrandom
/// 0.4's `SysRng`).
pub fn backoff_ms() -> u64 {
    use rand010::RngExt as _;
    rand010::rng().random_range(0..10)
}

/// Times out after a drawn delay and sends every peer a fresh nonce.
pub struct Flaky;

impl Node for Flaky {
    type Message = u64;
    type Timer = ();
    type Observation = ();

    fn on_start(&mut self, ctx: &mut Context<'_, u64, (), ()>) {
        ctx.set_timer(
            Duration::from_millis(election_timeout_ms() + jitter_ms()),
            (),
        );
    }

    fn on_message(&mut self, _: &mut Context<'_, u64, (), ()>, _: NodeId, _: u64) {}

    fn on_timer(&mut self, ctx: &mut Context<'_, u64, (), ()>, _: ()) {
        let peers: Vec<NodeId> = ctx
            .members()
            .iter()
            .copied()
            .filter(|&p| p != ctx.id())
            .collect();
        for peer in peers {
            ctx.send(peer, nonce());
        }
        ctx.set_timer(
            Duration::from_millis(election_timeout_ms() + backoff_ms()),
            (),
        );
    }
}

/// One seed of three `Flaky` nodes for two virtual seconds, as `check_seeds` runs it.
pub fn run(seed: u64, level: sim::TraceLevel) -> SeedRun {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(seed, link.clone(), link);
    config.trace_level = level;
    let mut sim: Simulation<u64, (), ()> = Simulation::new(config);
    for _ in 0..3 {
        sim.add_node(|_| Flaky);
    }
    sim.run_until(Instant::ZERO + Duration::from_secs(2));
    SeedRun::of(&sim, Ok(()))
}
