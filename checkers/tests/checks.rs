//! The workload checks beside linearizability (set-full, counter, unique ids, answered after
//! the heal), the one pairing of invocations with completions they share, the time rendering
//! of their messages and the registry of checkers by name.

use std::collections::BTreeSet;

use checkers::checks::{answered, counter, set_full, unique};
use checkers::registry::{self, CHECKERS};
use checkers::{
    BuiltinModel, Event, EventKind, History, Limits, NodeValues, Property, Violation,
    check_answered, check_answered_with, check_counter, check_set_full, check_unique_ids, duration,
    pair, seconds, subset_sum,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const MS: i64 = 1_000_000;

/// `line` is `PROCESS TYPE F VALUE [TIME]`: `0 invoke add 5`, `1 ok read [1,2] 600`. VALUE
/// is JSON without spaces, or `-` for null; TIME, when present, is in milliseconds.
fn history(lines: &[&str]) -> History {
    let mut history = History::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let kind = match fields[1] {
            "invoke" => EventKind::Invoke,
            "ok" => EventKind::Ok,
            "fail" => EventKind::Fail,
            "info" => EventKind::Info,
            other => panic!("bad type {other} in {line:?}"),
        };
        let value = match fields[3] {
            "-" => Value::Null,
            text => serde_json::from_str(text).expect("the test's value is JSON"),
        };
        let mut event = Event::new(
            kind,
            fields[0].parse().expect("a process number"),
            fields[2],
            value,
        );
        if let Some(time) = fields.get(4) {
            event = event.with_time(time.parse::<i64>().expect("a time in ms") * MS);
        }
        history.push(event);
    }
    history
}

/// A violation with the given fields, for comparison.
fn violation(
    checker: &'static str,
    property: Property,
    message: &str,
    at: Option<(usize, i64)>,
) -> Violation {
    Violation {
        checker,
        property,
        message: message.to_owned(),
        time: at.map(|(_, time)| time),
        event: at.map(|(event, _)| event),
    }
}

// --- times ------------------------------------------------------------------------------------

// Goal: times read as the simulator prints its instants and durations. Method: a table of the
// forms of `sim::Instant`'s and `sim::Duration`'s Display, and negative values.
#[test]
fn times_render_as_the_simulator_does() {
    let instants = [
        (0, "0.000000s"),
        (1, "0.000000s"),
        (1_000, "0.000001s"),
        (1_250_000_000, "1.250000s"),
        (12_345_678_999, "12.345678s"),
        (-500 * MS, "-0.500000s"),
        (i64::MIN, "-9223372036.854775s"),
    ];
    for (nanos, expect) in instants {
        assert_eq!(seconds(nanos), expect, "{nanos}");
    }
    let durations = [
        (0, "0s"),
        (12, "12ns"),
        (37_000, "37us"),
        (250 * MS, "250ms"),
        (17_492_364, "17.492364ms"),
        (1_500 * MS, "1.5s"),
        (2_000 * MS, "2s"),
        (-250 * MS, "-250ms"),
    ];
    for (nanos, expect) in durations {
        assert_eq!(duration(nanos), expect, "{nanos}");
    }
}

// --- pairing ----------------------------------------------------------------------------------

// Goal: the pairing matches each invocation with its process's next completion; an `info`
// ends the operation (indefinite) and lets the process invoke again; an operation never
// completed is indefinite too. Method: a small history, every field and accessor.
#[test]
fn pairing_matches_invocations_with_completions() {
    let history = history(&[
        "0 invoke write 1 10",
        "1 invoke read - 20",
        "0 info write - 30",
        "0 invoke write 2 40",
        "1 ok read 1 50",
    ]);
    let ops = pair(&history).expect("well-formed");
    let summary: Vec<(u64, &str, usize, Option<usize>, EventKind)> = ops
        .iter()
        .map(|op| (op.process, op.f, op.invoke, op.completion, op.status))
        .collect();
    assert_eq!(
        summary,
        [
            (0, "write", 0, Some(2), EventKind::Info),
            (1, "read", 1, Some(4), EventKind::Ok),
            (0, "write", 3, None, EventKind::Info),
        ]
    );
    assert_eq!(ops[0].argument(&history), &json!(1));
    assert_eq!(ops[0].result(&history), None);
    assert_eq!(ops[1].result(&history), Some(&json!(1)));
    assert_eq!(ops[1].invoked_at(&history), Some(20 * MS));
    assert_eq!(ops[1].completed_at(&history), Some(50 * MS));
    assert_eq!(ops[2].completed_at(&history), None);
    assert_eq!(ops[2].completion_event(&history), None);
    assert_eq!(
        (
            ops[0].is_indefinite(),
            ops[1].is_ok(),
            ops[2].is_indefinite()
        ),
        (true, true, true)
    );
}

// Goal: every pairing error names its line with the same words as the linearizability
// check, which pairs through the same code. Method: one history per rule, through `pair`,
// each workload check and the built-in models.
#[test]
fn pairing_errors() {
    let cases: [(Vec<Event>, BuiltinModel, &str); 4] = [
        (
            vec![Event::ok(0, "read", json!(1))],
            BuiltinModel::Register,
            "history:1: ok completion of read for process 0, which has no operation outstanding",
        ),
        (
            vec![
                Event::invoke(0, "write", json!(1)),
                Event::invoke(0, "read", Value::Null),
            ],
            BuiltinModel::Register,
            "history:2: process 0 invokes read while its write from line 1 has no completion \
             (a process has at most one operation outstanding)",
        ),
        (
            vec![
                Event::invoke(0, "write", json!(1)),
                Event::ok(0, "read", json!(1)),
            ],
            BuiltinModel::Register,
            "history:2: completion has f \"read\" but process 0's invocation on line 1 has f \"write\"",
        ),
        (
            vec![
                Event::invoke(0, "put", json!("x")).with_key("a"),
                Event::ok(0, "put", Value::Null).with_key("b"),
            ],
            BuiltinModel::Kv,
            "history:2: completion has key Some(\"b\") but process 0's invocation on line 1 \
             has key Some(\"a\")",
        ),
    ];
    for (events, model, expect) in cases {
        let events: Vec<Event> = events.into_iter().map(|e| e.with_time(0)).collect();
        let history = History::from_events(events);
        let errors = [
            pair(&history).map(|_| ()).map_err(|e| e.to_string()),
            check_counter(&history, 0)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            check_unique_ids(&history)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            check_answered(&history, 0, 10, 1)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            check_set_full(&history, &[node("n0", &[])], 0)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            model
                .check(&history, &Limits::none())
                .map(|_| ())
                .map_err(|e| e.to_string()),
        ];
        for (which, error) in errors.into_iter().enumerate() {
            assert_eq!(error, Err(expect.to_owned()), "check {which}");
        }
    }
}

// --- set-full ---------------------------------------------------------------------------------

/// A node holding `values`, each `(value, learned at in ms)`.
fn node(name: &str, values: &[(u64, i64)]) -> NodeValues {
    NodeValues {
        node: name.to_owned(),
        learned: values.iter().map(|&(value, at)| (value, at * MS)).collect(),
    }
}

/// Two values broadcast and acknowledged, then two reads; the second, begun after both
/// acknowledgements, misses value 1.
const BROADCASTS: [&str; 8] = [
    "0 invoke broadcast 1 100",
    "0 ok broadcast 1 200",
    "1 invoke broadcast 2 300",
    "1 ok broadcast 2 400",
    "2 invoke read - 500",
    "2 ok read [2,1] 600",
    "2 invoke read - 700",
    "2 ok read [2] 800",
];

// Goal: a correct run passes with its statistics: acknowledged, lost, stale, and per value
// the time from its acknowledgement to the last node learning it, by value. Method: two
// nodes that learned at known times.
#[test]
fn set_full_passes_with_statistics() {
    let nodes = [
        node("n0", &[(1, 250), (2, 450)]),
        node("n1", &[(1, 300), (2, 900)]),
    ];
    let found = check_set_full(&history(&BROADCASTS), &nodes, 2_000 * MS).expect("well-formed");
    assert_eq!(found.violation, None);
    assert_eq!(
        (found.acked, found.lost, found.stale),
        (2, 0, 1),
        "value 1 is stale"
    );
    assert_eq!(found.latencies_nanos, [100 * MS as u64, 500 * MS as u64]);
    // A node that learned a value before its acknowledgement: a latency of zero.
    let early = [node("n0", &[(1, 150), (2, 350)])];
    let found = check_set_full(&history(&BROADCASTS), &early, 0).expect("well-formed");
    assert_eq!(found.latencies_nanos, [0, 0]);
}

// Goal: each set-full violation is reported with the old scenario's words, times rendered as
// instants, and the read at fault. Method: one history or set of nodes per rule.
#[test]
fn set_full_violations() {
    let everywhere = [node("n0", &[(1, 250), (2, 450)])];
    // A read returning a value never broadcast.
    let mut lines = BROADCASTS.to_vec();
    lines[5] = "2 ok read [1,7] 600";
    let found = check_set_full(&history(&lines), &everywhere, 0).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            set_full::NAME,
            Property::Safety,
            "a read by process 2 (invoked at 0.500000s, answered at 0.600000s) returned value 7, \
             which no client ever broadcast",
            Some((5, 600 * MS)),
        ))
    );
    assert_eq!(
        (found.acked, found.lost, found.stale, found.latencies_nanos),
        (2, 0, 0, vec![])
    );
    // A read returning a value before its broadcast began.
    let early = history(&[
        "0 invoke broadcast 1 300",
        "1 invoke read - 100",
        "1 ok read [1] 200",
        "0 ok broadcast 1 400",
    ]);
    let found = check_set_full(&early, &[node("n0", &[(1, 350)])], 0).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            set_full::NAME,
            Property::Safety,
            "a read by process 1 (invoked at 0.100000s, answered at 0.200000s) returned value 1, \
             before it was broadcast at 0.300000s",
            Some((2, 200 * MS)),
        ))
    );
    // A node holding a value never broadcast.
    let found = check_set_full(
        &history(&BROADCASTS),
        &[
            node("n0", &[(1, 250), (2, 450)]),
            node("n1", &[(1, 250), (9, 1)]),
        ],
        0,
    )
    .expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            set_full::NAME,
            Property::Safety,
            "n1 holds value 9, which no client ever broadcast",
            None,
        ))
    );
    // An acknowledged value missing on five of six nodes.
    let mut nodes = vec![node("n0", &[(1, 250), (2, 450)])];
    nodes.extend((1..6).map(|n| node(&format!("n{n}"), &[(2, 500)])));
    let found = check_set_full(&history(&BROADCASTS), &nodes, 2_000 * MS).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            set_full::NAME,
            Property::Liveness,
            "1 of 2 acknowledged values are missing from some node after every fault healed and \
             2s of settling; the first, value 1 (acknowledged at 0.200000s), is missing on n1, \
             n2, n3, n4, and 1 more",
            None,
        ))
    );
    assert_eq!(
        (found.acked, found.lost, found.stale, found.latencies_nanos),
        (2, 1, 1, vec![100 * MS as u64])
    );
}

// Goal: input set-full cannot judge is an error naming the line, never a panic. Method: one
// case per kind of bad input.
#[test]
fn set_full_errors() {
    let nodes = [node("n0", &[])];
    let cases: [(Vec<&str>, &[NodeValues], &str); 6] = [
        (
            BROADCASTS.to_vec(),
            &[],
            "history: the set-full check needs the values of at least one node",
        ),
        (
            vec!["0 invoke broadcast 1 1", "1 invoke broadcast 1 2"],
            &nodes,
            "history:2: value 1 is broadcast a second time (first on line 1); the set-full check \
             needs each value broadcast once",
        ),
        (
            vec!["0 invoke broadcast \"x\" 1"],
            &nodes,
            "history:1: a broadcast must be an integer >= 0, found \"x\"",
        ),
        (
            vec!["0 invoke read - 1", "0 ok read 3 2"],
            &nodes,
            "history:2: a read returns a list of integers, found 3",
        ),
        (
            vec!["0 invoke read -", "0 ok read [] 2"],
            &nodes,
            "history:1: invoke of read by process 0 has no time; the set-full check compares times",
        ),
        (
            vec!["0 invoke cas - 1", "0 ok cas - 2"],
            &nodes,
            "history:2: the set-full check knows the operations broadcast and read, not cas",
        ),
    ];
    for (lines, nodes, expect) in cases {
        let error = check_set_full(&history(&lines), nodes, 0).map(|_| ());
        assert_eq!(
            error.map_err(|e| e.to_string()),
            Err(expect.to_owned()),
            "{lines:?}"
        );
    }
}

// --- counter ----------------------------------------------------------------------------------

/// `lines` without times become events 1 us apart, as the old scenario tests had them.
fn microseconds(lines: &[&str]) -> History {
    let events = history(lines)
        .events()
        .iter()
        .enumerate()
        .map(|(i, event)| event.clone().with_time(i as i64 * 1_000))
        .collect();
    History::from_events(events)
}

// Goal: the counter check gives the verdicts the scenario's check gave. Method: the cases of
// `scenarios/tests/rpc.rs`, ported, with the property (or none) expected.
#[test]
fn counter_cases() {
    let check = |lines: &[&str], final_value: u64, expect: Option<Property>| {
        let found = check_counter(&microseconds(lines), final_value).expect("well-formed");
        assert_eq!(
            found.violation.as_ref().map(|v| v.property),
            expect,
            "{lines:?} final {final_value}: {:?}",
            found.violation
        );
    };
    let acknowledged = [
        "0 invoke add 5",
        "0 ok add 5",
        "1 invoke add 7",
        "1 ok add 7",
    ];
    check(&acknowledged, 12, None);
    check(&acknowledged, 17, Some(Property::Safety)); // an add applied twice
    check(&acknowledged, 7, Some(Property::Safety)); // an acknowledged add lost
    let indefinite = [
        "0 invoke add 5",
        "0 info add -",
        "1 invoke add 7",
        "1 ok add 7",
        "2 invoke add 9",
    ];
    check(&indefinite, 7, None);
    check(&indefinite, 12, None);
    check(&indefinite, 21, None);
    check(&indefinite, 19, Some(Property::Safety)); // no subset of {5, 9} sums to 12
    let failed = [
        "0 invoke add 5",
        "0 fail add -",
        "1 invoke add 7",
        "1 ok add 7",
    ];
    check(&failed, 7, None);
    check(&failed, 12, Some(Property::Safety)); // the failed add ran
    // Reads lie between what was acknowledged before they began and what might have run.
    let reads = [
        "0 invoke add 5",
        "0 ok add 5",
        "1 invoke read -",
        "2 invoke add 7",
        "1 ok read 12",
        "2 info add -",
    ];
    check(&reads, 12, None);
    check(
        &[
            "0 invoke add 5",
            "0 ok add 5",
            "1 invoke read -",
            "1 ok read 3",
        ],
        5,
        Some(Property::Safety),
    );
    check(
        &[
            "0 invoke add 5",
            "0 fail add -",
            "1 invoke read -",
            "1 ok read 5",
        ],
        0,
        Some(Property::Safety),
    );
    let many: Vec<String> = (0..41)
        .flat_map(|p| {
            [
                format!("{p} invoke add {}", 100 + p),
                format!("{p} info add -"),
            ]
        })
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    check(&many, 1_000, Some(Property::Unknown));
}

// Goal: each counter violation has the scenario's words, and a read out of range is reported
// at its completion; the indefinite adds are counted whatever the verdict. Method: one case
// per message.
#[test]
fn counter_messages() {
    let acknowledged = [
        "0 invoke add 5",
        "0 ok add 5",
        "1 invoke add 7",
        "1 ok add 7",
    ];
    let cases: [(Vec<String>, u64, u64, Violation); 4] = [
        (
            acknowledged.map(str::to_owned).to_vec(),
            17,
            0,
            violation(
                counter::NAME,
                Property::Safety,
                "the final counter 17 is the acknowledged adds (12) plus 5, which no subset of \
                 the 0 indefinite adds sums to: an add ran twice, or one recorded failed ran",
                None,
            ),
        ),
        (
            acknowledged.map(str::to_owned).to_vec(),
            7,
            0,
            violation(
                counter::NAME,
                Property::Safety,
                "the final counter 7 is below the 12 that acknowledged adds sum to: an \
                 acknowledged add was lost",
                None,
            ),
        ),
        (
            [
                "0 invoke add 5",
                "0 ok add 5",
                "2 invoke add 4",
                "1 invoke read -",
                "1 ok read 3",
            ]
            .map(str::to_owned)
            .to_vec(),
            5,
            1,
            violation(
                counter::NAME,
                Property::Safety,
                "process 1 read 3 at 0.000004s, outside the possible range 5..=9 (acknowledged \
                 before it began .. not failed and invoked before it ended)",
                Some((4, 4_000)),
            ),
        ),
        (
            (0..41)
                .flat_map(|p| {
                    [
                        format!("{p} invoke add {}", 100 + p),
                        format!("{p} info add -"),
                    ]
                })
                .collect(),
            1_000,
            41,
            violation(
                counter::NAME,
                Property::Unknown,
                "41 indefinite adds could explain the surplus 1000; the subset-sum check takes \
                 at most 40",
                None,
            ),
        ),
    ];
    for (lines, final_value, indefinite, expect) in cases {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let found = check_counter(&microseconds(&lines), final_value).expect("well-formed");
        assert_eq!(found.violation, Some(expect), "{lines:?}");
        assert_eq!(found.adds_indefinite, indefinite, "{lines:?}");
    }
    // Without times, the read is named by its line.
    let found = check_counter(
        &history(&[
            "0 invoke add 5",
            "0 ok add 5",
            "1 invoke read -",
            "1 ok read 3",
        ]),
        5,
    )
    .expect("well-formed");
    let found = found.violation.expect("a violation");
    assert_eq!(
        (found.message.as_str(), found.event, found.time),
        (
            "process 1 read 3 at line 4, outside the possible range 5..=5 (acknowledged before \
             it began .. not failed and invoked before it ended)",
            Some(3),
            None
        )
    );
    assert_eq!(
        Violation {
            message: "m".to_owned(),
            ..found
        }
        .to_string(),
        "counter (safety): m"
    );
}

// Goal: values the counter cannot read are errors naming the line. Method: a bad amount and a
// bad read.
#[test]
fn counter_errors() {
    let cases = [
        (
            vec!["0 invoke add -1"],
            "history:1: an add's amount must be an integer >= 0, found -1",
        ),
        (
            vec!["0 invoke read -", "0 ok read \"x\""],
            "history:2: a read returns an integer >= 0, found \"x\"",
        ),
    ];
    for (lines, expect) in cases {
        let error = check_counter(&history(&lines), 0).map(|_| ());
        assert_eq!(error.map_err(|e| e.to_string()), Err(expect.to_owned()));
    }
}

fn brute_force(items: &[u64], target: u64) -> bool {
    (0u32..1 << items.len()).any(|mask| {
        let sum: u64 = items
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, &x)| x)
            .sum();
        sum == target
    })
}

proptest! {
    // Goal: the meet-in-the-middle search answers as brute force does. Method: random small
    // item lists, zeros included, and targets.
    #[test]
    fn subset_sum_agrees_with_brute_force(
        items in prop::collection::vec(0u64..60, 0..13),
        target in 0u64..300,
    ) {
        prop_assert_eq!(subset_sum(&items, target, 40), Some(brute_force(&items, target)));
    }
}

// Goal: the limit counts only items that could take part, and edge cases answer exactly.
// Method: the scenario's cases, plus zeros, an empty list, and sums near u64::MAX.
#[test]
fn subset_sum_edges() {
    let items: Vec<u64> = (1..=41).collect();
    assert_eq!(
        subset_sum(&items, 100, 40),
        None,
        "41 usable items are over the limit"
    );
    assert_eq!(subset_sum(&items, 100, 41), Some(true));
    // Items above the target cannot take part, so they do not count against the limit.
    let mut large = vec![1_000_000; 100];
    large.extend([3, 4]);
    assert_eq!(subset_sum(&large, 7, 40), Some(true));
    assert_eq!(subset_sum(&large, 5, 40), Some(false));
    // Neither do zeros, which change no sum.
    let mut zeros = vec![0; 100];
    zeros.extend([3, 4]);
    assert_eq!(subset_sum(&zeros, 7, 40), Some(true));
    assert_eq!(subset_sum(&zeros, 5, 40), Some(false));
    assert_eq!(subset_sum(&[], 0, 0), Some(true));
    assert_eq!(subset_sum(&[], 1, 40), Some(false));
    assert_eq!(subset_sum(&[5], 0, 0), Some(true), "the empty subset");
    assert_eq!(
        subset_sum(&[u64::MAX, u64::MAX - 1, 1], u64::MAX, 40),
        Some(true)
    );
    assert_eq!(
        subset_sum(&[u64::MAX - 1, u64::MAX - 1], u64::MAX, 40),
        Some(false)
    );
}

// --- unique ids -------------------------------------------------------------------------------

// Goal: a repeated id is reported at its second hand-out with both processes and times, and
// the ids handed out are counted. Method: three ids with one repeat; the same without times;
// ids that differ only in their JSON type.
#[test]
fn unique_ids() {
    let lines = [
        "0 invoke generate - 100",
        "1 invoke generate - 150",
        "0 ok generate \"a\" 200",
        "1 ok generate \"b\" 250",
        "0 invoke generate - 300",
        "0 ok generate \"a\" 400",
        "1 invoke generate - 450",
        "1 ok generate \"a\" 500",
    ];
    let found = check_unique_ids(&history(&lines)).expect("well-formed");
    assert_eq!(found.ok_ids, 4);
    assert_eq!(
        found.violation,
        Some(violation(
            unique::NAME,
            Property::Safety,
            "id a was handed out twice: to process 0 at 0.200000s and to process 0 at 0.400000s",
            Some((5, 400 * MS)),
        ))
    );
    let untimed: Vec<String> = lines
        .iter()
        .map(|line| {
            line.rsplit_once(' ')
                .map_or("", |(rest, _)| rest)
                .to_owned()
        })
        .collect();
    let untimed: Vec<&str> = untimed.iter().map(String::as_str).collect();
    let found = check_unique_ids(&history(&untimed)).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(Violation {
            checker: unique::NAME,
            property: Property::Safety,
            message: "id a was handed out twice: to process 0 at line 3 and to process 0 at \
                      line 6"
                .to_owned(),
            time: None,
            event: Some(5),
        })
    );
    let distinct = history(&[
        "0 invoke generate - 1",
        "0 ok generate \"5\" 2",
        "0 invoke generate - 3",
        "0 ok generate 5 4",
        "0 invoke generate - 5",
        "0 fail generate \"5\" 6",
        "0 invoke generate - 7",
    ]);
    let found = check_unique_ids(&distinct).expect("well-formed");
    assert_eq!((found.ok_ids, found.violation), (2, None));
}

// --- answered after the heal ------------------------------------------------------------------

/// Healed at 1s, ended at 5s, timeout 1s: operations invoked in [1s, 4s] must be answered.
const WINDOW: (i64, i64, i64) = (1_000 * MS, 5_000 * MS, 1_000 * MS);

/// Operations before, at both ends of and after the window, all answered or out of it.
const ANSWERED: [&str; 7] = [
    "0 invoke read - 500",
    "0 info read - 600",
    "1 invoke read - 1000",
    "1 ok read 1 1100",
    "2 invoke read - 4000",
    "2 ok read 1 4500",
    "3 invoke read - 4001",
];

// Goal: operations answered in the window pass, and the window's ends are inclusive. Method:
// operations at both ends, before and after it.
#[test]
fn answered_passes() {
    let (healed, end, timeout) = WINDOW;
    let found = check_answered(&history(&ANSWERED), healed, end, timeout).expect("well-formed");
    assert_eq!((found.checked, found.violation), (2, None));
    // An end before the timeout: the window closes at zero, as the simulator's instants do.
    let early = history(&["0 invoke read - 0", "0 ok read 1 1"]);
    let found = check_answered(&early, 0, 500 * MS, 1_000 * MS).expect("well-formed");
    assert_eq!((found.checked, found.violation), (1, None));
}

// Goal: each way an operation goes unanswered is reported with the scenario's words, at the
// completion or, never completed, at the invocation of the lowest process. Method: one case
// per rule, and `fail` accepted as an answer.
#[test]
fn answered_violations() {
    let (healed, end, timeout) = WINDOW;
    let mut failed = ANSWERED.to_vec();
    failed.extend(["4 invoke write 1 2000", "4 fail write - 2100"]);
    let found = check_answered(&history(&failed), healed, end, timeout).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            answered::NAME,
            Property::Liveness,
            "process 4 invoked write at 2.000000s after every fault had healed, and it completed \
             fail at 2.100000s",
            Some((8, 2_100 * MS)),
        ))
    );
    let accepting = [EventKind::Ok, EventKind::Fail];
    let found = check_answered_with(&history(&failed), healed, end, timeout, &accepting)
        .expect("well-formed");
    assert_eq!((found.checked, found.violation), (3, None));

    let mut never = ANSWERED.to_vec();
    never.extend(["6 invoke read - 1500", "5 invoke read - 3000"]);
    let found = check_answered(&history(&never), healed, end, timeout).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            answered::NAME,
            Property::Liveness,
            "process 5 invoked read at 3.000000s after every fault had healed, and it never \
             completed",
            Some((8, 3_000 * MS)),
        ))
    );

    let none = history(&[
        "0 invoke read - 500",
        "0 ok read 1 600",
        "1 invoke read - 4500",
    ]);
    let found = check_answered(&none, healed, end, timeout).expect("well-formed");
    assert_eq!(
        found.violation,
        Some(violation(
            answered::NAME,
            Property::Liveness,
            "no operation was invoked and answered in the liveness phase",
            None,
        ))
    );
    let late = History::from_events(vec![
        Event::invoke(0, "read", Value::Null).with_time(1),
        Event::ok(0, "read", json!(1)).with_time(2),
    ]);
    let found = check_answered(&late, 0, 1, 2).expect("well-formed");
    assert_eq!(
        found.violation.map(|v| v.message),
        Some("no operation was invoked and answered in the liveness phase".to_owned()),
        "invoked after the window, which closed at zero"
    );
}

// Goal: input the check cannot judge is an error. Method: an invocation without a time and a
// negative timeout.
#[test]
fn answered_errors() {
    let untimed = history(&["0 invoke read -"]);
    assert_eq!(
        check_answered(&untimed, 0, 10, 1).map_err(|e| e.to_string()),
        Err(
            "history:1: invoke of read by process 0 has no time; the answered-after-heal check \
             compares times"
                .to_owned()
        )
    );
    assert_eq!(
        check_answered(&history(&ANSWERED), 0, 10, -1).map_err(|e| e.to_string()),
        Err("history: the answered-after-heal timeout must not be negative, found -1ns".to_owned())
    );
}

// --- registry ---------------------------------------------------------------------------------

// Goal: every checker is found by its name, every check's violations carry a registered name,
// and an unknown name is an error that lists the valid ones. Method: the whole list.
#[test]
fn registry_lookup() {
    let names: Vec<&str> = CHECKERS.iter().map(|checker| checker.name).collect();
    assert_eq!(
        names,
        [
            "linearizable",
            "set-full",
            "counter",
            "unique-ids",
            "answered-after-heal"
        ]
    );
    for name in [
        registry::LINEARIZABLE,
        set_full::NAME,
        counter::NAME,
        unique::NAME,
        answered::NAME,
    ] {
        let info = registry::find(name).expect("registered");
        assert_eq!(info.name, name);
        assert!(!info.summary.is_empty() && !info.needs.is_empty(), "{name}");
    }
    assert_eq!(
        registry::find("counter").map(|info| info.needs),
        Ok("history of add and read + final counter value")
    );
    assert_eq!(
        registry::find("linearizability"),
        Err(
            "unknown checker `linearizability`; the checkers are linearizable, set-full, \
             counter, unique-ids, answered-after-heal"
                .to_owned()
        )
    );
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), CHECKERS.len(), "no name twice");
}
