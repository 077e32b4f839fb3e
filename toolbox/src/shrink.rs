//! Shrinking a failing plan (issue 15): fewer faults, fewer client operations, shorter phases,
//! a quieter network and a smaller workload, for as long as the plan still fails the same way.
//!
//! The passes work on the plan as data. Coarse ones first, until none removes anything: drop
//! faults (delta debugging), cut the safety phase, move the fault schedule earlier, zero the
//! random message and disk faults, keep only the operations the run invoked, drop the
//! operations of whole keys, drop operations (delta debugging over the run's invocations in
//! order). Then finer ones: cut the liveness phase (unless the failure is a liveness one),
//! shorten fault episodes, shrink clock jumps and drifts, narrow partitions, make latencies
//! constant at their least, lower the workload's counts (servers, clients, processes, keys),
//! and unpin the operations. Operations that stay are pinned to the times they ran at
//! (`Script::at`), so removing others does not move them; a disk crash's outcomes are keyed by
//! its time, and a disk operation's draws by its incarnation's start and its number there, so
//! removing another crash, or the operations of an earlier incarnation, leaves them as they
//! were. Last, a 1-minimality check
//! removes each remaining fault and operation alone.
//!
//! "The same way" is strict: the same outcome, the same checker, the same kind of message (its
//! headline up to the first `:` or `;`, numbers masked) and, for a panic, the same location (`file:line`) as the
//! original; a candidate that fails differently is not kept.
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
use sim::api::ops::TimedOp;
use sim::{
    Duration, EventKind, Fault, Instant, Latency, Outcome, Partition, Plan, ScheduledFault,
    TraceLevel, Verdict,
};
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
        Options { runs_max: 2000 }
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
    /// Whether operations were removed and checked: only where the run has a history that
    /// says which ran ([`Scenario::operations_follow_history`], and no panic).
    pub operations_checked: bool,
    /// Whether `progress` stopped the search before its budget ran out.
    pub stopped: bool,
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

/// The header of a shrunk plan's file (the `shrink` command).
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
    /// The message's headline with its numbers masked ([`shape`]): one checker can fail in
    /// more than one way (rpc-overload's `recovery` fails before the spike or after it), and
    /// a shrink must not slide from one to the other.
    shape: String,
    /// For a panic: its `file:line` if the message names one, else the whole message.
    panic_at: Option<String>,
}

impl Target {
    fn of(verdict: &Verdict) -> Target {
        let panic_at = (verdict.outcome == Outcome::Panic).then(|| panic_location(verdict));
        Target {
            outcome: verdict.outcome,
            checker: verdict.checker.clone(),
            // A panic's message is matched by its location (or whole, without one).
            shape: if panic_at.is_some() {
                String::new()
            } else {
                shape(&verdict.message)
            },
            panic_at,
        }
    }

    fn matches(&self, verdict: &Verdict) -> bool {
        verdict.outcome == self.outcome
            && verdict.checker == self.checker
            && match &self.panic_at {
                Some(at) => *at == panic_location(verdict),
                None => self.shape == shape(&verdict.message),
            }
    }
}

/// A message's headline, up to its first `:` or `;`, with each run of digits replaced by `#`:
/// what kind of failure it tells, not its particulars (`id n2-0 was handed out twice: to
/// process 14 at 0.005965s...` and the same with other ids, processes and times are one
/// shape, `id n#-# was handed out twice`; so are `...; the first, value 6, is missing on n1`
/// and `...; the first, value 41, is missing on n1, n2`).
fn shape(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or_default();
    let line = first_line.split([':', ';']).next().unwrap_or_default();
    let mut shape = String::with_capacity(line.len());
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                shape.push('#');
            }
            in_number = true;
        } else {
            shape.push(c);
            in_number = false;
        }
    }
    shape
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
/// not fail. The scenario is `'static` (as [`crate::Toolbox::find`] gives it) because runs go through
/// [`crate::runner::execute`], which catches panics.
/// `progress` is called after every candidate run with the runs so far and the current size;
/// returning false stops the search there (a user's Ctrl-C), with the smallest plan so far.
pub fn shrink(
    scenario: &'static dyn Scenario,
    plan: &Plan,
    options: &Options,
    progress: &mut dyn FnMut(u64, &Size) -> bool,
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
        // Operations are removed only where the history tells which ones ran.
        invoked: run
            .as_ref()
            .filter(|_| scenario.operations_follow_history())
            .map(invocations),
        progress,
        stopped: false,
    };
    let one_minimal = shrinker.shrink();
    Ok(Shrunk {
        plan: shrinker.best,
        verdict: shrinker.verdict,
        runs: shrinker.runs,
        before,
        after: shrinker.size,
        one_minimal,
        operations_checked: shrinker.invoked.is_some(),
        stopped: shrinker.stopped,
    })
}

/// A client invocation in a run's history.
#[derive(Clone, Debug)]
struct Invocation {
    process: u64,
    key: Option<String>,
    at: Instant,
}

/// The run's invocations, in the history's order.
fn invocations(run: &crate::Run) -> Vec<Invocation> {
    run.history
        .iter()
        .filter(|event| event.kind == EventKind::Invoke)
        .map(|event| Invocation {
            process: event.process,
            key: event.key.clone(),
            at: Instant::from_nanos(event.time.and_then(|t| u64::try_from(t).ok()).unwrap_or(0)),
        })
        .collect()
}

/// The operations a run of `plan` invoked, as (process, index, invocation) in the order of
/// `invoked` (its history's): a process invokes its running operations in index order.
fn invoked_operations<'a>(
    plan: &Plan,
    invoked: &'a [Invocation],
) -> Vec<(u64, u64, &'a Invocation)> {
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for invocation in invoked {
        *counts.entry(invocation.process).or_insert(0) += 1;
    }
    let mut indices: BTreeMap<u64, std::vec::IntoIter<u64>> = counts
        .into_iter()
        .map(|(process, count)| (process, running(plan, process, count).into_iter()))
        .collect();
    invoked
        .iter()
        .filter_map(|invocation| {
            let index = indices.get_mut(&invocation.process)?.next()?;
            Some((invocation.process, index, invocation))
        })
        .collect()
}

/// The time each operation the run of `plan` invoked was invoked at.
fn invocation_times(plan: &Plan, invoked: &[Invocation]) -> BTreeMap<(u64, u64), Instant> {
    invoked_operations(plan, invoked)
        .into_iter()
        .map(|(process, index, invocation)| ((process, index), invocation.at))
        .collect()
}

/// `plan` without the operations `gone` (process, index), and every operation left that has
/// a time in `times` pinned to it (with no times, the pins it had stay): removing an
/// operation would otherwise move its process's later ones earlier, and a failure that needs
/// an operation just before a crash would be lost to the shift. Works on the ranges, never on
/// the indices they hold, which may run to `u64::MAX`.
fn without_operations(
    plan: &Plan,
    gone: &BTreeSet<(u64, u64)>,
    times: &BTreeMap<(u64, u64), Instant>,
) -> Plan {
    let mut candidate = plan.clone();
    let script = &mut candidate.operations;
    let mut by_process: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(process, index) in gone {
        by_process.entry(process).or_default().push(index);
    }
    for (process, indices) in by_process {
        let ranges = script.only.get(&process).cloned();
        let ranges = ranges.unwrap_or_else(|| vec![[0, u64::MAX]]);
        script
            .only
            .insert(process, ranges_without(&ranges, &indices));
    }
    script.retain_running();
    if !times.is_empty() {
        let pinned = times
            .iter()
            .filter(|((process, index), _)| script.runs(*process, *index))
            .map(|(&(process, index), &at)| TimedOp { process, index, at })
            .collect();
        script.at = pinned;
    }
    candidate
}

/// `ranges` (increasing, apart) without `indices` (increasing).
fn ranges_without(ranges: &[[u64; 2]], indices: &[u64]) -> Vec<[u64; 2]> {
    let mut left = Vec::with_capacity(ranges.len() + indices.len());
    let mut next = indices.iter().copied().peekable();
    for &[from, to] in ranges {
        let mut start = from;
        while let Some(&index) = next.peek() {
            if index >= to {
                break;
            }
            next.next();
            if index < start {
                continue;
            }
            if index > start {
                left.push([start, index]);
            }
            start = index + 1;
        }
        if start < to {
            left.push([start, to]);
        }
    }
    left
}

fn size_of(plan: &Plan, run: Option<&crate::Run>) -> Size {
    Size {
        events: run.map_or(0, |r| r.report.event_count),
        faults: plan.faults.len(),
        operations: run.map_or(0, |r| {
            r.history
                .iter()
                .filter(|e| e.kind == EventKind::Invoke)
                .count() as u64
        }),
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

/// `plan` running exactly `indices` of `process`; written and pinned operations that no
/// longer run are dropped.
fn with_operations(plan: &Plan, process: u64, indices: &[u64]) -> Plan {
    let mut candidate = plan.clone();
    let script = &mut candidate.operations;
    script.only.insert(process, ranges_of(indices));
    script.retain_running();
    candidate
}

/// Workload fields that count something (nodes, clients, processes, keys, the range of
/// values), so that a smaller value is a simpler run. A scenario file's workload shrinks
/// through the same names.
const COUNT_FIELDS: [&str; 7] = [
    "servers",
    "clients",
    "processes",
    "processes_per_client",
    "workers",
    "keys",
    "amount_max",
];

/// Counts up to this are tried one by one after their bisection.
const SMALL_COUNT_MAX: u64 = 32;

/// The least delay a latency draws.
fn least_latency(latency: &Latency) -> Duration {
    match *latency {
        Latency::Constant(d) => d,
        Latency::Uniform { min, .. } => min,
        Latency::Exponential { floor, .. } => floor,
        Latency::Tail { fast_min, .. } => fast_min,
    }
}

/// For a repair (heal, restart, resume, release) at `index`: the index of the fault it ends,
/// the latest one before it.
fn episode_start(faults: &[ScheduledFault], index: usize) -> Option<usize> {
    let repair = &faults[index].fault;
    faults[..index]
        .iter()
        .rposition(|earlier| match (&earlier.fault, repair) {
            (Fault::Partition(_), Fault::Heal) => true,
            (Fault::Crash(a), Fault::Restart(b)) | (Fault::Pause(a), Fault::Resume(b)) => a == b,
            (Fault::Hold { from, to }, Fault::Release { from: f, to: t }) => from == f && to == t,
            (Fault::CrashLeader { episode: a }, Fault::RestartLeader { episode: b }) => a == b,
            _ => false,
        })
}

/// The partition with its `at`-th movable node moved to the largest group (for groups) or
/// dropped from its side (for a one-way cut); `None` when there is no such node, or when
/// moving it would leave a side empty.
fn without_node(partition: &Partition, at: usize) -> Option<Partition> {
    match partition {
        Partition::Groups(groups) => {
            let largest = (0..groups.len()).max_by_key(|&g| (groups[g].len(), usize::MAX - g))?;
            let (group, slot) = groups
                .iter()
                .enumerate()
                .filter(|&(g, nodes)| g != largest && nodes.len() > 1)
                .flat_map(|(g, nodes)| (0..nodes.len()).map(move |slot| (g, slot)))
                .nth(at)?;
            let mut groups = groups.clone();
            let node = groups[group].remove(slot);
            groups[largest].push(node);
            groups[largest].sort_unstable();
            Some(Partition::Groups(groups))
        }
        Partition::OneWay { from, to } => {
            let movable_from = if from.len() > 1 { from.len() } else { 0 };
            let movable_to = if to.len() > 1 { to.len() } else { 0 };
            let (mut from, mut to) = (from.clone(), to.clone());
            if at < movable_from {
                from.remove(at);
            } else if at < movable_from + movable_to {
                to.remove(at - movable_from);
            } else {
                return None;
            }
            Some(Partition::OneWay { from, to })
        }
        Partition::Bridge { .. } => None,
    }
}

/// Leaves out of `partition` the nodes numbered `count` and up.
fn keep_nodes_below(partition: &mut Partition, count: u64) {
    let keep = |nodes: &mut Vec<sim::api::NodeId>| nodes.retain(|n| u64::from(n.0) < count);
    match partition {
        Partition::Groups(groups) => {
            groups.iter_mut().for_each(keep);
            groups.retain(|group| !group.is_empty());
        }
        Partition::OneWay { from, to } => {
            keep(from);
            keep(to);
        }
        Partition::Bridge { left, right, .. } => {
            keep(left);
            keep(right);
        }
    }
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
    /// The invocations of the best plan's run, in order; `None` after a panic (no history)
    /// or when the scenario's operations do not follow its history: then operations stay.
    invoked: Option<Vec<Invocation>>,
    progress: &'a mut dyn FnMut(u64, &Size) -> bool,
    /// `progress` asked to stop.
    stopped: bool,
}

impl Shrinker<'_> {
    fn exhausted(&self) -> bool {
        self.runs >= self.runs_max || self.stopped
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
                self.invoked = run
                    .as_ref()
                    .filter(|_| self.scenario.operations_follow_history())
                    .map(invocations);
                self.verdict = result.verdict;
                self.best = candidate;
                true
            }
            _ => {
                self.tried.insert(key);
                false
            }
        };
        if !(self.progress)(self.runs, &self.size) {
            self.stopped = true;
        }
        Some(kept)
    }

    /// The coarse passes, repeated until a round changes nothing; then the finer ones (and the
    /// coarse again if they changed something); then the 1-minimality check. Returns whether
    /// the check passed.
    /// The coarse passes run cheapest-first: faults, the phases and the network's random
    /// faults before the operations, so that the operations passes work on the fewest
    /// operations; whole keys before single operations.
    fn shrink(&mut self) -> bool {
        loop {
            loop {
                let mut changed = false;
                changed |= self.drop_faults();
                changed |= self.cut_safety();
                changed |= self.advance_faults();
                changed |= self.quiet_rates();
                changed |= self.restrict_operations();
                changed |= self.drop_keys();
                changed |= self.drop_operations();
                if !changed || self.exhausted() {
                    break;
                }
            }
            // The finer passes, once the coarse ones stopped removing anything.
            if !self.exhausted() {
                let mut changed = false;
                changed |= self.cut_liveness();
                changed |= self.narrow_faults();
                changed |= self.simplest_latencies();
                changed |= self.shrink_workload();
                changed |= self.unpin();
                if changed {
                    continue;
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
        let Some(invoked) = &self.invoked else {
            return false;
        };
        let mut ran: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (process, index, _) in invoked_operations(&self.best, invoked) {
            ran.entry(process).or_default().push(index);
        }
        let mut candidate = self.best.clone();
        for (process, indices) in &ran {
            candidate = with_operations(&candidate, *process, indices);
        }
        let listed: Vec<u64> = candidate.operations.only.keys().copied().collect();
        for process in listed {
            if !ran.contains_key(&process) {
                candidate = with_operations(&candidate, process, &[]);
            }
        }
        self.try_plan(candidate)
    }

    /// Drops the operations on whole keys, as delta debugging over the keys the run's history
    /// names: the history model takes operations on different keys to be independent, so a
    /// failure usually needs the operations on one key. Works on the operations the run
    /// invoked (after [`Shrinker::restrict_operations`]); skipped after a panic.
    fn drop_keys(&mut self) -> bool {
        let Some(invoked) = &self.invoked else {
            return false;
        };
        let mut of_key: BTreeMap<Option<String>, BTreeSet<(u64, u64)>> = BTreeMap::new();
        for (process, index, invocation) in invoked_operations(&self.best, invoked) {
            let key = invocation.key.clone();
            of_key.entry(key).or_default().insert((process, index));
        }
        let times = invocation_times(&self.best, invoked);
        if of_key.len() < 2 {
            return false;
        }
        // The keys that some operation of a plan still runs on.
        let present = |plan: &Plan| -> Vec<&BTreeSet<(u64, u64)>> {
            of_key
                .values()
                .filter(|ops| ops.iter().any(|&(p, i)| plan.operations.runs(p, i)))
                .collect()
        };
        self.delta(&|plan| present(plan).len(), &|plan, from, to| {
            let keys = present(plan);
            let gone = keys[from..to].iter().copied().flatten().copied().collect();
            without_operations(plan, &gone, &times)
        })
    }

    /// Drops operations, as delta debugging over the operations the run invoked in the order
    /// it invoked them (so a chunk is a stretch of the run, across processes); skipped after a
    /// panic.
    fn drop_operations(&mut self) -> bool {
        let Some(invoked) = &self.invoked else {
            return false;
        };
        let ops: Vec<(u64, u64)> = invoked_operations(&self.best, invoked)
            .into_iter()
            .map(|(process, index, _)| (process, index))
            .collect();
        let times = invocation_times(&self.best, invoked);
        let present = |plan: &Plan| -> Vec<(u64, u64)> {
            ops.iter()
                .copied()
                .filter(|&(p, i)| plan.operations.runs(p, i))
                .collect()
        };
        self.delta(&|plan| present(plan).len(), &|plan, from, to| {
            let gone = present(plan)[from..to].iter().copied().collect();
            without_operations(plan, &gone, &times)
        })
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
        changed |= self.lower(
            0,
            SAFETY_RESOLUTION.as_nanos(),
            &|plan| plan.safety_duration.as_nanos(),
            &|plan, nanos| plan.safety_duration = Duration::from_nanos(nanos),
        );
        changed
    }

    /// Shortens the liveness phase, down to nothing, unless the failure is a liveness one:
    /// there a shorter phase would fail for want of time, not for the bug.
    fn cut_liveness(&mut self) -> bool {
        if self.target.outcome == Outcome::Liveness {
            return false;
        }
        self.lower(
            0,
            SAFETY_RESOLUTION.as_nanos(),
            &|plan| plan.liveness_duration.as_nanos(),
            &|plan, nanos| plan.liveness_duration = Duration::from_nanos(nanos),
        )
    }

    /// Lowers a value of the plan that fails now: tries `floor` first, then bisects between
    /// the highest value seen not to fail and the lowest failing one, until they are within
    /// `resolution` or [`SAFETY_BISECTIONS`] runs were spent. Returns whether it lowered it.
    fn lower(
        &mut self,
        floor: u64,
        resolution: u64,
        get: &dyn Fn(&Plan) -> u64,
        set: &dyn Fn(&mut Plan, u64),
    ) -> bool {
        let with = |plan: &Plan, value: u64| {
            let mut candidate = plan.clone();
            set(&mut candidate, value);
            candidate
        };
        if get(&self.best) <= floor {
            return false;
        }
        if self.try_plan(with(&self.best, floor)) {
            return true;
        }
        let mut changed = false;
        let mut low = floor;
        for _ in 0..SAFETY_BISECTIONS {
            let high = get(&self.best);
            if high.saturating_sub(low) <= resolution.max(1) || self.exhausted() {
                break;
            }
            let middle = low + (high - low) / 2;
            if self.try_plan(with(&self.best, middle)) {
                changed = true;
            } else {
                low = middle;
            }
        }
        changed
    }

    /// Narrows the faults that remain: each episode shorter (its repair earlier, down to its
    /// fault or the fault before it, so the schedule stays in order), each clock jump and drift
    /// smaller, each partition around fewer nodes.
    fn narrow_faults(&mut self) -> bool {
        let mut changed = false;
        for index in 0..self.best.faults.len() {
            if self.exhausted() {
                break;
            }
            let Some(fault) = self.best.faults.get(index).map(|f| f.fault.clone()) else {
                break;
            };
            if episode_start(&self.best.faults, index).is_some() {
                // The fault before the repair: its episode's start, or later.
                let floor = self.best.faults[index - 1].at.as_nanos();
                changed |= self.lower(
                    floor,
                    SAFETY_RESOLUTION.as_nanos(),
                    &|plan| plan.faults[index].at.as_nanos(),
                    &|plan, nanos| plan.faults[index].at = Instant::from_nanos(nanos),
                );
            }
            match fault {
                Fault::ClockJump { offset_nanos, .. } => {
                    let sign = offset_nanos.signum();
                    changed |= self.lower(
                        0,
                        Duration::from_millis(1).as_nanos(),
                        &|plan| match plan.faults[index].fault {
                            Fault::ClockJump { offset_nanos, .. } => offset_nanos.unsigned_abs(),
                            _ => 0,
                        },
                        &|plan, magnitude| {
                            if let Fault::ClockJump { offset_nanos, .. } =
                                &mut plan.faults[index].fault
                            {
                                *offset_nanos = sign * i64::try_from(magnitude).unwrap_or(0);
                            }
                        },
                    );
                }
                Fault::ClockDrift { drift_ppm, .. } => {
                    let sign = drift_ppm.signum();
                    changed |= self.lower(
                        0,
                        1,
                        &|plan| match plan.faults[index].fault {
                            Fault::ClockDrift { drift_ppm, .. } => {
                                u64::from(drift_ppm.unsigned_abs())
                            }
                            _ => 0,
                        },
                        &|plan, magnitude| {
                            if let Fault::ClockDrift { drift_ppm, .. } =
                                &mut plan.faults[index].fault
                            {
                                *drift_ppm = sign * i32::try_from(magnitude).unwrap_or(0);
                            }
                        },
                    );
                }
                Fault::Partition(_) => changed |= self.narrow_partition(index),
                _ => {}
            }
        }
        changed
    }

    /// Moves the nodes of a partition's smaller sides, one at a time, to its largest group (a
    /// one-way cut loses them from its lists), as long as the plan still fails.
    fn narrow_partition(&mut self, index: usize) -> bool {
        let mut changed = false;
        let mut at = 0;
        loop {
            if self.exhausted() {
                return changed;
            }
            let Fault::Partition(partition) = &self.best.faults[index].fault else {
                return changed;
            };
            let Some(narrower) = without_node(partition, at) else {
                return changed;
            };
            let mut candidate = self.best.clone();
            candidate.faults[index].fault = Fault::Partition(narrower);
            if self.try_plan(candidate) {
                changed = true;
            } else {
                at += 1;
            }
        }
    }

    /// Makes the workload smaller: each of its counts ([`COUNT_FIELDS`]: servers, clients,
    /// processes, keys, the range of values) as low as it goes while the plan still fails. Fewer servers
    /// is fewer nodes: a candidate whose faults name a node that is gone is malformed, and not
    /// kept.
    fn shrink_workload(&mut self) -> bool {
        let mut changed = false;
        for field in COUNT_FIELDS {
            let count = |plan: &Plan| plan.workload.get(field).and_then(serde_json::Value::as_u64);
            if count(&self.best).is_none() {
                continue;
            }
            let set = |plan: &mut Plan, value: u64| {
                if let Some(object) = plan.workload.as_object_mut() {
                    object.insert(field.to_string(), value.into());
                }
                // Fewer servers: the partitions leave out the nodes that are gone (the
                // clients, numbered after the servers, move down and stay out of them).
                if field == "servers" {
                    for scheduled in &mut plan.faults {
                        if let Fault::Partition(partition) = &mut scheduled.fault {
                            keep_nodes_below(partition, value);
                        }
                    }
                }
            };
            changed |= self.lower(1, 1, &|plan| count(plan).unwrap_or(0), &set);
            // A failure need not be monotone in a count (a 25-node broadcast may fail with 2
            // nodes and not with 13): small counts are also tried one by one, smallest first.
            let now = count(&self.best).unwrap_or(0);
            if now <= SMALL_COUNT_MAX {
                for value in 2..now {
                    let mut candidate = self.best.clone();
                    set(&mut candidate, value);
                    if self.try_plan(candidate) {
                        changed = true;
                        break;
                    }
                }
            }
        }
        changed
    }

    /// Moves the whole fault schedule and the end of the safety phase earlier by the same
    /// amount (at most the first fault's time), bisecting the amount: fewer operations run
    /// before the faults, with the operations' own draws unchanged.
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

    /// Switches off each kind of random message and disk fault the swarm drew.
    fn quiet_rates(&mut self) -> bool {
        let mut changed = false;
        let rates: [fn(&mut Plan) -> &mut u32; 11] = [
            |p| &mut p.swarm.link.loss_ppm,
            |p| &mut p.swarm.link.duplicate_ppm,
            |p| &mut p.swarm.client_link.loss_ppm,
            |p| &mut p.swarm.client_link.duplicate_ppm,
            |p| &mut p.swarm.disk.crash_lose_ppm,
            |p| &mut p.swarm.disk.crash_tear_ppm,
            |p| &mut p.swarm.disk.faults.read_corrupt_ppm,
            |p| &mut p.swarm.disk.faults.latent_ppm,
            |p| &mut p.swarm.disk.faults.read_error_ppm,
            |p| &mut p.swarm.disk.faults.write_error_ppm,
            |p| &mut p.swarm.disk.faults.misdirect_ppm,
        ];
        for field in rates {
            let mut candidate = self.best.clone();
            if *field(&mut candidate) != 0 {
                *field(&mut candidate) = 0;
                changed |= self.try_plan(candidate);
            }
        }
        changed
    }

    /// Drops the operations' pinned times, all at once, if the plan fails without them: a
    /// plan is simpler when its operations go at their drawn times.
    fn unpin(&mut self) -> bool {
        if self.best.operations.at.is_empty() {
            return false;
        }
        let mut candidate = self.best.clone();
        candidate.operations.at.clear();
        self.try_plan(candidate)
    }

    /// Makes each latency constant at its least value.
    fn simplest_latencies(&mut self) -> bool {
        let mut changed = false;
        let latencies: [fn(&mut Plan) -> &mut Latency; 4] = [
            |p| &mut p.swarm.link.latency,
            |p| &mut p.swarm.client_link.latency,
            |p| &mut p.swarm.disk.latency,
            |p| &mut p.swarm.disk.sync_latency,
        ];
        for field in latencies {
            let mut candidate = self.best.clone();
            let latency = field(&mut candidate);
            let least = Latency::Constant(least_latency(latency));
            if *latency != least {
                *latency = least;
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
        // Each operation the run invoked, removed as the operations passes remove them: the
        // others pinned to their times. Without a history (a panic, or operations that do not
        // follow it) operations are not removed, and not checked.
        let Some(invoked) = &self.invoked else {
            return Some(true);
        };
        let times = invocation_times(&self.best, invoked);
        let ops: Vec<(u64, u64)> = times.keys().copied().collect();
        for op in ops {
            let gone = BTreeSet::from([op]);
            if self.attempt(without_operations(&self.best, &gone, &times))? {
                return Some(false);
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
        assert!(target.matches(&failing(
            Outcome::Safety,
            Some("unique-ids"),
            "id 12 twice\nmore"
        )));
        assert!(!target.matches(&failing(
            Outcome::Safety,
            Some("unique-ids"),
            "history malformed"
        )));
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
    fn a_shape_masks_the_numbers_of_the_first_line() {
        assert_eq!(
            shape("no recovery within 5s of the spike's end at 7.269000s: 0 of 0 calls\nmore"),
            "no recovery within #s of the spike's end at #.#s"
        );
        assert_eq!(
            shape("1 of 2 values are missing; the first, value 6, is missing on n1, n2"),
            shape("1 of 1 values are missing; the first, value 41, is missing on n3")
        );
        assert_ne!(
            shape("second 0 before the spike was unhealthy (96 of 106 calls ok)"),
            shape("no recovery within 5s of the spike's end at 7.269000s")
        );
    }

    #[test]
    fn ranges_lose_single_indices_without_expanding() {
        let all = [[0, u64::MAX]];
        assert_eq!(
            ranges_without(&all, &[0, 5, 6]),
            vec![[1, 5], [7, u64::MAX]]
        );
        assert_eq!(
            ranges_without(&[[2, 4], [8, 10]], &[1, 3, 8, 9, 12]),
            vec![[2, 3]]
        );
        assert_eq!(ranges_without(&[[2, 4]], &[]), vec![[2, 4]]);
    }

    #[test]
    fn ranges_merge_adjacent_operations() {
        assert_eq!(ranges_of(&[]), Vec::<[u64; 2]>::new());
        assert_eq!(ranges_of(&[0, 1, 2, 5, 7, 8]), vec![[0, 3], [5, 6], [7, 9]]);
    }
}
