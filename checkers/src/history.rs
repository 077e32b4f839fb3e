//! Histories: the events clients saw, read from JSON Lines (`../shared/formats/history.md`)
//! or EDN ([`crate::jepsen`]), or built in memory by a scenario.
//!
//! This module only knows the shape of a line; pairing invocations with completions happens
//! in [`crate::ops`], and what `f` and `value` mean is each model's or check's business.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The one history type, shared with the protocol API: clients in a simulation record these
/// events, and files of any tool parse into them.
pub use faultline_api::history::{Event, EventKind};

/// A problem with a history, located by file (when it came from one) and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    /// The file the history was read from, if any.
    pub path: Option<PathBuf>,
    /// 1-based line number; for a history built in memory, the position of the event.
    /// Zero when the problem is not tied to a line (the file could not be read).
    pub line: usize,
    /// What was wrong, in a sentence a person can act on.
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.path {
            Some(path) => path.display().to_string(),
            None => "history".to_owned(),
        };
        if self.line == 0 {
            write!(formatter, "{place}: {}", self.message)
        } else {
            write!(formatter, "{place}:{}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for HistoryError {}

/// A sequence of events in real-time order, with where each came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    path: Option<PathBuf>,
    events: Vec<Event>,
    lines: Vec<usize>,
    null_reads_match_any: bool,
}

impl History {
    /// An empty history, to be filled with [`History::push`].
    pub fn new() -> History {
        History::default()
    }

    /// A history of `events` in this order; event `i` is reported as line `i + 1`.
    pub fn from_events(events: Vec<Event>) -> History {
        let lines = (1..=events.len()).collect();
        History {
            path: None,
            events,
            lines,
            null_reads_match_any: false,
        }
    }

    /// A history of `events` in this order, event `i` from line `lines[i]`.
    pub(crate) fn from_events_at(events: Vec<Event>, lines: Vec<usize>) -> History {
        assert_eq!(events.len(), lines.len());
        History {
            path: None,
            events,
            lines,
            null_reads_match_any: false,
        }
    }

    /// Appends an event that happened after every event already present.
    pub fn push(&mut self, event: Event) {
        let line = self.lines.last().copied().unwrap_or(0) + 1;
        self.events.push(event);
        self.lines.push(line);
    }

    /// The events in real-time order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events, given back (a simulation's run keeps its history after the checks).
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// The line of each event (parallel to [`History::events`]).
    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// True if an `ok` read-only operation whose value is null may have returned any value,
    /// as a `nil` read means in Knossos' EDN histories. False for JSON Lines, where null is
    /// a value like any other.
    pub fn null_reads_match_any(&self) -> bool {
        self.null_reads_match_any
    }

    /// Sets [`History::null_reads_match_any`].
    pub fn set_null_reads_match_any(&mut self, any: bool) {
        self.null_reads_match_any = any;
    }

    /// The file the history was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// An error about the event at `index`.
    pub(crate) fn error_at(&self, index: usize, message: String) -> HistoryError {
        HistoryError {
            path: self.path.clone(),
            line: self.lines.get(index).copied().unwrap_or(0),
            message,
        }
    }

    /// The history in the file format, one event per line.
    pub fn to_jsonl(&self) -> String {
        let mut text = String::new();
        for event in &self.events {
            text.push_str(&event.to_json_line());
            text.push('\n');
        }
        text
    }
}

/// Parses JSON Lines text. Blank lines are skipped; every other line must be one event.
pub fn parse_history(text: &str) -> Result<History, HistoryError> {
    let mut history = History::new();
    for (index, line_text) in text.lines().enumerate() {
        let line = index + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let event = parse_event(line_text).map_err(|message| HistoryError {
            path: None,
            line,
            message,
        })?;
        history.events.push(event);
        history.lines.push(line);
    }
    Ok(history)
}

/// The largest history file read: 128 MiB. A history of that size holds about a million
/// events and takes about a gigabyte to check; larger files are refused with an error that
/// names the limit, so a mistaken path cannot exhaust memory before the check starts.
pub const HISTORY_BYTES_MAX: u64 = 128 << 20;

/// How a history file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputFormat {
    /// Decided from the content (see [`InputFormat::detect`]).
    Auto,
    /// JSON Lines, `../shared/formats/history.md`.
    Jsonl,
    /// EDN, as Jepsen and Knossos write histories ([`crate::jepsen`]).
    Edn,
}

impl InputFormat {
    /// Every format, in the order the command line lists them.
    pub const ALL: [InputFormat; 3] = [InputFormat::Auto, InputFormat::Jsonl, InputFormat::Edn];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Jsonl => "jsonl",
            InputFormat::Edn => "edn",
        }
    }

    /// The format called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<InputFormat> {
        InputFormat::ALL
            .into_iter()
            .find(|format| format.name() == name)
    }

    /// The format of `text`: EDN if it starts (after blanks and `;` comments) with `[`,
    /// `(` or a map whose first key is a keyword (`{:`), JSON Lines otherwise.
    pub fn detect(text: &str) -> InputFormat {
        let mut rest = text.trim_start();
        while let Some(comment) = rest.strip_prefix(';') {
            rest = comment
                .split_once('\n')
                .map_or("", |(_, after)| after)
                .trim_start();
        }
        if rest.starts_with(['[', '(']) {
            return InputFormat::Edn;
        }
        match rest.strip_prefix('{') {
            Some(map) if map.trim_start().starts_with(':') => InputFormat::Edn,
            _ => InputFormat::Jsonl,
        }
    }
}

/// Reads and parses a history file (its format detected from the content); errors name the
/// file.
pub fn read_history(path: &Path) -> Result<History, HistoryError> {
    read_history_as(path, InputFormat::Auto)
}

/// Reads and parses a history file in `format`. A file larger than [`HISTORY_BYTES_MAX`]
/// or without a single operation is an error: a history that checks nothing must not pass.
pub fn read_history_as(path: &Path, format: InputFormat) -> Result<History, HistoryError> {
    let error = |line: usize, message: String| HistoryError {
        path: Some(path.to_owned()),
        line,
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|failure| error(0, format!("cannot read the file: {failure}")))?
        .len();
    if size > HISTORY_BYTES_MAX {
        return Err(error(
            0,
            format!(
                "the file has {size} bytes; histories are limited to {HISTORY_BYTES_MAX} bytes (128 MiB)"
            ),
        ));
    }
    // The read stops past the limit too: a device or a pipe has no size to check first.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(HISTORY_BYTES_MAX + 1).read_to_end(&mut bytes))
        .map_err(|failure| error(0, format!("cannot read the file: {failure}")))?;
    if bytes.len() as u64 > HISTORY_BYTES_MAX {
        return Err(error(
            0,
            format!("histories are limited to {HISTORY_BYTES_MAX} bytes (128 MiB)"),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|failure| error(0, format!("cannot read the file: {failure}")))?;
    let format = match format {
        InputFormat::Auto => InputFormat::detect(&text),
        explicit => explicit,
    };
    let mut history = match format {
        InputFormat::Edn => crate::jepsen::parse_edn_history(&text)
            .map_err(|(line, message)| error(line, message))?,
        InputFormat::Auto | InputFormat::Jsonl => {
            parse_history(&text).map_err(|failure| error(failure.line, failure.message))?
        }
    };
    if history.events.is_empty() {
        return Err(error(
            0,
            format!("no operations (read as {})", format.name()),
        ));
    }
    history.path = Some(path.to_owned());
    Ok(history)
}

fn parse_event(text: &str) -> Result<Event, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a JSON object, found {}",
            json_type_name(&value)
        ));
    };
    let process = match object.get("process") {
        Some(Value::Number(number)) => number
            .as_u64()
            .ok_or_else(|| format!("`process` must be an integer >= 0, found {number}"))?,
        Some(other) => {
            return Err(format!(
                "`process` must be an integer >= 0, found {}",
                json_type_name(other)
            ));
        }
        None => return Err("missing field `process`".to_owned()),
    };
    let kind_text = required_string(&object, "type")?;
    let kind = EventKind::parse(kind_text).ok_or_else(|| {
        format!("`type` must be one of invoke, ok, fail, info; found {kind_text:?}")
    })?;
    let f = required_string(&object, "f")?.to_owned();
    let key = match object.get("key") {
        None => None,
        Some(Value::String(key)) => Some(key.clone()),
        Some(other) => {
            return Err(format!(
                "`key` must be a string, found {}",
                json_type_name(other)
            ));
        }
    };
    let time =
        match object.get("time") {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => Some(number.as_i64().ok_or_else(|| {
                format!("`time` must be a signed 64-bit integer, found {number}")
            })?),
            Some(other) => {
                return Err(format!(
                    "`time` must be an integer, found {}",
                    json_type_name(other)
                ));
            }
        };
    // A missing `value` reads as null: tools differ on whether they write `"value": null`.
    let value = object.get("value").cloned().unwrap_or(Value::Null);
    Ok(Event {
        process,
        kind,
        f,
        key,
        value,
        time,
    })
}

fn required_string<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(format!(
            "`{field}` must be a string, found {}",
            json_type_name(other)
        )),
        None => Err(format!("missing field `{field}`")),
    }
}

/// The JSON type of `value`, for error messages.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "an integer",
        Value::Number(_) => "a non-integer number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
