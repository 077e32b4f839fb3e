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
//! - **a commit survives every election**: when a leader commits an entry, no node whose log
//!   lacks it could win an election, i.e. gather a majority of nodes (itself included) whose
//!   logs are no more up to date than its own. This is what commitment means, judged at once
//!   rather than after the crashes that would lose the entry: committing an earlier term's
//!   entry by counting replicas (Figure 8 of the Raft paper) fails it the moment it happens.
//!   Each node's log is followed from its `Stored` and `Recovered` observations; a log known
//!   to hold more than it does (a crashed node's unsynced tail, until it recovers) only makes
//!   the check more lenient, never wrong;
//! - **acknowledged writes are committed**: a client is told a write took effect only once its
//!   entry is committed (and leader completeness keeps it from then on).

use super::RaftObservation;
use faultline_api::NodeId;
use std::collections::BTreeMap;

/// What the checker keeps: one entry per term, per stored (index, term), per committed and
/// applied index, and each node's log as terms.
pub struct Invariants {
    /// The servers, `n0` to `n{servers-1}`.
    servers: u32,
    /// Each server's log, as the term of each entry (index 1 first).
    logs: BTreeMap<NodeId, Vec<u64>>,
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
    /// A checker for a cluster of `servers` nodes, `n0` to `n{servers-1}`.
    pub fn new(servers: u32) -> Invariants {
        Invariants {
            servers,
            logs: BTreeMap::new(),
            leaders: BTreeMap::new(),
            stored: BTreeMap::new(),
            committed: BTreeMap::new(),
            applied: BTreeMap::new(),
            commits: BTreeMap::new(),
        }
    }

    /// Judges one observation of `node` in `incarnation`.
    pub fn observe(
        &mut self,
        node: NodeId,
        incarnation: u32,
        observation: &RaftObservation,
    ) -> Result<(), String> {
        match observation {
            RaftObservation::SteppedDown { .. } => Ok(()),
            RaftObservation::Recovered {
                runs, last_index, ..
            } => {
                self.logs.insert(node, terms(runs, *last_index));
                Ok(())
            }
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
                let log = self.logs.entry(node).or_default();
                for &(index, term, _, _) in entries {
                    // A stored entry replaces its index and what follows (a log whose
                    // predecessors went unreported, which no node sends, counts them as term 0).
                    log.resize(index.saturating_sub(1) as usize, 0);
                    log.push(term);
                }
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
                match entries.last() {
                    Some(&(index, term)) => {
                        self.survives_elections(node, *leader_term, index, term)
                    }
                    None => Ok(()),
                }
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

impl Invariants {
    /// Whether the entry `(index, term)` just committed by `leader` (of `leader_term`) is in
    /// every log that could win an election: a node lacking it wins with the votes of a
    /// majority whose logs (last term, length) are no more up to date than its own.
    fn survives_elections(
        &self,
        leader: NodeId,
        leader_term: u64,
        index: u64,
        term: u64,
    ) -> Result<(), String> {
        let empty = Vec::new();
        let log = |n: u32| self.logs.get(&NodeId(n)).unwrap_or(&empty);
        let standing = |log: &Vec<u64>| (log.last().copied().unwrap_or(0), log.len());
        let majority = self.servers as usize / 2 + 1;
        for candidate in 0..self.servers {
            let theirs = log(candidate);
            if index >= 1 && theirs.get(index as usize - 1) == Some(&term) {
                continue;
            }
            let (last_term, length) = standing(theirs);
            let votes_for = |voter: &u32| standing(log(*voter)) <= (last_term, length);
            // Counted first: the names are spelled out only for a failure.
            if (0..self.servers).filter(votes_for).count() >= majority {
                let voters: Vec<String> = (0..self.servers)
                    .filter(votes_for)
                    .map(|voter| NodeId(voter).to_string())
                    .collect();
                return Err(format!(
                    "commit durability: {leader}, leading term {leader_term}, committed the entry of term {term} at index {index}, but n{candidate} lacks it and could be elected with the votes of {} (its log ends with term {last_term} at index {length}, no less up to date than theirs), then overwrite it (Figure 8 of the Raft paper)",
                    voters.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// A log of `len` entries as the terms of its entries, from its runs.
fn terms(runs: &[(u64, u64)], len: u64) -> Vec<u64> {
    let mut terms = Vec::with_capacity(len as usize);
    for (at, &(first, term)) in runs.iter().enumerate() {
        let end = runs
            .get(at + 1)
            .map_or(len + 1, |&(next, _)| next)
            .min(len + 1);
        terms.extend((first..end).map(|_| term));
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_of_one_term_fail() {
        let mut invariants = Invariants::new(3);
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
        let mut invariants = Invariants::new(3);
        let committed = RaftObservation::Committed {
            entries: vec![(2, 1)],
            leader_term: 1,
        };
        let stored = RaftObservation::Stored {
            entries: vec![(1, 1, 0, 1), (2, 1, 1, 2)],
        };
        for node in [0, 1] {
            assert!(invariants.observe(NodeId(node), 0, &stored).is_ok());
        }
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
        let mut invariants = Invariants::new(3);
        let applied = |digest| RaftObservation::Applied {
            entries: vec![(3, 1, digest)],
        };
        assert!(invariants.observe(NodeId(0), 0, &applied(7)).is_ok());
        assert!(invariants.observe(NodeId(1), 1, &applied(7)).is_ok());
        assert!(invariants.observe(NodeId(1), 2, &applied(8)).is_err());
    }

    #[test]
    fn unacknowledged_commits_and_log_matching() {
        let mut invariants = Invariants::new(3);
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

    // Figure 8 of the Raft paper: n0 leads term 4 with an entry of term 2 at index 2, which
    // it copies to n1; n2 holds an entry of term 3 there. Committing index 2 by counting n0
    // and n1 is unsafe (n2 could be elected by either), committing it with an entry of term 4
    // after it is not.
    #[test]
    fn a_commit_that_a_later_election_could_undo_fails() {
        let stored = |entries: &[(u64, u64, u64)]| RaftObservation::Stored {
            entries: entries
                .iter()
                .map(|&(i, t, p)| (i, t, p, i * 10 + t))
                .collect(),
        };
        let commit = |index, term| RaftObservation::Committed {
            entries: vec![(index, term)],
            leader_term: 4,
        };
        let figure_8 = || {
            let mut invariants = Invariants::new(3);
            let logs = [
                stored(&[(1, 1, 0), (2, 2, 1)]),
                stored(&[(1, 1, 0), (2, 2, 1)]),
                stored(&[(1, 1, 0), (2, 3, 1)]),
            ];
            for (node, log) in logs.iter().enumerate() {
                assert!(invariants.observe(NodeId(node as u32), 0, log).is_ok());
            }
            invariants
        };
        let error = figure_8().observe(NodeId(0), 0, &commit(2, 2)).unwrap_err();
        assert!(error.starts_with("commit durability"), "{error}");
        assert!(error.contains("n2 lacks it"), "{error}");

        let mut invariants = figure_8();
        for node in [0, 1] {
            let own = stored(&[(3, 4, 2)]);
            assert!(invariants.observe(NodeId(node), 0, &own).is_ok());
        }
        assert_eq!(invariants.observe(NodeId(0), 0, &commit(3, 4)), Ok(()));

        // A node that recovers a shorter log counts as such.
        let mut invariants = figure_8();
        let recovered = RaftObservation::Recovered {
            term: 3,
            vote: None,
            runs: vec![(1, 1)],
            last_index: 1,
            torn: false,
        };
        assert!(invariants.observe(NodeId(2), 1, &recovered).is_ok());
        assert_eq!(invariants.observe(NodeId(0), 0, &commit(2, 2)), Ok(()));
    }
}
