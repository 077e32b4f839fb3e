//! A workload's operations as data. Clients are closed-loop: each logical process thinks, issues
//! an operation, waits for its completion, and thinks again. Operation k of process p draws its
//! think time and its content (kind, key, value, server) from keys of its own ([`op_key`]), so
//! it is the same in every run of the seed whatever came before it, and a plan need not list
//! what the draws give: a [`Script`] says which operations run (ranges of indices per process)
//! and spells out only those it changes (a [`WrittenOp`]: the history's `f`, key and value).
//! A plan of unique-ids' 30,000 operations is empty until something is removed or changed;
//! removing one operation adds a range. A script can also pin an operation to a time
//! ([`TimedOp`]), so that removing the operations before it leaves it where it was.
//!
//! A client walks its processes' operations with an [`OpCursor`].

use crate::node::Context;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Which draws of a client operation a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpDraw {
    /// The think time before the operation.
    Think = 0,
    /// The operation itself: its kind, key, value, server.
    Op = 1,
}

/// The key (`Context::keyed_rng`) of the draws of operation `index` (counting from 0) of
/// history process `process`.
pub fn op_key(process: u64, index: u64, draw: OpDraw) -> [u64; 2] {
    [process, 2 * index + draw as u64]
}

/// An operation spelled out in a plan: what a client would record for its invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrittenOp {
    pub process: u64,
    pub index: u64,
    /// The operation, as the history names it (`get`, `put`, `add`, `generate`, ...).
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// An operation pinned to a time: its process invokes it at `at` (by the client's clock) instead
/// of after a drawn think time, or as soon as it is free if it is still busy then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedOp {
    pub process: u64,
    pub index: u64,
    pub at: Instant,
}

/// Which operations of a workload's processes run, which are spelled out, and which are pinned
/// to a time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Per history process, the indices of the operations that run, as half-open ranges
    /// `[from, to)` in increasing order. A process not listed runs every operation; one listed
    /// with no ranges runs none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub only: BTreeMap<u64, Vec<[u64; 2]>>,
    /// Operations whose content the plan gives instead of the draws (their think times are
    /// still drawn). Each must be one that runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<WrittenOp>,
    /// Operations invoked at a given time instead of after a drawn think time (the shrinker
    /// pins the operations it keeps, so that removing others does not move them). Each must
    /// be one that runs. Closed-loop clients honour them; open-loop arrivals have times of
    /// their own, and their scenarios refuse `at`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at: Vec<TimedOp>,
}

impl Script {
    pub fn is_empty(&self) -> bool {
        self.only.is_empty() && self.written.is_empty() && self.at.is_empty()
    }

    /// How many entries (ranges, written and pinned operations) the script holds, for the plan
    /// limit.
    pub fn entries(&self) -> u64 {
        let ranges: usize = self.only.values().map(Vec::len).sum();
        (ranges + self.written.len() + self.at.len()) as u64
    }

    /// Checks the ranges (nonempty, increasing, apart) and that each written or pinned
    /// operation is one that runs, once; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        for (process, ranges) in &self.only {
            let mut end = 0;
            for (i, &[from, to]) in ranges.iter().enumerate() {
                if from >= to || (i > 0 && from <= end) {
                    return Err(format!(
                        "operations.only.{process}[{i}]: [{from}, {to}) must be a nonempty range \
                         after the one before it, not touching it"
                    ));
                }
                end = to;
            }
        }
        self.check_each(
            "written",
            "written",
            self.written.iter().map(|op| (op.process, op.index)),
        )?;
        self.check_each(
            "at",
            "pinned",
            self.at.iter().map(|op| (op.process, op.index)),
        )?;
        Ok(())
    }

    /// Checks that each operation `entries` (of the list `field`) names runs, once.
    fn check_each(
        &self,
        field: &str,
        verb: &str,
        entries: impl Iterator<Item = (u64, u64)>,
    ) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, (process, index)) in entries.enumerate() {
            if !self.runs(process, index) {
                return Err(format!(
                    "operations.{field}[{i}]: operation {index} of process {process} does not run"
                ));
            }
            if !seen.insert((process, index)) {
                return Err(format!(
                    "operations.{field}[{i}]: operation {index} of process {process} is {verb} twice"
                ));
            }
        }
        Ok(())
    }

    /// Drops the written and pinned entries of operations that no longer run.
    pub fn retain_running(&mut self) {
        let written = std::mem::take(&mut self.written);
        self.written = written
            .into_iter()
            .filter(|op| self.runs(op.process, op.index))
            .collect();
        let at = std::mem::take(&mut self.at);
        self.at = at
            .into_iter()
            .filter(|op| self.runs(op.process, op.index))
            .collect();
    }

    /// The script cut into `parts` consecutive blocks of `per_part` processes each (block `i`
    /// holds processes `i * per_part..(i + 1) * per_part`), in one pass: one block a client,
    /// so that each client keeps only its own entries. Entries of processes past the blocks
    /// belong to no client and are left out.
    pub fn split(&self, per_part: u64, parts: usize) -> Vec<Script> {
        let mut blocks = vec![Script::default(); parts];
        let block = |process: u64| {
            let at = process.checked_div(per_part)?;
            usize::try_from(at).ok().filter(|&at| at < parts)
        };
        for (&process, ranges) in &self.only {
            if let Some(at) = block(process) {
                blocks[at].only.insert(process, ranges.clone());
            }
        }
        for op in &self.written {
            if let Some(at) = block(op.process) {
                blocks[at].written.push(op.clone());
            }
        }
        for op in &self.at {
            if let Some(at) = block(op.process) {
                blocks[at].at.push(op.clone());
            }
        }
        blocks
    }

    /// Whether operation `index` of `process` runs.
    /// Ranges must be increasing (`validate`).
    pub fn runs(&self, process: u64, index: u64) -> bool {
        self.next_run(process, index) == Some(index)
    }

    /// The first operation of `process` at or after `index` that runs, if any: a binary search
    /// of the process's ranges (increasing, `validate`).
    fn next_run(&self, process: u64, index: u64) -> Option<u64> {
        match self.only.get(&process) {
            None => Some(index),
            Some(ranges) => {
                let at = ranges.partition_point(|&[_, to]| to <= index);
                ranges.get(at).map(|&[from, _]| from.max(index))
            }
        }
    }
}

/// A client's walk through its processes' operations: the next one each runs, the keys of its
/// draws, and its written content if the script gives one.
#[derive(Clone, Debug)]
pub struct OpCursor {
    first_process: u64,
    /// The first index each process has not yet issued or passed over.
    next: Vec<u64>,
    /// The script's ranges of these processes (its `written` and `at` are below).
    script: Script,
    written: BTreeMap<(u64, u64), WrittenOp>,
    at: BTreeMap<(u64, u64), Instant>,
}

impl OpCursor {
    /// The cursor of history processes `first_process..first_process + processes` under `script`
    /// (only their entries are kept).
    pub fn new(first_process: u64, processes: usize, script: &Script) -> OpCursor {
        let mine = first_process..first_process + processes as u64;
        let mine_only = Script {
            only: script
                .only
                .iter()
                .filter(|(p, _)| mine.contains(p))
                .map(|(p, r)| (*p, r.clone()))
                .collect(),
            written: Vec::new(),
            at: Vec::new(),
        };
        let written = script
            .written
            .iter()
            .filter(|op| mine.contains(&op.process))
            .map(|op| ((op.process, op.index), op.clone()))
            .collect();
        let at = script
            .at
            .iter()
            .filter(|op| mine.contains(&op.process))
            .map(|op| ((op.process, op.index), op.at))
            .collect();
        OpCursor {
            first_process,
            next: vec![0; processes],
            script: mine_only,
            written,
            at,
        }
    }

    /// The history process of the client's `process`-th process.
    pub fn process_id(&self, process: usize) -> u64 {
        self.first_process + process as u64
    }

    /// The index of `process`'s next operation, or `None` when it has run its last.
    pub fn peek(&self, process: usize) -> Option<u64> {
        self.script
            .next_run(self.process_id(process), self.next[process])
    }

    /// How long `process` thinks, at `now`, before its next operation: until the time the
    /// script pins it to (nothing if that is past), or what `draw` makes of the key of its
    /// think time (`Context::keyed_rng`); `None` when it has run its last.
    pub fn think(
        &self,
        process: usize,
        now: Instant,
        draw: impl FnOnce([u64; 2]) -> Duration,
    ) -> Option<Duration> {
        let index = self.peek(process)?;
        let id = self.process_id(process);
        Some(match self.at.get(&(id, index)) {
            Some(at) => at.saturating_since(now),
            None => draw(op_key(id, index, OpDraw::Think)),
        })
    }

    /// [`OpCursor::think`] as closed-loop clients think: an exponential pause of mean `mean`,
    /// drawn from `ctx`'s keyed randomness.
    pub fn think_exponential<M, T, O>(
        &self,
        ctx: &Context<'_, M, T, O>,
        process: usize,
        mean: Duration,
    ) -> Option<Duration> {
        self.think(process, ctx.now(), |key| {
            ctx.keyed_rng(key).exponential(mean)
        })
    }

    /// Takes `process`'s next operation: its index, the key of its content's draws, and its
    /// content if the script spells it out.
    pub fn take(&mut self, process: usize) -> Option<Taken<'_>> {
        let index = self.peek(process)?;
        self.next[process] = index + 1;
        let process = self.process_id(process);
        Some(Taken {
            index,
            key: op_key(process, index, OpDraw::Op),
            written: self.written.get(&(process, index)),
        })
    }
}

/// An operation a client takes from its [`OpCursor`].
#[derive(Debug, PartialEq)]
pub struct Taken<'a> {
    /// Its index among its process's operations.
    pub index: u64,
    /// The key of its content's draws (`Context::keyed_rng`).
    pub key: [u64; 2],
    /// Its content, if the plan spells it out.
    pub written: Option<&'a WrittenOp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(json: &str) -> Script {
        serde_json::from_str(json).unwrap()
    }

    // Goal: a cursor walks exactly the operations the script runs, process by process.
    #[test]
    fn the_cursor_skips_what_does_not_run() {
        let s = script(r#"{"only": {"11": [[1, 3], [5, 6]], "12": []}}"#);
        s.validate().unwrap();
        let mut cursor = OpCursor::new(10, 3, &s);
        let mut walked = |process| {
            let mut indices = Vec::new();
            while let Some(taken) = cursor.take(process) {
                indices.push(taken.index);
                if indices.len() == 8 {
                    break;
                }
            }
            indices
        };
        assert_eq!(
            walked(0),
            [0, 1, 2, 3, 4, 5, 6, 7],
            "process 10 runs everything"
        );
        assert_eq!(walked(1), [1, 2, 5]);
        assert_eq!(walked(2), [] as [u64; 0]);
        let cursor = OpCursor::new(10, 3, &s);
        let think = cursor.think(1, Instant::ZERO, |key| {
            assert_eq!(key, op_key(11, 1, OpDraw::Think));
            Duration::from_millis(3)
        });
        assert_eq!(think, Some(Duration::from_millis(3)));
        assert_eq!(cursor.think(2, Instant::ZERO, |_| Duration::ZERO), None);
    }

    // Goal: a pinned operation waits for its time, whatever the draw; one whose time is past
    // goes at once.
    #[test]
    fn pinned_operations_go_at_their_time() {
        let s =
            script(r#"{"only": {"0": [[2, 4]]}, "at": [{"process": 0, "index": 3, "at": "5ms"}]}"#);
        s.validate().unwrap();
        let mut cursor = OpCursor::new(0, 1, &s);
        let drawn = |_| Duration::from_millis(1);
        let at = |ms| Instant::ZERO + Duration::from_millis(ms);
        assert_eq!(
            cursor.think(0, at(1), drawn),
            Some(Duration::from_millis(1))
        );
        assert_eq!(cursor.take(0).map(|t| t.index), Some(2));
        assert_eq!(
            cursor.think(0, at(2), drawn),
            Some(Duration::from_millis(3))
        );
        assert_eq!(cursor.think(0, at(9), drawn), Some(Duration::ZERO));
    }

    #[test]
    fn written_operations_replace_the_draws() {
        let s = script(
            r#"{"only": {"0": [[0, 2]]},
                "written": [{"process": 0, "index": 1, "f": "put", "key": "a", "value": "1"}]}"#,
        );
        s.validate().unwrap();
        let mut cursor = OpCursor::new(0, 1, &s);
        let first = cursor.take(0).unwrap();
        assert_eq!(
            (first.index, first.key, first.written),
            (0, op_key(0, 0, OpDraw::Op), None)
        );
        let second = cursor.take(0).unwrap();
        assert_eq!(
            (second.index, second.written.unwrap().f.as_str()),
            (1, "put")
        );
        assert_eq!(cursor.take(0), None);
    }

    #[test]
    fn malformed_scripts_are_refused_by_field() {
        let cases = [
            (r#"{"only": {"3": [[2, 2]]}}"#, "operations.only.3[0]"),
            (
                r#"{"only": {"3": [[0, 4], [4, 6]]}}"#,
                "operations.only.3[1]",
            ),
            (
                r#"{"only": {"3": [[5, 6], [0, 2]]}}"#,
                "operations.only.3[1]",
            ),
            (
                r#"{"only": {"0": [[0, 1]]}, "written": [{"process": 0, "index": 1, "f": "get"}]}"#,
                "operations.written[0]: operation 1 of process 0 does not run",
            ),
            (
                r#"{"written": [{"process": 0, "index": 1, "f": "get"}, {"process": 0, "index": 1, "f": "get"}]}"#,
                "operations.written[1]",
            ),
            (
                r#"{"only": {"0": []}, "at": [{"process": 0, "index": 0, "at": "1s"}]}"#,
                "operations.at[0]: operation 0 of process 0 does not run",
            ),
            (
                r#"{"at": [{"process": 0, "index": 0, "at": "1s"}, {"process": 0, "index": 0, "at": "2s"}]}"#,
                "operations.at[1]",
            ),
        ];
        for (json, expected) in cases {
            let error = script(json).validate().unwrap_err();
            assert!(error.starts_with(expected), "{json}: {error}");
        }
        assert!(serde_json::from_str::<Script>(r#"{"olny": {}}"#).is_err());
        assert_eq!(script("{}").entries(), 0);
        assert_eq!(script(r#"{"only": {"1": [[0, 1], [3, 4]]}}"#).entries(), 2);
    }

    // A script at the scale of its limit is checked and walked in O(n log n): 100,000 ranges
    // and 100,000 written operations of one process (quadratic would be 10^10 steps).
    #[test]
    fn large_scripts_stay_cheap() {
        let n = 100_000u64;
        let script = Script {
            only: BTreeMap::from([(7, (0..n).map(|i| [2 * i, 2 * i + 1]).collect())]),
            written: (0..n)
                .map(|i| WrittenOp {
                    process: 7,
                    index: 2 * i,
                    f: "get".to_string(),
                    key: Some("k".to_string()),
                    value: Value::Null,
                })
                .collect(),
            at: Vec::new(),
        };
        script.validate().unwrap();
        assert_eq!(script.entries(), 2 * n);
        let mut cursor = OpCursor::new(7, 1, &script);
        let mut walked = 0;
        while let Some(taken) = cursor.take(0) {
            let written = taken.written.map(|op| op.index);
            assert_eq!((taken.index, written), (2 * walked, Some(2 * walked)));
            walked += 1;
        }
        assert_eq!(walked, n);
    }

    #[test]
    fn a_split_gives_each_client_its_own_entries() {
        let s = script(
            r#"{"only": {"0": [[0, 1]], "3": [], "5": [[2, 4]], "9": []},
                "written": [{"process": 4, "index": 0, "f": "get"}]}"#,
        );
        let blocks = s.split(3, 3);
        let only = |b: &Script| b.only.keys().copied().collect::<Vec<_>>();
        assert_eq!(only(&blocks[0]), [0]);
        assert_eq!(only(&blocks[1]), [3, 5]);
        assert_eq!(blocks[1].written.len(), 1);
        assert!(blocks[2].is_empty(), "process 9 is past the three blocks");
        assert_eq!(s.split(0, 2), [Script::default(), Script::default()]);
    }
}
