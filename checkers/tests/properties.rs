//! Properties of the checker on generated histories.
//!
//! `checkers::synth` runs clients against one sequential copy of the state, so its histories
//! are linearizable by construction while their operations overlap at random. From those:
//! corrupting one read must break linearizability, and indeterminate operations must be
//! allowed to take effect after their invocation but not before. Finally, on small random
//! histories that may or may not be linearizable, the checker must agree with a brute-force
//! search over every order.

use checkers::synth::{self, Workload};
use checkers::{
    BuiltinModel, CasRegister, Completion, Event, EventKind, History, Limits, Model, Report,
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
        prop_assert_eq!(report.verdict, brute_force(&report), "{}", history.to_jsonl());
    }
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

struct BruteOperation {
    input: <CasRegister as Model>::Input,
    output: Option<<CasRegister as Model>::Output>,
    call: usize,
    /// `None` for indeterminate operations.
    ret: Option<usize>,
}

/// Linearizability by trying every order: each determinate operation placed once, each
/// indeterminate one at most once, never before an operation that returned before its call.
fn brute_force(report: &Report) -> Verdict {
    let operations: Vec<BruteOperation> = report
        .operations
        .iter()
        .filter(|operation| operation.completion != Completion::Fail)
        .map(|operation| {
            let input = CasRegister
                .decode_input(&operation.f, None, &operation.argument)
                .expect("valid input");
            let (output, ret) = match &operation.completion {
                Completion::Ok(value) => (
                    Some(
                        CasRegister
                            .decode_output(&input, value)
                            .expect("valid output"),
                    ),
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
    if place(&operations, &mut placed, CasRegister.init()) {
        Verdict::Linearizable
    } else {
        Verdict::NotLinearizable
    }
}

fn place(operations: &[BruteOperation], placed: &mut [bool], state: Option<i64>) -> bool {
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
        if let Some(next) = CasRegister.step(&state, &operation.input, operation.output.as_ref()) {
            placed[candidate] = true;
            if place(operations, placed, next) {
                return true;
            }
            placed[candidate] = false;
        }
    }
    false
}
