//! A key-value workload client that any key-value protocol can plug into: each logical
//! process issues get, put, append and cas operations on a few keys, one at a time, records
//! them in the history (the `kv` model of `../shared/formats/history.md`, with `cas` as the
//! checkers extend it), and gives up after a timeout (an indeterminate `info`). A protocol
//! adapts its own message and timer types through [`KvProtocol`].
//!
//! For a replicated store the client also finds the leader: a server that is not the leader
//! answers `NotLeader` (with the leader it knows, if any), and the client sends the same
//! request again, to that leader at once or to the next server after a pause; an attempt
//! unanswered for `attempt_timeout` goes to the next server. A request keeps its id across
//! attempts, and the id with the process is the server's key for running it exactly once.

use crate::processes::Processes;
use faultline_api::history::EventKind;
use faultline_api::ops::{OpCursor, Script, WrittenOp};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Message, Node, NodeId};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// A key-value operation.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KvOp {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Append {
        key: String,
        value: String,
    },
    /// Sets the key to `to` if it is `from` (a missing key is `""`).
    Cas {
        key: String,
        from: String,
        to: String,
    },
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key }
            | KvOp::Put { key, .. }
            | KvOp::Append { key, .. }
            | KvOp::Cas { key, .. } => key,
        }
    }

    /// Whether the operation changes nothing.
    pub fn is_read(&self) -> bool {
        matches!(self, KvOp::Get { .. })
    }

    /// The history's `value` of the invocation.
    pub fn argument(&self) -> serde_json::Value {
        match self {
            KvOp::Get { .. } => serde_json::Value::Null,
            KvOp::Put { value, .. } | KvOp::Append { value, .. } => value.clone().into(),
            KvOp::Cas { from, to, .. } => serde_json::json!([from, to]),
        }
    }

    /// Applies the operation to a store: what a server answers.
    pub fn apply(self, store: &mut std::collections::BTreeMap<String, String>) -> KvReply {
        match self {
            KvOp::Get { key } => KvReply::Value(store.get(&key).cloned().unwrap_or_default()),
            KvOp::Put { key, value } => {
                store.insert(key, value);
                KvReply::Done
            }
            KvOp::Append { key, value } => {
                store.entry(key).or_default().push_str(&value);
                KvReply::Done
            }
            KvOp::Cas { key, from, to } => {
                let current = store.get(&key).map_or("", String::as_str);
                let swapped = current == from;
                if swapped {
                    store.insert(key, to);
                }
                KvReply::Swapped(swapped)
            }
        }
    }

    /// The history's `f`.
    pub fn f(&self) -> &'static str {
        match self {
            KvOp::Get { .. } => "get",
            KvOp::Put { .. } => "put",
            KvOp::Append { .. } => "append",
            KvOp::Cas { .. } => "cas",
        }
    }

    /// The operation a plan spells out: `get` with a key, `put` or `append` with a key and a
    /// string value, `cas` with a key and `[from, to]`, two strings.
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
            "cas" => match op.value.as_array().map(Vec::as_slice) {
                Some(
                    [
                        serde_json::Value::String(from),
                        serde_json::Value::String(to),
                    ],
                ) => Ok(KvOp::Cas {
                    key,
                    from: from.clone(),
                    to: to.clone(),
                }),
                _ => Err(format!(
                    "`cas` needs `[from, to]`, two strings, not {}",
                    op.value
                )),
            },
            f => Err(format!(
                "unknown kv operation `{f}`; valid operations: get, put, append, cas"
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
    /// A cas's answer: whether the value was `from` (and is now `to`).
    Swapped(bool),
    /// This server is not the leader and did not run the operation; `leader` is the one it
    /// knows of. The client tries again.
    NotLeader { leader: Option<NodeId> },
}

/// Client-side timers, wrapped into the protocol's timer type.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ClientTimer {
    Think {
        process: usize,
    },
    Timeout {
        process: usize,
        request: u64,
    },
    /// With retries: the process's request goes again, to its next server (an attempt timed
    /// out, or a pause after a refusal that named no leader), or it has run out of time. One
    /// timer per process, re-armed for each attempt and each request.
    Attempt {
        process: usize,
    },
}

/// How a protocol's messages carry the client's requests and replies. The client's timers are
/// its own (`ClientTimer`); a simulation that holds clients and servers with timers of their own
/// composes them with `faultline_api::Either`.
pub trait KvProtocol: 'static {
    type Message: Message;
    /// Request `request` of client process `process` (unique across the run's clients): the
    /// pair names the request for exactly-once execution.
    fn request(request: u64, process: u64, op: KvOp) -> Self::Message;
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
    /// What the drawn operations are.
    pub mix: OpMix,
    /// Finding the leader of a replicated store; `None` sends each request once.
    pub retry: Option<Retry>,
}

/// Weights of the operations a client draws: one draw below their sum picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpMix {
    pub get: u64,
    pub put: u64,
    pub append: u64,
    pub cas: u64,
}

impl OpMix {
    /// Mostly gets and puts: an indeterminate append can land anywhere, and each one
    /// multiplies the orders the checker must consider.
    pub const GET_PUT: OpMix = OpMix {
        get: 5,
        put: 4,
        append: 1,
        cas: 0,
    };

    fn total(self) -> u64 {
        self.get + self.put + self.append + self.cas
    }
}

/// How a request is sent again until it is answered or times out.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// An attempt without an answer after this long goes to the next server.
    pub attempt_timeout: Duration,
    /// The pause after a refusal that names no leader.
    pub backoff: Duration,
}

#[derive(Clone)]
struct Pending {
    op: KvOp,
    sent_at: Instant,
    /// The server of the current attempt (an index into `servers`).
    server: usize,
}

impl Pending {
    /// When the request times out.
    fn deadline(&self, timeout: Duration) -> Instant {
        self.sent_at + timeout
    }
}

/// The workload client.
pub struct KvClient<P> {
    config: KvClientConfig,
    processes: Processes<Pending>,
    ops: OpCursor,
    /// The value this client last read or wrote, per key: what its cas operations expect.
    seen: BTreeMap<String, String>,
    /// The server that answered last, or that a refusal named as the leader.
    leader: Option<usize>,
    protocol: PhantomData<P>,
}

impl<P: KvProtocol> KvClient<P> {
    pub fn new(config: KvClientConfig) -> KvClient<P> {
        assert!(!config.servers.is_empty() && config.processes > 0 && config.key_count > 0);
        KvClient {
            processes: Processes::new(config.processes),
            ops: OpCursor::new(config.first_process, config.processes, &config.script),
            seen: BTreeMap::new(),
            leader: None,
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
                let mix = self.config.mix;
                match rng.below(mix.total()) {
                    draw if draw < mix.get => KvOp::Get { key },
                    draw if draw < mix.get + mix.put => KvOp::Put { key, value },
                    draw if draw < mix.get + mix.put + mix.append => KvOp::Append {
                        key,
                        value: format!("{value};"),
                    },
                    _ => KvOp::Cas {
                        // The value this client last saw, so that some swaps succeed.
                        from: self.seen.get(&key).cloned().unwrap_or_default(),
                        key,
                        to: value,
                    },
                }
            }
        };
        let request = self.processes.next_request(process);
        ctx.invoke(id, op.f(), Some(op.key()), op.argument());
        let drawn = rng.below(self.config.servers.len() as u64) as usize;
        // A client that finds leaders goes to the last one it learned of.
        let server = self
            .leader
            .filter(|_| self.config.retry.is_some())
            .unwrap_or(drawn);
        let pending = Pending {
            op: op.clone(),
            sent_at: ctx.now(),
            server,
        };
        self.processes.wait(process, request, pending);
        ctx.send(self.config.servers[server], P::request(request, id, op));
        match self.config.retry {
            Some(retry) => {
                let wait = retry.attempt_timeout.min(self.config.timeout);
                ctx.set_timer(wait, ClientTimer::Attempt { process });
            }
            None => {
                let timeout = ClientTimer::Timeout { process, request };
                ctx.set_timer(self.config.timeout, timeout);
            }
        }
    }

    /// Sends `process`'s request again, to `server` (an index into `servers`) or to the next
    /// server, unless its time is up: then it ends indeterminate.
    fn attempt(
        &mut self,
        ctx: &mut Context<'_, P::Message, ClientTimer>,
        process: usize,
        server: Option<usize>,
    ) {
        let Some(retry) = self.config.retry else {
            return;
        };
        let (servers, timeout) = (self.config.servers.len(), self.config.timeout);
        let Some((request, pending)) = self.processes.waiting_mut(process) else {
            return;
        };
        let deadline = pending.deadline(timeout);
        if ctx.now() >= deadline {
            return self.time_out(ctx, request);
        }
        pending.server = server.unwrap_or((pending.server + 1) % servers);
        let (to, op) = (self.config.servers[pending.server], pending.op.clone());
        let id = self.process_id(process);
        ctx.count("kv-retries", 1);
        ctx.send(to, P::request(request, id, op));
        let wait = retry
            .attempt_timeout
            .min(deadline.saturating_since(ctx.now()));
        ctx.set_timer(wait, ClientTimer::Attempt { process });
    }

    /// A server refused `request` for not being the leader.
    fn redirected(
        &mut self,
        ctx: &mut Context<'_, P::Message, ClientTimer>,
        request: u64,
        leader: Option<NodeId>,
    ) {
        let Some(retry) = self.config.retry else {
            return;
        };
        let process = self.processes.process_of(request);
        if self
            .processes
            .waiting_mut(process)
            .is_none_or(|(waited, _)| waited != request)
        {
            return;
        }
        let hinted =
            leader.and_then(|leader| self.config.servers.iter().position(|&s| s == leader));
        self.leader = hinted;
        match hinted {
            Some(server) => self.attempt(ctx, process, Some(server)),
            None => ctx.set_timer(retry.backoff, ClientTimer::Attempt { process }),
        }
    }

    /// `request` ran out of time: it ends indeterminate, and its process thinks again.
    fn time_out(&mut self, ctx: &mut Context<'_, P::Message, ClientTimer>, request: u64) {
        if let Some((process, pending)) = self.processes.finish(request) {
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
        from: NodeId,
        message: P::Message,
    ) {
        let Some((request, reply)) = P::reply(message) else {
            return;
        };
        if let KvReply::NotLeader { leader } = reply {
            return self.redirected(ctx, request, leader);
        }
        if self.config.retry.is_some() {
            self.leader = self.config.servers.iter().position(|&s| s == from);
        }
        let Some((process, pending)) = self.processes.finish(request) else {
            ctx.count("late-replies", 1);
            return;
        };
        let (f, key) = (pending.op.f(), pending.op.key().to_string());
        let id = self.process_id(process);
        match reply {
            KvReply::Value(value) => {
                assert_eq!(f, "get", "only a get returns a value");
                self.seen.insert(key.clone(), value.clone());
                ctx.complete(id, EventKind::Ok, f, Some(&key), value.into());
            }
            KvReply::Swapped(swapped) => {
                assert_eq!(f, "cas", "only a cas swaps");
                if let KvOp::Cas { to, from, .. } = &pending.op {
                    let now = if swapped { to } else { from };
                    if swapped {
                        self.seen.insert(key.clone(), now.clone());
                    }
                }
                ctx.complete(id, EventKind::Ok, f, Some(&key), swapped.into());
            }
            KvReply::NotLeader { .. } => unreachable!("handled above"),
            KvReply::Done => {
                assert!(matches!(f, "put" | "append"), "a {f} answers with a value");
                if let KvOp::Put { value, .. } = &pending.op {
                    self.seen.insert(key.clone(), value.clone());
                }
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
            ClientTimer::Attempt { process } => self.attempt(ctx, process, None),
            ClientTimer::Timeout { request, .. } => self.time_out(ctx, request),
        }
    }
}
