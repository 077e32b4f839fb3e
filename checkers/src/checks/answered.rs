//! `answered-after-heal`: liveness of a request/response workload. Every operation invoked
//! after every fault healed, early enough to have been answered within the timeout before
//! the run ended, completed with an accepted status (`ok`, or also `fail` where a workload
//! lets the system refuse).

use super::{Property, Violation, seconds, time_of, when};
use crate::history::{EventKind, History, HistoryError};
use crate::ops::pair;

/// The checker's name.
pub const NAME: &str = "answered-after-heal";

/// What [`check_answered`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answered {
    /// Operations invoked in the window that completed (with any status).
    pub checked: u64,
    /// The first operation not answered, or that none was invoked and answered in the window.
    pub violation: Option<Violation>,
}

/// [`check_answered_with`] accepting only `ok` as an answer.
pub fn check_answered(
    history: &History,
    healed_at: i64,
    end: i64,
    timeout: i64,
) -> Result<Answered, HistoryError> {
    check_answered_with(history, healed_at, end, timeout, &[EventKind::Ok])
}

/// The check on `history`, all times in virtual nanoseconds: every operation invoked at or
/// after `healed_at` and at or before `end - timeout` (no earlier than zero, where virtual
/// time starts, when `end` is not negative) completed with one of `answers`. Completions
/// are examined in the order they happened, then the operations that never completed, by
/// process.
///
/// Errors: a history that breaks the format's pairing rules, an invocation without a time,
/// or a negative `timeout`.
pub fn check_answered_with(
    history: &History,
    healed_at: i64,
    end: i64,
    timeout: i64,
    answers: &[EventKind],
) -> Result<Answered, HistoryError> {
    if timeout < 0 {
        return Err(super::input_error(
            history,
            format!("the answered-after-heal timeout must not be negative, found {timeout}ns"),
        ));
    }
    let mut last_invoke = end.saturating_sub(timeout);
    if end >= 0 {
        last_invoke = last_invoke.max(0);
    }
    // Each operation with its invocation's time.
    let mut ops = pair(history)?
        .into_iter()
        .map(|op| Ok((op, time_of(history, op.invoke, NAME)?)))
        .collect::<Result<Vec<_>, HistoryError>>()?;
    let in_window = |at: i64| at >= healed_at && at <= last_invoke;
    let mut result = Answered::default();
    // In the order they completed; those that never did, last.
    ops.sort_by_key(|(op, _)| op.completion.unwrap_or(usize::MAX));
    for &(op, at) in &ops {
        let Some(completion) = op.completion else {
            continue;
        };
        if !in_window(at) {
            continue;
        }
        result.checked += 1;
        if !answers.contains(&op.status) {
            result.violation = Some(
                Violation::new(
                    NAME,
                    Property::Liveness,
                    format!(
                        "process {} invoked {} at {} after every fault had healed, and it completed {} at {}",
                        op.process,
                        op.f,
                        seconds(at),
                        op.status,
                        when(history, completion)
                    ),
                )
                .at_event(history, completion),
            );
            return Ok(result);
        }
    }
    let never = ops
        .iter()
        .filter(|(op, at)| op.completion.is_none() && in_window(*at))
        .min_by_key(|(op, _)| op.process);
    if let Some(&(op, at)) = never {
        result.violation = Some(
            Violation::new(
                NAME,
                Property::Liveness,
                format!(
                    "process {} invoked {} at {} after every fault had healed, and it never completed",
                    op.process,
                    op.f,
                    seconds(at)
                ),
            )
            .at_event(history, op.invoke),
        );
        return Ok(result);
    }
    if result.checked == 0 {
        result.violation = Some(Violation::new(
            NAME,
            Property::Liveness,
            "no operation was invoked and answered in the liveness phase".to_owned(),
        ));
    }
    Ok(result)
}
