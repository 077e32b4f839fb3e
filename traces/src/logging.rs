//! Protocol log lines (`tracing::info!` and friends) for people watching a replay, stamped with
//! the virtual time and node of the event being handled. They are not part of the canonical
//! trace and do not enter its hash. Records of the `log` facade, which many libraries log
//! through, come the same way (the subscriber installs `tracing-log`'s bridge), filtered by
//! the same level; a library on `slog` joins them through `slog-stdlog`'s drain.

use std::fmt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Stamps a log line with the event's virtual time and node: `1.250000s n2`.
pub struct VirtualTime;

impl FormatTime for VirtualTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let (time, node) = sim::current_event();
        match node {
            Some(node) => write!(w, "{time:>10} {node:<4}"),
            None => write!(w, "{time:>10} --  "),
        }
    }
}

/// Sends log lines at `level` and above to stderr, stamped with virtual time. Call once, from
/// a command line's replay; a second call does nothing.
pub fn init(level: tracing::Level) {
    let _already_set = tracing_subscriber::fmt()
        .with_timer(VirtualTime)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
