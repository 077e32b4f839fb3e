//! RPC (issue 6): calls, deadlines, retries, exactly-once execution and load shedding, as
//! sans-IO state machines that any protocol embeds.
//!
//! A protocol keeps an [`RpcClient`] and/or an [`RpcServer`] in its state and forwards to them
//! from its handlers. The library never owns a message or timer type: a host's message type
//! implements `From<RpcMessage<Req, Resp>>` and its timer type `From<ClientTimer>` or
//! `From<ServerTimer>` (the identity conversion does when the host has nothing else to send).
//! Results come back as values ([`Completion`]s, jobs to execute), never as callbacks into
//! the host's state.
//!
//! # What an error says
//!
//! Every failed call carries a [`Certainty`], as Maelstrom defines errors: `Definite` means the
//! call certainly did not run (the server shed it, the circuit breaker never sent it),
//! `Indefinite` means it may have run (an attempt timed out, or was in flight when the call was
//! given up). A history records the first as `fail` and the second as `info`; recording a
//! timeout as `fail` is the classic bug (planted as `timeout-is-failure`).
//!
//! # Exactly once
//!
//! A call made with `exactly_once` carries an idempotency key, chosen by the client: the
//! client's identity ([`ClientId`]: node, incarnation, channel) and the call's sequence number.
//! Retries and network duplicates reuse the key. The server keeps, per client, a table of the
//! replies of completed calls and answers a repeated key with the stored reply (marked
//! `replayed` in the trace) instead of executing it again; a repeat that arrives while the
//! first copy is still queued or executing is dropped, since the first copy's reply answers
//! both.
//!
//! **Forgetting rule.** Every request carries `acked_below`: the client's lowest sequence
//! number still outstanding. The client promises never to send a call below it again, so the
//! server forgets its stored replies below it and refuses any request below it as `stale`
//! without running it (a delayed network duplicate of a finished call, say). A client keeps at
//! most `window_max` sequence numbers between its oldest outstanding call and its next one, so
//! a table holds at most `window_max` replies per client. A client that restarts is a new
//! incarnation: the server drops the old incarnation's table and refuses its requests as stale,
//! so each (node, channel) costs one table at most. The table lives in the server's memory with
//! the state it protects: a host that persists its state must persist the table with it.
//!
//! # Overload
//!
//! The server runs calls on a bounded pool of workers; a call costs virtual service time (a
//! timer per busy worker). Calls wait in a bounded queue, and when the queue is full the server
//! sheds the call with the definite `overloaded` error. The client side retries with
//! exponential backoff and full jitter from the node's random stream, within a per-call
//! deadline, a limit on attempts, a retry budget (retries at most a fraction of calls) and a
//! per-peer circuit breaker. Switching those off is how `rpc-overload` plants the retry storm.

mod client;
pub mod counter;
pub mod load;
mod server;

pub use client::{
    BreakerConfig, BreakerState, CallId, CallOptions, ClientConfig, ClientTimer, Completion,
    Refused, RetryBudget, RetryPolicy, RpcClient,
};
pub use server::{RpcServer, ServerConfig, ServerTimer};

use faultline_api::NodeId;
use std::fmt;

/// Who made a call: the node, its incarnation (a restarted node is a new client that has
/// forgotten its sequence numbers) and a channel that tells apart several clients embedded in
/// one node. Unique across the cluster without coordination.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ClientId {
    pub node: NodeId,
    pub incarnation: u32,
    pub channel: u32,
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.incarnation)?;
        if self.channel != 0 {
            write!(f, "/{}", self.channel)?;
        }
        Ok(())
    }
}

/// What travels on the wire.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum RpcMessage<Req, Resp> {
    Request(Request<Req>),
    Reply(Reply<Resp>),
}

/// One attempt of a call.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Request<Req> {
    pub client: ClientId,
    /// The call's sequence number at its client; with `client`, the idempotency key.
    pub call: u64,
    /// 1 for the first attempt; retries count up.
    pub attempt: u32,
    /// Run at most once: the server deduplicates by (client, call).
    pub exactly_once: bool,
    /// The client's lowest outstanding sequence number (the forgetting rule).
    pub acked_below: u64,
    pub body: Req,
}

/// The answer to one attempt.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Reply<Resp> {
    pub client: ClientId,
    pub call: u64,
    /// The attempt this reply answers (a stored reply answers the attempt that asked again).
    pub attempt: u32,
    pub outcome: ReplyOutcome<Resp>,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ReplyOutcome<Resp> {
    /// The call ran; `replayed` when this is the stored reply of an earlier execution.
    Done { response: Resp, replayed: bool },
    /// The call did not run (now, for this attempt).
    Refused(Refusal),
}

/// Why a server did not run an attempt. Every refusal is definite for that attempt.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
pub enum Refusal {
    /// The queue was full: load shedding.
    Overloaded,
    /// Below the client's acknowledged watermark, or from an older incarnation: the client
    /// promised never to send it, so it is a network duplicate of a finished call.
    Stale,
    /// The server holds `sessions_max` client tables already.
    SessionsFull,
    /// Further ahead of the watermark than `window_max`: a client that broke its promise.
    WindowExceeded,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Overloaded => "overloaded",
            Refusal::Stale => "stale",
            Refusal::SessionsFull => "sessions-full",
            Refusal::WindowExceeded => "window-exceeded",
        }
    }
}

/// What is known about whether a failed call ran.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
pub enum Certainty {
    /// The call certainly did not run: record `fail`.
    Definite,
    /// The call may have run: record `info`.
    Indefinite,
}

/// How a call failed.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
pub enum ErrorKind {
    /// The server refused the last attempt.
    Refused(Refusal),
    /// The peer's circuit breaker is open: the attempt was never sent.
    CircuitOpen,
    /// The client has `calls_max` calls outstanding, or its sequence window is full.
    TooManyCalls,
    /// An attempt timed out and the call may not be retried (not idempotent, or out of
    /// attempts or retry budget).
    Timeout,
    /// The call's deadline passed.
    DeadlineExceeded,
    /// The caller cancelled the call.
    Cancelled,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused(refusal) => refusal.as_str(),
            ErrorKind::CircuitOpen => "circuit-open",
            ErrorKind::TooManyCalls => "too-many-calls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::DeadlineExceeded => "deadline-exceeded",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

/// A failed call: what went wrong last, and whether the call may have run anyway.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RpcError {
    pub kind: ErrorKind,
    pub certainty: Certainty,
}

impl RpcError {
    pub fn is_definite(&self) -> bool {
        self.certainty == Certainty::Definite
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certainty = match self.certainty {
            Certainty::Definite => "definite",
            Certainty::Indefinite => "indefinite",
        };
        write!(f, "{} ({certainty})", self.kind.as_str())
    }
}

// The trace shows messages by `Debug`; these read as one short line each.
impl<Req: fmt::Debug> fmt::Debug for Request<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Request {:?}#{} try {}",
            self.client, self.call, self.attempt
        )?;
        if self.exactly_once {
            write!(f, " once ack<{}", self.acked_below)?;
        }
        write!(f, " {:?}", self.body)
    }
}

impl<Resp: fmt::Debug> fmt::Debug for Reply<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Reply {:?}#{} try {} ",
            self.client, self.call, self.attempt
        )?;
        match &self.outcome {
            ReplyOutcome::Done { response, replayed } => {
                let replayed = if *replayed { " replayed" } else { "" };
                write!(f, "ok{replayed} {response:?}")
            }
            ReplyOutcome::Refused(refusal) => write!(f, "refused {}", refusal.as_str()),
        }
    }
}

impl<Req: fmt::Debug, Resp: fmt::Debug> fmt::Debug for RpcMessage<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcMessage::Request(request) => request.fmt(f),
            RpcMessage::Reply(reply) => reply.fmt(f),
        }
    }
}
