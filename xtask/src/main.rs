//! Faultline's command line. See README.md for the tour.

mod bench_checker;
mod check_history;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Faultline: deterministic simulation testing")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check histories (JSON Lines, ../shared/formats/history.md) for linearizability.
    CheckHistory(check_history::Args),
    /// Benchmarks.
    Bench {
        /// What to measure.
        #[arg(default_value = "engine")]
        subject: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::CheckHistory(args) => check_history::run(args),
        Command::Bench { subject } => match subject.as_str() {
            "checker" => bench_checker::run(),
            other => {
                eprintln!("error: unknown bench subject `{other}`; valid: engine, checker");
                2
            }
        },
    };
    std::process::exit(code);
}
