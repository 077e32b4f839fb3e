//! Goal: the broadcast scenarios pass with their correct protocols, catch each planted bug
//! within a few seeds and reproduce it exactly, meet the efficiency targets with their metrics
//! consistent, and fail a seed that misses a target. Method: run seeds through the same entry
//! points as `fuzz` and `replay` (`faultline_toolbox::run_seed`, `runner::execute_twice`) and read
//! the verdicts and reports; one plan is edited by hand to make the targets unreachable.

use faultline_toolbox::runner;
use sim::{Duration, Latency, Outcome, TraceLevel};

const EFFICIENCY: [&str; 2] = ["broadcast-efficiency-1", "broadcast-efficiency-2"];

fn scenario(name: &str) -> &'static dyn faultline_toolbox::Scenario {
    scenarios::find(name).expect("a built-in scenario")
}

/// Runs `seeds` of `name` (with `bug`) and returns each seed's outcome and message.
fn outcomes(
    name: &str,
    bug: Option<&str>,
    seeds: std::ops::Range<u64>,
) -> Vec<(u64, Outcome, String)> {
    seeds
        .map(|seed| {
            let run = faultline_toolbox::run_seed(scenario(name), seed, bug, TraceLevel::Hash)
                .expect("a valid plan");
            (seed, run.report.verdict.outcome, run.report.verdict.message)
        })
        .collect()
}

#[test]
fn correct_protocols_pass() {
    let cases: [(&str, u64); 7] = [
        ("broadcast-single", 20),
        ("broadcast-multi", 20),
        ("broadcast-partition", 40),
        ("broadcast-efficiency-1", 4),
        ("broadcast-efficiency-2", 4),
        ("broadcast-efficiency-1-partition", 6),
        ("broadcast-efficiency-2-partition", 6),
    ];
    for (name, seeds) in cases {
        for (seed, outcome, message) in outcomes(name, None, 0..seeds) {
            assert_eq!(outcome, Outcome::Pass, "{name} seed {seed}: {message}");
        }
    }
}

#[test]
fn planted_bugs_are_found_and_reproduced() {
    // (scenario, bug, seeds within which the bug must show).
    let cases = [
        ("broadcast-multi", "no-forward", 1),
        ("broadcast-partition", "no-forward", 1),
        ("broadcast-partition", "no-retry", 5),
        ("broadcast-efficiency-1", "no-forward", 1),
        ("broadcast-efficiency-2", "no-forward", 1),
        ("broadcast-efficiency-1-partition", "no-retry", 3),
        ("broadcast-efficiency-2-partition", "no-retry", 3),
        ("broadcast-efficiency-2-partition", "no-forward", 1),
    ];
    for (name, bug, seeds) in cases {
        let found = outcomes(name, Some(bug), 0..seeds)
            .into_iter()
            .find(|(_, outcome, _)| *outcome != Outcome::Pass);
        let Some((seed, outcome, message)) = found else {
            panic!("{name} --bug {bug}: not found in {seeds} seeds");
        };
        // Lost values are a convergence failure: the values were acknowledged, never wrong.
        assert_eq!(
            outcome,
            Outcome::Liveness,
            "{name} --bug {bug} seed {seed}: {message}"
        );
        assert!(
            message.contains("acknowledged values are missing"),
            "{message}"
        );
        // `replay` reproduces it: the same plan gives the same verdict and the same trace.
        let plan = scenario(name).plan(seed, Some(bug));
        let result = runner::execute_twice(scenario(name), &plan).expect("a valid plan");
        assert_eq!(
            result.verdict.outcome,
            Outcome::Liveness,
            "{}",
            result.verdict.message
        );
        assert_eq!(result.verdict.message, message);
    }
}

#[test]
fn efficiency_targets_are_met_and_metrics_agree() {
    for name in EFFICIENCY {
        for seed in 0..3 {
            let run = faultline_toolbox::run_seed(scenario(name), seed, None, TraceLevel::Hash)
                .expect("a valid plan");
            let report = &run.report;
            assert!(
                report.verdict.is_pass(),
                "{name} seed {seed}: {}",
                report.verdict.message
            );
            let counter = |key: &str| report.counters.get(key).copied().unwrap_or(0);
            let gauge = |key: &str| report.gauges.get(key).copied().unwrap_or(0);
            let (messages, ops) = (counter("msgs-server-to-server"), counter("client-ops"));
            // 100 operations a second for 20 seconds, give or take the Poisson draw.
            assert!(
                (1700..=2300).contains(&ops),
                "{name} seed {seed}: {ops} client operations"
            );
            assert_eq!(gauge("msgs-per-op-x1000"), messages * 1000 / ops);
            let latency = report.latencies["broadcast-latency"];
            assert_eq!(
                latency.count,
                counter("values-acked"),
                "one latency sample per acknowledged value"
            );
            assert_eq!(counter("values-lost"), 0);
            // Targets, with the margin the tuning aims for.
            let (msgs_max, median_max, max_max) = if name.ends_with('1') {
                (
                    30_000,
                    Duration::from_millis(400),
                    Duration::from_millis(600),
                )
            } else {
                (20_000, Duration::from_secs(1), Duration::from_secs(2))
            };
            assert!(gauge("msgs-per-op-x1000") < msgs_max);
            assert!(
                latency.p50 < median_max,
                "{name} seed {seed}: median {}",
                latency.p50
            );
            assert!(
                latency.max < max_max,
                "{name} seed {seed}: max {}",
                latency.max
            );
        }
    }
}

#[test]
fn missed_targets_fail_the_seed() {
    // A plan edited so that no protocol could meet efficiency-1's latency: 400 ms a hop.
    let efficiency = scenario("broadcast-efficiency-1");
    let mut plan = efficiency.plan(0, None);
    plan.swarm.link.latency = Latency::Constant(Duration::from_millis(400));
    let run = efficiency
        .run(&plan, TraceLevel::Hash)
        .expect("a valid plan");
    assert_eq!(run.report.verdict.outcome, Outcome::Liveness);
    assert!(
        run.report
            .verdict
            .message
            .starts_with("efficiency targets missed: median latency"),
        "{}",
        run.report.verdict.message
    );
    // The partition variant of the same protocol judges correctness only.
    let partition = scenario("broadcast-efficiency-1-partition");
    let mut plan = partition.plan(0, None);
    plan.swarm.link.latency = Latency::Constant(Duration::from_millis(400));
    let run = partition
        .run(&plan, TraceLevel::Hash)
        .expect("a valid plan");
    assert!(
        run.report.verdict.is_pass(),
        "{}",
        run.report.verdict.message
    );
}

#[test]
fn runs_are_deterministic() {
    for (name, seed) in [
        ("broadcast-partition", 7),
        ("broadcast-efficiency-2-partition", 1),
    ] {
        let result = runner::execute_twice(scenario(name), &scenario(name).plan(seed, None))
            .expect("a valid plan");
        assert_eq!(
            result.verdict.outcome,
            Outcome::Pass,
            "{name} seed {seed}: {}",
            result.verdict.message
        );
    }
}

#[test]
fn summary_prints_the_metrics() {
    let efficiency = scenario("broadcast-efficiency-2");
    let run =
        faultline_toolbox::run_seed(efficiency, 0, None, TraceLevel::Hash).expect("a valid plan");
    let summary = efficiency.summary(&run);
    assert!(summary.starts_with("broadcast msgs-per-op "), "{summary}");
    assert!(summary.contains(" 0 lost"), "{summary}");
    assert!(
        summary.contains("msgs-per-op < 20 met; median latency < 1s met; max latency < 2s met"),
        "{summary}"
    );
}
