//! The counter service of `rpc-unreliable`: `add` a positive amount (exactly once, through the
//! deduplication table) and `read` the total (idempotent, retried freely). The server reports
//! each `add` it applies, and the client each `add` it issues and how it ended
//! ([`CounterObservation`]), so a checker can say which increment went wrong and how.

use super::{
    ClientConfig, ClientTimer, Completion, ErrorKind, Request, RpcClient, RpcMessage, RpcServer,
    ServerConfig, ServerTimer,
};
use crate::rpc::{CallOptions, ClientId};
use faultline_api::history::EventKind;
use faultline_api::ops::{OpCursor, Script, WrittenOp};
use faultline_api::time::Duration;
use faultline_api::{Context, Node, NodeId};
use std::fmt;

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum CounterRequest {
    Add(u64),
    Read,
}

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum CounterResponse {
    Added,
    Value(u64),
}

pub type CounterMessage = RpcMessage<CounterRequest, CounterResponse>;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum CounterTimer {
    Rpc(ClientTimer),
    Server(ServerTimer),
    /// Process `process` is done thinking and issues its next operation.
    Think {
        process: usize,
    },
}

impl From<ClientTimer> for CounterTimer {
    fn from(timer: ClientTimer) -> CounterTimer {
        CounterTimer::Rpc(timer)
    }
}

impl From<ServerTimer> for CounterTimer {
    fn from(timer: ServerTimer) -> CounterTimer {
        CounterTimer::Server(timer)
    }
}

impl fmt::Debug for CounterTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterTimer::Rpc(timer) => timer.fmt(f),
            CounterTimer::Server(timer) => timer.fmt(f),
            CounterTimer::Think { process } => write!(f, "Think p{process}"),
        }
    }
}

/// Planted bugs, for proving that the checker can fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum CounterBug {
    #[default]
    None,
    /// `add` is sent without an idempotency key but still retried after timeouts (marked
    /// idempotent): a retry of an increment that ran applies it again.
    NoDedup,
    /// A timed-out `add` is recorded `fail`, though it may have run.
    TimeoutIsFailure,
}

/// What the counter's nodes report to checkers outside them: the ground truth of how often
/// each `add` ran, against what the client recorded of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum CounterObservation {
    /// The server started (or restarted): its counter is 0.
    Started,
    /// The server applied `add` call `call` of `client`; the counter is now `value`.
    Applied {
        client: ClientId,
        call: u64,
        amount: u64,
        value: u64,
    },
    /// A client issued `add` call `call` for history process `process`.
    AddIssued {
        client: ClientId,
        call: u64,
        process: u64,
        amount: u64,
    },
    /// The client recorded how that `add` ended (`ok`, `fail` or `info`).
    AddEnded {
        client: ClientId,
        call: u64,
        status: EventKind,
    },
}

/// The context of the counter nodes' handlers.
type Ctx<'a> = Context<'a, CounterMessage, CounterTimer, CounterObservation>;

pub struct CounterServer {
    rpc: RpcServer<CounterRequest, CounterResponse>,
    service_time: Duration,
    value: u64,
}

impl CounterServer {
    pub fn new(config: ServerConfig, service_time: Duration) -> CounterServer {
        CounterServer {
            rpc: RpcServer::new(config),
            service_time,
            value: 0,
        }
    }
}

impl Node for CounterServer {
    type Message = CounterMessage;
    type Timer = CounterTimer;
    type Observation = CounterObservation;

    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.observe(CounterObservation::Started);
        self.rpc.start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, message: CounterMessage) {
        if let RpcMessage::Request(request) = message {
            self.rpc.on_request(ctx, from, request, self.service_time);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: CounterTimer) {
        if let CounterTimer::Server(timer) = timer {
            // The closure borrows the counter's fields, the call the RPC layer: disjoint.
            self.rpc.on_timer(ctx, timer, |ctx, request| {
                apply(ctx, &mut self.value, request)
            });
        }
    }
}

/// Runs one call against the counter: this is when an `add` takes effect.
fn apply(ctx: &mut Ctx<'_>, value: &mut u64, request: &Request<CounterRequest>) -> CounterResponse {
    match request.body {
        CounterRequest::Add(amount) => {
            assert!(amount > 0, "increments are positive");
            *value = value
                .checked_add(amount)
                .expect("the counter fits in 64 bits");
            ctx.observe(CounterObservation::Applied {
                client: request.client,
                call: request.call,
                amount,
                value: *value,
            });
            CounterResponse::Added
        }
        CounterRequest::Read => CounterResponse::Value(*value),
    }
}

/// How a counter client behaves.
#[derive(Clone, Debug)]
pub struct CounterClientConfig {
    pub server: NodeId,
    /// Logical clients, each with one operation outstanding at most; history processes are
    /// numbered from `first_process`.
    pub processes: usize,
    pub first_process: u64,
    /// Mean pause between an operation's end and the next (exponential).
    pub think_mean: Duration,
    /// The share of operations that are `add`s; the rest are `read`s.
    pub add_percent: u64,
    /// Amounts are uniform in `1..=amount_max`.
    pub amount_max: u64,
    pub call_deadline: Duration,
    pub rpc: ClientConfig,
    pub bug: CounterBug,
    /// Which operations run, and any spelled out (checked with `CounterClient::add_of`).
    pub script: Script,
}

/// The process and the amount of an outstanding operation (`None` for a read).
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    process: usize,
    amount: Option<u64>,
}

pub struct CounterClient {
    config: CounterClientConfig,
    rpc: RpcClient<CounterRequest, CounterResponse, Pending>,
    ops: OpCursor,
}

impl CounterClient {
    pub fn new(config: CounterClientConfig) -> CounterClient {
        assert!(config.processes > 0);
        assert!(
            config.amount_max >= 1 && config.amount_max <= 1 << 40,
            "sums must fit the history's integers"
        );
        assert!(config.add_percent <= 100);
        CounterClient {
            rpc: RpcClient::new(config.rpc.clone()),
            ops: OpCursor::new(config.first_process, config.processes, &config.script),
            config,
        }
    }

    /// An operation a plan spells out: `add` of an amount in `1..=amount_max`
    /// (`Some(amount)`), or `read` (`None`); neither takes a key.
    pub fn add_of(op: &WrittenOp, max: u64) -> Result<Option<u64>, String> {
        if op.key.is_some() {
            return Err(format!("`{}` takes no key", op.f));
        }
        match op.f.as_str() {
            "add" => match op.value.as_u64() {
                Some(amount) if (1..=max).contains(&amount) => Ok(Some(amount)),
                _ => Err(format!(
                    "`add` needs an amount in 1..={max}, not {}",
                    op.value
                )),
            },
            "read" if op.value.is_null() => Ok(None),
            "read" => Err("`read` takes no value".to_string()),
            f => Err(format!(
                "unknown counter operation `{f}`; valid operations: add, read"
            )),
        }
    }

    fn think(&mut self, ctx: &mut Ctx<'_>, process: usize) {
        let mean = self.config.think_mean;
        let Some(pause) = self.ops.think_exponential(ctx, process, mean) else {
            return;
        };
        ctx.set_timer(pause, CounterTimer::Think { process });
    }

    fn issue(&mut self, ctx: &mut Ctx<'_>, process: usize) {
        let history_process = self.config.first_process + process as u64;
        let Some(op) = self.ops.take(process) else {
            return;
        };
        let mut rng = ctx.keyed_rng(op.key);
        let add = match op.written {
            Some(written) => CounterClient::add_of(written, self.config.amount_max)
                .expect("checked with the plan"),
            None => (rng.below(100) < self.config.add_percent)
                .then(|| rng.between(1, self.config.amount_max)),
        };
        let (body, amount, options) = if let Some(amount) = add {
            ctx.invoke(history_process, "add", None, amount.into());
            let no_dedup = self.config.bug == CounterBug::NoDedup;
            let options = CallOptions {
                deadline: self.config.call_deadline,
                exactly_once: !no_dedup,
                idempotent: no_dedup,
            };
            (CounterRequest::Add(amount), Some(amount), options)
        } else {
            ctx.invoke(history_process, "read", None, serde_json::Value::Null);
            let options = CallOptions {
                deadline: self.config.call_deadline,
                exactly_once: false,
                idempotent: true,
            };
            (CounterRequest::Read, None, options)
        };
        let pending = Pending { process, amount };
        match self
            .rpc
            .call(ctx, self.config.server, body, options, pending)
        {
            Ok(call) => {
                if let Some(amount) = amount {
                    ctx.observe(CounterObservation::AddIssued {
                        client: self.rpc.id(),
                        call: call.0,
                        process: history_process,
                        amount,
                    });
                }
            }
            Err(refused) => {
                assert!(refused.error.is_definite(), "nothing was sent");
                let f = if amount.is_some() { "add" } else { "read" };
                ctx.complete(
                    history_process,
                    EventKind::Fail,
                    f,
                    None,
                    serde_json::Value::Null,
                );
                self.think(ctx, process);
            }
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, done: Completion<CounterResponse, Pending>) {
        let Pending { process, amount } = done.tag;
        let history_process = self.config.first_process + process as u64;
        let f = if amount.is_some() { "add" } else { "read" };
        let (status, value) = match done.result {
            Ok(CounterResponse::Added) => {
                assert!(amount.is_some(), "only an add answers `added`");
                (EventKind::Ok, amount.into())
            }
            Ok(CounterResponse::Value(value)) => {
                assert!(amount.is_none(), "only a read answers a value");
                (EventKind::Ok, value.into())
            }
            Err(error) => {
                let timed_out =
                    matches!(error.kind, ErrorKind::Timeout | ErrorKind::DeadlineExceeded);
                // The planted bug reads "the call timed out" as "the call failed".
                let believed_definite =
                    self.config.bug == CounterBug::TimeoutIsFailure && timed_out;
                let status = if believed_definite || error.is_definite() {
                    EventKind::Fail
                } else {
                    EventKind::Info
                };
                (status, error.kind.as_str().into())
            }
        };
        ctx.complete(history_process, status, f, None, value);
        if amount.is_some() {
            ctx.observe(CounterObservation::AddEnded {
                client: self.rpc.id(),
                call: done.call.0,
                status,
            });
        }
        self.think(ctx, process);
    }
}

impl Node for CounterClient {
    type Message = CounterMessage;
    type Timer = CounterTimer;
    type Observation = CounterObservation;

    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.rpc.start(ctx);
        for process in 0..self.config.processes {
            self.think(ctx, process);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, message: CounterMessage) {
        if let RpcMessage::Reply(reply) = message
            && let Some(done) = self.rpc.on_reply(ctx, from, reply)
        {
            self.finish(ctx, done);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: CounterTimer) {
        match timer {
            CounterTimer::Rpc(timer) => {
                if let Some(done) = self.rpc.on_timer(ctx, timer) {
                    self.finish(ctx, done);
                }
            }
            CounterTimer::Think { process } => self.issue(ctx, process),
            CounterTimer::Server(_) => unreachable!("clients run no server"),
        }
    }
}
