//! Properties of the checker on generated histories.
//!
//! `checkers::synth` runs clients against one sequential copy of the state, so its histories
//! are linearizable by construction while their operations overlap at random. From those:
//! corrupting one read must break linearizability, and indeterminate operations must be
//! allowed to take effect after their invocation but not before. Finally, on small random
//! histories that may or may not be linearizable, the checker must agree with a brute-force
//! search over every order, for the kv model with and without its `cas` extension.

use checkers::synth::{self, KvShape, Workload};
use checkers::{
    BuiltinModel, CasRegister, Completion, Event, EventKind, History, Kv, Limits, Model, Report,
    Verdict,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

fn workload_strategy() -> impl Strategy<Value = (BuiltinModel, Workload, u64)> {
    (
        prop::sample::select(BuiltinModel::ALL.to_vec()),
        1usize..60,
        1u64..6,
        1usize..4,
        1i64..5,
        prop_oneof![Just(0u32), 0u32..300],
        any::<u64>(),
    )
        .prop_map(
            |(
                model,
                operation_count,
                process_count,
                key_count,
                value_count,
                indeterminate,
                seed,
            )| {
                let workload = Workload {
                    operation_count,
                    process_count,
                    key_count,
                    value_count,
                    indeterminate_per_mille: indeterminate,
                };
                (model, workload, seed)
            },
        )
}

fn verdict(model: BuiltinModel, history: &History) -> Verdict {
    let report = model
        .check(history, &Limits::none())
        .unwrap_or_else(|error| panic!("{error}\n{}", history.to_jsonl()));
    report.verdict
}

/// A process number no generated history uses.
const FRESH_PROCESS: u64 = 1_000;

/// A value no generated history writes, for `model`.
fn foreign_value(model: BuiltinModel) -> Value {
    match model {
        BuiltinModel::Kv => json!("never written"),
        BuiltinModel::Register | BuiltinModel::CasRegister => json!(999_999),
    }
}

fn write_f(model: BuiltinModel) -> &'static str {
    match model {
        BuiltinModel::Kv => "put",
        BuiltinModel::Register | BuiltinModel::CasRegister => "write",
    }
}

fn read_f(model: BuiltinModel) -> &'static str {
    match model {
        BuiltinModel::Kv => "get",
        BuiltinModel::Register | BuiltinModel::CasRegister => "read",
    }
}

/// The key of the first event, so that appended operations land in a part that has history.
fn some_key(history: &History, model: BuiltinModel) -> Option<String> {
    match history.events().first() {
        Some(event) => event.key.clone(),
        None if model == BuiltinModel::Kv => Some("k0".to_owned()),
        None => None,
    }
}

fn keyed(event: Event, key: &Option<String>) -> Event {
    match key {
        Some(key) => event.with_key(key),
        None => event,
    }
}

proptest! {
    // Goal: a history that is linearizable by construction gets that verdict, with
    // indeterminate operations that did and did not take effect. Method: synth histories of
    // every model and shape.
    #[test]
    fn generated_histories_are_linearizable((model, workload, seed) in workload_strategy()) {
        let history = synth::generate(model, &workload, seed);
        prop_assert_eq!(verdict(model, &history), Verdict::Linearizable, "{}", history.to_jsonl());
    }

    // Goal: a read that returns a value nobody wrote is caught. Method: replace the result of
    // one ok read of a generated history with a foreign value.
    #[test]
    fn corrupted_read_is_not_linearizable(
        (model, workload, seed) in workload_strategy(),
        pick in any::<Index>(),
    ) {
        let history = synth::generate(model, &workload, seed);
        let reads: Vec<usize> = history
            .events()
            .iter()
            .enumerate()
            .filter(|(_, event)| event.kind == EventKind::Ok && event.f == read_f(model))
            .map(|(position, _)| position)
            .collect();
        prop_assume!(!reads.is_empty());
        let mut events = history.events().to_vec();
        events[reads[pick.index(reads.len())]].value = foreign_value(model);
        let corrupted = History::from_events(events);
        prop_assert_eq!(verdict(model, &corrupted), Verdict::NotLinearizable, "{}", corrupted.to_jsonl());
    }

    // Goal: an indeterminate write may take effect after its invocation, however late the
    // observation. Method: after a generated history, an info write of a foreign value and
    // then a read that sees it.
    #[test]
    fn indeterminate_write_may_take_effect((model, workload, seed) in workload_strategy()) {
        let mut history = synth::generate(model, &workload, seed);
        let key = some_key(&history, model);
        let value = foreign_value(model);
        history.push(keyed(Event::invoke(FRESH_PROCESS, write_f(model), value.clone()), &key));
        history.push(keyed(Event::info(FRESH_PROCESS, write_f(model)), &key));
        history.push(keyed(Event::invoke(FRESH_PROCESS + 1, read_f(model), Value::Null), &key));
        history.push(keyed(Event::ok(FRESH_PROCESS + 1, read_f(model), value), &key));
        prop_assert_eq!(verdict(model, &history), Verdict::Linearizable, "{}", history.to_jsonl());
    }

    // Goal: an indeterminate write cannot take effect before its invocation. Method: as
    // above, with the read completed before the write is invoked.
    #[test]
    fn indeterminate_write_not_before_invocation((model, workload, seed) in workload_strategy()) {
        let mut history = synth::generate(model, &workload, seed);
        let key = some_key(&history, model);
        let value = foreign_value(model);
        history.push(keyed(Event::invoke(FRESH_PROCESS + 1, read_f(model), Value::Null), &key));
        history.push(keyed(Event::ok(FRESH_PROCESS + 1, read_f(model), value.clone()), &key));
        history.push(keyed(Event::invoke(FRESH_PROCESS, write_f(model), value), &key));
        history.push(keyed(Event::info(FRESH_PROCESS, write_f(model)), &key));
        prop_assert_eq!(verdict(model, &history), Verdict::NotLinearizable, "{}", history.to_jsonl());
    }

    // Goal: on arbitrary small histories, linearizable or not, the checker's search (with its
    // memo and pruning) agrees with an exhaustive one. Method: random cas-register histories
    // with random results and every kind of completion, compared with `brute_force`.
    #[test]
    fn agrees_with_brute_force(script in prop::collection::vec((0u64..3, 0u8..3, 0i64..3, 0i64..3, 0u8..8), 0..24)) {
        let history = random_history(&script);
        let report = checkers::check(&CasRegister, &history, &Limits::none())
            .unwrap_or_else(|error| panic!("{error}\n{}", history.to_jsonl()));
        prop_assert_eq!(report.verdict, brute_force(&CasRegister, &report), "{}", history.to_jsonl());
    }

    // Goal: on small kv histories of the generator's shape, with and without a planted
    // violation, with indeterminate operations and with short values that collide, the search
    // (appends left unordered until a get observes them) agrees with trying every order of
    // concrete strings. Method: generate_kv at small sizes, compared with `brute_force`.
    #[test]
    fn kv_agrees_with_brute_force(
        process_count in 1u64..5,
        key_count in 1usize..3,
        operation_count in 1usize..13,
        info_per_mille in prop_oneof![Just(0u32), 0u32..400],
        value_length in 0usize..3,
        violation in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let shape = KvShape {
            process_count,
            key_count,
            operation_count,
            info_per_mille,
            value_length,
            violation,
            ..KvShape::default()
        };
        let history = synth::generate_kv(&shape, seed);
        let report = checkers::check(&Kv, &history, &Limits::none())
            .unwrap_or_else(|error| panic!("{error}\n{}", history.to_jsonl()));
        prop_assert_eq!(report.verdict, brute_force(&Kv, &report), "{}", history.to_jsonl());
        if violation && value_length > 0 {
            prop_assert_eq!(report.verdict, Verdict::NotLinearizable, "{}", history.to_jsonl());
        }
    }

    // Goal: as above on kv histories whose gets return arbitrary concatenations, so that
    // most are not linearizable and the unordered appends meet every kind of observation.
    // Method: a script of steps, the gets' results drawn from pieces of the appended values.
    #[test]
    fn kv_random_results_agree(
        script in prop::collection::vec((0u64..4, 0u8..4, 0usize..4, 0u8..8), 0..24),
    ) {
        let history = random_kv_history(&script);
        let report = checkers::check(&Kv, &history, &Limits::none())
            .unwrap_or_else(|error| panic!("{error}\n{}", history.to_jsonl()));
        prop_assert_eq!(report.verdict, brute_force(&Kv, &report), "{}", history.to_jsonl());
    }
}

proptest! {
    // Failed cas operations that some but not all orders of the pending appends spell are
    // rare in these histories (about one in a hundred); more cases meet more of them.
    #![proptest_config(ProptestConfig::with_cases(2048))]
    // Goal: with `cas` among the kv operations (the model's extension of the format), the
    // search (appends grouped between failed cas operations, exclusions, unknown results)
    // agrees with trying every order of concrete strings, on linearizable histories and on
    // broken ones. Method: generate_kv with cas operations, whose results the generator
    // computed (true and false, some amid concurrent appends), and then maybe one ok cas
    // with its result flipped; compared with `brute_force`.
    #[test]
    fn kv_with_cas_agrees_with_brute_force(
        process_count in 1u64..5,
        operation_count in 1usize..13,
        info_per_mille in prop_oneof![Just(0u32), 0u32..400],
        value_length in 0usize..3,
        cas_percent in 10u32..50,
        flip in any::<Option<Index>>(),
        seed in any::<u64>(),
    ) {
        let shape = KvShape {
            process_count,
            key_count: 1,
            operation_count,
            info_per_mille,
            get_percent: 30,
            put_percent: 5,
            cas_percent,
            value_length,
            ..KvShape::default()
        };
        let generated = synth::generate_kv(&shape, seed);
        let flipped = flip.and_then(|pick| flip_cas(&generated, pick));
        let history = flipped.as_ref().unwrap_or(&generated);
        let report = checkers::check(&Kv, history, &Limits::none())
            .unwrap_or_else(|error| panic!("{error}\n{}", history.to_jsonl()));
        prop_assert_eq!(report.verdict, brute_force(&Kv, &report), "{}", history.to_jsonl());
        if flipped.is_none() {
            prop_assert_eq!(report.verdict, Verdict::Linearizable, "{}", history.to_jsonl());
        }
    }

    // Goal: as kv_random_results_agree with cas operations whose `from` is a concatenation
    // of values written so far and whose result the script picks, so that true and false
    // each meet values that some, all or no order of the open appends spells, and appends
    // invoked after a false cas meet gets that put them first. Method: a script of steps
    // (`random_kv_cas_history`), compared with `brute_force`.
    #[test]
    fn kv_cas_random_results_agree(
        script in prop::collection::vec((0u64..4, 0u8..7, 0usize..4, 0u8..8, 0u8..4), 0..22),
    ) {
        let history = random_kv_cas_history(&script);
        let report = checkers::check(&Kv, &history, &Limits::none())
            .unwrap_or_else(|error| panic!("{error}\n{}", history.to_jsonl()));
        prop_assert_eq!(report.verdict, brute_force(&Kv, &report), "{}", history.to_jsonl());
    }
}

/// `history` with the result of one of its ok cas operations (chosen by `pick`) negated, or
/// `None` without any.
fn flip_cas(history: &History, pick: Index) -> Option<History> {
    let cas: Vec<usize> = history
        .events()
        .iter()
        .enumerate()
        .filter(|(_, event)| event.kind == EventKind::Ok && event.f == "cas")
        .map(|(position, _)| position)
        .collect();
    if cas.is_empty() {
        return None;
    }
    let mut events = history.events().to_vec();
    let event = &mut events[cas[pick.index(cas.len())]];
    event.value = json!(event.value != json!(true));
    Some(History::from_events(events))
}

/// As [`random_kv_history`], with cas operations too. A get returns, and a cas expects, the
/// values written so far from some point on, in one of a few arrangements (in order,
/// reversed, the last first, the first last), so that some, all or none of the orders of
/// the appends still open spell it; a cas returns true or false as the script says, and its
/// `to` counts as written only if it returned true. Steps are (process, operation, piece,
/// outcome, arrangement).
fn random_kv_cas_history(script: &[(u64, u8, usize, u8, u8)]) -> History {
    const PIECES: [&str; 4] = ["a", "b", "ab", ""];
    let mut history = History::new();
    let mut busy: Vec<Option<(&'static str, &'static str)>> = vec![None; 4];
    let mut written: Vec<&str> = Vec::new();
    let concatenation = |written: &[&str], piece: usize, arrangement: u8| {
        let start = piece % (written.len() + 1);
        let mut pieces = written[start..].to_vec();
        let shift = 1.min(pieces.len());
        match arrangement {
            0 => {}
            1 => pieces.reverse(),
            2 => pieces.rotate_right(shift),
            _ => pieces.rotate_left(shift),
        }
        pieces.concat()
    };
    for (process, operation, piece, outcome, arrangement) in script {
        let slot = &mut busy[*process as usize];
        let event = match slot.take() {
            None => {
                let written_piece = PIECES[*piece];
                let (f, value) = match operation {
                    0 => ("get", Value::Null),
                    1 | 2 => ("append", json!(written_piece)),
                    3 => ("put", json!(written_piece)),
                    _ => {
                        let from = concatenation(&written, *piece, *arrangement);
                        ("cas", json!([from, written_piece]))
                    }
                };
                if matches!(f, "append" | "put") {
                    written.push(written_piece);
                }
                *slot = Some((f, written_piece));
                Event::invoke(*process, f, value)
            }
            Some((f, written_piece)) => match outcome {
                0 => Event::fail(*process, f),
                1 => Event::info(*process, f),
                _ if f == "get" => {
                    let read = concatenation(&written, *piece, *arrangement);
                    Event::ok(*process, f, json!(read))
                }
                _ if f == "cas" => {
                    let swapped = outcome % 2 == 0;
                    if swapped {
                        written.push(written_piece);
                    }
                    Event::ok(*process, f, json!(swapped))
                }
                _ => Event::ok(*process, f, Value::Null),
            },
        };
        history.push(event.with_key("k"));
    }
    history
}

/// A well-formed kv history on one key from a script of (process, operation, piece,
/// outcome): appends and puts of short values, and gets that return a concatenation of
/// earlier values chosen by the script rather than by any execution.
fn random_kv_history(script: &[(u64, u8, usize, u8)]) -> History {
    const PIECES: [&str; 4] = ["a", "b", "ab", ""];
    let mut history = History::new();
    let mut busy: Vec<Option<&'static str>> = vec![None; 4];
    let mut written: Vec<&str> = Vec::new();
    for (process, operation, piece, outcome) in script {
        let slot = &mut busy[*process as usize];
        let event = match slot.take() {
            None => {
                let (f, value) = match operation {
                    0 | 1 => ("get", Value::Null),
                    2 => ("append", json!(PIECES[*piece])),
                    _ => ("put", json!(PIECES[*piece])),
                };
                if !value.is_null() {
                    written.push(PIECES[*piece]);
                }
                *slot = Some(f);
                Event::invoke(*process, f, value)
            }
            Some(f) => match outcome {
                0 => Event::fail(*process, f),
                1 => Event::info(*process, f),
                _ if f == "get" => {
                    // A suffix of what was written, in that order or reversed.
                    let start = *piece % (written.len() + 1);
                    let mut pieces = written[start..].to_vec();
                    if outcome % 2 == 1 {
                        pieces.reverse();
                    }
                    Event::ok(*process, f, json!(pieces.concat()))
                }
                _ => Event::ok(*process, f, Value::Null),
            },
        };
        history.push(event.with_key("k"));
    }
    history
}

/// A well-formed cas-register history from a script of (process, operation, a, b, outcome):
/// a step of an idle process invokes, a step of a busy one completes, with a result drawn
/// from the script rather than from any execution.
fn random_history(script: &[(u64, u8, i64, i64, u8)]) -> History {
    let mut history = History::new();
    let mut busy: Vec<Option<&'static str>> = vec![None; 3];
    for (process, operation, a, b, outcome) in script {
        let slot = &mut busy[*process as usize];
        match slot.take() {
            None => {
                let (f, value) = match operation {
                    0 => ("read", Value::Null),
                    1 => ("write", json!(a)),
                    _ => ("cas", json!([a, b])),
                };
                history.push(Event::invoke(*process, f, value));
                *slot = Some(f);
            }
            Some(f) => {
                let event = match outcome {
                    0 => Event::fail(*process, f),
                    1 => Event::info(*process, f),
                    _ => {
                        let result = match f {
                            "read" if *a == 0 => Value::Null,
                            "read" => json!(b),
                            "cas" => json!(a != b),
                            _ => Value::Null,
                        };
                        Event::ok(*process, f, result)
                    }
                };
                history.push(event);
            }
        }
    }
    history
}

struct BruteOperation<M: Model> {
    input: M::Input,
    output: Option<M::Output>,
    call: usize,
    /// `None` for indeterminate operations.
    ret: Option<usize>,
}

/// Linearizability by trying every order, key by key, with the model's sequential `step`:
/// each determinate operation placed once, each indeterminate one at most once, never before
/// an operation that returned before its call.
fn brute_force<M: Model>(model: &M, report: &Report) -> Verdict {
    let mut parts: Vec<Option<String>> = report
        .operations
        .iter()
        .map(|operation| operation.part.clone())
        .collect();
    parts.sort();
    parts.dedup();
    for part in parts {
        let operations: Vec<BruteOperation<M>> = report
            .operations
            .iter()
            .filter(|operation| operation.part == part && operation.completion != Completion::Fail)
            .map(|operation| {
                let input = model
                    .decode_input(&operation.f, operation.part.as_deref(), &operation.argument)
                    .expect("valid input");
                let (output, ret) = match &operation.completion {
                    Completion::Ok(value) => (
                        Some(model.decode_output(&input, value).expect("valid output")),
                        operation.return_position,
                    ),
                    _ => (None, None),
                };
                BruteOperation {
                    input,
                    output,
                    call: operation.call_position,
                    ret,
                }
            })
            .collect();
        let mut placed = vec![false; operations.len()];
        if !place(model, &operations, &mut placed, model.init()) {
            return Verdict::NotLinearizable;
        }
    }
    Verdict::Linearizable
}

fn place<M: Model>(
    model: &M,
    operations: &[BruteOperation<M>],
    placed: &mut [bool],
    state: M::State,
) -> bool {
    let done = operations
        .iter()
        .zip(placed.iter())
        .all(|(operation, placed)| *placed || operation.ret.is_none());
    if done {
        return true;
    }
    for candidate in 0..operations.len() {
        if placed[candidate] {
            continue;
        }
        let blocked = operations.iter().zip(placed.iter()).any(|(other, placed)| {
            !*placed
                && other
                    .ret
                    .is_some_and(|ret| ret < operations[candidate].call)
        });
        if blocked {
            continue;
        }
        let operation = &operations[candidate];
        if let Some(next) = model.step(&state, &operation.input, operation.output.as_ref()) {
            placed[candidate] = true;
            if place(model, operations, placed, next) {
                return true;
            }
            placed[candidate] = false;
        }
    }
    false
}
