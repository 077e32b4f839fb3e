//! Goal: the RPC layer's checkers and its client and server state machines do what they
//! promise. Method: the subset-sum search is compared with brute force on random inputs; the
//! counter check runs on small hand-written histories with known verdicts; a tiny host (a
//! server that doubles numbers, a client that calls it on a clock) runs through a server
//! pause in the simulator, and its completions, breaker and deduplication table are
//! inspected; the overload scenario's per-second table is read back.

use proptest::prelude::*;
use protocols::rpc::{
    BreakerConfig, BreakerState, CallOptions, Certainty, ClientConfig, ClientTimer, ErrorKind,
    RetryPolicy, RpcClient, RpcError, RpcMessage, RpcServer, ServerConfig, ServerTimer,
};
use scenarios::rpc::{check_counter, subset_sum};
use sim::{
    Config, Context, Duration, Fault, HistoryRecord, Instant, Latency, LinkConfig, Node, NodeId,
    OpStatus, Outcome, Simulation, TraceLevel,
};
use std::collections::BTreeMap;

// --- subset sum -------------------------------------------------------------------------------

fn brute_force(items: &[u64], target: u64) -> bool {
    (0u32..1 << items.len()).any(|mask| {
        let sum: u64 = items
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, &x)| x)
            .sum();
        sum == target
    })
}

proptest! {
    #[test]
    fn subset_sum_agrees_with_brute_force(items in prop::collection::vec(1u64..60, 0..13), target in 0u64..300) {
        prop_assert_eq!(subset_sum(&items, target, 40), Some(brute_force(&items, target)));
    }
}

#[test]
fn subset_sum_has_a_limit() {
    let items: Vec<u64> = (1..=41).collect();
    assert_eq!(
        subset_sum(&items, 100, 40),
        None,
        "41 usable items are over the limit"
    );
    // Items above the target cannot take part, so they do not count against the limit.
    let mut large = vec![1_000_000; 100];
    large.extend([3, 4]);
    assert_eq!(subset_sum(&large, 7, 40), Some(true));
    assert_eq!(subset_sum(&large, 5, 40), Some(false));
}

// --- the counter check ------------------------------------------------------------------------

/// `line` is `PROCESS TYPE F VALUE`, e.g. `0 invoke add 5` or `1 ok read 12`; `-` is null.
fn history(lines: &[&str]) -> Vec<HistoryRecord> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let status = match fields[1] {
                "invoke" => OpStatus::Invoke,
                "ok" => OpStatus::Ok,
                "fail" => OpStatus::Fail,
                "info" => OpStatus::Info,
                other => panic!("bad type {other}"),
            };
            HistoryRecord {
                process: fields[0].parse().unwrap(),
                status,
                f: fields[2].to_string(),
                key: None,
                value: if fields[3] == "-" {
                    serde_json::Value::Null
                } else {
                    fields[3].parse::<u64>().unwrap().into()
                },
                time: i as u64 * 1_000,
            }
        })
        .collect()
}

fn check(lines: &[&str], final_value: u64, expect: Outcome) {
    let verdict = check_counter(&history(lines), final_value);
    assert_eq!(
        verdict.outcome, expect,
        "{lines:?} final {final_value}: {}",
        verdict.message
    );
}

#[test]
fn counter_check_cases() {
    let acknowledged = [
        "0 invoke add 5",
        "0 ok add 5",
        "1 invoke add 7",
        "1 ok add 7",
    ];
    check(&acknowledged, 12, Outcome::Pass);
    check(&acknowledged, 17, Outcome::Safety); // an add applied twice
    check(&acknowledged, 7, Outcome::Safety); // an acknowledged add lost
    let indefinite = [
        "0 invoke add 5",
        "0 info add -",
        "1 invoke add 7",
        "1 ok add 7",
        "2 invoke add 9",
    ];
    check(&indefinite, 7, Outcome::Pass);
    check(&indefinite, 12, Outcome::Pass);
    check(&indefinite, 21, Outcome::Pass);
    check(&indefinite, 19, Outcome::Safety); // no subset of {5, 9} sums to 12
    let failed = [
        "0 invoke add 5",
        "0 fail add -",
        "1 invoke add 7",
        "1 ok add 7",
    ];
    check(&failed, 7, Outcome::Pass);
    check(&failed, 12, Outcome::Safety); // the failed add ran
    // Reads lie between what was acknowledged before they began and what might have run.
    let reads = [
        "0 invoke add 5",
        "0 ok add 5",
        "1 invoke read -",
        "2 invoke add 7",
        "1 ok read 12",
        "2 info add -",
    ];
    check(&reads, 12, Outcome::Pass);
    check(
        &[
            "0 invoke add 5",
            "0 ok add 5",
            "1 invoke read -",
            "1 ok read 3",
        ],
        5,
        Outcome::Safety,
    );
    check(
        &[
            "0 invoke add 5",
            "0 fail add -",
            "1 invoke read -",
            "1 ok read 5",
        ],
        0,
        Outcome::Safety,
    );
    let many: Vec<String> = (0..41)
        .flat_map(|p| {
            [
                format!("{p} invoke add {}", 100 + p),
                format!("{p} info add -"),
            ]
        })
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    check(&many, 1_000, Outcome::Unknown);
}

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

/// Doubles its argument after 1ms, and counts how often each call ran.
struct Doubler {
    rpc: RpcServer<u64, u64>,
    runs: BTreeMap<u64, u32>,
}

impl Node for Doubler {
    type Message = Msg;
    type Timer = Timer;
    fn on_start(&mut self, ctx: &mut Context<'_, Msg, Timer>) {
        self.rpc.start(ctx);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Msg, Timer>, from: NodeId, message: Msg) {
        if let RpcMessage::Request(request) = message {
            self.rpc
                .on_request(ctx, from, request, Duration::from_millis(1));
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Msg, Timer>, timer: Timer) {
        if let Timer::Server(timer) = timer {
            let runs = &mut self.runs;
            self.rpc.on_timer(ctx, timer, |_, request| {
                *runs.entry(request.call).or_insert(0) += 1;
                request.body * 2
            });
        }
    }
}

#[derive(Debug)]
struct Done {
    argument: u64,
    at: Instant,
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
    done: Vec<Done>,
}

impl Caller {
    fn record(
        &mut self,
        ctx: &mut Context<'_, Msg, Timer>,
        argument: u64,
        result: Result<u64, RpcError>,
        attempts: u32,
    ) {
        self.done.push(Done {
            argument,
            at: ctx.now(),
            result,
            attempts,
        });
    }
}

impl Node for Caller {
    type Message = Msg;
    type Timer = Timer;
    fn on_start(&mut self, ctx: &mut Context<'_, Msg, Timer>) {
        self.rpc.start(ctx);
        ctx.set_timer(self.period, Timer::Next);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Msg, Timer>, from: NodeId, message: Msg) {
        if let RpcMessage::Reply(reply) = message
            && let Some(done) = self.rpc.on_reply(ctx, from, reply)
        {
            self.record(ctx, done.tag, done.result, done.attempts);
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Msg, Timer>, timer: Timer) {
        match timer {
            Timer::Rpc(timer) => {
                if let Some(done) = self.rpc.on_timer(ctx, timer) {
                    self.record(ctx, done.tag, done.result, done.attempts);
                }
            }
            Timer::Next => {
                let argument = self.done.len() as u64 + self.rpc.outstanding() as u64;
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
    }
}

const WINDOW: u64 = 32;

fn tiny(seed: u64, cancel_at_once: bool, calls: u64) -> (Simulation<Msg, Timer>, NodeId, NodeId) {
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
        runs: BTreeMap::new(),
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
        done: Vec::new(),
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
        let caller = sim.node::<Caller>(client).unwrap();
        assert_eq!(caller.done.len(), 100, "seed {seed}: every call ended");
        assert_eq!(caller.rpc.outstanding(), 0);
        let during = |d: &&Done| d.at > at(300) && d.at <= at(600);
        let refused: Vec<&Done> = caller
            .done
            .iter()
            .filter(during)
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
        let sent_and_failed: Vec<&Done> = caller
            .done
            .iter()
            .filter(during)
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
        for d in caller
            .done
            .iter()
            .filter(|d| d.at < at(300) || d.at > at(800))
        {
            assert_eq!(
                d.result,
                Ok(d.argument * 2),
                "seed {seed}: calls away from the pause succeed: {d:?}"
            );
        }
        assert_eq!(
            caller.rpc.breaker(server),
            BreakerState::Closed { failures: 0 }
        );
        let doubler = sim.node::<Doubler>(server).unwrap();
        assert!(
            doubler.runs.values().all(|&n| n == 1),
            "seed {seed}: no call ran twice"
        );
        assert!(doubler.rpc.stored_replies() as u64 <= WINDOW);
        let ok = caller.done.iter().filter(|d| d.result.is_ok()).count();
        assert!(doubler.runs.len() >= ok, "seed {seed}: every ok call ran");
        assert!(sim.metrics().counter("rpc-breaker-opened") >= 1);
    }
}

// A call cancelled right after its attempt left may still run: indefinite. Its reply, when it
// comes, belongs to no call and is counted as late.
#[test]
fn cancelled_calls_are_indefinite_and_their_replies_late() {
    let (mut sim, server, client) = tiny(7, true, 10);
    sim.run_until(Instant::ZERO + Duration::from_millis(300));
    let caller = sim.node::<Caller>(client).unwrap();
    assert_eq!(caller.done.len(), 10);
    for d in &caller.done {
        assert_eq!(d.attempts, 1);
        let error = d.result.unwrap_err();
        assert_eq!(
            (error.kind, error.certainty),
            (ErrorKind::Cancelled, Certainty::Indefinite)
        );
    }
    assert_eq!(
        sim.node::<Doubler>(server).unwrap().runs.len(),
        10,
        "cancelled calls still ran"
    );
    assert_eq!(sim.metrics().counter("rpc-replies-late"), 10);
}

// --- the overload scenario's table ------------------------------------------------------------

// `replay` prints a row per second, with the server's queue read from the trace's gauge notes.
#[test]
fn overload_summary_has_a_row_per_second() {
    let scenario = scenarios::find("rpc-overload").unwrap();
    let run = scenarios::run_seed(scenario, 0, None, TraceLevel::Record).unwrap();
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
