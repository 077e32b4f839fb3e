//! The store tested from `cargo test`, as a user's crate tests its own protocol: every seed
//! of each scenario passes and runs the same twice (`check_seeds`: each run on a fresh thread,
//! a mismatch named by its first differing event), and each planted bug is caught.
//!
//! A failing seed prints the line that runs it alone (`FAULTLINE_SEED=N cargo test ...`), and
//! the command line replays it with its trace: `cargo run -q --release -p faultline-example --
//! replay --scenario store-crashes --seed N`.

use faultline_example::scenario;
use faultline_toolbox::{Scenario, run_seed};
use sim::TraceLevel;
use sim::testing::check_seeds;

fn find(name: &str) -> &'static dyn Scenario {
    scenario::all()
        .into_iter()
        .find(|s| s.name() == name)
        .expect("a scenario of the store")
}

#[test]
fn calm_runs_pass_and_are_deterministic() {
    let calm = find("store-calm");
    check_seeds(0..8, |seed, level| {
        run_seed(calm, seed, None, level)
            .expect("a valid plan")
            .seed_run()
    });
}

#[test]
fn runs_under_crashes_and_partitions_pass_and_are_deterministic() {
    let crashes = find("store-crashes");
    check_seeds(0..40, |seed, level| {
        run_seed(crashes, seed, None, level)
            .expect("a valid plan")
            .seed_run()
    });
}

#[test]
fn each_planted_bug_is_caught() {
    let crashes = find("store-crashes");
    for bug in crashes.bugs() {
        let caught = (0..100).find_map(|seed| {
            let run =
                run_seed(crashes, seed, Some(bug.name), TraceLevel::Hash).expect("a valid plan");
            let verdict = run.report.verdict;
            (!verdict.is_pass()).then_some((seed, verdict))
        });
        let (seed, verdict) =
            caught.unwrap_or_else(|| panic!("{} not caught in 100 seeds", bug.name));
        assert_eq!(
            verdict.outcome,
            sim::Outcome::Safety,
            "{} at seed {seed}: {}",
            bug.name,
            verdict.headline()
        );
    }
}
