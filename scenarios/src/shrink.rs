//! Shrinking a failing plan (issue 15): fewer faults, fewer client operations, a shorter
//! safety phase and a quieter network, for as long as the plan still fails the same way.
//!
//! "The same way" is strict: the same outcome, the same checker and, for a panic, the same
//! location (`file:line`) as the original; a candidate that fails differently is not kept.
//! Every candidate run counts against [`Options::runs_max`]; a candidate already tried (the
//! runs are deterministic) is not run again. No wall clock, no threads: shrinking the same
//! plan twice gives the same plan.
//!
//! A panic is caught through [`crate::runner::execute`], so its location is known only when
//! the caller installed [`crate::runner::install_quiet_panic_hook`]; without it the whole
//! panic message must match.

use crate::Scenario;
use crate::runner::execute;
use serde::{Deserialize, Serialize};
use sim::{Duration, EventKind, Instant, Outcome, Plan, TraceLevel, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;

/// Candidate runs a round spends at most on each bisection: of the safety phase's length,
/// and of how much earlier the fault schedule moves.
const SAFETY_BISECTIONS: u32 = 12;
/// A bisection stops when the failing and passing values are this close.
const SAFETY_RESOLUTION: Duration = Duration::from_millis(10);

/// How much shrinking may cost.
#[derive(Clone, Debug)]
pub struct Options {
    /// Candidate runs at most (the run of the original plan is not a candidate).
    pub runs_max: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options { runs_max: 500 }
    }
}

/// How big a failing plan is, as its run shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// The run's events (`Report::event_count`); 0 when the run panicked (no report).
    pub events: u64,
    /// The plan's scheduled faults.
    pub faults: usize,
    /// Client invocations in the run's history; 0 when the run panicked (no history).
    pub operations: u64,
}

/// A shrunk plan and what it took.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub plan: Plan,
    /// The shrunk plan's verdict: same outcome and checker as the original's.
    pub verdict: Verdict,
    /// Candidate runs spent (at most `Options::runs_max`).
    pub runs: u64,
    pub before: Size,
    pub after: Size,
    /// Whether removing any single remaining fault or operation was checked to make the
    /// failure go away.
    pub one_minimal: bool,
}

impl Shrunk {
    /// The shrunk plan as a regression corpus entry whose header says where it came from
    /// (`from`: the replay line of the original run) and how much smaller it is. No wall time:
    /// the same input gives the same entry.
    pub fn entry(&self, from: &str) -> crate::corpus::Entry {
        crate::corpus::Entry {
            shrunk: Some(Origin {
                from: from.to_string(),
                before: self.before,
                after: self.after,
                runs: self.runs,
                one_minimal: self.one_minimal,
            }),
            // The first line, as `fuzz --add-to-corpus` keeps it.
            caught: self
                .verdict
                .headline()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            outcome: self.verdict.outcome,
            plan: self.plan.clone(),
        }
    }
}

/// The header of a shrunk plan's file (`cargo xtask shrink`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The command that replays the run the plan was shrunk from.
    pub from: String,
    pub before: Size,
    pub after: Size,
    /// Candidate runs the search spent.
    pub runs: u64,
    /// Whether removing any single remaining fault or operation was checked to make the
    /// failure go away.
    pub one_minimal: bool,
}

/// What a candidate must reproduce.
struct Target {
    outcome: Outcome,
    checker: Option<String>,
    /// For a panic: its `file:line` if the message names one, else the whole message.
    panic_at: Option<String>,
}

impl Target {
    fn of(verdict: &Verdict) -> Target {
        Target {
            outcome: verdict.outcome,
            checker: verdict.checker.clone(),
            panic_at: (verdict.outcome == Outcome::Panic).then(|| panic_location(verdict)),
        }
    }

    fn matches(&self, verdict: &Verdict) -> bool {
        verdict.outcome == self.outcome
            && verdict.checker == self.checker
            && (self.panic_at.is_none() || self.panic_at == Some(panic_location(verdict)))
    }
}

/// The `file:line` of a panic verdict's message (`... (at FILE:LINE)...`, as the quiet panic
/// hook writes it), or the whole message when it names none.
fn panic_location(verdict: &Verdict) -> String {
    let message = &verdict.message;
    if let Some(start) = message.rfind(" (at ") {
        let rest = &message[start + " (at ".len()..];
        if let Some(end) = rest.find(')') {
            return rest[..end].to_string();
        }
    }
    message.clone()
}

/// Shrinks a failing plan. Errors when the plan is malformed, is another scenario's, or does
/// not fail. The scenario is `'static` (as [`crate::find`] gives it) because runs go through
/// [`crate::runner::execute`], which catches panics.
/// `progress` is called after every candidate run with the runs so far and the current size.
pub fn shrink(
    scenario: &'static dyn Scenario,
    plan: &Plan,
    options: &Options,
    progress: &mut dyn FnMut(u64, &Size),
) -> Result<Shrunk, String> {
    if plan.scenario != scenario.name() {
        return Err(format!(
            "the plan is for scenario `{}`, not `{}`",
            plan.scenario,
            scenario.name()
        ));
    }
    plan.validate()
        .map_err(|e| format!("the plan is malformed: {e}"))?;
    let (result, run) = execute(scenario, plan, TraceLevel::Hash)
        .map_err(|e| format!("the plan is malformed: {e}"))?;
    if result.verdict.is_pass() {
        return Err(format!(
            "the plan does not fail (scenario `{}`, seed {}): there is nothing to shrink",
            plan.scenario, plan.seed
        ));
    }
    let before = size_of(plan, run.as_ref());
    let mut shrinker = Shrinker {
        scenario,
        target: Target::of(&result.verdict),
        runs: 0,
        runs_max: options.runs_max,
        tried: BTreeSet::new(),
        best: plan.clone(),
        verdict: result.verdict,
        size: before,
        invoked: run.as_ref().map(invocations),
        progress,
    };
    let one_minimal = shrinker.shrink();
    Ok(Shrunk {
        plan: shrinker.best,
        verdict: shrinker.verdict,
        runs: shrinker.runs,
        before,
        after: shrinker.size,
        one_minimal,
    })
}

/// Invocations per history process.
fn invocations(run: &crate::Run) -> BTreeMap<u64, u64> {
    let mut count = BTreeMap::new();
    for event in &run.history {
        if event.kind == EventKind::Invoke {
            *count.entry(event.process).or_insert(0) += 1;
        }
    }
    count
}

fn size_of(plan: &Plan, run: Option<&crate::Run>) -> Size {
    Size {
        events: run.map_or(0, |r| r.report.event_count),
        faults: plan.faults.len(),
        operations: run.map_or(0, |r| invocations(r).values().sum()),
    }
}

/// The indices of the operations of `process` that run, the first `limit` of them.
fn running(plan: &Plan, process: u64, limit: u64) -> Vec<u64> {
    match plan.operations.only.get(&process) {
        None => (0..limit).collect(),
        Some(ranges) => ranges
            .iter()
            .flat_map(|&[from, to]| from..to)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect(),
    }
}

/// Increasing, non-touching half-open ranges covering exactly `indices` (increasing).
fn ranges_of(indices: &[u64]) -> Vec<[u64; 2]> {
    let mut ranges: Vec<[u64; 2]> = Vec::new();
    for &index in indices {
        match ranges.last_mut() {
            Some(last) if last[1] == index => last[1] = index + 1,
            _ => ranges.push([index, index + 1]),
        }
    }
    ranges
}

/// `plan` running exactly `indices` of `process`; written operations that no longer run are
/// dropped.
fn with_operations(plan: &Plan, process: u64, indices: &[u64]) -> Plan {
    let mut candidate = plan.clone();
    candidate
        .operations
        .only
        .insert(process, ranges_of(indices));
    let script = &candidate.operations;
    let written = script
        .written
        .iter()
        .filter(|op| script.runs(op.process, op.index))
        .cloned()
        .collect();
    candidate.operations.written = written;
    candidate
}

/// The processes the plan restricts, with the indices each runs (finite: `only` lists them).
fn restricted(plan: &Plan) -> Vec<(u64, Vec<u64>)> {
    plan.operations
        .only
        .iter()
        .map(|(&process, ranges)| {
            let indices = ranges.iter().flat_map(|&[from, to]| from..to).collect();
            (process, indices)
        })
        .collect()
}

struct Shrinker<'a> {
    scenario: &'static dyn Scenario,
    target: Target,
    runs: u64,
    runs_max: u64,
    /// Candidates already run that did not fail the same way, as the stable hash of their
    /// JSON: 8 bytes each, whatever the plan's size, so the memory is bounded by the runs.
    tried: BTreeSet<u64>,
    best: Plan,
    verdict: Verdict,
    size: Size,
    /// Invocations per process in the best plan's run; `None` after a panic (no history).
    invoked: Option<BTreeMap<u64, u64>>,
    progress: &'a mut dyn FnMut(u64, &Size),
}

impl Shrinker<'_> {
    fn exhausted(&self) -> bool {
        self.runs >= self.runs_max
    }

    /// Runs a candidate; keeps it (and returns true) if it still fails the same way.
    fn try_plan(&mut self, candidate: Plan) -> bool {
        self.attempt(candidate) == Some(true)
    }

    /// As [`Shrinker::try_plan`], but `None` when the candidate would need a run and the
    /// budget is spent.
    fn attempt(&mut self, candidate: Plan) -> Option<bool> {
        if candidate == self.best || candidate.validate().is_err() {
            return Some(false);
        }
        let key = {
            let mut hasher = sim::StableHasher::new();
            hasher.write(candidate.to_json().as_bytes());
            hasher.finish()
        };
        if self.tried.contains(&key) {
            return Some(false);
        }
        if self.exhausted() {
            return None;
        }
        self.runs += 1;
        let kept = match execute(self.scenario, &candidate, TraceLevel::Hash) {
            Ok((result, run)) if self.target.matches(&result.verdict) => {
                self.size = size_of(&candidate, run.as_ref());
                self.invoked = run.as_ref().map(invocations);
                self.verdict = result.verdict;
                self.best = candidate;
                true
            }
            _ => {
                self.tried.insert(key);
                false
            }
        };
        (self.progress)(self.runs, &self.size);
        Some(kept)
    }

    /// The passes, repeated until a round changes nothing, then the 1-minimality check;
    /// returns whether the check passed.
    /// The passes run cheapest-first: faults, the safety phase and the network before the
    /// operations, so that the operations pass works on the fewest operations.
    fn shrink(&mut self) -> bool {
        loop {
            loop {
                let mut changed = false;
                changed |= self.drop_faults();
                changed |= self.cut_safety();
                changed |= self.advance_faults();
                changed |= self.quiet_network();
                changed |= self.restrict_operations();
                changed |= self.drop_operations();
                if !changed || self.exhausted() {
                    break;
                }
            }
            match self.check_one_minimal() {
                Some(true) => return true,
                // A single removal still failed (and was kept): shrink on.
                Some(false) if !self.exhausted() => continue,
                _ => return false,
            }
        }
    }

    /// Removes chunks of `len` items (halves, quarters, ... single ones) with `remove`
    /// building the candidate without items `[from, to)`; `len` is re-read after each kept
    /// candidate. Returns whether anything was removed.
    fn delta(
        &mut self,
        len: &dyn Fn(&Plan) -> usize,
        remove: &dyn Fn(&Plan, usize, usize) -> Plan,
    ) -> bool {
        let mut changed = false;
        let mut parts = 2;
        loop {
            let n = len(&self.best);
            if n == 0 || self.exhausted() {
                return changed;
            }
            let parts_now = parts.min(n);
            let chunk = n.div_ceil(parts_now);
            let mut kept = false;
            // Last chunk first: removing later faults or operations leaves the earlier ones
            // at their times, and what is left fails sooner.
            let mut to = n;
            while to > 0 {
                let from = to.saturating_sub(chunk);
                if self.try_plan(remove(&self.best, from, to)) {
                    kept = true;
                    changed = true;
                    break;
                }
                to = from;
            }
            if kept {
                parts = parts_now.saturating_sub(1).max(2);
            } else if parts_now >= n {
                return changed;
            } else {
                parts = (parts_now * 2).min(n);
            }
        }
    }

    fn drop_faults(&mut self) -> bool {
        self.delta(&|plan| plan.faults.len(), &|plan, from, to| {
            let mut candidate = plan.clone();
            candidate.faults.drain(from..to);
            candidate
        })
    }

    /// Restricts each process that invoked operations to those it invoked, and each process
    /// the script lists that invoked none to none (skipped after a panic: no history).
    fn restrict_operations(&mut self) -> bool {
        let Some(invoked) = self.invoked.clone() else {
            return false;
        };
        let mut candidate = self.best.clone();
        for (&process, &count) in &invoked {
            let indices = running(&candidate, process, count);
            candidate = with_operations(&candidate, process, &indices);
        }
        let listed: Vec<u64> = candidate.operations.only.keys().copied().collect();
        for process in listed {
            if !invoked.contains_key(&process) {
                candidate = with_operations(&candidate, process, &[]);
            }
        }
        self.try_plan(candidate)
    }

    fn drop_operations(&mut self) -> bool {
        let mut changed = false;
        // Whole processes first.
        for (process, indices) in restricted(&self.best) {
            if !indices.is_empty() {
                changed |= self.try_plan(with_operations(&self.best, process, &[]));
            }
        }
        // Then chunks and single operations of each process.
        let processes: Vec<u64> = self.best.operations.only.keys().copied().collect();
        for process in processes {
            let indices_of = move |plan: &Plan| -> Vec<u64> {
                plan.operations
                    .only
                    .get(&process)
                    .map(|ranges| ranges.iter().flat_map(|&[from, to]| from..to).collect())
                    .unwrap_or_default()
            };
            changed |= self.delta(&|plan| indices_of(plan).len(), &|plan, from, to| {
                let mut indices = indices_of(plan);
                indices.drain(from..to);
                with_operations(plan, process, &indices)
            });
        }
        changed
    }

    fn cut_safety(&mut self) -> bool {
        let mut changed = false;
        if let Some(at) = self.verdict.at {
            let just_after = Duration::from_nanos(
                at.as_nanos()
                    .saturating_add(Duration::from_millis(1).as_nanos()),
            );
            if just_after < self.best.safety_duration {
                let mut candidate = self.best.clone();
                candidate.safety_duration = just_after;
                changed |= self.try_plan(candidate);
            }
        }
        // Then a bisection between nothing and the shortest failing length so far: the failure
        // need not be monotone in the length, so this finds a short failing length, not
        // necessarily the shortest.
        let mut low = 0u64;
        for _ in 0..SAFETY_BISECTIONS {
            let high = self.best.safety_duration.as_nanos();
            let middle = low + (high - low) / 2;
            if high - low <= SAFETY_RESOLUTION.as_nanos() || self.exhausted() {
                break;
            }
            let mut candidate = self.best.clone();
            candidate.safety_duration = Duration::from_nanos(middle);
            if self.try_plan(candidate) {
                changed = true;
            } else {
                low = middle;
            }
        }
        changed
    }

    /// Moves the whole fault schedule and the end of the safety phase earlier by the same
    /// amount (at most the first fault's time), bisecting the amount: fewer operations run
    /// before the faults, which removing operations cannot achieve (an operation removed
    /// moves its process's later ones earlier, not the faults).
    fn advance_faults(&mut self) -> bool {
        let Some(first) = self.best.faults.first() else {
            return false;
        };
        let base = self.best.clone();
        let shifted = |amount: u64| {
            let mut candidate = base.clone();
            for scheduled in &mut candidate.faults {
                scheduled.at = Instant::from_nanos(scheduled.at.as_nanos() - amount);
            }
            candidate.safety_duration =
                Duration::from_nanos(candidate.safety_duration.as_nanos().saturating_sub(amount));
            candidate
        };
        // The largest amount first; then bisect between an amount that fails (`low`) and
        // one that does not (`high`).
        let mut high = first.at.as_nanos();
        if high == 0 {
            return false;
        }
        if self.try_plan(shifted(high)) {
            return true;
        }
        let mut low = 0u64;
        for _ in 0..SAFETY_BISECTIONS {
            if high - low <= SAFETY_RESOLUTION.as_nanos() || self.exhausted() {
                break;
            }
            let middle = low + (high - low) / 2;
            if self.try_plan(shifted(middle)) {
                low = middle;
            } else {
                high = middle;
            }
        }
        low > 0
    }

    fn quiet_network(&mut self) -> bool {
        let mut changed = false;
        let setters: [fn(&mut Plan) -> &mut u32; 4] = [
            |p| &mut p.swarm.link.loss_ppm,
            |p| &mut p.swarm.link.duplicate_ppm,
            |p| &mut p.swarm.client_link.loss_ppm,
            |p| &mut p.swarm.client_link.duplicate_ppm,
        ];
        for field in setters {
            let mut candidate = self.best.clone();
            if *field(&mut candidate) != 0 {
                *field(&mut candidate) = 0;
                changed |= self.try_plan(candidate);
            }
        }
        changed
    }

    /// Tries removing each single fault and each single operation. `Some(true)`: none of
    /// them still fails; `Some(false)`: one did (and was kept); `None`: the budget ran out.
    fn check_one_minimal(&mut self) -> Option<bool> {
        for index in 0..self.best.faults.len() {
            let mut candidate = self.best.clone();
            candidate.faults.remove(index);
            if self.attempt(candidate)? {
                return Some(false);
            }
        }
        for (process, indices) in restricted(&self.best) {
            for at in 0..indices.len() {
                let mut rest = indices.clone();
                rest.remove(at);
                if self.attempt(with_operations(&self.best, process, &rest))? {
                    return Some(false);
                }
            }
        }
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(outcome: Outcome, checker: Option<&str>, message: &str) -> Verdict {
        let mut verdict = Verdict::fail(outcome, message);
        verdict.checker = checker.map(str::to_string);
        verdict
    }

    #[test]
    fn only_the_same_failure_counts() {
        let original = failing(Outcome::Safety, Some("unique-ids"), "id 7 twice");
        let target = Target::of(&original);
        assert!(target.matches(&failing(Outcome::Safety, Some("unique-ids"), "id 9 twice")));
        assert!(!target.matches(&failing(Outcome::Safety, Some("set-full"), "id 7 twice")));
        assert!(!target.matches(&failing(Outcome::Safety, None, "id 7 twice")));
        assert!(!target.matches(&failing(Outcome::Liveness, Some("unique-ids"), "stuck")));
        assert!(!target.matches(&Verdict::pass()));
    }

    #[test]
    fn a_panic_must_panic_at_the_same_place() {
        let at = |message: &str| failing(Outcome::Panic, None, message);
        let original = at("panicked: boom 3 (at protocols/src/a.rs:10), in a handler of n1 at 2s");
        let target = Target::of(&original);
        assert_eq!(target.panic_at.as_deref(), Some("protocols/src/a.rs:10"));
        assert!(target.matches(&at("panicked: boom 4 (at protocols/src/a.rs:10)")));
        assert!(!target.matches(&at("panicked: boom 3 (at protocols/src/a.rs:11)")));
        assert!(!target.matches(&at("panicked: boom 3")));
        // Without a location the whole message must match.
        let bare = Target::of(&at("panicked: boom"));
        assert!(bare.matches(&at("panicked: boom")));
        assert!(!bare.matches(&at("panicked: bang")));
    }

    #[test]
    fn ranges_merge_adjacent_operations() {
        assert_eq!(ranges_of(&[]), Vec::<[u64; 2]>::new());
        assert_eq!(ranges_of(&[0, 1, 2, 5, 7, 8]), vec![[0, 3], [5, 6], [7, 9]]);
    }
}
