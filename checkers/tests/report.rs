//! What a check reports beyond the verdict: limits that end in `unknown`, how parts combine,
//! the explanation and the HTML rendering.

use std::time::Duration;

use checkers::synth::{self, Workload};
use checkers::{BuiltinModel, Limits, Verdict, parse_history, render_html};

/// A kv history where key "a" is not linearizable and key "b" is.
const TWO_KEYS: &str = r#"{"process": 0, "type": "invoke", "f": "put", "key": "a", "value": "x"}
{"process": 1, "type": "invoke", "f": "append", "key": "b", "value": "y"}
{"process": 0, "type": "ok", "f": "put", "key": "a", "value": null}
{"process": 1, "type": "ok", "f": "append", "key": "b", "value": null}
{"process": 2, "type": "invoke", "f": "get", "key": "a", "value": null}
{"process": 2, "type": "ok", "f": "get", "key": "a", "value": "z"}
{"process": 3, "type": "invoke", "f": "get", "key": "b", "value": null}
{"process": 3, "type": "info", "f": "get", "key": "b", "value": null}
"#;

// Goal: `combine` gives a failing part precedence over an undecided one, and an undecided one
// over a pass. Method: the whole table.
#[test]
fn verdicts_combine() {
    use Verdict::{Linearizable as L, NotLinearizable as N, Unknown as U};
    let table = [
        (L, L, L),
        (L, U, U),
        (L, N, N),
        (U, U, U),
        (U, N, N),
        (N, N, N),
    ];
    for (left, right, expect) in table {
        assert_eq!(left.combine(right), expect, "{left} + {right}");
        assert_eq!(right.combine(left), expect, "{right} + {left}");
    }
}

// Goal: a limit that runs out gives `unknown` and says which, never a pass. Method: a memory
// limit below the empty memo, and a time limit of zero on a history that needs more search
// steps than pass between two looks at the clock.
#[test]
fn limits_give_unknown() {
    let history = synth::generate(BuiltinModel::Kv, &Workload::kv_benchmark(), 7);
    let cases = [
        (
            Limits {
                duration_max: None,
                memory_bytes_max: Some(1),
            },
            "unknown: key \"k0\": the memory limit of 1 bytes per key ran out after 0 \
             configurations (16 KiB of memo); the longest linearizable prefix found places 0 of",
        ),
        (
            Limits::with_duration_max(Duration::ZERO),
            "unknown: key \"k0\": the time limit ran out after 1 configurations",
        ),
    ];
    for (limits, expect) in cases {
        let report = BuiltinModel::Kv
            .check(&history, &limits)
            .expect("well-formed");
        assert_eq!(report.verdict, Verdict::Unknown);
        let explanation = report.explain().expect("an explanation");
        assert!(explanation.starts_with(expect), "{explanation}");
        // The other 99 keys in one line, the first 20 by name.
        assert!(
            explanation.ends_with("key \"k27\" and 79 more\n"),
            "{explanation}"
        );
        assert_eq!(explanation.lines().count(), 2, "{explanation}");
    }
    let report = BuiltinModel::Kv
        .check(&history, &Limits::none())
        .expect("well-formed");
    assert_eq!(report.verdict, Verdict::Linearizable);
}

// Goal: parts are checked separately and the explanation names the failing key, the
// operation that cannot be placed and the prefix. Method: two keys, one broken.
#[test]
fn explanation_names_the_key() {
    let history = parse_history(TWO_KEYS).expect("parses");
    let report = BuiltinModel::Kv
        .check(&history, &Limits::none())
        .expect("well-formed");
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let verdicts: Vec<(Option<&str>, Verdict)> = report
        .parts
        .iter()
        .map(|part| (part.key.as_deref(), part.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            (Some("a"), Verdict::NotLinearizable),
            (Some("b"), Verdict::Linearizable)
        ]
    );
    let explanation = report.explain().expect("an explanation");
    let expect = r#"not linearizable: key "a" (2 operations, 2 states explored)
  longest linearizable prefix (1 operations):
      1. p0 put ["a"] "x" -> null (lines 1-3)
  state after it: "x"
  cannot be placed next: p2 get ["a"] -> "z" (lines 5-6)
  it cannot complete as recorded in that state, and no other operation that could change the state was pending before it returned
"#;
    assert_eq!(explanation, expect);
}

// Goal: the HTML page is self-contained and marks what the issue asks for. Method: render
// the two-key history and look for lanes, the failing key's bars, the blocked operation and
// the numbered linearization, and for anything that would load another file.
#[test]
fn html_rendering() {
    let history = parse_history(TWO_KEYS).expect("parses");
    let report = BuiltinModel::Kv
        .check(&history, &Limits::none())
        .expect("well-formed");
    let page = render_html(&report, "two <keys>.jsonl");
    for needle in [
        "<title>two &lt;keys&gt;.jsonl: not-linearizable</title>",
        ">p0</text>",
        ">p3</text>",
        "<g class=\"ok failing\"><title>p0 put [&quot;a&quot;]",
        "<g class=\"ok failing blocked\"><title>p2 get [&quot;a&quot;]",
        "<g class=\"ok other\"><title>p1 append",
        "<g class=\"indeterminate other\">",
        ">1. put</text>",
        "<pre class=\"explanation\">",
    ] {
        assert!(page.contains(needle), "{needle:?} missing from:\n{page}");
    }
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(banned), "{banned:?} in the page");
    }
}

// Goal: the report is the same for every number of jobs, also when a per-part memory limit
// leaves some parts undecided. Method: a generated history of the issue's shape with a
// violation, checked with 1, 2, 3 and 8 threads, without a limit and with a small one.
#[test]
fn same_report_for_every_job_count() {
    let shape = synth::KvShape {
        violation: true,
        ..synth::KvShape::default()
    };
    let history = synth::generate_kv(&shape, 3);
    for memory_bytes_max in [None, Some(512 << 10)] {
        let limits = Limits {
            duration_max: None,
            memory_bytes_max,
        };
        let single = checkers::check(&checkers::Kv, &history, &limits).expect("well-formed");
        for jobs in [2, 3, 8] {
            let parallel = checkers::check_parallel(&checkers::Kv, &history, &limits, jobs)
                .expect("well-formed");
            assert!(
                parallel == single,
                "{jobs} jobs, limit {memory_bytes_max:?}"
            );
        }
        let verdicts: Vec<Verdict> = single.parts.iter().map(|part| part.verdict).collect();
        assert!(verdicts.contains(&Verdict::Linearizable), "{verdicts:?}");
        let undecided = if memory_bytes_max.is_some() {
            Verdict::Unknown
        } else {
            Verdict::NotLinearizable
        };
        assert!(verdicts.contains(&undecided), "{verdicts:?}");
    }
}

/// Keys "a" and "c" are not linearizable, "b" is.
const THREE_KEYS: &str = r#"{"process": 0, "type": "invoke", "f": "put", "key": "a", "value": "x"}
{"process": 0, "type": "ok", "f": "put", "key": "a", "value": null}
{"process": 1, "type": "invoke", "f": "get", "key": "a", "value": null}
{"process": 1, "type": "ok", "f": "get", "key": "a", "value": "z"}
{"process": 2, "type": "invoke", "f": "get", "key": "b", "value": null}
{"process": 2, "type": "ok", "f": "get", "key": "b", "value": ""}
{"process": 3, "type": "invoke", "f": "get", "key": "c", "value": null}
{"process": 3, "type": "ok", "f": "get", "key": "c", "value": "w"}
"#;

// Goal: on a history with several failing keys the explanation stays short: the first in
// full, one line for each other; explain_all gives each in full. Method: three keys, two
// broken.
#[test]
fn explanation_of_several_failing_keys() {
    let history = parse_history(THREE_KEYS).expect("parses");
    let report = BuiltinModel::Kv
        .check(&history, &Limits::none())
        .expect("well-formed");
    let short = report.explain().expect("an explanation");
    assert!(
        short.starts_with("not linearizable: key \"a\" (2 operations"),
        "{short}"
    );
    assert!(
        short.ends_with(
            "also not linearizable: key \"c\" (1 operations, 1 states explored): cannot place \
             p3 get [\"c\"] -> \"w\" (lines 7-8)\n"
        ),
        "{short}"
    );
    let full = report.explain_all().expect("an explanation");
    assert!(
        full.contains("not linearizable: key \"c\" (1 operations"),
        "{full}"
    );
    assert_eq!(
        full.matches("longest linearizable prefix").count(),
        2,
        "{full}"
    );
    assert_eq!(
        short.matches("longest linearizable prefix").count(),
        1,
        "{short}"
    );
}
