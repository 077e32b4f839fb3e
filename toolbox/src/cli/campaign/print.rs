//! The campaign's summary as text, the same for `fuzz` and `merge`: one block per scenario,
//! then the failing seeds with their replay lines.

use super::histogram::Histogram;
use super::summary::{Failure, LatencySpread, TargetSummary};
use std::collections::BTreeSet;
use std::io::Write as _;

/// Failing seeds printed per scenario; the rest are counted.
const FAILURES_SHOWN_MAX: usize = 10;

fn join_counts<K: std::fmt::Display, V: std::fmt::Display>(
    map: impl IntoIterator<Item = (K, V)>,
) -> String {
    let parts: Vec<String> = map.into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

/// Quantiles across seeds of each per-seed quantile: the median seed's p50 and p95, the worst
/// seed's p99 and max.
fn latency_line(spread: &LatencySpread) -> String {
    let show = sim::Duration::from_nanos;
    format!(
        "p50 {} (median seed), p95 {} (median seed), p99 {} (worst seed), max {} (worst seed)",
        show(spread.p50.quantile(50)),
        show(spread.p95.quantile(50)),
        show(spread.worst_p99),
        show(spread.worst_max)
    )
}

/// A per-seed value's quantiles across seeds; `-x1000` names hold thousandths.
fn gauge_line(name: &str, values: &Histogram) -> String {
    let (name, show): (&str, fn(u64) -> String) = match name.strip_suffix("-x1000") {
        Some(base) => (base, |v| format!("{}.{:03}", v / 1000, v % 1000)),
        None => (name, |v| v.to_string()),
    };
    format!(
        "{name} across seeds: p50 {}, p95 {}, max {}",
        show(values.quantile(50)),
        show(values.quantile(95)),
        show(values.max())
    )
}

/// The failures to print: the lowest seed of each failing outcome (so every outcome that sets
/// the exit code shows a seed), then the lowest others, up to the maximum, in seed order.
fn shown_failures(failures: &[Failure]) -> Vec<&Failure> {
    let mut chosen = BTreeSet::new();
    let mut outcomes = BTreeSet::new();
    for (i, failure) in failures.iter().enumerate() {
        if outcomes.insert(failure.outcome) {
            chosen.insert(i);
        }
    }
    for i in 0..failures.len() {
        if chosen.len() >= FAILURES_SHOWN_MAX.max(outcomes.len()) {
            break;
        }
        chosen.insert(i);
    }
    chosen.into_iter().map(|i| &failures[i]).collect()
}

pub fn print_summary(summary: &TargetSummary) {
    let bug = summary
        .bug
        .as_ref()
        .map(|b| format!(" --bug {b}"))
        .unwrap_or_default();
    println!("== {}{bug}: {} seeds", summary.scenario, summary.seeds);
    println!(
        "   outcomes: {}",
        join_counts(summary.outcomes.iter().map(|(o, n)| (o.as_str(), n)))
    );
    println!("   events:   {}", summary.events);
    println!("   faults:   {}", join_counts(&summary.faults));
    println!("   counters: {}", join_counts(&summary.counters));
    for (name, values) in &summary.gauges {
        println!("   {}", gauge_line(name, values));
    }
    for (name, spread) in &summary.latencies {
        println!("   {name}: {}", latency_line(spread));
    }
    let shown = shown_failures(&summary.failures);
    for failure in &shown {
        println!(
            "FAIL {} seed {} {}",
            summary.scenario,
            failure.seed,
            failure.headline()
        );
        println!("     replay: {}", failure.replay);
    }
    let more = summary.failing().saturating_sub(shown.len() as u64);
    if more > 0 {
        println!("     ... and {more} more failing seeds");
    }
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Outcome;

    fn failure(seed: u64, outcome: Outcome) -> Failure {
        Failure {
            seed,
            outcome,
            message: String::new(),
            location: String::new(),
            replay: String::new(),
        }
    }

    #[test]
    fn every_failing_outcome_shows_its_lowest_seed() {
        let mut failures: Vec<Failure> = (0..20).map(|s| failure(s, Outcome::Safety)).collect();
        failures.push(failure(90, Outcome::Panic));
        failures.push(failure(95, Outcome::Panic));
        let shown: Vec<u64> = shown_failures(&failures).iter().map(|f| f.seed).collect();
        assert_eq!(shown, [0, 1, 2, 3, 4, 5, 6, 7, 8, 90]);
        let few: Vec<u64> = shown_failures(&failures[..3])
            .iter()
            .map(|f| f.seed)
            .collect();
        assert_eq!(few, [0, 1, 2]);
    }
}
