//! Unique ids (Gossip Glomers challenge 2): every node answers `generate` with an id that is
//! unique across the cluster, without talking to the other nodes, through partitions and
//! crashes.
//!
//! An id is `node-boot-counter`: the boot id is drawn from the node's random stream when it
//! starts, so a restarted node, which has forgotten its counter, still never repeats an id.

use crate::processes::Processes;
use faultline_api::history::EventKind;
use faultline_api::ops::{OpCursor, Script, WrittenOp};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Node, NodeId};

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum IdMessage {
    Generate { request: u64 },
    GenerateOk { request: u64, id: String },
}

/// Only clients set timers; servers keep none.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum IdTimer {
    /// Process `process` is done thinking and issues its next request.
    Think { process: usize },
    /// Request `request` of process `process` has not been answered in time.
    Timeout { process: usize, request: u64 },
}

/// Planted bugs, for proving that the checker can fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum IdBug {
    #[default]
    None,
    /// Ids come from a per-node counter kept in memory, so a restarted node repeats them.
    CounterResetsOnRestart,
}

pub struct IdServer {
    bug: IdBug,
    boot: u64,
    counter: u64,
}

impl IdServer {
    pub fn new(bug: IdBug) -> IdServer {
        IdServer {
            bug,
            boot: 0,
            counter: 0,
        }
    }
}

impl Node for IdServer {
    type Message = IdMessage;
    type Timer = IdTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, IdMessage, IdTimer>) {
        self.boot = ctx.rng().next_u64();
        if ctx.incarnation() > 0 {
            ctx.annotate(format_args!("restarted, boot id {:016x}", self.boot));
            // For people watching a replay; not part of the canonical trace.
            tracing::info!(
                incarnation = ctx.incarnation(),
                "restarted with an empty memory"
            );
        }
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, IdMessage, IdTimer>,
        from: NodeId,
        message: IdMessage,
    ) {
        let IdMessage::Generate { request } = message else {
            return;
        };
        let id = match self.bug {
            IdBug::None => format!("{}-{:016x}-{}", ctx.id(), self.boot, self.counter),
            IdBug::CounterResetsOnRestart => format!("{}-{}", ctx.id(), self.counter),
        };
        self.counter += 1;
        ctx.send(from, IdMessage::GenerateOk { request, id });
    }

    fn on_timer(&mut self, _ctx: &mut Context<'_, IdMessage, IdTimer>, _timer: IdTimer) {}
}

/// How a unique-ids client behaves.
#[derive(Clone, Debug)]
pub struct IdClientConfig {
    pub servers: Vec<NodeId>,
    /// Logical clients, each with at most one request outstanding (history processes are
    /// numbered from `first_process`).
    pub processes: usize,
    pub first_process: u64,
    /// Mean pause between a process's answer and its next request (exponential).
    pub think_mean: Duration,
    /// Give up on a request after this long and record it `info`.
    pub timeout: Duration,
    /// Which requests run (each is `generate`; see `IdClient::check_written`).
    pub script: Script,
}

/// A workload generator: each process asks a random server for an id, records the answer in
/// the history, thinks, and asks again.
pub struct IdClient {
    config: IdClientConfig,
    /// When each process's request was sent.
    processes: Processes<Instant>,
    ops: OpCursor,
}

impl IdClient {
    pub fn new(config: IdClientConfig) -> IdClient {
        assert!(
            !config.servers.is_empty(),
            "a unique-ids client needs a server"
        );
        IdClient {
            processes: Processes::new(config.processes),
            ops: OpCursor::new(config.first_process, config.processes, &config.script),
            config,
        }
    }

    fn think(&mut self, ctx: &mut Context<'_, IdMessage, IdTimer>, process: usize) {
        let mean = self.config.think_mean;
        let Some(pause) = self.ops.think_exponential(ctx, process, mean) else {
            return;
        };
        ctx.set_timer(pause, IdTimer::Think { process });
    }

    fn process_id(&self, process: usize) -> u64 {
        self.config.first_process + process as u64
    }

    /// A request a plan spells out: `generate`, without key or value.
    pub fn check_written(op: &WrittenOp) -> Result<(), String> {
        match (op.f.as_str(), &op.key, op.value.is_null()) {
            ("generate", None, true) => Ok(()),
            ("generate", _, _) => Err("`generate` takes no key and no value".to_string()),
            (f, _, _) => Err(format!(
                "unknown unique-ids operation `{f}`; valid operations: generate"
            )),
        }
    }
}

impl Node for IdClient {
    type Message = IdMessage;
    type Timer = IdTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, IdMessage, IdTimer>) {
        for process in 0..self.config.processes {
            self.think(ctx, process);
        }
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, IdMessage, IdTimer>,
        _from: NodeId,
        message: IdMessage,
    ) {
        let IdMessage::GenerateOk { request, id } = message else {
            return;
        };
        let Some((process, sent_at)) = self.processes.finish(request) else {
            ctx.count("late-replies", 1);
            return;
        };
        ctx.sample("generate-latency", ctx.now().saturating_since(sent_at));
        ctx.complete(
            self.process_id(process),
            EventKind::Ok,
            "generate",
            None,
            id.into(),
        );
        self.think(ctx, process);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, IdMessage, IdTimer>, timer: IdTimer) {
        match timer {
            IdTimer::Think { process } => {
                let Some(op) = self.ops.take(process) else {
                    return;
                };
                let request = self.processes.next_request(process);
                let server = *ctx
                    .keyed_rng(op.key)
                    .choose(&self.config.servers)
                    .expect("servers is not empty");
                self.processes.wait(process, request, ctx.now());
                ctx.invoke(
                    self.process_id(process),
                    "generate",
                    None,
                    serde_json::Value::Null,
                );
                ctx.send(server, IdMessage::Generate { request });
                ctx.set_timer(self.config.timeout, IdTimer::Timeout { process, request });
            }
            IdTimer::Timeout { process, request } => {
                if self.processes.finish(request).is_some() {
                    ctx.count("timeouts", 1);
                    ctx.complete(
                        self.process_id(process),
                        EventKind::Info,
                        "generate",
                        None,
                        serde_json::Value::Null,
                    );
                    self.think(ctx, process);
                }
            }
        }
    }
}
