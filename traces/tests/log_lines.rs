//! Goal: a library that logs through the `log` facade (as many do), or through `slog` with
//! `slog-stdlog`'s drain, from inside a handler shows in a replay's log lines, stamped with the
//! virtual time and node, filtered by level, and never changes the trace hash. Method: a node
//! logs at info and debug from a timer, both ways; the log lines go to a buffer at info level;
//! the hash of a run with logging off is the same.

use sim::{Config, Context, Duration, Instant, Latency, LinkConfig, Node, NodeId, Simulation};
use std::io::Write;
use std::sync::{Arc, Mutex};

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

fn run() -> u64 {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim: Simulation<(), (), ()> = Simulation::new(Config::new(3, link.clone(), link));
    sim.add_node(|_| Chatty);
    sim.add_node(|_| Chatty);
    sim.run_until(Instant::ZERO + Duration::from_millis(10));
    sim.trace().hash()
}

#[test]
fn log_records_show_with_virtual_time_and_node_and_leave_the_hash_alone() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(buffer.clone());
    tracing_subscriber::fmt()
        .with_timer(traces::logging::VirtualTime)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    let logged = run();
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    for node in ["n0", "n1"] {
        for message in ["tick through the log facade", "tick through slog"] {
            let line = text
                .lines()
                .find(|l| l.contains(node) && l.contains(message));
            assert!(
                line.is_some_and(|l| l.trim_start().starts_with("0.005000s")),
                "{message} on {node}: {text}"
            );
        }
    }
    assert!(!text.contains("below the level"), "{text}");
    log::set_max_level(log::LevelFilter::Off);
    assert_eq!(run(), logged, "log lines never enter the hash");
}
