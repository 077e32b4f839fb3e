//! Goal: `WalKv` recovers from what its disk holds (a clean log, a torn tail, a damaged
//! acknowledged record, a void record, no files at all) and then serves exactly what the
//! module documentation promises.
//! Method: one node on `faultline_api::testing::TestHost` (no simulator). Logs are built by
//! the node itself (put and append requests, each acknowledged), the test then edits
//! `host.files` (cuts, flips, appends the bytes of a write the node submitted but never saw
//! complete), restarts a fresh `WalKv` over the same disk and asks it with gets.

use faultline_api::testing::TestHost;
use faultline_api::{DiskOp, Effect, NoTimer, Node, NodeId};
use protocols::kv_client::{KvOp, KvReply};
use protocols::wal_kv::{
    LOG_FILE, META_FILE, WalBug, WalKv, WalMessage, WalObservation, encode_record,
};

const SERVER: NodeId = NodeId(0);
const CLIENT: NodeId = NodeId(1);
/// `[magic u32][lsn u64][len u32][checksum u32]`.
const HEADER_BYTES: usize = 20;
const MAGIC: u32 = 0xfa17_0001;

type Effects = Vec<Effect<WalMessage, NoTimer, WalObservation>>;

/// One server on a test host, and the client side of its requests.
struct Store {
    host: TestHost,
    node: WalKv,
    next_request: u64,
}

impl Store {
    /// A server started on an empty disk.
    fn new() -> Store {
        Store::on_disk(&[])
    }

    /// A server started on a disk holding `files`.
    fn on_disk(files: &[(&str, Vec<u8>)]) -> Store {
        let mut host = TestHost::new(SERVER, vec![SERVER], 7);
        for (name, bytes) in files {
            host.files.insert(name.to_string(), bytes.clone());
        }
        let mut node = WalKv::new(WalBug::None);
        let effects = host.start(&mut node);
        assert!(node.is_serving(), "recovered and serving: {effects:?}");
        Store {
            host,
            node,
            next_request: 1,
        }
    }

    fn message(&mut self, op: KvOp) -> (u64, WalMessage) {
        let request = self.next_request;
        self.next_request += 1;
        (request, WalMessage::Request { request, op })
    }

    /// Sends one request and returns the one reply to it.
    #[track_caller]
    fn request(&mut self, op: KvOp) -> KvReply {
        let (request, message) = self.message(op);
        let effects = self.host.deliver(&mut self.node, CLIENT, message);
        let mut replies = effects.into_iter().filter_map(|effect| match effect {
            Effect::Send { to, message } => Some((to, message)),
            _ => None,
        });
        match (replies.next(), replies.next()) {
            (Some((CLIENT, WalMessage::Reply { request: r, reply })), None) if r == request => {
                reply
            }
            other => panic!("expected one reply to request {request}, got {other:?}"),
        }
    }

    #[track_caller]
    fn put(&mut self, key: &str, value: &str) {
        assert_eq!(self.request(put(key, value)), KvReply::Done, "put {key}");
    }

    #[track_caller]
    fn append(&mut self, key: &str, value: &str) {
        assert_eq!(
            self.request(append(key, value)),
            KvReply::Done,
            "append {key}"
        );
    }

    #[track_caller]
    fn get(&mut self, key: &str) -> KvReply {
        self.request(KvOp::Get { key: key.into() })
    }

    /// The node crashes and a fresh instance recovers from the same disk; returns what the
    /// recovery did besides disk operations (annotations, counters, its observation).
    #[track_caller]
    fn restart(&mut self) -> Effects {
        self.node = WalKv::new(WalBug::None);
        let effects = self.host.restart(&mut self.node);
        assert!(self.node.is_serving(), "recovered and serving: {effects:?}");
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Send { .. })),
            "nobody asked anything yet: {effects:?}"
        );
        effects
    }

    /// The node is asked to write `op` and crashes before that write completes: returns the
    /// bytes it submitted for the log, which the test may put on the disk (whole or torn).
    fn unacknowledged_write(&mut self, op: KvOp) -> Vec<u8> {
        let (_, message) = self.message(op);
        let effects = self.host.call(&mut self.node, |node, ctx| {
            node.on_message(ctx, CLIENT, message)
        });
        let writes: Vec<(u64, Vec<u8>)> = effects
            .into_iter()
            .filter_map(|effect| {
                let Effect::Disk { op, .. } = effect else {
                    return None;
                };
                let op: &DiskOp = &op;
                match op {
                    DiskOp::Write { file, offset, data } if file == LOG_FILE => {
                        Some((*offset, data.clone()))
                    }
                    _ => None,
                }
            })
            .collect();
        assert_eq!(writes.len(), 1, "one log write per batch");
        let (offset, data) = writes.into_iter().next().expect("checked");
        assert_eq!(
            offset,
            self.log().len() as u64,
            "written at the end of the log"
        );
        data
    }

    fn log(&self) -> &[u8] {
        self.host.files.get(LOG_FILE).map_or(&[], Vec::as_slice)
    }

    fn log_mut(&mut self) -> &mut Vec<u8> {
        self.host.files.get_mut(LOG_FILE).expect("a log file")
    }

    /// `wal.meta`: (acknowledged lsn, acknowledged log length).
    fn acked(&self) -> (u64, u64) {
        let meta = &self.host.files[META_FILE];
        let word = |at: usize| u64::from_le_bytes(meta[at..at + 8].try_into().expect("8 bytes"));
        (word(0), word(8))
    }
}

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

fn value(value: &str) -> KvReply {
    KvReply::Value(value.into())
}

/// What recovery reported in its one `Recovered` observation: (damaged, data lost).
#[track_caller]
fn recovered(effects: &Effects) -> (bool, bool) {
    let mut reports = effects.iter().filter_map(|effect| match effect {
        Effect::Observe(WalObservation::Recovered {
            damaged, data_lost, ..
        }) => Some((*damaged, *data_lost)),
        _ => None,
    });
    let report = reports.next().expect("recovery reports what it found");
    assert_eq!(reports.next(), None, "recovery reports once: {effects:?}");
    report
}

/// A refusal that names the data loss and the key, never a value.
#[track_caller]
fn assert_data_loss(reply: KvReply, key: &str) {
    match reply {
        KvReply::Failed(reason) => assert!(
            reason.contains("data loss") && reason.contains(key),
            "refused {key}, but not for data loss: {reason}"
        ),
        other => panic!("{key} was served ({other:?}) although its writes may be destroyed"),
    }
}

// Goal: acknowledged puts and appends survive restarts, and numbering goes on after them.
// Method: write through the node, restart, read back; write again, restart again.
#[test]
fn clean_recovery_serves_every_acknowledged_write() {
    let mut s = Store::new();
    s.put("a", "1");
    s.put("b", "2");
    s.append("a", "x");
    s.put("b", "3");
    let log = s.log().to_vec();
    assert_eq!(s.acked(), (4, log.len() as u64));

    let effects = s.restart();
    assert_eq!(recovered(&effects), (false, false));
    assert_eq!(s.log(), log, "a clean log is left as it was");
    assert_eq!(s.get("a"), value("1x"));
    assert_eq!(s.get("b"), value("3"));
    assert_eq!(s.get("never-written"), value(""));

    s.put("c", "4");
    assert_eq!(s.acked(), (5, s.log().len() as u64), "numbering goes on");
    s.restart();
    assert_eq!(s.get("a"), value("1x"));
    assert_eq!(s.get("b"), value("3"));
    assert_eq!(s.get("c"), value("4"));
}

// Goal: a torn, unacknowledged record past the acknowledged length is cut away: the log is
// exactly its acknowledged bytes again, acknowledged data is served, and the unacknowledged
// write is not. Method: two acknowledged puts, then the node's own bytes for a third put
// (never completed) cut at several points inside its header and payload.
#[test]
fn torn_tail_is_truncated_to_the_acknowledged_length() {
    let torn = put("b", "torn");
    let record_len = encode_record(3, &torn).len();
    for cut in [1, HEADER_BYTES - 1, HEADER_BYTES, record_len - 1] {
        let mut s = Store::new();
        s.put("a", "1");
        s.put("b", "2");
        let acknowledged = s.log().to_vec();
        assert_eq!(s.acked(), (2, acknowledged.len() as u64));
        let record = s.unacknowledged_write(torn.clone());
        assert_eq!(
            record,
            encode_record(3, &torn),
            "the documented record format"
        );
        s.log_mut().extend_from_slice(&record[..cut]);

        let effects = s.restart();
        assert!(
            !recovered(&effects).0,
            "cut {cut}: a torn tail is no damage"
        );
        assert_eq!(
            s.log(),
            acknowledged,
            "cut {cut}: truncated to the acknowledged bytes"
        );
        assert_eq!(s.acked(), (2, acknowledged.len() as u64), "cut {cut}");
        assert_eq!(s.get("a"), value("1"), "cut {cut}");
        assert_eq!(s.get("b"), value("2"), "cut {cut}");

        // The next record takes the torn one's place and number.
        s.put("c", "3");
        assert_eq!(s.acked(), (3, s.log().len() as u64), "cut {cut}");
        s.restart();
        assert_eq!(s.get("b"), value("2"), "cut {cut}");
        assert_eq!(s.get("c"), value("3"), "cut {cut}");
    }
}

// Goal: a destroyed acknowledged record makes the node salvage: keys put after it are served,
// every other key is refused with an error naming the data loss (never an older value), a key
// put again is served, and the next recovery concludes the same.
// Method: five acknowledged records; flip one bit in the payload of the third (b's newest
// value), so its checksum fails; restart twice.
#[test]
fn salvage_refuses_keys_whose_writes_may_be_destroyed() {
    let mut s = Store::new();
    let mut ends = Vec::new();
    for op in [
        put("b", "old"),
        put("a", "1"),
        put("b", "new"),
        put("c", "3"),
        append("c", "+"),
    ] {
        assert_eq!(s.request(op), KvReply::Done);
        ends.push(s.log().len());
    }
    s.log_mut()[ends[2] - 1] ^= 0x01; // The last byte of "new".

    let effects = s.restart();
    assert_eq!(recovered(&effects), (true, true));
    assert_data_loss(s.get("b"), "b"); // Not "old".
    assert_data_loss(s.get("a"), "a"); // Record 3 might have been a put to a.
    assert_data_loss(s.get("never-written"), "never-written");
    assert_data_loss(s.request(append("a", "x")), "a");
    assert_eq!(s.get("c"), value("3+"), "put after the destroyed record");

    s.put("b", "again");
    s.append("c", "!");
    assert_eq!(s.get("b"), value("again"));
    assert_eq!(s.get("c"), value("3+!"));
    assert_eq!(s.acked(), (7, s.log().len() as u64));

    let effects = s.restart();
    assert!(recovered(&effects).1, "the damage is still there");
    assert_eq!(s.get("b"), value("again"));
    assert_eq!(s.get("c"), value("3+!"));
    assert_data_loss(s.get("a"), "a");
}

// Goal: a complete but unacknowledged record that a salvage finds is declared void, so no
// later recovery replays it: every recovery serves the same values.
// Method: three acknowledged puts; the node's own bytes for an unacknowledged put of c land
// whole past the acknowledged length; record 2 is damaged, so recovery salvages and finds
// record 4 past the acknowledged lsn 3. The first recovery must write void record 5 for 4..5;
// the second and third recoveries must still not apply record 4.
#[test]
fn void_record_keeps_unacknowledged_records_out_of_later_recoveries() {
    let mut s = Store::new();
    s.put("a", "1");
    s.put("b", "2");
    let end_of_b = s.log().len();
    s.put("c", "3");
    let acknowledged_len = s.log().len();
    let record = s.unacknowledged_write(put("c", "unacknowledged"));
    s.log_mut().extend_from_slice(&record);
    s.log_mut()[end_of_b - 1] ^= 0x01;

    let effects = s.restart();
    assert!(recovered(&effects).1);
    let void_at = acknowledged_len + record.len();
    let log = s.log().to_vec();
    // Header, then payload: kind 3, first u64, below u64.
    assert_eq!(
        log.len(),
        void_at + HEADER_BYTES + 17,
        "one void record appended"
    );
    let void = &log[void_at..];
    let word = |at: usize| u64::from_le_bytes(void[at..at + 8].try_into().expect("8 bytes"));
    assert_eq!(void[..4], MAGIC.to_le_bytes(), "a record after everything");
    assert_eq!(word(4), 5, "numbered after the highest record found");
    assert_eq!(void[HEADER_BYTES], 3, "a void record");
    let range = (word(HEADER_BYTES + 1), word(HEADER_BYTES + 9));
    assert_eq!(range, (4, 5), "voids the unacknowledged record 4");
    assert_eq!(s.acked(), (5, log.len() as u64));
    assert_eq!(s.get("c"), value("3"));
    assert_data_loss(s.get("b"), "b");

    for recovery in [2, 3] {
        s.restart();
        assert_eq!(s.log(), log, "recovery {recovery}: nothing more to declare");
        assert_eq!(s.acked(), (5, log.len() as u64), "recovery {recovery}");
        assert_eq!(
            s.get("c"),
            value("3"),
            "recovery {recovery}: record 4 stays void"
        );
        assert_data_loss(s.get("b"), "b");
        assert_data_loss(s.get("a"), "a");
    }

    s.put("c", "after");
    assert_eq!(
        s.acked(),
        (6, s.log().len() as u64),
        "numbering goes on past the void"
    );
    s.restart();
    assert_eq!(s.get("c"), value("after"));
}

// Goal: no wal.meta and an empty or missing log is an empty store that serves at once.
// Method: start on such disks; read, write, restart, read again.
#[test]
fn missing_meta_and_empty_log_is_an_empty_store() {
    let disks: [&[(&str, Vec<u8>)]; 3] = [
        &[],
        &[(LOG_FILE, Vec::new())],
        &[(LOG_FILE, Vec::new()), (META_FILE, Vec::new())],
    ];
    for files in disks {
        let mut s = Store::on_disk(files);
        assert_eq!(
            s.acked(),
            (0, 0),
            "{files:?}: nothing acknowledged, recorded"
        );
        assert_eq!(s.get("k"), value(""), "{files:?}");
        s.put("k", "v");
        s.append("k", "w");
        assert_eq!(s.get("k"), value("vw"), "{files:?}");
        s.restart();
        assert_eq!(s.get("k"), value("vw"), "{files:?}");
    }
}
