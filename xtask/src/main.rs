//! Faultline's command line. See README.md for the tour. The scenario commands (`list`,
//! `fuzz`, `merge`, `replay`, `shrink`, `show`) are the toolbox's (`faultline_toolbox::cli`),
//! over the built-in scenarios; the rest are Faultline's own.
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
mod check_history;
mod serve;

use clap::{Parser, Subcommand};
use faultline_toolbox::cli::{self, EXIT_BAD_INPUT};

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
    /// list, fuzz, merge, replay, shrink and show: the toolbox's commands, over the built-in
    /// scenarios.
    #[command(flatten)]
    Toolbox(cli::Command),
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

fn main() {
    cli::end_quietly_when_the_output_closes();
    let code = match Cli::parse().command {
        Command::Toolbox(command) => scenarios::toolbox()
            .with_commit(env!("FAULTLINE_COMMIT"))
            .run(command),
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
