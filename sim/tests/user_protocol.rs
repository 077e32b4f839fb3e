//! How a user tests their own protocol with Faultline, outside this repository's scenarios:
//! implement `sim::Node`, build a simulation with faults, run a range of seeds with
//! `sim::testing::check_seeds` (each seed twice, to check the run is a function of its seed),
//! and on failure get the seed and the line that replays it: the least a user writes, with a
//! simulation built by hand. `example/` is the complete pattern (disk, crashes, recovery, a
//! history, scenarios and the command line).
//!
//! The protocol here is a tiny replicated counter: a leader numbers increments and sends them
//! to followers, which apply them in order and acknowledge, with retries over a lossy network.

use sim::testing::{SeedRun, check_seeds};
use sim::{
    Config, Context, Duration, Fault, Instant, Latency, LinkConfig, Node, NodeId, Partition,
    Simulation, TraceLevel,
};

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
enum Msg {
    /// Entries `first..=last`.
    Apply {
        first: u64,
        last: u64,
    },
    Ack {
        index: u64,
    },
}

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
enum Timer {
    Increment,
    Resend,
}

/// What the counter's nodes report for checks outside them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Progress {
    /// The leader numbered entry `index`.
    Issued { index: u64 },
    /// A follower has applied every entry up to `index`.
    Applied { index: u64 },
}

struct Leader {
    followers: Vec<NodeId>,
    issued: u64,
    acked: Vec<u64>,
}

struct Follower {
    applied: u64,
}

impl Node for Leader {
    type Message = Msg;
    type Timer = Timer;
    type Observation = Progress;

    fn on_start(&mut self, ctx: &mut Context<'_, Msg, Timer, Progress>) {
        ctx.set_timer(Duration::from_millis(10), Timer::Increment);
        ctx.set_timer(Duration::from_millis(25), Timer::Resend);
    }

    fn on_message(
        &mut self,
        _ctx: &mut Context<'_, Msg, Timer, Progress>,
        from: NodeId,
        message: Msg,
    ) {
        if let Msg::Ack { index } = message {
            let slot = from.index() - 1;
            self.acked[slot] = self.acked[slot].max(index);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Msg, Timer, Progress>, timer: Timer) {
        match timer {
            Timer::Increment => {
                self.issued += 1;
                ctx.observe(Progress::Issued { index: self.issued });
                ctx.set_timer(Duration::from_millis(10), Timer::Increment);
            }
            Timer::Resend => {
                ctx.set_timer(Duration::from_millis(25), Timer::Resend);
            }
        }
        // Send each follower every entry it has not acknowledged.
        for (slot, &follower) in self.followers.iter().enumerate() {
            if self.acked[slot] < self.issued {
                let (first, last) = (self.acked[slot] + 1, self.issued);
                ctx.send(follower, Msg::Apply { first, last });
            }
        }
    }
}

impl Node for Follower {
    type Message = Msg;
    type Timer = Timer;
    type Observation = Progress;

    fn on_start(&mut self, _ctx: &mut Context<'_, Msg, Timer, Progress>) {}

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, Msg, Timer, Progress>,
        from: NodeId,
        message: Msg,
    ) {
        if let Msg::Apply { first, last } = message {
            // The protocol's invariant: the leader never skips an entry the follower lacks.
            assert!(
                first <= self.applied + 1,
                "entries {first}..={last} skip entry {}",
                self.applied + 1
            );
            if last > self.applied {
                self.applied = last;
                ctx.observe(Progress::Applied { index: last });
            }
            ctx.send(
                from,
                Msg::Ack {
                    index: self.applied,
                },
            );
        }
    }

    fn on_timer(&mut self, _ctx: &mut Context<'_, Msg, Timer, Progress>, _timer: Timer) {}
}

/// One run: two followers behind a lossy, duplicating network, one of them partitioned away
/// for a while. Returns an error if a follower did not catch up after the partition healed.
fn run(seed: u64, level: TraceLevel) -> SeedRun {
    let link = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(20),
        },
        loss_ppm: 200_000,
        duplicate_ppm: 100_000,
        queue_capacity: 1_000,
    };
    let mut config = Config::new(seed, link.clone(), link);
    config.trace_level = level;
    let mut sim: Simulation<Msg, Timer, Progress> = Simulation::new(config);
    let followers = vec![NodeId(1), NodeId(2)];
    let leader = sim.add_node(move |_| Leader {
        followers: followers.clone(),
        issued: 0,
        acked: vec![0, 0],
    });
    for _ in 0..2 {
        sim.add_node(|_| Follower { applied: 0 });
    }
    let isolate = Partition::Groups(vec![vec![NodeId(0), NodeId(1)], vec![NodeId(2)]]);
    sim.schedule(
        Instant::ZERO + Duration::from_millis(300),
        Fault::Partition(isolate),
    );
    sim.schedule(Instant::ZERO + Duration::from_millis(800), Fault::Heal);
    sim.run_until(Instant::ZERO + Duration::from_secs(2));
    // The last index each node reported (0 if none): no node crashes, so each reports from
    // one incarnation.
    let last = |node: NodeId| {
        let records = sim.observations().iter().filter(|r| r.node == node);
        let mut indexes = records.map(|r| match r.observation {
            Progress::Issued { index } | Progress::Applied { index } => index,
        });
        indexes.next_back().unwrap_or(0)
    };
    let issued_before_end = last(leader).saturating_sub(20);
    let behind = [NodeId(1), NodeId(2)]
        .into_iter()
        .find(|&follower| last(follower) < issued_before_end);
    let verdict = match behind {
        Some(follower) => Err(format!(
            "{follower} applied {} of {issued_before_end} entries",
            last(follower)
        )),
        None => Ok(()),
    };
    SeedRun::of(&sim, verdict)
}

#[test]
fn replicated_counter_catches_up_after_a_partition() {
    check_seeds(0..50, run);
}

// Goal: a failing seed is reported with its replay line. Method: a check that fails on seed 7.
#[test]
fn a_failing_seed_names_its_replay_line() {
    let outcome = std::panic::catch_unwind(|| {
        check_seeds(0..10, |seed, level| {
            let verdict = match seed {
                7 => Err("planted".to_string()),
                _ => Ok(()),
            };
            let sim: Simulation<Msg, Timer, Progress> = Simulation::new(quiet(seed, level));
            SeedRun::of(&sim, verdict)
        })
    });
    let payload = outcome.expect_err("seed 7 fails");
    let message = payload
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.starts_with("seed 7 failed: planted\nreplay: FAULTLINE_SEED=7 cargo test"),
        "{message}"
    );
    assert!(
        message.contains(
            "--test user_protocol a_failing_seed_names_its_replay_line -- --exact --include-ignored"
        ),
        "{message}"
    );
}

fn quiet(seed: u64, level: TraceLevel) -> Config {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(seed, link.clone(), link);
    config.trace_level = level;
    config
}

// Goal: a run that is not a function of its seed is caught, and the failure names the first
// event that differs. Method: a run whose leader starts 1 ms later on every call, as one
// reading a clock or a process-wide counter would.
#[test]
fn a_run_that_depends_on_more_than_its_seed_is_caught() {
    let calls = std::sync::atomic::AtomicU64::new(0);
    let outcome = std::panic::catch_unwind(|| {
        check_seeds(0..3, |seed, level| {
            let mut sim: Simulation<Msg, Timer, Progress> = Simulation::new(quiet(seed, level));
            let call = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            sim.run_until(Instant::ZERO + Duration::from_millis(call));
            sim.add_node(|_| Follower { applied: 0 });
            sim.run_until(Instant::ZERO + Duration::from_millis(100));
            SeedRun::of(&sim, Ok(()))
        })
    });
    let payload = outcome.expect_err("the runs differ");
    let message = payload
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.starts_with("seed 0 failed: two runs of the same seed differed"),
        "{message}"
    );
    assert!(message.contains("first difference at event"), "{message}");
    assert!(message.contains("thread_rng"), "{message}");
}
