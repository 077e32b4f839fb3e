//! `cargo xtask replay` and `cargo xtask show`: one run, in full.

use scenarios::runner;
use scenarios::{Scenario, check_bug, find};
use sim::{Plan, Report, TraceLevel};
use std::path::PathBuf;
use traces::store::{self, StoredTrace};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// The scenario (see `cargo xtask list`); taken from the plan with --plan.
    #[arg(long)]
    scenario: Option<String>,
    /// The seed; taken from the plan with --plan.
    #[arg(long)]
    seed: Option<u64>,
    /// A planted bug to switch on.
    #[arg(long)]
    bug: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Print only the report, not the trace.
    #[arg(long)]
    quiet: bool,
    /// Store the trace in this file (render it with `cargo xtask show`).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Write the run's client history (JSON Lines, the shared history format).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write a Lamport (space-time) diagram of the run as a self-contained SVG file.
    #[arg(long)]
    diagram: Option<PathBuf>,
    /// Write the run's plan as JSON, to edit and run with --plan.
    #[arg(long, conflicts_with = "plan")]
    dump_plan: Option<PathBuf>,
    /// Run this plan (as written by --dump-plan, possibly edited) instead of expanding a seed.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Protocol log level on stderr: off, error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log: String,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A trace stored by `replay --save`.
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: Args) -> i32 {
    match replay(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            crate::EXIT_BAD_INPUT
        }
    }
}

fn load_plan(args: &Args) -> Result<(&'static dyn Scenario, Plan), String> {
    if let Some(path) = &args.plan {
        if args.seed.is_some() || args.bug.is_some() {
            return Err("--plan holds the seed and bug; drop --seed and --bug".into());
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let scenario = find(&plan.scenario).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(name) = &args.scenario
            && name != scenario.name()
        {
            return Err(format!(
                "--scenario {name} but {} is a plan for {}",
                path.display(),
                scenario.name()
            ));
        }
        check_bug(scenario, plan.bug.as_deref()).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((scenario, plan));
    }
    let name = args
        .scenario
        .as_deref()
        .ok_or("--scenario is required (or --plan)")?;
    let scenario = find(name)?;
    let seed = args.seed.ok_or("--seed is required (or --plan)")?;
    check_bug(scenario, args.bug.as_deref())?;
    Ok((scenario, scenario.plan(seed, args.bug.as_deref())))
}

fn replay(args: Args) -> Result<i32, String> {
    let (scenario, plan) = load_plan(&args)?;
    for path in [&args.save, &args.history, &args.dump_plan]
        .into_iter()
        .flatten()
    {
        if path.exists() && !args.force {
            return Err(format!(
                "{} exists; pass --force to replace it",
                path.display()
            ));
        }
    }
    if let Some(path) = &args.dump_plan {
        crate::files::write_new(path, (plan.to_json() + "\n").as_bytes(), args.force)?;
        eprintln!("wrote the plan to {}", path.display());
    }
    if args.log != "off" {
        let level: tracing::Level = args.log.parse().map_err(|_| {
            format!(
                "--log {}: use off, error, warn, info, debug or trace",
                args.log
            )
        })?;
        traces::logging::init(level);
    }
    runner::install_quiet_panic_hook();
    let (result, run) =
        runner::execute(scenario, &plan, TraceLevel::Record).map_err(|e| match &args.plan {
            Some(path) => format!("{}: {e}", path.display()),
            None => e,
        })?;
    let replay_line = match &args.plan {
        Some(path) => format!("cargo xtask replay --plan {}", path.display()),
        None => result.replay_command(),
    };
    let Some(run) = run else {
        // The run panicked: no trace or report survived the unwinding.
        println!(
            "verdict   {}: {}",
            result.verdict.outcome.as_str(),
            result.verdict.message
        );
        println!("replay    {replay_line}");
        return Ok(result.verdict.outcome.exit_code());
    };
    match args.format {
        Format::Text => {
            if !args.quiet {
                print!("{}", traces::render(run.trace.records()));
            }
            print_report(&run.report, &replay_line);
            print!("{}", scenario.summary(&run));
        }
        Format::Json => {
            let mut json = serde_json::json!({ "report": run.report, "replay": replay_line });
            if !args.quiet {
                json["trace"] = serde_json::to_value(run.trace.records()).expect("serializes");
            }
            println!("{}", serde_json::to_string(&json).expect("serializes"));
        }
    }
    if let Some(path) = &args.history {
        let mut bytes = Vec::new();
        sim::history::write_jsonl(&run.history, &mut bytes).expect("writing to memory");
        crate::files::write_new(path, &bytes, args.force)?;
        eprintln!(
            "wrote the history ({} lines) to {}",
            run.history.len(),
            path.display()
        );
    }
    if let Some(path) = &args.diagram {
        let svg = traces::diagram::lamport_svg(run.trace.records());
        crate::files::write_new(path, svg.as_bytes(), args.force)?;
        eprintln!("wrote the diagram to {}", path.display());
    }
    if let Some(path) = &args.save {
        let stored = StoredTrace {
            commit: env!("FAULTLINE_COMMIT").to_string(),
            plan_json: plan.to_json(),
            report: run.report.clone(),
            records: run.trace.into_records(),
        };
        store::save(path, &stored, args.force)?;
        eprintln!(
            "stored the trace in {} (render it with cargo xtask show {})",
            path.display(),
            path.display()
        );
    }
    Ok(result.verdict.outcome.exit_code())
}

/// The report block after a trace, one `name value` line each.
pub fn print_report(report: &Report, replay_line: &str) {
    println!("--");
    println!("scenario  {}", report.scenario);
    println!("seed      {}", report.seed);
    if let Some(bug) = &report.bug {
        println!("bug       {bug}");
    }
    if report.verdict.is_pass() {
        println!("verdict   pass");
    } else {
        println!(
            "verdict   {}: {}",
            report.verdict.outcome.as_str(),
            report.verdict.message
        );
    }
    println!(
        "events    {} (trace hash {:016x})",
        report.event_count, report.trace_hash
    );
    println!("virtual   {}", sim::Instant::ZERO + report.virtual_time);
    let join = |pairs: Vec<String>| {
        if pairs.is_empty() {
            "none".to_string()
        } else {
            pairs.join(", ")
        }
    };
    let pairs = |map: &std::collections::BTreeMap<String, u64>| {
        join(map.iter().map(|(k, v)| format!("{k} {v}")).collect())
    };
    println!("faults    {}", pairs(&report.faults));
    println!("counters  {}", pairs(&report.counters));
    if !report.gauges.is_empty() {
        println!("gauges    {}", pairs(&report.gauges));
    }
    for (name, q) in &report.latencies {
        println!(
            "latency   {name}: p50 {} p95 {} p99 {} max {} (n={})",
            q.p50, q.p95, q.p99, q.max, q.count
        );
    }
    println!("replay    {replay_line}");
}

pub fn show(args: ShowArgs) -> i32 {
    let stored = match store::load(&args.file) {
        Ok(stored) => stored,
        Err(message) => {
            eprintln!("error: {message}");
            return crate::EXIT_BAD_INPUT;
        }
    };
    let replay_line = runner::replay_command(
        &stored.report.scenario,
        stored.report.seed,
        stored.report.bug.as_deref(),
    );
    match args.format {
        Format::Text => {
            print!("{}", traces::render(&stored.records));
            print_report(&stored.report, &replay_line);
            println!("commit    {}", stored.commit);
        }
        Format::Json => {
            let json = serde_json::json!({
                "commit": stored.commit,
                "report": stored.report,
                "trace": stored.records,
            });
            println!("{}", serde_json::to_string(&json).expect("serializes"));
        }
    }
    0
}
