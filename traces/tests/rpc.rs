//! Goal: the trace of the RPC layer's central story stays exactly as reviewed: a call whose
//! reply is lost times out, is retried with the same idempotency key, and is answered from the
//! server's deduplication table instead of running twice. Method: shorten an `rpc-unreliable`
//! plan to one client process on a loss-free network, and script the loss: the server's link
//! to the client drops everything until 720ms, just after this seed's first `add` (at 690ms),
//! so its reply is lost, and the retry (after the 60ms attempt timeout and a jittered backoff)
//! finds the link restored. A 300ms call deadline keeps the liveness phase short.

use sim::{Duration, Fault, Instant, LinkConfig, NodeId, Plan, ScheduledFault, TraceLevel};

fn plan() -> Plan {
    let scenario = scenarios::find("rpc-unreliable").expect("a built-in scenario");
    let mut plan = scenario.plan(1, None);
    plan.safety_duration = Duration::from_millis(780);
    plan.liveness_duration = Duration::from_millis(1200);
    plan.workload["clients"] = 1.into();
    plan.workload["processes_per_client"] = 1.into();
    plan.workload["think_mean"] = "200ms".into();
    plan.workload["call_deadline"] = "300ms".into();
    plan.swarm.client_link.loss_ppm = 0;
    plan.swarm.client_link.duplicate_ppm = 0;
    let (server, client) = (NodeId(0), NodeId(1));
    let lossy = LinkConfig {
        loss_ppm: 1_000_000,
        ..plan.swarm.client_link.clone()
    };
    plan.faults = vec![
        ScheduledFault {
            at: Instant::ZERO,
            fault: Fault::Link {
                from: server,
                to: client,
                config: Some(lossy),
            },
        },
        ScheduledFault {
            at: Instant::ZERO + Duration::from_millis(720),
            fault: Fault::Link {
                from: server,
                to: client,
                config: None,
            },
        },
    ];
    plan
}

#[test]
fn timeout_retry_answered_from_the_dedup_table() {
    let plan = plan();
    let scenario = scenarios::find(&plan.scenario).expect("a built-in scenario");
    let run = scenario
        .run(&plan, TraceLevel::Record)
        .expect("a valid plan");
    let mut text = traces::render(run.trace.records());
    text.push_str(&format!(
        "-- verdict {:?}, {} events, hash {:016x}\n",
        run.report.verdict.outcome, run.report.event_count, run.report.trace_hash
    ));
    // The story, in the order it must happen; the snapshot holds the details.
    let steps = [
        "fire     t",
        "RpcTimeout #0 try 1",
        "Request n1.0#0 try 2",
        "ok replayed Added",
        "ok       p0 add",
    ];
    let mut from = 0;
    for step in steps {
        let at = text[from..]
            .find(step)
            .unwrap_or_else(|| panic!("`{step}` missing after byte {from}:\n{text}"));
        from += at;
    }
    assert!(
        run.report.verdict.is_pass(),
        "{}\n{text}",
        run.report.verdict.message
    );
    insta::assert_snapshot!(text);
}
