//! Operations: each invocation paired with its process's next completion, under the format's
//! strictness rules. Every checker of the crate pairs here: [`crate::linearizability`] event
//! by event through the same rules, the checks of [`crate::checks`] through [`pair`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::history::{Event, EventKind, History, HistoryError};

/// One operation: an invocation and, if the history holds one, its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op<'h> {
    /// The process that invoked it.
    pub process: u64,
    /// The operation's name (its invocation's and completion's `f`).
    pub f: &'h str,
    /// Its key, if any (the completion repeats it).
    pub key: Option<&'h str>,
    /// Index of the invocation in [`History::events`].
    pub invoke: usize,
    /// Index of the completion, if any.
    pub completion: Option<usize>,
    /// The completion's kind: `Ok`, `Fail` or `Info`; `Info` when it never completed.
    pub status: EventKind,
}

impl<'h> Op<'h> {
    /// The invocation event.
    pub fn invoke_event(&self, history: &'h History) -> &'h Event {
        &history.events()[self.invoke]
    }

    /// The completion event, if any.
    pub fn completion_event(&self, history: &'h History) -> Option<&'h Event> {
        self.completion.map(|index| &history.events()[index])
    }

    /// The invocation's argument.
    pub fn argument(&self, history: &'h History) -> &'h Value {
        &self.invoke_event(history).value
    }

    /// The result, when the operation completed `ok`.
    pub fn result(&self, history: &'h History) -> Option<&'h Value> {
        match self.status {
            EventKind::Ok => self.completion_event(history).map(|event| &event.value),
            _ => None,
        }
    }

    /// The invocation's time, if the history records one.
    pub fn invoked_at(&self, history: &History) -> Option<i64> {
        history.events()[self.invoke].time
    }

    /// The completion's time, if it completed and the history records one.
    pub fn completed_at(&self, history: &History) -> Option<i64> {
        self.completion
            .and_then(|index| history.events()[index].time)
    }

    /// True if it completed `ok`.
    pub fn is_ok(&self) -> bool {
        self.status == EventKind::Ok
    }

    /// True if it may or may not have taken effect: completed `info`, or never completed.
    pub fn is_indefinite(&self) -> bool {
        self.status == EventKind::Info
    }
}

/// Pairs every invocation with its process's next completion, in the order of the
/// invocations. A process has at most one operation outstanding; an `info` completion ends
/// it (the operation stays indefinite), so the process may invoke again. A completion
/// without an outstanding operation, a second invocation while one has no completion, or a
/// completion whose `f` or key differs from its invocation's is an error at that line.
pub fn pair(history: &History) -> Result<Vec<Op<'_>>, HistoryError> {
    let mut pairer = Pairer::new(history);
    for position in 0..history.events().len() {
        pairer.step(position)?;
    }
    Ok(pairer.finish())
}

/// What one event did to the pairing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// It invoked operation number `.0` (the operation's index in the pairing's order).
    Invoked(usize),
    /// It completed operation number `.0`.
    Completed(usize),
}

/// The pairing, one event at a time, for callers that decode each event as it is paired
/// (so that errors come in line order whatever their cause).
pub(crate) struct Pairer<'h> {
    history: &'h History,
    ops: Vec<Op<'h>>,
    /// Per process: the operation without any completion yet.
    outstanding: BTreeMap<u64, usize>,
}

impl<'h> Pairer<'h> {
    pub(crate) fn new(history: &'h History) -> Pairer<'h> {
        Pairer {
            history,
            ops: Vec::new(),
            outstanding: BTreeMap::new(),
        }
    }

    /// Pairs the event at `position`; events must be stepped in order.
    pub(crate) fn step(&mut self, position: usize) -> Result<Step, HistoryError> {
        let history = self.history;
        let event = &history.events()[position];
        if event.kind == EventKind::Invoke {
            if let Some(previous) = self.outstanding.get(&event.process) {
                let previous = &self.ops[*previous];
                return Err(history.error_at(
                    position,
                    format!(
                        "process {} invokes {} while its {} from line {} has no completion \
                         (a process has at most one operation outstanding)",
                        event.process,
                        event.f,
                        previous.f,
                        history.lines()[previous.invoke]
                    ),
                ));
            }
            let id = self.ops.len();
            self.outstanding.insert(event.process, id);
            self.ops.push(Op {
                process: event.process,
                f: &event.f,
                key: event.key.as_deref(),
                invoke: position,
                completion: None,
                // Until a completion says otherwise, an operation is indefinite.
                status: EventKind::Info,
            });
            return Ok(Step::Invoked(id));
        }
        let Some(id) = self.outstanding.remove(&event.process) else {
            return Err(history.error_at(
                position,
                format!(
                    "{} completion of {} for process {}, which has no operation outstanding",
                    event.kind, event.f, event.process
                ),
            ));
        };
        let op = &mut self.ops[id];
        let call_line = history.lines()[op.invoke];
        if op.f != event.f {
            return Err(history.error_at(
                position,
                format!(
                    "completion has f {:?} but process {}'s invocation on line {call_line} has f {:?}",
                    event.f, event.process, op.f
                ),
            ));
        }
        if op.key != event.key.as_deref() {
            return Err(history.error_at(
                position,
                format!(
                    "completion has key {:?} but process {}'s invocation on line {call_line} has key {:?}",
                    event.key, event.process, op.key
                ),
            ));
        }
        op.completion = Some(position);
        op.status = event.kind;
        Ok(Step::Completed(id))
    }

    /// The operations, in the order of their invocations.
    pub(crate) fn finish(self) -> Vec<Op<'h>> {
        self.ops
    }
}
