//! A host for unit tests: one node, a clock the test sets, an in-memory disk that keeps the
//! disk contract, and the effects of every call handed back for the test to assert on. No
//! simulator involved: this is how a protocol's handlers are tested one at a time.
//!
//! ```ignore
//! let mut host = TestHost::new(NodeId(0), vec![NodeId(0), NodeId(1)], 7);
//! let effects = host.start(&mut node);
//! assert!(matches!(effects[0], Effect::Send { to: NodeId(1), .. }));
//! ```
//!
//! The disk applies every operation at once, in submission order, and everything on it is
//! durable: a test that wants a torn tail or a flipped bit writes it into `files` before
//! starting the node. `settle` carries out disk operations and feeds their completions back
//! until the node submits no more.

use crate::disk::{DiskOp, IoError, IoId, IoResult};
use crate::node::{Context, Effect, Inputs, Node, NodeId};
use crate::rng::{Keys, Rng, stream};
use crate::time::Instant;
use std::collections::BTreeMap;

/// One node's host in a unit test.
pub struct TestHost {
    pub id: NodeId,
    pub members: Vec<NodeId>,
    pub now: Instant,
    pub incarnation: u32,
    /// The disk: file names and contents.
    pub files: BTreeMap<String, Vec<u8>>,
    seed: u64,
    rng: Rng,
    keys: Keys,
    next_io: u64,
}

impl TestHost {
    pub fn new(id: NodeId, members: Vec<NodeId>, seed: u64) -> TestHost {
        TestHost {
            id,
            members,
            now: Instant::ZERO,
            incarnation: 0,
            files: BTreeMap::new(),
            seed,
            rng: Rng::for_node(seed, id.0, 0),
            keys: Keys::new(seed, stream::KEYED_BASE + u64::from(id.0)),
            next_io: 0,
        }
    }

    /// Runs one handler and returns its effects.
    pub fn call<N: Node>(
        &mut self,
        node: &mut N,
        handler: impl FnOnce(&mut N, &mut Context<'_, N::Message, N::Timer, N::Observation>),
    ) -> Vec<Effect<N::Message, N::Timer, N::Observation>> {
        let mut effects = Vec::new();
        let inputs = Inputs {
            id: self.id,
            incarnation: self.incarnation,
            now: self.now,
            members: &self.members,
            rng: &mut self.rng,
            keys: self.keys,
            next_io: &mut self.next_io,
        };
        handler(node, &mut Context::new(inputs, &mut effects));
        effects
    }

    /// Starts `node`, carries out its disk operations to the end, and returns its other effects.
    pub fn start<N: Node>(
        &mut self,
        node: &mut N,
    ) -> Vec<Effect<N::Message, N::Timer, N::Observation>> {
        let effects = self.call(node, |n, ctx| n.on_start(ctx));
        self.settle(node, effects)
    }

    /// The node restarts: a new incarnation with a fresh random stream (the disk stays).
    pub fn restart<N: Node>(
        &mut self,
        node: &mut N,
    ) -> Vec<Effect<N::Message, N::Timer, N::Observation>> {
        self.incarnation += 1;
        self.rng = Rng::for_node(self.seed, self.id.0, self.incarnation);
        self.start(node)
    }

    /// Delivers a message, settles the disk, and returns the other effects.
    pub fn deliver<N: Node>(
        &mut self,
        node: &mut N,
        from: NodeId,
        message: N::Message,
    ) -> Vec<Effect<N::Message, N::Timer, N::Observation>> {
        let effects = self.call(node, |n, ctx| n.on_message(ctx, from, message));
        self.settle(node, effects)
    }

    /// Fires a timer, settles the disk, and returns the other effects.
    pub fn fire<N: Node>(
        &mut self,
        node: &mut N,
        timer: N::Timer,
    ) -> Vec<Effect<N::Message, N::Timer, N::Observation>> {
        let effects = self.call(node, |n, ctx| n.on_timer(ctx, timer));
        self.settle(node, effects)
    }

    /// Carries out the disk operations among `effects` in order, delivers their completions
    /// (in submission order), and repeats with what those handlers submit; returns every
    /// effect that is not a disk operation, in the order they were made.
    pub fn settle<N: Node>(
        &mut self,
        node: &mut N,
        effects: Vec<Effect<N::Message, N::Timer, N::Observation>>,
    ) -> Vec<Effect<N::Message, N::Timer, N::Observation>> {
        let mut others = Vec::new();
        let mut pending = std::collections::VecDeque::new();
        let mut split = |effects: Vec<Effect<N::Message, N::Timer, N::Observation>>,
                         pending: &mut std::collections::VecDeque<(IoId, IoResult)>,
                         files: &mut BTreeMap<String, Vec<u8>>| {
            for effect in effects {
                match effect {
                    Effect::Disk { id, op } => pending.push_back((id, apply(files, &op))),
                    other => others.push(other),
                }
            }
        };
        split(effects, &mut pending, &mut self.files);
        let mut rounds = 0u32;
        while let Some((id, result)) = pending.pop_front() {
            rounds += 1;
            assert!(
                rounds < 1_000_000,
                "the node never stops submitting disk operations"
            );
            let more = self.call(node, |n, ctx| n.on_disk(ctx, id, result));
            split(more, &mut pending, &mut self.files);
        }
        others
    }
}

/// The largest file the in-memory disk holds: a write past it fails with `NoSpace`, so a
/// protocol that writes at an absurd offset gets an error, not a test that runs out of memory.
pub const FILE_BYTES_MAX: u64 = 1 << 30;

/// An operation on the in-memory disk, applied at once.
fn apply(files: &mut BTreeMap<String, Vec<u8>>, op: &DiskOp) -> IoResult {
    let read = |content: &[u8], offset: u64, len: u64| {
        let start = (offset as usize).min(content.len());
        let end = (offset.saturating_add(len).min(content.len() as u64)) as usize;
        IoResult::Data(content[start..end].to_vec())
    };
    match op {
        // An empty write changes no length, wherever it points (it may create the file).
        DiskOp::Write { file, data, .. } if data.is_empty() => {
            files.entry(file.clone()).or_default();
            IoResult::Ok
        }
        DiskOp::Write { file, offset, data } => {
            let end = offset.saturating_add(data.len() as u64);
            if end > FILE_BYTES_MAX {
                return IoResult::Err(IoError::NoSpace);
            }
            let content = files.entry(file.clone()).or_default();
            let (offset, end) = (*offset as usize, end as usize);
            if content.len() < end {
                content.resize(end, 0);
            }
            content[offset..end].copy_from_slice(data);
            IoResult::Ok
        }
        DiskOp::Append { file, data }
            if files.get(file).map_or(0, Vec::len) + data.len() > FILE_BYTES_MAX as usize =>
        {
            IoResult::Err(IoError::NoSpace)
        }
        DiskOp::Append { file, data } => {
            files
                .entry(file.clone())
                .or_default()
                .extend_from_slice(data);
            IoResult::Ok
        }
        DiskOp::Truncate { len, .. } if *len > FILE_BYTES_MAX => IoResult::Err(IoError::NoSpace),
        DiskOp::Truncate { file, len } => match files.get_mut(file) {
            Some(content) => {
                content.resize(*len as usize, 0);
                IoResult::Ok
            }
            None => IoResult::Err(IoError::NotFound),
        },
        DiskOp::Sync { file } | DiskOp::Delete { file } if !files.contains_key(file) => {
            IoResult::Err(IoError::NotFound)
        }
        DiskOp::Sync { .. } | DiskOp::SyncDir => IoResult::Ok,
        DiskOp::Delete { file } => {
            files.remove(file);
            IoResult::Ok
        }
        DiskOp::Read { file, offset, len } => match files.get(file) {
            Some(content) => read(content, *offset, *len),
            None => IoResult::Err(IoError::NotFound),
        },
        DiskOp::ReadToEnd { file, offset } => match files.get(file) {
            Some(content) => read(content, *offset, u64::MAX),
            None => IoResult::Err(IoError::NotFound),
        },
        DiskOp::Rename { from, to } => match files.remove(from) {
            Some(content) => {
                files.insert(to.clone(), content);
                IoResult::Ok
            }
            None => IoResult::Err(IoError::NotFound),
        },
        DiskOp::List => IoResult::Files(
            files
                .iter()
                .map(|(name, content)| (name.clone(), content.len() as u64))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the in-memory disk answers absurd sizes with an error and empty writes with no
    // change, instead of running out of memory or panicking.
    #[test]
    fn absurd_sizes_fail_and_empty_writes_change_nothing() {
        let mut files = BTreeMap::from([("a".to_string(), vec![1, 2, 3])]);
        let write = |offset: u64, data: Vec<u8>| DiskOp::Write {
            file: "a".into(),
            offset,
            data,
        };
        for offset in [3, 1_000, u64::MAX] {
            assert_eq!(apply(&mut files, &write(offset, Vec::new())), IoResult::Ok);
        }
        assert_eq!(files["a"], [1, 2, 3]);
        let no_space = IoResult::Err(IoError::NoSpace);
        assert_eq!(apply(&mut files, &write(u64::MAX / 2, vec![1])), no_space);
        let truncate = DiskOp::Truncate {
            file: "a".into(),
            len: u64::MAX,
        };
        assert_eq!(apply(&mut files, &truncate), no_space);
        assert_eq!(files["a"], [1, 2, 3]);
    }
}
