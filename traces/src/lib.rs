//! Traces for people: the canonical text rendering of a run's events, stored trace files, and
//! log lines stamped with virtual time.
//!
//! # The canonical text format
//!
//! One line per event, in the order the engine handled them, byte-identical across runs and
//! machines (log lines aside: a build may log more or less, and they are no events):
//!
//! ```text
//!    0.004312s n1   deliver  #7 <- n3 Request { id: 4, payload: 17 }
//! ```
//!
//! | column | width | meaning |
//! |---|---|---|
//! | time | 10, right-aligned | global virtual time, seconds with microseconds |
//! | node | 4 | the node the event happened on (`n0`, ...), `--` for the engine (faults, phases) |
//! | event | 8, left-aligned (`disk-done`, 9 letters, pushes its detail one column right) | what happened (table below) |
//! | detail | rest | the event's fields |
//!
//! | event | detail |
//! |---|---|
//! | `start` | `incarnation K` (0 is the first start; more is a restart with empty memory) |
//! | `crash`, `pause`, `resume` | none |
//! | `send` | `#ID -> TARGET MESSAGE`: message ID leaves this node |
//! | `deliver` | `#ID <- SOURCE MESSAGE`: message ID reaches this node's handler |
//! | `drop` | `#ID <- SOURCE (REASON)`: not delivered; reason `partition`, `loss`, `queue-full` or `node-down` |
//! | `dup` | `#ID -> TARGET`: the network will deliver message ID twice |
//! | `hold` | `#ID <- SOURCE`: held on its link until a `release` fault |
//! | `timer` | `tID +AFTER TIMER`: a timer set to fire after AFTER on the node's clock |
//! | `fire` | `tID TIMER`: the timer fired |
//! | `cancel` | `tID` |
//! | `fault` | `KIND DETAIL`: partition, heal, hold, release, clock-jump, clock-drift, link |
//! | `note` | a protocol's annotation |
//! | `observe` | a protocol's observation for checkers (`Context::observe`), as its `Debug` text |
//! | `invoke`, `ok`, `fail`, `info` | `pPROCESS F [KEY] VALUE`: a client operation, as in the history |
//! | `phase` | `safety` or `liveness` |
//! | `disk` | `ioID OPERATION`: a disk operation submitted (write, append, truncate, sync, read, rename, delete, sync-dir) |
//! | `disk-done` | `ioID RESULT`: it completed: `ok`, `N bytes` read, or `error Io`/`NoSpace`/`NotFound` |
//! | `log` | `LEVEL TEXT`: a log line the node's code wrote (`tracing`, `log`, `slog`); not an event, never hashed |
//!
//! Storage faults and crash decisions are `fault` lines on the node: `read-corruption`,
//! `latent-sector-error`, `read-error`, `write-error`, `misdirected-write`, `disk-full`, and at
//! a crash `lost-write`, `torn-write`, `lost-name-op`.

pub mod diagram;
pub mod logging;
pub mod store;

use sim::trace::NO_NODE;
use sim::{Duration, Instant, TraceEvent, TraceRecord};
use std::fmt::Write;

/// Renders one event as its canonical line (without a newline).
pub fn render_line(record: &TraceRecord) -> String {
    let time = Instant::from_nanos(record.time_nanos).to_string();
    let node = if record.node == NO_NODE {
        "--".to_string()
    } else {
        format!("n{}", record.node)
    };
    let (event, detail) = describe(&record.event);
    let mut line = format!("{time:>10} {node:<4} {event:<8} {detail}");
    let trimmed = line.trim_end().len();
    line.truncate(trimmed);
    line
}

/// Renders a whole trace, one line per event.
pub fn render(records: &[TraceRecord]) -> String {
    let mut out = String::with_capacity(records.len() * 64);
    for record in records {
        out.push_str(&render_line(record));
        out.push('\n');
    }
    out
}

/// Writes a whole trace, one line per event, as it goes: a long trace is never one string.
pub fn write_trace<'a>(
    records: impl IntoIterator<Item = &'a TraceRecord>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    for record in records {
        out.write_all(render_line(record).as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn describe(event: &TraceEvent) -> (&'static str, String) {
    match event {
        TraceEvent::Start { incarnation } => ("start", format!("incarnation {incarnation}")),
        TraceEvent::Crash => ("crash", String::new()),
        TraceEvent::Pause => ("pause", String::new()),
        TraceEvent::Resume => ("resume", String::new()),
        TraceEvent::Send { to, id, message } => ("send", format!("#{id} -> n{to} {message}")),
        TraceEvent::Deliver { from, id, message } => {
            ("deliver", format!("#{id} <- n{from} {message}"))
        }
        TraceEvent::Drop { from, id, reason } => {
            ("drop", format!("#{id} <- n{from} ({})", reason.as_str()))
        }
        TraceEvent::Duplicate { to, id } => ("dup", format!("#{id} -> n{to}")),
        TraceEvent::Hold { from, id } => ("hold", format!("#{id} <- n{from}")),
        TraceEvent::TimerSet {
            id,
            after_nanos,
            timer,
        } => (
            "timer",
            format!("t{id} +{} {timer}", Duration::from_nanos(*after_nanos)),
        ),
        TraceEvent::TimerFire { id, timer } => ("fire", format!("t{id} {timer}")),
        TraceEvent::TimerCancel { id } => ("cancel", format!("t{id}")),
        TraceEvent::Fault { kind, detail } => ("fault", format!("{kind} {detail}")),
        TraceEvent::Note { text } => ("note", text.clone()),
        TraceEvent::Observe { observation } => ("observe", observation.clone()),
        TraceEvent::Client {
            process,
            status,
            f,
            key,
            value,
        } => {
            let mut detail = format!("p{process} {f}");
            if let Some(key) = key {
                write!(detail, " {key}").expect("writing to a String");
            }
            write!(detail, " {value}").expect("writing to a String");
            (status.as_str(), detail)
        }
        TraceEvent::Phase { name } => ("phase", name.clone()),
        TraceEvent::DiskSubmit { id, op } => ("disk", format!("io{id} {op}")),
        TraceEvent::DiskComplete { id, result } => ("disk-done", format!("io{id} {result}")),
        TraceEvent::Log { level, text } => ("log", format!("{level} {text}")),
    }
}

/// The first position at which two traces differ, with both lines (`None` for a missing
/// line), or `None` if they are equal.
pub fn first_difference(
    a: &[TraceRecord],
    b: &[TraceRecord],
) -> Option<(usize, Option<String>, Option<String>)> {
    let index = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))?;
    Some((
        index,
        a.get(index).map(render_line),
        b.get(index).map(render_line),
    ))
}
