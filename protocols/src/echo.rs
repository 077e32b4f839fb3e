//! Echo: the server replies with the request's payload. The smallest protocol, used by the
//! `echo` scenario and by the engine benchmark.

use crate::processes::Processes;
use faultline_api::history::EventKind;
use faultline_api::ops::{OpCursor, Script};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Node, NodeId};

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum EchoMessage {
    Request { id: u64, payload: u64 },
    Reply { id: u64, payload: u64 },
}

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum EchoTimer {
    /// The request in `slot` with id `id` has not been answered in time.
    Timeout { slot: usize, id: u64 },
}

/// Answers every request with its payload.
#[derive(Default)]
pub struct EchoServer {
    pub requests_answered: u64,
}

impl Node for EchoServer {
    type Message = EchoMessage;
    type Timer = EchoTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, _ctx: &mut Context<'_, EchoMessage, EchoTimer>) {}

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, EchoMessage, EchoTimer>,
        from: NodeId,
        message: EchoMessage,
    ) {
        if let EchoMessage::Request { id, payload } = message {
            self.requests_answered += 1;
            ctx.send(from, EchoMessage::Reply { id, payload });
        }
    }

    fn on_timer(&mut self, _ctx: &mut Context<'_, EchoMessage, EchoTimer>, _timer: EchoTimer) {}
}

/// How an echo client behaves.
#[derive(Clone, Debug)]
pub struct EchoClientConfig {
    pub servers: Vec<NodeId>,
    /// Requests in flight at once; each slot is one history process.
    pub in_flight: usize,
    /// Stop after this many answered requests (`u64::MAX`: never stop).
    pub round_trips_max: u64,
    /// Give up on a request after this long and record it `info`; `None` never gives up (the
    /// benchmark, on a reliable network, sets no timers).
    pub timeout: Option<Duration>,
    /// Record a history (costs an allocation per operation; the benchmark turns it off).
    pub record_history: bool,
}

#[derive(Clone, Copy)]
struct Outstanding {
    sent_at: Instant,
}

/// Keeps `in_flight` requests outstanding, round robin over the servers; the history (a
/// scenario's check) tells whether every reply equals its request.
pub struct EchoClient {
    config: EchoClientConfig,
    /// One process per request in flight.
    slots: Processes<Outstanding>,
    /// The slots' operations: each slot is a history process, and its k-th request's payload
    /// is keyed by (slot, k).
    ops: OpCursor,
    next_server: usize,
    /// Replies received, for `round_trips_max`.
    round_trips: u64,
    outstanding: usize,
}

impl EchoClient {
    pub fn new(config: EchoClientConfig) -> EchoClient {
        assert!(!config.servers.is_empty(), "an echo client needs a server");
        assert!(config.in_flight > 0);
        EchoClient {
            slots: Processes::new(config.in_flight),
            ops: OpCursor::new(0, config.in_flight, &Script::default()),
            config,
            next_server: 0,
            round_trips: 0,
            outstanding: 0,
        }
    }

    fn issue(&mut self, ctx: &mut Context<'_, EchoMessage, EchoTimer>, slot: usize) {
        if self.round_trips + self.outstanding as u64 >= self.config.round_trips_max {
            return;
        }
        let Some(op) = self.ops.take(slot) else {
            return;
        };
        let id = self.slots.next_request(slot);
        let payload = ctx.keyed_rng(op.key).next_u64() >> 1;
        let server = self.config.servers[self.next_server];
        self.next_server = (self.next_server + 1) % self.config.servers.len();
        self.outstanding += 1;
        let sent_at = ctx.now();
        self.slots.wait(slot, id, Outstanding { sent_at });
        if self.config.record_history {
            ctx.invoke(slot as u64, "echo", None, payload.into());
        }
        ctx.send(server, EchoMessage::Request { id, payload });
        if let Some(timeout) = self.config.timeout {
            ctx.set_timer(timeout, EchoTimer::Timeout { slot, id });
        }
    }
}

impl Node for EchoClient {
    type Message = EchoMessage;
    type Timer = EchoTimer;
    type Observation = faultline_api::NoObservation;

    fn on_start(&mut self, ctx: &mut Context<'_, EchoMessage, EchoTimer>) {
        for slot in 0..self.config.in_flight {
            self.issue(ctx, slot);
        }
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, EchoMessage, EchoTimer>,
        _from: NodeId,
        message: EchoMessage,
    ) {
        let EchoMessage::Reply { id, payload } = message else {
            return;
        };
        // A reply to a request that timed out already, or a duplicate, is ignored.
        let Some((slot, outstanding)) = self.slots.finish(id) else {
            return;
        };
        self.outstanding -= 1;
        self.round_trips += 1;
        if self.config.record_history {
            ctx.sample(
                "echo-latency",
                ctx.now().saturating_since(outstanding.sent_at),
            );
            ctx.complete(slot as u64, EventKind::Ok, "echo", None, payload.into());
        }
        self.issue(ctx, slot);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, EchoMessage, EchoTimer>, timer: EchoTimer) {
        let EchoTimer::Timeout { slot, id } = timer;
        if self.slots.finish(id).is_some() {
            self.outstanding -= 1;
            if self.config.record_history {
                ctx.complete(
                    slot as u64,
                    EventKind::Info,
                    "echo",
                    None,
                    serde_json::Value::Null,
                );
            }
            self.issue(ctx, slot);
        }
    }
}
