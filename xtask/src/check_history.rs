//! `cargo xtask check-history`: checks history files (JSON Lines, ../shared/formats/history.md,
//! or Jepsen's EDN) for linearizability.
//!
//! Stdout gets a header and one row per file, `FILE<TAB>MODEL<TAB>VERDICT<TAB>MS`, where the
//! verdict is `error` for a file that could not be checked; stderr gets the explanation of
//! each failure and every error. Exit codes: 0 all linearizable, 1 any not linearizable, 6
//! any unknown (and none not linearizable), 2 bad input or usage, which wins over the others
//! because a file that could not be checked says nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use checkers::{BuiltinModel, CheckOptions, InputFormat, Limits, Report, Verdict};

/// Arguments of `check-history`.
#[derive(clap::Args)]
pub struct Args {
    /// The model to check against: register, cas-register or kv.
    #[arg(long)]
    model: String,
    /// How the files are written: auto (from the content), jsonl or edn.
    #[arg(long, value_name = "FORMAT", default_value = "auto")]
    input_format: String,
    /// The register's value before any operation, a JSON literal (register and cas-register;
    /// Knossos' histories start at 0) [default: null].
    #[arg(long, value_name = "VALUE")]
    initial: Option<String>,
    /// Threads checking independent keys at once; the output is the same for every number
    /// [default: the number of cores].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Memory the search may use per key, in MiB, before it reports `unknown`.
    #[arg(long, value_name = "MIB", default_value_t = MEMORY_MIB_DEFAULT)]
    memory: usize,
    /// Give up on a file after this many seconds and report `unknown`.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Explain every failing key in full (by default: the first, then one line per key).
    #[arg(long)]
    all_keys: bool,
    /// Write one HTML rendering per input file into this directory.
    #[arg(long, value_name = "DIR")]
    html: Option<PathBuf>,
    /// Overwrite existing HTML files.
    #[arg(long)]
    force: bool,
    /// Print the whole process's time and peak resident memory to stderr at the end (Linux).
    #[arg(long)]
    stats: bool,
    /// History files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

const EXIT_LINEARIZABLE: i32 = 0;
const EXIT_NOT_LINEARIZABLE: i32 = 1;
const EXIT_BAD_INPUT: i32 = 2;
const EXIT_UNKNOWN: i32 = 6;

/// The default of `--memory`: a laptop can give one key this much on every core.
pub const MEMORY_MIB_DEFAULT: usize = 512;
const MEMORY_MIB_MAX: usize = 1 << 20;
const JOBS_MAX: usize = 1024;

/// What the arguments ask for, validated.
struct Settings {
    model: BuiltinModel,
    format: InputFormat,
    options: CheckOptions,
}

/// Runs the command and returns the exit code.
pub fn run(args: Args) -> i32 {
    let stopwatch = Stopwatch::start();
    let code = match settings(&args) {
        Ok(settings) => check_files(&args, &settings),
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_BAD_INPUT
        }
    };
    if args.stats {
        eprintln!(
            "stats: {:.1} ms in all, peak resident memory {}",
            stopwatch.milliseconds(),
            peak_memory().unwrap_or_else(|| "unavailable".to_owned())
        );
    }
    code
}

fn settings(args: &Args) -> Result<Settings, String> {
    let model = BuiltinModel::from_name(&args.model).ok_or_else(|| {
        format!(
            "unknown model `{}`; valid models: {}",
            args.model,
            BuiltinModel::names()
        )
    })?;
    let format = InputFormat::from_name(&args.input_format).ok_or_else(|| {
        format!(
            "unknown input format `{}`; valid formats: auto, jsonl, edn",
            args.input_format
        )
    })?;
    let initial = match &args.initial {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text).map_err(|error| {
            format!("--initial must be a JSON literal such as 0 or null, got {text:?}: {error}")
        })?,
    };
    model
        .initial_register(&initial)
        .map_err(|message| format!("--initial: {message}"))?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if !(1..=JOBS_MAX).contains(&jobs) {
        return Err(format!(
            "--jobs must be between 1 and {JOBS_MAX}, got {jobs}"
        ));
    }
    if !(1..=MEMORY_MIB_MAX).contains(&args.memory) {
        return Err(format!(
            "--memory must be between 1 and {MEMORY_MIB_MAX} MiB, got {}",
            args.memory
        ));
    }
    let duration_max = match args.timeout {
        None => None,
        Some(seconds) => match Duration::try_from_secs_f64(seconds) {
            Ok(duration) if seconds > 0.0 => Some(duration),
            _ => {
                return Err(format!(
                    "--timeout must be a positive number of seconds, got {seconds}"
                ));
            }
        },
    };
    let limits = Limits {
        duration_max,
        memory_bytes_max: Some(args.memory.saturating_mul(1 << 20)),
    };
    Ok(Settings {
        model,
        format,
        options: CheckOptions {
            limits,
            jobs,
            initial,
        },
    })
}

fn check_files(args: &Args, settings: &Settings) -> i32 {
    if let Some(directory) = &args.html
        && let Err(error) = std::fs::create_dir_all(directory)
    {
        eprintln!(
            "error: cannot create the HTML directory {}: {error}",
            directory.display()
        );
        return EXIT_BAD_INPUT;
    }
    println!("file\tmodel\tverdict\tms");
    let mut bad_input = false;
    let mut verdict_all = Verdict::Linearizable;
    for file in &args.files {
        match check_file(args, settings, file) {
            Some(verdict) => verdict_all = verdict_all.combine(verdict),
            None => bad_input = true,
        }
    }
    if bad_input {
        return EXIT_BAD_INPUT;
    }
    match verdict_all {
        Verdict::Linearizable => EXIT_LINEARIZABLE,
        Verdict::NotLinearizable => EXIT_NOT_LINEARIZABLE,
        Verdict::Unknown => EXIT_UNKNOWN,
    }
}

/// Checks one file and prints its row; `None` if it could not be checked (its row says
/// `error`) or its HTML could not be written.
fn check_file(args: &Args, settings: &Settings, file: &Path) -> Option<Verdict> {
    let row = |verdict: &str, milliseconds: f64| {
        println!(
            "{}\t{}\t{verdict}\t{milliseconds:.3}",
            file.display(),
            settings.model.name()
        );
    };
    let html_path = args
        .html
        .as_ref()
        .map(|directory| html_path(directory, file));
    if let Some(path) = &html_path
        && path.exists()
        && !args.force
    {
        eprintln!(
            "error: {} exists; pass --force to overwrite it",
            path.display()
        );
        row("error", 0.0);
        return None;
    }
    let stopwatch = Stopwatch::start();
    let report = checkers::read_history_as(file, settings.format)
        .and_then(|history| settings.model.check_with(&history, &settings.options));
    let milliseconds = stopwatch.milliseconds();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            row("error", milliseconds);
            return None;
        }
    };
    row(report.verdict.as_str(), milliseconds);
    explain(args, file, &report);
    if let Some(path) = &html_path {
        let page = checkers::render_html(&report, &file.display().to_string());
        if let Err(error) = std::fs::write(path, page) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return None;
        }
    }
    Some(report.verdict)
}

/// The explanation of a failure or an unknown verdict, on stderr.
fn explain(args: &Args, file: &Path, report: &Report) {
    let explanation = if args.all_keys {
        report.explain_all()
    } else {
        report.explain()
    };
    let Some(explanation) = explanation else {
        return;
    };
    eprint!("{}: {explanation}", file.display());
    let failing = report
        .parts
        .iter()
        .filter(|part| part.verdict == Verdict::NotLinearizable)
        .count();
    if failing > 1 && !args.all_keys {
        eprintln!(
            "{}: {failing} keys fail; --all-keys explains each in full",
            file.display()
        );
    }
}

/// `DIR/STEM.html` for the input `file`.
fn html_path(directory: &Path, file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "history".to_owned());
    directory.join(format!("{stem}.html"))
}

/// The process's peak resident memory so far (`VmHWM` of /proc/self/status), where the
/// system tells it.
pub(crate) fn peak_memory() -> Option<String> {
    peak_memory_mib().map(|mib| format!("{mib:.1} MiB"))
}

/// The same, in MiB.
pub(crate) fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Wall-clock time of one file's check, for the report.
// xtask runs outside the simulator; measuring how long a check took cannot change a seed's run.
#[allow(clippy::disallowed_types)]
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    // Outside the simulator, as above.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    pub(crate) fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    /// Milliseconds since [`Stopwatch::start`].
    pub(crate) fn milliseconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1000.0
    }
}
