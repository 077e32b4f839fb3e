//! What a campaign keeps of a scenario's seeds: counts, sums, histograms and the lowest failing
//! seeds of each outcome. Every part merges exactly and in any order (sums, maxima, histograms,
//! the lowest K of a union), so the summary of a campaign is the same for every `--jobs` and
//! for any split into shards, and its size does not grow with the number of seeds.

use super::histogram::Histogram;
use crate::runner::{self, SeedResult};
use serde::{Deserialize, Serialize};
use sim::Outcome;
use std::collections::BTreeMap;

/// Failing seeds kept per outcome: the lowest ones; the rest are counted.
pub const FAILURES_KEPT: usize = 10;

/// A scenario's (with its bug's) part of a campaign.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSummary {
    pub scenario: String,
    /// The scenario file (`--scenario-file`) of a scenario that is not built in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<String>,
    pub bug: Option<String>,
    pub seeds: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub events: u64,
    pub faults: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
    /// Per-seed values (`Metrics::gauge`) across seeds.
    pub gauges: BTreeMap<String, Histogram>,
    pub latencies: BTreeMap<String, LatencySpread>,
    /// The lowest failing seeds of each outcome, in seed order.
    pub failures: Vec<Failure>,
}

/// Per-seed latency quantiles across seeds: the median seed's p50 and p95 come from
/// histograms, the worst seed's p99 and maximum are exact.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpread {
    pub p50: Histogram,
    pub p95: Histogram,
    pub worst_p99: u64,
    pub worst_max: u64,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub seed: u64,
    pub outcome: Outcome,
    pub message: String,
    /// Which checker found it and where (`Verdict::location`); empty when not known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// The command that replays the seed (rebuilt when a summary is read back).
    pub replay: String,
}

impl Failure {
    /// `outcome [location]: the message's first line`, as fuzz prints a failure and the
    /// regression corpus records what a plan caught (`replay` shows the whole message).
    pub fn headline(&self) -> String {
        let message = self.message.lines().next().unwrap_or_default();
        match self.location.as_str() {
            "" => format!("{}: {message}", self.outcome.as_str()),
            location => format!("{} [{location}]: {message}", self.outcome.as_str()),
        }
    }
}

fn add_to<K: Ord + Clone>(map: &mut BTreeMap<K, u64>, key: &K, delta: u64) {
    match map.get_mut(key) {
        Some(value) => *value = value.saturating_add(delta),
        None => {
            map.insert(key.clone(), delta);
        }
    }
}

impl TargetSummary {
    pub fn new(scenario: &str, bug: Option<&str>) -> TargetSummary {
        TargetSummary {
            scenario: scenario.to_string(),
            scenario_file: None,
            bug: bug.map(str::to_string),
            seeds: 0,
            outcomes: BTreeMap::new(),
            events: 0,
            faults: BTreeMap::new(),
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            latencies: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    /// Seeds that did not pass.
    pub fn failing(&self) -> u64 {
        let all = self
            .outcomes
            .values()
            .fold(0u64, |a, &n| a.saturating_add(n));
        all - self.outcomes.get(&Outcome::Pass).copied().unwrap_or(0)
    }

    /// Counts one seed's result; a failure's replay line starts with `command`.
    pub fn add(&mut self, result: &SeedResult, command: &str) {
        self.seeds = self.seeds.saturating_add(1);
        add_to(&mut self.outcomes, &result.verdict.outcome, 1);
        if !result.verdict.is_pass() {
            self.keep_failure(Failure {
                seed: result.seed,
                outcome: result.verdict.outcome,
                message: result.verdict.message.clone(),
                location: result.verdict.location(),
                replay: result.replay_line(command),
            });
        }
        let Some(report) = &result.report else {
            return;
        };
        self.events = self.events.saturating_add(report.event_count);
        for (kind, &count) in &report.faults {
            add_to(&mut self.faults, kind, count);
        }
        for (name, &count) in &report.counters {
            add_to(&mut self.counters, name, count);
        }
        for (name, &value) in &report.gauges {
            self.gauges.entry(name.clone()).or_default().add(value);
        }
        for (name, q) in &report.latencies {
            let spread = self.latencies.entry(name.clone()).or_default();
            spread.p50.add(q.p50.as_nanos());
            spread.p95.add(q.p95.as_nanos());
            spread.worst_p99 = spread.worst_p99.max(q.p99.as_nanos());
            spread.worst_max = spread.worst_max.max(q.max.as_nanos());
        }
    }

    /// Keeps the failure if it is among the lowest [`FAILURES_KEPT`] seeds of its outcome.
    fn keep_failure(&mut self, failure: Failure) {
        let at = self.failures.partition_point(|f| f.seed < failure.seed);
        let outcome = failure.outcome;
        self.failures.insert(at, failure);
        let same: Vec<usize> = (0..self.failures.len())
            .filter(|&i| self.failures[i].outcome == outcome)
            .collect();
        if same.len() > FAILURES_KEPT {
            self.failures.remove(*same.last().expect("not empty"));
        }
    }

    /// Adds another part of the same scenario's seeds.
    pub fn merge(&mut self, other: &TargetSummary) {
        self.seeds = self.seeds.saturating_add(other.seeds);
        self.events = self.events.saturating_add(other.events);
        for (outcome, &n) in &other.outcomes {
            add_to(&mut self.outcomes, outcome, n);
        }
        for (kind, &n) in &other.faults {
            add_to(&mut self.faults, kind, n);
        }
        for (name, &n) in &other.counters {
            add_to(&mut self.counters, name, n);
        }
        for (name, h) in &other.gauges {
            self.gauges.entry(name.clone()).or_default().merge(h);
        }
        for (name, l) in &other.latencies {
            let spread = self.latencies.entry(name.clone()).or_default();
            spread.p50.merge(&l.p50);
            spread.p95.merge(&l.p95);
            spread.worst_p99 = spread.worst_p99.max(l.worst_p99);
            spread.worst_max = spread.worst_max.max(l.worst_max);
        }
        for failure in &other.failures {
            self.keep_failure(failure.clone());
        }
    }

    /// Checks a summary read from a file and rebuilds what is derived (replay lines, the
    /// order and bound of the kept failures); replay lines start with `command`.
    pub fn checked(mut self, command: &str) -> Result<TargetSummary, String> {
        let total = self
            .outcomes
            .values()
            .try_fold(0u64, |a, &n| a.checked_add(n));
        if total != Some(self.seeds) {
            return Err(format!(
                "scenario {}: the outcome counts do not add up to its {} seeds",
                self.scenario, self.seeds
            ));
        }
        let failures = std::mem::take(&mut self.failures);
        for mut failure in failures {
            if failure.outcome == Outcome::Pass {
                return Err(format!(
                    "scenario {}: seed {} is listed as failing with outcome pass",
                    self.scenario, failure.seed
                ));
            }
            let bug = self.bug.as_deref();
            let target = runner::target(&self.scenario, self.scenario_file.as_deref());
            failure.replay = runner::replay_line(command, &target, failure.seed, bug);
            self.keep_failure(failure);
        }
        for outcome in self.failures.iter().map(|f| f.outcome) {
            let count = self.outcomes.get(&outcome).copied().unwrap_or(0);
            let listed = self
                .failures
                .iter()
                .filter(|f| f.outcome == outcome)
                .count();
            if listed as u64 > count {
                return Err(format!(
                    "scenario {}: {listed} failing seeds listed with outcome {}, which only {count} had",
                    self.scenario,
                    outcome.as_str()
                ));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::{Duration, Quantiles, Report, Verdict};

    /// A made-up seed: every seventh fails safety, every eleventh panics (no report).
    fn result(seed: u64) -> SeedResult {
        let verdict = match seed {
            s if s % 11 == 0 => Verdict::fail(Outcome::Panic, "panicked"),
            s if s % 7 == 0 => Verdict::fail(Outcome::Safety, format!("seed {s} broke")),
            _ => Verdict::pass(),
        };
        let ms = |n: u64| Duration::from_nanos(n * 1_000_000 + seed * 997);
        let report = Report {
            scenario: "made-up".into(),
            seed,
            bug: None,
            verdict: verdict.clone(),
            counters: [("ops".to_string(), seed % 5)].into(),
            gauges: [("msgs-per-op-x1000".to_string(), seed * 37 % 5000)].into(),
            latencies: [(
                "op".to_string(),
                Quantiles {
                    count: 3,
                    p50: ms(1),
                    p95: ms(5),
                    p99: ms(9),
                    max: ms(seed % 13),
                },
            )]
            .into(),
            faults: [("crash".to_string(), seed % 3)].into(),
            trace_hash: seed,
            event_count: 100 + seed,
            virtual_time: Duration::ZERO,
        };
        SeedResult {
            scenario: "made-up",
            file: None,
            seed,
            bug: None,
            report: (verdict.outcome != Outcome::Panic).then_some(report),
            verdict,
        }
    }

    fn of(seeds: impl Iterator<Item = u64>) -> TargetSummary {
        let mut summary = TargetSummary::new("made-up", None);
        seeds.for_each(|seed| summary.add(&result(seed), "cargo xtask"));
        summary
    }

    #[test]
    fn any_split_merged_in_any_order_is_the_whole() {
        let whole = of(0..500);
        assert_eq!(whole.failing(), 500 - whole.outcomes[&Outcome::Pass]);
        let safety: Vec<u64> = whole
            .failures
            .iter()
            .filter(|f| f.outcome == Outcome::Safety)
            .map(|f| f.seed)
            .collect();
        assert_eq!(safety, [7, 14, 21, 28, 35, 42, 49, 56, 63, 70]);
        assert_eq!(whole.failures.len(), 2 * FAILURES_KEPT);
        for shards in [2, 3, 7] {
            let mut merged = TargetSummary::new("made-up", None);
            for shard in (0..shards).rev() {
                merged.merge(&of((0..500).rev().filter(|s| s % shards == shard)));
            }
            assert_eq!(merged, whole, "{shards} shards");
        }
    }

    #[test]
    fn a_summary_read_back_is_checked() {
        let whole = of(0..50);
        let json = serde_json::to_string(&whole).unwrap();
        let read: TargetSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(read.checked("cargo xtask").unwrap(), whole);
        let mut wrong_total = whole.clone();
        wrong_total.seeds += 1;
        assert!(wrong_total.checked("cargo xtask").is_err());
        let mut unlisted = whole.clone();
        unlisted.outcomes.remove(&Outcome::Panic);
        unlisted.seeds = unlisted.outcomes.values().sum();
        assert!(
            unlisted
                .checked("cargo xtask")
                .unwrap_err()
                .contains("only 0 had")
        );
    }
}
