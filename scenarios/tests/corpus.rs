//! Goal: every seed in the regression corpus (scenarios/corpus/*.tsv) still ends as recorded:
//! planted bugs are still caught, fixed bugs stay fixed. Method: replay each line.

use sim::TraceLevel;
use std::path::Path;

#[test]
fn corpus_seeds_end_as_recorded() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&folder)
        .expect("the corpus folder")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "tsv") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap();
        let scenario = scenarios::find(name).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let at = format!("{}:{}", path.display(), number + 1);
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "{at}: expected SEED<TAB>BUG<TAB>OUTCOME");
            let seed: u64 = fields[0]
                .parse()
                .unwrap_or_else(|_| panic!("{at}: bad seed"));
            let bug = (fields[1] != "-").then_some(fields[1]);
            let run = scenarios::run_seed(scenario, seed, bug, TraceLevel::Hash)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                run.report.verdict.outcome.as_str(),
                fields[2],
                "{at}: {} (replay: {})",
                run.report.verdict.message,
                scenarios::runner::replay_command(name, seed, bug)
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "the corpus is not empty");
}
