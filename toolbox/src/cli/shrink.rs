//! `shrink`: a failing run comes back as a small plan (`crate::shrink`),
//! written as a file that `replay --plan` runs.

use crate::cli::replay::{Source, plan_replay_line, write_report};
use crate::shrink::{Options, Shrunk, Size};
use crate::{Scenario, Toolbox, runner};
use sim::{Plan, TraceLevel};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// More candidate runs than this is a mistake, not a search: at a few milliseconds a run it is
/// hours.
pub const RUNS_MAX_LIMIT: u64 = 1_000_000;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// Candidate runs at most: the search stops there and keeps the smallest plan it found.
    #[arg(long, default_value_t = Options::default().runs_max)]
    runs_max: u64,
    /// Write the shrunk plan here [default: SCENARIO[-BUG]-seed-N.shrunk.json in the current
    /// folder].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

pub fn run(toolbox: &Toolbox, args: Args) -> i32 {
    match shrink(toolbox, &args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_BAD_INPUT
        }
    }
}

fn shrink(toolbox: &Toolbox, args: &Args) -> Result<i32, String> {
    let options = options(args.runs_max)?;
    let (scenario, plan) = args.source.load(toolbox)?;
    let out = args.out.clone().unwrap_or_else(|| default_path(&plan));
    crate::cli::files::check_output("--out", &out, args.force)?;
    runner::install_quiet_panic_hook();
    let from = args.source.replay_line(toolbox, &plan);
    eprintln!("shrinking {from}");
    let (shrunk, seconds) = search(scenario, &plan, &options, &|| true)?;
    let replay_line = plan_replay_line(toolbox, &out, args.source.scenario_file());
    write_plan(&out, &shrunk, &from, args.force)?;
    report(scenario, &shrunk, &options, seconds, &replay_line)
}

/// The search options, with `--runs-max` checked against its limit.
pub fn options(runs_max: u64) -> Result<Options, String> {
    if runs_max == 0 {
        return Err("--runs-max must be positive".into());
    }
    if runs_max > RUNS_MAX_LIMIT {
        return Err(format!(
            "--runs-max {runs_max} is above the limit of {RUNS_MAX_LIMIT}"
        ));
    }
    Ok(Options { runs_max })
}

/// Where a shrunk plan goes by default: `SCENARIO[-BUG]-seed-N.shrunk.json`.
pub fn default_path(plan: &Plan) -> PathBuf {
    let bug = plan
        .bug
        .as_deref()
        .map(|bug| format!("-{bug}"))
        .unwrap_or_default();
    PathBuf::from(format!(
        "{}{bug}-seed-{}.shrunk.json",
        plan.scenario, plan.seed
    ))
}

/// Shrinks with a progress bar of candidate runs and the current size on stderr (drawn only
/// when stderr is a terminal); also returns the wall time it took, in seconds, to report (the
/// search itself is bounded by runs, never by time).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
/// `go_on` is asked after every candidate run; false stops the search with the smallest plan
/// so far.
pub fn search(
    scenario: &'static dyn Scenario,
    plan: &Plan,
    options: &Options,
    go_on: &dyn Fn() -> bool,
) -> Result<(Shrunk, f64), String> {
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(options.runs_max);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} candidate runs, {elapsed}: {msg}",
        )
        .expect("a valid template"),
    );
    let shrunk = crate::shrink::shrink(scenario, plan, options, &mut |runs, size| {
        bar.set_position(runs);
        bar.set_message(size_line(size));
        go_on()
    });
    bar.finish_and_clear();
    Ok((shrunk?, started.elapsed().as_secs_f64()))
}

/// The text of a shrunk plan's file: a corpus entry with its header
/// (`crate::corpus::Entry`); `from` is the replay line of the run it was shrunk from.
pub fn plan_text(shrunk: &Shrunk, from: &str) -> String {
    serde_json::to_string_pretty(&shrunk.entry(from)).expect("an entry serializes") + "\n"
}

fn write_plan(path: &Path, shrunk: &Shrunk, from: &str, force: bool) -> Result<(), String> {
    crate::cli::files::write_new(path, plan_text(shrunk, from).as_bytes(), force)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn size_line(size: &Size) -> String {
    format!(
        "{} events, {} faults, {} operations",
        size.events, size.faults, size.operations
    )
}

/// `before -> after` of each measure.
pub fn sizes_line(shrunk: &Shrunk) -> String {
    let (before, after) = (&shrunk.before, &shrunk.after);
    format!(
        "events {} -> {}, faults {} -> {}, operations {} -> {}",
        before.events,
        after.events,
        before.faults,
        after.faults,
        before.operations,
        after.operations
    )
}

/// What the 1-minimality check found.
pub fn minimal_line(shrunk: &Shrunk) -> &'static str {
    if shrunk.stopped {
        "not checked 1-minimal (stopped)"
    } else if !shrunk.one_minimal {
        "not checked 1-minimal (the candidate runs ran out)"
    } else if shrunk.operations_checked {
        "1-minimal (without any one fault or operation it no longer fails this way)"
    } else {
        "1-minimal in its faults (without any one it no longer fails this way; its operations \
         are not removed: the scenario's clients do not take them from the plan, or its \
         history does not tell them apart)"
    }
}

/// The shrunk run's report on stdout, in `replay`'s format after two lines about the search;
/// returns the run's exit code.
fn report(
    scenario: &'static dyn Scenario,
    shrunk: &Shrunk,
    options: &Options,
    seconds: f64,
    replay_line: &str,
) -> Result<i32, String> {
    let (result, run) = runner::execute(scenario, &shrunk.plan, TraceLevel::Hash)?;
    let minimal = minimal_line(shrunk);
    let mut out = std::io::stdout().lock();
    let written = (|| {
        writeln!(out, "shrunk    {}", sizes_line(shrunk))?;
        writeln!(
            out,
            "search    {} candidate runs of {} at most, {seconds:.1}s; {minimal}",
            shrunk.runs, options.runs_max
        )?;
        match &run {
            // The summary before the report, so that the replay line ends the output.
            Some(run) => {
                out.write_all(scenario.summary(run).as_bytes())?;
                write_report(&mut out, &run.report, replay_line)
            }
            None => writeln!(
                out,
                "--\nverdict   {}\nreplay    {replay_line}",
                result.verdict.headline()
            ),
        }
    })();
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("writing to stdout: {e}"))
        }
        _ => Ok(result.verdict.outcome.exit_code()),
    }
}
