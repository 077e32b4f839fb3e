//! Goal: the disk model keeps its durability rules and puts faults exactly where it says.
//! Method: a scripted node submits disk operations one after another; the tests crash it at
//! random moments and compare what the disk holds with every state the rules allow, computed
//! independently of the model.

use proptest::prelude::*;
use sim::{
    Config, Context, DiskConfig, DiskOp, Duration, Fault, Instant, IoId, IoResult, Latency,
    LinkConfig, Node, NodeId, Simulation, TraceEvent, TraceLevel,
};
use std::cell::RefCell;
use std::rc::Rc;

const SECTOR: u64 = 16;

type Log = Rc<RefCell<Vec<(DiskOp, IoResult)>>>;

/// Submits `ops` one at a time, each when the previous completes, and logs completions.
struct Script {
    ops: Vec<DiskOp>,
    next: usize,
    log: Log,
}

impl Script {
    fn submit_next(&mut self, ctx: &mut Context<'_, (), ()>) {
        if let Some(op) = self.ops.get(self.next) {
            self.next += 1;
            ctx.disk(op.clone());
        }
    }
}

impl Node for Script {
    type Message = ();
    type Timer = ();
    type Observation = sim::api::NoObservation;
    fn on_start(&mut self, ctx: &mut Context<'_, (), ()>) {
        self.submit_next(ctx);
    }
    fn on_message(&mut self, _: &mut Context<'_, (), ()>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Context<'_, (), ()>, _: ()) {}
    fn on_disk(&mut self, ctx: &mut Context<'_, (), ()>, _id: IoId, result: IoResult) {
        let op = self.ops[self.next - 1].clone();
        self.log.borrow_mut().push((op, result));
        self.submit_next(ctx);
    }
}

fn disk_config() -> DiskConfig {
    DiskConfig {
        sector_bytes: SECTOR as u32,
        latency: Latency::Uniform {
            min: Duration::from_micros(10),
            max: Duration::from_micros(100),
        },
        sync_latency: Latency::Uniform {
            min: Duration::from_micros(50),
            max: Duration::from_micros(300),
        },
        crash_lose_ppm: 300_000,
        crash_tear_ppm: 400_000,
        ..DiskConfig::default()
    }
}

fn simulation(seed: u64, disk: DiskConfig, ops: Vec<DiskOp>) -> (Simulation<(), ()>, Log) {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let mut config = Config::new(seed, link.clone(), link);
    config.disk = disk;
    config.trace_level = TraceLevel::Record;
    let mut sim = Simulation::new(config);
    let log: Log = Rc::default();
    let shared = log.clone();
    sim.add_node(move |_| Script {
        ops: ops.clone(),
        next: 0,
        log: shared.clone(),
    });
    (sim, log)
}

#[derive(Clone, Debug)]
enum Step {
    Write { offset: u64, len: u64, byte: u8 },
    Append { len: u64, byte: u8 },
    Truncate { len: u64 },
    Sync,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..64u64, 1..40u64, any::<u8>()).prop_map(|(offset, len, byte)| Step::Write {
            offset,
            len,
            byte
        }),
        (1..40u64, any::<u8>()).prop_map(|(len, byte)| Step::Append { len, byte }),
        (0..80u64).prop_map(|len| Step::Truncate { len }),
        Just(Step::Sync),
    ]
}

fn to_op(step: &Step) -> DiskOp {
    let file = "f".to_string();
    match *step {
        Step::Write { offset, len, byte } => DiskOp::Write {
            file,
            offset,
            data: vec![byte; len as usize],
        },
        Step::Append { len, byte } => DiskOp::Append {
            file,
            data: vec![byte; len as usize],
        },
        Step::Truncate { len } => DiskOp::Truncate { file, len },
        Step::Sync => DiskOp::Sync { file },
    }
}

/// A data operation with its absolute offset resolved (appends land at the end).
#[derive(Clone, Debug)]
enum Resolved {
    Write { offset: u64, data: Vec<u8> },
    Truncate { len: u64 },
}

fn apply(content: &mut Vec<u8>, op: &Resolved) {
    match op {
        Resolved::Write { offset, data } => {
            let end = *offset as usize + data.len();
            if content.len() < end {
                content.resize(end, 0);
            }
            content[*offset as usize..end].copy_from_slice(data);
        }
        Resolved::Truncate { len } => content.resize(*len as usize, 0),
    }
}

/// Every way one unsynced operation may reach the disk: lost, kept, or (writes) a prefix of
/// whole sectors from its start.
fn outcomes(op: &Resolved) -> Vec<Option<Resolved>> {
    let mut all = vec![None, Some(op.clone())];
    if let Resolved::Write { offset, data } = op {
        let end = offset + data.len() as u64;
        for boundary in ((offset / SECTOR + 1)..end.div_ceil(SECTOR)).map(|s| s * SECTOR) {
            let kept = (boundary - offset) as usize;
            all.push(Some(Resolved::Write {
                offset: *offset,
                data: data[..kept].to_vec(),
            }));
        }
    }
    all
}

/// Every content the rules allow after a crash: the synced prefix, then each unsynced
/// operation in order, independently lost, kept or torn.
fn allowed(durable: Vec<u8>, unsynced: &[Resolved]) -> Vec<Vec<u8>> {
    let mut states = vec![durable];
    for op in unsynced {
        let mut next = Vec::new();
        for state in &states {
            for outcome in outcomes(op) {
                let mut copy = state.clone();
                if let Some(op) = outcome {
                    apply(&mut copy, &op);
                }
                if !next.contains(&copy) {
                    next.push(copy);
                }
            }
        }
        states = next;
    }
    states
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    // After a crash the file holds all synced data plus, for each unsynced operation, nothing,
    // all of it, or a sector-aligned prefix of it.
    #[test]
    fn crash_keeps_synced_data_and_a_legal_mix_of_the_rest(
        seed in any::<u64>(),
        steps in proptest::collection::vec(step(), 1..9),
        crash_after_micros in 0u64..2_000,
    ) {
        let ops: Vec<DiskOp> = std::iter::once(DiskOp::Write { file: "f".into(), offset: 0, data: vec![7; 20] })
            .chain([DiskOp::Sync { file: "f".into() }, DiskOp::SyncDir])
            .chain(steps.iter().map(to_op))
            .collect();
        let (mut sim, log) = simulation(seed, disk_config(), ops.clone());
        sim.run_until(Instant::ZERO + Duration::from_micros(crash_after_micros));
        let node = NodeId(0);
        let before_crash = sim.disk(node).content("f").map(<[u8]>::to_vec);
        // What was submitted: every completed op plus the one in flight.
        let completed = log.borrow().len();
        let submitted = (completed + 1).min(ops.len());
        sim.apply(Fault::Crash(node));
        let after = sim.disk(node).content("f").map(<[u8]>::to_vec);
        if completed < 3 {
            // Before the first sync_dir completes the file's very name may be lost; the
            // property is about what happens once it is durable.
            return Ok(());
        }
        // Resolve appends to offsets by replaying the submitted ops on the page cache.
        let mut cache = Vec::new();
        let mut resolved = Vec::new();
        let mut synced_upto = 0;
        for (index, op) in ops[..submitted].iter().enumerate() {
            let r = match op {
                DiskOp::Write { offset, data, .. } => Some(Resolved::Write { offset: *offset, data: data.clone() }),
                DiskOp::Append { data, .. } => Some(Resolved::Write { offset: cache.len() as u64, data: data.clone() }),
                DiskOp::Truncate { len, .. } => Some(Resolved::Truncate { len: *len }),
                DiskOp::Sync { .. } => {
                    if index < completed {
                        synced_upto = resolved.len();
                    }
                    None
                }
                _ => None,
            };
            if let Some(r) = r {
                apply(&mut cache, &r);
                resolved.push(r);
            }
        }
        prop_assert_eq!(before_crash, Some(cache), "reads see every submitted write");
        let mut durable = Vec::new();
        for op in &resolved[..synced_upto] {
            apply(&mut durable, op);
        }
        let states = allowed(durable, &resolved[synced_upto..]);
        let after = after.expect("the file survives: its name was synced");
        prop_assert!(states.contains(&after), "{after:?} is not an allowed state of {states:?}");
    }
}

fn read_all(file: &str) -> DiskOp {
    DiskOp::Read {
        file: file.into(),
        offset: 0,
        len: 1 << 20,
    }
}

fn data_of(result: &IoResult) -> Vec<u8> {
    match result {
        IoResult::Data(data) => data.clone(),
        other => panic!("expected data, got {other:?}"),
    }
}

fn fault_events(sim: &Simulation<(), ()>) -> Vec<(String, String)> {
    sim.trace()
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Fault { kind, detail } => Some((kind.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

// A latent sector error flips one bit inside the sector it names, returns the same corruption
// on every read, and disappears when the sector is rewritten.
#[test]
fn latent_errors_stay_where_injected_until_rewritten() {
    for seed in 0..50 {
        let mut config = disk_config();
        config.faults.latent_ppm = 1_000_000;
        config.faults.nodes_max = 1;
        // Whole sectors, so every latent bit lies inside the file.
        let content: Vec<u8> = (0..96).collect();
        let ops = vec![
            DiskOp::Write {
                file: "f".into(),
                offset: 0,
                data: content.clone(),
            },
            read_all("f"),
            read_all("f"),
            DiskOp::Write {
                file: "f".into(),
                offset: 0,
                data: content.clone(),
            },
        ];
        let (mut sim, log) = simulation(seed, config, ops);
        sim.run_for(Duration::from_millis(10));
        let log = log.borrow();
        let first = data_of(&log[1].1);
        let second = data_of(&log[2].1);
        let sectors: Vec<u64> = fault_events(&sim)
            .iter()
            .filter(|(kind, _)| kind == "latent-sector-error")
            .map(|(_, detail)| detail.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            !sectors.is_empty(),
            "seed {seed}: every read finds a latent error"
        );
        for (read, data) in [(1, &first), (2, &second)] {
            let differing: Vec<usize> = (0..content.len())
                .filter(|&i| data[i] != content[i])
                .collect();
            let flipped_bits: u32 = differing
                .iter()
                .map(|&i| (data[i] ^ content[i]).count_ones())
                .sum();
            let expected_sectors = if read == 1 {
                &sectors[..1]
            } else {
                &sectors[..]
            };
            assert_eq!(
                flipped_bits as usize,
                expected_sectors.len(),
                "seed {seed} read {read}: one bit per bad sector"
            );
            for i in differing {
                assert!(
                    expected_sectors.contains(&(i as u64 / SECTOR)),
                    "seed {seed}: byte {i} outside bad sectors {sectors:?}"
                );
            }
        }
        // The disk itself was never changed by a read, and rewriting clears the latent errors.
        assert_eq!(sim.disk(NodeId(0)).content("f"), Some(content.as_slice()));
    }
}

// Transient read corruption flips exactly one bit of one read; the disk keeps its data.
#[test]
fn read_corruption_flips_one_bit_of_one_read() {
    let mut config = disk_config();
    config.faults.read_corrupt_ppm = 1_000_000;
    config.faults.nodes_max = 1;
    let content = vec![0u8; 64];
    let ops = vec![
        DiskOp::Write {
            file: "f".into(),
            offset: 0,
            data: content.clone(),
        },
        read_all("f"),
    ];
    let (mut sim, log) = simulation(1, config, ops);
    sim.run_for(Duration::from_millis(10));
    let data = data_of(&log.borrow()[1].1);
    let flipped: u32 = data.iter().map(|b| b.count_ones()).sum();
    assert_eq!(flipped, 1);
    assert_eq!(sim.disk(NodeId(0)).content("f"), Some(content.as_slice()));
}

// Faults touch only the files the budget names, and I/O errors change nothing.
#[test]
fn the_budget_confines_faults_to_named_files() {
    let mut config = disk_config();
    config.faults.write_error_ppm = 1_000_000;
    config.faults.read_error_ppm = 1_000_000;
    config.faults.files = vec!["wal*".into()];
    config.faults.nodes_max = 1;
    let ops = vec![
        DiskOp::Append {
            file: "wal.1".into(),
            data: vec![1; 10],
        },
        DiskOp::Append {
            file: "meta".into(),
            data: vec![2; 10],
        },
        read_all("meta"),
        read_all("wal.1"),
    ];
    let (mut sim, log) = simulation(3, config, ops);
    sim.run_for(Duration::from_millis(10));
    let log = log.borrow();
    assert_eq!(log[0].1, IoResult::Err(sim::IoError::Io));
    assert_eq!(log[1].1, IoResult::Ok);
    assert_eq!(log[2].1, IoResult::Data(vec![2; 10]));
    assert_eq!(
        log[3].1,
        IoResult::Err(sim::IoError::NotFound),
        "the failed append created nothing"
    );
    assert!(
        fault_events(&sim)
            .iter()
            .all(|(_, detail)| detail.starts_with("wal"))
    );
}

// Write-then-rename installs a snapshot atomically: after a crash at any moment, `snap` holds
// the old snapshot or the new one, whole.
#[test]
fn write_then_rename_is_atomic() {
    let old = vec![1u8; 50];
    let new = vec![2u8; 70];
    for seed in 0..300 {
        let ops = vec![
            DiskOp::Write {
                file: "snap".into(),
                offset: 0,
                data: old.clone(),
            },
            DiskOp::Sync {
                file: "snap".into(),
            },
            DiskOp::SyncDir,
            DiskOp::Write {
                file: "snap.tmp".into(),
                offset: 0,
                data: new.clone(),
            },
            DiskOp::Sync {
                file: "snap.tmp".into(),
            },
            DiskOp::Rename {
                from: "snap.tmp".into(),
                to: "snap".into(),
            },
            DiskOp::SyncDir,
        ];
        let (mut sim, log) = simulation(seed, disk_config(), ops);
        // Crash somewhere after the old snapshot is durable.
        sim.run_until_condition(
            Instant::ZERO + Duration::from_secs(1),
            Duration::from_micros(1),
            |_| log.borrow().len() >= 3,
        );
        let extra = Duration::from_micros(seed % 700);
        sim.run_for(extra);
        sim.apply(Fault::Crash(NodeId(0)));
        let snap = sim.disk(NodeId(0)).content("snap").map(<[u8]>::to_vec);
        assert!(
            snap == Some(old.clone()) || snap == Some(new.clone()),
            "seed {seed}: snap is {snap:?}"
        );
    }
}

// A restarted node reads exactly what its disk holds.
#[test]
fn a_restarted_node_reads_its_disk() {
    let ops = vec![
        DiskOp::Append {
            file: "f".into(),
            data: vec![5; 30],
        },
        DiskOp::Sync { file: "f".into() },
        DiskOp::SyncDir,
        read_all("f"),
    ];
    let (mut sim, log) = simulation(9, disk_config(), ops);
    sim.run_for(Duration::from_millis(10));
    sim.apply(Fault::Crash(NodeId(0)));
    sim.apply(Fault::Restart(NodeId(0)));
    sim.run_for(Duration::from_millis(10));
    // The restarted script replays its ops: the append lands after the synced 30 bytes.
    let log = log.borrow();
    assert_eq!(data_of(&log.last().unwrap().1), vec![5; 60]);
}
