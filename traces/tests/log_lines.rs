//! Goal: a library that logs through the `log` facade (as many do), or through `slog` with
//! `slog-stdlog`'s drain, from inside a handler shows in a replay: in the recorded trace when
//! the run records one, else in the log lines, stamped with the virtual time and node either
//! way, filtered by level, and never changes the trace hash nor its events. Method: a node
//! logs at info and debug from a timer, both ways, with `traces::logging`'s layer at info
//! level; a hashed run writes its lines to a buffer, a recorded run keeps them in its trace;
//! the hash of a run with logging off is the same, and so are its events.

use sim::{
    Config, Context, Duration, Instant, Latency, LinkConfig, Node, NodeId, Simulation, TraceEvent,
    TraceLevel, TraceRecord,
};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::prelude::*;

struct Chatty;

impl Node for Chatty {
    type Message = ();
    type Timer = ();
    type Observation = ();

    fn on_start(&mut self, ctx: &mut Context<'_, (), (), ()>) {
        ctx.set_timer(Duration::from_millis(5), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, (), (), ()>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Context<'_, (), (), ()>, _: ()) {
        log::info!("tick through the log facade");
        log::debug!("a debug line, below the level");
        let slog = slog::Logger::root(slog::Drain::fuse(slog_stdlog::StdLog), slog::o!());
        slog::info!(slog, "tick through slog");
        // A line longer than a trace keeps, of two-byte characters.
        log::info!("{}", "é".repeat(40_000));
    }
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(level: TraceLevel) -> (u64, Vec<TraceRecord>) {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(3, link.clone(), link);
    config.trace_level = level;
    let mut sim: Simulation<(), (), ()> = Simulation::new(config);
    // A library often logs as it is built: the node's constructor is its code too.
    sim.add_node(|_| {
        log::info!("built");
        Chatty
    });
    sim.add_node(|_| Chatty);
    sim.run_until(Instant::ZERO + Duration::from_millis(10));
    let trace = sim.trace();
    (trace.hash(), trace.records_with_logs().cloned().collect())
}

fn logs(records: &[TraceRecord]) -> Vec<(u32, u64, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Log { level, text } => {
                Some((r.node, r.time_nanos, format!("{level} {text}")))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn log_records_show_with_virtual_time_and_node_and_leave_the_run_alone() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(traces::logging::VirtualLog::new(Capture(buffer.clone())))
        .try_init()
        .expect("the only subscriber of this test binary");
    // A hashed run: its lines go to the writer.
    let (logged, _) = run(TraceLevel::Hash);
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    for node in ["n0", "n1"] {
        for message in ["tick through the log facade", "tick through slog"] {
            let line = text
                .lines()
                .find(|l| l.contains(node) && l.contains(message));
            assert!(
                line.is_some_and(|l| l.trim_start().starts_with("0.005000s") && l.contains("INFO")),
                "{message} on {node}: {text}"
            );
        }
    }
    assert!(!text.contains("below the level"), "{text}");
    // A recorded run: its lines are in its trace, at the handler's time and node.
    buffer.lock().unwrap().clear();
    let (recorded_hash, records) = run(TraceLevel::Record);
    assert!(
        buffer.lock().unwrap().is_empty(),
        "a recorded run's lines stay in its trace"
    );
    let lines = logs(&records);
    for node in [0, 1] {
        for message in ["INFO tick through the log facade", "INFO tick through slog"] {
            assert!(
                lines.contains(&(node, 5_000_000, message.to_string())),
                "{message} on n{node}: {lines:?}"
            );
        }
    }
    assert!(!lines.iter().any(|(_, _, l)| l.contains("below the level")));
    assert!(
        lines.contains(&(0, 0, "INFO built".to_string())),
        "{lines:?}"
    );
    let start = records
        .iter()
        .position(|r| matches!(r.event, TraceEvent::Start { .. }));
    let built = records
        .iter()
        .position(|r| matches!(&r.event, TraceEvent::Log { text, .. } if text == "built"));
    assert!(
        start < built,
        "the constructor's line follows the node's start"
    );
    let long = lines
        .iter()
        .find(|(_, _, l)| l.contains('é'))
        .expect("the long line");
    assert!(long.2.ends_with(" [cut]"), "a long line is cut and says so");
    assert!(long.2.len() <= "INFO ".len() + sim::trace::LOG_LINE_BYTES_MAX + " [cut]".len());
    let rendered = traces::render(&records);
    assert!(
        rendered.contains("n0   log      INFO tick through slog"),
        "{rendered}"
    );
    // Neither the hash nor the events see them: with the `log` facade off (slog's drain
    // writes past its level), a run logs less, and is the same run.
    log::set_max_level(log::LevelFilter::Off);
    let (quiet_hash, quiet_records) = run(TraceLevel::Record);
    assert!(logs(&quiet_records).len() < lines.len());
    assert_eq!(recorded_hash, logged, "log lines never enter the hash");
    assert_eq!(quiet_hash, logged, "log lines never enter the hash");
    let events = |records: &[TraceRecord]| -> Vec<TraceRecord> {
        let events = records
            .iter()
            .filter(|r| !matches!(r.event, TraceEvent::Log { .. }));
        events.cloned().collect()
    };
    assert_eq!(
        events(&records),
        events(&quiet_records),
        "log lines are no events"
    );
}
