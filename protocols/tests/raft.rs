//! Goal: Raft's handlers do what the module documentation promises, one step at a time:
//! election (pre-vote, then the vote), exactly-once writes, ReadIndex reads, votes that
//! survive a restart, recovery that cuts a torn tail, the fast back-up of a conflicting
//! follower, and a leader that commits only entries of its own term by counting (Figure 8),
//! each of the last three with the planted bug that breaks it.
//! Method: nodes on `faultline_api::testing::TestHost` (no simulator; its disk completes every
//! operation at once), driven by hand: messages delivered, timers fired, effects read.

use faultline_api::testing::TestHost;
use faultline_api::{Effect, NodeId};
use protocols::kv_client::{KvOp, KvReply};
use protocols::raft::storage::{self, Record};
use protocols::raft::{
    Command, Conflict, Entry, Raft, RaftBug, RaftConfig, RaftMessage, RaftObservation, RaftTimer,
};

type Effects = Vec<Effect<RaftMessage, RaftTimer, RaftObservation>>;

const CLIENT: NodeId = NodeId(9);

fn config(bug: RaftBug) -> RaftConfig {
    RaftConfig {
        heartbeat: faultline_api::Duration::from_millis(50),
        election_min: faultline_api::Duration::from_millis(150),
        election_max: faultline_api::Duration::from_millis(300),
        bug,
    }
}

fn node(id: u32, members: u32, bug: RaftBug) -> (TestHost, Raft) {
    let host = TestHost::new(NodeId(id), (0..members).map(NodeId).collect(), 7);
    (host, Raft::new(config(bug)))
}

fn sent(effects: &Effects) -> Vec<(NodeId, RaftMessage)> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

fn observed(effects: &Effects) -> Vec<RaftObservation> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Observe(observation) => Some(observation.clone()),
            _ => None,
        })
        .collect()
}

fn reply_to(effects: &Effects, request: u64) -> Option<KvReply> {
    sent(effects)
        .into_iter()
        .find_map(|(_, message)| match message {
            RaftMessage::Reply { request: r, reply } if r == request => Some(reply),
            _ => None,
        })
}

fn request(request: u64, op: KvOp) -> RaftMessage {
    RaftMessage::Request {
        request,
        process: 0,
        op,
    }
}

fn put(key: &str, value: &str) -> KvOp {
    KvOp::Put {
        key: key.into(),
        value: value.into(),
    }
}

/// A disk holding these records, as a node would have written them.
fn disk(records: &[Record]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (lsn, record) in records.iter().enumerate() {
        bytes.extend_from_slice(&record.encode(lsn as u64 + 1));
    }
    bytes
}

fn entry(term: u64) -> Entry {
    Entry {
        term,
        command: Command::Noop,
    }
}

/// Makes `raft` (node 0 of three) leader: pre-vote and vote granted by node 1.
fn elect(host: &mut TestHost, raft: &mut Raft) -> Effects {
    host.start(raft);
    let pre_votes = host.fire(raft, RaftTimer::Election);
    let Some((_, RaftMessage::PreVote { term, .. })) = sent(&pre_votes).into_iter().next() else {
        panic!("an election timeout starts a pre-vote: {pre_votes:?}")
    };
    let granted = RaftMessage::PreVoteReply {
        term,
        granted: true,
    };
    let votes = host.deliver(raft, NodeId(1), granted);
    assert!(
        sent(&votes)
            .iter()
            .any(|(_, m)| matches!(m, RaftMessage::Vote { term: t, .. } if *t == term)),
        "a pre-vote majority starts the election of term {term}: {votes:?}"
    );
    let vote = RaftMessage::VoteReply {
        term,
        granted: true,
    };
    host.deliver(raft, NodeId(1), vote)
}

#[test]
fn a_single_node_elects_itself_and_serves_exactly_once() {
    let (mut host, mut raft) = node(0, 1, RaftBug::None);
    host.start(&mut raft);
    let effects = host.fire(&mut raft, RaftTimer::Election);
    assert!(
        observed(&effects)
            .iter()
            .any(|o| matches!(o, RaftObservation::BecameLeader { term: 1, .. })),
        "{effects:?}"
    );
    let append = KvOp::Append {
        key: "k".into(),
        value: "x".into(),
    };
    let first = host.deliver(&mut raft, CLIENT, request(4, append.clone()));
    assert_eq!(reply_to(&first, 4), Some(KvReply::Done));
    // The same request again (a client's retry) runs once and answers alike.
    let again = host.deliver(&mut raft, CLIENT, request(4, append));
    assert_eq!(reply_to(&again, 4), Some(KvReply::Done));
    let get = host.deliver(&mut raft, CLIENT, request(5, KvOp::Get { key: "k".into() }));
    assert_eq!(reply_to(&get, 5), Some(KvReply::Value("x".into())));
    let cas = |request, from: &str| {
        self::request(
            request,
            KvOp::Cas {
                key: "k".into(),
                from: from.into(),
                to: "y".into(),
            },
        )
    };
    let missed = host.deliver(&mut raft, CLIENT, cas(6, "z"));
    assert_eq!(reply_to(&missed, 6), Some(KvReply::Swapped(false)));
    let swapped = host.deliver(&mut raft, CLIENT, cas(7, "x"));
    assert_eq!(reply_to(&swapped, 7), Some(KvReply::Swapped(true)));
}

#[test]
fn a_follower_redirects_clients_and_a_leader_reads_after_a_heartbeat_round() {
    let (mut host, mut raft) = node(0, 3, RaftBug::None);
    host.start(&mut raft);
    let refused = host.deliver(&mut raft, CLIENT, request(1, put("k", "v")));
    assert_eq!(
        reply_to(&refused, 1),
        Some(KvReply::NotLeader { leader: None })
    );
    let led = elect(&mut host, &mut raft);
    assert!(
        observed(&led)
            .iter()
            .any(|o| matches!(o, RaftObservation::BecameLeader { .. }))
    );
    // The no-op of term 1 commits once node 1 holds it; then a get waits for a round.
    let acked = host.deliver(
        &mut raft,
        NodeId(1),
        RaftMessage::AppendReply {
            term: 1,
            result: Ok(1),
            round: 1,
        },
    );
    assert!(
        observed(&acked).iter().any(
            |o| matches!(o, RaftObservation::Committed { entries, .. } if entries == &[(1, 1)])
        )
    );
    let get = host.deliver(&mut raft, CLIENT, request(2, KvOp::Get { key: "k".into() }));
    assert_eq!(
        reply_to(&get, 2),
        None,
        "no answer before the round: {get:?}"
    );
    let round = sent(&get)
        .iter()
        .find_map(|(_, m)| match m {
            RaftMessage::Append { round, .. } => Some(*round),
            _ => None,
        })
        .expect("the get starts a heartbeat round");
    let confirmed = host.deliver(
        &mut raft,
        NodeId(2),
        RaftMessage::AppendReply {
            term: 1,
            result: Ok(1),
            round,
        },
    );
    assert_eq!(reply_to(&confirmed, 2), Some(KvReply::Value(String::new())));
}

/// Node 1 grants node 0 its vote for term 1, restarts, and is asked by node 2 for term 1.
fn vote_twice(bug: RaftBug) -> bool {
    let (mut host, mut raft) = node(1, 3, bug);
    host.start(&mut raft);
    let ask = |candidate: u32| {
        (
            NodeId(candidate),
            RaftMessage::Vote {
                term: 1,
                last_index: 0,
                last_term: 0,
            },
        )
    };
    let (from, message) = ask(0);
    let first = host.deliver(&mut raft, from, message);
    assert!(sent(&first).contains(&(
        NodeId(0),
        RaftMessage::VoteReply {
            term: 1,
            granted: true
        }
    )));
    let mut restarted = Raft::new(config(bug));
    host.restart(&mut restarted);
    let (from, message) = ask(2);
    let second = host.deliver(&mut restarted, from, message);
    sent(&second).contains(&(
        NodeId(2),
        RaftMessage::VoteReply {
            term: 1,
            granted: true,
        },
    ))
}

#[test]
fn a_vote_survives_a_restart_unless_the_bug_forgets_it() {
    assert!(
        !vote_twice(RaftBug::None),
        "one vote per term, restarts included"
    );
    assert!(vote_twice(RaftBug::VoteNotPersisted));
}

#[test]
fn recovery_cuts_a_torn_tail_and_keeps_the_log_before_it() {
    let (mut host, mut raft) = node(0, 3, RaftBug::None);
    let mut bytes = disk(&[
        Record::HardState {
            term: 2,
            vote: Some(1),
        },
        Record::Entry {
            index: 1,
            entry: entry(1),
        },
        Record::Entry {
            index: 2,
            entry: entry(2),
        },
    ]);
    let whole = bytes.len();
    bytes.extend_from_slice(
        &Record::Entry {
            index: 3,
            entry: entry(2),
        }
        .encode(4)[..9],
    );
    host.files.insert(storage::FILE.to_string(), bytes);
    let effects = host.start(&mut raft);
    assert_eq!(
        observed(&effects),
        vec![RaftObservation::Recovered {
            term: 2,
            vote: Some(1),
            runs: vec![(1, 1), (2, 2)],
            last_index: 2,
            torn: true
        }]
    );
    assert_eq!(
        host.files[storage::FILE].len(),
        whole,
        "the torn tail is cut"
    );
}

/// A follower holding entries of terms 1, 1, 2, 2 is sent entries of term 3 after index 2.
fn conflicting_follower(bug: RaftBug) -> (Effects, TestHost, Raft) {
    let (mut host, mut raft) = node(1, 3, bug);
    let records = [
        Record::HardState {
            term: 2,
            vote: None,
        },
        Record::Entry {
            index: 1,
            entry: entry(1),
        },
        Record::Entry {
            index: 2,
            entry: entry(1),
        },
        Record::Entry {
            index: 3,
            entry: entry(2),
        },
        Record::Entry {
            index: 4,
            entry: entry(2),
        },
    ];
    host.files.insert(storage::FILE.to_string(), disk(&records));
    host.start(&mut raft);
    // The leader of term 3 believes the follower holds an entry of term 3 at index 4.
    let probe = RaftMessage::Append {
        term: 3,
        prev_index: 4,
        prev_term: 3,
        entries: vec![],
        commit: 0,
        round: 1,
    };
    let effects = host.deliver(&mut raft, NodeId(0), probe);
    (effects, host, raft)
}

#[test]
fn a_conflicting_follower_backs_up_a_whole_term_and_truncates() {
    let (effects, mut host, mut raft) = conflicting_follower(RaftBug::None);
    let rejected = RaftMessage::AppendReply {
        term: 3,
        result: Err(Conflict {
            term: Some(2),
            index: 3,
        }),
        round: 1,
    };
    assert!(
        sent(&effects).contains(&(NodeId(0), rejected)),
        "{effects:?}"
    );
    // The leader sends its entries after index 2; the follower's term-2 entries go.
    let append = RaftMessage::Append {
        term: 3,
        prev_index: 2,
        prev_term: 1,
        entries: vec![entry(3)],
        commit: 0,
        round: 2,
    };
    let accepted = host.deliver(&mut raft, NodeId(0), append);
    assert!(sent(&accepted).contains(&(
        NodeId(0),
        RaftMessage::AppendReply {
            term: 3,
            result: Ok(3),
            round: 2
        }
    )));
    let recovered = storage::recover(&host.files[storage::FILE]);
    assert_eq!(recovered.log, vec![entry(1), entry(1), entry(3)]);
}

#[test]
fn without_truncation_the_stale_tail_breaks_log_matching() {
    let (_, mut host, mut raft) = conflicting_follower(RaftBug::NoTruncationOnConflict);
    let append = RaftMessage::Append {
        term: 3,
        prev_index: 2,
        prev_term: 1,
        entries: vec![entry(3)],
        commit: 0,
        round: 2,
    };
    let effects = host.deliver(&mut raft, NodeId(0), append);
    // The term-2 entry at index 4 stays, now after the entry of term 3: the log-matching
    // check sees (4, 2) after term 3 here and after term 2 where it was first stored.
    let stored: Vec<(u64, u64, u64)> = observed(&effects)
        .iter()
        .flat_map(|o| match o {
            RaftObservation::Stored { entries } => entries
                .iter()
                .map(|&(index, term, prev_term, _)| (index, term, prev_term))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(stored, vec![(3, 3, 1), (4, 2, 3)]);
}

/// Node 0 holds entries of terms 1 and 2 and is elected for term 3; node 1 reports holding
/// index 2 (of term 2), not the new leader's no-op at index 3. Did the leader commit index 2?
fn figure_8(bug: RaftBug) -> bool {
    let (mut host, mut raft) = node(0, 3, bug);
    let records = [
        Record::HardState {
            term: 2,
            vote: Some(0),
        },
        Record::Entry {
            index: 1,
            entry: entry(1),
        },
        Record::Entry {
            index: 2,
            entry: entry(2),
        },
    ];
    host.files.insert(storage::FILE.to_string(), disk(&records));
    elect(&mut host, &mut raft);
    let effects = host.deliver(
        &mut raft,
        NodeId(1),
        RaftMessage::AppendReply {
            term: 3,
            result: Ok(2),
            round: 1,
        },
    );
    observed(&effects)
        .iter()
        .any(|o| matches!(o, RaftObservation::Committed { .. }))
}

#[test]
fn a_leader_commits_an_earlier_terms_entry_only_with_one_of_its_own() {
    assert!(
        !figure_8(RaftBug::None),
        "index 2 is of term 2; the leader's is 3"
    );
    assert!(figure_8(RaftBug::CommitOldTermByCount), "counted: Figure 8");
}
