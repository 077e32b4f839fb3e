//! A replicated key-value store: primary-backup with a fixed primary, small enough to read in
//! one sitting. Everything here is written against the protocol API alone: a handler reads its
//! [`Context`] (its id, its clock, its random stream) and leaves effects in it (messages,
//! timers, disk operations, history records, observations), which its host carries out: the
//! simulator, a real host on sockets and files, or the unit tests at the end of this file.
//!
//! # The protocol
//!
//! - One server is the **primary** (the lowest-numbered, the same for the whole run); the
//!   others are **backups**. Clients send `Put` and `Get` to the primary only.
//! - Every replica keeps its log of writes in the file [`LOG_FILE`]: checksummed,
//!   length-prefixed records, each appended and then synced. The primary gives a put the next
//!   index, appends and syncs it, and sends it to the backups, which append, sync and answer.
//!   An entry is **committed** once the primary and a majority of all replicas (the primary
//!   among them) hold it durably; the primary then applies it to its map and answers the put.
//!   Nothing is acknowledged that a crash could take back.
//! - A **get** waits until every entry the log held when it arrived is committed, then reads
//!   the map: it sees every acknowledged put and nothing uncommitted. (After a restart the
//!   primary cannot tell which of its entries had been committed, so it waits for all of them.)
//! - **Recovery.** At start a replica reads its log, keeps the valid prefix (a crash may tear
//!   the last record, or keep a later write and lose an earlier one), cuts the rest, syncs, and
//!   reports [`ReplicaObservation::Recovered`]. No file means a first start: the replica
//!   creates the file and syncs the directory (`SyncDir`), because a synced file whose *name*
//!   was never made durable can vanish in a crash with everything in it.
//! - **Bringing backups in line.** The primary's log is the truth. A crash can cost the primary
//!   entries it had sent to backups but not yet synced itself (so never committed); after its
//!   restart it gives those indices to new entries, and a backup may hold, at some index, an
//!   entry the primary no longer has. So each entry carries the **epoch** of the primary that
//!   made it (its incarnation, which every host counts up at each start), and the primary sends
//!   entries with the digest of its log before them: `Replicate { prev_index, prev_digest,
//!   entries }`. A digest chains every entry before it, so equal digests mean equal logs up to
//!   there. A backup whose log differs at `prev_index` refuses and says what it holds, and the
//!   primary tries again one index earlier until the logs meet (Raft's consistency check, with
//!   epochs in the place of terms). A backup holding another entry at an index replaces it,
//!   and all after it, if the new entry's epoch is higher, and otherwise ignores the rest of
//!   the message: one delayed from an earlier epoch must not undo a newer entry.
//! - Clients never retry: a request unanswered after the timeout is recorded as indeterminate
//!   (`info`) and the process moves on. A request the network duplicated is logged once: the
//!   log holds each entry's client and request id, so even a restarted primary knows it.
//!
//! Faults tolerated: crashes and restarts of any node (unsynced writes torn or lost), message
//! loss, duplication and reordering, partitions. Not tolerated: storage faults that damage
//! synced data (a flipped bit in the log cuts it there) and I/O errors (a replica stops at the
//! first, as a real one would exit for its supervisor to restart it). The log is never
//! compacted. [`Bug`] plants two durability bugs, each of which loses acknowledged writes.

use faultline_api::disk::{DiskOp, IoError, IoResult};
use faultline_api::history::EventKind;
use faultline_api::time::{Duration, Instant};
use faultline_api::{Context, IoId, NoObservation, Node, NodeId, StableHasher, Wire};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::Hasher;

/// The file each replica keeps its log in.
pub const LOG_FILE: &str = "log";
/// Bytes before a record's payload: its length and its checksum.
const RECORD_HEADER_BYTES: usize = 8;
/// A longer record is corrupt, whatever its length field says.
const RECORD_BYTES_MAX: usize = 64 * 1024;
/// A put whose key and value are longer is ignored (and times out), so it fits in a record.
const ENTRY_BYTES_MAX: usize = 16 * 1024;
/// Entries in one `Replicate` message.
const BATCH_MAX: u64 = 64;
/// Gets waiting for a commit; more are ignored (their clients time out).
const GETS_WAITING_MAX: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Configuration, messages, observations.

/// Planted bugs, for seeing the checkers catch them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Bug {
    #[default]
    None,
    /// The primary answers a put as soon as it has sent it to the backups: before its own sync
    /// and before a majority holds it.
    AckBeforeSync,
    /// A replica creates its log file without syncing the directory, so a crash can lose the
    /// file's name, and with it the whole log.
    NoSyncDir,
}

#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    pub primary: NodeId,
    pub backups: Vec<NodeId>,
    /// How often the primary repeats to each backup what it may have missed.
    pub heartbeat: Duration,
    pub bug: Bug,
}

impl ReplicaConfig {
    /// The lowest-numbered of `servers` is the primary and the others its backups; the
    /// heartbeat is 50 ms.
    pub fn new(servers: &[NodeId], bug: Bug) -> ReplicaConfig {
        let mut backups = servers.to_vec();
        backups.sort();
        backups.dedup();
        assert!(!backups.is_empty(), "a store needs a server");
        let primary = backups.remove(0);
        let heartbeat = Duration::from_millis(50);
        ReplicaConfig {
            primary,
            backups,
            heartbeat,
            bug,
        }
    }

    /// How many replicas, the primary among them, make a majority.
    pub fn majority(&self) -> usize {
        let replicas = self.backups.len() + 1;
        replicas / 2 + 1
    }
}

/// One write in the log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The incarnation of the primary that made the entry.
    pub epoch: u64,
    /// Who asked for it, and the request's id: a duplicated request is logged once.
    pub client: NodeId,
    pub request: u64,
    pub key: String,
    pub value: String,
}

/// Every message of the store, between clients and the primary and between replicas.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum KvMessage {
    Put {
        request: u64,
        key: String,
        value: String,
    },
    Get {
        request: u64,
        key: String,
    },
    PutOk {
        request: u64,
    },
    /// A get's answer: `""` for a key never written.
    GetOk {
        request: u64,
        value: String,
    },
    /// Primary to backup: the entries after `prev_index`, if the backup's log up to there has
    /// digest `prev_digest` (no entries: a heartbeat).
    Replicate {
        prev_index: u64,
        prev_digest: u64,
        entries: Vec<Entry>,
    },
    /// Backup to primary: my log holds entries `1..=index` durably, with digest `digest`.
    Replicated {
        index: u64,
        digest: u64,
    },
    /// Backup to primary: your `Replicate` after `prev_index` did not fit my log, whose
    /// durable part is `index` entries with digest `digest`.
    Refused {
        prev_index: u64,
        index: u64,
        digest: u64,
    },
}

/// The replica's only timer: the primary's heartbeat.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum ReplicaTimer {
    Heartbeat,
}

/// What replicas report to checkers outside them (see [`Durability`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ReplicaObservation {
    /// A replica read its log at start and kept `entries` of them, whose digest is `digest`.
    Recovered {
        primary: bool,
        entries: u64,
        digest: u64,
    },
    /// The primary committed the entry at `index` (and answered its put): `digest` is the
    /// log's digest up to and including it. A restarted primary commits its entries again.
    Committed {
        index: u64,
        digest: u64,
        key: String,
        value: String,
    },
}

// ---------------------------------------------------------------------------------------------
// The log file.

/// A record's payload, in its `Wire` encoding. The index makes a record found at the wrong
/// place (a later write kept by a crash that lost an earlier one) invalid.
#[derive(Serialize, Deserialize)]
struct Record {
    index: u64,
    entry: Entry,
}

/// The record of entry `index`: `[payload length u32][CRC32C of the payload u32][payload]`,
/// little-endian.
pub fn encode_record(index: u64, entry: &Entry) -> Vec<u8> {
    let entry = entry.clone();
    let payload = Record { index, entry }.to_bytes();
    assert!(
        payload.len() <= RECORD_BYTES_MAX,
        "a record is at most 64 KiB"
    );
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// The valid prefix of a log file: its entries, and where each record ends (`ends[i]` is where
/// the first `i` records end, `ends[0]` is 0). It stops at the first place that is not the
/// next record, intact: a torn record, a wrong checksum, a gap.
pub fn scan(file: &[u8]) -> (Vec<Entry>, Vec<u64>) {
    let (mut entries, mut ends) = (Vec::new(), vec![0]);
    loop {
        let at = *ends.last().expect("ends[0]") as usize;
        let Some(header) = file.get(at..at + RECORD_HEADER_BYTES) else {
            break;
        };
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let checksum = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let start = at + RECORD_HEADER_BYTES;
        let payload = file.get(start..start + len.min(RECORD_BYTES_MAX));
        let Some(payload) = payload.filter(|p| p.len() == len) else {
            break;
        };
        if crc32c::crc32c(payload) != checksum {
            break;
        }
        match Record::decode(payload) {
            Ok(record) if record.index == entries.len() as u64 + 1 => {
                entries.push(record.entry);
                ends.push((start + len) as u64);
            }
            _ => break,
        }
    }
    (entries, ends)
}

/// The digest of a log up to `entry`, from the digest before it: equal digests mean equal
/// logs (but for a 64-bit hash collision).
pub fn chain(previous: u64, entry: &Entry) -> u64 {
    let mut hasher = StableHasher::new();
    hasher.write_u64(previous);
    hasher.write_u64(entry.epoch);
    hasher.write_u64(u64::from(entry.client.0));
    hasher.write_u64(entry.request);
    hasher.write_u64(entry.key.len() as u64);
    hasher.write(entry.key.as_bytes());
    hasher.write(entry.value.as_bytes());
    hasher.finish()
}

// ---------------------------------------------------------------------------------------------
// The replica.

type Ctx<'a> = Context<'a, KvMessage, ReplicaTimer, ReplicaObservation>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// Reading the log, cutting a torn tail, creating the file: messages are ignored (their
    /// senders repeat them or time out).
    Recovering,
    Serving,
    /// A disk operation failed: the replica ignores everything until it is restarted.
    Stopped,
}

/// What an outstanding disk operation is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Io {
    Read,
    /// Creating, appending, truncating: nothing to do when it completes.
    Write,
    /// Once it completes the first `len` entries are durable; `reply` is the index to confirm
    /// to the primary. Both shrink if the log is cut below them before it completes.
    Sync {
        len: u64,
        reply: Option<u64>,
    },
    SyncDir,
}

struct WaitingGet {
    /// Answered once the entries up to this index are committed.
    after: u64,
    client: NodeId,
    request: u64,
    key: String,
}

/// A server of the store: the primary or a backup, as its configuration says.
pub struct Replica {
    config: ReplicaConfig,
    is_primary: bool,
    stage: Stage,
    /// This incarnation's epoch: the entries the primary makes carry it.
    epoch: u64,
    /// The log, entry `i` at index `i + 1`, with `digests[i]` the digest of the first `i`
    /// entries and `ends[i]` where their records end in the file.
    log: Vec<Entry>,
    digests: Vec<u64>,
    ends: Vec<u64>,
    /// The first `durable` entries are on disk, synced.
    durable: u64,
    io: BTreeMap<IoId, Io>,
    // The primary's state.
    /// Entries `1..=commit` are committed, and applied to `store`.
    commit: u64,
    store: BTreeMap<String, String>,
    /// The (client, request) of every entry in the log: a duplicate is not logged again.
    logged: BTreeSet<(NodeId, u64)>,
    /// Per backup: the next index to send it, and how much of our log it holds durably.
    next: BTreeMap<NodeId, u64>,
    matched: BTreeMap<NodeId, u64>,
    /// Puts waiting for their commit, by index.
    puts: BTreeMap<u64, (NodeId, u64)>,
    gets: VecDeque<WaitingGet>,
}

impl Replica {
    pub fn new(config: ReplicaConfig) -> Replica {
        Replica {
            config,
            is_primary: false,
            stage: Stage::Recovering,
            epoch: 0,
            log: Vec::new(),
            digests: vec![0],
            ends: vec![0],
            durable: 0,
            io: BTreeMap::new(),
            commit: 0,
            store: BTreeMap::new(),
            logged: BTreeSet::new(),
            next: BTreeMap::new(),
            matched: BTreeMap::new(),
            puts: BTreeMap::new(),
            gets: VecDeque::new(),
        }
    }

    /// How many entries the log holds.
    fn len(&self) -> u64 {
        self.log.len() as u64
    }

    /// Whether our log's first `index` entries have digest `digest`.
    fn holds(&self, index: u64, digest: u64) -> bool {
        index <= self.len() && self.digests[index as usize] == digest
    }

    fn submit(&mut self, ctx: &mut Ctx<'_>, op: DiskOp, purpose: Io) {
        let id = ctx.disk(op);
        self.io.insert(id, purpose);
    }

    /// Appends `entry` to the log, in memory and in the file (not yet synced); its index.
    fn append(&mut self, ctx: &mut Ctx<'_>, entry: Entry) -> u64 {
        let index = self.len() + 1;
        let record = encode_record(index, &entry);
        let (digest, end) = (self.digests[self.log.len()], self.ends[self.log.len()]);
        self.digests.push(chain(digest, &entry));
        self.ends.push(end + record.len() as u64);
        self.log.push(entry);
        let file = LOG_FILE.to_string();
        self.submit(ctx, DiskOp::Append { file, data: record }, Io::Write);
        index
    }

    /// Cuts the log to its first `len` entries. Syncs still outstanding will make durable only
    /// what is left of what they covered.
    fn truncate(&mut self, ctx: &mut Ctx<'_>, len: u64) {
        assert!(len <= self.len(), "truncating cuts the log");
        self.log.truncate(len as usize);
        self.digests.truncate(len as usize + 1);
        self.ends.truncate(len as usize + 1);
        self.durable = self.durable.min(len);
        for io in self.io.values_mut() {
            if let Io::Sync {
                len: covered,
                reply,
            } = io
            {
                *covered = (*covered).min(len);
                *reply = reply.map(|index| index.min(len));
            }
        }
        let (file, bytes) = (LOG_FILE.to_string(), self.ends[len as usize]);
        self.submit(ctx, DiskOp::Truncate { file, len: bytes }, Io::Write);
    }

    /// Syncs the log: once this completes, everything written so far is durable.
    fn sync(&mut self, ctx: &mut Ctx<'_>, reply: Option<u64>) {
        let (file, len) = (LOG_FILE.to_string(), self.len());
        self.submit(ctx, DiskOp::Sync { file }, Io::Sync { len, reply });
    }

    /// The log file as read at start (`None`: there is none): keep its valid prefix, cut the
    /// rest and sync, or create the file.
    fn recover(&mut self, ctx: &mut Ctx<'_>, file: Option<&[u8]>) {
        let bytes = file.unwrap_or_default();
        let (entries, ends) = scan(bytes);
        for entry in entries {
            let digest = chain(self.digests[self.log.len()], &entry);
            self.digests.push(digest);
            self.logged.insert((entry.client, entry.request));
            self.log.push(entry);
        }
        self.ends = ends;
        let (primary, entries) = (self.is_primary, self.len());
        let digest = self.digests[self.log.len()];
        ctx.observe(ReplicaObservation::Recovered {
            primary,
            entries,
            digest,
        });
        let Some(bytes) = file else {
            // A first start (or a lost file). The lesson of this example: creating a file
            // changes its directory, which is durable only once the directory is synced.
            // Without that a crash may lose the file, synced contents and all.
            ctx.annotate(format_args!("no log file: creating it"));
            let create = DiskOp::Write {
                file: LOG_FILE.to_string(),
                offset: 0,
                data: Vec::new(),
            };
            self.submit(ctx, create, Io::Write);
            if self.config.bug != Bug::NoSyncDir {
                self.submit(ctx, DiskOp::SyncDir, Io::SyncDir);
            }
            return;
        };
        let valid = self.ends[self.log.len()];
        ctx.annotate(format_args!(
            "recovered {entries} entries, {valid} of {} bytes",
            bytes.len()
        ));
        if valid < bytes.len() as u64 {
            ctx.count("torn-tails-cut", 1);
            let file = LOG_FILE.to_string();
            self.submit(ctx, DiskOp::Truncate { file, len: valid }, Io::Write);
        }
        // What we read may be only in the operating system's cache (when the process died but
        // the machine did not): make it durable before anyone counts on it.
        self.sync(ctx, None);
    }

    fn serve(&mut self, ctx: &mut Ctx<'_>) {
        self.stage = Stage::Serving;
        ctx.annotate(format_args!("serving, {} entries", self.len()));
        if !self.is_primary {
            return;
        }
        // The simulator aims its leader-crash faults at the node that says it leads.
        ctx.set_leading(true);
        // We know nothing of the backups yet: offer each our next index, and learn from their
        // answers what they hold.
        for &backup in &self.config.backups {
            self.next.insert(backup, self.len() + 1);
            self.matched.insert(backup, 0);
        }
        self.heartbeat(ctx);
        self.advance_commit(ctx);
    }

    fn heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        for backup in self.config.backups.clone() {
            self.replicate(ctx, backup);
        }
        ctx.set_timer(self.config.heartbeat, ReplicaTimer::Heartbeat);
    }

    /// Sends `backup` the entries from its next index on (none: a heartbeat), and expects it to
    /// need the ones after them next (if a message is lost, the backup refuses the next one
    /// and the primary goes back).
    fn replicate(&mut self, ctx: &mut Ctx<'_>, backup: NodeId) {
        // An answer may speak of entries a crash has taken from us since: never past our end.
        let prev_index = (self.next[&backup] - 1).min(self.len());
        let last = (prev_index + BATCH_MAX).min(self.len());
        let entries = self.log[prev_index as usize..last as usize].to_vec();
        self.next.insert(backup, last + 1);
        let prev_digest = self.digests[prev_index as usize];
        let message = KvMessage::Replicate {
            prev_index,
            prev_digest,
            entries,
        };
        ctx.send(backup, message);
    }

    /// The primary: a client's put.
    fn put(&mut self, ctx: &mut Ctx<'_>, client: NodeId, request: u64, key: String, value: String) {
        if key.len() + value.len() > ENTRY_BYTES_MAX || !self.logged.insert((client, request)) {
            ctx.count("puts-ignored", 1);
            return;
        }
        let epoch = self.epoch;
        let entry = Entry {
            epoch,
            client,
            request,
            key,
            value,
        };
        let index = self.append(ctx, entry);
        self.sync(ctx, None);
        self.puts.insert(index, (client, request));
        for backup in self.config.backups.clone() {
            // Backups that are behind get the entry with what they miss, as they answer.
            if self.next[&backup] == index {
                self.replicate(ctx, backup);
            }
        }
        if self.config.bug == Bug::AckBeforeSync {
            // BUG: the entry is durable nowhere yet; a crash of the primary now loses it.
            self.puts.remove(&index);
            self.observe_commit(ctx, index);
            ctx.send(client, KvMessage::PutOk { request });
        }
    }

    /// The primary: a client's get, answered once the log as it is now is committed.
    fn get(&mut self, ctx: &mut Ctx<'_>, client: NodeId, request: u64, key: String) {
        if self.gets.len() >= GETS_WAITING_MAX {
            ctx.count("gets-ignored", 1);
            return;
        }
        let after = self.len();
        self.gets.push_back(WaitingGet {
            after,
            client,
            request,
            key,
        });
        self.answer_gets(ctx);
    }

    fn answer_gets(&mut self, ctx: &mut Ctx<'_>) {
        // Gets wait for ever longer logs, so they are answered in the order they came.
        while self
            .gets
            .front()
            .is_some_and(|get| get.after <= self.commit)
        {
            let get = self.gets.pop_front().expect("a waiting get");
            let value = self.store.get(&get.key).cloned().unwrap_or_default();
            let request = get.request;
            ctx.send(get.client, KvMessage::GetOk { request, value });
        }
    }

    fn observe_commit(&mut self, ctx: &mut Ctx<'_>, index: u64) {
        let entry = &self.log[index as usize - 1];
        ctx.observe(ReplicaObservation::Committed {
            index,
            digest: self.digests[index as usize],
            key: entry.key.clone(),
            value: entry.value.clone(),
        });
    }

    /// The primary: commits what it and a majority hold durably, applies it in index order,
    /// and answers the puts and gets waiting for it.
    fn advance_commit(&mut self, ctx: &mut Ctx<'_>) {
        // The highest index that enough backups hold, with the primary: sort what they hold,
        // highest first, and take the last of the first `majority - 1`.
        let mut held: Vec<u64> = self.matched.values().copied().collect();
        held.sort_unstable_by(|a, b| b.cmp(a));
        let backups_needed = self.config.majority() - 1;
        let by_backups = match backups_needed {
            0 => u64::MAX,
            needed => held[needed - 1],
        };
        // The primary counts itself only for what it has synced.
        let commit = by_backups.min(self.durable);
        assert!(commit <= self.len(), "only entries in the log commit");
        while self.commit < commit {
            self.commit += 1;
            let index = self.commit;
            let entry = &self.log[index as usize - 1];
            self.store.insert(entry.key.clone(), entry.value.clone());
            self.observe_commit(ctx, index);
            if let Some((client, request)) = self.puts.remove(&index) {
                ctx.send(client, KvMessage::PutOk { request });
            }
        }
        self.answer_gets(ctx);
    }

    /// The primary: a backup holds our log up to `index` (if its digest is ours: an answer may
    /// be about entries a crash took from us since).
    fn replicated(&mut self, ctx: &mut Ctx<'_>, backup: NodeId, index: u64, digest: u64) {
        if !self.holds(index, digest) {
            return;
        }
        let matched = self.matched.entry(backup).or_default();
        *matched = (*matched).max(index);
        self.advance_commit(ctx);
        if self.next[&backup] <= self.len() {
            self.replicate(ctx, backup);
        }
    }

    /// The primary: a backup's log did not fit our message with the entries after
    /// `prev_index`.
    fn refused(&mut self, ctx: &mut Ctx<'_>, backup: NodeId, prev_index: u64, held: (u64, u64)) {
        let (index, digest) = held;
        if self.holds(index, digest) {
            // It is only behind (a message was lost, or it restarted): send what it misses.
            let matched = self.matched.entry(backup).or_default();
            *matched = (*matched).max(index);
            self.next.insert(backup, index + 1);
            self.advance_commit(ctx);
        } else {
            // Its log differs from ours at `prev_index`, and at `index` (or it holds less): try
            // again from the earlier of the two, one entry back.
            self.next
                .insert(backup, prev_index.min(index).clamp(1, self.len() + 1));
        }
        self.replicate(ctx, backup);
    }

    /// A backup: the primary's entries after `prev_index`.
    fn on_replicate(
        &mut self,
        ctx: &mut Ctx<'_>,
        prev_index: u64,
        prev_digest: u64,
        entries: Vec<Entry>,
    ) {
        let durable_digest = self.digests[self.durable as usize];
        if !self.holds(prev_index, prev_digest) {
            let refused = KvMessage::Refused {
                prev_index,
                index: self.durable,
                digest: durable_digest,
            };
            return ctx.send(self.config.primary, refused);
        }
        // Our log matches the primary's up to `index`.
        let (mut index, mut wrote) = (prev_index, false);
        for entry in entries {
            if let Some(existing) = self.log.get(index as usize) {
                if *existing == entry {
                    index += 1;
                    continue;
                }
                if existing.epoch > entry.epoch {
                    // A message from an earlier incarnation of the primary, delayed.
                    ctx.count("stale-entries-ignored", 1);
                    break;
                }
                assert!(
                    existing.epoch < entry.epoch,
                    "one epoch gave index {} two entries",
                    index + 1
                );
                // An entry the primary lost in a crash: it and all after it go.
                self.truncate(ctx, index);
            }
            self.append(ctx, entry);
            (index, wrote) = (index + 1, true);
        }
        if wrote {
            // Confirmed once synced.
            self.sync(ctx, Some(index));
        } else {
            let index = index.min(self.durable);
            let digest = self.digests[index as usize];
            ctx.send(self.config.primary, KvMessage::Replicated { index, digest });
        }
    }
}

impl Node for Replica {
    type Message = KvMessage;
    type Timer = ReplicaTimer;
    type Observation = ReplicaObservation;

    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        // A simulator builds a new instance for a restart, a test host restarts the same one:
        // either way the replica starts from its disk alone.
        *self = Replica::new(self.config.clone());
        self.is_primary = ctx.id() == self.config.primary;
        self.epoch = u64::from(ctx.incarnation());
        let read = DiskOp::ReadToEnd {
            file: LOG_FILE.to_string(),
            offset: 0,
        };
        self.submit(ctx, read, Io::Read);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, message: KvMessage) {
        // Until recovery is done, nothing: a client's request times out (its operation is
        // indeterminate), and a primary repeats itself on its heartbeat.
        if self.stage != Stage::Serving {
            ctx.count("messages-while-recovering", 1);
            return;
        }
        let from_backup = self.config.backups.contains(&from);
        match message {
            KvMessage::Put {
                request,
                key,
                value,
            } if self.is_primary => self.put(ctx, from, request, key, value),
            KvMessage::Get { request, key } if self.is_primary => self.get(ctx, from, request, key),
            KvMessage::Replicate {
                prev_index,
                prev_digest,
                entries,
            } if !self.is_primary && from == self.config.primary => {
                self.on_replicate(ctx, prev_index, prev_digest, entries)
            }
            KvMessage::Replicated { index, digest } if self.is_primary && from_backup => {
                self.replicated(ctx, from, index, digest)
            }
            KvMessage::Refused {
                prev_index,
                index,
                digest,
            } if self.is_primary && from_backup => {
                self.refused(ctx, from, prev_index, (index, digest))
            }
            // Not for this replica's role (a client asking a backup, say): ignored.
            _ => ctx.count("messages-ignored", 1),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: ReplicaTimer) {
        match timer {
            ReplicaTimer::Heartbeat if self.stage == Stage::Serving => self.heartbeat(ctx),
            ReplicaTimer::Heartbeat => {}
        }
    }

    fn on_disk(&mut self, ctx: &mut Ctx<'_>, id: IoId, result: IoResult) {
        let Some(purpose) = self.io.remove(&id) else {
            return;
        };
        if self.stage == Stage::Stopped {
            return;
        }
        match (purpose, result) {
            (Io::Read, IoResult::Data(file)) => self.recover(ctx, Some(&file)),
            (Io::Read, IoResult::Err(IoError::NotFound)) => self.recover(ctx, None),
            (_, IoResult::Err(error)) => {
                ctx.annotate(format_args!(
                    "disk error {error:?}: stopping until restarted"
                ));
                ctx.count("replicas-stopped", 1);
                self.stage = Stage::Stopped;
                return;
            }
            (Io::Sync { len, reply }, _) => {
                self.durable = self.durable.max(len);
                assert!(self.durable <= self.len(), "durable entries are in the log");
                if let Some(index) = reply {
                    let digest = self.digests[index as usize];
                    ctx.send(self.config.primary, KvMessage::Replicated { index, digest });
                }
                if self.is_primary && self.stage == Stage::Serving {
                    self.advance_commit(ctx);
                }
            }
            _ => {}
        }
        if self.stage == Stage::Recovering && self.io.is_empty() {
            self.serve(ctx);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// An online checker.

/// The online checker's name.
pub const DURABILITY: &str = "durability";

/// Judges replicas' observations as they happen: an index once committed never holds another
/// entry (a restarted primary commits its entries again, so a lost or replaced entry shows:
/// the digest covers the whole log up to the index), and the primary never recovers fewer
/// entries than it had committed.
#[derive(Default)]
pub struct Durability {
    /// Each committed index: its digest, key and value.
    committed: BTreeMap<u64, (u64, String, String)>,
}

impl Durability {
    pub fn observe(
        &mut self,
        node: NodeId,
        observation: &ReplicaObservation,
    ) -> Result<(), String> {
        match observation {
            ReplicaObservation::Committed {
                index,
                digest,
                key,
                value,
            } => match self.committed.get(index) {
                Some((first, was_key, was_value)) if first != digest => Err(format!(
                    "index {index} was committed as {was_key}={was_value:?}, and {node} now \
                     commits {key}={value:?} there: acknowledged writes were lost"
                )),
                Some(_) => Ok(()),
                None => {
                    let entry = (*digest, key.clone(), value.clone());
                    self.committed.insert(*index, entry);
                    Ok(())
                }
            },
            // What it recovered is checked again as the primary commits it again.
            ReplicaObservation::Recovered {
                primary: true,
                entries,
                ..
            } => match self.committed.last_key_value() {
                Some((&highest, _)) if *entries < highest => Err(format!(
                    "primary {node} recovered {entries} entries, but index {highest} had been \
                     committed: acknowledged writes were lost"
                )),
                _ => Ok(()),
            },
            ReplicaObservation::Recovered { primary: false, .. } => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload client.

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub primary: NodeId,
    /// The history's process id of this client's first process; the others follow it. Two
    /// clients of one run need disjoint ranges.
    pub first_process: u64,
    pub processes: u64,
    /// Keys `k0`, `k1`, ... of which each operation picks one.
    pub keys: u64,
    /// The mean of the exponential pause before each operation.
    pub think_mean: Duration,
    /// An operation unanswered this long is recorded as indeterminate.
    pub timeout: Duration,
    /// No operation starts after this time on the client's clock.
    pub stop_after: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum ClientTimer {
    Think { process: u64 },
    Timeout { process: u64 },
}

struct Pending {
    request: u64,
    f: &'static str,
    key: String,
    sent_at: Instant,
}

/// Closed-loop processes, each one operation at a time: think, then a put of a unique value
/// or a get, on a random key, recorded in the history as the `kv` model reads it:
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `put` | the value, a string (`"p3-7"`: process 3's, in request 7 of its client) | null |
/// | `get` | null | the value read, a string (`""` for a key never written) |
///
/// Every line carries its key. A timed-out operation completes `info` with null.
pub struct Client {
    config: ClientConfig,
    /// Each process's outstanding operation (by index from 0, not history id).
    pending: BTreeMap<u64, Pending>,
    next_request: u64,
}

type ClientCtx<'a> = Context<'a, KvMessage, ClientTimer>;

impl Client {
    pub fn new(config: ClientConfig) -> Client {
        assert!(
            config.processes > 0 && config.keys > 0,
            "a client needs processes and keys"
        );
        Client {
            config,
            pending: BTreeMap::new(),
            next_request: 0,
        }
    }

    fn think(&mut self, ctx: &mut ClientCtx<'_>, process: u64) {
        if ctx.now() < self.config.stop_after {
            let pause = ctx.rng().exponential(self.config.think_mean);
            ctx.set_timer(pause, ClientTimer::Think { process });
        }
    }

    fn issue(&mut self, ctx: &mut ClientCtx<'_>, process: u64) {
        if ctx.now() >= self.config.stop_after {
            return;
        }
        let id = self.config.first_process + process;
        let key = format!("k{}", ctx.rng().below(self.config.keys));
        let request = self.next_request;
        self.next_request += 1;
        let (f, message) = if ctx.rng().below(2) == 0 {
            let value = format!("p{id}-{request}");
            ctx.invoke(id, "put", Some(&key), value.clone().into());
            let key = key.clone();
            (
                "put",
                KvMessage::Put {
                    request,
                    key,
                    value,
                },
            )
        } else {
            ctx.invoke(id, "get", Some(&key), serde_json::Value::Null);
            let key = key.clone();
            ("get", KvMessage::Get { request, key })
        };
        ctx.send(self.config.primary, message);
        let sent_at = ctx.now();
        let pending = Pending {
            request,
            f,
            key,
            sent_at,
        };
        self.pending.insert(process, pending);
        ctx.set_timer(self.config.timeout, ClientTimer::Timeout { process });
    }

    /// Records the answer to `request`, if a process still waits for it.
    fn answered(&mut self, ctx: &mut ClientCtx<'_>, request: u64, value: serde_json::Value) {
        let waiting = self.pending.iter().find(|(_, p)| p.request == request);
        let Some((&process, _)) = waiting else {
            ctx.count("late-replies", 1);
            return;
        };
        let pending = self.pending.remove(&process).expect("found above");
        let id = self.config.first_process + process;
        ctx.complete(id, EventKind::Ok, pending.f, Some(&pending.key), value);
        ctx.sample("kv-latency", ctx.now().saturating_since(pending.sent_at));
        ctx.cancel_timer(ClientTimer::Timeout { process });
        self.think(ctx, process);
    }
}

impl Node for Client {
    type Message = KvMessage;
    type Timer = ClientTimer;
    type Observation = NoObservation;

    fn on_start(&mut self, ctx: &mut ClientCtx<'_>) {
        // A test host restarts the same instance. Request ids stay unique across restarts.
        self.pending.clear();
        self.next_request = u64::from(ctx.incarnation()) << 32;
        for process in 0..self.config.processes {
            self.think(ctx, process);
        }
    }

    fn on_message(&mut self, ctx: &mut ClientCtx<'_>, _from: NodeId, message: KvMessage) {
        match message {
            KvMessage::PutOk { request } => self.answered(ctx, request, serde_json::Value::Null),
            KvMessage::GetOk { request, value } => self.answered(ctx, request, value.into()),
            _ => ctx.count("messages-ignored", 1),
        }
    }

    fn on_timer(&mut self, ctx: &mut ClientCtx<'_>, timer: ClientTimer) {
        match timer {
            ClientTimer::Think { process } => self.issue(ctx, process),
            ClientTimer::Timeout { process } => {
                let Some(pending) = self.pending.remove(&process) else {
                    return;
                };
                let id = self.config.first_process + process;
                let (f, key) = (pending.f, Some(pending.key.as_str()));
                ctx.complete(id, EventKind::Info, f, key, serde_json::Value::Null);
                ctx.count("timeouts", 1);
                self.think(ctx, process);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_api::Effect;
    use faultline_api::testing::TestHost;

    type ReplicaEffect = Effect<KvMessage, ReplicaTimer, ReplicaObservation>;

    const PRIMARY: NodeId = NodeId(0);
    const CLIENT: NodeId = NodeId(9);

    fn servers() -> Vec<NodeId> {
        vec![NodeId(0), NodeId(1), NodeId(2)]
    }

    /// A replica of the three-server store, and its test host.
    fn replica(id: NodeId, bug: Bug) -> (TestHost, Replica) {
        let host = TestHost::new(id, servers(), 7);
        (host, Replica::new(ReplicaConfig::new(&servers(), bug)))
    }

    fn sent<T, O>(effects: &[Effect<KvMessage, T, O>]) -> Vec<(NodeId, KvMessage)> {
        let send = |effect: &Effect<KvMessage, T, O>| match effect {
            Effect::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        };
        effects.iter().filter_map(send).collect()
    }

    fn observed(effects: &[ReplicaEffect]) -> Vec<ReplicaObservation> {
        let observation = |effect: &ReplicaEffect| match effect {
            Effect::Observe(observation) => Some(observation.clone()),
            _ => None,
        };
        effects.iter().filter_map(observation).collect()
    }

    fn disk_ops<T, O>(effects: &[Effect<KvMessage, T, O>]) -> Vec<DiskOp> {
        let disk = |effect: &Effect<KvMessage, T, O>| match effect {
            Effect::Disk { op, .. } => Some(op.clone()),
            _ => None,
        };
        effects.iter().filter_map(disk).collect()
    }

    fn entry(epoch: u64, request: u64, key: &str, value: &str) -> Entry {
        let (key, value) = (key.to_string(), value.to_string());
        Entry {
            epoch,
            client: CLIENT,
            request,
            key,
            value,
        }
    }

    fn log_file(entries: &[Entry]) -> Vec<u8> {
        let records = entries.iter().enumerate();
        records
            .flat_map(|(i, entry)| encode_record(i as u64 + 1, entry))
            .collect()
    }

    fn digest(entries: &[Entry]) -> u64 {
        entries.iter().fold(0, chain)
    }

    fn put(request: u64, key: &str, value: &str) -> KvMessage {
        let (key, value) = (key.to_string(), value.to_string());
        KvMessage::Put {
            request,
            key,
            value,
        }
    }

    // Goal: recovery keeps exactly the valid prefix of a damaged log, cuts the rest off the
    // file, and reports what it kept. Method: start a backup on files damaged in each way a
    // crash (or a stray write) leaves them.
    #[test]
    fn recovery_keeps_the_valid_prefix_and_cuts_the_rest() {
        let entries = [
            entry(0, 1, "a", "1"),
            entry(0, 2, "b", "2"),
            entry(1, 3, "a", "3"),
        ];
        let two = log_file(&entries[..2]);
        let third = encode_record(3, &entries[2]);
        let with = |tail: &[u8]| [two.as_slice(), tail].concat();
        let mut flipped = third.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let check = |file: Vec<u8>, kept: usize| {
            let (mut host, mut node) = replica(NodeId(1), Bug::None);
            host.files.insert(LOG_FILE.to_string(), file.clone());
            let effects = host.start(&mut node);
            let recovered = ReplicaObservation::Recovered {
                primary: false,
                entries: kept as u64,
                digest: digest(&entries[..kept]),
            };
            assert_eq!(observed(&effects), [recovered]);
            assert_eq!(host.files[LOG_FILE], log_file(&entries[..kept]));
        };
        check(with(&third), 3);
        check(with(&third[..third.len() - 1]), 2); // torn mid-payload
        check(with(&third[..5]), 2); // torn mid-header
        check(with(&flipped), 2); // a wrong checksum
        check(with(&[0; 700]), 2); // a hole: a later write kept, an earlier one lost
        check(with(&encode_record(2, &entries[2])), 2); // not the next index
        check(Vec::new(), 0);
    }

    // Goal: a first start creates the log and syncs the directory before the replica serves,
    // and the `NoSyncDir` bug leaves the sync out. Method: answer the start's read by hand
    // with "no such file" and read the disk operations the replica submits.
    #[test]
    fn first_start_creates_the_log_and_syncs_the_directory() {
        for (bug, sync_dir) in [(Bug::None, true), (Bug::NoSyncDir, false)] {
            let (mut host, mut node) = replica(NodeId(1), bug);
            let start = host.call(&mut node, |n, ctx| n.on_start(ctx));
            let [Effect::Disk { id, .. }] = start.as_slice() else {
                panic!("a start reads the log first, and only that: {start:?}");
            };
            let not_found = IoResult::Err(IoError::NotFound);
            let create = host.call(&mut node, |n, ctx| n.on_disk(ctx, *id, not_found));
            let write = DiskOp::Write {
                file: LOG_FILE.to_string(),
                offset: 0,
                data: Vec::new(),
            };
            let expected = if sync_dir {
                vec![write, DiskOp::SyncDir]
            } else {
                vec![write]
            };
            assert_eq!(disk_ops(&create), expected, "{bug:?}");
            // Until those complete the replica acknowledges nothing.
            let replicate = KvMessage::Replicate {
                prev_index: 0,
                prev_digest: 0,
                entries: vec![entry(0, 1, "a", "1")],
            };
            let early = host.call(&mut node, |n, ctx| n.on_message(ctx, PRIMARY, replicate));
            assert!(
                sent(&early).is_empty() && disk_ops(&early).is_empty(),
                "{early:?}"
            );
            host.settle(&mut node, create);
            assert_eq!(host.files[LOG_FILE], b"");
        }
    }

    /// The primary's messages to `backup`, answered by a backup with an empty log started on
    /// `host`: its answers, with the disk settled.
    fn backup_answers(
        host: &mut TestHost,
        backup: &mut Replica,
        from_primary: &[(NodeId, KvMessage)],
    ) -> Vec<KvMessage> {
        let mut answers = Vec::new();
        for (to, message) in from_primary {
            if *to == host.id {
                let effects = host.deliver(backup, PRIMARY, message.clone());
                answers.extend(sent(&effects).into_iter().map(|(_, m)| m));
            }
        }
        answers
    }

    // Goal: the primary answers a put only once it has synced the entry itself and one backup
    // (two of three) holds it; `AckBeforeSync` answers at once. Method: hold back the
    // primary's own disk operations (`call` without `settle`) while a real backup answers.
    #[test]
    fn primary_answers_a_put_only_once_it_and_a_majority_hold_it() {
        let (mut host, mut primary) = replica(PRIMARY, Bug::None);
        let (mut backup_host, mut backup) = replica(NodeId(1), Bug::None);
        host.start(&mut primary);
        backup_host.start(&mut backup);
        let put_effects = host.call(&mut primary, |n, ctx| {
            n.on_message(ctx, CLIENT, put(1, "k", "v"))
        });
        // Its disk operations (append, sync) are held back until `settle` below.
        let (disk, others): (Vec<_>, Vec<_>) = put_effects
            .into_iter()
            .partition(|effect| matches!(effect, Effect::Disk { .. }));
        let to_backups = sent(&others);
        assert_eq!(to_backups.len(), 2, "the entry goes to both backups");
        assert!(to_backups.iter().all(|(to, _)| *to != CLIENT));
        let answers = backup_answers(&mut backup_host, &mut backup, &to_backups);
        let entries = [entry(0, 1, "k", "v")];
        let replicated = KvMessage::Replicated {
            index: 1,
            digest: digest(&entries),
        };
        assert_eq!(answers, std::slice::from_ref(&replicated));
        // One backup holds it, but the primary's own sync has not completed.
        let effects = host.deliver(&mut primary, NodeId(1), replicated);
        assert_eq!(sent(&effects), []);
        // Now it has: two of three.
        let effects = host.settle(&mut primary, disk);
        assert_eq!(sent(&effects), [(CLIENT, KvMessage::PutOk { request: 1 })]);
        let committed = ReplicaObservation::Committed {
            index: 1,
            digest: digest(&entries),
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(observed(&effects), [committed]);

        // With the bug, the answer leaves with the entry itself, its sync not even submitted
        // to the disk yet.
        let (mut host, mut primary) = replica(PRIMARY, Bug::AckBeforeSync);
        host.start(&mut primary);
        let effects = host.call(&mut primary, |n, ctx| {
            n.on_message(ctx, CLIENT, put(1, "k", "v"))
        });
        assert!(sent(&effects).contains(&(CLIENT, KvMessage::PutOk { request: 1 })));
        assert!(disk_ops(&effects).contains(&DiskOp::Sync {
            file: LOG_FILE.into()
        }));
    }

    // Goal: a get waits for every write before it to commit, then reads the map; a duplicated
    // put is logged once. Method: a put no backup has answered, a get behind it, the answer.
    #[test]
    fn gets_wait_for_earlier_writes_and_duplicates_are_logged_once() {
        let (mut host, mut primary) = replica(PRIMARY, Bug::None);
        host.start(&mut primary);
        let get = |request| KvMessage::Get {
            request,
            key: "k".into(),
        };
        let ok = |request, value: &str| {
            let value = value.to_string();
            (CLIENT, KvMessage::GetOk { request, value })
        };
        // Nothing waits: answered at once.
        assert_eq!(
            sent(&host.deliver(&mut primary, CLIENT, get(1))),
            [ok(1, "")]
        );
        host.deliver(&mut primary, CLIENT, put(2, "k", "v"));
        let duplicate = host.deliver(&mut primary, CLIENT, put(2, "k", "v"));
        assert_eq!(
            sent(&duplicate),
            [],
            "a duplicate is neither logged nor sent"
        );
        assert_eq!(sent(&host.deliver(&mut primary, CLIENT, get(3))), []);
        let replicated = KvMessage::Replicated {
            index: 1,
            digest: digest(&[entry(0, 2, "k", "v")]),
        };
        let effects = host.deliver(&mut primary, NodeId(2), replicated);
        let put_ok = (CLIENT, KvMessage::PutOk { request: 2 });
        assert_eq!(sent(&effects), [put_ok, ok(3, "v")]);
        assert_eq!(host.files[LOG_FILE], log_file(&[entry(0, 2, "k", "v")]));
    }

    // Goal: a backup ignores an entry delayed from an earlier epoch of the primary where it
    // holds a newer one, and replaces an older one. Method: deliver both to a backup whose
    // log ends in an entry of epoch 1.
    #[test]
    fn backups_keep_the_entry_of_the_highest_epoch() {
        let (mut host, mut backup) = replica(NodeId(2), Bug::None);
        let (first, newer) = (entry(0, 1, "a", "1"), entry(1, 3, "b", "new"));
        let older = entry(0, 2, "b", "old");
        host.files
            .insert(LOG_FILE.into(), log_file(&[first.clone(), newer.clone()]));
        host.start(&mut backup);
        let replicate = |entries: Vec<Entry>| KvMessage::Replicate {
            prev_index: 1,
            prev_digest: digest(std::slice::from_ref(&first)),
            entries,
        };
        let effects = host.deliver(&mut backup, PRIMARY, replicate(vec![older.clone()]));
        let kept = KvMessage::Replicated {
            index: 1,
            digest: digest(std::slice::from_ref(&first)),
        };
        assert_eq!(sent(&effects), [(PRIMARY, kept)]);
        assert_eq!(host.files[LOG_FILE], log_file(&[first.clone(), newer]));

        let newest = entry(2, 4, "c", "newest");
        let effects = host.deliver(&mut backup, PRIMARY, replicate(vec![newest.clone()]));
        let replaced = [first, newest];
        let confirmed = KvMessage::Replicated {
            index: 2,
            digest: digest(&replaced),
        };
        assert_eq!(sent(&effects), [(PRIMARY, confirmed)]);
        assert_eq!(host.files[LOG_FILE], log_file(&replaced));
        // A log that does not match is refused, with what the backup holds.
        let mismatch = KvMessage::Replicate {
            prev_index: 2,
            prev_digest: 12345,
            entries: Vec::new(),
        };
        let effects = host.deliver(&mut backup, PRIMARY, mismatch);
        let refused = KvMessage::Refused {
            prev_index: 2,
            index: 2,
            digest: digest(&replaced),
        };
        assert_eq!(sent(&effects), [(PRIMARY, refused)]);
    }

    /// Three replicas on test hosts, messages carried between them by hand.
    struct Cluster {
        nodes: BTreeMap<NodeId, (TestHost, Replica)>,
        checker: Durability,
        /// What the primary answered clients.
        answers: Vec<KvMessage>,
        deliveries: u32,
    }

    impl Cluster {
        fn new(bug: Bug) -> Cluster {
            Cluster::new_on(bug, &[], &[])
        }

        /// A cluster started on logs: the primary's, and the backups' (empty: no file).
        fn new_on(bug: Bug, primary: &[Entry], backups: &[Entry]) -> Cluster {
            let nodes = servers().into_iter().map(|id| (id, replica(id, bug)));
            let mut cluster = Cluster {
                nodes: nodes.collect(),
                checker: Durability::default(),
                answers: Vec::new(),
                deliveries: 0,
            };
            for (id, (host, _)) in cluster.nodes.iter_mut() {
                let log = if *id == PRIMARY { primary } else { backups };
                if !log.is_empty() {
                    host.files.insert(LOG_FILE.into(), log_file(log));
                }
            }
            for id in servers() {
                let (host, node) = cluster.nodes.get_mut(&id).unwrap();
                let effects = host.start(node);
                cluster.carry(id, effects);
            }
            // The primary's first messages found the backups not started yet: its heartbeat
            // repeats them.
            let (host, primary) = cluster.nodes.get_mut(&PRIMARY).unwrap();
            let effects = host.fire(primary, ReplicaTimer::Heartbeat);
            cluster.carry(PRIMARY, effects);
            cluster
        }

        /// Delivers `message`, and every message it leads to, until none is left.
        fn deliver(&mut self, from: NodeId, to: NodeId, message: KvMessage) {
            self.deliveries += 1;
            assert!(self.deliveries < 1_000, "the replicas never stop talking");
            let (host, node) = self.nodes.get_mut(&to).unwrap();
            let effects = host.deliver(node, from, message);
            self.carry(to, effects);
        }

        fn carry(&mut self, from: NodeId, effects: Vec<ReplicaEffect>) {
            for observation in observed(&effects) {
                let verdict = self.checker.observe(from, &observation);
                assert_eq!(verdict, Ok(()), "{observation:?}");
            }
            for (to, message) in sent(&effects) {
                if to == CLIENT {
                    self.answers.push(message);
                } else {
                    self.deliver(from, to, message);
                }
            }
        }

        fn file(&self, id: NodeId) -> &[u8] {
            &self.nodes[&id].0.files[LOG_FILE]
        }
    }

    // Goal: a primary that lost an entry in a crash (never synced, never committed, but held
    // by both backups) brings the backups back in line once it reuses the index, and keeps
    // every acknowledged write. Method: hold back the primary's disk operations for a put,
    // "crash" it (they never happen), restart it, and carry messages by hand.
    #[test]
    fn a_restarted_primary_brings_diverging_backups_back_in_line() {
        let mut cluster = Cluster::new(Bug::None);
        cluster.deliver(CLIENT, PRIMARY, put(1, "a", "1"));
        assert_eq!(cluster.answers, [KvMessage::PutOk { request: 1 }]);
        // The primary sends entry 2 to the backups; its own append and sync never happen.
        let (host, primary) = cluster.nodes.get_mut(&PRIMARY).unwrap();
        let effects = host.call(primary, |n, ctx| {
            n.on_message(ctx, CLIENT, put(2, "b", "2"))
        });
        for (to, message) in sent(&effects) {
            let (host, backup) = cluster.nodes.get_mut(&to).unwrap();
            host.deliver(backup, PRIMARY, message); // their answers are lost
        }
        assert_ne!(cluster.file(NodeId(1)), cluster.file(PRIMARY));
        let (host, primary) = cluster.nodes.get_mut(&PRIMARY).unwrap();
        let effects = host.restart(primary);
        cluster.carry(PRIMARY, effects);
        cluster.deliver(CLIENT, PRIMARY, put(3, "c", "3"));
        let get = |request, key: &str| KvMessage::Get {
            request,
            key: key.into(),
        };
        cluster.deliver(CLIENT, PRIMARY, get(4, "a"));
        cluster.deliver(CLIENT, PRIMARY, get(5, "b"));
        let value = |request, value: &str| KvMessage::GetOk {
            request,
            value: value.into(),
        };
        let expected = [
            KvMessage::PutOk { request: 1 },
            KvMessage::PutOk { request: 3 },
            value(4, "1"),
            value(5, ""),
        ];
        assert_eq!(cluster.answers, expected);
        let log = log_file(&[entry(0, 1, "a", "1"), entry(1, 3, "c", "3")]);
        for id in servers() {
            assert_eq!(cluster.file(id), log, "{id}");
        }
    }

    // Goal: an answer about entries the primary no longer has (sent before a crash took them,
    // delivered after its restart) is no reason to panic. Method: a primary that recovered two
    // entries hears a refusal of entries 9 and 10, and a match of entry 8.
    #[test]
    fn a_stale_answer_after_a_restart_is_answered_from_the_log_we_have() {
        let entries = [entry(0, 1, "a", "1"), entry(0, 2, "b", "2")];
        let (mut host, mut primary) = replica(PRIMARY, Bug::None);
        host.files.insert(LOG_FILE.to_string(), log_file(&entries));
        host.start(&mut primary);
        let backup = NodeId(1);
        for stale in [
            KvMessage::Refused {
                prev_index: 9,
                index: 8,
                digest: 1,
            },
            KvMessage::Replicated {
                index: 8,
                digest: 1,
            },
        ] {
            let effects = host.deliver(&mut primary, backup, stale);
            for (to, message) in sent(&effects) {
                if let KvMessage::Replicate { prev_index, .. } = message {
                    assert_eq!(to, backup);
                    assert!(
                        prev_index <= 2,
                        "replicates from {prev_index}, past its log"
                    );
                }
            }
        }
    }

    // Goal: whatever the backups' logs hold, the primary's probes bring them in line with its
    // own (a backup may keep entries past the primary's end until they are replaced) and the
    // primary commits its whole log again. Method: start a cluster on prepared files.
    #[test]
    fn backups_converge_on_the_primary_log() {
        let first = entry(0, 1, "a", "1");
        let ours = [first.clone(), entry(1, 2, "b", "2"), entry(1, 3, "c", "3")];
        let stale = [first.clone(), entry(0, 4, "x", "4"), entry(0, 5, "y", "5")];
        let check = |backups: &[Entry]| {
            let mut cluster = Cluster::new_on(Bug::None, &ours, backups);
            for backup in [NodeId(1), NodeId(2)] {
                assert!(
                    cluster.file(backup).starts_with(&log_file(&ours)),
                    "{backups:?}"
                );
            }
            cluster.deliver(CLIENT, PRIMARY, put(6, "d", "6"));
            assert_eq!(cluster.answers, [KvMessage::PutOk { request: 6 }]);
            let committed = cluster.checker.committed.keys().copied();
            assert_eq!(committed.collect::<Vec<_>>(), [1, 2, 3, 4]);
        };
        check(&[]);
        check(&ours[..1]);
        check(&stale); // diverges at index 2: refused twice, then replaced
        check(&[stale.as_slice(), &ours[1..]].concat()); // junk past the primary's end
    }

    // Goal: with `AckBeforeSync`, a crash of the primary loses an acknowledged write, and the
    // durability checker says so. Method: as above, but the put is answered before the crash.
    #[test]
    fn ack_before_sync_loses_an_acknowledged_write_in_a_crash() {
        let mut cluster = Cluster::new(Bug::AckBeforeSync);
        let (host, primary) = cluster.nodes.get_mut(&PRIMARY).unwrap();
        let effects = host.call(primary, |n, ctx| {
            n.on_message(ctx, CLIENT, put(1, "a", "1"))
        });
        assert!(sent(&effects).contains(&(CLIENT, KvMessage::PutOk { request: 1 })));
        for observation in observed(&effects) {
            assert_eq!(cluster.checker.observe(PRIMARY, &observation), Ok(()));
        }
        let effects = host.restart(primary);
        let recovered = observed(&effects);
        let verdict = cluster.checker.observe(PRIMARY, &recovered[0]);
        assert!(
            verdict
                .unwrap_err()
                .contains("acknowledged writes were lost")
        );
    }

    // Goal: the checker accepts a commit seen again and refuses another entry at a committed
    // index, and a primary (not a backup) that recovers less than was committed.
    #[test]
    fn durability_checker_finds_lost_writes() {
        let committed = |index, digest| ReplicaObservation::Committed {
            index,
            digest,
            key: "k".into(),
            value: format!("v{digest}"),
        };
        let recovered = |primary, entries, digest| ReplicaObservation::Recovered {
            primary,
            entries,
            digest,
        };
        let check = |observations: &[ReplicaObservation], expected: Result<(), &str>| {
            let mut checker = Durability::default();
            let verdicts = observations.iter().map(|o| checker.observe(PRIMARY, o));
            let verdict = verdicts.collect::<Result<Vec<()>, String>>().map(drop);
            match (verdict, expected) {
                (Ok(()), Ok(())) => {}
                (Err(found), Err(text)) => assert!(found.contains(text), "{found}"),
                (found, expected) => panic!("{observations:?}: {found:?}, not {expected:?}"),
            }
        };
        let ok = Ok(());
        check(
            &[committed(1, 11), recovered(true, 1, 11), committed(1, 11)],
            ok,
        );
        check(&[committed(1, 11), committed(1, 12)], Err("k=\"v11\""));
        check(
            &[committed(2, 11), recovered(true, 1, 7)],
            Err("recovered 1"),
        );
        check(&[committed(2, 11), recovered(false, 0, 0)], ok);
    }

    // Goal: the client records each operation as the `kv` model reads it, and an unanswered
    // one as indeterminate. Method: run two processes by hand and read the history records.
    #[test]
    fn client_records_the_kv_history() {
        let config = ClientConfig {
            primary: PRIMARY,
            first_process: 10,
            processes: 2,
            keys: 3,
            think_mean: Duration::from_millis(10),
            timeout: Duration::from_secs(1),
            stop_after: Instant::ZERO + Duration::from_secs(60),
        };
        let mut host = TestHost::new(CLIENT, servers(), 3);
        let mut client = Client::new(config);
        let effects = host.start(&mut client);
        let thinks = effects
            .iter()
            .filter(|e| matches!(e, Effect::SetTimer { .. }));
        assert_eq!(thinks.count(), 2);
        let history = |effects: &[Effect<KvMessage, ClientTimer>]| -> Vec<_> {
            let record = |effect: &Effect<KvMessage, ClientTimer>| match effect {
                Effect::History(event) => Some(event.clone()),
                _ => None,
            };
            effects.iter().filter_map(record).collect()
        };
        for process in [0, 1] {
            let effects = host.fire(&mut client, ClientTimer::Think { process });
            let [invoke] = history(&effects).try_into().unwrap();
            assert_eq!(
                (invoke.process, invoke.kind),
                (10 + process, EventKind::Invoke)
            );
            assert!(invoke.key.as_deref().unwrap().starts_with('k'));
            let [(to, request)] = sent(&effects).try_into().unwrap();
            assert_eq!(to, PRIMARY);
            let answer = match (request, invoke.f.as_str()) {
                (KvMessage::Put { request, value, .. }, "put") => {
                    assert_eq!(invoke.value, serde_json::json!(value));
                    KvMessage::PutOk { request }
                }
                (KvMessage::Get { request, .. }, "get") => {
                    assert_eq!(invoke.value, serde_json::Value::Null);
                    let value = "x".into();
                    KvMessage::GetOk { request, value }
                }
                other => panic!("{other:?}"),
            };
            let effects = if process == 0 {
                host.deliver(&mut client, PRIMARY, answer)
            } else {
                host.fire(&mut client, ClientTimer::Timeout { process })
            };
            let [done] = history(&effects).try_into().unwrap();
            assert_eq!((done.f, done.key), (invoke.f.clone(), invoke.key));
            let expected = match (process, invoke.f.as_str()) {
                (0, "get") => (EventKind::Ok, serde_json::json!("x")),
                (0, _) => (EventKind::Ok, serde_json::Value::Null),
                _ => (EventKind::Info, serde_json::Value::Null),
            };
            assert_eq!((done.kind, done.value), expected);
        }
    }
}
