//! `cargo xtask fuzz`: many seeds, in parallel across cores, one simulation per thread. The
//! summary does not depend on the number of jobs: results are gathered per seed and reported in
//! seed order.

use scenarios::runner::{self, SeedResult};
use scenarios::{Scenario, check_bug, find};
use sim::{Outcome, Quantiles};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(clap::Args)]
pub struct Args {
    /// The scenario to fuzz; without it, a short campaign over every built-in scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// A planted bug to switch on (see `cargo xtask list`).
    #[arg(long)]
    bug: Option<String>,
    /// Seeds per scenario [default: 1000 with --scenario or --bug, 200 per scenario without].
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed.
    #[arg(long, default_value_t = 0, conflicts_with = "random")]
    start: u64,
    /// Start from a random seed (printed, so the campaign can be repeated).
    #[arg(long)]
    random: bool,
    /// Parallel jobs [default: the number of cores].
    #[arg(long)]
    jobs: Option<usize>,
    /// Stop starting new seeds after this many wall-clock seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Run every seed twice and compare trace hashes.
    #[arg(long)]
    check_determinism: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Append failing seeds to the scenario's regression corpus (scenarios/corpus/).
    #[arg(long)]
    add_to_corpus: bool,
    /// Replace an existing --json file.
    #[arg(long)]
    force: bool,
}

const SEEDS_DEFAULT: u64 = 1000;
const SEEDS_DEFAULT_CAMPAIGN: u64 = 200;
/// Failing seeds printed per scenario; the rest are counted.
const FAILURES_SHOWN_MAX: usize = 10;

struct Target {
    scenario: &'static dyn Scenario,
    bug: Option<&'static str>,
}

pub fn run(args: Args) -> i32 {
    match campaign(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            crate::EXIT_BAD_INPUT
        }
    }
}

fn targets(args: &Args) -> Result<Vec<Target>, String> {
    let bug_name = |scenario: &'static dyn Scenario, bug: &str| -> Result<&'static str, String> {
        check_bug(scenario, Some(bug))?;
        Ok(scenario
            .bugs()
            .iter()
            .find(|b| b.name == bug)
            .expect("checked")
            .name)
    };
    match (&args.scenario, &args.bug) {
        (Some(name), bug) => {
            let scenario = find(name)?;
            let bug = bug.as_deref().map(|b| bug_name(scenario, b)).transpose()?;
            Ok(vec![Target { scenario, bug }])
        }
        (None, Some(bug)) => {
            let scenario = scenarios::all()
                .iter()
                .copied()
                .find(|s| s.bugs().iter().any(|b| b.name == bug))
                .ok_or_else(|| {
                    let all: Vec<String> = scenarios::all()
                        .iter()
                        .flat_map(|s| {
                            s.bugs()
                                .iter()
                                .map(move |b| format!("{} ({})", b.name, s.name()))
                        })
                        .collect();
                    format!("unknown bug `{bug}`; valid bugs: {}", all.join(", "))
                })?;
            Ok(vec![Target {
                scenario,
                bug: Some(bug_name(scenario, bug)?),
            }])
        }
        (None, None) => Ok(scenarios::all()
            .iter()
            .map(|&scenario| Target {
                scenario,
                bug: None,
            })
            .collect()),
    }
}

fn campaign(args: Args) -> Result<i32, String> {
    let targets = targets(&args)?;
    let single = args.scenario.is_some() || args.bug.is_some();
    let seeds = args.seeds.unwrap_or(if single {
        SEEDS_DEFAULT
    } else {
        SEEDS_DEFAULT_CAMPAIGN
    });
    if seeds == 0 {
        return Err("--seeds must be positive".into());
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        return Err("--jobs must be positive".into());
    }
    if let Some(path) = &args.json
        && path.exists()
        && !args.force
    {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    let start = if args.random {
        random_seed()
    } else {
        args.start
    };
    let end = start
        .checked_add(seeds - 1)
        .ok_or("--start plus --seeds overflows a u64")?;
    for target in &targets {
        eprintln!(
            "fuzz {}{}: seeds {start}..={end}, {jobs} jobs{}",
            target.scenario.name(),
            target
                .bug
                .map(|b| format!(" --bug {b}"))
                .unwrap_or_default(),
            if args.check_determinism {
                ", each run twice"
            } else {
                ""
            }
        );
    }

    runner::install_quiet_panic_hook();
    let work: Vec<(usize, u64)> = (0..targets.len())
        .flat_map(|t| (start..=end).map(move |seed| (t, seed)))
        .collect();
    let results: Mutex<Vec<Option<SeedResult>>> = Mutex::new(vec![None; work.len()]);
    let next = AtomicUsize::new(0);
    let progress = indicatif::ProgressBar::new(work.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    // The campaign runs on real threads and reads the wall clock; each simulation inside it
    // runs on one thread and never sees either.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let deadline = args.duration.map(std::time::Duration::from_secs);
    // Seeds run in parallel on threads; each simulation stays on one thread.
    #[allow(clippy::disallowed_methods)]
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    if deadline.is_some_and(|d| started.elapsed() >= d) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(target, seed)) = work.get(index) else {
                        break;
                    };
                    let result = run_one(&targets[target], seed, args.check_determinism);
                    results
                        .lock()
                        .expect("no worker panics while holding the lock")[index] = Some(result);
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let wall_seconds = started.elapsed().as_secs_f64();
    let results: Vec<Option<SeedResult>> = results.into_inner().expect("workers finished");

    let mut exit_code = 0;
    let mut summaries = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        let mine: Vec<&SeedResult> = work
            .iter()
            .zip(&results)
            .filter(|((target_index, _), _)| *target_index == t)
            .filter_map(|(_, r)| r.as_ref())
            .collect();
        let summary = summarize(target, &mine);
        print_summary(&summary);
        if args.add_to_corpus {
            add_to_corpus(target.scenario.name(), &mine)?;
        }
        for failure in &summary.failures {
            let code = failure.verdict.outcome.exit_code();
            if exit_code == 0 || code < exit_code {
                exit_code = code;
            }
        }
        summaries.push(summary);
    }
    let total: usize = summaries.iter().map(|s| s.seeds).sum();
    println!(
        "{total} seeds in {wall_seconds:.1}s: {:.0} seeds/s on {jobs} jobs{}",
        total as f64 / wall_seconds.max(1e-9),
        if total < work.len() {
            format!(" ({} not run: --duration ran out)", work.len() - total)
        } else {
            String::new()
        }
    );
    if args.random {
        println!("started at random seed {start}: repeat with --start {start}");
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "seconds": wall_seconds,
            "jobs": jobs,
            "start": start,
            "scenarios": summaries.iter().map(Summary::to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&json).expect("serializes") + "\n";
        crate::files::write_new(path, text.as_bytes(), args.force)?;
    }
    Ok(exit_code)
}

fn run_one(target: &Target, seed: u64, twice: bool) -> SeedResult {
    let plan = target.scenario.plan(seed, target.bug);
    let result = if twice {
        runner::execute_twice(target.scenario, &plan)
    } else {
        runner::execute(target.scenario, &plan, sim::TraceLevel::Hash).map(|(result, _)| result)
    };
    result.unwrap_or_else(|bad_plan| SeedResult {
        scenario: target.scenario.name(),
        seed,
        bug: target.bug.map(str::to_string),
        verdict: sim::Verdict::fail(
            Outcome::Panic,
            format!("the scenario generated a plan it rejects: {bad_plan}"),
        ),
        report: None,
    })
}

struct Summary {
    scenario: &'static str,
    bug: Option<&'static str>,
    seeds: usize,
    outcomes: BTreeMap<Outcome, usize>,
    faults: BTreeMap<String, u64>,
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, Vec<u64>>,
    latencies: BTreeMap<String, Vec<Quantiles>>,
    events: u64,
    failures: Vec<SeedResult>,
}

fn summarize(target: &Target, results: &[&SeedResult]) -> Summary {
    let mut summary = Summary {
        scenario: target.scenario.name(),
        bug: target.bug,
        seeds: results.len(),
        outcomes: BTreeMap::new(),
        faults: BTreeMap::new(),
        counters: BTreeMap::new(),
        gauges: BTreeMap::new(),
        latencies: BTreeMap::new(),
        events: 0,
        failures: Vec::new(),
    };
    for result in results {
        *summary.outcomes.entry(result.verdict.outcome).or_insert(0) += 1;
        if !result.verdict.is_pass() {
            summary.failures.push((*result).clone());
        }
        let Some(report) = &result.report else {
            continue;
        };
        summary.events += report.event_count;
        for (kind, count) in &report.faults {
            *summary.faults.entry(kind.clone()).or_insert(0) += count;
        }
        for (name, count) in &report.counters {
            *summary.counters.entry(name.clone()).or_insert(0) += count;
        }
        for (name, value) in &report.gauges {
            summary.gauges.entry(name.clone()).or_default().push(*value);
        }
        for (name, quantiles) in &report.latencies {
            summary
                .latencies
                .entry(name.clone())
                .or_default()
                .push(*quantiles);
        }
    }
    summary
}

fn join_counts<K: std::fmt::Display, V: std::fmt::Display>(
    map: impl IntoIterator<Item = (K, V)>,
) -> String {
    let parts: Vec<String> = map.into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

/// Quantiles across seeds of each per-seed quantile: the median seed's p50, the worst seed's
/// p99 and max.
fn latency_line(per_seed: &[Quantiles]) -> String {
    let mut p50: Vec<u64> = per_seed.iter().map(|q| q.p50.as_nanos()).collect();
    let mut p95: Vec<u64> = per_seed.iter().map(|q| q.p95.as_nanos()).collect();
    p50.sort_unstable();
    p95.sort_unstable();
    let worst_p99 = per_seed.iter().map(|q| q.p99).max().unwrap_or_default();
    let worst = per_seed.iter().map(|q| q.max).max().unwrap_or_default();
    let median = |v: &[u64]| sim::Duration::from_nanos(v[v.len() / 2]);
    format!(
        "p50 {} (median seed), p95 {} (median seed), p99 {} (worst seed), max {} (worst seed)",
        median(&p50),
        median(&p95),
        worst_p99,
        worst
    )
}

/// A per-seed value's quantiles across seeds; `-x1000` names hold thousandths.
fn gauge_line(name: &str, values: &[u64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let at = |percent: usize| sorted[(sorted.len() * percent).div_ceil(100).max(1) - 1];
    let (name, show): (&str, fn(u64) -> String) = match name.strip_suffix("-x1000") {
        Some(base) => (base, |v| format!("{}.{:03}", v / 1000, v % 1000)),
        None => (name, |v| v.to_string()),
    };
    format!(
        "{name} across seeds: p50 {}, p95 {}, max {}",
        show(at(50)),
        show(at(95)),
        show(*sorted.last().expect("one value per seed"))
    )
}

fn print_summary(summary: &Summary) {
    let bug = summary
        .bug
        .map(|b| format!(" --bug {b}"))
        .unwrap_or_default();
    println!("== {}{bug}: {} seeds", summary.scenario, summary.seeds);
    println!(
        "   outcomes: {}",
        join_counts(summary.outcomes.iter().map(|(o, n)| (o.as_str(), n)))
    );
    println!("   events:   {}", summary.events);
    println!("   faults:   {}", join_counts(&summary.faults));
    println!("   counters: {}", join_counts(&summary.counters));
    for (name, values) in &summary.gauges {
        println!("   {}", gauge_line(name, values));
    }
    for (name, per_seed) in &summary.latencies {
        if !per_seed.is_empty() {
            println!("   {name}: {}", latency_line(per_seed));
        }
    }
    for failure in summary.failures.iter().take(FAILURES_SHOWN_MAX) {
        // The first line; `replay` shows the whole explanation.
        let message = failure.verdict.message.lines().next().unwrap_or_default();
        println!(
            "FAIL {} seed {} {}: {}",
            failure.scenario,
            failure.seed,
            failure.verdict.outcome.as_str(),
            message
        );
        println!("     replay: {}", failure.replay_command());
    }
    if summary.failures.len() > FAILURES_SHOWN_MAX {
        println!(
            "     ... and {} more failing seeds",
            summary.failures.len() - FAILURES_SHOWN_MAX
        );
    }
    let _ = std::io::stdout().flush();
}

impl Summary {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario,
            "bug": self.bug,
            "seeds": self.seeds,
            "outcomes": self.outcomes.iter().map(|(o, n)| (o.as_str().to_string(), *n)).collect::<BTreeMap<_, _>>(),
            "events": self.events,
            "faults": self.faults,
            "counters": self.counters,
            "gauges": self.gauges,
            "failures": self.failures.iter().map(|f| serde_json::json!({
                "seed": f.seed,
                "outcome": f.verdict.outcome.as_str(),
                "message": f.verdict.message,
                "replay": f.replay_command(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The regression corpus of a scenario: `scenarios/corpus/NAME.tsv`.
pub fn corpus_path(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/corpus")
        .join(format!("{scenario}.tsv"))
}

/// Appends failing seeds that the corpus does not have yet, with the outcome they showed.
fn add_to_corpus(scenario: &str, results: &[&SeedResult]) -> Result<(), String> {
    let path = corpus_path(scenario);
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut added = 0;
    for result in results.iter().filter(|r| !r.verdict.is_pass()) {
        let key = format!(
            "{}\t{}\t",
            result.seed,
            result.bug.as_deref().unwrap_or("-")
        );
        if existing.lines().any(|line| line.starts_with(&key)) {
            continue;
        }
        writeln!(file, "{key}{}", result.verdict.outcome.as_str())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        added += 1;
    }
    eprintln!("added {added} seeds to {}", path.display());
    Ok(())
}

/// A seed from the OS, for `--random`: the campaign prints it so it can be repeated.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // The command line, not simulated code, asks the OS for entropy here.
    #[allow(clippy::disallowed_types)]
    let state = std::hash::RandomState::new();
    let mut hasher = state.build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish() >> 1
}
