//! What a Raft node keeps on its disk: one append-only log file of `crate::wal` records, each
//! either the node's hard state (current term and vote) or one log entry at its index.
//!
//! Nothing is ever rewritten in place. A record for entry `i` replaces entry `i` and drops
//! every entry after it, so the truncation of a conflicting suffix is itself a record; the
//! last hard-state record is the current one. Recovery replays the records in order and stops
//! at the first that is not the next valid one: everything before it was written before it,
//! so the prefix is a state the node really had, and the bytes after it (a torn tail of
//! unsynced writes) are cut before the node writes again.

use super::Entry;
use crate::wal;

/// The log file.
pub const FILE: &str = "raft.log";

/// One record's meaning.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Record {
    HardState { term: u64, vote: Option<u32> },
    Entry { index: u64, entry: Entry },
}

impl Record {
    /// The record's payload: its bincode encoding.
    pub fn encode(&self, lsn: u64) -> Vec<u8> {
        let payload = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .expect("a record encodes");
        wal::encode(lsn, &payload)
    }

    fn decode(payload: &[u8]) -> Option<Record> {
        let (record, read) =
            bincode::serde::decode_from_slice(payload, bincode::config::standard()).ok()?;
        (read == payload.len()).then_some(record)
    }
}

/// What recovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub term: u64,
    pub vote: Option<u32>,
    pub log: Vec<Entry>,
    /// The number of the next record.
    pub next_lsn: u64,
    /// Where the valid records end.
    pub end: u64,
    /// Bytes after `end` must be cut before the node writes.
    pub torn: bool,
}

/// Replays a log file.
pub fn recover(bytes: &[u8]) -> Recovered {
    let scan = wal::scan(bytes);
    let mut recovered = Recovered {
        end: scan.end,
        torn: scan.tail,
        next_lsn: 1,
        ..Recovered::default()
    };
    for (offset, payload) in scan.payloads {
        // A payload that verifies but does not decode was written by no version of this
        // node; the log ends before it, as at any other damage.
        let Some(record) = Record::decode(payload) else {
            recovered.torn = true;
            recovered.end = offset;
            break;
        };
        match record {
            Record::HardState { term, vote } => {
                recovered.term = term;
                recovered.vote = vote;
            }
            Record::Entry { index, entry } => {
                assert!(
                    index >= 1 && index <= recovered.log.len() as u64 + 1,
                    "entry {index} recorded after a log of {}",
                    recovered.log.len()
                );
                recovered.log.truncate(index as usize - 1);
                recovered.log.push(entry);
            }
        }
        recovered.next_lsn += 1;
    }
    recovered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::Command;

    fn entry(term: u64) -> Entry {
        Entry {
            term,
            command: Command::Noop,
        }
    }

    #[test]
    fn later_records_replace_entries_and_hard_state() {
        let records = [
            Record::HardState {
                term: 1,
                vote: Some(0),
            },
            Record::Entry {
                index: 1,
                entry: entry(1),
            },
            Record::Entry {
                index: 2,
                entry: entry(1),
            },
            Record::HardState {
                term: 2,
                vote: None,
            },
            Record::Entry {
                index: 2,
                entry: entry(2),
            },
        ];
        let mut bytes = Vec::new();
        for (lsn, record) in records.iter().enumerate() {
            bytes.extend_from_slice(&record.encode(lsn as u64 + 1));
        }
        let whole = bytes.len() as u64;
        bytes.extend_from_slice(&records[1].encode(6)[..7]);
        let recovered = recover(&bytes);
        assert_eq!((recovered.term, recovered.vote), (2, None));
        assert_eq!(recovered.log, vec![entry(1), entry(2)]);
        assert_eq!(
            (recovered.end, recovered.torn, recovered.next_lsn),
            (whole, true, 6)
        );
    }
}
