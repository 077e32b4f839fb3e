//! Simulated disks. Each node owns one; it outlives crashes. A protocol reaches it only through
//! its context, as effects (write, append, truncate, sync, read, rename, delete, sync_dir) that
//! complete after a virtual latency, reported to `Node::on_disk`.
//!
//! # Durability rules
//!
//! - Reads see every write submitted so far (the page cache), synced or not.
//! - **Data** (write, append, truncate) becomes durable when a `sync` of that file completes:
//!   every data operation on the file submitted before the `sync` was submitted.
//! - **Names** (a file created by its first write, `rename`, `delete`) become durable when a
//!   `sync_dir` completes: every name operation submitted before it. A rename is atomic: after
//!   a crash the file has its old name or its new one. Name operations survive a crash as an
//!   ordered prefix (file systems journal metadata in order), so write-then-rename installs a
//!   snapshot atomically: write `snap.tmp`, sync it, rename it to `snap`, `sync_dir`.
//! - On a **crash**, each unsynced data operation is independently kept, lost, or torn (only a
//!   prefix of its sectors reaches the disk), with the probabilities of the plan's `DiskConfig`;
//!   synced data always survives. Then the page cache is the disk again.
//!
//! # Storage faults
//!
//! Each with its own probability, zero allowed: a read returns flipped bits (transient); a read
//! finds a latent sector error (the sector returns the same corruption until rewritten); a
//! write or read fails with an I/O error (a failed write changed nothing); a write lands at the
//! wrong offset (misdirected, silently); the disk is full (`capacity_bytes`). A fault budget
//! keeps faults to the files a scenario names and to at most `nodes_max` nodes' disks, unless
//! `unlimited` is set. A full disk is a condition of every file rather than a fault, so the
//! budget does not confine it. A latent sector error clears when the sector is written again
//! (when the write is submitted).

use crate::hash::StableHasher;
use crate::net::Latency;
use crate::rng::KeyedRng;
use crate::time::Duration;
pub use faultline_api::disk::{DiskOp, IoError, IoResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// How a node's disk behaves: latencies, crash behaviour and faults.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DiskConfig {
    /// The unit of tearing and of latent errors.
    pub sector_bytes: u32,
    /// Reads, writes and name operations.
    pub latency: Latency,
    pub sync_latency: Latency,
    /// Writes that would grow the disk past this fail with `NoSpace`.
    pub capacity_bytes: u64,
    /// On a crash, each unsynced data operation is lost with this probability...
    pub crash_lose_ppm: u32,
    /// ...or torn with this one, and otherwise kept.
    pub crash_tear_ppm: u32,
    pub faults: DiskFaults,
}

impl DiskConfig {
    /// Rejects configurations the model cannot run (a plan is user input).
    pub fn validate(&self) -> Result<(), String> {
        if self.sector_bytes == 0 {
            return Err("disk sector_bytes must be positive".to_string());
        }
        self.latency.validate()?;
        self.sync_latency.validate()?;
        let faults = &self.faults;
        let probabilities = [
            self.crash_lose_ppm,
            self.crash_tear_ppm,
            faults.read_corrupt_ppm,
            faults.latent_ppm,
            faults.read_error_ppm,
            faults.write_error_ppm,
            faults.misdirect_ppm,
        ];
        if probabilities.iter().any(|&ppm| ppm > crate::rng::PPM)
            || self.crash_lose_ppm.saturating_add(self.crash_tear_ppm) > crate::rng::PPM
        {
            return Err("disk probabilities are parts per million, at most 1000000 (lose and tear together)".into());
        }
        Ok(())
    }
}

impl Default for DiskConfig {
    fn default() -> DiskConfig {
        DiskConfig {
            sector_bytes: 512,
            latency: Latency::Uniform {
                min: Duration::from_micros(50),
                max: Duration::from_micros(500),
            },
            sync_latency: Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(5),
            },
            capacity_bytes: u64::MAX,
            crash_lose_ppm: 300_000,
            crash_tear_ppm: 300_000,
            faults: DiskFaults::default(),
        }
    }
}

/// Storage faults and their budget. All zero by default.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct DiskFaults {
    /// A read returns one flipped bit (this read only).
    pub read_corrupt_ppm: u32,
    /// A read finds a latent sector error: the sector returns the same corruption until it is
    /// written again.
    pub latent_ppm: u32,
    pub read_error_ppm: u32,
    pub write_error_ppm: u32,
    /// A write lands one to four sectors away from where it was aimed.
    pub misdirect_ppm: u32,
    /// Files (exact names, or prefixes ending in `*`) that faults may touch; empty: all.
    pub files: Vec<String>,
    /// How many nodes' disks may suffer faults in one run.
    pub nodes_max: u32,
    /// No budget: faults anywhere, on every node (safety-only runs).
    pub unlimited: bool,
}

impl DiskFaults {
    /// No new faults from now on (the liveness phase); the budget stays as it was.
    pub(crate) fn stop_new_faults(&mut self) {
        self.read_corrupt_ppm = 0;
        self.latent_ppm = 0;
        self.read_error_ppm = 0;
        self.write_error_ppm = 0;
        self.misdirect_ppm = 0;
    }

    pub fn any(&self) -> bool {
        self.read_corrupt_ppm > 0
            || self.latent_ppm > 0
            || self.read_error_ppm > 0
            || self.write_error_ppm > 0
            || self.misdirect_ppm > 0
    }

    fn covers(&self, file: &str) -> bool {
        self.unlimited
            || self.files.is_empty()
            || self
                .files
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => file.starts_with(prefix),
                    None => file == pattern,
                })
    }
}

/// What becomes durable when a sync completes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub(crate) enum Durability {
    File { inode: usize, upto: u64 },
    Names { upto: u64 },
}

#[derive(Clone, Debug)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    Truncate { len: u64 },
}

#[derive(Clone, Debug)]
enum NameOp {
    Link { name: String, inode: usize },
    Rename { from: String, to: String },
    Delete { name: String },
}

#[derive(Clone, Debug, Default)]
struct Inode {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    /// Unsynced data operations, by ascending sequence number.
    pending: Vec<(u64, DataOp)>,
    /// The sequence number the last completed sync of this file covered.
    synced_upto: u64,
}

/// A fault or crash decision, for the trace and the fault counts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DiskEvent {
    pub kind: &'static str,
    pub detail: String,
}

/// The result of submitting an operation.
pub(crate) struct Submitted {
    pub result: IoResult,
    pub durability: Option<Durability>,
    pub latency: Duration,
    pub events: Vec<DiskEvent>,
}

/// One node's disk.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    inodes: Vec<Inode>,
    names: BTreeMap<String, usize>,
    durable_names: BTreeMap<String, usize>,
    /// Unsynced name operations, by ascending sequence number.
    pending_names: Vec<(u64, NameOp)>,
    /// The sequence number the last completed `sync_dir` covered.
    names_synced_upto: u64,
    latent: BTreeSet<(usize, u64)>,
    sequence: u64,
}

fn apply(content: &mut Vec<u8>, op: &DataOp) {
    match op {
        // An empty write changes nothing, wherever it points (as `pwrite` of no bytes).
        DataOp::Write { data, .. } if data.is_empty() => {}
        DataOp::Write { offset, data } => {
            let offset = *offset as usize;
            if content.len() < offset + data.len() {
                content.resize(offset + data.len(), 0);
            }
            content[offset..offset + data.len()].copy_from_slice(data);
        }
        DataOp::Truncate { len } => content.resize(*len as usize, 0),
    }
}

fn apply_name(names: &mut BTreeMap<String, usize>, op: &NameOp) {
    match op {
        NameOp::Link { name, inode } => {
            names.insert(name.clone(), *inode);
        }
        NameOp::Rename { from, to } => {
            if let Some(inode) = names.remove(from) {
                names.insert(to.clone(), inode);
            }
        }
        NameOp::Delete { name } => {
            names.remove(name);
        }
    }
}

/// The bit a latent error flips in a sector: fixed per (inode, sector), so it repeats.
fn latent_bit(inode: usize, sector: u64, sector_bytes: u32) -> usize {
    let mut hasher = StableHasher::new();
    (inode, sector).hash(&mut hasher);
    (hasher.finish() % (u64::from(sector_bytes) * 8)) as usize
}

impl Disk {
    /// The files as reads see them, with their lengths.
    pub fn files(&self) -> Vec<(String, u64)> {
        self.names
            .iter()
            .map(|(name, &inode)| (name.clone(), self.inodes[inode].volatile.len() as u64))
            .collect()
    }

    /// A file's current content (the page cache), for checkers and tests.
    pub fn content(&self, file: &str) -> Option<&[u8]> {
        self.names
            .get(file)
            .map(|&inode| self.inodes[inode].volatile.as_slice())
    }

    /// A file's durable content under its durable name: what a crash now would keep at least.
    pub fn durable_content(&self, file: &str) -> Option<&[u8]> {
        self.durable_names
            .get(file)
            .map(|&inode| self.inodes[inode].durable.as_slice())
    }

    fn used_bytes(&self) -> u64 {
        self.names
            .values()
            .map(|&i| self.inodes[i].volatile.len() as u64)
            .sum()
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Carries out an operation's immediate effect and decides its result and latency.
    /// `faulty` says whether the fault budget lets this disk suffer faults.
    pub(crate) fn submit(
        &mut self,
        op: &DiskOp,
        config: &DiskConfig,
        faulty: bool,
        rng: &mut KeyedRng,
    ) -> Submitted {
        let latency = if op.is_sync() {
            &config.sync_latency
        } else {
            &config.latency
        }
        .sample(rng);
        let mut events = Vec::new();
        let faults = &config.faults;
        let eligible = |file: &str| faulty && faults.covers(file);
        let mut durability = None;
        let result = match op {
            DiskOp::Write { file, offset, data } => {
                let at = (*offset, eligible(file));
                self.write(file, at, data, config, rng, &mut events)
            }
            DiskOp::Append { file, data } => {
                let end = self.content(file).map_or(0, |c| c.len() as u64);
                let at = (end, eligible(file));
                self.write(file, at, data, config, rng, &mut events)
            }
            DiskOp::Truncate { file, len } => {
                self.truncate(file, *len, config, eligible(file), rng, &mut events)
            }
            DiskOp::Sync { .. } | DiskOp::SyncDir => {
                let (result, covers) = self.sync(op);
                durability = covers;
                result
            }
            DiskOp::Read { file, offset, len } => {
                let at = (*offset, *len);
                self.read(file, at, config, eligible(file), rng, &mut events)
            }
            DiskOp::ReadToEnd { file, offset } => {
                let at = (*offset, u64::MAX);
                self.read(file, at, config, eligible(file), rng, &mut events)
            }
            DiskOp::List => IoResult::Files(self.files()),
            DiskOp::Rename { from, to } => {
                let (from, to) = (from.clone(), to.clone());
                self.rename_or_delete(&from.clone(), NameOp::Rename { from, to })
            }
            DiskOp::Delete { file } => {
                self.rename_or_delete(file, NameOp::Delete { name: file.clone() })
            }
        };
        self.check_after_operation();
        Submitted {
            result,
            durability,
            latency,
            events,
        }
    }

    /// The invariants every operation keeps, checked after each one (assertions stay on in
    /// release builds). Cost: O(files), plus O(1) per pending list, since only the last
    /// sequence number of each list can have changed: pending operations ascend, every name
    /// (current and durable) points at a file that exists, and nothing is pending that a
    /// completed sync already covered.
    fn check_after_operation(&self) {
        for inode in &self.inodes {
            if let [.., (before, _), (last, _)] = inode.pending.as_slice() {
                assert!(before < last, "pending data operations out of order");
            }
            if let Some((first, _)) = inode.pending.first() {
                assert!(*first > inode.synced_upto, "synced data left pending");
            }
        }
        if let [.., (before, _), (last, _)] = self.pending_names.as_slice() {
            assert!(before < last, "pending name operations out of order");
        }
        if let Some((first, _)) = self.pending_names.first() {
            assert!(*first > self.names_synced_upto, "synced names left pending");
        }
        let live = |inode: &usize| *inode < self.inodes.len();
        assert!(
            self.names.values().all(live) && self.durable_names.values().all(live),
            "a name points at no file"
        );
    }

    /// A sync of a file or of the names: what it will make durable when it completes.
    fn sync(&self, op: &DiskOp) -> (IoResult, Option<Durability>) {
        let upto = self.sequence;
        match op {
            DiskOp::Sync { file } => match self.names.get(file) {
                None => (IoResult::Err(IoError::NotFound), None),
                Some(&inode) => (IoResult::Ok, Some(Durability::File { inode, upto })),
            },
            _ => (IoResult::Ok, Some(Durability::Names { upto })),
        }
    }

    /// A name operation on an existing file.
    fn rename_or_delete(&mut self, file: &str, op: NameOp) -> IoResult {
        if !self.names.contains_key(file) {
            return IoResult::Err(IoError::NotFound);
        }
        let sequence = self.next_sequence();
        apply_name(&mut self.names, &op);
        self.pending_names.push((sequence, op));
        IoResult::Ok
    }

    fn truncate(
        &mut self,
        file: &str,
        len: u64,
        config: &DiskConfig,
        eligible: bool,
        rng: &mut KeyedRng,
        events: &mut Vec<DiskEvent>,
    ) -> IoResult {
        let Some(&inode) = self.names.get(file) else {
            return IoResult::Err(IoError::NotFound);
        };
        if eligible && rng.chance_ppm(config.faults.write_error_ppm) {
            events.push(DiskEvent {
                kind: "write-error",
                detail: format!("truncate {file}"),
            });
            return IoResult::Err(IoError::Io);
        }
        let current = self.inodes[inode].volatile.len() as u64;
        if len > current && self.used_bytes().saturating_add(len - current) > config.capacity_bytes
        {
            events.push(DiskEvent {
                kind: "disk-full",
                detail: format!("truncate {file} to {len}"),
            });
            return IoResult::Err(IoError::NoSpace);
        }
        let sequence = self.next_sequence();
        let op = DataOp::Truncate { len };
        apply(&mut self.inodes[inode].volatile, &op);
        self.inodes[inode].pending.push((sequence, op));
        IoResult::Ok
    }

    /// A write of `data` aimed at `offset`; `eligible` says whether faults may strike it.
    fn write(
        &mut self,
        file: &str,
        (offset, eligible): (u64, bool),
        data: &[u8],
        config: &DiskConfig,
        rng: &mut KeyedRng,
        events: &mut Vec<DiskEvent>,
    ) -> IoResult {
        let faults = &config.faults;
        if eligible && rng.chance_ppm(faults.write_error_ppm) {
            events.push(DiskEvent {
                kind: "write-error",
                detail: format!("{file} @{offset}"),
            });
            return IoResult::Err(IoError::Io);
        }
        let sector = u64::from(config.sector_bytes);
        let mut landed = offset;
        let misdirected = eligible && rng.chance_ppm(faults.misdirect_ppm);
        if misdirected {
            let shift = rng.between(1, 4) * sector;
            landed = if rng.below(2) == 0 {
                offset + shift
            } else {
                offset.saturating_sub(shift)
            };
        }
        // Only growth can fill a disk; it is measured where the data actually lands.
        let current = self.content(file).map_or(0, |c| c.len() as u64);
        let growth = (landed + data.len() as u64).saturating_sub(current);
        if growth > 0 && self.used_bytes().saturating_add(growth) > config.capacity_bytes {
            events.push(DiskEvent {
                kind: "disk-full",
                detail: format!("{file} @{offset}"),
            });
            return IoResult::Err(IoError::NoSpace);
        }
        if misdirected {
            events.push(DiskEvent {
                kind: "misdirected-write",
                detail: format!("{file}: aimed at @{offset}, landed at @{landed}"),
            });
        }
        let inode = self.inode_for_writing(file);
        // Rewriting a sector clears its latent error, as a drive remaps it.
        let first = landed / sector;
        let last = (landed + data.len() as u64).div_ceil(sector);
        self.latent
            .retain(|&(i, s)| i != inode || s < first || s >= last);
        let sequence = self.next_sequence();
        let op = DataOp::Write {
            offset: landed,
            data: data.to_vec(),
        };
        apply(&mut self.inodes[inode].volatile, &op);
        self.inodes[inode].pending.push((sequence, op));
        IoResult::Ok
    }

    /// The file's inode; a first write creates the file (a name operation).
    fn inode_for_writing(&mut self, file: &str) -> usize {
        if let Some(&inode) = self.names.get(file) {
            return inode;
        }
        self.inodes.push(Inode::default());
        let inode = self.inodes.len() - 1;
        let sequence = self.next_sequence();
        let op = NameOp::Link {
            name: file.to_string(),
            inode,
        };
        apply_name(&mut self.names, &op);
        self.pending_names.push((sequence, op));
        inode
    }

    /// A read of `len` bytes at `offset`; `eligible` says whether faults may strike.
    fn read(
        &mut self,
        file: &str,
        (offset, len): (u64, u64),
        config: &DiskConfig,
        eligible: bool,
        rng: &mut KeyedRng,
        events: &mut Vec<DiskEvent>,
    ) -> IoResult {
        let Some(&inode) = self.names.get(file) else {
            return IoResult::Err(IoError::NotFound);
        };
        let faults = &config.faults;
        if eligible && rng.chance_ppm(faults.read_error_ppm) {
            events.push(DiskEvent {
                kind: "read-error",
                detail: format!("{file} @{offset}"),
            });
            return IoResult::Err(IoError::Io);
        }
        let content = &self.inodes[inode].volatile;
        let start = (offset as usize).min(content.len());
        let end = (offset.saturating_add(len) as usize).min(content.len());
        let mut data = content[start..end].to_vec();
        if data.is_empty() {
            return IoResult::Data(data);
        }
        let sector = u64::from(config.sector_bytes);
        if eligible && rng.chance_ppm(faults.latent_ppm) {
            let first = start as u64 / sector;
            let last = (end as u64 - 1) / sector;
            let bad = rng.between(first, last);
            if self.latent.insert((inode, bad)) {
                events.push(DiskEvent {
                    kind: "latent-sector-error",
                    detail: format!("{file} sector {bad}"),
                });
            }
        }
        for &(_, bad) in self.latent.range((inode, 0)..(inode + 1, 0)) {
            let bit = bad * sector * 8 + latent_bit(inode, bad, config.sector_bytes) as u64;
            let byte = bit / 8;
            if byte >= start as u64 && byte < end as u64 {
                data[(byte - start as u64) as usize] ^= 1 << (bit % 8);
            }
        }
        if eligible && rng.chance_ppm(faults.read_corrupt_ppm) {
            let bit = rng.below(data.len() as u64 * 8);
            data[(bit / 8) as usize] ^= 1 << (bit % 8);
            events.push(DiskEvent {
                kind: "read-corruption",
                detail: format!("{file} byte {}", start as u64 + bit / 8),
            });
        }
        IoResult::Data(data)
    }

    /// A sync completed: what it covers becomes durable.
    pub(crate) fn make_durable(&mut self, durability: Durability) {
        match durability {
            Durability::File { inode, upto } => {
                let node = &mut self.inodes[inode];
                let count = node.pending.iter().take_while(|(s, _)| *s <= upto).count();
                for (_, op) in node.pending.drain(..count) {
                    apply(&mut node.durable, &op);
                }
                node.synced_upto = node.synced_upto.max(upto);
                // With nothing left pending, the disk holds exactly what reads see. O(file
                // size) per sync.
                assert!(
                    !node.pending.is_empty() || node.durable == node.volatile,
                    "a synced file differs from its page cache"
                );
            }
            Durability::Names { upto } => {
                let count = self
                    .pending_names
                    .iter()
                    .take_while(|(s, _)| *s <= upto)
                    .count();
                for (_, op) in self.pending_names.drain(..count) {
                    apply_name(&mut self.durable_names, &op);
                }
                self.names_synced_upto = self.names_synced_upto.max(upto);
                assert!(
                    !self.pending_names.is_empty() || self.durable_names == self.names,
                    "synced names differ from the names reads see"
                );
            }
        }
        self.check_after_operation();
    }

    /// A crash: every unsynced data operation is kept, lost or torn; an ordered prefix of the
    /// unsynced name operations survives. Afterwards the page cache equals the disk.
    pub(crate) fn crash(&mut self, config: &DiskConfig, rng: &mut KeyedRng) -> Vec<DiskEvent> {
        self.check_before_crash();
        let mut events = Vec::new();
        let mut by_inode: BTreeMap<usize, &str> = BTreeMap::new();
        for (name, &inode) in &self.names {
            by_inode.entry(inode).or_insert(name);
        }
        for (index, inode) in self.inodes.iter_mut().enumerate() {
            let name = by_inode.get(&index).copied().unwrap_or("(unlinked)");
            for (_, op) in inode.pending.drain(..) {
                if let Some(event) = resolve_at_crash(op, &mut inode.durable, config, rng) {
                    events.push(DiskEvent {
                        kind: event.0,
                        detail: format!("{name}{}", event.1),
                    });
                }
            }
            inode.volatile = inode.durable.clone();
        }
        let pending = std::mem::take(&mut self.pending_names);
        let kept = rng.below(pending.len() as u64 + 1) as usize;
        for (position, (_, op)) in pending.into_iter().enumerate() {
            if position < kept {
                apply_name(&mut self.durable_names, &op);
            } else {
                events.push(DiskEvent {
                    kind: "lost-name-op",
                    detail: describe_name(&op),
                });
            }
        }
        self.names = self.durable_names.clone();
        self.check_after_operation();
        events
    }

    /// At a crash, the durable state is consistent with the sync history: a file with nothing
    /// pending holds on disk exactly what reads see, and every pending operation is newer than
    /// the last sync that covered it (so the crash can only touch unsynced work). O(disk
    /// size), once per crash.
    fn check_before_crash(&self) {
        for inode in &self.inodes {
            assert!(
                !inode.pending.is_empty() || inode.durable == inode.volatile,
                "a file with nothing pending differs on disk from its page cache"
            );
            assert!(
                inode
                    .pending
                    .iter()
                    .all(|(sequence, _)| *sequence > inode.synced_upto),
                "a crash would decide the fate of synced data"
            );
        }
        assert!(
            !self.pending_names.is_empty() || self.durable_names == self.names,
            "names with nothing pending differ on disk from what reads see"
        );
    }
}

/// Decides the fate of one unsynced data operation at a crash: kept, lost or torn (a prefix
/// of whole sectors from the start of the write, never all of them), and applies what reached
/// the disk to `durable`. Returns the event's kind and the detail after the file's name.
fn resolve_at_crash(
    op: DataOp,
    durable: &mut Vec<u8>,
    config: &DiskConfig,
    rng: &mut KeyedRng,
) -> Option<(&'static str, String)> {
    // Nothing is drawn when nothing can happen, as everywhere else.
    let draw = if config.crash_lose_ppm == 0 && config.crash_tear_ppm == 0 {
        crate::rng::PPM
    } else {
        rng.below(u64::from(crate::rng::PPM)) as u32
    };
    if draw < config.crash_lose_ppm {
        return Some(("lost-write", format!(": {}", describe_data(&op))));
    }
    let tear = draw < config.crash_lose_ppm.saturating_add(config.crash_tear_ppm);
    let DataOp::Write { offset, data } = op else {
        apply(durable, &op);
        return None;
    };
    if !tear {
        apply(durable, &DataOp::Write { offset, data });
        return None;
    }
    let sector = u64::from(config.sector_bytes);
    let end = offset + data.len() as u64;
    let boundaries: Vec<u64> = ((offset / sector + 1)..end.div_ceil(sector))
        .map(|s| s * sector)
        .collect();
    let kept_bytes = match rng.below(boundaries.len() as u64 + 1) as usize {
        0 => 0,
        k => (boundaries[k - 1] - offset) as usize,
    };
    if kept_bytes > 0 {
        let kept = data[..kept_bytes].to_vec();
        apply(durable, &DataOp::Write { offset, data: kept });
    }
    let detail = format!(
        " @{offset}: {kept_bytes} of {} bytes reached the disk",
        data.len()
    );
    Some(("torn-write", detail))
}

fn describe_data(op: &DataOp) -> String {
    match op {
        DataOp::Write { offset, data } => format!("write @{offset} {} bytes", data.len()),
        DataOp::Truncate { len } => format!("truncate to {len}"),
    }
}

fn describe_name(op: &NameOp) -> String {
    match op {
        NameOp::Link { name, .. } => format!("create {name}"),
        NameOp::Rename { from, to } => format!("rename {from} -> {to}"),
        NameOp::Delete { name } => format!("delete {name}"),
    }
}
