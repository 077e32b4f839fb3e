//! The linearizability check: pairing events into operations (through [`crate::ops`]) and
//! decoding them with the model, splitting them into independent parts, and checking each
//! part (in `search.rs`), one after another or on several threads.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::history::{EventKind, History, HistoryError};
use crate::model::{Model, Span};
use crate::ops::{Pairer, Step};
use crate::report::{Completion, Operation, Part, Report, Verdict};
use crate::search::{SearchOperation, SearchOutcome, search};

/// Limits on one check. When one runs out the verdict is [`Verdict::Unknown`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole check, all parts together.
    pub duration_max: Option<Duration>,
    /// Bytes of memo for any one part (the search's dominant memory use), counted before
    /// the memo grows. A part's verdict never depends on the other parts.
    pub memory_bytes_max: Option<usize>,
}

impl Limits {
    /// No limits: the check runs to a verdict.
    pub fn none() -> Limits {
        Limits::default()
    }

    /// At most `duration` of wall-clock time.
    pub fn with_duration_max(duration: Duration) -> Limits {
        Limits {
            duration_max: Some(duration),
            memory_bytes_max: None,
        }
    }
}

/// Checks `history` against `model`, one part after another.
///
/// Errors are problems with the history itself (a completion without an invocation, two
/// outstanding operations for one process, an `f` or value the model does not know), located
/// by line; a history that is merely not linearizable is a [`Report`] with that verdict.
pub fn check<M: Model>(
    model: &M,
    history: &History,
    limits: &Limits,
) -> Result<Report, HistoryError> {
    let prepared = Prepared::new(model, history)?;
    let deadline = deadline::Deadline::after(limits.duration_max);
    let outcomes = (0..prepared.parts.len())
        .map(|part| prepared.search(model, part, &deadline, limits))
        .collect();
    Ok(prepared.report(model, history, outcomes))
}

/// [`check`] with the parts spread over `jobs` threads. The report is the same for every
/// number of jobs: each part is searched on its own, under its own memory limit, and the
/// parts are reported in key order. Only a time limit, which is shared, can make it differ.
/// With one job (or one part) no thread is started.
pub fn check_parallel<M>(
    model: &M,
    history: &History,
    limits: &Limits,
    jobs: usize,
) -> Result<Report, HistoryError>
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let prepared = Prepared::new(model, history)?;
    let deadline = deadline::Deadline::after(limits.duration_max);
    let part_count = prepared.parts.len();
    let threads = jobs.clamp(1, part_count.max(1));
    if threads == 1 {
        let outcomes = (0..part_count)
            .map(|part| prepared.search(model, part, &deadline, limits))
            .collect();
        return Ok(prepared.report(model, history, outcomes));
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<SearchOutcome>>> =
        (0..part_count).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let part = next.fetch_add(1, Ordering::Relaxed);
                    if part >= part_count {
                        break;
                    }
                    let outcome = prepared.search(model, part, &deadline, limits);
                    *results[part].lock().expect("no search panicked") = Some(outcome);
                }
            });
        }
    });
    let outcomes = results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no search panicked")
                .expect("every part was searched")
        })
        .collect();
    Ok(prepared.report(model, history, outcomes))
}

/// A history paired into operations and split into parts, ready to search.
struct Prepared<M: Model> {
    decoded: Vec<Decoded<M>>,
    /// Per part, its key and its operations' ids, in key order.
    parts: Vec<(Option<String>, Vec<usize>)>,
}

impl<M: Model> Prepared<M> {
    fn new(model: &M, history: &History) -> Result<Prepared<M>, HistoryError> {
        let decoded = pair(model, history)?;
        let mut parts: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for (id, operation) in decoded.iter().enumerate() {
            parts
                .entry(model.partition(&operation.input))
                .or_default()
                .push(id);
        }
        let parts = parts
            .into_iter()
            .map(|(key, ids)| (key.map(str::to_owned), ids))
            .collect();
        Ok(Prepared { decoded, parts })
    }

    /// Searches part number `part`.
    fn search(
        &self,
        model: &M,
        part: usize,
        deadline: &deadline::Deadline,
        limits: &Limits,
    ) -> SearchOutcome {
        let operations: Vec<&Decoded<M>> = self.parts[part]
            .1
            .iter()
            .map(|id| &self.decoded[*id])
            .filter(|operation| !matches!(operation.outcome, Outcome::Fail))
            .collect();
        let dropped = unobservable(model, &operations);
        let mut searched: Vec<SearchOperation<'_, M>> = operations
            .iter()
            .zip(dropped)
            .filter(|(_, dropped)| !dropped)
            .map(|(operation, _)| SearchOperation {
                id: operation.id,
                input: &operation.input,
                output: match &operation.outcome {
                    Outcome::Ok(output) => output.as_ref(),
                    _ => None,
                },
                span: Span {
                    call: operation.call_position,
                    completion: match operation.outcome {
                        Outcome::Ok(_) => operation.return_position,
                        _ => None,
                    },
                },
            })
            .collect();
        // The search numbers determinate operations first.
        searched.sort_by_key(|operation| operation.span.completion.is_none());
        search(model, &searched, deadline, limits.memory_bytes_max)
    }

    fn report(self, model: &M, history: &History, outcomes: Vec<SearchOutcome>) -> Report {
        let operations = self
            .decoded
            .iter()
            .enumerate()
            .map(|(id, operation)| operation.describe(model, id, history))
            .collect();
        let mut verdict = Verdict::Linearizable;
        let mut unknown_reason = None;
        let mut parts = Vec::with_capacity(outcomes.len());
        for ((key, _), outcome) in self.parts.into_iter().zip(outcomes) {
            verdict = verdict.combine(outcome.verdict);
            if unknown_reason.is_none()
                && let Some(reason) = &outcome.unknown_reason
            {
                let place = match &key {
                    Some(key) => format!("key {}", serde_json::Value::String(key.clone())),
                    None => "the register".to_owned(),
                };
                unknown_reason = Some(format!("{place}: {reason}"));
            }
            parts.push(Part {
                key,
                verdict: outcome.verdict,
                linearization: outcome.linearization,
                failure: outcome.failure,
                states_explored: outcome.states_explored,
                unknown_reason: outcome.unknown_reason,
            });
        }
        Report {
            verdict,
            operations,
            event_count: history.events().len(),
            parts,
            unknown_reason,
        }
    }
}

/// Which of a part's operations can be left out of the search: indeterminate ones that
/// constrain nothing. An indeterminate read changed nothing and its result is unknown; an
/// indeterminate operation whose effect no known result could have seen
/// ([`Model::unobservable`]) may as well not have taken effect.
fn unobservable<M: Model>(model: &M, operations: &[&Decoded<M>]) -> Vec<bool> {
    let outputs: Vec<&M::Output> = operations
        .iter()
        .filter_map(|operation| match &operation.outcome {
            Outcome::Ok(output) => output.as_ref(),
            _ => None,
        })
        .collect();
    let updates: Vec<&M::Input> = operations
        .iter()
        .filter(|operation| matches!(operation.outcome, Outcome::Indeterminate))
        .map(|operation| &operation.input)
        .filter(|input| !model.is_read_only(input))
        .collect();
    let mut unseen = model.unobservable(&updates, &outputs).into_iter();
    operations
        .iter()
        .map(|operation| {
            matches!(operation.outcome, Outcome::Indeterminate)
                && (model.is_read_only(&operation.input) || unseen.next() == Some(true))
        })
        .collect()
}

enum Outcome<O> {
    /// Completed `ok`; the result is `None` when it says nothing (an EDN `nil` read).
    Ok(Option<O>),
    Fail,
    Indeterminate,
}

struct Decoded<M: Model> {
    id: usize,
    input: M::Input,
    outcome: Outcome<M::Output>,
    call_position: usize,
    return_position: Option<usize>,
}

impl<M: Model> Decoded<M> {
    /// The operation as the report shows it.
    fn describe(&self, model: &M, id: usize, history: &History) -> Operation {
        let call = &history.events()[self.call_position];
        let completion = match self.return_position {
            None => Completion::Pending,
            Some(position) => {
                let event = &history.events()[position];
                match event.kind {
                    EventKind::Ok => Completion::Ok(event.value.clone()),
                    EventKind::Fail => Completion::Fail,
                    // pair() only records a completion event as a return.
                    EventKind::Info | EventKind::Invoke => Completion::Info,
                }
            }
        };
        Operation {
            id,
            process: call.process,
            part: model.partition(&self.input).map(str::to_owned),
            f: call.f.clone(),
            argument: call.value.clone(),
            completion,
            call_position: self.call_position,
            return_position: self.return_position,
            call_line: history.lines()[self.call_position],
            return_line: self
                .return_position
                .map(|position| history.lines()[position]),
        }
    }
}

/// Pairs each invocation with its process's next completion ([`crate::ops`], event by
/// event) and decodes both through the model, so that errors come in line order.
fn pair<M: Model>(model: &M, history: &History) -> Result<Vec<Decoded<M>>, HistoryError> {
    let mut decoded: Vec<Decoded<M>> = Vec::new();
    let mut pairer = Pairer::new(history);
    for (position, event) in history.events().iter().enumerate() {
        match pairer.step(position)? {
            Step::Invoked(id) => {
                assert_eq!(id, decoded.len(), "operations are numbered in order");
                let input = model
                    .decode_input(&event.f, event.key.as_deref(), &event.value)
                    .map_err(|message| history.error_at(position, message))?;
                decoded.push(Decoded {
                    id,
                    input,
                    // Until a completion says otherwise, an operation is indeterminate.
                    outcome: Outcome::Indeterminate,
                    call_position: position,
                    return_position: None,
                });
            }
            Step::Completed(id) => complete(model, history, position, &mut decoded[id])?,
        }
    }
    for operation in &decoded {
        if let Some(return_position) = operation.return_position {
            assert!(operation.call_position < return_position);
        }
    }
    Ok(decoded)
}

/// Records the completion at `position` of `operation` (the pairing checked that it repeats
/// the invocation's `f` and key).
fn complete<M: Model>(
    model: &M,
    history: &History,
    position: usize,
    operation: &mut Decoded<M>,
) -> Result<(), HistoryError> {
    let event = &history.events()[position];
    operation.return_position = Some(position);
    operation.outcome = match event.kind {
        EventKind::Ok
            if history.null_reads_match_any()
                && event.value.is_null()
                && model.is_read_only(&operation.input) =>
        {
            Outcome::Ok(None)
        }
        EventKind::Ok => Outcome::Ok(Some(
            model
                .decode_output(&operation.input, &event.value)
                .map_err(|message| history.error_at(position, message))?,
        )),
        EventKind::Fail => Outcome::Fail,
        EventKind::Info | EventKind::Invoke => Outcome::Indeterminate,
    };
    Ok(())
}

/// The wall-clock deadline of a check.
pub(crate) mod deadline {
    use std::time::Duration;

    /// When the caller's time limit runs out, if it gave one.
    // The checker reads recorded histories outside the simulator, so its wall clock cannot
    // make a simulated run depend on more than the seed; the limit exists so that a check
    // of an adversarial history ends with `unknown` instead of running for ever.
    #[allow(clippy::disallowed_types)]
    pub(crate) struct Deadline(Option<std::time::Instant>);

    impl Deadline {
        // Outside the simulator, as above.
        #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
        pub(crate) fn after(limit: Option<Duration>) -> Deadline {
            let start = std::time::Instant::now();
            Deadline(limit.and_then(|limit| start.checked_add(limit)))
        }

        // Outside the simulator, as above.
        #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
        pub(crate) fn passed(&self) -> bool {
            self.0
                .is_some_and(|deadline| std::time::Instant::now() >= deadline)
        }
    }
}
