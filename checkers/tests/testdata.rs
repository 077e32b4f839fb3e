//! Every history under ../shared/testdata/histories/ gets the verdict expected.tsv lists:
//! Jepsen's etcd histories and Porcupine's kv histories, with the verdicts Porcupine's own
//! tests assert, and the format's corner cases.

use std::path::{Path, PathBuf};

use checkers::{BuiltinModel, Limits, Verdict};

fn histories_directory() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/histories"
    ))
    .to_owned()
}

/// Checks `file` with `model` and compares the verdict with `expect`; a failure message
/// carries the explanation, so a wrong verdict can be diagnosed from the test output alone.
fn check(file: &str, model: &str, expect: &str) {
    let model = BuiltinModel::from_name(model).unwrap_or_else(|| panic!("unknown model {model}"));
    let history = checkers::read_history(&histories_directory().join(file))
        .unwrap_or_else(|error| panic!("{error}"));
    let report = model
        .check(&history, &Limits::none())
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        report.verdict.as_str(),
        expect,
        "{file}: {}",
        report.explain().unwrap_or_default()
    );
    if report.verdict == Verdict::NotLinearizable {
        let part = report.failing_part().expect("a failing part");
        assert!(
            part.failure.is_some(),
            "{file}: failure without explanation"
        );
    }
}

// Goal: the checker agrees with expected.tsv on every listed file, and every history in the
// directory is listed. Method: read the table and check each row.
#[test]
fn expected_verdicts() {
    let directory = histories_directory();
    let table = std::fs::read_to_string(directory.join("expected.tsv")).expect("expected.tsv");
    let mut listed: Vec<String> = Vec::new();
    for line in table.lines().filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "malformed row {line:?}");
        check(fields[0], fields[1], fields[2]);
        listed.push(fields[0].to_owned());
    }
    let mut present: Vec<String> = std::fs::read_dir(&directory)
        .expect("the histories directory")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".jsonl"))
        .collect();
    present.sort();
    listed.sort();
    assert_eq!(present, listed, "expected.tsv and the directory disagree");
}

// Goal: a failure's explanation names what the issue asks for. Method: explain
// own_cas-false.jsonl, where the false cas is the only evidence, and look for its parts.
#[test]
fn cas_false_explanation() {
    let history = checkers::read_history(&histories_directory().join("own_cas-false.jsonl"))
        .expect("readable");
    let report = BuiltinModel::CasRegister
        .check(&history, &Limits::none())
        .expect("well-formed");
    let explanation = report.explain().expect("an explanation");
    for needle in [
        "not linearizable: the register (no key)",
        "longest linearizable prefix",
        "cannot be placed next: p2 cas [1,2] -> false (lines 4-6)",
        "state after it: 1\n",
        "p1 read -> 1 (lines 3-5)",
        "no other operation that could change the state",
    ] {
        assert!(
            explanation.contains(needle),
            "{needle:?} missing from:\n{explanation}"
        );
    }
}
