//! Checks of workloads other than linearizability, over a [`History`] paired by
//! [`crate::ops::pair`]: [`set_full`] (a grow-only set broadcast to every node), [`counter`]
//! (a counter of adds and reads), [`unique`] (an id generator) and [`answered`] (every
//! operation invoked after the faults healed was answered).
//!
//! Each returns a struct with its statistics and an optional [`Violation`]; a history that
//! breaks the format's rules, or a value of the wrong shape, is a [`HistoryError`] instead.
//! Times in messages are rendered as the simulator renders its instants ([`seconds`]) and
//! durations ([`duration`]); an event without a time is named by its line.

pub mod answered;
pub mod counter;
pub mod set_full;
pub mod unique;

use faultline_api::time::{Duration, Instant};
use std::fmt;

use crate::history::{History, HistoryError};

/// What kind of property a [`Violation`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// Something bad happened.
    Safety,
    /// Something good did not happen by the end.
    Liveness,
    /// A limit of the check ran out before it could decide.
    Unknown,
}

impl Property {
    /// The property's name: `safety`, `liveness` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Property::Safety => "safety",
            Property::Liveness => "liveness",
            Property::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A check's finding that the history breaks its property (or that it could not decide).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The checker's name in [`crate::registry::CHECKERS`].
    pub checker: &'static str,
    /// Which kind of property.
    pub property: Property,
    /// What went wrong, in a sentence.
    pub message: String,
    /// Virtual nanoseconds of the violating event, when one is at fault and has a time.
    pub time: Option<i64>,
    /// Index in [`History::events`] of the violating event, when one is at fault.
    pub event: Option<usize>,
}

impl Violation {
    /// A violation not tied to an event.
    pub(crate) fn new(checker: &'static str, property: Property, message: String) -> Violation {
        Violation {
            checker,
            property,
            message,
            time: None,
            event: None,
        }
    }

    /// The same violation, at event `index` of `history` (and at its time, if it has one).
    pub(crate) fn at_event(mut self, history: &History, index: usize) -> Violation {
        self.event = Some(index);
        self.time = history.events()[index].time;
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} ({}): {}",
            self.checker, self.property, self.message
        )
    }
}

impl std::error::Error for Violation {}

/// `nanos` as seconds with microsecond precision, as the simulator shows an instant
/// (`faultline_api::time::Instant`'s one syntax): `1.250000s`, `0.000001s`; a negative time
/// gets a minus sign (`-0.500000s`).
pub fn seconds(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    format!("{sign}{}", Instant::from_nanos(nanos.unsigned_abs()))
}

/// `nanos` as the simulator shows a duration (`faultline_api::time::Duration`'s one syntax):
/// `250ms`, `1.5s`, `17.492364ms`, `37us`, `12ns`, `0s`; a negative one gets a minus sign.
pub fn duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    format!("{sign}{}", Duration::from_nanos(nanos.unsigned_abs()))
}

/// When event `index` happened, for a message: its time as [`seconds`], or `line N` when the
/// history records no time for it.
pub(crate) fn when(history: &History, index: usize) -> String {
    match history.events()[index].time {
        Some(time) => seconds(time),
        None => format!("line {}", history.lines()[index]),
    }
}

/// The time of event `index`, which `checker` compares with others: an error if the history
/// records none.
pub(crate) fn time_of(history: &History, index: usize, checker: &str) -> Result<i64, HistoryError> {
    let event = &history.events()[index];
    event.time.ok_or_else(|| {
        history.error_at(
            index,
            format!(
                "{} of {} by process {} has no time; the {checker} check compares times",
                event.kind, event.f, event.process
            ),
        )
    })
}

/// An error about `history` as a whole (not one line).
pub(crate) fn input_error(history: &History, message: String) -> HistoryError {
    HistoryError {
        path: history.path().map(std::path::Path::to_owned),
        line: 0,
        message,
    }
}
