//! Client histories in the shared format (`../shared/formats/history.md`): what clients
//! invoked and how each operation completed. This is the one history type of the project: the
//! records clients leave through `Context::invoke`/`complete` (a host stamps each with the
//! global time it happened), and what the `checkers` crate reads from files of any tool.

use crate::time::Instant;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::io::{self, Write};

/// How a line relates to its process's outstanding operation (the format's `type` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The process issued an operation.
    Invoke,
    /// The operation took effect exactly once and returned `value`.
    Ok,
    /// The operation definitely did not take effect.
    Fail,
    /// The operation may or may not have taken effect; its result is unknown.
    Info,
}

impl EventKind {
    /// The spelling used in the `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }

    /// The kind a `type` field spells, if it spells one.
    pub fn parse(text: &str) -> Option<EventKind> {
        match text {
            "invoke" => Some(EventKind::Invoke),
            "ok" => Some(EventKind::Ok),
            "fail" => Some(EventKind::Fail),
            "info" => Some(EventKind::Info),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The client that issued the operation.
    pub process: u64,
    /// Invocation or one of the three completions.
    pub kind: EventKind,
    /// The operation's name, such as `read` or `append`.
    pub f: String,
    /// Operations on different keys are independent; `None` means the one register.
    pub key: Option<String>,
    /// The argument on an invocation, the result on an `ok` completion.
    pub value: Value,
    /// Virtual or real nanoseconds; informative only, the order of events is what counts.
    pub time: Option<i64>,
}

impl Event {
    /// An event without key or time.
    pub fn new(kind: EventKind, process: u64, f: &str, value: Value) -> Event {
        Event {
            process,
            kind,
            f: f.to_owned(),
            key: None,
            value,
            time: None,
        }
    }

    /// An invocation of `f` with argument `value`.
    pub fn invoke(process: u64, f: &str, value: Value) -> Event {
        Event::new(EventKind::Invoke, process, f, value)
    }

    /// A completion that returned `value`.
    pub fn ok(process: u64, f: &str, value: Value) -> Event {
        Event::new(EventKind::Ok, process, f, value)
    }

    /// A completion that definitely did not take effect.
    pub fn fail(process: u64, f: &str) -> Event {
        Event::new(EventKind::Fail, process, f, Value::Null)
    }

    /// An indeterminate completion.
    pub fn info(process: u64, f: &str) -> Event {
        Event::new(EventKind::Info, process, f, Value::Null)
    }

    /// The same event on `key`.
    pub fn with_key(mut self, key: &str) -> Event {
        self.key = Some(key.to_owned());
        self
    }

    /// The same event stamped with `time` (global virtual nanoseconds in the simulator).
    pub fn with_time(mut self, time: i64) -> Event {
        self.time = Some(time);
        self
    }

    /// The event's time as a virtual instant (a host stamps every event it records; an event
    /// without a time, or before zero, reads as time zero).
    pub fn time(&self) -> Instant {
        Instant::from_nanos(self.time.map_or(0, |t| u64::try_from(t).unwrap_or(0)))
    }

    /// The event as one line of the file format, without the newline.
    pub fn to_json_line(&self) -> String {
        // serde_json's Map keeps keys sorted, which would put `type` after `process` only by
        // luck; writing the fields by hand keeps the order the format's examples use.
        let mut line = format!(
            "{{\"process\": {}, \"type\": \"{}\", \"f\": {}",
            self.process,
            self.kind,
            Value::String(self.f.clone())
        );
        if let Some(key) = &self.key {
            line.push_str(&format!(", \"key\": {}", Value::String(key.clone())));
        }
        line.push_str(&format!(", \"value\": {}", self.value));
        if let Some(time) = self.time {
            line.push_str(&format!(", \"time\": {time}"));
        }
        line.push('}');
        line
    }
}

/// Writes a history as JSON Lines, one event per line.
pub fn write_jsonl(events: &[Event], out: &mut dyn Write) -> io::Result<()> {
    for event in events {
        out.write_all(event.to_json_line().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
