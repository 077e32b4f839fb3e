//! The calling side: request ids, reply matching, deadlines, cancellation, retries with
//! backoff and jitter, a retry budget and a circuit breaker per peer.

use super::{
    Certainty, ClientId, ErrorKind, Refusal, Reply, ReplyOutcome, Request, RpcError, RpcMessage,
};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Message, NodeId, Timer};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// When and how often a call is tried again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per call at most, the first included.
    pub attempts_max: u32,
    /// An attempt without a reply after this long has timed out (it may still run).
    pub attempt_timeout: Duration,
    /// The wait before the first retry; it doubles with every retry up to `backoff_max`. Zero
    /// retries at once, with no backoff at all.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Full jitter: wait a uniform draw in `0..=backoff` rather than `backoff`, so clients that
    /// failed together do not retry together.
    pub jitter: bool,
    /// `None` lets every call retry up to `attempts_max`.
    pub budget: Option<RetryBudget>,
}

/// Retries may not exceed a fraction of calls (Finagle's retry budget): each call deposits
/// `retry_percent / 100` of a token, each retry spends a whole one, and the balance is capped
/// at `reserve` tokens (it starts full, so a quiet client may retry a burst of `reserve`).
#[derive(Clone, Copy, Debug)]
pub struct RetryBudget {
    pub retry_percent: u32,
    pub reserve: u32,
}

/// A per-peer circuit breaker: after `failures_to_open` consecutive failed attempts (timeouts
/// and `overloaded`) the peer gets no attempts for `cooldown`; then one probe call may go, and
/// its outcome closes the breaker or opens it again.
#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    pub failures_to_open: u32,
    pub cooldown: Duration,
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Tells apart several clients embedded in one node (see `ClientId`).
    pub channel: u32,
    /// Outstanding calls at most; more are refused at once with `too-many-calls`.
    pub calls_max: usize,
    /// Sequence numbers between the oldest outstanding call and the next one at most: the
    /// bound on the server's stored replies for this client (the forgetting rule).
    pub window_max: u64,
    pub retry: RetryPolicy,
    pub breaker: Option<BreakerConfig>,
}

/// How one call behaves.
#[derive(Clone, Copy, Debug)]
pub struct CallOptions {
    /// The call ends with `deadline-exceeded` this long after it started (node's clock).
    pub deadline: Duration,
    /// The server runs it at most once, deduplicating retries and network copies by key.
    pub exactly_once: bool,
    /// Safe to run twice: a timed-out attempt may be retried even without `exactly_once`.
    pub idempotent: bool,
}

/// A call's handle: its sequence number at this client.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CallId(pub u64);

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A finished call, handed back to the host with the tag it gave.
#[derive(Debug)]
pub struct Completion<Resp, Tag> {
    pub call: CallId,
    pub peer: NodeId,
    pub tag: Tag,
    pub result: Result<Resp, RpcError>,
    /// Attempts sent.
    pub attempts: u32,
    /// From the call to its completion, on the node's clock.
    pub latency: Duration,
}

/// A call refused before anything was sent; always definite.
#[derive(Debug)]
pub struct Refused<Tag> {
    pub tag: Tag,
    pub error: RpcError,
}

/// The client's timers: an attempt's timeout, or the end of a backoff.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ClientTimer {
    pub call: u64,
    pub attempt: u32,
    pub backoff: bool,
}

impl fmt::Debug for ClientTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.backoff {
            write!(f, "RpcBackoff #{} after try {}", self.call, self.attempt)
        } else {
            write!(f, "RpcTimeout #{} try {}", self.call, self.attempt)
        }
    }
}

/// A peer's circuit breaker.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BreakerState {
    Closed {
        failures: u32,
    },
    /// No attempts until `until` (node's clock).
    Open {
        until: Instant,
    },
    /// Only the probe call's attempts go.
    HalfOpen {
        probe: u64,
    },
}

struct Call<Req, Tag> {
    peer: NodeId,
    body: Req,
    tag: Tag,
    options: CallOptions,
    /// Attempts sent so far.
    attempt: u32,
    started_at: Instant,
    deadline_at: Instant,
    /// The attempt's timeout, or the backoff's end; `None` only inside a handler.
    timer: Option<ClientTimer>,
    backing_off: bool,
    /// An attempt timed out without an answer: it may have run.
    maybe_executed: bool,
}

/// The client side of the RPC layer, embedded in a host protocol. `Tag` is the host's own
/// data for a call (a history process, say), handed back with its completion.
pub struct RpcClient<Req, Resp, Tag = ()> {
    config: ClientConfig,
    id: Option<ClientId>,
    next_call: u64,
    calls: BTreeMap<u64, Call<Req, Tag>>,
    /// Retry budget balance in millionths of a token.
    budget_micro_tokens: u64,
    breakers: BTreeMap<NodeId, BreakerState>,
    response: PhantomData<fn() -> Resp>,
}

const TOKEN: u64 = 1_000_000;

impl<Req: Message, Resp: Message, Tag> RpcClient<Req, Resp, Tag> {
    pub fn new(config: ClientConfig) -> RpcClient<Req, Resp, Tag> {
        assert!(config.calls_max > 0);
        assert!(
            config.window_max >= config.calls_max as u64,
            "the window must hold every outstanding call"
        );
        assert!(config.retry.attempts_max >= 1);
        assert!(config.retry.attempt_timeout > Duration::ZERO);
        assert!(config.retry.backoff_initial <= config.retry.backoff_max);
        if let Some(breaker) = config.breaker {
            assert!(breaker.failures_to_open >= 1);
        }
        let budget_micro_tokens = config
            .retry
            .budget
            .map_or(0, |b| u64::from(b.reserve.max(1)) * TOKEN);
        RpcClient {
            config,
            id: None,
            next_call: 0,
            calls: BTreeMap::new(),
            budget_micro_tokens,
            breakers: BTreeMap::new(),
            response: PhantomData,
        }
    }

    /// Takes the client's identity; call it from the host's `on_start`.
    pub fn start<M: Message, T: Timer, O>(&mut self, ctx: &mut Context<'_, M, T, O>) {
        assert!(
            self.id.is_none(),
            "an RpcClient starts once per incarnation"
        );
        self.id = Some(ClientId {
            node: ctx.id(),
            incarnation: ctx.incarnation(),
            channel: self.config.channel,
        });
    }

    pub fn id(&self) -> ClientId {
        self.id.expect("RpcClient::start was not called")
    }

    pub fn outstanding(&self) -> usize {
        self.calls.len()
    }

    pub fn breaker(&self, peer: NodeId) -> BreakerState {
        self.breakers
            .get(&peer)
            .copied()
            .unwrap_or(BreakerState::Closed { failures: 0 })
    }

    /// The lowest sequence number still outstanding: everything below it is finished for good.
    fn acked_below(&self) -> u64 {
        self.calls.keys().next().copied().unwrap_or(self.next_call)
    }

    /// Starts a call to `peer`. A call refused before anything was sent (too many calls, an
    /// open circuit) returns its tag with a definite error.
    pub fn call<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        peer: NodeId,
        body: Req,
        options: CallOptions,
        tag: Tag,
    ) -> Result<CallId, Refused<Tag>>
    where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ClientTimer>,
    {
        assert!(self.id.is_some(), "RpcClient::start was not called");
        assert!(
            options.deadline > Duration::ZERO,
            "a call needs time to run"
        );
        ctx.count("rpc-calls", 1);
        let refuse =
            |ctx: &mut Context<'_, M, T, O>, tag: Tag, kind: ErrorKind, name: &'static str| {
                ctx.count(name, 1);
                let error = RpcError {
                    kind,
                    certainty: Certainty::Definite,
                };
                Err(Refused { tag, error })
            };
        if self.calls.len() >= self.config.calls_max
            || self.next_call - self.acked_below() >= self.config.window_max
        {
            return refuse(
                ctx,
                tag,
                ErrorKind::TooManyCalls,
                "rpc-errors-too-many-calls",
            );
        }
        if let Some(budget) = self.config.retry.budget {
            let cap = u64::from(budget.reserve.max(1)) * TOKEN;
            self.budget_micro_tokens =
                (self.budget_micro_tokens + u64::from(budget.retry_percent) * TOKEN / 100).min(cap);
        }
        let sequence = self.next_call;
        if !self.breaker_allows(ctx, peer, sequence) {
            return refuse(ctx, tag, ErrorKind::CircuitOpen, "rpc-errors-circuit-open");
        }
        self.next_call += 1;
        let now = ctx.now();
        self.calls.insert(
            sequence,
            Call {
                peer,
                body,
                tag,
                options,
                attempt: 0,
                started_at: now,
                deadline_at: now + options.deadline,
                timer: None,
                backing_off: false,
                maybe_executed: false,
            },
        );
        self.send_attempt(ctx, sequence);
        assert!(self.calls.len() <= self.config.calls_max);
        Ok(CallId(sequence))
    }

    /// Gives up on a call. It is indefinite if an attempt may have run.
    pub fn cancel<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        call: CallId,
    ) -> Option<Completion<Resp, Tag>>
    where
        M: Message,
        T: Timer + From<ClientTimer>,
    {
        self.calls
            .contains_key(&call.0)
            .then(|| self.finish(ctx, call.0, Err(ErrorKind::Cancelled)))
    }

    /// Handles a reply. Replies to finished calls (late or duplicated) and to a previous
    /// incarnation's calls are counted and dropped.
    pub fn on_reply<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        from: NodeId,
        reply: Reply<Resp>,
    ) -> Option<Completion<Resp, Tag>>
    where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ClientTimer>,
    {
        if Some(reply.client) != self.id {
            ctx.count("rpc-replies-unknown", 1);
            return None;
        }
        let Some(call) = self.calls.get_mut(&reply.call) else {
            ctx.count("rpc-replies-late", 1);
            return None;
        };
        assert_eq!(
            from, call.peer,
            "a reply to call #{} came from a node it was not sent to",
            reply.call
        );
        assert!(
            reply.attempt >= 1 && reply.attempt <= call.attempt,
            "a reply to an attempt never sent"
        );
        match reply.outcome {
            // Any attempt's answer is the call's answer: a late reply to an attempt that timed
            // out still completes the call if it is outstanding.
            ReplyOutcome::Done { response, .. } => {
                let peer = call.peer;
                self.breaker_success(ctx, peer, reply.call);
                Some(self.finish(ctx, reply.call, Ok(response)))
            }
            ReplyOutcome::Refused(refusal) => {
                // The server forgets a call only below the watermark this client sent, which
                // never passes an outstanding call.
                assert!(
                    refusal != Refusal::Stale,
                    "the server forgot outstanding call #{}",
                    reply.call
                );
                if call.backing_off || reply.attempt != call.attempt {
                    // A refusal of an attempt already given up on; the current one stands.
                    ctx.count("rpc-replies-superseded", 1);
                    return None;
                }
                let timer = call
                    .timer
                    .take()
                    .expect("an attempt in flight has a timeout");
                ctx.cancel_timer(T::from(timer));
                if refusal == Refusal::Overloaded {
                    let peer = call.peer;
                    self.breaker_failure(ctx, peer, reply.call);
                }
                self.retry_or_finish(ctx, reply.call, ErrorKind::Refused(refusal))
            }
        }
    }

    /// Handles one of the client's timers.
    pub fn on_timer<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        timer: ClientTimer,
    ) -> Option<Completion<Resp, Tag>>
    where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ClientTimer>,
    {
        // Finishing a call cancels its timer, so every timer that fires belongs to a live call.
        let call = self
            .calls
            .get_mut(&timer.call)
            .expect("a finished call's timers are cancelled");
        assert_eq!(
            timer.attempt, call.attempt,
            "only the current attempt has a timer"
        );
        assert_eq!(timer.backoff, call.backing_off);
        call.timer = None;
        let peer = call.peer;
        if timer.backoff {
            call.backing_off = false;
            if call.deadline_at.saturating_since(ctx.now()) == Duration::ZERO {
                return Some(self.finish(ctx, timer.call, Err(ErrorKind::DeadlineExceeded)));
            }
            return self.retry_through_breaker(ctx, timer.call);
        }
        call.maybe_executed = true;
        ctx.count("rpc-attempt-timeouts", 1);
        self.breaker_failure(ctx, peer, timer.call);
        self.retry_or_finish(ctx, timer.call, ErrorKind::Timeout)
    }

    fn send_attempt<M, T, O>(&mut self, ctx: &mut Context<'_, M, T, O>, sequence: u64)
    where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ClientTimer>,
    {
        let acked_below = self.acked_below();
        let client = self.id();
        let call = self.calls.get_mut(&sequence).expect("a live call");
        assert!(
            call.timer.is_none() && !call.backing_off,
            "one attempt at a time"
        );
        assert!(call.attempt < self.config.retry.attempts_max);
        assert!(
            acked_below <= sequence,
            "the watermark never passes an outstanding call"
        );
        let remaining = call.deadline_at.saturating_since(ctx.now());
        assert!(remaining > Duration::ZERO, "no attempt after the deadline");
        call.attempt += 1;
        ctx.count("rpc-attempts", 1);
        let request = Request {
            client,
            call: sequence,
            attempt: call.attempt,
            exactly_once: call.options.exactly_once,
            acked_below,
            body: call.body.clone(),
        };
        ctx.send(call.peer, M::from(RpcMessage::Request(request)));
        let timeout = self.config.retry.attempt_timeout.min(remaining);
        let timer = ClientTimer {
            call: sequence,
            attempt: call.attempt,
            backoff: false,
        };
        ctx.set_timer(timeout, T::from(timer.clone()));
        call.timer = Some(timer);
    }

    /// After an attempt failed with `kind`: retry (now or after a backoff) if the call may be
    /// retried and its limits allow, else finish it.
    fn retry_or_finish<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        sequence: u64,
        kind: ErrorKind,
    ) -> Option<Completion<Resp, Tag>>
    where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ClientTimer>,
    {
        let policy = self.config.retry.clone();
        let call = self.calls.get(&sequence).expect("a live call");
        assert!(call.timer.is_none(), "the failed attempt's timer is gone");
        let retryable = match kind {
            ErrorKind::Refused(Refusal::Overloaded) => true,
            // Retrying a timed-out call runs it twice unless the server deduplicates it or
            // running it twice is harmless.
            ErrorKind::Timeout => call.options.exactly_once || call.options.idempotent,
            _ => false,
        };
        if !retryable {
            return Some(self.finish(ctx, sequence, Err(kind)));
        }
        let remaining = call.deadline_at.saturating_since(ctx.now());
        if remaining == Duration::ZERO {
            return Some(self.finish(ctx, sequence, Err(ErrorKind::DeadlineExceeded)));
        }
        if call.attempt >= policy.attempts_max {
            ctx.count("rpc-attempts-exhausted", 1);
            return Some(self.finish(ctx, sequence, Err(kind)));
        }
        let backoff = Self::backoff(ctx, &policy, call.attempt);
        if backoff >= remaining {
            // The retry would start after the deadline: give up now rather than wait for it.
            return Some(self.finish(ctx, sequence, Err(ErrorKind::DeadlineExceeded)));
        }
        if policy.budget.is_some() {
            if self.budget_micro_tokens < TOKEN {
                ctx.count("rpc-retry-budget-exhausted", 1);
                return Some(self.finish(ctx, sequence, Err(kind)));
            }
            self.budget_micro_tokens -= TOKEN;
        }
        ctx.count("rpc-retries", 1);
        if backoff == Duration::ZERO {
            return self.retry_through_breaker(ctx, sequence);
        }
        self.wait(ctx, sequence, backoff);
        None
    }

    /// Sends the next attempt if the peer's breaker lets it through. A breaker that is open
    /// does not end a call already under way: the retry waits for the breaker's cooldown, or
    /// for its probe, as long as the deadline allows. Failing at once would turn every call
    /// that had a timed-out attempt into an indefinite error while the breaker is open.
    fn retry_through_breaker<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        sequence: u64,
    ) -> Option<Completion<Resp, Tag>>
    where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ClientTimer>,
    {
        let call = self.calls.get(&sequence).expect("a live call");
        let peer = call.peer;
        let now = ctx.now();
        let remaining = call.deadline_at.saturating_since(now);
        if remaining == Duration::ZERO {
            return Some(self.finish(ctx, sequence, Err(ErrorKind::DeadlineExceeded)));
        }
        if self.breaker_allows(ctx, peer, sequence) {
            self.send_attempt(ctx, sequence);
            return None;
        }
        let wait = match self.breaker(peer) {
            BreakerState::Open { until } => until.saturating_since(now),
            // Another call probes; its answer comes within an attempt timeout.
            BreakerState::HalfOpen { .. } | BreakerState::Closed { .. } => {
                self.config.retry.attempt_timeout
            }
        }
        .max(Duration::from_millis(1));
        if wait >= remaining {
            ctx.count("rpc-errors-circuit-open", 1);
            return Some(self.finish(ctx, sequence, Err(ErrorKind::CircuitOpen)));
        }
        ctx.count("rpc-retries-waiting-for-breaker", 1);
        self.wait(ctx, sequence, wait);
        None
    }

    /// Sets the timer that ends a backoff.
    fn wait<M, T, O>(&mut self, ctx: &mut Context<'_, M, T, O>, sequence: u64, wait: Duration)
    where
        M: Message,
        T: Timer + From<ClientTimer>,
    {
        let call = self.calls.get_mut(&sequence).expect("a live call");
        assert!(call.timer.is_none(), "one timer per call");
        let timer = ClientTimer {
            call: sequence,
            attempt: call.attempt,
            backoff: true,
        };
        ctx.set_timer(wait, T::from(timer.clone()));
        call.timer = Some(timer);
        call.backing_off = true;
    }

    /// `backoff_initial * 2^(retries so far)`, capped, and with full jitter drawn from the
    /// node's stream.
    fn backoff<M: Message, T: Timer, O>(
        ctx: &mut Context<'_, M, T, O>,
        policy: &RetryPolicy,
        attempts: u32,
    ) -> Duration {
        if policy.backoff_initial == Duration::ZERO {
            return Duration::ZERO;
        }
        let doublings = attempts.saturating_sub(1).min(32);
        let ceiling = policy
            .backoff_initial
            .saturating_mul(1u64 << doublings)
            .min(policy.backoff_max);
        if policy.jitter {
            ctx.rng().duration_between(Duration::ZERO, ceiling)
        } else {
            ceiling
        }
    }

    fn finish<M: Message, T: Timer + From<ClientTimer>, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        sequence: u64,
        result: Result<Resp, ErrorKind>,
    ) -> Completion<Resp, Tag> {
        let call = self.calls.remove(&sequence).expect("a live call");
        let in_flight = call.timer.is_some() && !call.backing_off;
        if let Some(timer) = call.timer {
            ctx.cancel_timer(T::from(timer));
        }
        let now = ctx.now();
        let result = match result {
            Ok(response) => {
                ctx.count("rpc-ok", 1);
                ctx.sample("rpc-call-latency", now.saturating_since(call.started_at));
                Ok(response)
            }
            Err(kind) => {
                // A probe that ends without a verdict on the peer leaves the breaker open.
                if self.breakers.get(&call.peer)
                    == Some(&BreakerState::HalfOpen { probe: sequence })
                {
                    self.breaker_failure(ctx, call.peer, sequence);
                }
                let certainty = if call.maybe_executed || in_flight {
                    Certainty::Indefinite
                } else {
                    Certainty::Definite
                };
                ctx.count(
                    match certainty {
                        Certainty::Definite => "rpc-errors-definite",
                        Certainty::Indefinite => "rpc-errors-indefinite",
                    },
                    1,
                );
                Err(RpcError { kind, certainty })
            }
        };
        Completion {
            call: CallId(sequence),
            peer: call.peer,
            tag: call.tag,
            result,
            attempts: call.attempt,
            latency: now.saturating_since(call.started_at),
        }
    }

    fn breaker_allows<M: Message, T: Timer, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        peer: NodeId,
        sequence: u64,
    ) -> bool {
        if self.config.breaker.is_none() {
            return true;
        }
        let now = ctx.now();
        let state = self
            .breakers
            .entry(peer)
            .or_insert(BreakerState::Closed { failures: 0 });
        let allowed = match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                *state = BreakerState::HalfOpen { probe: sequence };
                ctx.annotate(format_args!(
                    "breaker {peer} half-open: call #{sequence} probes"
                ));
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { probe } => probe == sequence,
        };
        assert!(
            self.breakers.len() <= ctx.members().len(),
            "one breaker per peer"
        );
        allowed
    }

    fn breaker_failure<M: Message, T: Timer, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        peer: NodeId,
        sequence: u64,
    ) {
        let Some(config) = self.config.breaker else {
            return;
        };
        let state = self
            .breakers
            .entry(peer)
            .or_insert(BreakerState::Closed { failures: 0 });
        let until = ctx.now() + config.cooldown;
        match *state {
            BreakerState::Closed { failures } if failures + 1 >= config.failures_to_open => {
                *state = BreakerState::Open { until };
                ctx.count("rpc-breaker-opened", 1);
                ctx.annotate(format_args!(
                    "breaker {peer} open for {} after {} failures",
                    config.cooldown,
                    failures + 1
                ));
            }
            BreakerState::Closed { failures } => {
                *state = BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            BreakerState::HalfOpen { probe } if probe == sequence => {
                *state = BreakerState::Open { until };
                ctx.count("rpc-breaker-opened", 1);
                ctx.annotate(format_args!(
                    "breaker {peer} open again: probe #{sequence} failed"
                ));
            }
            BreakerState::HalfOpen { .. } | BreakerState::Open { .. } => {}
        }
    }

    fn breaker_success<M: Message, T: Timer, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        peer: NodeId,
        sequence: u64,
    ) {
        if self.config.breaker.is_none() {
            return;
        }
        let state = self
            .breakers
            .entry(peer)
            .or_insert(BreakerState::Closed { failures: 0 });
        match *state {
            BreakerState::Closed { .. } => *state = BreakerState::Closed { failures: 0 },
            // Any answer shows the peer is back, the probe's or a slower call's.
            BreakerState::HalfOpen { .. } => {
                *state = BreakerState::Closed { failures: 0 };
                ctx.annotate(format_args!(
                    "breaker {peer} closed: call #{sequence} answered"
                ));
            }
            // An answer to an attempt sent before the breaker opened: the cooldown stands.
            BreakerState::Open { .. } => {}
        }
    }
}
