//! How a run ended: the verdict, named metrics, fault counts and the trace hash.

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

/// An outcome and what a person needs to know about it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub message: String,
    /// When the violation happened, where a check knows it (the second hand-out of an id, the
    /// operation that cannot be linearized): diagrams end there by default.
    #[serde(default)]
    pub at: Option<Instant>,
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict {
            outcome: Outcome::Pass,
            message: String::new(),
            at: None,
        }
    }
    pub fn fail(outcome: Outcome, message: impl Into<String>) -> Verdict {
        Verdict {
            outcome,
            message: message.into(),
            at: None,
        }
    }
    /// The same verdict, with the virtual time of its violation.
    pub fn at(mut self, time: Instant) -> Verdict {
        self.at = Some(time);
        self
    }
    pub fn is_pass(&self) -> bool {
        self.outcome == Outcome::Pass
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
}

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
