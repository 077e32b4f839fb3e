//! Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm") with a
//! linearizable key-value store on it, as a sans-IO state machine.
//!
//! - **Election**: randomized election timeouts drawn from the node's own stream; pre-vote (a
//!   node asks whether it could win before it raises its term, so a node cut off and back does
//!   not depose a healthy leader); check-quorum (a leader that has not heard from a majority
//!   within an election timeout steps down) with its companion, leader stickiness (a node that
//!   heard from a leader within the least election timeout ignores votes and pre-votes).
//! - **Replication**: `Append` carries up to `BATCH_MAX` entries from a follower's next index;
//!   a follower that does not hold the previous entry answers with the conflicting term and
//!   its first index (or its log's end), so the leader backs up a whole term per round trip.
//!   A leader commits by counting only entries of its own term (Figure 8); earlier ones commit
//!   with them. A new leader appends a no-op of its term at once.
//! - **Persistence** (`storage`): term, vote and log are durable before the node answers in a
//!   way that depends on them: a vote granted, a vote asked for, an append acknowledged. The
//!   messages wait for the sync that covers them (`send_durable`); one write and its sync are
//!   in flight at a time, and records gathered meanwhile go together in the next (group
//!   commit). A leader counts itself in a commit only for entries on its disk.
//! - **Reads** through ReadIndex: a get is answered once the leader has committed an entry of
//!   its term, a round of heartbeats started after the get arrived was acknowledged by a
//!   majority (so it was still the leader), and it applied up to its commit index at arrival.
//!   No lease reads (see the planted bug `LeaseReadUnderDrift`).
//! - **Exactly once**: a write carries its client process and request id; the replicated state
//!   machine keeps, per process, the last request applied and its answer, so a retried write
//!   that is in the log twice runs once and both copies answer alike. The table is part of the
//!   replicated state.
//!
//! What checkers outside see are `RaftObservation`s; `invariants` judges them online.

pub mod invariants;
pub mod storage;

use crate::kv_client::{KvOp, KvProtocol, KvReply};
use faultline_api::disk::{DiskOp, IoError, IoResult};
use faultline_api::hash::StableHasher;
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, IoId, Node, NodeId};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use storage::Record;

/// Entries in one `Append` at most.
const BATCH_MAX: usize = 64;
/// Gets waiting for a read index at most; more are refused.
const READS_MAX: usize = 4096;

/// What a log entry asks the state machine to do.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Command {
    /// A new leader's first entry.
    Noop,
    /// Client process `process`'s request `request`.
    Op {
        process: u64,
        request: u64,
        op: KvOp,
    },
}

/// A log entry.
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Entry {
    pub term: u64,
    pub command: Command,
}

/// Where a follower's log parts from the leader's.
#[derive(
    Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Conflict {
    /// The term of the follower's entry at the previous index, if it has one there.
    pub term: Option<u64>,
    /// The first index of that term in the follower's log, or the end of its log.
    pub index: u64,
}

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum RaftMessage {
    /// From a client.
    Request {
        request: u64,
        process: u64,
        op: KvOp,
    },
    /// To a client.
    Reply {
        request: u64,
        reply: KvReply,
    },
    /// Could `term` be won with this log? Changes nothing at the receiver.
    PreVote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    PreVoteReply {
        term: u64,
        granted: bool,
    },
    Vote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    VoteReply {
        term: u64,
        granted: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
        /// The leader's heartbeat round, echoed back (ReadIndex).
        round: u64,
    },
    AppendReply {
        term: u64,
        /// `Ok(match index)`, or where the logs part.
        result: Result<u64, Conflict>,
        round: u64,
    },
}

/// Plugs the generic key-value client into Raft.
pub struct RaftKvProtocol;

impl KvProtocol for RaftKvProtocol {
    type Message = RaftMessage;
    fn request(request: u64, process: u64, op: KvOp) -> RaftMessage {
        RaftMessage::Request {
            request,
            process,
            op,
        }
    }
    fn reply(message: RaftMessage) -> Option<(u64, KvReply)> {
        match message {
            RaftMessage::Reply { request, reply } => Some((request, reply)),
            _ => None,
        }
    }
}

#[derive(
    Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum RaftTimer {
    /// A follower's or candidate's election timeout; a leader's check-quorum period.
    Election,
    /// A leader's heartbeat; a candidate's next round of vote requests.
    Heartbeat,
}

/// What a Raft node reports to checkers outside it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RaftObservation {
    /// The node stopped leading `term` (it saw a higher term, or lost its quorum).
    SteppedDown { term: u64 },
    /// Recovery read the disk: the term, vote and log it found (`runs` as in `BecameLeader`,
    /// and its length), and whether it cut a torn tail.
    Recovered {
        term: u64,
        vote: Option<u32>,
        runs: Vec<(u64, u64)>,
        last_index: u64,
        torn: bool,
    },
    /// The node became leader of `term` with a log whose terms are `runs`: `(first index,
    /// term)` for each run of entries of one term.
    BecameLeader {
        term: u64,
        runs: Vec<(u64, u64)>,
        last_index: u64,
    },
    /// The node stored entries: `(index, term, previous term, digest)` each, the previous
    /// term that of the entry before it in the node's log (0 for the first). Log matching
    /// holds if one (index, term) always comes with one previous term and one digest: then, by
    /// induction down the log, two logs holding it agree up to it.
    Stored { entries: Vec<(u64, u64, u64, u64)> },
    /// As leader of `leader_term`, the node counted entries committed: `(index, term)` each.
    Committed {
        entries: Vec<(u64, u64)>,
        leader_term: u64,
    },
    /// The node applied entries: `(index, term, command digest)` each.
    Applied { entries: Vec<(u64, u64, u64)> },
    /// The node told clients that the writes at these `(index, term)` took effect.
    Acknowledged { entries: Vec<(u64, u64)> },
}

/// Planted bugs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum RaftBug {
    #[default]
    None,
    /// Grants a vote without recording it: after a restart the node may vote again in the
    /// same term.
    VoteNotPersisted,
    /// Commits an entry of an earlier term by counting replicas, and (like the leader of
    /// Figure 8 in the Raft paper) appends no entry of its own term on election, since that
    /// no-op would reach a majority together with the old entries and hide the bug.
    CommitOldTermByCount,
    /// A follower overwrites conflicting entries but keeps the rest of its log after them.
    NoTruncationOnConflict,
    /// A leader answers gets from its state at once, without confirming it still leads.
    StaleReadFromOldLeader,
    /// A leader answers gets from its state while its lease lasts: less than the least
    /// election timeout, by its own clock, since a majority acknowledged a heartbeat round.
    LeaseReadUnderDrift,
    /// A follower acknowledges appended entries when their write completes, before the sync.
    AckBeforeSync,
    /// Every election timeout is the least one: nodes that start together time out together.
    ElectionTimeoutNotRandomized,
    /// A leader that no longer hears from a majority keeps leading (no check-quorum).
    NoCheckQuorum,
    /// A leader never tells its followers its commit index, so they apply nothing.
    CommitNotForwarded,
}

#[derive(Clone, Debug)]
pub struct RaftConfig {
    pub heartbeat: Duration,
    pub election_min: Duration,
    pub election_max: Duration,
    pub bug: RaftBug,
}

type Ctx<'a> = Context<'a, RaftMessage, RaftTimer, RaftObservation>;

struct LeaderState {
    next: BTreeMap<NodeId, u64>,
    matched: BTreeMap<NodeId, u64>,
    /// Peers heard from since the last check-quorum.
    active: BTreeSet<NodeId>,
    /// The heartbeat round last sent, when each round from the confirmed one on was sent
    /// (local time; kept only for the lease bug), and the highest round each peer
    /// acknowledged.
    round: u64,
    round_sent_at: BTreeMap<u64, Instant>,
    acked_round: BTreeMap<NodeId, u64>,
    /// A new round goes out at the end of this handler (gets are waiting for one).
    round_wanted: bool,
}

impl LeaderState {
    /// The highest heartbeat round that this leader and `majority - 1` peers have seen.
    fn confirmed_round(&self, majority: usize) -> u64 {
        if majority == 1 {
            return self.round;
        }
        let mut rounds: Vec<u64> = self.acked_round.values().copied().collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds.get(majority - 2).copied().unwrap_or(0)
    }
}

enum Role {
    Follower,
    /// `since`: when its pre-vote round began (local time).
    PreCandidate {
        granted: BTreeSet<NodeId>,
        since: Instant,
    },
    Candidate {
        granted: BTreeSet<NodeId>,
    },
    Leader(Box<LeaderState>),
}

/// A get waiting for its read index to be confirmed and applied.
struct Read {
    client: NodeId,
    request: u64,
    key: String,
    /// The commit index when the get arrived, once the leader has committed in its term.
    index: Option<u64>,
    /// The heartbeat round that confirms the read.
    round: u64,
}

/// The write and sync in flight, and what waits for them.
struct Flush {
    write: IoId,
    sync: IoId,
    /// Which of the two completed (each `Ok`: an error halts the node). Completions come in
    /// any order, and a sync can report before the write it follows has failed: only both
    /// make the records durable.
    written: bool,
    synced: bool,
    messages: Vec<(NodeId, RaftMessage)>,
    /// The log's length when it was submitted (lowered if the log is cut meanwhile).
    last_index: u64,
}

enum Stage {
    Recovering,
    /// Creating the log file: `left` of its write, sync and directory sync outstanding.
    Creating {
        left: u8,
    },
    Running,
    /// The disk failed a write: the node cannot promise durability and takes no part.
    Halted,
}

/// A stable digest of an entry or a command, for checkers to compare.
fn digest(value: &impl Hash) -> u64 {
    let mut hasher = StableHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Whether local time `now` is less than `span` after `at`. A clock that jumped back before
/// `at` counts as long after it: a jump must not hold off an election for its size.
fn within(now: Instant, at: Instant, span: Duration) -> bool {
    now >= at && now.saturating_since(at) < span
}

/// A Raft node serving the key-value store.
pub struct Raft {
    config: RaftConfig,
    stage: Stage,
    role: Role,
    term: u64,
    vote: Option<NodeId>,
    log: Vec<Entry>,
    commit: u64,
    applied: u64,
    leader: Option<NodeId>,
    /// When (local time) this node last heard from a leader of its term.
    heard_leader_at: Option<Instant>,
    store: BTreeMap<String, String>,
    /// Per client process: the last request applied and its answer.
    sessions: BTreeMap<u64, (u64, KvReply)>,
    /// Writes this leader appended, by index: who to answer.
    waiters: BTreeMap<u64, (NodeId, u64)>,
    reads: Vec<Read>,
    next_lsn: u64,
    unsynced: Vec<u8>,
    /// Messages to send once `unsynced` is durable.
    held: Vec<(NodeId, RaftMessage)>,
    flush: Option<Flush>,
    /// Entries known to be on this node's disk.
    durable_index: u64,
    /// What this handler observed, reported together at its end (`finish`), one observation
    /// of each kind, so that a node's observations cost a few events per handler, not a few
    /// per entry.
    seen: Seen,
}

#[derive(Default)]
struct Seen {
    stored: Vec<(u64, u64, u64, u64)>,
    committed: Vec<(u64, u64)>,
    applied: Vec<(u64, u64, u64)>,
    acknowledged: Vec<(u64, u64)>,
}

impl Raft {
    pub fn new(config: RaftConfig) -> Raft {
        assert!(
            config.election_min <= config.election_max && config.heartbeat < config.election_min,
            "heartbeats come faster than election timeouts"
        );
        Raft {
            config,
            stage: Stage::Recovering,
            role: Role::Follower,
            term: 0,
            vote: None,
            log: Vec::new(),
            commit: 0,
            applied: 0,
            leader: None,
            heard_leader_at: None,
            store: BTreeMap::new(),
            sessions: BTreeMap::new(),
            waiters: BTreeMap::new(),
            reads: Vec::new(),
            next_lsn: 1,
            unsynced: Vec::new(),
            held: Vec::new(),
            flush: None,
            durable_index: 0,
            seen: Seen::default(),
        }
    }

    fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        match index {
            0 => 0,
            i => self.log[i as usize - 1].term,
        }
    }

    fn last_term(&self) -> u64 {
        self.term_at(self.last_index())
    }

    fn majority(ctx: &Ctx<'_>) -> usize {
        ctx.members().len() / 2 + 1
    }

    fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    fn up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// Whether a leader was heard from within the least election timeout (leader stickiness).
    fn leader_is_recent(&self, ctx: &Ctx<'_>) -> bool {
        self.is_leader()
            || self
                .heard_leader_at
                .is_some_and(|at| within(ctx.now(), at, self.config.election_min))
    }

    fn election_timeout(&self, ctx: &mut Ctx<'_>) -> Duration {
        if self.config.bug == RaftBug::ElectionTimeoutNotRandomized {
            self.config.election_min
        } else {
            ctx.rng()
                .duration_between(self.config.election_min, self.config.election_max)
        }
    }

    fn arm_election(&mut self, ctx: &mut Ctx<'_>) {
        let timeout = self.election_timeout(ctx);
        ctx.set_timer(timeout, RaftTimer::Election);
    }

    // ---- persistence -------------------------------------------------------------------

    fn record(&mut self, record: Record) {
        self.unsynced
            .extend_from_slice(&record.encode(self.next_lsn));
        self.next_lsn += 1;
    }

    fn persist_hard_state(&mut self) {
        let vote = match self.config.bug {
            RaftBug::VoteNotPersisted => None,
            _ => self.vote.map(|v| v.0),
        };
        self.record(Record::HardState {
            term: self.term,
            vote,
        });
    }

    /// Sends `message` once everything recorded so far is durable.
    fn send_durable(&mut self, ctx: &mut Ctx<'_>, to: NodeId, message: RaftMessage) {
        if !self.unsynced.is_empty() {
            self.held.push((to, message));
        } else if let Some(flush) = &mut self.flush {
            flush.messages.push((to, message));
        } else {
            ctx.send(to, message);
        }
    }

    /// Writes and syncs what was recorded, if no write is in flight.
    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.flush.is_some() || self.unsynced.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.unsynced);
        let write = ctx.disk(DiskOp::Append {
            file: storage::FILE.to_string(),
            data,
        });
        let sync = ctx.disk(DiskOp::Sync {
            file: storage::FILE.to_string(),
        });
        self.flush = Some(Flush {
            write,
            sync,
            written: false,
            synced: false,
            messages: std::mem::take(&mut self.held),
            last_index: self.last_index(),
        });
    }

    /// Stores `entry` at `index` (the log's end, or replacing the entry there and, unless the
    /// bug says otherwise, everything after it).
    fn store_entry(&mut self, index: u64, entry: Entry) {
        let position = index as usize - 1;
        assert!(position <= self.log.len(), "entries are stored in order");
        let keep_tail = self.config.bug == RaftBug::NoTruncationOnConflict;
        if position < self.log.len() {
            assert!(index > self.commit, "a committed entry is never replaced");
            if keep_tail {
                self.log[position] = entry.clone();
            } else {
                self.log.truncate(position);
                self.log.push(entry.clone());
            }
            self.durable_index = self.durable_index.min(index - 1);
            if let Some(flush) = &mut self.flush {
                flush.last_index = flush.last_index.min(index - 1);
            }
            self.waiters.retain(|&at, _| at < index);
        } else {
            self.log.push(entry.clone());
        }
        self.record(Record::Entry { index, entry });
        self.report_stored(position);
        if keep_tail && position + 1 < self.log.len() {
            // The entry after the replaced one stays, now after another entry.
            self.report_stored(position + 1);
        }
    }

    /// Reports the entry at `position` with its predecessor's term and its digest.
    fn report_stored(&mut self, position: usize) {
        let prev_term = self.term_at(position as u64);
        let entry = &self.log[position];
        let stored = (position as u64 + 1, entry.term, prev_term, digest(entry));
        self.seen.stored.push(stored);
    }

    fn recover(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8]) {
        let recovered = storage::recover(bytes);
        ctx.observe(RaftObservation::Recovered {
            term: recovered.term,
            vote: recovered.vote,
            runs: runs(&recovered.log),
            last_index: recovered.log.len() as u64,
            torn: recovered.torn,
        });
        self.term = recovered.term;
        self.vote = recovered.vote.map(NodeId);
        self.next_lsn = recovered.next_lsn;
        if recovered.torn {
            // The records written next follow the cut; one sync covers both.
            ctx.disk(DiskOp::Truncate {
                file: storage::FILE.to_string(),
                len: recovered.end,
            });
        }
        self.log = recovered.log;
        self.durable_index = self.last_index();
        self.stage = Stage::Running;
    }

    // ---- roles -------------------------------------------------------------------------

    /// Moves to `term` (if higher) as a follower.
    fn become_follower(&mut self, ctx: &mut Ctx<'_>, term: u64, leader: Option<NodeId>) {
        if self.is_leader() {
            ctx.observe(RaftObservation::SteppedDown { term: self.term });
            ctx.set_leading(false);
        }
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.persist_hard_state();
        }
        if self.is_leader() {
            ctx.cancel_timer(RaftTimer::Heartbeat);
            self.abandon_clients(ctx, leader);
            self.arm_election(ctx);
        }
        if !matches!(self.role, Role::Follower) {
            self.role = Role::Follower;
        }
        self.leader = leader;
    }

    /// Tells the clients this leader was serving to try elsewhere; their writes may still
    /// commit, and a retry runs at most once.
    fn abandon_clients(&mut self, ctx: &mut Ctx<'_>, leader: Option<NodeId>) {
        let reply = KvReply::NotLeader { leader };
        for (_, (client, request)) in std::mem::take(&mut self.waiters) {
            let reply = reply.clone();
            ctx.send(client, RaftMessage::Reply { request, reply });
        }
        for read in std::mem::take(&mut self.reads) {
            let (request, reply) = (read.request, reply.clone());
            ctx.send(read.client, RaftMessage::Reply { request, reply });
        }
    }

    fn start_pre_vote(&mut self, ctx: &mut Ctx<'_>) {
        self.leader = None;
        self.role = Role::PreCandidate {
            granted: BTreeSet::from([ctx.id()]),
            since: ctx.now(),
        };
        let message = RaftMessage::PreVote {
            term: self.term + 1,
            last_index: self.last_index(),
            last_term: self.last_term(),
        };
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            ctx.send(peer, message.clone());
        }
        self.arm_election(ctx);
        self.tally(ctx);
    }

    fn start_election(&mut self, ctx: &mut Ctx<'_>) {
        self.term += 1;
        self.vote = Some(ctx.id());
        self.persist_hard_state();
        self.role = Role::Candidate {
            granted: BTreeSet::from([ctx.id()]),
        };
        let message = RaftMessage::Vote {
            term: self.term,
            last_index: self.last_index(),
            last_term: self.last_term(),
        };
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            self.send_durable(ctx, peer, message.clone());
        }
        self.arm_election(ctx);
        ctx.set_timer(self.config.heartbeat, RaftTimer::Heartbeat);
        self.tally(ctx);
    }

    /// A candidate asks again, every heartbeat, the peers that have not granted its vote: a
    /// request lost, or answered by a node that has restarted since, does not cost the
    /// election.
    fn ask_again(&mut self, ctx: &mut Ctx<'_>) {
        let Role::Candidate { granted } = &self.role else {
            return;
        };
        let missing: Vec<NodeId> = ctx.peers().filter(|p| !granted.contains(p)).collect();
        let message = RaftMessage::Vote {
            term: self.term,
            last_index: self.last_index(),
            last_term: self.last_term(),
        };
        for peer in missing {
            self.send_durable(ctx, peer, message.clone());
        }
        ctx.set_timer(self.config.heartbeat, RaftTimer::Heartbeat);
    }

    /// Moves on if the votes or pre-votes gathered are a majority.
    fn tally(&mut self, ctx: &mut Ctx<'_>) {
        let majority = Self::majority(ctx);
        match &self.role {
            Role::PreCandidate { granted, .. } if granted.len() >= majority => {
                self.start_election(ctx)
            }
            Role::Candidate { granted, .. } if granted.len() >= majority => self.become_leader(ctx),
            _ => {}
        }
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_>) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        let next = self.last_index() + 1;
        self.role = Role::Leader(Box::new(LeaderState {
            next: peers.iter().map(|&p| (p, next)).collect(),
            matched: peers.iter().map(|&p| (p, 0)).collect(),
            active: BTreeSet::new(),
            round: 0,
            round_sent_at: BTreeMap::new(),
            acked_round: BTreeMap::new(),
            round_wanted: false,
        }));
        self.leader = Some(ctx.id());
        ctx.observe(RaftObservation::BecameLeader {
            term: self.term,
            runs: runs(&self.log),
            last_index: self.last_index(),
        });
        ctx.set_leading(true);
        if self.config.bug != RaftBug::CommitOldTermByCount {
            let entry = Entry {
                term: self.term,
                command: Command::Noop,
            };
            self.store_entry(next, entry);
        }
        self.broadcast(ctx);
        ctx.set_timer(self.config.election_max, RaftTimer::Election);
    }

    // ---- leader ------------------------------------------------------------------------

    /// Sends every peer what it lacks (a heartbeat if nothing), as part of a new round.
    fn broadcast(&mut self, ctx: &mut Ctx<'_>) {
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        state.round += 1;
        state.round_wanted = false;
        if self.config.bug == RaftBug::LeaseReadUnderDrift {
            state.round_sent_at.insert(state.round, ctx.now());
        }
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            self.send_append(ctx, peer);
        }
        ctx.set_timer(self.config.heartbeat, RaftTimer::Heartbeat);
        // Only rounds not yet confirmed matter.
        self.advance_reads(ctx);
    }

    fn send_append(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        let Role::Leader(state) = &self.role else {
            return;
        };
        let next = state.next[&peer].clamp(1, self.last_index() + 1);
        let prev_index = next - 1;
        let end = (prev_index as usize + BATCH_MAX).min(self.log.len());
        let message = RaftMessage::Append {
            term: self.term,
            prev_index,
            prev_term: self.term_at(prev_index),
            entries: self.log[prev_index as usize..end].to_vec(),
            commit: match self.config.bug {
                RaftBug::CommitNotForwarded => 0,
                _ => self.commit,
            },
            round: state.round,
        };
        ctx.send(peer, message);
    }

    /// The highest index a majority holds, counting this leader only for what is on its disk.
    fn advance_commit(&mut self, ctx: &mut Ctx<'_>) {
        let Role::Leader(state) = &self.role else {
            return;
        };
        let majority = Self::majority(ctx);
        let mut index = self.last_index();
        let mut committed = None;
        while index > self.commit {
            let term = self.term_at(index);
            if term < self.term && self.config.bug != RaftBug::CommitOldTermByCount {
                break;
            }
            let mut count = usize::from(self.durable_index >= index);
            count += state.matched.values().filter(|&&m| m >= index).count();
            if count >= majority
                && (term == self.term || self.config.bug == RaftBug::CommitOldTermByCount)
            {
                committed = Some(index);
                break;
            }
            index -= 1;
        }
        let Some(index) = committed else {
            return;
        };
        for at in self.commit + 1..=index {
            let term = self.term_at(at);
            self.seen.committed.push((at, term));
        }
        self.commit = index;
        self.apply(ctx);
    }

    /// Serves the gets whose round a majority confirmed and whose index is applied.
    fn advance_reads(&mut self, ctx: &mut Ctx<'_>) {
        let Role::Leader(state) = &self.role else {
            return;
        };
        if self.reads.is_empty() {
            return;
        }
        let confirmed = state.confirmed_round(Self::majority(ctx));
        let applied = self.applied;
        if self.term_at(self.commit) == self.term {
            for read in &mut self.reads {
                read.index.get_or_insert(self.commit);
            }
        }
        let mut ready = Vec::new();
        self.reads.retain(|read| match read.index {
            Some(index) if read.round <= confirmed && index <= applied => {
                ready.push((read.client, read.request, read.key.clone()));
                false
            }
            _ => true,
        });
        for (client, request, key) in ready {
            let reply = KvReply::Value(self.store.get(&key).cloned().unwrap_or_default());
            ctx.send(client, RaftMessage::Reply { request, reply });
        }
    }

    /// Whether a get may be answered at once, as the lease bug believes.
    fn lease_holds(&self, ctx: &Ctx<'_>) -> bool {
        let Role::Leader(state) = &self.role else {
            return false;
        };
        let confirmed = state.confirmed_round(Self::majority(ctx));
        state
            .round_sent_at
            .get(&confirmed)
            .is_some_and(|&sent| ctx.now().saturating_since(sent) < self.config.election_min)
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        client: NodeId,
        request: u64,
        process: u64,
        op: KvOp,
    ) {
        if !self.is_leader() {
            let reply = KvReply::NotLeader {
                leader: self.leader,
            };
            return ctx.send(client, RaftMessage::Reply { request, reply });
        }
        if let KvOp::Get { key } = op {
            let now_ok = match self.config.bug {
                RaftBug::StaleReadFromOldLeader => true,
                RaftBug::LeaseReadUnderDrift => self.lease_holds(ctx),
                _ => false,
            };
            if now_ok {
                let reply = KvReply::Value(self.store.get(&key).cloned().unwrap_or_default());
                return ctx.send(client, RaftMessage::Reply { request, reply });
            }
            if self.reads.len() >= READS_MAX {
                let reply = KvReply::Failed("overloaded: too many reads waiting".to_string());
                return ctx.send(client, RaftMessage::Reply { request, reply });
            }
            let committed_in_term = self.term_at(self.commit) == self.term;
            let Role::Leader(state) = &mut self.role else {
                unreachable!("checked above")
            };
            state.round_wanted = true;
            self.reads.push(Read {
                client,
                request,
                key,
                index: committed_in_term.then_some(self.commit),
                round: state.round + 1,
            });
            return;
        }
        match self.sessions.get(&process) {
            Some((last, reply)) if *last == request => {
                let reply = reply.clone();
                return ctx.send(client, RaftMessage::Reply { request, reply });
            }
            // An older request of a process that has moved on: nobody waits for it.
            Some((last, _)) if *last > request => return,
            _ => {}
        }
        let index = self.last_index() + 1;
        let entry = Entry {
            term: self.term,
            command: Command::Op {
                process,
                request,
                op,
            },
        };
        self.store_entry(index, entry);
        self.waiters.insert(index, (client, request));
        let peers: Vec<NodeId> = ctx.peers().collect();
        for peer in peers {
            let in_sync = match &self.role {
                Role::Leader(state) => state.next[&peer] == index,
                _ => false,
            };
            if in_sync {
                self.send_append(ctx, peer);
            }
        }
    }

    fn on_append_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        term: u64,
        result: Result<u64, Conflict>,
        round: u64,
    ) {
        if term > self.term {
            return self.become_follower(ctx, term, None);
        }
        let (last_index, majority) = (self.last_index(), Self::majority(ctx));
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        if term < self.term {
            return;
        }
        state.active.insert(from);
        let acked = state.acked_round.entry(from).or_default();
        *acked = (*acked).max(round);
        if self.config.bug == RaftBug::LeaseReadUnderDrift {
            // Rounds below the confirmed one never time a lease again.
            let confirmed = state.confirmed_round(majority);
            state.round_sent_at = state.round_sent_at.split_off(&confirmed);
        }
        // Only a reply that moves the peer's next index sends more at once: a duplicated or
        // stale reply sends nothing, so duplication cannot multiply appends; the heartbeat
        // resends what was lost.
        let before = state.next[&from];
        match result {
            Ok(matched) => {
                let matched = matched.min(last_index);
                let known = state.matched.entry(from).or_default();
                *known = (*known).max(matched);
                let next = state.next.entry(from).or_default();
                *next = (*next).max(matched + 1);
                let send = *next > before && *next <= last_index;
                self.advance_commit(ctx);
                if send {
                    self.send_append(ctx, from);
                }
            }
            // A log that ends below what the peer acknowledged: a stale rejection (as etcd
            // has it).
            Err(Conflict { term: None, index }) if index <= state.matched[&from] => {}
            Err(conflict) => {
                let next = match conflict.term {
                    // The entry after this leader's last of that term, if it has that term.
                    Some(term) => match self.log.iter().rposition(|e| e.term == term) {
                        Some(at) => at as u64 + 2,
                        None => conflict.index,
                    },
                    None => conflict.index,
                };
                let Role::Leader(state) = &mut self.role else {
                    unreachable!("checked above")
                };
                let next = next.clamp(state.matched[&from] + 1, last_index + 1);
                state.next.insert(from, next);
                if next != before {
                    self.send_append(ctx, from);
                }
            }
        }
        self.advance_reads(ctx);
    }

    // ---- follower ----------------------------------------------------------------------

    // The fields of one `Append`, taken apart by the caller's match.
    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
        round: u64,
    ) {
        if term < self.term {
            let reply = RaftMessage::AppendReply {
                term: self.term,
                result: Err(Conflict {
                    term: None,
                    index: 0,
                }),
                round,
            };
            return ctx.send(from, reply);
        }
        self.become_follower(ctx, term, Some(from));
        // The election timer is not re-armed on every append (a timer event per heartbeat):
        // when it fires, it looks at when the leader was last heard from.
        self.heard_leader_at = Some(ctx.now());
        if prev_index > self.last_index() || self.term_at(prev_index) != prev_term {
            let conflict = if prev_index > self.last_index() {
                Conflict {
                    term: None,
                    index: self.last_index() + 1,
                }
            } else {
                let term = self.term_at(prev_index);
                let first = self.log.iter().position(|e| e.term == term).unwrap_or(0);
                Conflict {
                    term: Some(term),
                    index: first as u64 + 1,
                }
            };
            let reply = RaftMessage::AppendReply {
                term: self.term,
                result: Err(conflict),
                round,
            };
            return ctx.send(from, reply);
        }
        let last_new = prev_index + entries.len() as u64;
        for (offset, entry) in entries.into_iter().enumerate() {
            let index = prev_index + 1 + offset as u64;
            if index > self.last_index() || self.term_at(index) != entry.term {
                self.store_entry(index, entry);
            }
        }
        let commit = commit.min(last_new);
        if commit > self.commit {
            self.commit = commit;
            self.apply(ctx);
        }
        let reply = RaftMessage::AppendReply {
            term: self.term,
            result: Ok(last_new),
            round,
        };
        self.send_durable(ctx, from, reply);
    }

    fn on_vote(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        if term > self.term && self.leader_is_recent(ctx) {
            return;
        }
        if term > self.term {
            self.become_follower(ctx, term, None);
        }
        let granted = term == self.term
            && self.vote.is_none_or(|vote| vote == from)
            && self.up_to_date(last_index, last_term);
        if granted {
            self.vote = Some(from);
            self.persist_hard_state();
            self.arm_election(ctx);
        }
        let reply = RaftMessage::VoteReply {
            term: self.term,
            granted,
        };
        self.send_durable(ctx, from, reply);
    }

    // ---- state machine -----------------------------------------------------------------

    fn apply(&mut self, ctx: &mut Ctx<'_>) {
        while self.applied < self.commit {
            self.applied += 1;
            let index = self.applied;
            let entry = self.log[index as usize - 1].clone();
            self.seen
                .applied
                .push((index, entry.term, digest(&entry.command)));
            let Command::Op {
                process,
                request,
                op,
            } = entry.command
            else {
                continue;
            };
            let reply = match self.sessions.get(&process) {
                Some((last, reply)) if *last == request => Some(reply.clone()),
                Some((last, _)) if *last > request => None,
                _ => {
                    let reply = op.apply(&mut self.store);
                    self.sessions.insert(process, (request, reply.clone()));
                    Some(reply)
                }
            };
            if let Some((client, waiting)) = self.waiters.remove(&index)
                && let Some(reply) = reply
            {
                assert_eq!(waiting, request, "the waiter of an entry asked for it");
                self.seen.acknowledged.push((index, entry.term));
                ctx.send(client, RaftMessage::Reply { request, reply });
            }
        }
        self.advance_reads(ctx);
    }

    /// What every handler ends with: a read round if gets wait for one, the flush, and what
    /// it observed.
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if let Role::Leader(state) = &self.role
            && state.round_wanted
        {
            self.broadcast(ctx);
        }
        self.flush(ctx);
        let seen = std::mem::take(&mut self.seen);
        if !seen.stored.is_empty() {
            ctx.observe(RaftObservation::Stored {
                entries: seen.stored,
            });
        }
        if !seen.committed.is_empty() {
            ctx.observe(RaftObservation::Committed {
                entries: seen.committed,
                leader_term: self.term,
            });
        }
        if !seen.applied.is_empty() {
            ctx.observe(RaftObservation::Applied {
                entries: seen.applied,
            });
        }
        if !seen.acknowledged.is_empty() {
            ctx.observe(RaftObservation::Acknowledged {
                entries: seen.acknowledged,
            });
        }
    }
}

impl Node for Raft {
    type Message = RaftMessage;
    type Timer = RaftTimer;
    type Observation = RaftObservation;

    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.disk(DiskOp::ReadToEnd {
            file: storage::FILE.to_string(),
            offset: 0,
        });
        // Armed now, not when the disk has answered: the disk's latency is no source of
        // randomness an election may count on.
        self.arm_election(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, message: RaftMessage) {
        if !matches!(self.stage, Stage::Running) {
            // Recovering or halted: clients try another server; peers' messages are lost.
            if let RaftMessage::Request { request, .. } = message {
                let reply = KvReply::NotLeader { leader: None };
                ctx.send(from, RaftMessage::Reply { request, reply });
            }
            return;
        }
        match message {
            RaftMessage::Request {
                request,
                process,
                op,
            } => self.on_request(ctx, from, request, process, op),
            RaftMessage::Reply { .. } => {}
            RaftMessage::PreVote {
                term,
                last_index,
                last_term,
            } => {
                // A node whose own pre-vote round is under way (begun less than the least
                // election timeout ago) backs only a better log: of candidacies that start
                // together, none goes on to split the vote; they try again after timeouts
                // drawn afresh.
                let standing = match self.role {
                    Role::PreCandidate { since, .. } => {
                        within(ctx.now(), since, self.config.election_min)
                    }
                    _ => false,
                };
                let better = (last_term, last_index) > (self.last_term(), self.last_index());
                let granted = term > self.term
                    && !self.leader_is_recent(ctx)
                    && self.up_to_date(last_index, last_term)
                    && (!standing || better);
                if granted && matches!(self.role, Role::Follower) {
                    // Having backed a candidacy, wait for it rather than stand against it:
                    // fewer elections split.
                    self.arm_election(ctx);
                }
                let term = if granted { term } else { self.term };
                ctx.send(from, RaftMessage::PreVoteReply { term, granted });
            }
            RaftMessage::PreVoteReply { term, granted } => {
                if let Role::PreCandidate { granted: votes, .. } = &mut self.role
                    && granted
                    && term == self.term + 1
                {
                    votes.insert(from);
                    self.tally(ctx);
                } else if !granted && term > self.term {
                    self.become_follower(ctx, term, None);
                }
            }
            RaftMessage::Vote {
                term,
                last_index,
                last_term,
            } => self.on_vote(ctx, from, term, last_index, last_term),
            RaftMessage::VoteReply { term, granted } => {
                if term > self.term {
                    self.become_follower(ctx, term, None);
                } else if let Role::Candidate { granted: votes } = &mut self.role
                    && granted
                    && term == self.term
                {
                    votes.insert(from);
                    self.tally(ctx);
                }
            }
            RaftMessage::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => self.on_append(
                ctx, from, term, prev_index, prev_term, entries, commit, round,
            ),
            RaftMessage::AppendReply {
                term,
                result,
                round,
            } => self.on_append_reply(ctx, from, term, result, round),
        }
        self.finish(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: RaftTimer) {
        match self.stage {
            Stage::Running => {}
            Stage::Recovering | Stage::Creating { .. } => return self.arm_election(ctx),
            Stage::Halted => return,
        }
        match timer {
            RaftTimer::Heartbeat if self.is_leader() => self.broadcast(ctx),
            RaftTimer::Heartbeat => self.ask_again(ctx),
            RaftTimer::Election => match &mut self.role {
                Role::Leader(state) => {
                    let heard = state.active.len() + 1;
                    state.active.clear();
                    if heard < Self::majority(ctx) && self.config.bug != RaftBug::NoCheckQuorum {
                        ctx.annotate(format_args!(
                            "check-quorum: heard from {heard}, stepping down"
                        ));
                        self.become_follower(ctx, self.term, None);
                    } else {
                        ctx.set_timer(self.config.election_max, RaftTimer::Election);
                    }
                }
                Role::Follower if self.leader.is_some() => {
                    // A fresh timeout from when the leader was last heard from.
                    let timeout = self.election_timeout(ctx);
                    match self.heard_leader_at {
                        Some(at) if within(ctx.now(), at, timeout) => {
                            let since = ctx.now().saturating_since(at);
                            let left = Duration::from_nanos(timeout.as_nanos() - since.as_nanos());
                            ctx.set_timer(left, RaftTimer::Election);
                        }
                        _ => self.start_pre_vote(ctx),
                    }
                }
                _ => self.start_pre_vote(ctx),
            },
        }
        self.finish(ctx);
    }

    fn on_disk(&mut self, ctx: &mut Ctx<'_>, id: IoId, result: IoResult) {
        match (&self.stage, result) {
            (Stage::Recovering, IoResult::Data(bytes)) => self.recover(ctx, &bytes),
            (Stage::Recovering, IoResult::Err(IoError::NotFound)) => {
                // A fresh node: its file is created by the first write and named durably
                // before the node does anything that depends on it.
                self.persist_hard_state();
                let data = std::mem::take(&mut self.unsynced);
                let file = storage::FILE.to_string();
                ctx.disk(DiskOp::Append {
                    file: file.clone(),
                    data,
                });
                ctx.disk(DiskOp::Sync { file });
                ctx.disk(DiskOp::SyncDir);
                self.stage = Stage::Creating { left: 3 };
                return;
            }
            (Stage::Creating { left }, IoResult::Ok) => {
                self.stage = match left {
                    1 => Stage::Running,
                    left => Stage::Creating { left: left - 1 },
                };
                return;
            }
            (Stage::Running, IoResult::Ok | IoResult::Data(_) | IoResult::Files(_)) => {
                let Some(flush) = &mut self.flush else {
                    return;
                };
                if id == flush.write {
                    flush.written = true;
                    if self.config.bug == RaftBug::AckBeforeSync {
                        for (to, message) in std::mem::take(&mut flush.messages) {
                            ctx.send(to, message);
                        }
                    }
                } else if id == flush.sync {
                    flush.synced = true;
                }
                if flush.written && flush.synced {
                    let flush = self.flush.take().expect("checked above");
                    self.durable_index = self.durable_index.max(flush.last_index);
                    for (to, message) in flush.messages {
                        ctx.send(to, message);
                    }
                    // A candidate counts its own vote once it is on disk.
                    self.tally(ctx);
                    self.advance_commit(ctx);
                }
            }
            (Stage::Halted, _) => return,
            (_, IoResult::Err(error)) => {
                ctx.annotate(format_args!(
                    "disk error {error:?}: this node stops taking part"
                ));
                ctx.cancel_timer(RaftTimer::Election);
                ctx.cancel_timer(RaftTimer::Heartbeat);
                self.stage = Stage::Halted;
                return;
            }
            (Stage::Recovering | Stage::Creating { .. }, _) => {
                unreachable!("recovery reads the log, and creating it writes and syncs")
            }
        }
        self.finish(ctx);
    }
}

/// A log's terms as runs: `(first index, term)` for each run of entries of one term.
fn runs(log: &[Entry]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (at, entry) in log.iter().enumerate() {
        if runs.last().is_none_or(|&(_, term)| term != entry.term) {
            runs.push((at as u64 + 1, entry.term));
        }
    }
    runs
}
