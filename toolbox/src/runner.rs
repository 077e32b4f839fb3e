//! Running seeds the way a campaign does: a panic in the code under test becomes the seed's
//! verdict instead of taking the campaign down, and a seed can be run twice to check that it
//! is deterministic.

use crate::{Run, Scenario};
use sim::{Outcome, Plan, Report, TraceLevel, Verdict};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether this thread is running a plan in [`execute`]: only there is a panic a verdict.
    static IN_EXECUTE: Cell<bool> = const { Cell::new(false) };
}

/// Wraps the process's panic hook: a panic inside [`execute`] (the code under test) is
/// recorded for its verdict instead of printed, so a campaign with many panicking seeds stays
/// readable; any other panic (a bug in the command line itself) goes to the previous hook and
/// is printed as usual.
pub fn install_quiet_panic_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !IN_EXECUTE.with(Cell::get) {
            previous(info);
            return;
        }
        let message = payload_text(info.payload());
        let mut text = match info.location() {
            Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
            None => message,
        };
        // Inside a handler, say whose and when: the replay's trace leads up to that moment.
        if let (time, Some(node)) = sim::current_event() {
            text.push_str(&format!(", in a handler of {node} at {time}"));
        }
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
    }));
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// The one line that replays a seed: `COMMAND replay TARGET --seed N [--bug B]`, where
/// `command` is how the tool is called (`cargo xtask`) and `target` names the scenario
/// (`--scenario NAME` or `--scenario-file FILE`, as [`Scenario::command_line`] gives it).
pub fn replay_line(command: &str, target: &str, seed: u64, bug: Option<&str>) -> String {
    let mut line = format!("{command} replay {target} --seed {seed}");
    if let Some(bug) = bug {
        line.push_str(&format!(" --bug {bug}"));
    }
    line
}

/// The result of one seed in a campaign.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub scenario: &'static str,
    /// The scenario file it came from (`Scenario::file`); `None` for a built-in scenario.
    pub file: Option<String>,
    pub seed: u64,
    pub bug: Option<String>,
    pub verdict: Verdict,
    /// Absent when the run panicked.
    pub report: Option<Report>,
}

impl SeedResult {
    /// The line that replays this seed with the tool called as `command`.
    pub fn replay_line(&self, command: &str) -> String {
        replay_line(command, &self.target(), self.seed, self.bug.as_deref())
    }

    /// How the command line names the scenario: `--scenario NAME` or `--scenario-file FILE`.
    pub fn target(&self) -> String {
        target(self.scenario, self.file.as_deref())
    }
}

/// How the command line names a scenario, or the scenario of a file.
pub fn target(scenario: &str, file: Option<&str>) -> String {
    match file {
        Some(file) => format!("--scenario-file {file}"),
        None => format!("--scenario {scenario}"),
    }
}

/// Runs a plan, turning a panic into a `panic` verdict. `Err` means the plan is malformed.
pub fn execute(
    scenario: &'static dyn Scenario,
    plan: &Plan,
    level: TraceLevel,
) -> Result<(SeedResult, Option<Run>), String> {
    LAST_PANIC.with(|last| last.borrow_mut().take());
    IN_EXECUTE.with(|inside| inside.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| scenario.run(plan, level)));
    IN_EXECUTE.with(|inside| inside.set(false));
    let mut result = SeedResult {
        scenario: scenario.name(),
        file: scenario.file().map(|path| path.display().to_string()),
        seed: plan.seed,
        bug: plan.bug.clone(),
        verdict: Verdict::pass(),
        report: None,
    };
    match outcome {
        Ok(Ok(run)) => {
            result.verdict = run.report.verdict.clone();
            result.report = Some(run.report.clone());
            Ok((result, Some(run)))
        }
        Ok(Err(bad_plan)) => Err(bad_plan),
        Err(payload) => {
            let message = LAST_PANIC
                .with(|last| last.borrow_mut().take())
                .unwrap_or_else(|| payload_text(payload.as_ref()));
            result.verdict = Verdict::fail(Outcome::Panic, format!("panicked: {message}"));
            Ok((result, None))
        }
    }
}

/// Runs a plan at the hash-only trace level on a thread of its own, so that no thread-local
/// state of one run (a library's `thread_rng`, a cache) reaches the next: how campaign
/// workers run each seed.
pub fn execute_fresh(scenario: &'static dyn Scenario, plan: &Plan) -> Result<SeedResult, String> {
    on_fresh_thread(|| execute(scenario, plan, TraceLevel::Hash).map(|(result, _)| result))
}

/// Runs a plan, each run on a fresh thread (`execute_fresh`), and its events recorded.
fn execute_recorded(
    scenario: &'static dyn Scenario,
    plan: &Plan,
) -> Result<Option<Vec<sim::TraceRecord>>, String> {
    on_fresh_thread(|| {
        let (_, run) = execute(scenario, plan, TraceLevel::Record)?;
        Ok(run.map(|run| run.trace.records().to_vec()))
    })
}

fn on_fresh_thread<R: Send>(run: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("seed".to_string())
            .spawn_scoped(scope, run)
            .expect("a thread for the run")
            .join()
            .unwrap_or_else(|payload| panic::resume_unwind(payload))
    })
}

/// Runs a plan twice, each run on a fresh thread, comparing trace hashes. On a mismatch, runs
/// it twice more recording every event and names the first event that differs. Returns the
/// first run's result, with a `nondeterminism` verdict if the runs differed.
pub fn execute_twice(scenario: &'static dyn Scenario, plan: &Plan) -> Result<SeedResult, String> {
    let first = execute_fresh(scenario, plan)?;
    let second = execute_fresh(scenario, plan)?;
    let hash = |r: &SeedResult| r.report.as_ref().map(|r| r.trace_hash);
    if hash(&first) == hash(&second) && first.verdict == second.verdict {
        return Ok(first);
    }
    let a = execute_recorded(scenario, plan)?;
    let b = execute_recorded(scenario, plan)?;
    let detail = match (a, b) {
        (Some(a), Some(b)) => match sim::trace::describe_first_difference(&a, &b) {
            Some(text) => text,
            None => "the recorded traces were equal, but the hashed runs differed".to_string(),
        },
        _ => "one of the runs panicked and the other did not".to_string(),
    };
    let mut result = first;
    result.verdict = Verdict::fail(
        Outcome::Nondeterminism,
        format!(
            "two runs of the same seed differed (hashes {:016x?} and {:016x?}); {detail}",
            hash(&result),
            hash(&second)
        ),
    );
    Ok(result)
}
