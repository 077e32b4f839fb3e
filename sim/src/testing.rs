//! Testing your own protocol from `cargo test`: run a range of seeds, each twice to check that
//! it is a pure function of its seed, and when one fails, get the seed and the one line that
//! replays it.
//!
//! ```
//! use sim::testing::{SeedRun, check_seeds};
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
//! // In a #[test]: build and run a simulation per seed, with its trace at `level`; return the
//! // run with Err saying what went wrong, if anything did.
//! check_seeds(0..20, |seed, level| {
//!     let latency = Latency::Uniform {
//!         min: Duration::from_micros(100),
//!         max: Duration::from_millis(5),
//!     };
//!     let link = LinkConfig::reliable(latency);
//!     let mut config = Config::new(seed, link.clone(), link);
//!     config.trace_level = level;
//!     let mut sim = Simulation::new(config);
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
//!     let verdict = match answered + 10 < sent {
//!         true => Err(format!("{sent} pings sent, only {answered} answered")),
//!         false => Ok(()),
//!     };
//!     SeedRun::of(&sim, verdict)
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
//! replay: FAULTLINE_SEED=17 cargo test -p my-protocol --test replication my_test -- --exact --include-ignored --nocapture
//! ```
//!
//! **Determinism is checked by default.** Each seed runs twice, each run on a fresh thread of
//! the runner (simulated code still spawns none), and the two traces' hashes must agree; a
//! library that draws from `thread_rng`, iterates a `std` hash map or reads the clock makes
//! them differ. On a mismatch the seed runs twice more recording every event, and the failure
//! names the first event that differs and the usual suspects. `check_seeds_once` skips the
//! second run, for twice the speed, and with it any warning that a seed's replay line may not
//! reproduce its failure.
//!
//! With `FAULTLINE_SEED` set, only that seed runs; `check_seeds` then says so on standard
//! error, and a failure message names the variable, so one left exported by accident does not
//! silently narrow every test.

use crate::engine::Simulation;
use crate::trace::{Trace, TraceLevel, TraceRecord};
use faultline_api::{Message, Observation, Timer};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

/// The environment variable that narrows `check_seeds` to one seed.
pub const SEED_VARIABLE: &str = "FAULTLINE_SEED";

/// One run of a seed, as `check_seeds` compares runs: its verdict, and its trace's hash and
/// event count (and, at `TraceLevel::Record`, its events).
pub struct SeedRun {
    pub verdict: Result<(), String>,
    hash: u64,
    events: u64,
    records: Vec<TraceRecord>,
}

impl SeedRun {
    /// The run of `sim`, finished, with the verdict of its checks.
    pub fn of<M: Message, T: Timer, O: Observation>(
        sim: &Simulation<M, T, O>,
        verdict: Result<(), String>,
    ) -> SeedRun {
        SeedRun::of_trace(sim.trace(), verdict)
    }

    /// The run whose trace is `trace`, with the verdict of its checks: for a run that a
    /// scenario finished (`faultline_toolbox::Run::seed_run`).
    pub fn of_trace(trace: &Trace, verdict: Result<(), String>) -> SeedRun {
        SeedRun {
            verdict,
            hash: trace.hash(),
            events: trace.event_count(),
            records: trace.records().to_vec(),
        }
    }

    /// The run's trace hash: equal for equal runs.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Runs `run` for every seed in `seeds` (or only the seed named by `FAULTLINE_SEED`), each
/// seed twice on fresh threads at `TraceLevel::Hash`, and panics at the first failure or the
/// first seed whose two runs differ, naming the seed and the command that replays it. A panic
/// inside `run` counts as a failure of that seed. `run` builds and runs a simulation with its
/// trace at the level given and returns `SeedRun::of(&sim, verdict)`.
pub fn check_seeds(seeds: Range<u64>, run: impl Fn(u64, TraceLevel) -> SeedRun + Sync) {
    check(seeds, &run, true);
}

/// `check_seeds` without the second run of each seed: twice as fast, and blind to a run that
/// is not a function of its seed (whose replay line may then not reproduce its failure).
pub fn check_seeds_once(seeds: Range<u64>, run: impl Fn(u64, TraceLevel) -> SeedRun + Sync) {
    check(seeds, &run, false);
}

fn check(seeds: Range<u64>, run: &(dyn Fn(u64, TraceLevel) -> SeedRun + Sync), twice: bool) {
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
        let first = on_fresh_thread(run, seed, false);
        let failure = match &first {
            Err(message) => Some(format!("panicked: {message}")),
            Ok(SeedRun {
                verdict: Err(message),
                ..
            }) => Some(message.clone()),
            Ok(_) if twice => difference(run, seed, first.as_ref().ok()),
            Ok(_) => None,
        };
        if let Some(message) = failure {
            panic!(
                "seed {seed} failed{}: {message}\nreplay: {}",
                narrowed.as_deref().unwrap_or(""),
                replay_line(seed)
            );
        }
    }
    let checked = if twice { ", each run twice" } else { "" };
    match narrowed {
        Some(narrowed) => eprintln!("check_seeds: 1 seed passed{checked}{narrowed}"),
        None => eprintln!("check_seeds: {count} seeds passed{checked}"),
    }
}

/// Runs the seed on a thread of its own (thread-local state of one run cannot leak into the
/// next); a panic comes back as its message.
fn on_fresh_thread(
    run: &(dyn Fn(u64, TraceLevel) -> SeedRun + Sync),
    seed: u64,
    record: bool,
) -> Result<SeedRun, String> {
    std::thread::scope(|scope| {
        let runner = std::thread::Builder::new().name(format!("seed-{seed}"));
        let handle = runner
            .spawn_scoped(scope, || {
                let level = if record {
                    TraceLevel::Record
                } else {
                    TraceLevel::Hash
                };
                panic::catch_unwind(AssertUnwindSafe(|| run(seed, level)))
            })
            .expect("a thread for the seed");
        match handle.join() {
            Ok(Ok(run)) => Ok(run),
            Ok(Err(payload)) | Err(payload) => Err(payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string())),
        }
    })
}

/// Runs the seed a second time; if the runs differ, twice more recording every event, and
/// says where they part.
fn difference(
    run: &(dyn Fn(u64, TraceLevel) -> SeedRun + Sync),
    seed: u64,
    first: Option<&SeedRun>,
) -> Option<String> {
    let first = first?;
    let same = |a: &SeedRun, b: &SeedRun| {
        a.hash == b.hash && a.events == b.events && a.verdict == b.verdict
    };
    match on_fresh_thread(run, seed, false) {
        Ok(second) if same(first, &second) => return None,
        _ => {}
    }
    let a = on_fresh_thread(run, seed, true);
    let b = on_fresh_thread(run, seed, true);
    let detail = match (&a, &b) {
        (Ok(a), Ok(b)) => crate::trace::describe_first_difference(&a.records, &b.records)
            .unwrap_or_else(|| "the recorded traces agree, but the hashed runs did not".into()),
        _ => "one run panicked and another did not".to_string(),
    };
    Some(format!(
        "two runs of the same seed differed: the run is not a function of its seed; {detail}\n\
         usual suspects: a dependency drawing OS randomness (`rand::thread_rng`, `getrandom`), \
         a `std` HashMap or HashSet iterated (random hasher), a read of the wall clock \
         (`std::time::Instant`, `SystemTime`), threads, or state kept between runs in \
         statics or thread-locals"
    ))
}

/// The command that runs just this seed of this test: the package, the test target and the
/// profile as this binary was built, ignored tests included.
fn replay_line(seed: u64) -> String {
    // Cargo names the test thread after the test; the package comes from cargo's environment.
    let test = std::thread::current()
        .name()
        .unwrap_or("TEST_NAME")
        .to_string();
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    let exe = std::env::current_exe().unwrap_or_default();
    let release = if exe.components().any(|c| c.as_os_str() == "release") {
        " --release"
    } else {
        ""
    };
    // A test binary is `TARGET-HASH`; the library's own tests are named after the crate.
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let target = stem.rsplit_once('-').map_or(stem, |(name, _)| name);
    // The library's own test binary is named after the crate (`-` spelled `_`).
    let crate_name = std::env::var("CARGO_PKG_NAME")
        .unwrap_or_default()
        .replace('-', "_");
    let target = match target {
        "" => String::new(),
        t if t == crate_name => " --lib".to_string(),
        t => format!(" --test {t}"),
    };
    format!(
        "{SEED_VARIABLE}={seed} cargo test{package}{release}{target} {test} -- --exact --include-ignored --nocapture"
    )
}
