//! `echo`: three servers that answer every request with its payload, one client with a few
//! requests in flight, over a lossy, duplicating network with crashed and paused servers.
//! Safety: every reply equals its request. Liveness: once faults heal, every request is
//! answered.
//!
//! The scenario is `scenarios/specs/echo.toml`; this module is the `echo` workload's adapter
//! (the servers and the client of a run, and its checks).

use crate::registry::REPLIES_ECHO_REQUESTS;
use crate::spec::View;
use faultline_toolbox::harness::{self, Checks};
use faultline_toolbox::spec::{Adapter, File, Spec, SpecError, need, one_client};
use faultline_toolbox::{Run, switch_for};
use protocols::echo::{EchoClient, EchoClientConfig, EchoServer};
use serde::{Deserialize, Serialize};
use sim::limits;
use sim::{Config, Duration, Metrics, NodeId, Outcome, Plan, Rng, Simulation, TraceLevel, Verdict};

/// The adapter: echo servers and one echo client.
struct Echo {
    timeout: Duration,
}

/// Builds the adapter from a specification (`workload.kind = "echo"`).
pub(crate) fn build(file: &File) -> Result<Box<dyn Adapter>, SpecError> {
    let view = View::of(file)?;
    one_client(file, "echo")?;
    let timeout = need(&view.workload, "timeout", &view.workload.get_ref().timeout)?;
    Ok(Box::new(Echo {
        timeout: *timeout.get_ref(),
    }))
}

#[derive(Serialize, Deserialize)]
struct Workload {
    servers: u32,
    in_flight: usize,
    timeout: Duration,
}

impl harness::Workload for Workload {
    fn validate(&self) -> Result<(), String> {
        harness::check_nodes(u64::from(self.servers), 1)?;
        limits::count(
            "workload.in_flight",
            self.in_flight as u64,
            1,
            limits::PROCESSES_MAX,
        )?;
        limits::timeout("workload.timeout", self.timeout)
    }
}

impl Adapter for Echo {
    fn workload(&self, spec: &Spec, _rng: &mut Rng) -> serde_json::Value {
        let workload = Workload {
            servers: spec.servers,
            in_flight: spec.processes as usize,
            timeout: self.timeout,
        };
        serde_json::to_value(&workload).expect("a workload serializes")
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), String> {
        harness::workload::<Workload>(plan).map(|_| ())
    }

    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        let workload: Workload = harness::workload(plan)?;
        harness::check_operations(plan, None)?;
        // Echo plants no bugs: a plan that names one is refused.
        switch_for::<()>(spec.name, plan.bug.as_deref(), &[], ())?;
        let mut sim = Simulation::new(Config::for_plan(plan, level));
        let servers: Vec<NodeId> = (0..workload.servers)
            .map(|_| sim.add_node(|_| EchoServer::default()))
            .collect();
        let client_config = EchoClientConfig {
            servers,
            in_flight: workload.in_flight,
            round_trips_max: u64::MAX,
            timeout: Some(workload.timeout),
            record_history: true,
        };
        sim.add_client(move |_| EchoClient::new(client_config.clone()));
        harness::validate_faults(plan, &sim)?;

        let healed_at = harness::run_phases(&mut sim, plan);
        let history = harness::take_history(&mut sim);
        let echoes = EchoCheck::of(&history);
        let mut checks = Checks::new(&spec.checkers);
        checks.check(REPLIES_ECHO_REQUESTS, || match echoes.mismatches {
            0 => Verdict::pass(),
            mismatches => Verdict::fail(
                Outcome::Safety,
                format!("{mismatches} replies differed from their requests"),
            )
            .by(REPLIES_ECHO_REQUESTS),
        });
        checks.answered(
            &spec.answered,
            &history,
            healed_at,
            sim.now(),
            workload.timeout,
        );
        let mut derived = Metrics::default();
        derived.count("round-trips", echoes.round_trips);
        derived.count("timeouts", echoes.timeouts);
        Ok(checks.finish(sim, plan, &derived, history))
    }
}

/// What the history says of the echoes: replies that differ from their request (none may),
/// round trips, and requests that timed out.
struct EchoCheck {
    mismatches: u64,
    round_trips: u64,
    timeouts: u64,
}

impl EchoCheck {
    fn of(history: &checkers::History) -> EchoCheck {
        let mut check = EchoCheck {
            mismatches: 0,
            round_trips: 0,
            timeouts: 0,
        };
        let ops = checkers::pair(history).expect("the echo client writes a well-formed history");
        for op in ops {
            match (op.status, op.completion) {
                (checkers::EventKind::Ok, _) => {
                    check.round_trips += 1;
                    if op.result(history) != Some(op.argument(history)) {
                        check.mismatches += 1;
                    }
                }
                (checkers::EventKind::Info, Some(_)) => check.timeouts += 1,
                _ => {}
            }
        }
        check
    }
}
