//! Malformed histories give an error naming the line and what was wrong, never a panic.

use checkers::{BuiltinModel, Limits, parse_history};

/// Parses `text` as JSON Lines, checks it with `model` and compares the outcome (a verdict
/// or `error: ...`) with `expect`.
fn check(model: &str, text: &str, expect: &str) {
    let model = BuiltinModel::from_name(model).expect("a built-in model");
    let outcome =
        match parse_history(text).and_then(|history| model.check(&history, &Limits::none())) {
            Ok(report) => report.verdict.as_str().to_owned(),
            Err(error) => format!("error: {error}"),
        };
    assert_eq!(outcome, expect, "history:\n{text}");
}

// Goal: each way a line can be malformed is reported with its line number. Method: one
// history per rule of the format's "Strictness" section and per field.
#[test]
fn malformed_lines() {
    let write = r#"{"process": 0, "type": "invoke", "f": "write", "value": 1}"#;
    check(
        "register",
        &format!("{write}\n{{\"process\": 0, \"type\": \"ok\""),
        "error: history:2: not valid JSON: EOF while parsing an object at line 1 column 27",
    );
    check(
        "register",
        "[1, 2]",
        "error: history:1: expected a JSON object, found an array",
    );
    check(
        "register",
        r#"{"type": "invoke", "f": "read"}"#,
        "error: history:1: missing field `process`",
    );
    check(
        "register",
        r#"{"process": -1, "type": "invoke", "f": "read"}"#,
        "error: history:1: `process` must be an integer >= 0, found -1",
    );
    check(
        "register",
        r#"{"process": "a", "type": "invoke", "f": "read"}"#,
        "error: history:1: `process` must be an integer >= 0, found a string",
    );
    check(
        "register",
        r#"{"process": 0, "type": "begin", "f": "read"}"#,
        "error: history:1: `type` must be one of invoke, ok, fail, info; found \"begin\"",
    );
    check(
        "register",
        r#"{"process": 0, "type": "invoke"}"#,
        "error: history:1: missing field `f`",
    );
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "read", "key": 3}"#,
        "error: history:1: `key` must be a string, found an integer",
    );
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "read", "time": 1.5}"#,
        "error: history:1: `time` must be a signed 64-bit integer, found 1.5",
    );
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "write", "value": "3"}"#,
        "error: history:1: a write's invoke value must be a signed 64-bit integer, found \"3\"",
    );
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "write", "value": 9223372036854775808}"#,
        "error: history:1: a write's invoke value must be a signed 64-bit integer, found 9223372036854775808",
    );
    check(
        "register",
        &format!(
            "{write}\n{}",
            r#"{"process": 0, "type": "ok", "f": "write", "value": 1}"#
        )
        .replace(
            "\"f\": \"write\", \"value\": 1}\n",
            "\"f\": \"write\", \"value\": 1}\n\n",
        ),
        "linearizable",
    );
    check(
        "register",
        &format!(
            "{write}\n{}",
            r#"{"process": 0, "type": "invoke", "f": "read", "value": 1}"#
        ),
        "error: history:2: process 0 invokes read while its write from line 1 has no completion \
         (a process has at most one operation outstanding)",
    );
    check(
        "register",
        r#"{"process": 3, "type": "ok", "f": "read", "value": 1}"#,
        "error: history:1: ok completion of read for process 3, which has no operation outstanding",
    );
    check(
        "register",
        &format!(
            "{write}\n{}",
            r#"{"process": 0, "type": "ok", "f": "read", "value": 1}"#
        ),
        "error: history:2: completion has f \"read\" but process 0's invocation on line 1 has f \"write\"",
    );
    check(
        "register",
        &format!(
            "{write}\n{}",
            r#"{"process": 0, "type": "ok", "f": "write", "key": "a", "value": 1}"#
        ),
        "error: history:2: completion has key Some(\"a\") but process 0's invocation on line 1 has key None",
    );
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": [1]}"#,
        "error: history:2: a read's result must be a signed 64-bit integer, found [1]",
    );
    check(
        "kv",
        r#"{"process": 0, "type": "invoke", "f": "get", "key": "k", "value": null}
{"process": 0, "type": "ok", "f": "get", "key": "k", "value": null}"#,
        "error: history:2: a get's result must be a string, found null",
    );
}

// Goal: the rules about outstanding operations, in the allowed direction: after `info` or
// `fail` a process may invoke again, and unknown fields and blank lines are ignored.
// Method: histories that must check without error.
#[test]
fn permitted_shapes() {
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "write", "value": 1, "extra": {"a": 1}}
{"process": 0, "type": "info", "f": "write", "value": null}

{"process": 0, "type": "invoke", "f": "write", "value": 2, "time": 5}
{"process": 0, "type": "fail", "f": "write", "value": null, "time": 6}
{"process": 0, "type": "invoke", "f": "read", "value": null}
{"process": 0, "type": "ok", "f": "read", "value": 1}"#,
        "linearizable",
    );
    // A missing `value` reads as null.
    check(
        "register",
        r#"{"process": 0, "type": "invoke", "f": "read"}
{"process": 0, "type": "ok", "f": "read"}"#,
        "linearizable",
    );
}

// Goal: errors from a file name the file and the real line, counting blank lines. Method:
// write a history with a blank line and a bad line into the test's scratch directory.
#[test]
fn file_and_line() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("errors_file_and_line.jsonl");
    std::fs::write(
        &path,
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\"}\n\n{\"process\": 0, \"type\": \"ok\", \"f\": \"cas\"}\n",
    )
    .expect("writable scratch directory");
    let history = checkers::read_history(&path).expect("parses");
    let error = BuiltinModel::CasRegister
        .check(&history, &Limits::none())
        .expect_err("f mismatch");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3: completion has f \"cas\" but process 0's invocation on line 1 has f \"read\"",
            path.display()
        )
    );
    let missing =
        checkers::read_history(&path.with_extension("missing")).expect_err("no such file");
    assert!(
        missing.to_string().contains("cannot read the file"),
        "{missing}"
    );
}
