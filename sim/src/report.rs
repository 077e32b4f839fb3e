//! How a run ended: the verdict, named metrics, fault counts and the trace hash.

use crate::api::{NodeId, Violation};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a run (or a campaign) found. The order is the severity order of the command line's
/// exit codes: `fuzz` exits with the lowest non-zero code among its failures.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    /// A safety property was violated (including a history that is not linearizable).
    Safety,
    /// The progress condition did not hold by the end of the liveness phase.
    Liveness,
    /// The code under test panicked.
    Panic,
    /// Two runs of the same seed differed.
    Nondeterminism,
    /// A checker's limit ran out before it could decide.
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Pass,
        Outcome::Safety,
        Outcome::Liveness,
        Outcome::Panic,
        Outcome::Nondeterminism,
        Outcome::Unknown,
    ];

    /// The command line's exit code for this outcome (2 is reserved for bad input).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Pass => 0,
            Outcome::Safety => 1,
            Outcome::Liveness => 3,
            Outcome::Panic => 4,
            Outcome::Nondeterminism => 5,
            Outcome::Unknown => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Safety => "safety",
            Outcome::Liveness => "liveness",
            Outcome::Panic => "panic",
            Outcome::Nondeterminism => "nondeterminism",
            Outcome::Unknown => "unknown",
        }
    }
}

/// An outcome and what a person needs to know about it: which checker found it, and where
/// (virtual time, node, trace event) when the checker knows.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub message: String,
    /// The checker that found the violation, by its registry name (`set-full`,
    /// `linearizable`, a scenario's online checker).
    #[serde(default)]
    pub checker: Option<String>,
    /// When the violation happened, where a check knows it (the second hand-out of an id, the
    /// operation that cannot be linearized): diagrams end there by default.
    #[serde(default)]
    pub at: Option<Instant>,
    /// The node whose observation or operation is at fault, where a check knows it.
    #[serde(default)]
    pub node: Option<NodeId>,
    /// The index of the trace event at fault (the observation an online checker objected
    /// to), where a check knows it.
    #[serde(default)]
    pub event: Option<u64>,
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict {
            outcome: Outcome::Pass,
            message: String::new(),
            checker: None,
            at: None,
            node: None,
            event: None,
        }
    }
    pub fn fail(outcome: Outcome, message: impl Into<String>) -> Verdict {
        Verdict {
            message: message.into(),
            outcome,
            ..Verdict::pass()
        }
    }
    /// The safety failure an online checker reported, with its location.
    pub fn from_violation(violation: &Violation) -> Verdict {
        Verdict {
            outcome: Outcome::Safety,
            message: violation.message.clone(),
            checker: Some(violation.checker.clone()),
            at: Some(violation.time),
            node: Some(violation.node),
            event: Some(violation.event),
        }
    }
    /// The same verdict, with the virtual time of its violation.
    pub fn at(mut self, time: Instant) -> Verdict {
        self.at = Some(time);
        self
    }
    /// The same verdict, naming the checker that found it (kept if one is named already).
    pub fn by(mut self, checker: &str) -> Verdict {
        if !self.is_pass() && self.checker.is_none() {
            self.checker = Some(checker.to_string());
        }
        self
    }
    pub fn is_pass(&self) -> bool {
        self.outcome == Outcome::Pass
    }
    /// Who found the violation and where, as reports print it before the message:
    /// `one-leader-per-term at 1.250000s on n3 (trace event 1234)`; empty when nothing is
    /// known.
    pub fn location(&self) -> String {
        let mut text = self.checker.clone().unwrap_or_default();
        let mut add = |part: String| {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&part);
        };
        if let Some(at) = self.at {
            add(format!("at {at}"));
        }
        if let Some(node) = self.node {
            add(format!("on {node}"));
        }
        if let Some(event) = self.event {
            add(format!("(trace event {event})"));
        }
        text
    }
    /// `outcome [location]: message`, the line reports show.
    pub fn headline(&self) -> String {
        match self.location() {
            location if location.is_empty() => {
                format!("{}: {}", self.outcome.as_str(), self.message)
            }
            location => format!("{} [{location}]: {}", self.outcome.as_str(), self.message),
        }
    }
}

/// Values by name, as reports hold them.
pub type Named = BTreeMap<String, u64>;

/// Counters, gauges and latency samples that protocols and scenarios add during a run.
#[derive(Clone, Default, Debug)]
pub struct Metrics {
    counters: BTreeMap<&'static str, u64>,
    samples: BTreeMap<&'static str, Vec<u64>>,
    gauges: BTreeMap<&'static str, u64>,
    series: BTreeMap<&'static str, Vec<(Instant, u64)>>,
}

/// The most points one time series keeps; later points are counted, not kept
/// (`series-points-dropped`), so a protocol sampling in a tight loop cannot exhaust memory.
pub const SERIES_POINTS_MAX: usize = 1 << 20;

impl Metrics {
    pub fn count(&mut self, name: &'static str, delta: u64) {
        *self.counters.entry(name).or_insert(0) += delta;
    }

    pub fn sample(&mut self, name: &'static str, latency: Duration) {
        self.samples
            .entry(name)
            .or_default()
            .push(latency.as_nanos());
    }

    /// Sets a per-run value (a ratio, a final queue length): reported as set, and shown as
    /// quantiles across seeds by `fuzz`. A name ending in `-x1000` holds thousandths.
    pub fn gauge(&mut self, name: &'static str, value: u64) {
        self.gauges.insert(name, value);
    }

    /// Adds a point to the time series `name` (`Context::series`).
    pub fn series(&mut self, name: &'static str, time: Instant, value: u64) {
        let points = self.series.entry(name).or_default();
        if points.len() < SERIES_POINTS_MAX {
            points.push((time, value));
        } else {
            self.count("series-points-dropped", 1);
        }
    }

    /// Every time series, by name.
    pub fn all_series(&self) -> impl Iterator<Item = (&'static str, &[(Instant, u64)])> {
        self.series
            .iter()
            .map(|(name, points)| (*name, points.as_slice()))
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn samples(&self, name: &str) -> &[u64] {
        self.samples.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Counters and gauges by name, and each sample set summarized as quantiles.
    pub fn summarize(&self) -> (Named, Named, BTreeMap<String, Quantiles>) {
        let named = |map: &BTreeMap<&'static str, u64>| {
            map.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let (counters, gauges) = (named(&self.counters), named(&self.gauges));
        let quantiles = self
            .samples
            .iter()
            .map(|(k, v)| (k.to_string(), Quantiles::of(v)))
            .collect();
        (counters, gauges, quantiles)
    }
}

/// Latency quantiles in nanoseconds (nearest rank).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Quantiles {
    pub fn of(samples: &[u64]) -> Quantiles {
        if samples.is_empty() {
            return Quantiles::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let at = |q_percent: u64| {
            let rank = (sorted.len() as u64 * q_percent).div_ceil(100).max(1);
            Duration::from_nanos(sorted[(rank - 1) as usize])
        };
        Quantiles {
            count: sorted.len() as u64,
            p50: at(50),
            p95: at(95),
            p99: at(99),
            max: Duration::from_nanos(*sorted.last().expect("not empty")),
        }
    }
}

/// The report of one run.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub bug: Option<String>,
    pub verdict: Verdict,
    pub counters: BTreeMap<String, u64>,
    /// Per-run values (`Metrics::gauge`).
    #[serde(default)]
    pub gauges: BTreeMap<String, u64>,
    pub latencies: BTreeMap<String, Quantiles>,
    /// Faults injected, by kind (partition, crash, loss, duplicate, ...).
    pub faults: BTreeMap<String, u64>,
    pub trace_hash: u64,
    pub event_count: u64,
    pub virtual_time: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        let q = Quantiles::of(&samples);
        assert_eq!(q.p50.as_nanos(), 50);
        assert_eq!(q.p95.as_nanos(), 95);
        assert_eq!(q.p99.as_nanos(), 99);
        assert_eq!(q.max.as_nanos(), 100);
        assert_eq!(Quantiles::of(&[7]).p50.as_nanos(), 7);
    }

    #[test]
    fn exit_codes_follow_severity() {
        let codes: Vec<i32> = Outcome::ALL.iter().map(|o| o.exit_code()).collect();
        assert_eq!(codes, [0, 1, 3, 4, 5, 6]);
    }
}
