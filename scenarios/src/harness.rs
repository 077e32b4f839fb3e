//! What scenarios share: drawing swarm options, running the safety and liveness phases, and
//! the checks that read a history.

use sim::history::OpStatus;
use sim::{
    Duration, FaultBudget, HistoryRecord, Instant, Latency, LinkConfig, Message, NodeId, Plan, Rng,
    Simulation, Swarm, Verdict, plan::Fault,
};

/// Which fault kinds a scenario exercises, and how hard.
pub struct FaultMix {
    pub loss_ppm_max: u32,
    pub duplicate_ppm_max: u32,
    pub partitions: bool,
    pub crashes: bool,
    pub pauses: bool,
    pub clocks: bool,
    pub holds: bool,
}

/// Draws the swarm options of a seed: each probability and each fault kind's weight is drawn,
/// and each may come out zero (swarm testing).
pub fn draw_swarm(
    rng: &mut Rng,
    link_latency: Latency,
    client_link: LinkConfig,
    mix: &FaultMix,
) -> Swarm {
    let mut weight = |enabled: bool| if enabled { rng.below(4) as u32 } else { 0 };
    let partition_weight = weight(mix.partitions);
    let crash_weight = weight(mix.crashes);
    let pause_weight = weight(mix.pauses);
    let clock_weight = weight(mix.clocks);
    let hold_weight = weight(mix.holds);
    let link = LinkConfig {
        latency: link_latency,
        loss_ppm: sim::plan::draw_ppm(rng, mix.loss_ppm_max),
        duplicate_ppm: sim::plan::draw_ppm(rng, mix.duplicate_ppm_max),
        queue_capacity: u32::MAX,
    };
    Swarm {
        link,
        client_link,
        fault_gap_mean: Duration::from_millis(rng.between(200, 3_000)),
        partition_weight,
        crash_weight,
        pause_weight,
        clock_weight,
        hold_weight,
        disk: sim::DiskConfig::default(),
    }
}

/// Draws a fault schedule for the first `server_count` nodes.
pub fn draw_faults(
    swarm: &Swarm,
    server_count: u32,
    budget: FaultBudget,
    safety: Duration,
    rng: &mut Rng,
) -> Vec<sim::ScheduledFault> {
    let servers: Vec<NodeId> = (0..server_count).map(NodeId).collect();
    sim::plan::generate_schedule(swarm, &servers, budget, safety, rng)
}

/// Rejects a plan whose faults name nodes the simulation does not have: edited plans are user
/// input, and deserve an error rather than a panic.
pub fn validate_faults(plan: &Plan, node_count: usize) -> Result<(), String> {
    for scheduled in &plan.faults {
        let nodes: Vec<NodeId> = match &scheduled.fault {
            Fault::Partition(p) => p.nodes(),
            Fault::Heal => vec![],
            Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => vec![*n],
            Fault::ClockJump { node, .. } | Fault::ClockDrift { node, .. } => vec![*node],
            Fault::Hold { from, to }
            | Fault::Release { from, to }
            | Fault::Link { from, to, .. } => {
                vec![*from, *to]
            }
        };
        if let Some(bad) = nodes.iter().find(|n| n.index() >= node_count) {
            return Err(format!(
                "fault at {} names node {bad}, but the run has nodes n0 to n{}",
                scheduled.at,
                node_count - 1
            ));
        }
        if let Fault::Link {
            config: Some(config),
            ..
        } = &scheduled.fault
        {
            config.validate()?;
        }
        if let Fault::ClockDrift { drift_ppm, .. } = scheduled.fault
            && drift_ppm <= -1_000_000
        {
            return Err(format!(
                "fault at {}: a clock cannot run at {drift_ppm}ppm (it would stop or run backwards)",
                scheduled.at
            ));
        }
    }
    Ok(())
}

/// A scenario's plan from its parts; `phases` are the safety and liveness durations.
pub fn plan<W: serde::Serialize>(
    scenario: &str,
    seed: u64,
    bug: Option<&str>,
    swarm: Swarm,
    faults: Vec<sim::ScheduledFault>,
    phases: (Duration, Duration),
    workload: &W,
) -> Plan {
    Plan {
        scenario: scenario.to_string(),
        seed,
        bug: bug.map(str::to_string),
        swarm,
        faults,
        safety_duration: phases.0,
        liveness_duration: phases.1,
        workload: serde_json::to_value(workload).expect("a workload serializes"),
    }
}

/// The run's report, trace and history, judged by `verdict`.
pub fn finish<M: Message, T: Message>(
    sim: Simulation<M, T>,
    plan: &Plan,
    verdict: Verdict,
) -> crate::Run {
    let report = sim.report(&plan.scenario, plan.seed, plan.bug.as_deref(), verdict);
    let (trace, history) = sim.into_parts();
    crate::Run {
        report,
        trace,
        history,
    }
}

/// Parses a scenario's workload section of a plan.
pub fn workload<W: serde::de::DeserializeOwned>(plan: &Plan) -> Result<W, String> {
    serde_json::from_value(plan.workload.clone()).map_err(|e| format!("plan's workload: {e}"))
}

/// Runs the safety phase (the plan's faults) and then the liveness phase (every fault
/// healed). Returns the time the liveness phase began.
pub fn run_phases<M: Message, T: Message>(sim: &mut Simulation<M, T>, plan: &Plan) -> Instant {
    let safety_end = Instant::ZERO + plan.safety_duration;
    for scheduled in plan.faults.iter().filter(|f| f.at < safety_end) {
        sim.schedule(scheduled.at, scheduled.fault.clone());
    }
    sim.begin_phase("safety");
    sim.run_until(safety_end);
    sim.heal_all();
    let healed_at = sim.now();
    sim.run_until(healed_at + plan.liveness_duration);
    healed_at
}

/// Liveness of a request/response workload: every operation invoked in the liveness phase, early
/// enough to have been answered within `timeout` before the run ended, completed `ok`.
pub fn check_answered(
    history: &[HistoryRecord],
    healed_at: Instant,
    end: Instant,
    timeout: Duration,
) -> Verdict {
    check_answered_with(history, healed_at, end, timeout, &[OpStatus::Ok])
}

/// As `check_answered`, accepting the given completions as answers (a definite `fail` is an
/// answer where a scenario lets the protocol refuse).
pub fn check_answered_with(
    history: &[HistoryRecord],
    healed_at: Instant,
    end: Instant,
    timeout: Duration,
    answers: &[OpStatus],
) -> Verdict {
    let last_invoke = Instant::from_nanos(end.as_nanos().saturating_sub(timeout.as_nanos()));
    let mut open: std::collections::BTreeMap<u64, &HistoryRecord> = Default::default();
    let mut checked = 0u64;
    for record in history {
        if record.status == OpStatus::Invoke {
            open.insert(record.process, record);
            continue;
        }
        let Some(invoke) = open.remove(&record.process) else {
            continue;
        };
        let in_window = invoke.time() >= healed_at && invoke.time() <= last_invoke;
        if !in_window {
            continue;
        }
        checked += 1;
        if !answers.contains(&record.status) {
            return Verdict::fail(
                sim::Outcome::Liveness,
                format!(
                    "process {} invoked {} at {} after every fault had healed, and it completed {} at {}",
                    invoke.process,
                    invoke.f,
                    invoke.time(),
                    record.status.as_str(),
                    record.time()
                ),
            );
        }
    }
    if let Some(invoke) = open
        .values()
        .find(|i| i.time() >= healed_at && i.time() <= last_invoke)
    {
        return Verdict::fail(
            sim::Outcome::Liveness,
            format!(
                "process {} invoked {} at {} after every fault had healed, and it never completed",
                invoke.process,
                invoke.f,
                invoke.time()
            ),
        );
    }
    if checked == 0 {
        return Verdict::fail(
            sim::Outcome::Liveness,
            "no operation was invoked and answered in the liveness phase",
        );
    }
    Verdict::pass()
}

/// The memo the linearizability search may use per key before it answers `unknown`. A memory
/// bound, not a time bound, so the verdict stays a function of the seed.
const CHECKER_MEMORY_BYTES_MAX: usize = 512 << 20;

/// Checks a history for linearizability against a built-in model of the `checkers` crate.
pub fn check_linearizable(history: &[HistoryRecord], model: checkers::BuiltinModel) -> Verdict {
    use checkers::{Event, EventKind};
    let events: Vec<Event> = history
        .iter()
        .map(|record| {
            let kind = match record.status {
                OpStatus::Invoke => EventKind::Invoke,
                OpStatus::Ok => EventKind::Ok,
                OpStatus::Fail => EventKind::Fail,
                OpStatus::Info => EventKind::Info,
            };
            let value = match record.status {
                OpStatus::Invoke | OpStatus::Ok => record.value.clone(),
                OpStatus::Fail | OpStatus::Info => serde_json::Value::Null,
            };
            let mut event =
                Event::new(kind, record.process, &record.f, value).with_time(record.time as i64);
            if let Some(key) = &record.key {
                event = event.with_key(key);
            }
            event
        })
        .collect();
    let limits = checkers::Limits {
        duration_max: None,
        memory_bytes_max: Some(CHECKER_MEMORY_BYTES_MAX),
    };
    match model.check(&checkers::History::from_events(events), &limits) {
        Err(error) => Verdict::fail(
            sim::Outcome::Safety,
            format!("the history is malformed: {error}"),
        ),
        Ok(report) => match report.verdict {
            checkers::Verdict::Linearizable => Verdict::pass(),
            checkers::Verdict::NotLinearizable => Verdict::fail(
                sim::Outcome::Safety,
                // The explanation starts with "not linearizable: KEY".
                report
                    .explain()
                    .unwrap_or_else(|| "not linearizable".to_owned()),
            ),
            checkers::Verdict::Unknown => Verdict::fail(
                sim::Outcome::Unknown,
                report
                    .explain()
                    .unwrap_or_else(|| "the checker's limit ran out".to_string()),
            ),
        },
    }
}
