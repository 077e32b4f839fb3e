//! Goal: the RPC layer's client and server state machines do what they promise (the counter
//! check and its subset sum are tested in `checkers/tests/checks.rs`). Method: a tiny host (a
//! server that doubles numbers, a client that calls it on a clock) runs through a server
//! pause in the simulator, and its completions, breaker and deduplication table are checked
//! through what the two nodes report; the overload scenario's per-second table is read back.

use protocols::rpc::{
    BreakerConfig, BreakerState, CallOptions, Certainty, ClientConfig, ClientTimer, ErrorKind,
    RetryPolicy, RpcClient, RpcError, RpcMessage, RpcServer, ServerConfig, ServerTimer,
};
use sim::{
    Config, Context, Duration, Fault, Instant, Latency, LinkConfig, Node, NodeId, Simulation,
    TraceLevel,
};
use std::collections::BTreeMap;

// --- the library, in a tiny host --------------------------------------------------------------

type Msg = RpcMessage<u64, u64>;

#[derive(
    Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
enum Timer {
    Rpc(ClientTimer),
    Server(ServerTimer),
    Next,
}

impl From<ClientTimer> for Timer {
    fn from(timer: ClientTimer) -> Timer {
        Timer::Rpc(timer)
    }
}

impl From<ServerTimer> for Timer {
    fn from(timer: ServerTimer) -> Timer {
        Timer::Server(timer)
    }
}

/// A circuit breaker's state as the caller reports it (`BreakerState` with the open state's
/// end in nanoseconds of the caller's clock).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
enum Breaker {
    Closed { failures: u32 },
    Open { until_nanos: u64 },
    HalfOpen { probe: u64 },
}

impl From<BreakerState> for Breaker {
    fn from(state: BreakerState) -> Breaker {
        match state {
            BreakerState::Closed { failures } => Breaker::Closed { failures },
            BreakerState::Open { until } => Breaker::Open {
                until_nanos: until.as_nanos(),
            },
            BreakerState::HalfOpen { probe } => Breaker::HalfOpen { probe },
        }
    }
}

/// What the tiny host's nodes report.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
enum Report {
    /// The doubler ran call `call`.
    Ran { call: u64 },
    /// The doubler's deduplication table holds `replies` replies, after a handler.
    Stored { replies: usize },
    /// One of the caller's calls ended.
    Done(Done),
    /// The caller's state after a handler: calls outstanding, and the doubler's breaker.
    Caller {
        outstanding: usize,
        breaker: Breaker,
    },
}

type HostContext<'a> = Context<'a, Msg, Timer, Report>;

/// Doubles its argument after 1ms, and reports each call it runs.
struct Doubler {
    rpc: RpcServer<u64, u64>,
}

impl Doubler {
    fn report_stored(&self, ctx: &mut HostContext<'_>) {
        let replies = self.rpc.stored_replies();
        ctx.observe(Report::Stored { replies });
    }
}

impl Node for Doubler {
    type Message = Msg;
    type Timer = Timer;
    type Observation = Report;
    fn on_start(&mut self, ctx: &mut HostContext<'_>) {
        self.rpc.start(ctx);
    }
    fn on_message(&mut self, ctx: &mut HostContext<'_>, from: NodeId, message: Msg) {
        if let RpcMessage::Request(request) = message {
            self.rpc
                .on_request(ctx, from, request, Duration::from_millis(1));
            self.report_stored(ctx);
        }
    }
    fn on_timer(&mut self, ctx: &mut HostContext<'_>, timer: Timer) {
        if let Timer::Server(timer) = timer {
            self.rpc.on_timer(ctx, timer, |ctx, request| {
                ctx.observe(Report::Ran { call: request.call });
                request.body * 2
            });
            self.report_stored(ctx);
        }
    }
}

/// A call's end; `at` is when the caller learned of it, read from the observation's record.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
struct Done {
    argument: u64,
    result: Result<u64, RpcError>,
    attempts: u32,
}

/// Calls the doubler every `period` with 0, 1, 2, ...; cancels each call at once if asked.
struct Caller {
    rpc: RpcClient<u64, u64, u64>,
    server: NodeId,
    period: Duration,
    calls_left: u64,
    cancel_at_once: bool,
    /// Calls ended so far.
    done: u64,
}

impl Caller {
    fn record(
        &mut self,
        ctx: &mut HostContext<'_>,
        argument: u64,
        result: Result<u64, RpcError>,
        attempts: u32,
    ) {
        self.done += 1;
        ctx.observe(Report::Done(Done {
            argument,
            result,
            attempts,
        }));
    }

    fn report_state(&self, ctx: &mut HostContext<'_>) {
        ctx.observe(Report::Caller {
            outstanding: self.rpc.outstanding(),
            breaker: self.rpc.breaker(self.server).into(),
        });
    }
}

impl Node for Caller {
    type Message = Msg;
    type Timer = Timer;
    type Observation = Report;
    fn on_start(&mut self, ctx: &mut HostContext<'_>) {
        self.rpc.start(ctx);
        ctx.set_timer(self.period, Timer::Next);
        self.report_state(ctx);
    }
    fn on_message(&mut self, ctx: &mut HostContext<'_>, from: NodeId, message: Msg) {
        if let RpcMessage::Reply(reply) = message
            && let Some(done) = self.rpc.on_reply(ctx, from, reply)
        {
            self.record(ctx, done.tag, done.result, done.attempts);
        }
        self.report_state(ctx);
    }
    fn on_timer(&mut self, ctx: &mut HostContext<'_>, timer: Timer) {
        match timer {
            Timer::Rpc(timer) => {
                if let Some(done) = self.rpc.on_timer(ctx, timer) {
                    self.record(ctx, done.tag, done.result, done.attempts);
                }
            }
            Timer::Next => {
                let argument = self.done + self.rpc.outstanding() as u64;
                let options = CallOptions {
                    deadline: Duration::from_millis(200),
                    exactly_once: true,
                    idempotent: false,
                };
                match self.rpc.call(ctx, self.server, argument, options, argument) {
                    Ok(call) if self.cancel_at_once => {
                        let done = self.rpc.cancel(ctx, call).expect("the call is outstanding");
                        self.record(ctx, done.tag, done.result, done.attempts);
                    }
                    Ok(_) => {}
                    Err(refused) => self.record(ctx, refused.tag, Err(refused.error), 0),
                }
                self.calls_left -= 1;
                if self.calls_left > 0 {
                    ctx.set_timer(self.period, Timer::Next);
                }
            }
            Timer::Server(_) => unreachable!(),
        }
        self.report_state(ctx);
    }
}

/// What the tiny host reported, sorted out by kind.
struct Reports {
    /// Each call's end, with when the caller learned of it.
    done: Vec<(Instant, Done)>,
    /// How often each call ran.
    runs: BTreeMap<u64, u32>,
    /// The most replies the doubler's table ever held.
    stored_max: usize,
    /// The caller's last reported state.
    caller: Option<(usize, Breaker)>,
}

fn reports(sim: &Simulation<Msg, Timer, Report>, server: NodeId, client: NodeId) -> Reports {
    let mut reports = Reports {
        done: Vec::new(),
        runs: BTreeMap::new(),
        stored_max: 0,
        caller: None,
    };
    for record in sim.observations() {
        let from = if matches!(
            record.observation,
            Report::Ran { .. } | Report::Stored { .. }
        ) {
            server
        } else {
            client
        };
        assert_eq!(record.node, from, "{record:?}");
        assert_eq!(record.incarnation, 0, "nothing crashes: {record:?}");
        match &record.observation {
            Report::Ran { call } => *reports.runs.entry(*call).or_insert(0) += 1,
            Report::Stored { replies } => reports.stored_max = reports.stored_max.max(*replies),
            Report::Done(done) => reports.done.push((record.time, done.clone())),
            Report::Caller {
                outstanding,
                breaker,
            } => reports.caller = Some((*outstanding, *breaker)),
        }
    }
    reports
}

const WINDOW: u64 = 32;

fn tiny(
    seed: u64,
    cancel_at_once: bool,
    calls: u64,
) -> (Simulation<Msg, Timer, Report>, NodeId, NodeId) {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut sim = Simulation::new(Config::new(seed, link.clone(), link));
    let server_config = ServerConfig {
        workers: 2,
        queue_capacity: 16,
        sessions_max: 4,
        window_max: WINDOW,
        gauge_period: None,
    };
    let server = sim.add_node(move |_| Doubler {
        rpc: RpcServer::new(server_config.clone()),
    });
    let client_config = ClientConfig {
        channel: 0,
        calls_max: 30,
        window_max: WINDOW,
        retry: RetryPolicy {
            attempts_max: 4,
            attempt_timeout: Duration::from_millis(20),
            backoff_initial: Duration::from_millis(5),
            backoff_max: Duration::from_millis(40),
            jitter: true,
            budget: None,
        },
        breaker: Some(BreakerConfig {
            failures_to_open: 3,
            cooldown: Duration::from_millis(100),
        }),
    };
    let client = sim.add_client(move |_| Caller {
        rpc: RpcClient::new(client_config.clone()),
        server,
        period: Duration::from_millis(10),
        calls_left: calls,
        cancel_at_once,
        done: 0,
    });
    (sim, server, client)
}

// A paused server: calls under way time out and end indefinite; the breaker opens and refuses
// new calls at once, definitely; once the server resumes, a probe closes the breaker and calls
// succeed again. Through it all no call runs twice, and the table stays within its window.
#[test]
fn breaker_opens_while_the_server_is_paused_and_closes_after() {
    for seed in 0..5 {
        let (mut sim, server, client) = tiny(seed, false, 100);
        let at = |millis| Instant::ZERO + Duration::from_millis(millis);
        sim.schedule(at(300), Fault::Pause(server));
        sim.schedule(at(600), Fault::Resume(server));
        sim.run_until(at(1_400));
        let reports = reports(&sim, server, client);
        assert_eq!(reports.done.len(), 100, "seed {seed}: every call ended");
        let arguments: std::collections::BTreeSet<u64> =
            reports.done.iter().map(|(_, d)| d.argument).collect();
        assert_eq!(
            arguments,
            (0..100).collect(),
            "seed {seed}: each call ended once"
        );
        let (outstanding, breaker) = reports.caller.expect("the caller reports its state");
        assert_eq!(outstanding, 0);
        let during = |(at_, _): &&(Instant, Done)| *at_ > at(300) && *at_ <= at(600);
        let refused: Vec<&Done> = reports
            .done
            .iter()
            .filter(during)
            .map(|(_, d)| d)
            .filter(|d| d.attempts == 0)
            .collect();
        assert!(
            !refused.is_empty(),
            "seed {seed}: the open breaker refused calls"
        );
        for d in &refused {
            let error = d.result.unwrap_err();
            assert_eq!(
                (error.kind, error.certainty),
                (ErrorKind::CircuitOpen, Certainty::Definite),
                "seed {seed}: {d:?}"
            );
        }
        let sent_and_failed: Vec<&Done> = reports
            .done
            .iter()
            .filter(during)
            .map(|(_, d)| d)
            .filter(|d| d.attempts > 0)
            .collect();
        assert!(
            !sent_and_failed.is_empty(),
            "seed {seed}: calls under way at the pause failed"
        );
        assert!(
            sent_and_failed
                .iter()
                .all(|d| d.result.unwrap_err().certainty == Certainty::Indefinite)
        );
        for (_, d) in reports
            .done
            .iter()
            .filter(|(at_, _)| *at_ < at(300) || *at_ > at(800))
        {
            assert_eq!(
                d.result,
                Ok(d.argument * 2),
                "seed {seed}: calls away from the pause succeed: {d:?}"
            );
        }
        assert_eq!(breaker, Breaker::Closed { failures: 0 });
        assert!(
            reports.runs.values().all(|&n| n == 1),
            "seed {seed}: no call ran twice"
        );
        assert!(
            reports.stored_max > 0 && reports.stored_max as u64 <= WINDOW,
            "seed {seed}: the table stayed within its window: {}",
            reports.stored_max
        );
        let ok = reports
            .done
            .iter()
            .filter(|(_, d)| d.result.is_ok())
            .count();
        assert!(reports.runs.len() >= ok, "seed {seed}: every ok call ran");
        assert!(sim.metrics().counter("rpc-breaker-opened") >= 1);
    }
}

// A call cancelled right after its attempt left may still run: indefinite. Its reply, when it
// comes, belongs to no call and is counted as late.
#[test]
fn cancelled_calls_are_indefinite_and_their_replies_late() {
    let (mut sim, server, client) = tiny(7, true, 10);
    sim.run_until(Instant::ZERO + Duration::from_millis(300));
    let reports = reports(&sim, server, client);
    assert_eq!(reports.done.len(), 10);
    for (_, d) in &reports.done {
        assert_eq!(d.attempts, 1);
        let error = d.result.unwrap_err();
        assert_eq!(
            (error.kind, error.certainty),
            (ErrorKind::Cancelled, Certainty::Indefinite)
        );
    }
    assert_eq!(reports.runs.len(), 10, "cancelled calls still ran");
    assert_eq!(sim.metrics().counter("rpc-replies-late"), 10);
}

// --- the overload scenario's table ------------------------------------------------------------

// `replay` prints a row per second, with the server's queue from the time series it emits
// (`Context::series`): a run that keeps only its trace hash has them.
#[test]
fn overload_summary_has_a_row_per_second() {
    let scenario = scenarios::find("rpc-overload").unwrap();
    let run = faultline_toolbox::run_seed(scenario, 0, None, TraceLevel::Hash).unwrap();
    assert!(
        run.report.verdict.is_pass(),
        "{}",
        run.report.verdict.message
    );
    let table = scenario.summary(&run);
    let rows: Vec<&str> = table.lines().skip(3).collect();
    assert_eq!(rows.len(), 16, "{table}");
    for (second, row) in rows.iter().enumerate() {
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns[0], second.to_string(), "{table}");
        assert!(
            columns[8].parse::<u64>().is_ok(),
            "second {second} has a queue length: {table}"
        );
    }
    let queue_max: Vec<u64> = rows
        .iter()
        .map(|r| r.split_whitespace().nth(9).unwrap().parse().unwrap())
        .collect();
    // The spike fills most of the 400-call queue (the breakers cut it short); by the end it has
    // drained.
    assert!(queue_max.iter().max().is_some_and(|&m| m >= 300), "{table}");
    assert!(queue_max[15] < 50, "{table}");
}
