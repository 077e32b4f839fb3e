//! The serving side: deduplication by idempotency key, a bounded queue in front of a bounded
//! pool of workers, load shedding, and a periodic gauge of queue and worker use: time series
//! (`rpc-queue`, `rpc-queue-max`, `rpc-busy-percent`, `rpc-shed`) and a note in the trace.

use super::{Refusal, Reply, ReplyOutcome, Request, RpcMessage};
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, Message, NodeId, Timer};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Calls that execute at once; each busy worker is a timer for the call's service time.
    pub workers: u32,
    /// Calls waiting for a worker at most; more are shed with `overloaded`.
    pub queue_capacity: usize,
    /// Client tables (one per client node and channel) at most.
    pub sessions_max: usize,
    /// Stored replies per client at most: requests further than this beyond the client's
    /// watermark are refused. Matches the clients' `window_max`.
    pub window_max: u64,
    /// Every this long, a trace note with the queue length, worker use and counts since the
    /// last note. `None` writes no notes.
    pub gauge_period: Option<Duration>,
}

/// The server's timers: a worker finished its call, or the gauge is due.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ServerTimer {
    Service { worker: u32, call: u64 },
    Gauge,
}

impl fmt::Debug for ServerTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerTimer::Service { worker, call } => write!(f, "RpcService w{worker} #{call}"),
            ServerTimer::Gauge => write!(f, "RpcGauge"),
        }
    }
}

struct Job<Req> {
    request: Request<Req>,
    service: Duration,
    enqueued_at: Instant,
}

/// What the server remembers of one client (node and channel).
struct Session<Resp> {
    incarnation: u32,
    /// The client's watermark: calls below it are finished at the client for good.
    forgotten_below: u64,
    /// Replies of completed exactly-once calls at or above the watermark.
    completed: BTreeMap<u64, Resp>,
    /// Exactly-once calls queued or executing.
    in_progress: BTreeSet<u64>,
}

enum Dedup<Resp> {
    Run,
    Answer(ReplyOutcome<Resp>),
    /// The first copy is queued or running; its reply answers this one too.
    Drop,
}

/// Counts since the last gauge note.
#[derive(Clone, Copy, Default)]
struct Window {
    queue_length_max: usize,
    received: u64,
    shed: u64,
    executed: u64,
    replayed: u64,
    /// Busy workers integrated over time.
    busy_nanos: u64,
}

/// The server side of the RPC layer, embedded in a host protocol.
pub struct RpcServer<Req, Resp> {
    config: ServerConfig,
    queue: VecDeque<Job<Req>>,
    workers: Vec<Option<Job<Req>>>,
    sessions: BTreeMap<(NodeId, u32), Session<Resp>>,
    /// Between the queue filling up and draining to half: notes mark only the edges.
    shedding: bool,
    window: Window,
    busy_integrated_at: Instant,
}

impl<Req: Message, Resp: Message> RpcServer<Req, Resp> {
    pub fn new(config: ServerConfig) -> RpcServer<Req, Resp> {
        assert!(config.workers >= 1);
        assert!(config.sessions_max >= 1);
        assert!(config.window_max >= 1);
        if let Some(period) = config.gauge_period {
            assert!(period > Duration::ZERO);
        }
        RpcServer {
            workers: (0..config.workers).map(|_| None).collect(),
            queue: VecDeque::with_capacity(config.queue_capacity),
            config,
            sessions: BTreeMap::new(),
            shedding: false,
            window: Window::default(),
            busy_integrated_at: Instant::ZERO,
        }
    }

    /// Call from the host's `on_start`: arms the gauge.
    pub fn start<M: Message, T: Timer + From<ServerTimer>, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
    ) {
        self.busy_integrated_at = ctx.now();
        if let Some(period) = self.config.gauge_period {
            ctx.set_timer(period, T::from(ServerTimer::Gauge));
        }
    }

    pub fn queue_length(&self) -> usize {
        self.queue.len()
    }

    pub fn workers_busy(&self) -> u32 {
        self.workers.iter().filter(|w| w.is_some()).count() as u32
    }

    /// Replies held for deduplication, over all clients.
    pub fn stored_replies(&self) -> usize {
        self.sessions.values().map(|s| s.completed.len()).sum()
    }

    /// Handles a request that costs `service` of a worker's time if it runs.
    pub fn on_request<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        from: NodeId,
        request: Request<Req>,
        service: Duration,
    ) where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ServerTimer>,
    {
        assert_eq!(
            from, request.client.node,
            "a request names the node that sent it"
        );
        assert!(request.attempt >= 1);
        self.integrate_busy(ctx.now());
        self.window.received += 1;
        ctx.count("rpc-server-requests", 1);
        if request.exactly_once {
            match self.dedup(&request) {
                Dedup::Run => {}
                Dedup::Drop => {
                    ctx.count("rpc-server-duplicates-in-progress", 1);
                    return;
                }
                Dedup::Answer(outcome) => {
                    match &outcome {
                        ReplyOutcome::Done { .. } => {
                            self.window.replayed += 1;
                            ctx.count("rpc-server-replayed", 1);
                        }
                        ReplyOutcome::Refused(_) => ctx.count("rpc-server-refused", 1),
                    }
                    Self::reply(ctx, &request, outcome);
                    return;
                }
            }
        }
        let job = Job {
            request,
            service,
            enqueued_at: ctx.now(),
        };
        if let Some(worker) = self.workers.iter().position(Option::is_none) {
            assert!(
                self.queue.is_empty(),
                "a worker idles only when nothing waits"
            );
            self.remember_in_progress(&job.request);
            self.begin(ctx, worker, job);
        } else if self.queue.len() < self.config.queue_capacity {
            self.remember_in_progress(&job.request);
            self.queue.push_back(job);
            self.window.queue_length_max = self.window.queue_length_max.max(self.queue.len());
        } else {
            self.window.shed += 1;
            ctx.count("rpc-server-shed", 1);
            if !self.shedding {
                self.shedding = true;
                ctx.annotate(format_args!(
                    "queue full ({}): shedding load",
                    self.config.queue_capacity
                ));
            }
            Self::reply(
                ctx,
                &job.request,
                ReplyOutcome::Refused(Refusal::Overloaded),
            );
        }
        assert!(self.queue.len() <= self.config.queue_capacity);
    }

    /// Handles one of the server's timers. When a worker finishes, `execute` runs the call
    /// (this is when it takes effect: at the end of its service time) and returns its response.
    pub fn on_timer<M, T, O>(
        &mut self,
        ctx: &mut Context<'_, M, T, O>,
        timer: ServerTimer,
        execute: impl FnOnce(&mut Context<'_, M, T, O>, &Request<Req>) -> Resp,
    ) where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer + From<ServerTimer>,
    {
        let now = ctx.now();
        self.integrate_busy(now);
        match timer {
            ServerTimer::Gauge => {
                let period = self
                    .config
                    .gauge_period
                    .expect("the gauge runs only when configured");
                let window = std::mem::take(&mut self.window);
                let capacity_nanos = u64::from(self.config.workers)
                    .saturating_mul(period.as_nanos())
                    .max(1);
                let busy_percent = window.busy_nanos.saturating_mul(100) / capacity_nanos;
                let queue_max = window.queue_length_max.max(self.queue.len());
                // The series are the data (a replay's per-second table reads them); the note
                // is for people reading the trace.
                ctx.series("rpc-queue", self.queue.len() as u64);
                ctx.series("rpc-queue-max", queue_max as u64);
                ctx.series("rpc-busy-percent", busy_percent);
                ctx.series("rpc-shed", window.shed);
                ctx.annotate(format_args!(
                    "gauge queue {}/{} max {}, workers {}/{} busy {}%, received {}, shed {}, executed {}, replayed {}",
                    self.queue.len(),
                    self.config.queue_capacity,
                    queue_max,
                    self.workers_busy(),
                    self.config.workers,
                    busy_percent,
                    window.received,
                    window.shed,
                    window.executed,
                    window.replayed,
                ));
                ctx.set_timer(period, T::from(ServerTimer::Gauge));
            }
            ServerTimer::Service { worker, call } => {
                let job = self.workers[worker as usize]
                    .take()
                    .expect("a service timer belongs to a busy worker");
                assert_eq!(
                    job.request.call, call,
                    "the worker finished the call it started"
                );
                let response = execute(ctx, &job.request);
                self.window.executed += 1;
                ctx.count("rpc-server-executed", 1);
                if job.request.exactly_once {
                    self.remember_completed(&job.request, &response);
                }
                let outcome = ReplyOutcome::Done {
                    response,
                    replayed: false,
                };
                Self::reply(ctx, &job.request, outcome);
                if let Some(next) = self.queue.pop_front() {
                    self.begin(ctx, worker as usize, next);
                }
                if self.shedding && self.queue.len() <= self.config.queue_capacity / 2 {
                    self.shedding = false;
                    ctx.annotate(format_args!(
                        "queue down to {}: admitting again",
                        self.queue.len()
                    ));
                }
            }
        }
    }

    fn begin<M, T, O>(&mut self, ctx: &mut Context<'_, M, T, O>, worker: usize, job: Job<Req>)
    where
        M: Message,
        T: Timer + From<ServerTimer>,
    {
        assert!(
            self.workers[worker].is_none(),
            "a worker runs one call at a time"
        );
        ctx.sample(
            "rpc-queue-wait",
            ctx.now().saturating_since(job.enqueued_at),
        );
        let timer = ServerTimer::Service {
            worker: worker as u32,
            call: job.request.call,
        };
        ctx.set_timer(job.service, T::from(timer));
        self.workers[worker] = Some(job);
    }

    fn reply<M, T, O>(
        ctx: &mut Context<'_, M, T, O>,
        request: &Request<Req>,
        outcome: ReplyOutcome<Resp>,
    ) where
        M: Message + From<RpcMessage<Req, Resp>>,
        T: Timer,
    {
        let reply = Reply {
            client: request.client,
            call: request.call,
            attempt: request.attempt,
            outcome,
        };
        ctx.send(request.client.node, M::from(RpcMessage::Reply(reply)));
    }

    /// The deduplication table's verdict on an exactly-once request; applies the forgetting
    /// rule on the way.
    fn dedup(&mut self, request: &Request<Req>) -> Dedup<Resp> {
        let client = request.client;
        let key = (client.node, client.channel);
        let fresh = || Session {
            incarnation: client.incarnation,
            forgotten_below: 0,
            completed: BTreeMap::new(),
            in_progress: BTreeSet::new(),
        };
        let sessions_count = self.sessions.len();
        match self.sessions.get_mut(&key) {
            None if sessions_count >= self.config.sessions_max => {
                return Dedup::Answer(ReplyOutcome::Refused(Refusal::SessionsFull));
            }
            None => {
                self.sessions.insert(key, fresh());
            }
            Some(session) if session.incarnation > client.incarnation => {
                return Dedup::Answer(ReplyOutcome::Refused(Refusal::Stale));
            }
            // A restarted client: its old incarnation will never be answered again, so its
            // table goes and its requests are refused as stale from now on.
            Some(session) if session.incarnation < client.incarnation => *session = fresh(),
            Some(_) => {}
        }
        let session = self.sessions.get_mut(&key).expect("inserted above");
        if request.acked_below > session.forgotten_below {
            session.forgotten_below = request.acked_below;
            session.completed = session.completed.split_off(&request.acked_below);
        }
        if request.call < session.forgotten_below {
            return Dedup::Answer(ReplyOutcome::Refused(Refusal::Stale));
        }
        if let Some(response) = session.completed.get(&request.call) {
            return Dedup::Answer(ReplyOutcome::Done {
                response: response.clone(),
                replayed: true,
            });
        }
        if session.in_progress.contains(&request.call) {
            return Dedup::Drop;
        }
        if request.call
            >= session
                .forgotten_below
                .saturating_add(self.config.window_max)
        {
            return Dedup::Answer(ReplyOutcome::Refused(Refusal::WindowExceeded));
        }
        Dedup::Run
    }

    fn remember_in_progress(&mut self, request: &Request<Req>) {
        if !request.exactly_once {
            return;
        }
        let session = self
            .sessions
            .get_mut(&(request.client.node, request.client.channel))
            .expect("dedup() made the session");
        assert!(
            session.in_progress.insert(request.call),
            "one copy of a call runs at a time"
        );
        assert!(
            session.in_progress.len() <= self.config.queue_capacity + self.config.workers as usize
        );
    }

    fn remember_completed(&mut self, request: &Request<Req>, response: &Resp) {
        let Some(session) = self
            .sessions
            .get_mut(&(request.client.node, request.client.channel))
        else {
            return;
        };
        if session.incarnation != request.client.incarnation {
            return; // The client restarted while its call ran; nobody will ask again.
        }
        assert!(
            session.in_progress.remove(&request.call),
            "a running exactly-once call is in progress"
        );
        // Below the watermark the client has stopped asking: nothing to store.
        if request.call >= session.forgotten_below {
            let earlier = session.completed.insert(request.call, response.clone());
            assert!(earlier.is_none(), "an exactly-once call ran twice");
            assert!(session.completed.len() as u64 <= self.config.window_max);
        }
    }

    /// Adds busy workers times elapsed time to the gauge's window.
    fn integrate_busy(&mut self, now: Instant) {
        let elapsed = now.saturating_since(self.busy_integrated_at);
        self.window.busy_nanos = self.window.busy_nanos.saturating_add(
            elapsed
                .as_nanos()
                .saturating_mul(u64::from(self.workers_busy())),
        );
        self.busy_integrated_at = now;
    }
}
