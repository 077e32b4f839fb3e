//! Goal: each scenario's planted bugs are listed once, and what `list` prints is exactly what
//! a plan may switch on. Method: every scenario's plan, edited to name a bug the scenario does
//! not plant (another scenario's, or none at all), is refused with the valid names; each bug it
//! lists is accepted by `check_bug`.

use faultline_toolbox::check_bug;
use scenarios::all;

#[test]
fn a_plan_may_name_only_the_scenarios_own_bugs() {
    let every_bug: Vec<&str> = all()
        .iter()
        .flat_map(|s| s.bugs().into_iter().map(|b| b.name))
        .chain(["no-such-bug"])
        .collect();
    for scenario in all() {
        let own: Vec<&str> = scenario.bugs().into_iter().map(|b| b.name).collect();
        for bug in &own {
            assert_eq!(check_bug(*scenario, Some(bug)), Ok(()));
        }
        for bug in every_bug.iter().filter(|b| !own.contains(b)) {
            let mut plan = scenario.plan(0, None);
            plan.bug = Some(bug.to_string());
            let error = match scenario.run(&plan, sim::TraceLevel::Hash) {
                Ok(_) => panic!("{} ran a plan with bug {bug}", scenario.name()),
                Err(error) => error,
            };
            let expected = if own.is_empty() {
                format!(
                    "scenario `{}` has no planted bugs (asked for `{bug}`)",
                    scenario.name()
                )
            } else {
                format!(
                    "unknown bug `{bug}` for scenario `{}`; valid bugs: {}",
                    scenario.name(),
                    own.join(", ")
                )
            };
            assert_eq!(error, expected);
            assert_eq!(check_bug(*scenario, Some(bug)), Err(expected));
        }
    }
}
