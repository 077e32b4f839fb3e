//! A durable single-node key-value store with a write-ahead log.
//!
//! - Writes are batched (group commit): a batch of records is written at the end of the log
//!   (`wal`), the log is synced, the new acknowledged length is written to `wal.meta` and
//!   synced, and only then are the writes applied and acknowledged. One batch is in flight at a
//!   time, so a failed write leaves no hole in the log.
//! - Records are `crate::wal`'s, `[magic u32][lsn u64][len u32][checksum u32][payload]`: log sequence numbers
//!   count from 1 without gaps, and the checksum (CRC32C) covers the sequence number and the
//!   payload.
//!   `wal.meta` holds the last acknowledged sequence number and log length.
//! - Recovery replays records in order and stops at the first invalid one. Past the
//!   acknowledged length that is a torn tail of unacknowledged writes: the log is truncated
//!   there. Before it, acknowledged data was damaged (corruption, a misdirected write): the node
//!   salvages, collecting every valid record anywhere in the file by sequence number (a
//!   misdirected write's records are found where they landed). Sequence numbers missing up to
//!   the acknowledged one are destroyed writes of unknown keys, so from then on the node refuses,
//!   with an error that names the data loss, every read and append of a key that has not been
//!   put since the last missing record, instead of serving a wrong or older value. New records
//!   go after everything in the file, and the next recovery reaches the same conclusion.
//! - A read that finds damage is retried first, since a flipped bit may be transient.

use crate::kv_client::{KvOp, KvProtocol, KvReply};
use crate::wal::{self, checksum, u32_at, u64_at};
use faultline_api::disk::{DiskOp, IoError, IoResult};
use faultline_api::{Context, IoId, NoTimer, Node, NodeId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub const LOG_FILE: &str = "wal";
pub const META_FILE: &str = "wal.meta";
const BATCH_MAX: usize = 64;
const WAITING_MAX: usize = 1024;

#[derive(
    Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum WalMessage {
    Request { request: u64, op: KvOp },
    Reply { request: u64, reply: KvReply },
}

/// Plugs the generic key-value client into this protocol.
pub struct WalKvProtocol;

impl KvProtocol for WalKvProtocol {
    type Message = WalMessage;
    fn request(request: u64, _process: u64, op: KvOp) -> WalMessage {
        WalMessage::Request { request, op }
    }
    fn reply(message: WalMessage) -> Option<(u64, KvReply)> {
        match message {
            WalMessage::Reply { request, reply } => Some((request, reply)),
            WalMessage::Request { .. } => None,
        }
    }
}

/// Planted bugs.
/// What a wal-kv server reports to checkers outside it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum WalObservation {
    /// Recovery read the log at start: `records` replayed up to `lsn`, the log ending at byte
    /// `log_end`, `acked_lsn` acknowledged before the crash; `damaged` if a record in the
    /// acknowledged part was unreadable, `data_lost` if acknowledged records were destroyed.
    Recovered {
        records: u64,
        lsn: u64,
        log_end: u64,
        acked_lsn: u64,
        damaged: bool,
        data_lost: bool,
    },
}

/// The context of the server's handlers.
type Ctx<'a> = Context<'a, WalMessage, NoTimer, WalObservation>;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum WalBug {
    #[default]
    None,
    /// Acknowledges a write when the log write completes, before the sync.
    AckBeforeSync,
    /// Recovery replays records without verifying their checksums.
    NoChecksum,
    /// After a torn tail, recovery trusts the torn record's length field to find the end of the
    /// log, instead of truncating at the last valid record.
    TrustTornLength,
}

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A put or an append.
    Op(KvOp),
    /// Records numbered `first..below` are void: unacknowledged records that a salvage found
    /// but did not replay, so no later recovery may replay them either.
    Void { first: u64, below: u64 },
}

/// Encodes record number `lsn` for `op` (a put or an append).
pub fn encode_record(lsn: u64, op: &KvOp) -> Vec<u8> {
    encode_entry(lsn, &Entry::Op(op.clone()))
}

fn encode_entry(lsn: u64, entry: &Entry) -> Vec<u8> {
    let mut payload = Vec::new();
    match entry {
        Entry::Op(op) => {
            let (kind, key, value) = match op {
                KvOp::Put { key, value } => (1u8, key, value),
                KvOp::Append { key, value } => (2u8, key, value),
                KvOp::Get { .. } | KvOp::Cas { .. } => panic!("only puts and appends are logged"),
            };
            payload.push(kind);
            payload.extend_from_slice(&(key.len() as u16).to_le_bytes());
            payload.extend_from_slice(key.as_bytes());
            payload.extend_from_slice(value.as_bytes());
        }
        Entry::Void { first, below } => {
            payload.push(3);
            payload.extend_from_slice(&first.to_le_bytes());
            payload.extend_from_slice(&below.to_le_bytes());
        }
    }
    wal::encode(lsn, &payload)
}

/// What a log holds at an offset.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Record {
        lsn: u64,
        entry: Entry,
        end: u64,
    },
    /// No valid record here. `claimed_end` is where the header says the record would end,
    /// when the header is plausible.
    Invalid {
        claimed_end: Option<u64>,
    },
    End,
}

/// The record at `offset`, decoded: one whose payload says nothing this store writes is invalid.
fn parse_at(log: &[u8], offset: u64, verify: bool) -> Parsed {
    match wal::parse_at(log, offset, verify) {
        wal::Parsed::Record { lsn, payload, end } => match decode_payload(payload) {
            Some(entry) => Parsed::Record { lsn, entry, end },
            None => Parsed::Invalid {
                claimed_end: Some(end),
            },
        },
        wal::Parsed::Invalid { claimed_end } => Parsed::Invalid { claimed_end },
        wal::Parsed::End => Parsed::End,
    }
}

fn decode_payload(payload: &[u8]) -> Option<Entry> {
    let kind = *payload.first()?;
    if kind == 3 {
        let (first, below) = (u64_at(payload, 1)?, u64_at(payload, 9)?);
        return Some(Entry::Void { first, below });
    }
    let key_len = u16::from_le_bytes(payload.get(1..3)?.try_into().ok()?) as usize;
    let key = String::from_utf8_lossy(payload.get(3..3 + key_len)?).into_owned();
    let value = String::from_utf8_lossy(payload.get(3 + key_len..)?).into_owned();
    match kind {
        1 => Some(Entry::Op(KvOp::Put { key, value })),
        2 => Some(Entry::Op(KvOp::Append { key, value })),
        _ => None,
    }
}

/// What `wal.meta` records: everything up to here was acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Acked {
    pub lsn: u64,
    pub len: u64,
}

impl Acked {
    fn encode(self) -> Vec<u8> {
        let mut bytes = self.lsn.to_le_bytes().to_vec();
        bytes.extend_from_slice(&self.len.to_le_bytes());
        bytes.extend_from_slice(&checksum(self.lsn, &self.len.to_le_bytes()).to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Acked> {
        let (lsn, len, sum) = (u64_at(bytes, 0)?, u64_at(bytes, 8)?, u32_at(bytes, 16)?);
        (sum == checksum(lsn, &len.to_le_bytes())).then_some(Acked { lsn, len })
    }
}

/// The result of replaying a log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replay {
    pub store: BTreeMap<String, String>,
    /// Where the next record goes, and its number.
    pub log_end: u64,
    pub next_lsn: u64,
    /// Acknowledged records were destroyed.
    pub data_lost: bool,
    /// Keys put after the last destroyed record: still trustworthy.
    pub vouched: BTreeSet<String>,
    pub records: u64,
    /// Whether the log must be truncated at `log_end` (a torn tail) before appending.
    pub truncate: bool,
    /// Replay in order stopped inside the acknowledged part of the log: a disk fault (or a
    /// bug) damaged it, and the records were salvaged.
    pub damaged: bool,
    /// Unacknowledged records the salvage found and did not replay: the node must declare
    /// them void before it writes anything.
    pub void: Option<Entry>,
}

fn apply(store: &mut BTreeMap<String, String>, op: KvOp) {
    match op {
        KvOp::Put { key, value } => {
            store.insert(key, value);
        }
        KvOp::Append { key, value } => store.entry(key).or_default().push_str(&value),
        KvOp::Get { .. } | KvOp::Cas { .. } => {}
    }
}

/// Replays a log of which `acked` was acknowledged.
pub fn replay(log: &[u8], acked: Acked, bug: WalBug) -> Replay {
    let verify = bug != WalBug::NoChecksum;
    let mut result = Replay {
        next_lsn: 1,
        ..Replay::default()
    };
    // Read in order first, apply afterwards: a void record voids records before it.
    let mut entries = Vec::new();
    let mut offset = 0;
    loop {
        match parse_at(log, offset, verify) {
            Parsed::Record { lsn, entry, end } if lsn == result.next_lsn => {
                entries.push((lsn, entry));
                result.next_lsn += 1;
                offset = end;
            }
            Parsed::End => {
                result.log_end = offset;
                break;
            }
            Parsed::Record { .. } | Parsed::Invalid { .. }
                if offset >= acked.len && result.next_lsn > acked.lsn =>
            {
                // A torn tail of unacknowledged writes.
                let claimed_end = match parse_at(log, offset, verify) {
                    Parsed::Invalid { claimed_end } => claimed_end,
                    _ => None,
                };
                result.log_end = match (bug, claimed_end) {
                    (WalBug::TrustTornLength, Some(end)) => end,
                    _ => offset,
                };
                result.truncate = bug != WalBug::TrustTornLength;
                break;
            }
            Parsed::Record { .. } | Parsed::Invalid { .. } => return salvage(log, acked, verify),
        }
    }
    let voids = void_ranges(entries.iter().map(|(_, entry)| entry));
    for (lsn, entry) in entries {
        if let Entry::Op(op) = entry
            && !voids.iter().any(|range| range.contains(&lsn))
        {
            apply(&mut result.store, op);
            result.records += 1;
        }
    }
    result
}

/// The ranges of record numbers that void records declare void.
fn void_ranges<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<std::ops::Range<u64>> {
    entries
        .filter_map(|entry| match entry {
            Entry::Void { first, below } => Some(*first..*below),
            Entry::Op(_) => None,
        })
        .collect()
}

/// Acknowledged records were damaged: gather every valid record in the file by number.
fn salvage(log: &[u8], acked: Acked, verify: bool) -> Replay {
    let mut found: BTreeMap<u64, Entry> = BTreeMap::new();
    // Bounded by the file's length: every position is looked at once.
    for at in 0..log.len() as u64 {
        if let Parsed::Record { lsn, entry, .. } = parse_at(log, at, verify) {
            found.entry(lsn).or_insert(entry);
        }
    }
    let voids = void_ranges(found.values());
    let voided = |lsn: u64| voids.iter().any(|range| range.contains(&lsn));
    let mut result = Replay {
        log_end: log.len() as u64,
        damaged: true,
        ..Replay::default()
    };
    // The highest acknowledged number that names no record: walk down over found records and
    // void ranges, so the walk is as long as the log, whatever numbers corruption invents.
    let mut last_missing = None;
    let mut lsn = acked.lsn;
    while lsn > 0 {
        if found.contains_key(&lsn) {
            lsn -= 1;
        } else if let Some(range) = voids.iter().find(|range| range.contains(&lsn)) {
            lsn = range.start.saturating_sub(1).min(lsn - 1);
        } else {
            last_missing = Some(lsn);
            break;
        }
    }
    result.data_lost = last_missing.is_some();
    // Records past the acknowledged ones were never applied, so no client saw them; they are
    // declared void, and numbering goes on past them, so no number ever names two records.
    let highest = found.keys().next_back().copied().unwrap_or(0);
    if highest > acked.lsn {
        result.void = Some(Entry::Void {
            first: acked.lsn + 1,
            below: highest.saturating_add(1),
        });
    }
    result.next_lsn = acked.lsn.max(highest).saturating_add(1);
    for (&lsn, entry) in found.iter().take_while(|(lsn, _)| **lsn <= acked.lsn) {
        let Entry::Op(op) = entry else { continue };
        if voided(lsn) {
            continue;
        }
        if last_missing.is_some_and(|missing| lsn > missing) && matches!(op, KvOp::Put { .. }) {
            result.vouched.insert(op.key().to_string());
        }
        apply(&mut result.store, op.clone());
        result.records += 1;
    }
    result
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Io {
    ReadMeta,
    ReadLog,
    Truncate,
    SyncLog,
    WriteBatch,
    WriteVoid,
    /// Writing, syncing and naming `wal.meta`.
    Meta,
}

struct Waiting {
    client: NodeId,
    request: u64,
    op: KvOp,
}

enum Stage {
    /// Reading `wal.meta` and the log.
    Reading {
        acked: Option<Acked>,
        log: Option<Vec<u8>>,
        /// The previous read of a log that did not replay cleanly: damage must show twice
        /// before it is believed, since a flipped bit may be transient.
        previous: Option<Vec<u8>>,
        meta_attempts: u32,
        log_attempts: u32,
        reads: u32,
    },
    /// Making the recovered log the durable truth: truncating a torn tail or declaring
    /// leftovers void, then recording the acknowledged state.
    Settling,
    Serving,
}

/// The writes being made durable together.
struct Batch {
    requests: Vec<Waiting>,
    end: u64,
    last_lsn: u64,
    written: Option<bool>,
    /// Failed attempts at recording the batch in `wal.meta`.
    meta_failures: u32,
    meta_failed: bool,
    acknowledged: bool,
}

/// The server.
pub struct WalKv {
    bug: WalBug,
    stage: Stage,
    store: BTreeMap<String, String>,
    data_lost: bool,
    vouched: BTreeSet<String>,
    log_end: u64,
    next_lsn: u64,
    waiting: VecDeque<Waiting>,
    batch: Option<Batch>,
    /// Outstanding disk operations by purpose.
    io: BTreeMap<IoId, Io>,
    /// The void record being written while settling.
    void: Option<PendingVoid>,
    /// The log cannot be written (the disk is full or failing): reads only.
    read_only: bool,
    /// The node cannot establish what it holds: it refuses every request until it restarts.
    refusing: Option<&'static str>,
    /// Failed attempts at the current settling step (truncating, recording the state).
    settle_failures: u32,
    settle_failed: bool,
}

struct PendingVoid {
    lsn: u64,
    record: Vec<u8>,
    failed: bool,
    attempts: u32,
}

/// How often a failed disk operation of recovery, settling or recording a batch is tried
/// before the node gives up on writing (reads only) or on serving (refusing).
const ATTEMPTS_MAX: u32 = 3;
/// How often an unreadable log is read again before the node refuses to serve.
const LOG_READ_ATTEMPTS_MAX: u32 = 16;
/// Full reads of a damaged log, looking for two that agree.
const DAMAGED_READS_MAX: u32 = 4;

impl WalKv {
    pub fn new(bug: WalBug) -> WalKv {
        WalKv {
            bug,
            stage: Stage::Reading {
                acked: None,
                log: None,
                previous: None,
                meta_attempts: 0,
                log_attempts: 0,
                reads: 0,
            },
            store: BTreeMap::new(),
            data_lost: false,
            vouched: BTreeSet::new(),
            log_end: 0,
            next_lsn: 1,
            waiting: VecDeque::new(),
            batch: None,
            io: BTreeMap::new(),
            void: None,
            read_only: false,
            refusing: None,
            settle_failures: 0,
            settle_failed: false,
        }
    }

    pub fn is_serving(&self) -> bool {
        matches!(self.stage, Stage::Serving)
    }

    fn submit(&mut self, ctx: &mut Ctx<'_>, op: DiskOp, purpose: Io) {
        let id = ctx.disk(op);
        self.io.insert(id, purpose);
    }

    fn pending(&self, purposes: &[Io]) -> bool {
        self.io.values().any(|p| purposes.contains(p))
    }

    fn read(&mut self, ctx: &mut Ctx<'_>, file: &str, purpose: Io) {
        let read = DiskOp::ReadToEnd {
            file: file.to_string(),
            offset: 0,
        };
        self.submit(ctx, read, purpose);
    }

    fn write_meta(&mut self, ctx: &mut Ctx<'_>, acked: Acked) {
        let write = DiskOp::Write {
            file: META_FILE.to_string(),
            offset: 0,
            data: acked.encode(),
        };
        self.submit(ctx, write, Io::Meta);
        self.submit(
            ctx,
            DiskOp::Sync {
                file: META_FILE.to_string(),
            },
            Io::Meta,
        );
        // The file's name must be durable too.
        self.submit(ctx, DiskOp::SyncDir, Io::Meta);
    }

    fn reply(&self, ctx: &mut Ctx<'_>, to: NodeId, request: u64, reply: KvReply) {
        ctx.send(to, WalMessage::Reply { request, reply });
    }

    fn vouches_for(&self, key: &str) -> bool {
        !self.data_lost || self.vouched.contains(key)
    }

    fn recovered(&mut self, ctx: &mut Ctx<'_>, replay: Replay, acked: Acked) {
        ctx.annotate(format_args!(
            "recovered {} records up to lsn {}, log end {}, acknowledged lsn {} at {}{}{}",
            replay.records,
            replay.next_lsn - 1,
            replay.log_end,
            acked.lsn,
            acked.len,
            if replay.damaged { ", LOG DAMAGED" } else { "" },
            if replay.data_lost { ", DATA LOST" } else { "" },
        ));
        ctx.observe(WalObservation::Recovered {
            records: replay.records,
            lsn: replay.next_lsn - 1,
            log_end: replay.log_end,
            acked_lsn: acked.lsn,
            damaged: replay.damaged,
            data_lost: replay.data_lost,
        });
        if replay.damaged {
            ctx.count("log-damaged", 1);
        }
        if replay.data_lost {
            ctx.count("data-loss", 1);
            tracing::warn!("acknowledged log records were destroyed; refusing keys not put since");
        }
        self.store = replay.store;
        self.data_lost = replay.data_lost;
        self.vouched = replay.vouched;
        self.log_end = replay.log_end;
        self.next_lsn = replay.next_lsn;
        self.stage = Stage::Settling;
        if let Some(void) = replay.void {
            // Declared before anything else is written.
            self.void = Some(PendingVoid {
                lsn: self.next_lsn,
                record: encode_entry(self.next_lsn, &void),
                failed: false,
                attempts: 0,
            });
            self.write_void(ctx);
        } else if replay.truncate {
            self.truncate(ctx);
        } else {
            self.settle(ctx);
        }
    }

    fn truncate(&mut self, ctx: &mut Ctx<'_>) {
        let truncate = DiskOp::Truncate {
            file: LOG_FILE.to_string(),
            len: self.log_end,
        };
        self.submit(ctx, truncate, Io::Truncate);
        let sync = DiskOp::Sync {
            file: LOG_FILE.to_string(),
        };
        self.submit(ctx, sync, Io::SyncLog);
    }

    /// Gives up on serving: every request is refused until the node restarts.
    fn refuse(&mut self, ctx: &mut Ctx<'_>, reason: &'static str) {
        self.refusing = Some(reason);
        ctx.count("refusing", 1);
        self.serve(ctx);
    }

    /// Counts a failed settling step; false once the node has given up.
    fn settle_again(&mut self, ctx: &mut Ctx<'_>, reason: &'static str) -> bool {
        self.settle_failures += 1;
        if self.settle_failures < ATTEMPTS_MAX {
            return true;
        }
        self.refuse(ctx, reason);
        false
    }

    fn write_void(&mut self, ctx: &mut Ctx<'_>) {
        let void = self.void.as_mut().expect("a void record to write");
        void.attempts += 1;
        let write = DiskOp::Write {
            file: LOG_FILE.to_string(),
            offset: self.log_end,
            data: void.record.clone(),
        };
        self.submit(ctx, write, Io::WriteVoid);
        self.submit(
            ctx,
            DiskOp::Sync {
                file: LOG_FILE.to_string(),
            },
            Io::SyncLog,
        );
    }

    /// Once the log is settled (truncated, or its void record written), records the state.
    fn settle_after_log(&mut self, ctx: &mut Ctx<'_>) {
        if self.pending(&[Io::Truncate, Io::SyncLog, Io::WriteVoid]) {
            return;
        }
        if std::mem::take(&mut self.settle_failed) {
            if self.settle_again(ctx, "the torn tail of the log cannot be cut") {
                self.truncate(ctx);
            }
            return;
        }
        if let Some(void) = self.void.take() {
            if void.failed && void.attempts < ATTEMPTS_MAX {
                self.void = Some(PendingVoid {
                    failed: false,
                    ..void
                });
                return self.write_void(ctx);
            }
            if void.failed {
                // Nothing may be written before the void is declared: serve reads only.
                ctx.annotate(format_args!(
                    "cannot declare records void: serving reads only"
                ));
                self.read_only = true;
                return self.serve(ctx);
            }
            self.next_lsn = void.lsn + 1;
            self.log_end += void.record.len() as u64;
        }
        self.settle(ctx);
    }

    fn serve(&mut self, ctx: &mut Ctx<'_>) {
        self.stage = Stage::Serving;
        match (self.refusing, self.read_only) {
            (Some(reason), _) => ctx.annotate(format_args!("refusing every request: {reason}")),
            (None, true) => ctx.annotate(format_args!("serving reads only")),
            (None, false) => ctx.annotate(format_args!("serving")),
        }
        let waiting: Vec<Waiting> = self.waiting.drain(..).collect();
        for waiting in waiting {
            self.handle(ctx, waiting);
        }
    }

    /// Records the recovered state as acknowledged, so the next recovery starts from it.
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        let acked = Acked {
            lsn: self.next_lsn - 1,
            len: self.log_end,
        };
        self.write_meta(ctx, acked);
    }

    fn handle(&mut self, ctx: &mut Ctx<'_>, waiting: Waiting) {
        if let Some(reason) = self.refusing {
            return self.reply(
                ctx,
                waiting.client,
                waiting.request,
                KvReply::Failed(reason.to_string()),
            );
        }
        let key = waiting.op.key().to_string();
        if let KvOp::Put { value, .. } | KvOp::Append { value, .. } = &waiting.op
            && (key.len() > usize::from(u16::MAX)
                || (key.len() + value.len()) as u64 + 3 > wal::RECORD_BYTES_MAX)
        {
            let reason = "too large: a record holds a key of at most 65535 bytes and 64 KiB in all";
            return self.reply(
                ctx,
                waiting.client,
                waiting.request,
                KvReply::Failed(reason.to_string()),
            );
        }
        match &waiting.op {
            KvOp::Cas { .. } => {
                let reason = "unsupported: wal-kv offers get, put and append, not cas";
                self.reply(
                    ctx,
                    waiting.client,
                    waiting.request,
                    KvReply::Failed(reason.to_string()),
                );
            }
            KvOp::Get { .. } => {
                let reply = if self.vouches_for(&key) {
                    KvReply::Value(self.store.get(&key).cloned().unwrap_or_default())
                } else {
                    KvReply::Failed(format!(
                        "data loss: acknowledged writes to {key} may have been destroyed"
                    ))
                };
                self.reply(ctx, waiting.client, waiting.request, reply);
            }
            KvOp::Append { .. } if !self.vouches_for(&key) => {
                let reason =
                    format!("data loss: the value of {key} to append to may have been destroyed");
                self.reply(
                    ctx,
                    waiting.client,
                    waiting.request,
                    KvReply::Failed(reason),
                );
            }
            KvOp::Put { .. } | KvOp::Append { .. } if self.read_only => {
                let reason = "read-only: the log cannot be written".to_string();
                self.reply(
                    ctx,
                    waiting.client,
                    waiting.request,
                    KvReply::Failed(reason),
                );
            }
            KvOp::Put { .. } | KvOp::Append { .. } => {
                if self.waiting.len() >= WAITING_MAX {
                    self.reply(
                        ctx,
                        waiting.client,
                        waiting.request,
                        KvReply::Failed("overloaded".into()),
                    );
                } else {
                    self.waiting.push_back(waiting);
                    self.start_batch(ctx);
                }
            }
        }
    }

    /// Writes the waiting writes as one batch, when no other is in flight.
    fn start_batch(&mut self, ctx: &mut Ctx<'_>) {
        if self.batch.is_some()
            || self.waiting.is_empty()
            || !self.is_serving()
            || !self.io.is_empty()
        {
            return;
        }
        let count = self.waiting.len().min(BATCH_MAX);
        let requests: Vec<Waiting> = self.waiting.drain(..count).collect();
        let mut data = Vec::new();
        for (lsn, waiting) in (self.next_lsn..).zip(&requests) {
            data.extend_from_slice(&encode_record(lsn, &waiting.op));
        }
        self.batch = Some(Batch {
            end: self.log_end + data.len() as u64,
            last_lsn: self.next_lsn + requests.len() as u64 - 1,
            requests,
            written: None,
            meta_failures: 0,
            meta_failed: false,
            acknowledged: false,
        });
        let write = DiskOp::Write {
            file: LOG_FILE.to_string(),
            offset: self.log_end,
            data,
        };
        self.submit(ctx, write, Io::WriteBatch);
        self.submit(
            ctx,
            DiskOp::Sync {
                file: LOG_FILE.to_string(),
            },
            Io::SyncLog,
        );
    }

    /// Applies the batch's writes and acknowledges them.
    fn acknowledge(&mut self, ctx: &mut Ctx<'_>) {
        let batch = self.batch.as_mut().expect("a batch to acknowledge");
        assert!(!batch.acknowledged, "a batch is acknowledged once");
        batch.acknowledged = true;
        for waiting in std::mem::take(&mut batch.requests) {
            let key = waiting.op.key().to_string();
            if self.data_lost && matches!(waiting.op, KvOp::Put { .. }) {
                self.vouched.insert(key);
            }
            apply(&mut self.store, waiting.op);
            let done = WalMessage::Reply {
                request: waiting.request,
                reply: KvReply::Done,
            };
            ctx.send(waiting.client, done);
        }
    }

    /// Moves the batch on once its disk operations are done: the log write and its sync,
    /// then the new acknowledged state in `wal.meta`, then the replies.
    fn step_batch(&mut self, ctx: &mut Ctx<'_>) {
        let Some(batch) = &self.batch else {
            return self.start_batch(ctx);
        };
        if self.pending(&[Io::WriteBatch, Io::SyncLog, Io::Meta]) {
            return;
        }
        match batch.written {
            Some(false) => {
                // Nothing was written; the numbers are free for the next batch.
                for waiting in self.batch.take().expect("checked").requests {
                    let reason = "the log write failed; nothing was written".to_string();
                    self.reply(
                        ctx,
                        waiting.client,
                        waiting.request,
                        KvReply::Failed(reason),
                    );
                }
            }
            Some(true) if self.log_end != batch.end => {
                // In the log and synced: record the new acknowledged state.
                let acked = Acked {
                    lsn: batch.last_lsn,
                    len: batch.end,
                };
                self.log_end = batch.end;
                self.next_lsn = batch.last_lsn + 1;
                self.write_meta(ctx, acked);
                return;
            }
            Some(true) if batch.meta_failed => {
                let batch = self.batch.as_mut().expect("checked");
                batch.meta_failed = false;
                batch.meta_failures += 1;
                if batch.meta_failures < ATTEMPTS_MAX {
                    let acked = Acked {
                        lsn: batch.last_lsn,
                        len: batch.end,
                    };
                    return self.write_meta(ctx, acked);
                }
                // The records are in the log and a recovery may replay them, so their writes
                // stay indeterminate: neither applied nor answered. Nothing more is written.
                ctx.annotate(format_args!("wal.meta cannot be written: reads only"));
                self.read_only = true;
                self.batch = None;
            }
            Some(true) => {
                if !batch.acknowledged {
                    self.acknowledge(ctx);
                }
                self.batch = None;
            }
            None => unreachable!("the write completed: nothing is pending"),
        }
        self.start_batch(ctx);
    }
}

impl Node for WalKv {
    type Message = WalMessage;
    type Timer = NoTimer;
    type Observation = WalObservation;

    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.read(ctx, META_FILE, Io::ReadMeta);
        self.read(ctx, LOG_FILE, Io::ReadLog);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, message: WalMessage) {
        let WalMessage::Request { request, op } = message else {
            return;
        };
        let waiting = Waiting {
            client: from,
            request,
            op,
        };
        if self.is_serving() {
            self.handle(ctx, waiting);
        } else if self.waiting.len() < WAITING_MAX {
            self.waiting.push_back(waiting);
        } else {
            self.reply(ctx, from, request, KvReply::Failed("recovering".into()));
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_>, _timer: NoTimer) {}

    fn on_disk(&mut self, ctx: &mut Ctx<'_>, id: IoId, result: IoResult) {
        let purpose = self
            .io
            .remove(&id)
            .expect("a disk completion answers a submitted operation");
        match purpose {
            // A read that completes after the node gave up on recovering is of no use.
            Io::ReadMeta | Io::ReadLog if !matches!(self.stage, Stage::Reading { .. }) => {}
            Io::ReadMeta => {
                let Stage::Reading {
                    acked,
                    meta_attempts,
                    ..
                } = &mut self.stage
                else {
                    unreachable!("checked above");
                };
                // A missing or empty meta file (never synced) means nothing was acknowledged.
                // It fits in one sector, so a crash never tears it.
                let decoded = match result {
                    IoResult::Data(bytes) if bytes.is_empty() => Some(Acked::default()),
                    IoResult::Data(bytes) => Acked::decode(&bytes),
                    IoResult::Err(IoError::NotFound) => Some(Acked::default()),
                    IoResult::Err(_) | IoResult::Ok | IoResult::Files(_) => None,
                };
                match decoded {
                    Some(decoded) => *acked = Some(decoded),
                    None => {
                        *meta_attempts += 1;
                        if *meta_attempts < ATTEMPTS_MAX {
                            return self.read(ctx, META_FILE, Io::ReadMeta);
                        }
                        return self.refuse(
                            ctx,
                            "wal.meta is unreadable: what was acknowledged is unknown",
                        );
                    }
                }
                self.recover(ctx);
            }
            Io::ReadLog => {
                let Stage::Reading {
                    log, log_attempts, ..
                } = &mut self.stage
                else {
                    unreachable!("checked above");
                };
                match result {
                    IoResult::Data(bytes) => *log = Some(bytes),
                    IoResult::Err(IoError::NotFound) => *log = Some(Vec::new()),
                    IoResult::Err(_) | IoResult::Ok | IoResult::Files(_) => {
                        *log_attempts += 1;
                        if *log_attempts < LOG_READ_ATTEMPTS_MAX {
                            return self.read(ctx, LOG_FILE, Io::ReadLog);
                        }
                        return self.refuse(ctx, "the log is unreadable");
                    }
                }
                self.recover(ctx);
            }
            Io::WriteVoid => {
                if result != IoResult::Ok {
                    self.void.as_mut().expect("a void record in flight").failed = true;
                }
                self.settle_after_log(ctx);
            }
            Io::Truncate | Io::SyncLog if !self.is_serving() => {
                if purpose == Io::Truncate && result != IoResult::Ok {
                    self.settle_failed = true;
                }
                self.settle_after_log(ctx);
            }
            Io::Meta if !self.is_serving() => {
                if result != IoResult::Ok {
                    self.settle_failed = true;
                }
                if !self.pending(&[Io::Meta]) {
                    if !std::mem::take(&mut self.settle_failed) {
                        self.serve(ctx);
                    } else if self.settle_again(ctx, "wal.meta cannot be written") {
                        self.settle(ctx);
                    }
                }
            }
            Io::WriteBatch => {
                let ok = match result {
                    IoResult::Ok => true,
                    IoResult::Err(_) => false,
                    IoResult::Data(_) | IoResult::Files(_) => {
                        unreachable!("a write returns no data")
                    }
                };
                self.batch.as_mut().expect("a batch is in flight").written = Some(ok);
                if ok && self.bug == WalBug::AckBeforeSync {
                    self.acknowledge(ctx);
                }
                self.step_batch(ctx);
            }
            Io::Meta => {
                if let (IoResult::Err(_), Some(batch)) = (&result, &mut self.batch) {
                    batch.meta_failed = true;
                }
                self.step_batch(ctx);
            }
            Io::SyncLog => self.step_batch(ctx),
            Io::Truncate => unreachable!("truncation happens while settling"),
        }
    }
}

impl WalKv {
    /// Replays the log once both files are read. A log that does not replay cleanly is read
    /// again until two reads agree, since a flipped bit may be transient.
    fn recover(&mut self, ctx: &mut Ctx<'_>) {
        let Stage::Reading {
            acked: Some(acked),
            log: Some(log),
            previous,
            reads,
            ..
        } = &mut self.stage
        else {
            return;
        };
        let (acked, log) = (*acked, std::mem::take(log));
        let replayed = replay(&log, acked, self.bug);
        let clean = !replayed.damaged && !replayed.truncate;
        *reads += 1;
        if !clean && previous.as_ref() != Some(&log) && *reads < DAMAGED_READS_MAX {
            *previous = Some(log);
            return self.read(ctx, LOG_FILE, Io::ReadLog);
        }
        self.recovered(ctx, replayed, acked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> KvOp {
        KvOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn append(key: &str, value: &str) -> KvOp {
        KvOp::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    fn log_of(ops: &[KvOp]) -> (Vec<u8>, Vec<u64>) {
        let mut log = Vec::new();
        let mut ends = Vec::new();
        for (lsn, op) in (1..).zip(ops) {
            log.extend_from_slice(&encode_record(lsn, op));
            ends.push(log.len() as u64);
        }
        (log, ends)
    }

    fn value<'a>(replay: &'a Replay, key: &str) -> Option<&'a str> {
        replay.store.get(key).map(String::as_str)
    }

    // A clean log replays whole; a torn tail past the acknowledged part is cut off (or, with
    // the planted bug, trusted).
    #[test]
    fn clean_logs_and_torn_tails() {
        let (log, ends) = log_of(&[put("a", "1"), put("b", "2"), append("a", "x")]);
        let all = Acked {
            lsn: 3,
            len: ends[2],
        };
        let clean = replay(&log, all, WalBug::None);
        assert_eq!(value(&clean, "a"), Some("1x"));
        assert_eq!(
            (clean.log_end, clean.next_lsn, clean.damaged),
            (ends[2], 4, false)
        );

        let two = Acked {
            lsn: 2,
            len: ends[1],
        };
        let torn = &log[..log.len() - 3];
        let replayed = replay(torn, two, WalBug::None);
        assert_eq!(
            (replayed.log_end, replayed.truncate, replayed.damaged),
            (ends[1], true, false)
        );
        assert_eq!(value(&replayed, "a"), Some("1"));
        let trusting = replay(torn, two, WalBug::TrustTornLength);
        assert_eq!(
            (trusting.log_end, trusting.truncate),
            (ends[2], false),
            "the torn length points past the end"
        );
    }

    // Damage inside the acknowledged part: salvage by sequence number; keys put after the last
    // missing record stay trustworthy, the rest do not.
    #[test]
    fn salvage_after_damage() {
        let (log, ends) = log_of(&[
            put("a", "1"),
            put("b", "2"),
            put("a", "3"),
            append("c", "y"),
        ]);
        let all = Acked {
            lsn: 4,
            len: ends[3],
        };
        let mut corrupt = log.clone();
        corrupt[ends[1] as usize - 1] ^= 1; // b's value
        let replayed = replay(&corrupt, all, WalBug::None);
        assert!(replayed.damaged && replayed.data_lost);
        assert!(replayed.vouched.contains("a"), "a was put after the loss");
        assert!(!replayed.vouched.contains("b") && !replayed.vouched.contains("c"));
        assert_eq!((replayed.next_lsn, replayed.log_end), (5, ends[3]));

        let unchecked = replay(&corrupt, all, WalBug::NoChecksum);
        assert!(!unchecked.damaged);
        assert_eq!(
            value(&unchecked, "b"),
            Some("3"),
            "a flipped bit served as data"
        );

        // A misdirected batch: record 2 sits past the end instead of in place. Nothing is lost.
        let (first, _) = log_of(&[put("a", "1")]);
        let mut misdirected = first.clone();
        misdirected.extend_from_slice(&[0; 64]);
        misdirected.extend_from_slice(&encode_record(2, &put("b", "2")));
        let acked = Acked {
            lsn: 2,
            len: ends[1],
        };
        let replayed = replay(&misdirected, acked, WalBug::None);
        assert!(replayed.damaged && !replayed.data_lost);
        assert_eq!(value(&replayed, "b"), Some("2"));
        assert_eq!(
            replayed.log_end,
            misdirected.len() as u64,
            "new records go after everything"
        );
    }

    // A record a salvage declared void is never replayed, not even by a later recovery that
    // reads the log cleanly in order.
    #[test]
    fn void_records_hold_in_order() {
        let mut log = Vec::new();
        for (lsn, op) in (1..).zip([put("k", "a"), append("k", "x")]) {
            log.extend_from_slice(&encode_record(lsn, &op));
        }
        log.extend_from_slice(&encode_entry(3, &Entry::Void { first: 2, below: 3 }));
        log.extend_from_slice(&encode_record(4, &append("k", "y")));
        let acked = Acked {
            lsn: 4,
            len: log.len() as u64,
        };
        let replayed = replay(&log, acked, WalBug::None);
        assert!(!replayed.damaged);
        assert_eq!(value(&replayed, "k"), Some("ay"));
        assert_eq!(replayed.next_lsn, 5);
    }
}
