//! `cargo xtask check-history`: checks history files (JSON Lines,
//! ../shared/formats/history.md) for linearizability.
//!
//! Stdout gets one line per file, `FILE<TAB>MODEL<TAB>VERDICT<TAB>MILLISECONDS`; stderr gets
//! the explanation of each failure and every error. Exit codes: 0 all linearizable, 1 any
//! not linearizable, 6 any unknown (and none not linearizable), 2 bad input or usage, which
//! wins over the others because a file that could not be checked says nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use checkers::{BuiltinModel, Limits, Verdict};

/// Arguments of `check-history`.
#[derive(clap::Args)]
pub struct Args {
    /// The model to check against: register, cas-register or kv.
    #[arg(long)]
    model: String,
    /// Write one HTML rendering per input file into this directory.
    #[arg(long, value_name = "DIR")]
    html: Option<PathBuf>,
    /// Overwrite existing HTML files.
    #[arg(long)]
    force: bool,
    /// Give up on a file after this many seconds and report `unknown`.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// History files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

const EXIT_LINEARIZABLE: i32 = 0;
const EXIT_NOT_LINEARIZABLE: i32 = 1;
const EXIT_BAD_INPUT: i32 = 2;
const EXIT_UNKNOWN: i32 = 6;

/// Runs the command and returns the exit code.
pub fn run(args: Args) -> i32 {
    let Some(model) = BuiltinModel::from_name(&args.model) else {
        eprintln!(
            "error: unknown model `{}`; valid models: {}",
            args.model,
            BuiltinModel::names()
        );
        return EXIT_BAD_INPUT;
    };
    let duration_max = match args.timeout {
        None => None,
        Some(seconds) => match Duration::try_from_secs_f64(seconds) {
            Ok(duration) if seconds > 0.0 => Some(duration),
            _ => {
                eprintln!("error: --timeout must be a positive number of seconds, got {seconds}");
                return EXIT_BAD_INPUT;
            }
        },
    };
    let limits = Limits {
        duration_max,
        memory_bytes_max: None,
    };
    if let Some(directory) = &args.html
        && let Err(error) = std::fs::create_dir_all(directory)
    {
        eprintln!(
            "error: cannot create the HTML directory {}: {error}",
            directory.display()
        );
        return EXIT_BAD_INPUT;
    }

    let mut bad_input = false;
    let mut verdict_all = Verdict::Linearizable;
    for file in &args.files {
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
            bad_input = true;
            continue;
        }
        let stopwatch = Stopwatch::start();
        let report =
            checkers::read_history(file).and_then(|history| model.check(&history, &limits));
        let milliseconds = stopwatch.milliseconds();
        let report = match report {
            Ok(report) => report,
            Err(error) => {
                eprintln!("error: {error}");
                bad_input = true;
                continue;
            }
        };
        println!(
            "{}\t{}\t{}\t{milliseconds:.3}",
            file.display(),
            model.name(),
            report.verdict
        );
        if let Some(explanation) = report.explain() {
            eprintln!("{}: {explanation}", file.display());
        }
        verdict_all = verdict_all.combine(report.verdict);
        if let Some(path) = &html_path {
            let page = checkers::render_html(&report, &file.display().to_string());
            if let Err(error) = std::fs::write(path, page) {
                eprintln!("error: cannot write {}: {error}", path.display());
                bad_input = true;
            }
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

/// `DIR/STEM.html` for the input `file`.
fn html_path(directory: &Path, file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "history".to_owned());
    directory.join(format!("{stem}.html"))
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
