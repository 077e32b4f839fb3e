//! `cargo xtask bench raft`: seeds of Raft with its key-value store per wall-clock second on
//! one core, the linearizability check included.
//!
//! The workload is `raft-kv`'s (scenarios/specs/raft-kv.toml): 5 servers; one client with 5
//! processes, each with one operation in flight and 20 ms of mean think time (`--think-mean`),
//! over 10 keys
//! (50% get, 30% put, 15% append, 5% cas); heartbeats every 50 ms, election timeouts
//! 150-300 ms; the scenario's swarm faults (partitions, crashes, pauses, clock faults, loss,
//! duplication). Each seed runs 10 virtual seconds (7 s of faults, then 3 s healed) at the
//! hash-only trace level with Raft's online invariants, and its history is checked for
//! linearizability with a memo limit of 32 MB per key, on the same thread. Seeds run one
//! after another on one thread, so `seeds_per_s` is a one-core figure.
//!
//! Printed: a tab-separated header and one row of plain numbers: `seeds`, `wall_s`,
//! `seeds_per_s`, `events_per_seed`, `ops_per_virtual_s` (client operations completed per
//! virtual second), `simulated_per_wall` (virtual seconds per wall second), `peak_rss_mb`
//! (the process's peak resident memory). Targets (issue 16): at least 200 seeds per second
//! and under 50 MB. The exit code is a failing seed's outcome (its replay line is printed),
//! 0 if every seed passes.

use checkers::{BuiltinModel, Limits, Verdict};
use faultline_toolbox::Scenario;
use faultline_toolbox::cli::EXIT_BAD_INPUT;
use sim::{Duration, Outcome, TraceLevel};

use crate::check_history::{Stopwatch, peak_memory_mib};

#[derive(clap::Args)]
pub struct RaftArgs {
    /// Seeds to run (from 0), at most 1,000,000.
    #[arg(long, default_value_t = 500)]
    seeds: u64,
    /// The client processes' mean think time (`20ms`; `110ms` gives about 40 operations per
    /// virtual second).
    #[arg(long, default_value = "20ms", value_parser = Duration::parse_flag)]
    think_mean: Duration,
}

const SEEDS_PER_S_TARGET: f64 = 200.0;
const PEAK_RSS_MB_TARGET: f64 = 50.0;
const MEMO_BYTES_MAX: usize = 32 << 20;
/// A bench is minutes at most: a million seeds is over an hour at the target rate.
const SEEDS_MAX: u64 = 1_000_000;

/// raft-kv with its online invariants only: the history is checked here, with the bench's
/// memo limit.
fn scenario() -> Result<&'static dyn Scenario, String> {
    let (_, text) = scenarios::spec::BUILT_IN
        .iter()
        .find(|(file, _)| *file == "raft-kv.toml")
        .ok_or("raft-kv.toml is not built in")?;
    let text: String = text
        .lines()
        .map(|line| match line.starts_with("checkers = ") {
            true => r#"checkers = ["raft-safety"]"#,
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let scenario = scenarios::spec::parse("raft-kv.toml (bench)", &text, None)?;
    Ok(Box::leak(Box::new(scenario)))
}

pub fn run(args: RaftArgs) -> i32 {
    if args.seeds == 0 || args.seeds > SEEDS_MAX {
        eprintln!(
            "error: --seeds is {}; it must be 1 to {SEEDS_MAX}",
            args.seeds
        );
        return EXIT_BAD_INPUT;
    }
    if let Err(message) = sim::limits::think("--think-mean", args.think_mean) {
        eprintln!("error: {message}");
        return EXIT_BAD_INPUT;
    }
    let scenario = match scenario() {
        Ok(scenario) => scenario,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_BAD_INPUT;
        }
    };
    let limits = Limits {
        duration_max: None,
        memory_bytes_max: Some(MEMO_BYTES_MAX),
    };
    let (mut events, mut operations, mut virtual_nanos) = (0u64, 0u64, 0u64);
    let watch = Stopwatch::start();
    for seed in 0..args.seeds {
        let mut plan = scenario.plan(seed, None);
        plan.safety_duration = Duration::from_secs(7);
        plan.liveness_duration = Duration::from_secs(3);
        plan.workload["think_mean"] = serde_json::to_value(args.think_mean).expect("a duration");
        let run = match scenario.run(&plan, TraceLevel::Hash) {
            Ok(run) => run,
            Err(message) => {
                eprintln!("error: seed {seed}: {message}");
                return EXIT_BAD_INPUT;
            }
        };
        let replay = format!("cargo xtask replay --scenario raft-kv --seed {seed}");
        if run.report.verdict.outcome != Outcome::Pass {
            let verdict = &run.report.verdict;
            println!(
                "FAIL seed {seed} {:?} [{}]: {}",
                verdict.outcome,
                verdict.checker.as_deref().unwrap_or("-"),
                verdict.message
            );
            println!("     (the bench runs 7 s + 3 s of the plan; {replay} runs it whole)");
            return run.report.verdict.outcome.exit_code();
        }
        let history = checkers::History::from_events(run.history);
        operations += history
            .events()
            .iter()
            .filter(|e| e.kind != sim::history::EventKind::Invoke)
            .count() as u64;
        let verdict = match BuiltinModel::Kv.check(&history, &limits) {
            Ok(report) => report.verdict,
            Err(error) => {
                println!("FAIL seed {seed}: the history is malformed: {error}");
                return Outcome::Safety.exit_code();
            }
        };
        match verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => {
                println!("FAIL seed {seed}: not linearizable ({replay})");
                return Outcome::Safety.exit_code();
            }
            Verdict::Unknown => {
                println!("FAIL seed {seed}: unknown within the 32 MB memo limit ({replay})");
                return Outcome::Unknown.exit_code();
            }
        }
        events += run.report.event_count;
        virtual_nanos += run.report.virtual_time.as_nanos();
    }
    let wall_s = watch.milliseconds() / 1000.0;
    let seeds = args.seeds as f64;
    let seeds_per_s = seeds / wall_s;
    let virtual_s = virtual_nanos as f64 / 1e9;
    let peak = peak_memory_mib().unwrap_or(f64::NAN);
    println!(
        "raft-kv: 5 servers, 5 client processes ({} think), 10 keys, 10 virtual seconds, swarm faults, linearizability checked (32 MB memo), one core",
        args.think_mean
    );
    println!(
        "seeds\twall_s\tseeds_per_s\tevents_per_seed\tops_per_virtual_s\tsimulated_per_wall\tpeak_rss_mb"
    );
    println!(
        "{}\t{wall_s:.2}\t{seeds_per_s:.1}\t{:.0}\t{:.1}\t{:.1}\t{peak:.1}",
        args.seeds,
        events as f64 / seeds,
        operations as f64 / virtual_s,
        virtual_s / wall_s,
    );
    println!(
        "  seeds_per_s {seeds_per_s:.1} (target at least {SEEDS_PER_S_TARGET}: {}); peak_rss_mb {peak:.1} (target under {PEAK_RSS_MB_TARGET}: {})",
        crate::bench_engine::verdict(seeds_per_s >= SEEDS_PER_S_TARGET),
        crate::bench_engine::verdict(peak < PEAK_RSS_MB_TARGET),
    );
    0
}
