//! Goal: every plan in the regression corpus (scenarios/corpus/SCENARIO/*.json) still ends as
//! recorded: planted bugs are still caught, fixed bugs stay fixed. Method: run each entry's
//! plan.

use faultline_toolbox::corpus;
use sim::TraceLevel;

#[test]
fn corpus_plans_end_as_recorded() {
    let mut folders: Vec<_> = std::fs::read_dir(scenarios::corpus_folder())
        .expect("the corpus folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut checked = 0;
    for folder in folders {
        let name = folder.file_name().unwrap().to_str().unwrap().to_string();
        let scenario =
            scenarios::find(&name).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for path in files {
            let entry = corpus::read(&path).unwrap_or_else(|e| panic!("{e}"));
            let at = path.display();
            assert_eq!(entry.plan.scenario, name, "{at}: the plan's scenario");
            assert_eq!(
                corpus::entry_path(&scenarios::corpus_folder(), &entry.plan),
                path,
                "{at}: its name"
            );
            let run = scenario
                .run(&entry.plan, TraceLevel::Hash)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                run.report.verdict.outcome,
                entry.outcome,
                "{at} (once caught: {}): {}",
                entry.caught,
                run.report.verdict.headline()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "the corpus is not empty");
}

// Goal: a malformed entry is an error that names the file, the line and the field.
#[test]
fn a_malformed_entry_names_file_line_and_field() {
    let path = std::env::temp_dir().join("faultline-corpus-malformed.json");
    std::fs::write(
        &path,
        "{\n  \"caught\": \"x\",\n  \"outcome\": \"sometimes\",\n  \"plan\": {}\n}\n",
    )
    .unwrap();
    let error = corpus::read(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        error.starts_with(&format!(
            "{}:3: `outcome`: unknown variant `sometimes`",
            path.display()
        )),
        "{error}"
    );
}

// Goal: `replay --plan` runs a corpus entry as it stands. Method: the plan inside an entry's
// text is the entry's plan; a plain plan is not taken for an entry.
#[test]
fn an_entry_holds_a_plan_replay_can_run() {
    let plan = scenarios::find("echo").unwrap().plan(3, None);
    let entry = corpus::Entry {
        shrunk: None,
        caught: "liveness: something".to_string(),
        outcome: sim::Outcome::Liveness,
        plan: plan.clone(),
    };
    let text = serde_json::to_string_pretty(&entry).unwrap();
    let inner = corpus::entry_plan(&text).expect("an entry");
    assert_eq!(sim::Plan::from_json(&inner), Ok(plan.clone()));
    let plain = serde_json::to_string(&plan).unwrap();
    assert_eq!(corpus::entry_plan(&plain), None);
    assert_eq!(corpus::entry_plan("not json"), None);
}
