//! A key-value workload client that any key-value protocol can plug into: each logical
//! process issues get, put and append operations on a few keys, one at a time, records them in
//! the history (the `kv` model of `../shared/formats/history.md`), and gives up after a
//! timeout (an indeterminate `info`). A protocol adapts its own message and timer types through
//! [`KvProtocol`].

use crate::processes::Processes;
use faultline_api::history::EventKind;
use faultline_api::ops::{OpCursor, Script, WrittenOp};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Message, Node, NodeId};
use std::marker::PhantomData;

/// A key-value operation.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KvOp {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key } | KvOp::Put { key, .. } | KvOp::Append { key, .. } => key,
        }
    }

    /// The history's `f`.
    pub fn f(&self) -> &'static str {
        match self {
            KvOp::Get { .. } => "get",
            KvOp::Put { .. } => "put",
            KvOp::Append { .. } => "append",
        }
    }

    /// The operation a plan spells out: `get` with a key, `put` or `append` with a key and a
    /// string value.
    pub fn from_written(op: &WrittenOp) -> Result<KvOp, String> {
        let key = op
            .key
            .clone()
            .ok_or_else(|| format!("a kv operation needs a key, `{}` has none", op.f))?;
        let value = || {
            op.value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{}` needs a string value, not {}", op.f, op.value))
        };
        match op.f.as_str() {
            "get" => Ok(KvOp::Get { key }),
            "put" => Ok(KvOp::Put {
                key,
                value: value()?,
            }),
            "append" => Ok(KvOp::Append {
                key,
                value: value()?,
            }),
            f => Err(format!(
                "unknown kv operation `{f}`; valid operations: get, put, append"
            )),
        }
    }
}

/// How a server answered.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KvReply {
    /// A get's value (`""` for a missing key).
    Value(String),
    /// A put or append took effect.
    Done,
    /// The operation certainly did not take effect (recorded `fail`), with the reason.
    Failed(String),
}

/// Client-side timers, wrapped into the protocol's timer type.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ClientTimer {
    Think { process: usize },
    Timeout { process: usize, request: u64 },
}

/// How a protocol's messages carry the client's requests and replies. The client's timers are
/// its own (`ClientTimer`); a simulation that holds clients and servers with timers of their own
/// composes them with `faultline_api::Either`.
pub trait KvProtocol: 'static {
    type Message: Message;
    fn request(request: u64, op: KvOp) -> Self::Message;
    /// The request id and reply, if the message is a reply to a client.
    fn reply(message: Self::Message) -> Option<(u64, KvReply)>;
}

#[derive(Clone, Debug)]
pub struct KvClientConfig {
    pub servers: Vec<NodeId>,
    pub processes: usize,
    pub first_process: u64,
    pub key_count: usize,
    pub think_mean: Duration,
    pub timeout: Duration,
    /// Stop issuing operations after this local time (the scenario's end of load).
    pub stop_after: Duration,
    /// Which operations run, and any spelled out (checked with `KvOp::from_written`).
    pub script: Script,
}

#[derive(Clone)]
struct Pending {
    op: KvOp,
    sent_at: Instant,
}

/// The workload client.
pub struct KvClient<P> {
    config: KvClientConfig,
    processes: Processes<Pending>,
    ops: OpCursor,
    protocol: PhantomData<P>,
}

impl<P: KvProtocol> KvClient<P> {
    pub fn new(config: KvClientConfig) -> KvClient<P> {
        assert!(!config.servers.is_empty() && config.processes > 0 && config.key_count > 0);
        KvClient {
            processes: Processes::new(config.processes),
            ops: OpCursor::new(config.first_process, config.processes, &config.script),
            config,
            protocol: PhantomData,
        }
    }

    fn process_id(&self, process: usize) -> u64 {
        self.config.first_process + process as u64
    }

    fn think(&mut self, ctx: &mut Context<'_, P::Message, ClientTimer>, process: usize) {
        let mean = self.config.think_mean;
        let Some(pause) = self.ops.think_exponential(ctx, process, mean) else {
            return;
        };
        ctx.set_timer(pause, ClientTimer::Think { process });
    }

    fn issue(&mut self, ctx: &mut Context<'_, P::Message, ClientTimer>, process: usize) {
        if ctx.now() >= Instant::ZERO + self.config.stop_after {
            return;
        }
        let id = self.process_id(process);
        let Some(taken) = self.ops.take(process) else {
            return;
        };
        let mut rng = ctx.keyed_rng(taken.key);
        let op = match taken.written {
            Some(written) => KvOp::from_written(written).expect("checked with the plan"),
            None => {
                let key = format!("k{}", rng.below(self.config.key_count as u64));
                // Values are unique, so the checker can tell every write apart.
                let value = format!("{id}.{}", taken.index + 1);
                // Mostly gets and puts: an indeterminate append can land anywhere, and each
                // one multiplies the orders the checker must consider.
                match rng.below(10) {
                    0..=4 => KvOp::Get { key },
                    5..=8 => KvOp::Put { key, value },
                    _ => KvOp::Append {
                        key,
                        value: format!("{value};"),
                    },
                }
            }
        };
        let request = self.processes.next_request(process);
        let argument = match &op {
            KvOp::Get { .. } => serde_json::Value::Null,
            KvOp::Put { value, .. } | KvOp::Append { value, .. } => value.clone().into(),
        };
        ctx.invoke(self.process_id(process), op.f(), Some(op.key()), argument);
        let server = *rng
            .choose(&self.config.servers)
            .expect("servers is not empty");
        let pending = Pending {
            op: op.clone(),
            sent_at: ctx.now(),
        };
        self.processes.wait(process, request, pending);
        ctx.send(server, P::request(request, op));
        let timeout = ClientTimer::Timeout { process, request };
        ctx.set_timer(self.config.timeout, timeout);
    }
}

impl<P: KvProtocol> Node for KvClient<P> {
    type Message = P::Message;
    type Timer = ClientTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, P::Message, ClientTimer>) {
        for process in 0..self.config.processes {
            self.think(ctx, process);
        }
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, P::Message, ClientTimer>,
        _from: NodeId,
        message: P::Message,
    ) {
        let Some((request, reply)) = P::reply(message) else {
            return;
        };
        let Some((process, pending)) = self.processes.finish(request) else {
            ctx.count("late-replies", 1);
            return;
        };
        let (f, key) = (pending.op.f(), pending.op.key().to_string());
        let id = self.process_id(process);
        match reply {
            KvReply::Value(value) => {
                assert_eq!(f, "get", "only a get returns a value");
                ctx.complete(id, EventKind::Ok, f, Some(&key), value.into());
            }
            KvReply::Done => {
                assert_ne!(f, "get", "a get returns a value");
                ctx.complete(id, EventKind::Ok, f, Some(&key), serde_json::Value::Null);
            }
            KvReply::Failed(reason) => {
                ctx.count("failed-ops", 1);
                ctx.complete(id, EventKind::Fail, f, Some(&key), reason.into());
            }
        }
        ctx.sample("kv-latency", ctx.now().saturating_since(pending.sent_at));
        self.think(ctx, process);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, P::Message, ClientTimer>, timer: ClientTimer) {
        match timer {
            ClientTimer::Think { process } => self.issue(ctx, process),
            ClientTimer::Timeout { process, request } => {
                if let Some((_, pending)) = self.processes.finish(request) {
                    ctx.count("timeouts", 1);
                    let id = self.process_id(process);
                    let key = pending.op.key().to_string();
                    ctx.complete(
                        id,
                        EventKind::Info,
                        pending.op.f(),
                        Some(&key),
                        serde_json::Value::Null,
                    );
                    self.think(ctx, process);
                }
            }
        }
    }
}
