// Temporary (not committed): dumps every built-in scenario's plans for seeds 0..50.
fn main() {
    for scenario in scenarios::all() {
        let mut bugs: Vec<Option<&str>> = vec![None];
        let names: Vec<&'static str> = scenario.bugs().iter().map(|b| b.name).collect();
        bugs.extend(names.into_iter().map(Some));
        for bug in bugs {
            for seed in 0..50 {
                let plan = scenario.plan(seed, bug);
                println!(
                    "{}\t{}\t{seed}\t{}",
                    scenario.name(),
                    bug.unwrap_or("-"),
                    serde_json::to_string(&plan).unwrap()
                );
            }
        }
    }
}
