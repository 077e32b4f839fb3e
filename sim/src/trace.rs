//! What happened in a run. Every event feeds a rolling 64-bit hash (message contents
//! included), so two runs can be compared cheaply; at `TraceLevel::Record` the events are also
//! kept as [`TraceRecord`]s for rendering (the `traces` crate) and for saving.
//!
//! The hash is computed from the same fields at every level, so a run recorded in full has the
//! same hash as the same run in a fuzz campaign that paid for the hash only.

use crate::api::Wire;
use crate::hash::StableHasher;
use crate::history::EventKind;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// How much of a run to keep.
#[derive(Clone, Debug)]
pub enum TraceLevel {
    /// The hash and the event count only: what fuzz campaigns pay for.
    Hash,
    /// Every event, with messages rendered by `Debug`, kept in memory (`Trace::records`).
    Record,
    /// Every event, as for `Record`, handed to the sink as it happens and not kept: a long
    /// run's trace goes to its destination (a terminal, a file) in constant memory.
    Stream(TraceSink),
}

/// Where a streamed trace goes: called once per event, in order.
#[derive(Clone)]
pub struct TraceSink(Rc<RefCell<dyn FnMut(TraceRecord)>>);

impl TraceSink {
    pub fn new(sink: impl FnMut(TraceRecord) + 'static) -> TraceSink {
        TraceSink(Rc::new(RefCell::new(sink)))
    }
}

impl fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TraceSink")
    }
}

/// The most log lines a recorded trace keeps; past it, one line says so.
pub const LOG_LINES_MAX: usize = 1 << 20;

/// The longest log line a trace keeps, in bytes; a longer one is cut (`capture_log_line`).
pub const LOG_LINE_BYTES_MAX: usize = 64 << 10;

/// The node column of engine events (faults, phases) that belong to no node.
pub const NO_NODE: u32 = u32::MAX;

/// One event, at a global virtual time, on a node (or [`NO_NODE`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TraceRecord {
    pub time_nanos: u64,
    pub node: u32,
    pub event: TraceEvent,
}

/// Why the network did not deliver a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize)]
pub enum DropReason {
    Partition,
    Loss,
    QueueFull,
    NodeDown,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Partition => "partition",
            DropReason::Loss => "loss",
            DropReason::QueueFull => "queue-full",
            DropReason::NodeDown => "node-down",
        }
    }
}

/// The events of a trace. Node ids are plain numbers here; message, timer and value texts are
/// their `Debug` renderings, so a stored trace needs no protocol types to be read.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum TraceEvent {
    /// The node started; incarnation 0 is the first start, later ones are restarts.
    Start {
        incarnation: u32,
    },
    Crash,
    Pause,
    Resume,
    Send {
        to: u32,
        id: u64,
        message: String,
    },
    Deliver {
        from: u32,
        id: u64,
        message: String,
    },
    /// Recorded on the receiving node.
    Drop {
        from: u32,
        id: u64,
        reason: DropReason,
    },
    /// The network will deliver message `id` (sent by this node) a second time.
    Duplicate {
        to: u32,
        id: u64,
    },
    /// Message `id` reached a held link and waits for its release (recorded on the receiver).
    Hold {
        from: u32,
        id: u64,
    },
    TimerSet {
        id: u64,
        after_nanos: u64,
        timer: String,
    },
    TimerFire {
        id: u64,
        timer: String,
    },
    TimerCancel {
        id: u64,
    },
    /// A fault or repair the engine carried out (partition, heal, clock, link, hold, release).
    Fault {
        kind: String,
        detail: String,
    },
    /// A protocol's note for people ("became leader, term 3").
    Note {
        text: String,
    },
    /// A client's invocation or completion, as in the history.
    Client {
        process: u64,
        status: EventKind,
        f: String,
        key: Option<String>,
        value: String,
    },
    /// The run moved into a phase ("liveness").
    Phase {
        name: String,
    },
    /// A disk operation was submitted.
    DiskSubmit {
        id: u64,
        op: String,
    },
    /// A disk operation completed.
    DiskComplete {
        id: u64,
        result: String,
    },
    /// A protocol's observation for checkers (`Context::observe`), as its `Debug` text.
    Observe {
        observation: String,
    },
    /// A log line written inside a handler (through `tracing`, `log`, or `slog`'s bridge to
    /// `log`), at its level (`INFO`): kept for people reading the trace, never hashed nor
    /// counted as an event, so that log lines that differ between builds (debug lines, say)
    /// cannot change a run. Only a recording trace keeps them (`capture_log_line`), beside its
    /// events (`Trace::logs`), so that an event's number is its index in `Trace::records`.
    Log {
        level: String,
        text: String,
    },
}

/// The trace of one run.
pub struct Trace {
    /// Whether events are rendered into records (`Record` and `Stream`).
    records_on: bool,
    sink: Option<TraceSink>,
    hasher: StableHasher,
    event_count: u64,
    records: Vec<TraceRecord>,
    /// The log lines of a recorded trace, each with the number of events recorded before it.
    logs: Vec<(usize, TraceRecord)>,
    /// Reused for annotations, so that hashing one allocates nothing in steady state.
    scratch: String,
}

// Event tags in the hash; frozen, since they are part of every stored hash.
mod tag {
    pub const START: u8 = 1;
    pub const CRASH: u8 = 2;
    pub const PAUSE: u8 = 3;
    pub const RESUME: u8 = 4;
    pub const SEND: u8 = 5;
    pub const DELIVER: u8 = 6;
    pub const DROP: u8 = 7;
    pub const DUPLICATE: u8 = 8;
    pub const HOLD: u8 = 9;
    pub const TIMER_SET: u8 = 10;
    pub const TIMER_FIRE: u8 = 11;
    pub const TIMER_CANCEL: u8 = 12;
    pub const FAULT: u8 = 13;
    pub const NOTE: u8 = 14;
    pub const CLIENT: u8 = 15;
    pub const PHASE: u8 = 16;
    pub const DISK_SUBMIT: u8 = 17;
    pub const DISK_COMPLETE: u8 = 18;
    pub const OBSERVE: u8 = 19;
}

/// Where two runs' recorded traces part, for a determinism failure: `first difference at
/// event N: first run R1, second run R2`; `None` if they agree.
pub fn describe_first_difference(a: &[TraceRecord], b: &[TraceRecord]) -> Option<String> {
    let index = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))?;
    let show = |r: Option<&TraceRecord>| r.map_or("(no event)".to_string(), |r| format!("{r:?}"));
    Some(format!(
        "first difference at event {index}: first run {}, second run {}",
        show(a.get(index)),
        show(b.get(index))
    ))
}

impl Trace {
    pub fn new(level: TraceLevel) -> Trace {
        let (records_on, sink) = match level {
            TraceLevel::Hash => (false, None),
            TraceLevel::Record => (true, None),
            TraceLevel::Stream(sink) => (true, Some(sink)),
        };
        Trace {
            records_on,
            sink,
            hasher: StableHasher::new(),
            event_count: 0,
            records: Vec::new(),
            logs: Vec::new(),
            scratch: String::new(),
        }
    }

    /// The rolling hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// The recorded events: every event at `TraceLevel::Record`, none at the other levels. An
    /// event's number (`Verdict::event`, `Observed::event`) is its index here.
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }

    pub fn into_records(self) -> Vec<TraceRecord> {
        self.records
    }

    /// The log lines of a recorded trace (`TraceEvent::Log`), each with the number of events
    /// recorded before it; a streamed trace hands them to its sink among the events.
    pub fn logs(&self) -> &[(usize, TraceRecord)] {
        &self.logs
    }

    /// The recorded events with the log lines among them, in the order they happened: the
    /// trace as people read it (`replay`, `replay --save`).
    pub fn records_with_logs(&self) -> impl Iterator<Item = &TraceRecord> {
        let mut logs = self.logs.iter().peekable();
        let mut events = self.records.iter().enumerate();
        std::iter::from_fn(move || {
            if let Some((_, log)) = logs.next_if(|(before, _)| {
                // A log line goes before the first event recorded after it.
                events
                    .clone()
                    .next()
                    .is_none_or(|(index, _)| *before <= index)
            }) {
                return Some(log);
            }
            events.next().map(|(_, record)| record)
        })
    }

    #[inline]
    fn head(&mut self, tag: u8, time_nanos: u64, node: u32) -> bool {
        self.event_count += 1;
        self.hasher.write_u8(tag);
        self.hasher.write_u64(time_nanos);
        self.hasher.write_u32(node);
        self.records_on
    }

    #[inline]
    fn push(&mut self, time_nanos: u64, node: u32, event: TraceEvent) {
        let record = TraceRecord {
            time_nanos,
            node,
            event,
        };
        match &self.sink {
            Some(sink) => (sink.0.borrow_mut())(record),
            None => self.records.push(record),
        }
    }

    pub(crate) fn start(&mut self, time: u64, node: u32, incarnation: u32) {
        if self.head(tag::START, time, node) {
            self.push(time, node, TraceEvent::Start { incarnation });
        }
        self.hasher.write_u32(incarnation);
    }

    pub(crate) fn crash(&mut self, time: u64, node: u32) {
        if self.head(tag::CRASH, time, node) {
            self.push(time, node, TraceEvent::Crash);
        }
    }

    pub(crate) fn pause(&mut self, time: u64, node: u32) {
        if self.head(tag::PAUSE, time, node) {
            self.push(time, node, TraceEvent::Pause);
        }
    }

    pub(crate) fn resume(&mut self, time: u64, node: u32) {
        if self.head(tag::RESUME, time, node) {
            self.push(time, node, TraceEvent::Resume);
        }
    }

    #[inline]
    pub(crate) fn send<M: Wire + fmt::Debug>(
        &mut self,
        time: u64,
        from: u32,
        to: u32,
        id: u64,
        message: &M,
    ) {
        let record = self.head(tag::SEND, time, from);
        self.hasher.write_u32(to);
        self.hasher.write_u64(id);
        self.hash_wire(message);
        if record {
            let message = format!("{message:?}");
            self.push(time, from, TraceEvent::Send { to, id, message });
        }
    }

    #[inline]
    pub(crate) fn deliver<M: fmt::Debug>(
        &mut self,
        time: u64,
        from: u32,
        to: u32,
        id: u64,
        message: &M,
    ) {
        let record = self.head(tag::DELIVER, time, to);
        self.hasher.write_u32(from);
        self.hasher.write_u64(id);
        if record {
            let message = format!("{message:?}");
            self.push(time, to, TraceEvent::Deliver { from, id, message });
        }
    }

    pub(crate) fn drop_message(
        &mut self,
        time: u64,
        from: u32,
        to: u32,
        id: u64,
        reason: DropReason,
    ) {
        let record = self.head(tag::DROP, time, to);
        self.hasher.write_u32(from);
        self.hasher.write_u64(id);
        self.hasher.write_u8(reason as u8);
        if record {
            self.push(time, to, TraceEvent::Drop { from, id, reason });
        }
    }

    pub(crate) fn duplicate(&mut self, time: u64, from: u32, to: u32, id: u64) {
        let record = self.head(tag::DUPLICATE, time, from);
        self.hasher.write_u32(to);
        self.hasher.write_u64(id);
        if record {
            self.push(time, from, TraceEvent::Duplicate { to, id });
        }
    }

    pub(crate) fn hold(&mut self, time: u64, from: u32, to: u32, id: u64) {
        let record = self.head(tag::HOLD, time, to);
        self.hasher.write_u32(from);
        self.hasher.write_u64(id);
        if record {
            self.push(time, to, TraceEvent::Hold { from, id });
        }
    }

    #[inline]
    pub(crate) fn timer_set<T: Hash + fmt::Debug>(
        &mut self,
        time: u64,
        node: u32,
        id: u64,
        after_nanos: u64,
        timer: &T,
    ) {
        let record = self.head(tag::TIMER_SET, time, node);
        self.hasher.write_u64(id);
        self.hasher.write_u64(after_nanos);
        timer.hash(&mut self.hasher);
        if record {
            let timer = format!("{timer:?}");
            self.push(
                time,
                node,
                TraceEvent::TimerSet {
                    id,
                    after_nanos,
                    timer,
                },
            );
        }
    }

    #[inline]
    pub(crate) fn timer_fire<T: fmt::Debug>(&mut self, time: u64, node: u32, id: u64, timer: &T) {
        let record = self.head(tag::TIMER_FIRE, time, node);
        self.hasher.write_u64(id);
        if record {
            let timer = format!("{timer:?}");
            self.push(time, node, TraceEvent::TimerFire { id, timer });
        }
    }

    pub(crate) fn timer_cancel(&mut self, time: u64, node: u32, id: u64) {
        let record = self.head(tag::TIMER_CANCEL, time, node);
        self.hasher.write_u64(id);
        if record {
            self.push(time, node, TraceEvent::TimerCancel { id });
        }
    }

    pub(crate) fn fault(&mut self, time: u64, node: u32, kind: &str, detail: fmt::Arguments<'_>) {
        let record = self.head(tag::FAULT, time, node);
        kind.hash(&mut self.hasher);
        self.scratch.clear();
        self.scratch.write_fmt(detail).expect("writing to a String");
        self.scratch.hash(&mut self.hasher);
        if record {
            let event = TraceEvent::Fault {
                kind: kind.to_string(),
                detail: self.scratch.clone(),
            };
            self.push(time, node, event);
        }
    }

    pub(crate) fn note(&mut self, time: u64, node: u32, text: fmt::Arguments<'_>) {
        let record = self.head(tag::NOTE, time, node);
        self.scratch.clear();
        self.scratch.write_fmt(text).expect("writing to a String");
        self.scratch.hash(&mut self.hasher);
        if record {
            let text = self.scratch.clone();
            self.push(time, node, TraceEvent::Note { text });
        }
    }

    /// Hashes `value`'s wire encoding, streamed piece by piece into the hasher: nothing is
    /// allocated.
    #[inline]
    fn hash_wire(&mut self, value: &impl Wire) {
        value
            .encode(&mut HashWriter(&mut self.hasher))
            .expect("hashing does not fail");
    }

    /// Whether events are rendered into records (`Record` and `Stream`), and so log lines kept.
    pub(crate) fn records_on(&self) -> bool {
        self.records_on
    }

    /// A log line of a handler: kept when the trace records, and neither hashed nor counted,
    /// so that the event numbers and the hash are those of a run without it.
    /// A recorded trace keeps at most [`LOG_LINES_MAX`] of them (a streamed one keeps none),
    /// so that a chatty protocol's memory stays bounded.
    pub(crate) fn log(&mut self, time: u64, node: u32, level: String, mut text: String) {
        if !self.records_on || (self.sink.is_none() && self.logs.len() > LOG_LINES_MAX) {
            return;
        }
        if self.sink.is_none() && self.logs.len() == LOG_LINES_MAX {
            text = format!("the trace keeps {LOG_LINES_MAX} log lines; later ones are not kept");
        }
        let record = TraceRecord {
            time_nanos: time,
            node,
            event: TraceEvent::Log { level, text },
        };
        match &self.sink {
            Some(sink) => (sink.0.borrow_mut())(record),
            None => self.logs.push((self.records.len(), record)),
        }
    }

    /// An observation: its wire encoding is hashed, like a message's.
    pub(crate) fn observe<O: Wire + fmt::Debug>(&mut self, time: u64, node: u32, observation: &O) {
        let record = self.head(tag::OBSERVE, time, node);
        self.hash_wire(observation);
        if record {
            let observation = format!("{observation:?}");
            self.push(time, node, TraceEvent::Observe { observation });
        }
    }

    pub(crate) fn client(&mut self, time: u64, node: u32, op: &crate::HistoryEvent) {
        let record = self.head(tag::CLIENT, time, node);
        self.hasher.write_u64(op.process);
        op.kind.hash(&mut self.hasher);
        op.f.hash(&mut self.hasher);
        op.key.hash(&mut self.hasher);
        let value = op.value.to_string();
        value.hash(&mut self.hasher);
        if record {
            let event = TraceEvent::Client {
                process: op.process,
                status: op.kind,
                f: op.f.clone(),
                key: op.key.clone(),
                value,
            };
            self.push(time, node, event);
        }
    }

    pub(crate) fn disk_submit(&mut self, time: u64, node: u32, id: u64, op: &crate::disk::DiskOp) {
        let record = self.head(tag::DISK_SUBMIT, time, node);
        self.hasher.write_u64(id);
        op.hash(&mut self.hasher);
        if record {
            self.push(
                time,
                node,
                TraceEvent::DiskSubmit {
                    id,
                    op: op.describe(),
                },
            );
        }
    }

    pub(crate) fn disk_complete(
        &mut self,
        time: u64,
        node: u32,
        id: u64,
        result: &crate::disk::IoResult,
    ) {
        let record = self.head(tag::DISK_COMPLETE, time, node);
        self.hasher.write_u64(id);
        result.hash(&mut self.hasher);
        if record {
            self.push(
                time,
                node,
                TraceEvent::DiskComplete {
                    id,
                    result: result.describe(),
                },
            );
        }
    }

    pub(crate) fn phase(&mut self, time: u64, name: &str) {
        let record = self.head(tag::PHASE, time, NO_NODE);
        name.hash(&mut self.hasher);
        if record {
            let name = name.to_string();
            self.push(time, NO_NODE, TraceEvent::Phase { name });
        }
    }
}

/// Feeds written bytes into the trace hasher.
struct HashWriter<'a>(&'a mut StableHasher);

impl std::io::Write for HashWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
