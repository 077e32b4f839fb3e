//! What scenarios share: drawing swarm options, running the safety and liveness phases, and
//! the checks that read a history.

use sim::api::Observation;
use sim::api::ops::{Script, WrittenOp};
use sim::history::EventKind;
use sim::limits;
use sim::{
    Duration, FaultBudget, HistoryEvent, Instant, Latency, LinkConfig, Message, Metrics, Plan, Rng,
    Simulation, Swarm, Timer, Verdict,
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
    pub leader_crashes: bool,
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
    let leader_crash_weight = weight(mix.leader_crashes);
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
        leader_crash_weight,
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
    let servers = sim::plan::Server::first(server_count);
    sim::plan::generate_schedule(swarm, &servers, budget, safety, rng)
}

/// Rejects a plan whose faults name nodes the simulation does not have, or crash, restart or
/// start a client (a crashed client would leave its operations without completions, and the
/// history checkers would blame the protocol for it), or move a client's clock (operations
/// pinned to a time, `operations.at`, are pinned on the run's clock): edited and shrunk plans
/// are user input, and deserve an error rather than a panic or a false verdict.
pub fn validate_faults<M: Message, T: Timer, O: Observation>(
    plan: &Plan,
    sim: &Simulation<M, T, O>,
) -> Result<(), String> {
    let node_count = sim.node_count();
    let servers = sim.servers();
    for scheduled in &plan.faults {
        let fault = &scheduled.fault;
        if let Some(bad) = fault.nodes().into_iter().find(|n| n.index() >= node_count) {
            return Err(format!(
                "fault at {} names node {bad}, but the run has nodes n0 to n{}",
                scheduled.at,
                node_count - 1
            ));
        }
        if let sim::Fault::Crash(node)
        | sim::Fault::Restart(node)
        | sim::Fault::Start(node)
        | sim::Fault::ClockJump { node, .. }
        | sim::Fault::ClockDrift { node, .. } = fault
            && !servers.contains(node)
        {
            return Err(format!(
                "fault at {} is a {} of {node}, a client: a plan does not crash, restart or \
                 start a client (its operations would be left without completions), nor move \
                 its clock (its pinned operations would move with it)",
                scheduled.at,
                fault.kind()
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
        operations: Script::default(),
    }
}

/// What a scenario's client accepts as a written operation.
pub type OpCheck<'a> = &'a dyn Fn(&WrittenOp) -> Result<(), String>;

/// Checks the plan's written operations with the scenario's client (`check`: what its client
/// accepts); `None` for a scenario whose clients take no operations script, which then refuses
/// one. Errors name the operation (`operations.written[3]`).
pub fn check_operations(plan: &Plan, check: Option<OpCheck<'_>>) -> Result<(), String> {
    let Some(check) = check else {
        if plan.operations.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "scenario `{}` takes no `operations`: its clients are not scripted",
            plan.scenario
        ));
    };
    for (i, op) in plan.operations.written.iter().enumerate() {
        check(op).map_err(|e| format!("operations.written[{i}]: {e}"))?;
    }
    Ok(())
}

/// The run's report, trace and history, judged by `verdict`. An online checker's violation
/// stopped the run where it happened and is the verdict; a run that halted because it ran away
/// (virtual time stopped advancing) is a liveness failure whatever its checks said.
///
/// `history` is the run's history the checks took (`take_history`). `derived` holds the
/// per-run values the scenario computed from what the run observed, its
/// history and the engine's counters: the one way a scenario adds figures to its report (a
/// gauge such as `msgs-per-op-x1000` is one value per run, shown by `fuzz` as quantiles
/// across seeds; a time series a protocol emits is `Run::series`).
pub fn finish<M: Message, T: Timer, O: Observation>(
    sim: Simulation<M, T, O>,
    plan: &Plan,
    verdict: Verdict,
    derived: &Metrics,
    history: checkers::History,
) -> crate::Run {
    let verdict = match (sim.violation(), sim.halted()) {
        (Some(violation), _) => Verdict::from_violation(violation),
        (None, Some(halt)) => Verdict::fail(
            sim::Outcome::Liveness,
            format!("the run halted at {}: {}", halt.at, halt.reason),
        ),
        (None, None) => verdict,
    };
    let mut report = sim.report(&plan.scenario, plan.seed, plan.bug.as_deref(), verdict);
    let (counters, gauges, latencies) = derived.summarize();
    for (name, value) in counters {
        assert!(
            report.counters.insert(name.clone(), value).is_none(),
            "derived counter {name} is also counted during the run"
        );
    }
    report.gauges.extend(gauges);
    report.latencies.extend(latencies);
    let series = sim
        .metrics()
        .all_series()
        .map(|(name, points)| (name.to_string(), points.to_vec()))
        .collect();
    let (trace, rest) = sim.into_parts();
    assert!(rest.is_empty(), "the checks took the whole history");
    crate::Run {
        report,
        trace,
        history: history.into_events(),
        series,
        checked: Vec::new(),
    }
}

/// What `answered-after-heal` accepts as an answer, and how long after the heal it starts
/// judging.
#[derive(Clone, Debug)]
pub struct Answered {
    pub accept: Vec<EventKind>,
    pub grace: Duration,
}

/// The checks of a run, as its specification names them: each check the specification lists
/// is performed and recorded (`Run::checked`), in the order the family performs them, and the
/// verdict is the first that fails.
pub struct Checks<'a> {
    configured: &'a [&'static str],
    pub performed: Vec<&'static str>,
    pub verdict: Verdict,
}

impl<'a> Checks<'a> {
    pub fn new(configured: &'a [&'static str]) -> Checks<'a> {
        Checks {
            configured,
            performed: Vec::new(),
            verdict: Verdict::pass(),
        }
    }

    /// Whether the specification names the check.
    pub fn wants(&self, name: &str) -> bool {
        self.configured.contains(&name)
    }

    /// Performs the check `name` if the specification names it; its verdict counts if no
    /// earlier check failed.
    pub fn check(&mut self, name: &'static str, check: impl FnOnce() -> Verdict) {
        if !self.wants(name) {
            return;
        }
        self.performed.push(name);
        let verdict = check();
        if self.verdict.is_pass() {
            self.verdict = verdict;
        }
    }

    /// `answered-after-heal`, if the scenario names it: every operation invoked after the heal
    /// and the grace is answered within `timeout` by the end, with a completion it accepts.
    pub fn answered(
        &mut self,
        settings: &Answered,
        history: &checkers::History,
        healed_at: Instant,
        end: Instant,
        timeout: Duration,
    ) {
        self.check(checkers::checks::answered::NAME, || {
            let from = healed_at + settings.grace;
            check_answered_with(history, from, end, timeout, &settings.accept)
        });
    }

    /// The run, finished, with the checks it performed.
    pub fn finish<M: Message, T: Timer, O: Observation>(
        self,
        sim: Simulation<M, T, O>,
        plan: &Plan,
        derived: &Metrics,
        history: checkers::History,
    ) -> crate::Run {
        let mut run = finish(sim, plan, self.verdict, derived, history);
        run.checked = self.performed;
        run
    }
}

/// A scenario's workload parameters, as a plan holds them.
pub trait Workload: serde::de::DeserializeOwned {
    /// Checks every field against the limits of `sim::limits` (an error names the field,
    /// `workload.timeout`, and its limit).
    fn validate(&self) -> Result<(), String>;
}

/// The check every run passes before it starts: the plan against the limits
/// (`Plan::validate`), then its workload section parsed and checked. Scenarios call it first
/// in `run`, before any node exists.
pub fn workload<W: Workload>(plan: &Plan) -> Result<W, String> {
    plan.validate()?;
    let workload: W = serde_path_to_error::deserialize(plan.workload.clone())
        .map_err(|e| sim::plan::field_error(e, "workload."))?;
    workload.validate()?;
    Ok(workload)
}

/// The nodes of a run: `servers` and `clients` together within
/// `sim::limits::WORKLOAD_NODES_MAX`, at least one server.
pub fn check_nodes(servers: u64, clients: u64) -> Result<(), String> {
    limits::count("workload.servers", servers, 1, limits::WORKLOAD_NODES_MAX)?;
    limits::count(
        "servers and clients together",
        servers + clients,
        1,
        limits::WORKLOAD_NODES_MAX,
    )
}

/// Runs the safety phase (the plan's faults) and then the liveness phase (every fault
/// healed). Returns the time the liveness phase began.
pub fn run_phases<M: Message, T: Timer, O: Observation>(
    sim: &mut Simulation<M, T, O>,
    plan: &Plan,
) -> Instant {
    start_phases(sim, plan);
    end_phases(sim, plan)
}

/// Schedules the plan's faults and begins the safety phase; a scenario that watches the run
/// on its way (`Simulation::run_until_condition`) then calls [`end_phases`].
pub fn start_phases<M: Message, T: Timer, O: Observation>(
    sim: &mut Simulation<M, T, O>,
    plan: &Plan,
) {
    let safety_end = Instant::ZERO + plan.safety_duration;
    for scheduled in plan.faults.iter().filter(|f| f.at < safety_end) {
        sim.schedule(scheduled.at, scheduled.fault.clone());
    }
    sim.begin_phase("safety");
}

/// Runs to the end of the safety phase, heals every fault and runs the liveness phase.
/// Returns the time the liveness phase began.
pub fn end_phases<M: Message, T: Timer, O: Observation>(
    sim: &mut Simulation<M, T, O>,
    plan: &Plan,
) -> Instant {
    let safety_end = Instant::ZERO + plan.safety_duration;
    sim.run_until(safety_end);
    sim.heal_all();
    let healed_at = sim.now();
    sim.run_until(healed_at + plan.liveness_duration);
    healed_at
}

/// Liveness of a request/response workload, the `answered-after-heal` checker: every operation
/// invoked after `healed_at`, early enough to have been answered within `timeout` before the run
/// ended, completed with one of `answers` (a definite `fail` is an answer where a scenario lets
/// the protocol refuse).
fn check_answered_with(
    history: &checkers::History,
    healed_at: Instant,
    end: Instant,
    timeout: Duration,
    answers: &[EventKind],
) -> Verdict {
    let found = checkers::check_answered_with(
        history,
        nanos(healed_at.as_nanos()),
        nanos(end.as_nanos()),
        nanos(timeout.as_nanos()),
        answers,
    );
    verdict_of(checkers::checks::answered::NAME, found.map(|a| a.violation))
}

/// Virtual nanoseconds as the checkers count them (a run is far shorter than 292 years).
pub fn nanos(time: u64) -> i64 {
    i64::try_from(time).unwrap_or(i64::MAX)
}

/// The run's history, moved out of the simulation for the checks (the `checkers` crate holds
/// the same events: one history type, nothing copied); `finish` puts it in the run.
pub fn take_history<M: Message, T: Timer, O: Observation>(
    sim: &mut Simulation<M, T, O>,
) -> checkers::History {
    checkers::History::from_events(sim.take_history())
}

/// A history checker's finding as a verdict: its violation with the checker's name and time,
/// or a malformed history (a safety failure: the clients wrote it).
pub fn verdict_of(
    checker: &str,
    found: Result<Option<checkers::Violation>, checkers::HistoryError>,
) -> Verdict {
    let violation = match found {
        Ok(None) => return Verdict::pass(),
        Ok(Some(violation)) => violation,
        Err(error) => {
            return Verdict::fail(
                sim::Outcome::Safety,
                format!("the history is malformed: {error}"),
            )
            .by(checker);
        }
    };
    let outcome = match violation.property {
        checkers::Property::Safety => sim::Outcome::Safety,
        checkers::Property::Liveness => sim::Outcome::Liveness,
        checkers::Property::Unknown => sim::Outcome::Unknown,
    };
    let verdict = Verdict::fail(outcome, violation.message).by(violation.checker);
    match violation.time.and_then(|t| u64::try_from(t).ok()) {
        Some(time) => verdict.at(Instant::from_nanos(time)),
        None => verdict,
    }
}

/// The memo the linearizability search may use per key before it answers `unknown`. A memory
/// bound, not a time bound, so the verdict stays a function of the seed.
const CHECKER_MEMORY_BYTES_MAX: usize = 512 << 20;

/// Checks a history for linearizability against a built-in model of the `checkers` crate.
pub fn check_linearizable(history: &checkers::History, model: checkers::BuiltinModel) -> Verdict {
    let verdict = linearizable(history, model);
    verdict.by(checkers::registry::LINEARIZABLE)
}

fn linearizable(history: &checkers::History, model: checkers::BuiltinModel) -> Verdict {
    let limits = checkers::Limits {
        duration_max: None,
        memory_bytes_max: Some(CHECKER_MEMORY_BYTES_MAX),
    };
    match model.check(history, &limits) {
        Err(error) => Verdict::fail(
            sim::Outcome::Safety,
            format!("the history is malformed: {error}"),
        ),
        Ok(report) => match report.verdict {
            checkers::Verdict::Linearizable => Verdict::pass(),
            checkers::Verdict::NotLinearizable => {
                // The explanation starts with "not linearizable: KEY".
                let explanation = report
                    .explain()
                    .unwrap_or_else(|| "not linearizable".to_owned());
                let verdict = Verdict::fail(
                    sim::Outcome::Safety,
                    format!(
                        "{}  (history lines are those of the file `replay --history` writes)",
                        name_history_lines(&explanation, history.events())
                    ),
                );
                match blocked_at(&report, history.events()) {
                    Some(time) => verdict.at(time),
                    None => verdict,
                }
            }
            checkers::Verdict::Unknown => Verdict::fail(
                sim::Outcome::Unknown,
                report
                    .explain()
                    .unwrap_or_else(|| "the checker's limit ran out".to_string()),
            ),
        },
    }
}

/// When the operation that cannot be linearized returned.
fn blocked_at(report: &checkers::Report, history: &[HistoryEvent]) -> Option<Instant> {
    let failure = report.failing_part()?.failure.as_ref()?;
    let operation = report.operations.get(failure.blocked)?;
    let position = operation.return_position.unwrap_or(operation.call_position);
    history.get(position).map(HistoryEvent::time)
}

/// The checker numbers events as lines (`(lines 10-14)`, `(line 10-end)`) of a history that,
/// in a simulation, is a file only if `replay --history` writes it: says so, and adds the
/// virtual times, which find the operation in the trace.
fn name_history_lines(text: &str, history: &[HistoryEvent]) -> String {
    let time = |line: &str| {
        let index = line.parse::<usize>().ok()?.checked_sub(1)?;
        history.get(index).map(|r| r.time().to_string())
    };
    let describe = |inner: &str| -> Option<String> {
        let range = inner
            .strip_prefix("lines ")
            .or_else(|| inner.strip_prefix("line "))?;
        let (first, last) = range.split_once('-')?;
        let invoked = time(first)?;
        if last == "end" {
            return Some(format!(
                "(history line {first}, invoked at {invoked}, never completed)"
            ));
        }
        Some(format!(
            "(history lines {first}-{last}, at {invoked} to {})",
            time(last)?
        ))
    };
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("(line") {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let Some(end) = tail.find(')') else {
            rest = tail;
            break;
        };
        match describe(&tail[1..end]) {
            Some(replacement) => out.push_str(&replacement),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time_millis: i64) -> HistoryEvent {
        HistoryEvent::invoke(1, "read", serde_json::Value::Null).with_time(time_millis * 1_000_000)
    }

    // Goal: a verdict never names bare "lines" of a file nobody wrote. Method: an explanation
    // as the checker writes it, rewritten against a three-event history.
    #[test]
    fn explanations_name_history_lines_and_times() {
        let history = [record(10), record(20), record(30)];
        let text =
            "cannot be placed next: p1 read -> 3 (lines 2-3)\n  p2 write 1 -> info (line 1-end)\n";
        let named = name_history_lines(text, &history);
        assert_eq!(
            named,
            "cannot be placed next: p1 read -> 3 (history lines 2-3, at 0.020000s to 0.030000s)\n  \
             p2 write 1 -> info (history line 1, invoked at 0.010000s, never completed)\n"
        );
        // Lines outside the history, and text that only looks like one, stay as they are.
        assert_eq!(name_history_lines("(lines 7-9)", &history), "(lines 7-9)");
        assert_eq!(name_history_lines("(line", &history), "(line");
    }
}
