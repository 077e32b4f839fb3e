//! The command line over any set of scenarios: `list`, `fuzz`, `merge`, `replay`, `shrink` and
//! `show`. A tool registers its scenarios in a [`Toolbox`] and either hands it the process's
//! arguments ([`Toolbox::main`], the whole `main` of a user's simulation binary) or flattens
//! [`Command`] into a command line of its own that has more subcommands (as Faultline's
//! `cargo xtask` does) and calls [`Toolbox::run`].
//!
//! Every subcommand exits with the same codes: 0 pass, 1 safety violation (including a history
//! that is not linearizable), 2 usage error or bad input, 3 liveness failure, 4 panic in the
//! code under test, 5 nondeterminism, 6 unknown (a checker's limit ran out). Results go to
//! stdout; progress and logs go to stderr.

mod campaign;
pub mod files;
mod fuzz;
mod merge;
mod replay;
mod shrink;

use crate::Scenario;
use crate::registry::Registry;
use std::path::{Path, PathBuf};

/// The exit code for usage errors and bad input.
pub const EXIT_BAD_INPUT: i32 = 2;

/// The exit code when the reader of stdout went away (`| head`): 128 + SIGPIPE, as a Unix tool
/// killed by the signal reports it.
const EXIT_OUTPUT_CLOSED: i32 = 141;

/// A tool's scenarios and how the tool is called: everything the command line needs that is
/// not in a scenario (the command that starts every replay line, the names its scenario
/// files may use, the corpus folder, the build's name).
#[derive(Clone)]
pub struct Toolbox {
    command: String,
    scenarios: Vec<&'static dyn Scenario>,
    registry: Option<Registry>,
    corpus: Option<PathBuf>,
    commit: String,
}

impl Toolbox {
    /// A tool called as `command` (what a replay line starts with: `cargo xtask`, or
    /// `cargo run -p my-sim --`) over `scenarios`, in the order `list` shows them. Their names
    /// must be unique.
    pub fn new(command: impl Into<String>, scenarios: Vec<&'static dyn Scenario>) -> Toolbox {
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            panic!("two scenarios are called `{}`", pair[0]);
        }
        Toolbox {
            command: command.into(),
            scenarios,
            registry: None,
            corpus: None,
            commit: "unknown".to_string(),
        }
    }

    /// Accepts `--scenario-file FILE`: specification files (`crate::spec`) whose node
    /// kinds, workloads and checkers are `registry`'s.
    pub fn with_registry(mut self, registry: Registry) -> Toolbox {
        self.registry = Some(registry);
        self
    }

    /// Keeps the regression corpus in `folder` (`fuzz --add-to-corpus` writes
    /// `folder/SCENARIO/seed-N.json`); without it, the tool keeps none.
    pub fn with_corpus(mut self, folder: impl Into<PathBuf>) -> Toolbox {
        self.corpus = Some(folder.into());
        self
    }

    /// Names the build (a git commit, say) in the traces `replay --save` stores; `unknown`
    /// without it.
    pub fn with_commit(mut self, commit: impl Into<String>) -> Toolbox {
        self.commit = commit.into();
        self
    }

    /// The build's name that stored traces carry.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// How the tool is called: the start of every replay line it prints.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The registered scenarios, in the order `list` shows them.
    pub fn scenarios(&self) -> &[&'static dyn Scenario] {
        &self.scenarios
    }

    /// The corpus folder, if the tool keeps one.
    pub fn corpus(&self) -> Option<&Path> {
        self.corpus.as_deref()
    }

    /// The scenario called `name`, or an error that lists the valid names.
    pub fn find(&self, name: &str) -> Result<&'static dyn Scenario, String> {
        self.scenarios
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown scenario `{name}`; valid scenarios: {}",
                    self.names()
                )
            })
    }

    /// The scenario of a specification file, read, checked and kept for the rest of the
    /// process; an error if this tool reads none. Errors are `FILE:LINE: message`.
    pub fn load_file(&self, path: &Path) -> Result<&'static dyn Scenario, String> {
        match self.registry {
            Some(registry) => {
                let scenario = crate::spec::read_file(registry, path)?;
                Ok(Box::leak(Box::new(scenario)))
            }
            None => Err(format!(
                "--scenario-file {}: {} reads no scenario files; its scenarios are {}",
                path.display(),
                self.command,
                self.names()
            )),
        }
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.scenarios.iter().map(|s| s.name()).collect();
        names.join(", ")
    }

    /// The one line that replays a seed: `COMMAND replay --scenario NAME --seed N [--bug B]`
    /// (`--scenario-file FILE` for a scenario of a file).
    pub fn replay_line(&self, target: &str, seed: u64, bug: Option<&str>) -> String {
        crate::runner::replay_line(&self.command, target, seed, bug)
    }

    /// Parses the process's arguments as this tool's command line, runs the command and exits
    /// with its code: the whole `main` of a user's simulation binary.
    pub fn main(self) -> ! {
        use clap::{CommandFactory, FromArgMatches};
        end_quietly_when_the_output_closes();
        let name = self.command.clone();
        let matches = Standalone::command().bin_name(name).get_matches();
        let code = match Standalone::from_arg_matches(&matches) {
            Ok(cli) => self.run(cli.command),
            Err(e) => e.exit(),
        };
        std::process::exit(code)
    }

    /// Runs one command; returns its exit code.
    pub fn run(&self, command: Command) -> i32 {
        match command {
            Command::List(args) => self.list(args),
            Command::Fuzz(args) => fuzz::run(self, args),
            Command::Merge(args) => merge::run(self, args),
            Command::Replay(args) => replay::run(self, args),
            Command::Shrink(args) => shrink::run(self, args),
            Command::Show(args) => replay::show(self, args),
        }
    }

    fn list(&self, args: ListArgs) -> i32 {
        let listed: Vec<&'static dyn Scenario> = match &args.scenario_file {
            None => self.scenarios.clone(),
            Some(path) => match self.load_file(path) {
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
}

/// The toolbox's commands, for a tool's own command line to flatten into its subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// One line per scenario and per planted bug: `SCENARIO<TAB>BUG<TAB>description` (`-` for no bug).
    List(ListArgs),
    /// Runs many seeds of one scenario, or a short campaign over every scenario.
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
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// List the scenario of this specification file instead of the registered ones.
    #[arg(long, value_name = "FILE")]
    scenario_file: Option<PathBuf>,
}

/// The command line of a tool that has only the toolbox's commands.
#[derive(clap::Parser)]
#[command(about = "Deterministic simulation testing: fuzz, replay and shrink the scenarios")]
struct Standalone {
    #[command(subcommand)]
    command: Command,
}

/// `println!` panics when stdout is a pipe whose reader went away; that is no error of ours or
/// of the code under test, so the command ends quietly instead, as Unix tools do. Other panics
/// go on to the previous hook. [`Toolbox::main`] installs it; a tool with its own `main`
/// calls it first.
pub fn end_quietly_when_the_output_closes() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sim::{Plan, TraceLevel};

    struct Named(&'static str);

    impl Scenario for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn description(&self) -> &'static str {
            "a name only"
        }
        fn plan(&self, _: u64, _: Option<&str>) -> Plan {
            unreachable!("never planned")
        }
        fn run(&self, _: &Plan, _: TraceLevel) -> Result<crate::Run, String> {
            unreachable!("never run")
        }
    }

    static A: Named = Named("a");
    static B: Named = Named("b");

    #[test]
    fn a_tool_finds_its_scenarios_and_names_itself_in_replay_lines() {
        let toolbox = Toolbox::new("cargo run -p mine --", vec![&A, &B]);
        assert_eq!(toolbox.find("b").map(|s| s.name()), Ok("b"));
        let unknown = toolbox.find("c").err().expect("no scenario c");
        assert!(unknown.contains("valid scenarios: a, b"), "{unknown}");
        assert_eq!(
            toolbox.replay_line("--scenario a", 7, Some("bug")),
            "cargo run -p mine -- replay --scenario a --seed 7 --bug bug"
        );
        let no_files = toolbox
            .load_file(Path::new("x.toml"))
            .err()
            .expect("reads none");
        assert!(
            no_files.contains("reads no scenario files; its scenarios are a, b"),
            "{no_files}"
        );
        assert_eq!(toolbox.corpus(), None);
        assert_eq!(toolbox.commit(), "unknown");
    }

    #[test]
    #[should_panic(expected = "two scenarios are called `a`")]
    fn two_scenarios_of_one_name_are_refused() {
        Toolbox::new("tool", vec![&A, &B, &A]);
    }
}
