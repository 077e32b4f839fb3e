//! The shrinker (issue 15): a failing plan shrinks to a smaller one that fails the same way,
//! deterministically; a passing plan is refused.

use faultline_toolbox::shrink::{Options, Shrunk, Size, shrink};

fn shrink_seed(scenario: &str, seed: u64, bug: Option<&str>, runs_max: u64) -> Shrunk {
    let scenario = scenarios::find(scenario).expect("a built-in scenario");
    let plan = scenario.plan(seed, bug);
    let mut calls = 0u64;
    let mut last_runs = 0u64;
    let shrunk = shrink(
        scenario,
        &plan,
        &Options { runs_max },
        &mut |runs, _: &Size| {
            calls += 1;
            assert!(runs > last_runs, "runs only grow");
            last_runs = runs;
            true
        },
    )
    .expect("the plan fails and shrinks");
    assert_eq!(
        calls, shrunk.runs,
        "progress is called after every candidate run"
    );
    assert!(shrunk.runs <= runs_max, "the budget holds");
    // The shrunk plan replays to the same failure.
    let run = scenario
        .run(&shrunk.plan, sim::TraceLevel::Hash)
        .expect("it runs");
    assert_eq!(run.report.verdict, shrunk.verdict);
    assert_eq!(run.report.event_count, shrunk.after.events);
    shrunk.plan.validate().expect("a valid plan");
    println!(
        "{scenario} {bug:?}: before {:?}, after {:?}, {} runs, one-minimal {}",
        shrunk.before,
        shrunk.after,
        shrunk.runs,
        shrunk.one_minimal,
        scenario = scenario.name(),
    );
    shrunk
}

#[test]
fn unique_ids_duplicate_shrinks_deterministically() {
    let bug = Some("counter-resets-on-restart");
    let original = scenarios::find("unique-ids")
        .expect("built in")
        .plan(0, bug);
    let original_verdict = scenarios::find("unique-ids")
        .expect("built in")
        .run(&original, sim::TraceLevel::Hash)
        .expect("it runs")
        .report
        .verdict;
    assert!(!original_verdict.is_pass(), "seed 0 fails");
    assert_eq!(original_verdict.checker.as_deref(), Some("unique-ids"));

    let shrunk = shrink_seed("unique-ids", 0, bug, 300);
    assert_eq!(shrunk.verdict.outcome, original_verdict.outcome);
    assert_eq!(shrunk.verdict.checker, original_verdict.checker);
    assert!(
        shrunk.after.faults < shrunk.before.faults,
        "fewer faults: {:?} -> {:?}",
        shrunk.before,
        shrunk.after
    );
    assert!(
        shrunk.after.events * 100 <= shrunk.before.events,
        "at least 100x fewer events: {:?} -> {:?}",
        shrunk.before,
        shrunk.after
    );
    // The story: one crash, an id handed out before it and again after the restart.
    assert_eq!(shrunk.after.faults, 1, "{:?}", shrunk.plan.faults);
    assert_eq!(shrunk.after.operations, 2);
    assert!(shrunk.one_minimal, "checked 1-minimal");

    let again = shrink_seed("unique-ids", 0, bug, 300);
    assert_eq!(shrunk.plan.to_json(), again.plan.to_json(), "deterministic");
    assert_eq!(shrunk.runs, again.runs);
}

// The single-node durability bug: the shrunk run is the whole story, a put acknowledged
// before its sync, a crash that loses it and a get that does not see it, told in under 100
// events (the operations removed leave the kept ones at their times).
#[test]
fn wal_kv_ack_before_sync_shrinks_to_its_story() {
    let shrunk = shrink_seed("wal-kv", 0, Some("ack-before-sync"), 1000);
    assert_eq!(shrunk.verdict.checker.as_deref(), Some("linearizable"));
    assert!(shrunk.one_minimal, "checked 1-minimal");
    assert_eq!(
        shrunk.after.faults, 1,
        "one crash: {:?}",
        shrunk.plan.faults
    );
    assert_eq!(shrunk.after.operations, 2, "a put and a get");
    assert!(
        shrunk.after.events < 100,
        "{:?} -> {:?}",
        shrunk.before,
        shrunk.after
    );
}

// A bug that needs more than one crash (a torn record trusted at one recovery, found damaged
// at a later one) shrinks too: crash outcomes are keyed by the crash's time and a disk
// operation's draws by its incarnation's start and its number in it, so removing the other
// crashes and the operations before leaves the ones it needs as they were.
#[test]
fn wal_kv_trust_torn_length_shrinks() {
    let shrunk = shrink_seed("wal-kv", 95, Some("trust-torn-length"), 2000);
    assert_eq!(shrunk.verdict.checker.as_deref(), Some("log-intact"));
    assert!(
        shrunk.after.events * 20 <= shrunk.before.events,
        "at least 20x fewer events: {:?} -> {:?}",
        shrunk.before,
        shrunk.after
    );
}

// A user's Ctrl-C: progress asks to stop, and the search stops at once with the smallest
// plan so far, which still fails the same way.
#[test]
fn progress_can_stop_the_search() {
    let scenario = scenarios::find("unique-ids").expect("built in");
    let plan = scenario.plan(0, Some("counter-resets-on-restart"));
    let shrunk = shrink(scenario, &plan, &Options::default(), &mut |runs, _| {
        runs < 5
    })
    .expect("it fails");
    assert!(shrunk.stopped);
    assert_eq!(shrunk.runs, 5);
    assert!(!shrunk.one_minimal);
    let run = scenario.run(&shrunk.plan, sim::TraceLevel::Hash).unwrap();
    assert_eq!(run.report.verdict, shrunk.verdict);
}

#[test]
fn a_passing_plan_is_refused() {
    let scenario = scenarios::find("echo").expect("built in");
    let plan = scenario.plan(0, None);
    let error = shrink(scenario, &plan, &Options::default(), &mut |_, _| true)
        .expect_err("nothing to shrink");
    assert!(error.contains("does not fail"), "{error}");
}

#[test]
fn a_plan_for_another_scenario_is_refused() {
    let scenario = scenarios::find("echo").expect("built in");
    let plan = scenarios::find("unique-ids")
        .expect("built in")
        .plan(0, Some("counter-resets-on-restart"));
    let error =
        shrink(scenario, &plan, &Options::default(), &mut |_, _| true).expect_err("wrong scenario");
    assert!(error.contains("not `echo`"), "{error}");
}
