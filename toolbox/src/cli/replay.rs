//! `replay` and `show`: one run, in full.

use crate::runner;
use crate::{Scenario, Toolbox, check_bug};
use sim::{Plan, Report, TraceLevel};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use traces::diagram::Window;
use traces::store::{self, StoredTrace};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Print only the report, not the trace.
    #[arg(long)]
    quiet: bool,
    /// Store the trace in this file (render it with `show`).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Write the run's client history (JSON Lines, the shared history format).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write a Lamport (space-time) diagram of the run as a self-contained SVG file: by default
    /// the last 1000 events up to a failure, or the first 1000 of a run that passed.
    #[arg(long)]
    diagram: Option<PathBuf>,
    /// The diagram starts at this virtual time (`6.5s`, `6500ms`; a bare number is seconds).
    #[arg(long, requires = "diagram", value_parser = sim::Duration::parse_flag)]
    diagram_from: Option<sim::Duration>,
    /// The diagram ends at this virtual time.
    #[arg(long, requires = "diagram", value_parser = sim::Duration::parse_flag)]
    diagram_to: Option<sim::Duration>,
    /// The diagram draws only these nodes, as `n0,n2` (faults and phases are always drawn).
    #[arg(long, requires = "diagram", value_parser = parse_nodes)]
    diagram_nodes: Option<BTreeSet<u32>>,
    /// Write the run's plan as JSON, to edit and run with --plan.
    #[arg(long, conflicts_with = "plan")]
    dump_plan: Option<PathBuf>,
    /// Protocol log level on stderr: off, error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log: String,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
}

/// The run a command works on: a seed of a scenario (built in or from a file), or a plan.
#[derive(clap::Args)]
pub struct Source {
    /// The scenario (see `list`); taken from the plan with --plan.
    #[arg(long)]
    scenario: Option<String>,
    /// The scenario of this specification file; with --plan, the file whose scenario the plan
    /// names.
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    scenario_file: Option<PathBuf>,
    /// The seed; taken from the plan with --plan.
    #[arg(long)]
    seed: Option<u64>,
    /// A planted bug to switch on.
    #[arg(long)]
    bug: Option<String>,
    /// Run this plan (as written by --dump-plan or `shrink`, possibly edited) instead of
    /// expanding a seed.
    #[arg(long)]
    plan: Option<PathBuf>,
}

impl Source {
    /// The scenario and the plan to run.
    pub fn load(&self, toolbox: &Toolbox) -> Result<(&'static dyn Scenario, Plan), String> {
        if let Some(path) = &self.plan {
            if self.seed.is_some() || self.bug.is_some() {
                return Err("--plan holds the seed and bug; drop --seed and --bug".into());
            }
            let text =
                crate::cli::files::read_bounded(path, "a plan file", sim::limits::PLAN_BYTES_MAX)?;
            // A regression corpus entry runs its plan.
            let text = crate::corpus::entry_plan(&text).unwrap_or(text);
            let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let scenario = match &self.scenario_file {
                Some(file) => {
                    let scenario = toolbox.load_file(file)?;
                    if plan.scenario != scenario.name() {
                        return Err(format!(
                            "{} is a plan for {}, but {} is the scenario {}",
                            path.display(),
                            plan.scenario,
                            file.display(),
                            scenario.name()
                        ));
                    }
                    scenario
                }
                None => toolbox.find(&plan.scenario).map_err(|e| {
                    format!(
                        "{}: {e} (the plan of a scenario file runs with --scenario-file FILE)",
                        path.display()
                    )
                })?,
            };
            if let Some(name) = &self.scenario
                && name != scenario.name()
            {
                return Err(format!(
                    "--scenario {name} but {} is a plan for {}",
                    path.display(),
                    scenario.name()
                ));
            }
            check_bug(scenario, plan.bug.as_deref())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok((scenario, plan));
        }
        let scenario = match (&self.scenario_file, self.scenario.as_deref()) {
            (Some(file), _) => toolbox.load_file(file)?,
            (None, Some(name)) => toolbox.find(name)?,
            (None, None) => {
                return Err("--scenario or --scenario-file is required (or --plan)".into());
            }
        };
        let seed = self.seed.ok_or("--seed is required (or --plan)")?;
        check_bug(scenario, self.bug.as_deref())?;
        Ok((scenario, scenario.plan(seed, self.bug.as_deref())))
    }

    /// The scenario file, if the scenario comes from one.
    pub fn scenario_file(&self) -> Option<&Path> {
        self.scenario_file.as_deref()
    }

    /// The line that runs this source again: `COMMAND replay --plan FILE` for a plan, the
    /// seed's replay line otherwise.
    pub fn replay_line(&self, toolbox: &Toolbox, plan: &Plan) -> String {
        match &self.plan {
            Some(path) => plan_replay_line(toolbox, path, self.scenario_file.as_deref()),
            None => {
                let file = self.scenario_file.as_ref().map(|f| f.display().to_string());
                let target = runner::target(&plan.scenario, file.as_deref());
                toolbox.replay_line(&target, plan.seed, plan.bug.as_deref())
            }
        }
    }
}

/// `COMMAND replay --plan FILE`, with the scenario file that the plan's scenario needs.
pub fn plan_replay_line(toolbox: &Toolbox, path: &Path, scenario_file: Option<&Path>) -> String {
    let command = toolbox.command();
    match scenario_file {
        Some(file) => format!(
            "{command} replay --plan {} --scenario-file {}",
            path.display(),
            file.display()
        ),
        None => format!("{command} replay --plan {}", path.display()),
    }
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A trace stored by `replay --save`.
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `n0,n2,5`: a set of node numbers.
fn parse_nodes(text: &str) -> Result<BTreeSet<u32>, String> {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            item.strip_prefix('n')
                .unwrap_or(item)
                .parse::<u32>()
                .map_err(|_| format!("`{item}` is not a node such as n0 or 3"))
        })
        .collect()
}

pub fn run(toolbox: &Toolbox, args: Args) -> i32 {
    match replay(toolbox, args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_BAD_INPUT
        }
    }
}

/// Everything about the flags that can be checked before the run: output files, the
/// diagram's window, the log level.
fn check_args(args: &Args) -> Result<Option<tracing::Level>, String> {
    crate::cli::files::check_outputs(
        &[
            ("--dump-plan", args.dump_plan.as_ref()),
            ("--save", args.save.as_ref()),
            ("--history", args.history.as_ref()),
            ("--diagram", args.diagram.as_ref()),
        ],
        args.force,
    )?;
    if let (Some(from), Some(to)) = (args.diagram_from, args.diagram_to)
        && from > to
    {
        return Err(format!("--diagram-from {from} is after --diagram-to {to}"));
    }
    if args.log == "off" {
        return Ok(None);
    }
    args.log.parse().map(Some).map_err(|_| {
        format!(
            "--log {}: use off, error, warn, info, debug or trace",
            args.log
        )
    })
}

fn replay(toolbox: &Toolbox, args: Args) -> Result<i32, String> {
    let (scenario, plan) = args.source.load(toolbox)?;
    let log_level = check_args(&args)?;
    if let Some(path) = &args.dump_plan {
        crate::cli::files::write_new(path, (plan.to_json() + "\n").as_bytes(), args.force)?;
        eprintln!("wrote the plan to {}", path.display());
    }
    if let Some(level) = log_level {
        traces::logging::init(level);
    }
    runner::install_quiet_panic_hook();
    let (level, streamed) = trace_level(&args);
    let (result, run) =
        runner::execute(scenario, &plan, level).map_err(|e| match &args.source.plan {
            Some(path) => format!("{}: {e}", path.display()),
            None => e,
        })?;
    // A streamed JSON trace is an open array: the rest of the document closes it.
    let json_opened = match streamed {
        Some(streamed) => streamed.finish()?,
        None => false,
    };
    let replay_line = args.source.replay_line(toolbox, &plan);
    let code = result.verdict.outcome.exit_code();
    match run {
        Some(run) => {
            // The log lines a recorded trace kept (for --diagram or --save) that --quiet does
            // not print go where lines outside a trace go.
            if args.quiet {
                for (_, log) in run.trace.logs() {
                    eprintln!("{}", traces::render_line(log));
                }
            }
            to_stdout(|out| print_run(out, &args, scenario, &run, &replay_line, json_opened))?;
            write_files(toolbox, &args, &plan, run)?;
        }
        // The run panicked: no report survived the unwinding (a streamed trace did, up to it).
        None => to_stdout(|out| match args.format {
            Format::Text => writeln!(
                out,
                "verdict   {}\nreplay    {replay_line}",
                result.verdict.headline()
            ),
            Format::Json => {
                out.write_all(if json_opened { b"]," } else { b"{" })?;
                let verdict = serde_json::json!({"replay": replay_line, "verdict": result.verdict});
                let fields = verdict.to_string();
                out.write_all(&fields.as_bytes()[1..])?;
                out.write_all(b"\n")
            }
        })?,
    }
    Ok(code)
}

/// How much of the run to keep: a trace that nothing else needs (no diagram, no stored trace)
/// streams to stdout as the run goes, as text lines or as the JSON
/// document's `trace` array, in constant memory; a panic leaves the trace up to it. Otherwise
/// the run is recorded.
fn trace_level(args: &Args) -> (TraceLevel, Option<Streamed>) {
    let needs_records = args.diagram.is_some() || args.save.is_some();
    if args.quiet || needs_records {
        let level = if args.quiet && !needs_records {
            TraceLevel::Hash
        } else {
            TraceLevel::Record
        };
        return (level, None);
    }
    let streamed = Streamed(Rc::new(RefCell::new(StreamState {
        json: matches!(args.format, Format::Json),
        ..StreamState::default()
    })));
    let out = streamed.clone();
    let sink = sim::TraceSink::new(move |record| out.write(&record));
    (TraceLevel::Stream(sink), Some(streamed))
}

/// The trace on its way to stdout: a buffered writer shared with the trace's sink. A reader
/// that went away (`| head`) ends the output quietly; another error is reported once the run
/// is over.
#[derive(Clone)]
struct Streamed(Rc<RefCell<StreamState>>);

#[derive(Default)]
struct StreamState {
    /// JSON (`{"trace":[record,...`) rather than text lines.
    json: bool,
    out: Option<std::io::BufWriter<std::io::Stdout>>,
    failed: Option<std::io::Error>,
}

impl Streamed {
    fn write(&self, record: &sim::TraceRecord) {
        let mut state = self.0.borrow_mut();
        let state = &mut *state;
        if state.failed.is_some() {
            return;
        }
        let first = state.out.is_none();
        let out = state
            .out
            .get_or_insert_with(|| std::io::BufWriter::new(std::io::stdout()));
        let written = if state.json {
            out.write_all(if first { b"{\"trace\":[" } else { b"," })
                .and_then(|()| serde_json::to_writer(&mut *out, record).map_err(Into::into))
        } else {
            out.write_all(traces::render_line(record).as_bytes())
                .and_then(|()| out.write_all(b"\n"))
        };
        if let Err(e) = written {
            state.failed = Some(e);
        }
    }

    /// Flushes what was streamed; returns whether a JSON document was opened.
    fn finish(self) -> Result<bool, String> {
        let mut state = self.0.borrow_mut();
        let flushed = match state.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        };
        match state.failed.take().map_or(flushed, Err) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(format!("writing to stdout: {e}"))
            }
            _ => Ok(state.json && state.out.is_some()),
        }
    }
}

/// Writes to stdout through a buffer; a reader that went away (`| head`) ends the output
/// quietly.
fn to_stdout(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), String> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("writing to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// The trace (unless `--quiet`, or streamed already), the report and the scenario's summary,
/// as text or JSON. JSON is written as it is serialized, never built whole in memory; after a
/// streamed trace (`json_opened`) the rest of the document closes its array.
fn print_run(
    out: &mut dyn Write,
    args: &Args,
    scenario: &dyn Scenario,
    run: &crate::Run,
    replay_line: &str,
    json_opened: bool,
) -> std::io::Result<()> {
    match args.format {
        Format::Text => {
            // A streamed trace went out as the run went, and keeps no records.
            if !args.quiet {
                traces::write_trace(run.trace.records_with_logs(), out)?;
            }
            write_report(out, &run.report, replay_line)?;
            out.write_all(scenario.summary(run).as_bytes())
        }
        Format::Json if json_opened => {
            out.write_all(b"],\"replay\":")?;
            serde_json::to_writer(&mut *out, replay_line)?;
            out.write_all(b",\"report\":")?;
            serde_json::to_writer(&mut *out, &run.report)?;
            out.write_all(b"}\n")
        }
        Format::Json => {
            let json = ReplayJson {
                replay: replay_line,
                report: &run.report,
                trace: (!args.quiet).then(|| run.trace.records_with_logs().collect()),
            };
            serde_json::to_writer(&mut *out, &json)?;
            out.write_all(b"\n")
        }
    }
}

/// `replay --format json` of a recorded run: replay, report, trace. A streamed trace comes
/// first instead (`{"trace":[...],"replay":...,"report":...}`): the same keys.
#[derive(serde::Serialize)]
struct ReplayJson<'a> {
    replay: &'a str,
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<Vec<&'a sim::TraceRecord>>,
}

/// The history, the diagram and the stored trace, each where its flag says.
fn write_files(toolbox: &Toolbox, args: &Args, plan: &Plan, run: crate::Run) -> Result<(), String> {
    if let Some(path) = &args.history {
        let mut file = crate::cli::files::create(path, args.force)?;
        sim::history::write_jsonl(&run.history, &mut file)
            .and_then(|()| file.flush())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "wrote the history ({} lines) to {}",
            run.history.len(),
            path.display()
        );
    }
    if let Some(path) = &args.diagram {
        let svg = traces::diagram::lamport_svg(run.trace.records(), &diagram_window(args, &run));
        crate::cli::files::write_new(path, svg.as_bytes(), args.force)?;
        eprintln!("wrote the diagram to {}", path.display());
    }
    if let Some(path) = &args.save {
        let stored = StoredTrace {
            commit: toolbox.commit().to_string(),
            plan_json: plan.to_json(),
            report: run.report,
            records: run.trace.records_with_logs().cloned().collect(),
        };
        store::save(path, &stored, args.force)?;
        eprintln!(
            "stored the trace in {} (render it with {} show {})",
            path.display(),
            toolbox.command(),
            path.display()
        );
    }
    Ok(())
}

/// The window the flags choose; by default a failing run's diagram ends at its violation (or
/// at the end of the run, for a check made at the end), a passing run's starts at the start.
fn diagram_window(args: &Args, run: &crate::Run) -> Window {
    let at = |d: sim::Duration| sim::Instant::ZERO + d;
    let verdict = &run.report.verdict;
    let failed = !verdict.is_pass();
    let to = match (args.diagram_to, args.diagram_from) {
        (Some(to), _) => Some(at(to)),
        (None, None) if failed => verdict.at,
        (None, _) => None,
    };
    Window {
        from: args.diagram_from.map(at),
        to,
        nodes: args.diagram_nodes.clone(),
        end_anchored: args.diagram_to.is_some() || (failed && args.diagram_from.is_none()),
        ..Window::default()
    }
}

/// The report block after a trace, one `name value` line each.
pub fn write_report(
    out: &mut dyn Write,
    report: &Report,
    replay_line: &str,
) -> std::io::Result<()> {
    writeln!(out, "--")?;
    writeln!(out, "scenario  {}", report.scenario)?;
    writeln!(out, "seed      {}", report.seed)?;
    if let Some(bug) = &report.bug {
        writeln!(out, "bug       {bug}")?;
    }
    if report.verdict.is_pass() {
        writeln!(out, "verdict   pass")?;
    } else {
        writeln!(out, "verdict   {}", report.verdict.headline())?;
    }
    writeln!(
        out,
        "events    {} (trace hash {:016x})",
        report.event_count, report.trace_hash
    )?;
    writeln!(
        out,
        "virtual   {}",
        sim::Instant::ZERO + report.virtual_time
    )?;
    let pairs = |map: &std::collections::BTreeMap<String, u64>| {
        if map.is_empty() {
            return "none".to_string();
        }
        let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
        pairs.join(", ")
    };
    writeln!(out, "faults    {}", pairs(&report.faults))?;
    writeln!(out, "counters  {}", pairs(&report.counters))?;
    if !report.gauges.is_empty() {
        writeln!(out, "gauges    {}", pairs(&report.gauges))?;
    }
    for (name, q) in &report.latencies {
        writeln!(
            out,
            "latency   {name}: p50 {} p95 {} p99 {} max {} (n={})",
            q.p50, q.p95, q.p99, q.max, q.count
        )?;
    }
    writeln!(out, "replay    {replay_line}")
}

pub fn show(toolbox: &Toolbox, args: ShowArgs) -> i32 {
    let stored = match store::load(&args.file) {
        Ok(stored) => stored,
        Err(message) => {
            eprintln!("error: {message}");
            return crate::cli::EXIT_BAD_INPUT;
        }
    };
    let (scenario, seed, bug) = (
        &stored.report.scenario,
        stored.report.seed,
        stored.report.bug.as_deref(),
    );
    // A trace stores its scenario's name, not the file of a scenario that is not built in.
    let target = match toolbox.find(scenario) {
        Ok(_) => runner::target(scenario, None),
        Err(_) => runner::target(scenario, Some(&format!("<the file of {scenario}>"))),
    };
    let replay_line = toolbox.replay_line(&target, seed, bug);
    let written = to_stdout(|out| match args.format {
        Format::Text => {
            traces::write_trace(&stored.records, out)?;
            write_report(out, &stored.report, &replay_line)?;
            writeln!(out, "commit    {}", stored.commit)
        }
        Format::Json => {
            let json = ShowJson {
                commit: &stored.commit,
                report: &stored.report,
                trace: &stored.records,
            };
            serde_json::to_writer(&mut *out, &json)?;
            out.write_all(b"\n")
        }
    });
    match written {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_BAD_INPUT
        }
    }
}

/// `show --format json`: the keys in the order they always had.
#[derive(serde::Serialize)]
struct ShowJson<'a> {
    commit: &'a str,
    report: &'a Report,
    trace: &'a [sim::TraceRecord],
}
