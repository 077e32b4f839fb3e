//! The linearizability check: pairing events into operations, splitting them into
//! independent parts, and the Wing & Gong search with Lowe's memoisation on each part.
//!
//! The search walks a doubly linked list of call and return entries in real-time order. At a
//! call entry it tries to linearize that operation next (apply it to the model state); at a
//! return entry it has found an operation that had to be placed already, so it undoes the
//! last choice. Lowe's memo of (set of linearized operations, state) prunes every
//! configuration that has been explored before. Indeterminate operations get a return entry
//! after every real event: they may be linearized anywhere after their call, and reaching
//! their return entries means every determinate operation is placed, so the rest never took
//! effect.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::history::{EventKind, History, HistoryError};
use crate::memo::{Memo, fx_hash, mix64};
use crate::model::Model;
use crate::report::{Completion, Failure, Operation, Part, Report, Verdict};

/// Limits on one check. When one runs out the verdict is [`Verdict::Unknown`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole check, all parts together.
    pub duration_max: Option<Duration>,
    /// Bytes of memo for any one part (the search's dominant memory use).
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

/// Checks `history` against `model`.
///
/// Errors are problems with the history itself (a completion without an invocation, two
/// outstanding operations for one process, an `f` or value the model does not know), located
/// by line; a history that is merely not linearizable is a [`Report`] with that verdict.
pub fn check<M: Model>(
    model: &M,
    history: &History,
    limits: &Limits,
) -> Result<Report, HistoryError> {
    let decoded = pair(model, history)?;
    let deadline = deadline::Deadline::after(limits.duration_max);

    let mut parts: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (id, operation) in decoded.iter().enumerate() {
        parts
            .entry(model.partition(&operation.input))
            .or_default()
            .push(id);
    }

    let mut operations: Vec<Operation> = Vec::with_capacity(decoded.len());
    for (id, operation) in decoded.iter().enumerate() {
        let call = &history.events()[operation.call_position];
        let completion = match operation.return_position {
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
        operations.push(Operation {
            id,
            process: call.process,
            part: model.partition(&operation.input).map(str::to_owned),
            f: call.f.clone(),
            argument: call.value.clone(),
            completion,
            call_position: operation.call_position,
            return_position: operation.return_position,
            call_line: history.lines()[operation.call_position],
            return_line: operation
                .return_position
                .map(|position| history.lines()[position]),
        });
    }

    let mut verdict = Verdict::Linearizable;
    let mut unknown_reason = None;
    let mut part_reports = Vec::with_capacity(parts.len());
    for (key, ids) in &parts {
        let mut searched: Vec<SearchOperation<'_, M>> = ids
            .iter()
            .map(|id| &decoded[*id])
            .filter(|operation| !matches!(operation.outcome, Outcome::Fail))
            // An indeterminate read constrains nothing: whatever it returned is unknown and
            // it changed nothing, so it can always be left out.
            .filter(|operation| {
                !(matches!(operation.outcome, Outcome::Indeterminate)
                    && model.is_read_only(&operation.input))
            })
            .map(|operation| SearchOperation {
                id: operation.id,
                input: &operation.input,
                output: match &operation.outcome {
                    Outcome::Ok(output) => Some(output),
                    _ => None,
                },
                call_position: operation.call_position,
                return_position: match operation.outcome {
                    Outcome::Ok(_) => operation.return_position,
                    _ => None,
                },
            })
            .collect();
        // The search numbers determinate operations first; see `search`.
        searched.sort_by_key(|operation| operation.return_position.is_none());
        let outcome = search(model, &searched, &deadline, limits.memory_bytes_max);
        if let Some(reason) = &outcome.unknown_reason
            && unknown_reason.is_none()
        {
            unknown_reason = Some(reason.clone());
        }
        verdict = verdict.combine(outcome.verdict);
        part_reports.push(Part {
            key: key.map(str::to_owned),
            verdict: outcome.verdict,
            linearization: outcome.linearization,
            failure: outcome.failure,
            states_explored: outcome.states_explored,
        });
    }
    Ok(Report {
        verdict,
        operations,
        event_count: history.events().len(),
        parts: part_reports,
        unknown_reason,
    })
}

enum Outcome<O> {
    Ok(O),
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

/// Pairs each invocation with its process's next completion and decodes both through the
/// model, enforcing the format's strictness rules.
fn pair<M: Model>(model: &M, history: &History) -> Result<Vec<Decoded<M>>, HistoryError> {
    let mut decoded: Vec<Decoded<M>> = Vec::new();
    // Per process: the operation without any completion yet. An `info` completion removes
    // the entry, so the process may invoke again while that operation stays indeterminate.
    let mut outstanding: BTreeMap<u64, usize> = BTreeMap::new();
    for (position, event) in history.events().iter().enumerate() {
        if event.kind == EventKind::Invoke {
            if let Some(previous) = outstanding.get(&event.process) {
                let previous = &decoded[*previous];
                return Err(history.error_at(
                    position,
                    format!(
                        "process {} invokes {} while its {} from line {} has no completion \
                         (a process has at most one operation outstanding)",
                        event.process,
                        event.f,
                        history.events()[previous.call_position].f,
                        history.lines()[previous.call_position]
                    ),
                ));
            }
            let input = model
                .decode_input(&event.f, event.key.as_deref(), &event.value)
                .map_err(|message| history.error_at(position, message))?;
            outstanding.insert(event.process, decoded.len());
            decoded.push(Decoded {
                id: decoded.len(),
                input,
                // Until a completion says otherwise, an operation is indeterminate.
                outcome: Outcome::Indeterminate,
                call_position: position,
                return_position: None,
            });
            continue;
        }
        let Some(id) = outstanding.remove(&event.process) else {
            return Err(history.error_at(
                position,
                format!(
                    "{} completion of {} for process {}, which has no operation outstanding",
                    event.kind, event.f, event.process
                ),
            ));
        };
        let call = &history.events()[decoded[id].call_position];
        let call_line = history.lines()[decoded[id].call_position];
        if call.f != event.f {
            return Err(history.error_at(
                position,
                format!(
                    "completion has f {:?} but process {}'s invocation on line {call_line} has f {:?}",
                    event.f, event.process, call.f
                ),
            ));
        }
        if call.key != event.key {
            return Err(history.error_at(
                position,
                format!(
                    "completion has key {:?} but process {}'s invocation on line {call_line} has key {:?}",
                    event.key, event.process, call.key
                ),
            ));
        }
        let operation = &mut decoded[id];
        operation.return_position = Some(position);
        operation.outcome = match event.kind {
            EventKind::Ok => Outcome::Ok(
                model
                    .decode_output(&operation.input, &event.value)
                    .map_err(|message| history.error_at(position, message))?,
            ),
            EventKind::Fail => Outcome::Fail,
            EventKind::Info | EventKind::Invoke => Outcome::Indeterminate,
        };
    }
    for operation in &decoded {
        if let Some(return_position) = operation.return_position {
            assert!(operation.call_position < return_position);
        }
    }
    Ok(decoded)
}

/// An operation as the search sees it.
struct SearchOperation<'a, M: Model> {
    id: usize,
    input: &'a M::Input,
    /// `None` when the result is unknown.
    output: Option<&'a M::Output>,
    call_position: usize,
    /// `None` for an indeterminate operation: it returns after everything.
    return_position: Option<usize>,
}

struct SearchOutcome {
    verdict: Verdict,
    linearization: Vec<usize>,
    failure: Option<Failure>,
    states_explored: usize,
    unknown_reason: Option<String>,
}

/// How many search steps pass between looks at the clock; reading it every step would cost
/// more than the step.
const STEPS_PER_CLOCK_READ: u32 = 1 << 10;

/// The search over one part. `operations` lists the determinate ones first. Operation ids in
/// the outcome are the report's ids.
fn search<M: Model>(
    model: &M,
    operations: &[SearchOperation<'_, M>],
    deadline: &deadline::Deadline,
    memory_bytes_max: Option<usize>,
) -> SearchOutcome {
    let operation_count = operations.len();
    let determinate_count = operations
        .iter()
        .take_while(|operation| operation.return_position.is_some())
        .count();
    assert!(
        operations[determinate_count..]
            .iter()
            .all(|operation| operation.return_position.is_none()),
        "determinate operations come first"
    );
    let determinate_words = determinate_count.div_ceil(64).max(1);
    let indeterminate_words = (operation_count - determinate_count).div_ceil(64).max(1);

    // Entries 1..=2n: sorted call and return entries; 0 is the head sentinel and 2n + 1 the
    // tail sentinel. Each operation's call is entry `call_entry[op]`.
    let mut order: Vec<(usize, bool, usize)> = Vec::with_capacity(2 * operation_count);
    for (index, operation) in operations.iter().enumerate() {
        order.push((operation.call_position, true, index));
        order.push((
            operation.return_position.unwrap_or(usize::MAX),
            false,
            index,
        ));
    }
    // Positions are distinct events, except the shared "after everything" of indeterminate
    // returns, whose relative order does not matter; the index breaks that tie.
    order.sort_unstable();
    let entry_count = order.len();
    let tail = entry_count + 1;
    let mut entry_operation = vec![0usize; entry_count + 2];
    let mut entry_is_call = vec![false; entry_count + 2];
    let mut entry_is_final = vec![false; entry_count + 2];
    let mut call_entry = vec![0usize; operation_count];
    let mut return_entry = vec![0usize; operation_count];
    for (rank, (position, is_call, index)) in order.iter().enumerate() {
        let entry = rank + 1;
        entry_operation[entry] = *index;
        entry_is_call[entry] = *is_call;
        entry_is_final[entry] = !*is_call && *position == usize::MAX;
        if *is_call {
            call_entry[*index] = entry;
        } else {
            return_entry[*index] = entry;
        }
    }
    let mut next: Vec<usize> = (1..=entry_count + 2).collect();
    let mut previous: Vec<usize> = (0..entry_count + 2)
        .map(|entry| entry.wrapping_sub(1))
        .collect();
    next[tail] = tail;
    previous[0] = 0;

    // Zobrist hashing: the hash of the determinate set is the xor of a fixed key per member,
    // so adding or removing an operation updates it in one step instead of rehashing every
    // word. Indeterminate operations are not part of the memo's key (see `Memo`).
    let operation_keys: Vec<u64> = (0..operation_count as u64)
        .map(|index| {
            if (index as usize) < determinate_count {
                mix64(index.wrapping_add(0x9e37_79b9_7f4a_7c15))
            } else {
                0
            }
        })
        .collect();

    let mut memo: Memo<M::State> = Memo::new(determinate_words, indeterminate_words);
    let mut determinate_bits = vec![0u64; determinate_words];
    let mut indeterminate_bits = vec![0u64; indeterminate_words];
    let bit_of = |index: usize| -> (bool, usize, u64) {
        let determinate = index < determinate_count;
        let offset = if determinate {
            index
        } else {
            index - determinate_count
        };
        (determinate, offset / 64, 1u64 << (offset % 64))
    };
    let mut bits_hash = 0u64;
    let mut state = model.init();
    let mut stack: Vec<(usize, M::State)> = Vec::with_capacity(operation_count);
    let mut longest: Option<(Vec<usize>, Failure)> = None;
    // The first look comes at once: a history of many small parts may never reach a count
    // of steps within one part.
    let mut steps_until_clock = 1;

    let unknown = |memo: &Memo<M::State>, reason: String| SearchOutcome {
        verdict: Verdict::Unknown,
        linearization: Vec::new(),
        failure: None,
        states_explored: memo.len(),
        unknown_reason: Some(reason),
    };

    // The initial configuration counts as explored, so that an indeterminate operation
    // that changes nothing from it is pruned like any other dominated configuration.
    let initial_hash = mix64(bits_hash ^ fx_hash(&state).rotate_left(17));
    if memo
        .insert(initial_hash, &determinate_bits, &state, &indeterminate_bits)
        .is_err()
    {
        return unknown(&memo, "the memo table reached its entry limit".to_owned());
    }

    // The candidates of a configuration are the operations whose call entries come before
    // the first return entry. They are tried in two sweeps: determinate ones first, then
    // indeterminate ones. Placing an indeterminate operation only when nothing else fits
    // explores configurations with fewer of them first, and those dominate the rest (see
    // `Memo`); trying them in list order instead explores several times as many.
    let mut entry = next[0];
    let mut sweeping_indeterminate = false;
    loop {
        steps_until_clock -= 1;
        if steps_until_clock == 0 {
            steps_until_clock = STEPS_PER_CLOCK_READ;
            if deadline.passed() {
                return unknown(&memo, "the time limit ran out".to_owned());
            }
        }
        if entry == tail || entry_is_final[entry] {
            // Every determinate operation is placed (its return entry would come first
            // otherwise); indeterminate ones still in the list never took effect. The
            // indeterminate sweep stops at a determinate return, so it never gets here.
            assert!(!sweeping_indeterminate);
            let placed_determinate_count = stack
                .iter()
                .filter(|(index, _)| *index < determinate_count)
                .count();
            assert_eq!(
                placed_determinate_count, determinate_count,
                "a linearization must place every determinate operation"
            );
            return SearchOutcome {
                verdict: Verdict::Linearizable,
                linearization: stack
                    .iter()
                    .map(|(index, _)| operations[*index].id)
                    .collect(),
                failure: None,
                states_explored: memo.len(),
                unknown_reason: None,
            };
        }
        let index = entry_operation[entry];
        if entry_is_call[entry] {
            let operation = &operations[index];
            let (determinate, word, bit) = bit_of(index);
            if determinate == sweeping_indeterminate {
                entry = next[entry];
                continue;
            }
            if let Some(new_state) = model.step(&state, operation.input, operation.output) {
                let bits = if determinate {
                    &mut determinate_bits
                } else {
                    &mut indeterminate_bits
                };
                bits[word] |= bit;
                let new_bits_hash = bits_hash ^ operation_keys[index];
                let hash = mix64(new_bits_hash ^ fx_hash(&new_state).rotate_left(17));
                let inserted =
                    match memo.insert(hash, &determinate_bits, &new_state, &indeterminate_bits) {
                        Ok(inserted) => inserted,
                        Err(_) => {
                            return unknown(
                                &memo,
                                "the memo table reached its entry limit".to_owned(),
                            );
                        }
                    };
                if inserted {
                    if let Some(bytes_max) = memory_bytes_max
                        && memo.bytes() > bytes_max
                    {
                        return unknown(
                            &memo,
                            format!("the memory limit of {bytes_max} bytes ran out"),
                        );
                    }
                    bits_hash = new_bits_hash;
                    let old_state = std::mem::replace(&mut state, new_state);
                    stack.push((index, old_state));
                    // Lift the operation out of the list: its call and its return.
                    for lifted in [call_entry[index], return_entry[index]] {
                        next[previous[lifted]] = next[lifted];
                        previous[next[lifted]] = previous[lifted];
                    }
                    entry = next[0];
                    sweeping_indeterminate = false;
                    continue;
                }
                if determinate {
                    determinate_bits[word] &= !bit;
                } else {
                    indeterminate_bits[word] &= !bit;
                }
            }
            entry = next[entry];
            continue;
        }

        // A return entry: this operation had to be linearized before anything later.
        if !sweeping_indeterminate {
            sweeping_indeterminate = true;
            entry = next[0];
            continue;
        }
        if longest
            .as_ref()
            .is_none_or(|(prefix, _)| stack.len() > prefix.len())
        {
            let mut candidates = Vec::new();
            let mut scan = next[0];
            while scan != entry {
                if entry_is_call[scan] && entry_operation[scan] != index {
                    candidates.push(operations[entry_operation[scan]].id);
                }
                scan = next[scan];
            }
            longest = Some((
                stack
                    .iter()
                    .map(|(linearized, _)| operations[*linearized].id)
                    .collect(),
                Failure {
                    blocked: operations[index].id,
                    candidates,
                    state: format!("{state:?}"),
                },
            ));
        }
        let Some((undone, old_state)) = stack.pop() else {
            let (linearization, failure) = longest.expect("a return entry was just recorded");
            return SearchOutcome {
                verdict: Verdict::NotLinearizable,
                linearization,
                failure: Some(failure),
                states_explored: memo.len(),
                unknown_reason: None,
            };
        };
        state = old_state;
        let (determinate, word, bit) = bit_of(undone);
        if determinate {
            determinate_bits[word] &= !bit;
        } else {
            indeterminate_bits[word] &= !bit;
        }
        bits_hash ^= operation_keys[undone];
        // Put the operation back, in the reverse order of lifting (dancing links).
        for lifted in [return_entry[undone], call_entry[undone]] {
            next[previous[lifted]] = lifted;
            previous[next[lifted]] = lifted;
        }
        // Resume the sweep that placed it, after it.
        entry = next[call_entry[undone]];
        sweeping_indeterminate = !determinate;
    }
}

/// The wall-clock deadline of a check.
mod deadline {
    use std::time::Duration;

    /// When the caller's time limit runs out, if it gave one.
    // The checker reads recorded histories outside the simulator, so its wall clock cannot
    // make a simulated run depend on more than the seed; the limit exists so that a check
    // of an adversarial history ends with `unknown` instead of running for ever.
    #[allow(clippy::disallowed_types)]
    pub(super) struct Deadline(Option<std::time::Instant>);

    impl Deadline {
        // Outside the simulator, as above.
        #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
        pub(super) fn after(limit: Option<Duration>) -> Deadline {
            let start = std::time::Instant::now();
            Deadline(limit.and_then(|limit| start.checked_add(limit)))
        }

        // Outside the simulator, as above.
        #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
        pub(super) fn passed(&self) -> bool {
            self.0
                .is_some_and(|deadline| std::time::Instant::now() >= deadline)
        }
    }
}
