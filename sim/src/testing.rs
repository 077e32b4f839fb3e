//! Testing your own protocol from `cargo test`: run a range of seeds, and when one fails, get
//! the seed and the one line that replays it.
//!
//! ```
//! use sim::testing::check_seeds;
//! use sim::{Config, Context, Duration, Instant, Latency, LinkConfig, Node, NodeId, Simulation};
//!
//! /// What the pinger reports, for checks outside it.
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
//! enum Seen {
//!     Sent(u64),
//!     Answered(u64),
//! }
//!
//! /// Answers every ping.
//! struct Ponger;
//! impl Node for Ponger {
//!     type Message = u64;
//!     type Timer = ();
//!     type Observation = Seen;
//!     fn on_start(&mut self, _: &mut Context<'_, u64, (), Seen>) {}
//!     fn on_message(&mut self, ctx: &mut Context<'_, u64, (), Seen>, from: NodeId, ping: u64) {
//!         ctx.send(from, ping);
//!     }
//!     fn on_timer(&mut self, _: &mut Context<'_, u64, (), Seen>, _: ()) {}
//! }
//!
//! /// Sends a ping every millisecond, and reports each ping and pong.
//! struct Pinger {
//!     sent: u64,
//! }
//! impl Node for Pinger {
//!     type Message = u64;
//!     type Timer = ();
//!     type Observation = Seen;
//!     fn on_start(&mut self, ctx: &mut Context<'_, u64, (), Seen>) {
//!         ctx.set_timer(Duration::from_millis(1), ());
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, u64, (), Seen>, _: NodeId, pong: u64) {
//!         ctx.observe(Seen::Answered(pong));
//!     }
//!     fn on_timer(&mut self, ctx: &mut Context<'_, u64, (), Seen>, _: ()) {
//!         self.sent += 1;
//!         ctx.observe(Seen::Sent(self.sent));
//!         ctx.send(NodeId(0), self.sent);
//!         ctx.set_timer(Duration::from_millis(1), ());
//!     }
//! }
//!
//! // In a #[test]: build and run a simulation per seed; return Err with what went wrong.
//! check_seeds(0..20, |seed| {
//!     let latency = Latency::Uniform {
//!         min: Duration::from_micros(100),
//!         max: Duration::from_millis(5),
//!     };
//!     let link = LinkConfig::reliable(latency);
//!     let mut sim = Simulation::new(Config::new(seed, link.clone(), link));
//!     sim.add_node(|_| Ponger);
//!     sim.add_client(|_| Pinger { sent: 0 });
//!     sim.run_until(Instant::ZERO + Duration::from_secs(1));
//!     // The checks read what the nodes reported, never their state.
//!     let (mut sent, mut answered) = (0, 0);
//!     for record in sim.observations() {
//!         match record.observation {
//!             Seen::Sent(_) => sent += 1,
//!             Seen::Answered(_) => answered += 1,
//!         }
//!     }
//!     // A reliable network loses nothing: every ping older than the longest round trip
//!     // (10 ms: ten pings) has its pong.
//!     if answered + 10 < sent {
//!         return Err(format!("{sent} pings sent, only {answered} answered"));
//!     }
//!     Ok(())
//! });
//! ```
//!
//! Online checkers judge each observation as it happens and stop the run at the first
//! violation (`Simulation::add_checker`, `Simulation::violation`): "no pong for a ping never
//! sent" fails at the pong, naming the node, the time and the trace event.
//!
//! A failure panics with, for example:
//!
//! ```text
//! seed 17 failed: replica n2 applied entry 5 twice
//! replay: FAULTLINE_SEED=17 cargo test -p my-protocol my_test -- --exact --nocapture
//! ```
//!
//! With `FAULTLINE_SEED` set, only that seed runs; `check_seeds` then says so on standard
//! error, and a failure message names the variable, so one left exported by accident does not
//! silently narrow every test.

use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

/// The environment variable that narrows `check_seeds` to one seed.
pub const SEED_VARIABLE: &str = "FAULTLINE_SEED";

/// Runs `run` for every seed in `seeds` (or only the seed named by `FAULTLINE_SEED`), and
/// panics at the first failure, naming the seed and the command that replays it. A panic
/// inside `run` counts as a failure of that seed.
pub fn check_seeds(seeds: Range<u64>, mut run: impl FnMut(u64) -> Result<(), String>) {
    let only = std::env::var(SEED_VARIABLE).ok().map(|text| {
        text.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{SEED_VARIABLE}={text} is not a seed (a decimal u64)"))
    });
    let narrowed = only.map(|seed| format!(" (only this seed: {SEED_VARIABLE}={seed} is set)"));
    let count = seeds.end.saturating_sub(seeds.start);
    let seeds: Box<dyn Iterator<Item = u64>> = match only {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(seeds),
    };
    for seed in seeds {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| run(seed)));
        let message = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(message)) => message,
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                format!("panicked: {text}")
            }
        };
        panic!(
            "seed {seed} failed{}: {message}\nreplay: {}",
            narrowed.as_deref().unwrap_or(""),
            replay_line(seed)
        );
    }
    match narrowed {
        Some(narrowed) => eprintln!("check_seeds: 1 seed passed{narrowed}"),
        None => eprintln!("check_seeds: {count} seeds passed"),
    }
}

fn replay_line(seed: u64) -> String {
    // Cargo names the test thread after the test; the package comes from cargo's environment.
    let test = std::thread::current()
        .name()
        .unwrap_or("TEST_NAME")
        .to_string();
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    format!("{SEED_VARIABLE}={seed} cargo test{package} {test} -- --exact --nocapture")
}
