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

// Goal: Knossos' six cas-register samples get the verdicts Knossos' own tests assert, read
// from their EDN as they are, with the register starting at 0 as in those tests. Method: read
// knossos/expected.tsv, check each row, and make sure every sample is listed.
#[test]
fn knossos_expected_verdicts() {
    let directory = histories_directory().join("knossos");
    let table = std::fs::read_to_string(directory.join("expected.tsv")).expect("expected.tsv");
    let options = checkers::CheckOptions {
        initial: serde_json::json!(0),
        ..checkers::CheckOptions::default()
    };
    let mut listed: Vec<String> = Vec::new();
    for line in table.lines().filter(|line| !line.trim().is_empty()) {
        let [file, model, expect] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("malformed row {line:?}");
        };
        let model = BuiltinModel::from_name(model).expect("a built-in model");
        let history =
            checkers::read_history(&directory.join(file)).unwrap_or_else(|error| panic!("{error}"));
        let report = model
            .check_with(&history, &options)
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            report.verdict.as_str(),
            expect,
            "{file}: {}",
            report.explain().unwrap_or_default()
        );
        listed.push(file.to_owned());
    }
    let mut present: Vec<String> = std::fs::read_dir(&directory)
        .expect("the knossos directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".edn"))
        .collect();
    present.sort();
    listed.sort();
    assert_eq!(
        present, listed,
        "knossos/expected.tsv and the directory disagree"
    );
}

// Goal: `initial` sets the register's value before any operation, and kv refuses one.
// Method: a read of 0 before any write passes from 0 and fails from null.
#[test]
fn initial_value() {
    let history = checkers::parse_history(
        r#"{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": 0}"#,
    )
    .expect("parses");
    for (initial, expect) in [
        (serde_json::json!(0), Verdict::Linearizable),
        (serde_json::Value::Null, Verdict::NotLinearizable),
    ] {
        let options = checkers::CheckOptions {
            initial,
            ..checkers::CheckOptions::default()
        };
        let report = BuiltinModel::Register
            .check_with(&history, &options)
            .expect("well-formed");
        assert_eq!(report.verdict, expect);
    }
    let error = BuiltinModel::Kv
        .check_with(
            &history,
            &checkers::CheckOptions {
                initial: serde_json::json!("x"),
                ..checkers::CheckOptions::default()
            },
        )
        .expect_err("kv takes no initial value");
    assert!(error.to_string().contains("kv keys start empty"), "{error}");
}
