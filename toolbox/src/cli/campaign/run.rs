//! Running a campaign: worker threads take the next item of the seed stream, run it (one
//! simulation per thread) and send its result to the main thread, which folds it into the
//! scenario's summary. Nothing grows with the number of seeds.
//!
//! The first Ctrl-C (or SIGTERM) stops handing out seeds and lets the running ones finish; a
//! second one stops at once with what has been summarised so far.

use super::stream::Stream;
use super::summary::TargetSummary;
use crate::Scenario;
use crate::runner::{self, SeedResult};
use sim::Outcome;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};

// The campaign runs on real threads and reads the wall clock; each simulation inside it runs
// on one thread and never sees either.
#[allow(clippy::disallowed_types)]
type WallClock = std::time::Instant;

#[derive(Clone, Copy)]
pub struct Target {
    pub scenario: &'static dyn Scenario,
    pub bug: Option<&'static str>,
}

pub struct Campaign {
    /// How the tool is called: the start of failures' replay lines.
    pub command: String,
    pub targets: Vec<Target>,
    pub stream: Stream,
    pub jobs: usize,
    pub check_determinism: bool,
    /// Stop starting new seeds after this much wall-clock time.
    pub deadline: Option<std::time::Duration>,
}

/// Why the campaign stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stop {
    /// Every seed of the stream ran.
    Done,
    DurationRanOut,
    /// Ctrl-C: the running seeds finished (or, after a second Ctrl-C, were abandoned).
    Interrupted,
}

pub struct Finished {
    pub summaries: Vec<TargetSummary>,
    pub seconds: f64,
    pub stop: Stop,
    /// Ctrl-C presses so far, still counted after the campaign (`fuzz --shrink` stops on one).
    pub interrupts: Arc<AtomicUsize>,
}

/// What the workers share.
struct Shared {
    campaign: Campaign,
    next: Mutex<u128>,
    interrupts: Arc<AtomicUsize>,
    ran_out: AtomicBool,
    started: WallClock,
}

impl Shared {
    /// The next item to run, unless the campaign is over, out of time or interrupted.
    fn take(&self) -> Option<(usize, u64)> {
        if self.interrupts.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let mut next = self.next.lock().expect("no panic while holding it");
        let item = self.campaign.stream.item(*next)?;
        if let Some(deadline) = self.campaign.deadline
            && self.started.elapsed() >= deadline
        {
            self.ran_out.store(true, Ordering::SeqCst);
            return None;
        }
        *next += 1;
        Some(item)
    }
}

/// Counts Ctrl-C presses (and SIGTERMs) from now on.
fn interrupt_counter() -> Arc<AtomicUsize> {
    let interrupts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&interrupts);
    let installed = ctrlc::set_handler(move || {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "\ninterrupted: finishing the seeds that are running (Ctrl-C again to stop now)"
            );
        }
    });
    if let Err(e) = installed {
        eprintln!("note: Ctrl-C will not print a partial summary: {e}");
    }
    interrupts
}

pub fn run(campaign: Campaign) -> Finished {
    runner::install_quiet_panic_hook();
    let mut summaries: Vec<TargetSummary> = campaign
        .targets
        .iter()
        .map(|t| {
            let mut summary = TargetSummary::new(t.scenario.name(), t.bug);
            summary.scenario_file = t.scenario.file().map(|p| p.display().to_string());
            summary
        })
        .collect();
    let jobs = campaign.jobs;
    let shared = Arc::new(Shared {
        campaign,
        next: Mutex::new(0),
        interrupts: interrupt_counter(),
        ran_out: AtomicBool::new(false),
        // The campaign's own wall clock: progress and --duration.
        #[allow(clippy::disallowed_methods)]
        started: WallClock::now(),
    });
    let (sender, results) = mpsc::sync_channel::<(usize, SeedResult)>(jobs * 4);
    let workers: Vec<_> = (0..jobs)
        .map(|i| {
            let (shared, sender) = (Arc::clone(&shared), sender.clone());
            std::thread::Builder::new()
                .name(format!("fuzz-{i}"))
                .spawn(move || work(&shared, &sender))
                .expect("a thread starts")
        })
        .collect();
    drop(sender);
    let progress = progress_bar(&shared.campaign);
    let abandoned = collect(&results, &mut summaries, &shared, &progress);
    progress.finish_and_clear();
    if !abandoned {
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
    let stop = if shared.interrupts.load(Ordering::SeqCst) > 0 {
        Stop::Interrupted
    } else if shared.ran_out.load(Ordering::SeqCst) {
        Stop::DurationRanOut
    } else {
        Stop::Done
    };
    Finished {
        summaries,
        seconds: shared.started.elapsed().as_secs_f64(),
        stop,
        interrupts: Arc::clone(&shared.interrupts),
    }
}

fn work(shared: &Shared, sender: &mpsc::SyncSender<(usize, SeedResult)>) {
    while let Some((t, seed)) = shared.take() {
        let target = shared.campaign.targets[t];
        let result = run_one(target, seed, shared.campaign.check_determinism);
        if sender.send((t, result)).is_err() {
            return;
        }
    }
}

/// Folds results into the summaries until the workers are done. True if a second Ctrl-C
/// abandoned the running seeds.
fn collect(
    results: &mpsc::Receiver<(usize, SeedResult)>,
    summaries: &mut [TargetSummary],
    shared: &Shared,
    progress: &indicatif::ProgressBar,
) -> bool {
    let interrupts = &shared.interrupts;
    let tick = std::time::Duration::from_millis(100);
    loop {
        if interrupts.load(Ordering::SeqCst) >= 2 {
            return true;
        }
        match results.recv_timeout(tick) {
            Ok((t, result)) => {
                summaries[t].add(&result, &shared.campaign.command);
                progress.inc(1);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

fn progress_bar(campaign: &Campaign) -> indicatif::ProgressBar {
    let len = u64::try_from(campaign.stream.len())
        .ok()
        .filter(|_| campaign.deadline.is_none());
    let (bar, template) = match len {
        Some(len) => (
            indicatif::ProgressBar::new(len),
            "{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta}",
        ),
        None => (
            indicatif::ProgressBar::no_length(),
            "{pos} seeds, {per_sec}, {elapsed}",
        ),
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    bar
}

fn run_one(target: Target, seed: u64, twice: bool) -> SeedResult {
    let plan = target.scenario.plan(seed, target.bug);
    // Each run on a fresh thread: no thread-local state crosses from one seed to the next.
    let result = if twice {
        runner::execute_twice(target.scenario, &plan)
    } else {
        runner::execute_fresh(target.scenario, &plan)
    };
    result.unwrap_or_else(|bad_plan| SeedResult {
        scenario: target.scenario.name(),
        file: target.scenario.file().map(|p| p.display().to_string()),
        seed,
        bug: target.bug.map(str::to_string),
        verdict: sim::Verdict::fail(
            Outcome::Panic,
            format!("the scenario generated a plan it rejects: {bad_plan}"),
        ),
        report: None,
    })
}
