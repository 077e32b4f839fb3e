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
