//! Log lines written inside handlers (`tracing::info!` and friends; `log` records, which many
//! libraries write, through `tracing-log`'s bridge; `slog` ones through `slog-stdlog`'s drain
//! to `log`), for people reading a replay. While a run records its trace, a handler's lines
//! go into it (`TraceEvent::Log`, stamped with the event's virtual time and node, rendered in
//! the text trace and stored with `replay --save`); otherwise, and outside handlers, they go to
//! a writer (stderr), stamped the same way. Either way they never enter the trace hash nor its
//! event numbers, so a debug line that one build writes and another does not cannot change a
//! run.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The layer that puts log lines in the recording trace, or writes them out with the virtual
/// time and node: `    1.250000s n2    INFO tick`.
pub struct VirtualLog<W> {
    out: Mutex<W>,
}

impl<W: Write> VirtualLog<W> {
    /// Lines that no trace keeps go to `out`.
    pub fn new(out: W) -> VirtualLog<W> {
        VirtualLog {
            out: Mutex::new(out),
        }
    }
}

impl<S: tracing::Subscriber, W: Write + 'static> Layer<S> for VirtualLog<W> {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        let level = event.metadata().level().as_str();
        if sim::capture_log_line(level, &text.0) {
            return;
        }
        let (time, node) = sim::current_event();
        let node = node.map_or_else(|| "--".to_string(), |n| n.to_string());
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A log line that cannot be written is dropped: logging never stops a run.
        let _ = writeln!(out, "{time:>10} {node:<4} {level:>5} {}", text.0);
    }
}

/// An event's message, then its other fields as `name=value`; the `log.*` fields that the
/// bridge from `log` adds (target, file, line) are left out.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if name == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{name}={value:?}");
        }
    }
}

/// Keeps log lines at `level` and above (in the recording trace, or on stderr), from
/// `tracing` and from the `log` facade. Call once, from a command line's replay; a second call
/// does nothing.
pub fn init(level: tracing::Level) {
    let _already_set = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::from_level(level))
        .with(VirtualLog::new(std::io::stderr()))
        .try_init();
}
