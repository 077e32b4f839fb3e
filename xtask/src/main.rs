//! Faultline's command line. See README.md for the tour.
//!
//! Every subcommand exits with the same codes: 0 pass, 1 safety violation (including a history
//! that is not linearizable), 2 usage error or bad input, 3 liveness failure, 4 panic in the
//! code under test, 5 nondeterminism, 6 unknown (a checker's limit ran out). Results go to
//! stdout; progress and logs go to stderr.

mod audit;
mod bench_checker;
mod bench_engine;
mod bench_host;
mod bench_raft;
mod campaign;
mod check_history;
mod files;
mod fuzz;
mod merge;
mod replay;
mod serve;
mod shrink;

use clap::{Parser, Subcommand};

/// The exit code for usage errors and bad input.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Faultline: deterministic simulation testing",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One line per scenario and per planted bug: SCENARIO<TAB>BUG or -<TAB>description.
    List(ListArgs),
    /// Runs many seeds of one scenario, or a short campaign over every built-in scenario.
    Fuzz(fuzz::Args),
    /// Adds up the --json summaries of a campaign's shards into the summary of the whole.
    Merge(merge::Args),
    /// Runs one seed (or an edited plan) and prints its trace, report and verdict.
    Replay(replay::Args),
    /// Shrinks a failing run (a seed or a plan) to a small plan that fails the same way, and
    /// writes it as a file that `replay --plan` runs.
    Shrink(shrink::Args),
    /// Renders a trace stored by `replay --save`.
    Show(replay::ShowArgs),
    /// Benchmarks: `engine` (default) or `checker`.
    Bench(BenchArgs),
    /// Checks histories (JSON Lines, ../shared/formats/history.md) for linearizability.
    CheckHistory(check_history::Args),
    /// Runs a protocol's node as a real server on TCP and real files, until SIGTERM.
    Serve(serve::ServeArgs),
    /// Talks to a key-value server: `get KEY`, `set KEY VALUE`, or an interactive session.
    Client(serve::ClientArgs),
    /// Lists where a dependency tree reads OS randomness, the wall clock or random-state hash
    /// maps (`crate  file:line  pattern`); exits 1 when it finds any.
    Audit(audit::Args),
}

#[derive(clap::Args)]
struct ListArgs {
    /// List the scenario of this specification file instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    scenario_file: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// What to measure: engine, checker, raft or host.
    #[arg(default_value = "engine")]
    subject: String,
    #[command(flatten)]
    engine: bench_engine::Args,
    #[command(flatten)]
    raft: bench_raft::RaftArgs,
    #[command(flatten)]
    host: bench_host::HostArgs,
}

/// The exit code when the reader of stdout went away (`| head`): 128 + SIGPIPE, as a Unix tool
/// killed by the signal reports it.
const EXIT_OUTPUT_CLOSED: i32 = 141;

fn main() {
    end_quietly_when_the_output_closes();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::List(args) => list(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Shrink(args) => shrink::run(args),
        Command::Show(args) => replay::show(args),
        Command::Bench(args) => match args.subject.as_str() {
            "engine" => bench_engine::run(args.engine),
            "checker" => bench_checker::run(),
            "raft" => bench_raft::run(args.raft),
            "host" => bench_host::run(args.host),
            other => {
                eprintln!(
                    "error: unknown bench subject `{other}`; valid subjects: engine, checker, raft, host"
                );
                EXIT_BAD_INPUT
            }
        },
        Command::CheckHistory(args) => check_history::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Client(args) => serve::client(args),
        Command::Audit(args) => audit::run(args),
    };
    std::process::exit(code);
}

/// `println!` panics when stdout is a pipe whose reader went away; that is no error of ours or
/// of the code under test, so the command ends quietly instead, as Unix tools do. Other panics
/// go on to the previous hook.
fn end_quietly_when_the_output_closes() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(EXIT_OUTPUT_CLOSED);
        }
        previous(info);
    }));
}

fn list(args: ListArgs) -> i32 {
    let listed: Vec<&'static dyn scenarios::Scenario> = match &args.scenario_file {
        None => scenarios::all().to_vec(),
        Some(path) => match scenarios::load_file(path) {
            Ok(scenario) => vec![scenario],
            Err(message) => {
                eprintln!("error: {message}");
                return EXIT_BAD_INPUT;
            }
        },
    };
    for scenario in listed {
        println!("{}\t-\t{}", scenario.name(), scenario.description());
        for bug in scenario.bugs() {
            println!("{}\t{}\t{}", scenario.name(), bug.name, bug.description);
        }
    }
    0
}
