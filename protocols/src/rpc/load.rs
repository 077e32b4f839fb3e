//! The work service of `rpc-overload`: every call costs a worker a few milliseconds, and
//! clients offer calls open-loop (Poisson arrivals at a rate that does not care how the server
//! is doing) with a spike in the middle. Calls are idempotent reads, retried after timeouts
//! without deduplication: each attempt is work, which is what lets retries amplify a load.

use super::{
    CallOptions, ClientConfig, ClientTimer, Completion, RpcClient, RpcMessage, RpcServer,
    ServerConfig, ServerTimer,
};
use faultline_api::history::EventKind;
use faultline_api::ops::Script;
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Node, NodeId};
use std::fmt;

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Work;

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct WorkDone;

pub type LoadMessage = RpcMessage<Work, WorkDone>;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum LoadTimer {
    Rpc(ClientTimer),
    Server(ServerTimer),
    /// The next call arrives.
    Arrival,
}

impl From<ClientTimer> for LoadTimer {
    fn from(timer: ClientTimer) -> LoadTimer {
        LoadTimer::Rpc(timer)
    }
}

impl From<ServerTimer> for LoadTimer {
    fn from(timer: ServerTimer) -> LoadTimer {
        LoadTimer::Server(timer)
    }
}

impl fmt::Debug for LoadTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadTimer::Rpc(timer) => timer.fmt(f),
            LoadTimer::Server(timer) => timer.fmt(f),
            LoadTimer::Arrival => write!(f, "Arrival"),
        }
    }
}

/// Serves every call after a service time drawn uniformly from `service_min..=service_max`.
pub struct WorkServer {
    rpc: RpcServer<Work, WorkDone>,
    service_min: Duration,
    service_max: Duration,
}

impl WorkServer {
    pub fn new(config: ServerConfig, service_min: Duration, service_max: Duration) -> WorkServer {
        assert!(service_min <= service_max);
        WorkServer {
            rpc: RpcServer::new(config),
            service_min,
            service_max,
        }
    }
}

impl Node for WorkServer {
    type Message = LoadMessage;
    type Timer = LoadTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, LoadMessage, LoadTimer>) {
        self.rpc.start(ctx);
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, LoadMessage, LoadTimer>,
        from: NodeId,
        message: LoadMessage,
    ) {
        if let RpcMessage::Request(request) = message {
            let service = ctx
                .rng()
                .duration_between(self.service_min, self.service_max);
            self.rpc.on_request(ctx, from, request, service);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, LoadMessage, LoadTimer>, timer: LoadTimer) {
        if let LoadTimer::Server(timer) = timer {
            self.rpc.on_timer(ctx, timer, |_, _| WorkDone);
        }
    }
}

/// The offered load over time, measured from the client's start: `base_per_second`, then
/// `spike_per_second` for `spike_length` from `spike_start`, then the base rate again.
#[derive(Clone, Copy, Debug)]
pub struct LoadShape {
    pub base_per_second: u64,
    pub spike_per_second: u64,
    pub spike_start: Duration,
    pub spike_length: Duration,
}

impl LoadShape {
    pub fn rate_per_second_at(&self, since_start: Duration) -> u64 {
        let in_spike =
            since_start >= self.spike_start && since_start < self.spike_start + self.spike_length;
        if in_spike {
            self.spike_per_second
        } else {
            self.base_per_second
        }
    }
}

#[derive(Clone, Debug)]
pub struct LoadClientConfig {
    pub server: NodeId,
    /// History processes `first_process..first_process + processes`: one per outstanding call,
    /// so a call that arrives when all are busy is dropped (and counted).
    pub first_process: u64,
    pub processes: usize,
    pub shape: LoadShape,
    /// No calls arrive after this long.
    pub arrivals_end: Duration,
    pub call_deadline: Duration,
    pub rpc: ClientConfig,
    /// Which arrivals run: the arrivals are the operations of history process
    /// `first_process`, numbered in arrival order (`Script::only`); one left out still takes its
    /// time, so every other arrival keeps its absolute time. None is written out.
    pub script: Script,
}

pub struct LoadClient {
    config: LoadClientConfig,
    rpc: RpcClient<Work, WorkDone, usize>,
    /// Process slots without an outstanding call.
    free: Vec<usize>,
    started_at: Instant,
    /// Arrivals scheduled so far: the n-th gap's draws are keyed `[ARRIVALS, n]`.
    arrivals: u64,
    /// Arrivals that have come so far, for the script.
    arrived: u64,
}

/// The key space of the arrival gaps (`Context::keyed_rng`).
const ARRIVALS: u64 = u64::MAX;

impl LoadClient {
    pub fn new(config: LoadClientConfig) -> LoadClient {
        assert!(config.processes > 0);
        assert!(config.shape.base_per_second > 0 && config.shape.spike_per_second > 0);
        LoadClient {
            rpc: RpcClient::new(config.rpc.clone()),
            free: (0..config.processes).rev().collect(),
            config,
            started_at: Instant::ZERO,
            arrivals: 0,
            arrived: 0,
        }
    }

    fn schedule_arrival(&mut self, ctx: &mut Context<'_, LoadMessage, LoadTimer>) {
        let since_start = ctx.now().saturating_since(self.started_at);
        let rate = self.config.shape.rate_per_second_at(since_start);
        let mut rng = ctx.keyed_rng([ARRIVALS, self.arrivals]);
        self.arrivals += 1;
        let gap =
            rng.exponential(Duration::from_nanos(1_000_000_000 / rate)) + Duration::from_nanos(1);
        if since_start + gap < self.config.arrivals_end {
            ctx.set_timer(gap, LoadTimer::Arrival);
        }
    }

    fn arrive(&mut self, ctx: &mut Context<'_, LoadMessage, LoadTimer>) {
        let Some(slot) = self.free.pop() else {
            ctx.count("load-arrivals-dropped", 1);
            return;
        };
        let process = self.config.first_process + slot as u64;
        ctx.invoke(process, "work", None, serde_json::Value::Null);
        let options = CallOptions {
            deadline: self.config.call_deadline,
            exactly_once: false,
            idempotent: true,
        };
        if let Err(refused) = self.rpc.call(ctx, self.config.server, Work, options, slot) {
            ctx.complete(
                process,
                EventKind::Fail,
                "work",
                None,
                refused.error.kind.as_str().into(),
            );
            self.free.push(slot);
        }
    }

    fn finish(
        &mut self,
        ctx: &mut Context<'_, LoadMessage, LoadTimer>,
        done: Completion<WorkDone, usize>,
    ) {
        let process = self.config.first_process + done.tag as u64;
        match done.result {
            Ok(WorkDone) => ctx.complete(
                process,
                EventKind::Ok,
                "work",
                None,
                serde_json::Value::Null,
            ),
            Err(error) => {
                let status = if error.is_definite() {
                    EventKind::Fail
                } else {
                    EventKind::Info
                };
                ctx.complete(process, status, "work", None, error.kind.as_str().into());
            }
        }
        assert!(
            !self.free.contains(&done.tag),
            "a process has one call outstanding"
        );
        self.free.push(done.tag);
        assert!(self.free.len() <= self.config.processes);
    }
}

impl Node for LoadClient {
    type Message = LoadMessage;
    type Timer = LoadTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, LoadMessage, LoadTimer>) {
        self.rpc.start(ctx);
        self.started_at = ctx.now();
        self.schedule_arrival(ctx);
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, LoadMessage, LoadTimer>,
        from: NodeId,
        message: LoadMessage,
    ) {
        if let RpcMessage::Reply(reply) = message
            && let Some(done) = self.rpc.on_reply(ctx, from, reply)
        {
            self.finish(ctx, done);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, LoadMessage, LoadTimer>, timer: LoadTimer) {
        match timer {
            LoadTimer::Rpc(timer) => {
                if let Some(done) = self.rpc.on_timer(ctx, timer) {
                    self.finish(ctx, done);
                }
            }
            LoadTimer::Arrival => {
                let n = self.arrived;
                self.arrived += 1;
                if self.config.script.runs(self.config.first_process, n) {
                    self.arrive(ctx);
                }
                self.schedule_arrival(ctx);
            }
            LoadTimer::Server(_) => unreachable!("clients run no server"),
        }
    }
}
