//! The toolbox every Faultline protocol is tested with, built-in or a user's own: what a
//! scenario is ([`Scenario`]: a seed expanded into a plan, a plan run into a [`Run`]), the
//! helpers scenarios are written with ([`harness`]: the swarm, the fault schedule, the two
//! phases, the checks), the campaign runner ([`runner`]), the shrinker ([`shrink`]), the
//! regression corpus ([`corpus`]) and the command line ([`cli`]: `list`, `fuzz`, `replay`,
//! `shrink`, `show`, `merge`) over any set of scenarios a tool registers.
//!
//! **Architecture Invariant:** this crate depends on the engine, the checkers and the trace
//! renderers, never on `protocols` or `scenarios`: a user's crate gets all of it without the
//! built-in protocols (a tidy test reads the manifest).

pub mod cli;
pub mod corpus;
pub mod harness;
pub mod registry;
pub mod runner;
pub mod shrink;
pub mod spec;

pub use cli::Toolbox;

use sim::{HistoryEvent, Instant, Plan, Report, Trace, TraceLevel};
use std::collections::BTreeMap;

/// A planted bug: a deliberate mistake in a protocol that the scenario's checks must catch.
#[derive(Clone, Copy, Debug)]
pub struct Bug {
    pub name: &'static str,
    pub description: &'static str,
}

/// A planted bug and the switch that turns it on in the protocol. A scenario family lists
/// each bug once, in one table that both `Scenario::bugs` (what `list` prints) and `run`
/// (what a plan's bug switches on) read.
#[derive(Clone, Copy, Debug)]
pub struct Planted<S> {
    pub bug: Bug,
    pub switch: S,
}

/// The bugs of a table, as `Scenario::bugs` lists them.
pub fn bugs_of<S>(planted: &[Planted<S>]) -> Vec<Bug> {
    planted.iter().map(|p| p.bug).collect()
}

/// The switch a plan's bug turns on: `off` without a bug; a name not in the scenario's table
/// is an error that lists the valid ones (an edited plan may name anything).
pub fn switch_for<S: Copy>(
    scenario: &str,
    bug: Option<&str>,
    planted: &[Planted<S>],
    off: S,
) -> Result<S, String> {
    let Some(bug) = bug else {
        return Ok(off);
    };
    match planted.iter().find(|p| p.bug.name == bug) {
        Some(planted) => Ok(planted.switch),
        None => Err(unknown_bug(scenario, bug, &bugs_of(planted))),
    }
}

/// Everything a run produced.
pub struct Run {
    pub report: Report,
    pub trace: Trace,
    pub history: Vec<HistoryEvent>,
    /// The time series protocols emitted (`Context::series`), by name: (time, value) points.
    pub series: BTreeMap<String, Vec<(Instant, u64)>>,
    /// The checkers the run performed, in order (the names of `Registry::checker_names`).
    pub checked: Vec<&'static str>,
}

impl Run {
    /// The run as `sim::testing::check_seeds` compares runs: its trace, and its verdict (an
    /// error with the verdict's headline unless it passed). A scenario's seeds are checked for
    /// determinism from `cargo test` with
    /// `check_seeds(seeds, |seed, level| run_seed(scenario, seed, None, level).unwrap().seed_run())`.
    pub fn seed_run(&self) -> sim::testing::SeedRun {
        let verdict = &self.report.verdict;
        let verdict = if verdict.is_pass() {
            Ok(())
        } else {
            Err(verdict.headline())
        };
        sim::testing::SeedRun::of_trace(&self.trace, verdict)
    }
}

/// A runnable scenario.
pub trait Scenario: Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn bugs(&self) -> Vec<Bug> {
        Vec::new()
    }
    /// Expands a seed into a plan. `bug` is a name from `bugs()` (checked by `check_bug`).
    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan;
    /// Runs a plan. An error means the plan itself is malformed (an edited plan naming an
    /// unknown node, say); what the run found is in the report's verdict.
    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String>;
    /// Extra lines that `replay` prints after the report (a per-second table, say); empty by
    /// default.
    fn summary(&self, _run: &Run) -> String {
        String::new()
    }
    /// The specification file a user gave (`--scenario-file`); `None` for a built-in scenario.
    fn file(&self) -> Option<&std::path::Path> {
        None
    }
    /// The checkers a run performs, in order.
    fn checkers(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Whether the k-th invocation of history process p is operation k of p in the plan's
    /// `operations` script, as for the closed-loop clients of most workloads: the shrinker
    /// removes operations only then. Open-loop arrivals (rpc-overload's load) are not.
    fn operations_follow_history(&self) -> bool {
        true
    }
    /// How the command line names the scenario: `--scenario NAME`, or `--scenario-file FILE`.
    fn command_line(&self) -> String {
        let file = self.file().map(|path| path.display().to_string());
        crate::runner::target(self.name(), file.as_deref())
    }
}

/// Checks that `bug` is one of the scenario's planted bugs; the error lists the valid ones.
pub fn check_bug(scenario: &dyn Scenario, bug: Option<&str>) -> Result<(), String> {
    let Some(bug) = bug else {
        return Ok(());
    };
    let bugs = scenario.bugs();
    if bugs.iter().any(|b| b.name == bug) {
        return Ok(());
    }
    Err(unknown_bug(scenario.name(), bug, &bugs))
}

fn unknown_bug(scenario: &str, bug: &str, bugs: &[Bug]) -> String {
    let names: Vec<&str> = bugs.iter().map(|b| b.name).collect();
    if names.is_empty() {
        format!("scenario `{scenario}` has no planted bugs (asked for `{bug}`)")
    } else {
        format!(
            "unknown bug `{bug}` for scenario `{scenario}`; valid bugs: {}",
            names.join(", ")
        )
    }
}

/// Plans and runs one seed.
pub fn run_seed(
    scenario: &dyn Scenario,
    seed: u64,
    bug: Option<&str>,
    level: TraceLevel,
) -> Result<Run, String> {
    check_bug(scenario, bug)?;
    scenario.run(&scenario.plan(seed, bug), level)
}
