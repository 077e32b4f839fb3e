//! Raft's safety properties, judged online over the observations of every node (crashed
//! incarnations included), so a run fails at the event that breaks one:
//!
//! - **election safety**: at most one leader per term;
//! - **log matching**: two logs holding an entry of one term at one index agree up to it
//!   (each `Stored` entry carries the term before it and its digest, which must be the same
//!   wherever that index and term are stored: by induction, so is everything before it);
//! - **leader completeness**: a leader's log holds every entry committed by the leader of an
//!   earlier term;
//! - **state machine safety**: no two nodes apply different entries at one index, across
//!   crashes and restarts, and what a node applies is what was committed there;
//! - **commit safety**: a committed index is never committed again with another term, and a
//!   leader's commit index never goes back;
//! - **acknowledged writes are committed**: a client is told a write took effect only once its
//!   entry is committed (and leader completeness keeps it from then on).

use super::RaftObservation;
use faultline_api::NodeId;
use std::collections::BTreeMap;

/// What the checker keeps: one entry per term, per stored (index, term), per committed and
/// applied index.
#[derive(Default)]
pub struct Invariants {
    leaders: BTreeMap<u64, NodeId>,
    /// Per stored (index, term): the term before it and the entry's digest.
    stored: BTreeMap<(u64, u64), (u64, u64)>,
    /// Per committed index: the entry's term and the least leader term that committed it.
    committed: BTreeMap<u64, (u64, u64)>,
    applied: BTreeMap<u64, (u64, u64)>,
    /// The last index each (node, incarnation) committed as leader.
    commits: BTreeMap<(NodeId, u32), u64>,
}

impl Invariants {
    /// Judges one observation of `node` in `incarnation`.
    pub fn observe(
        &mut self,
        node: NodeId,
        incarnation: u32,
        observation: &RaftObservation,
    ) -> Result<(), String> {
        match observation {
            RaftObservation::Recovered { .. } | RaftObservation::SteppedDown { .. } => Ok(()),
            RaftObservation::BecameLeader {
                term,
                runs,
                last_index,
            } => {
                if let Some(&other) = self.leaders.get(term)
                    && other != node
                {
                    return Err(format!(
                        "election safety: {node} became leader of term {term}, which {other} already leads"
                    ));
                }
                self.leaders.insert(*term, node);
                let term_at = |index: u64| {
                    runs.iter()
                        .take_while(|&&(first, _)| first <= index)
                        .last()
                        .map(|&(_, term)| term)
                };
                for (&index, &(committed, by)) in &self.committed {
                    if by >= *term {
                        // A leader of this term or a later one committed it: a leader elected
                        // late for an old term (its votes delayed) need not hold it.
                        continue;
                    }
                    let held = if index <= *last_index {
                        term_at(index)
                    } else {
                        None
                    };
                    if held != Some(committed) {
                        return Err(format!(
                            "leader completeness: {node} leads term {term} without the entry of term {committed} committed at index {index} (it holds {})",
                            held.map_or("nothing".to_string(), |t| format!("term {t}"))
                        ));
                    }
                }
                Ok(())
            }
            RaftObservation::Stored { entries } => {
                for &(index, term, prev_term, digest) in entries {
                    if let Some(other) = self.stored.insert((index, term), (prev_term, digest))
                        && other != (prev_term, digest)
                    {
                        return Err(format!(
                            "log matching: {node} stores an entry of term {term} at index {index} after a log that differs from another node's with the same entry"
                        ));
                    }
                }
                Ok(())
            }
            RaftObservation::Committed {
                entries,
                leader_term,
            } => {
                for &(index, term) in entries {
                    let last = self.commits.entry((node, incarnation)).or_default();
                    if index <= *last {
                        return Err(format!(
                            "commit safety: {node}'s commit index goes back from {last} to {index}"
                        ));
                    }
                    *last = index;
                    let entry = self.committed.entry(index).or_insert((term, *leader_term));
                    if entry.0 != term {
                        return Err(format!(
                            "commit safety: index {index} was committed with term {}, now with term {term}",
                            entry.0
                        ));
                    }
                    entry.1 = entry.1.min(*leader_term);
                }
                Ok(())
            }
            RaftObservation::Applied { entries } => {
                for &(index, term, digest) in entries {
                    if let Some(&(committed, _)) = self.committed.get(&index)
                        && committed != term
                    {
                        return Err(format!(
                            "state machine safety: {node} applies an entry of term {term} at index {index}, where the entry of term {committed} was committed"
                        ));
                    }
                    if let Some(other) = self.applied.insert(index, (term, digest))
                        && other != (term, digest)
                    {
                        return Err(format!(
                            "state machine safety: {node} applies an entry of term {term} at index {index}, where another entry (term {}) was applied",
                            other.0
                        ));
                    }
                }
                Ok(())
            }
            RaftObservation::Acknowledged { entries } => {
                for &(index, term) in entries {
                    match self.committed.get(&index) {
                        Some((committed, _)) if *committed == term => {}
                        _ => {
                            return Err(format!(
                                "acknowledged write: {node} acknowledged the write at index {index} (term {term}), which is not committed"
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_of_one_term_fail() {
        let mut invariants = Invariants::default();
        let leader = |term| RaftObservation::BecameLeader {
            term,
            runs: vec![],
            last_index: 0,
        };
        assert!(invariants.observe(NodeId(0), 0, &leader(1)).is_ok());
        assert!(invariants.observe(NodeId(1), 0, &leader(2)).is_ok());
        let error = invariants.observe(NodeId(2), 0, &leader(2)).unwrap_err();
        assert!(error.starts_with("election safety"), "{error}");
    }

    #[test]
    fn a_leader_without_a_committed_entry_fails() {
        let mut invariants = Invariants::default();
        let committed = RaftObservation::Committed {
            entries: vec![(2, 1)],
            leader_term: 1,
        };
        assert!(invariants.observe(NodeId(0), 0, &committed).is_ok());
        let complete = RaftObservation::BecameLeader {
            term: 2,
            runs: vec![(1, 1)],
            last_index: 2,
        };
        let too_short = RaftObservation::BecameLeader {
            term: 2,
            runs: vec![(1, 1)],
            last_index: 1,
        };
        assert!(invariants.observe(NodeId(1), 0, &too_short).is_err());
        assert!(invariants.observe(NodeId(1), 0, &complete).is_ok());
        let short = RaftObservation::BecameLeader {
            term: 3,
            runs: vec![(1, 1), (2, 2)],
            last_index: 2,
        };
        let error = invariants.observe(NodeId(2), 0, &short).unwrap_err();
        assert!(error.starts_with("leader completeness"), "{error}");
    }

    #[test]
    fn different_entries_applied_at_one_index_fail() {
        let mut invariants = Invariants::default();
        let applied = |digest| RaftObservation::Applied {
            entries: vec![(3, 1, digest)],
        };
        assert!(invariants.observe(NodeId(0), 0, &applied(7)).is_ok());
        assert!(invariants.observe(NodeId(1), 1, &applied(7)).is_ok());
        assert!(invariants.observe(NodeId(1), 2, &applied(8)).is_err());
    }

    #[test]
    fn unacknowledged_commits_and_log_matching() {
        let mut invariants = Invariants::default();
        let ack = RaftObservation::Acknowledged {
            entries: vec![(1, 1)],
        };
        assert!(invariants.observe(NodeId(0), 0, &ack).is_err());
        let stored = |prev_term, digest| RaftObservation::Stored {
            entries: vec![(4, 2, prev_term, digest)],
        };
        assert!(invariants.observe(NodeId(0), 0, &stored(1, 5)).is_ok());
        assert!(invariants.observe(NodeId(1), 0, &stored(1, 5)).is_ok());
        assert!(invariants.observe(NodeId(2), 0, &stored(2, 5)).is_err());
        assert!(invariants.observe(NodeId(2), 0, &stored(1, 6)).is_err());
    }
}
