//! Goal: the real host's disk (`faultline_host::disk::RealDisk`) keeps the disk contract of
//! `faultline_api::disk` exactly as the simulator's disk and the unit-test host's in-memory
//! disk do, in its normal mode and in lazy-fsync mode: the same result for every operation,
//! the same files at the end; lazy mode keeps unsynced data out of the files; and no file
//! name reaches outside the disk's directory.
//!
//! Method: generated sequences of operations over three names (writes, appends, truncates,
//! reads, renames, deletes, syncs, listings, small offsets and lengths, empty data included)
//! run on four disks: the simulated disk (`sim::disk::Disk`, driven from outside its crate
//! through a `Simulation` with one node that submits every operation back to back in
//! `on_start` and records each completion), the in-memory disk of
//! `faultline_api::testing::TestHost` (the reference the contract's results are written
//! against), and `RealDisk` in a fresh temporary directory, once plain and once lazy. Every
//! result must agree; then every file is read whole through each disk; then each real disk
//! syncs every file and the directory is read with `std::fs`, which must hold the same. In
//! lazy mode each successful sync is also checked on the spot: the file on disk holds what
//! reads see. Sizes past the 1 GiB bound are checked against the in-memory disk only, since
//! the simulated disk has no such bound and would allocate them.

use faultline_api::testing::{FILE_BYTES_MAX, TestHost};
use faultline_api::{Context, DiskOp, IoError, IoId, IoResult, Node, NodeId};
use faultline_host::disk::RealDisk;
use proptest::prelude::*;
use sim::{Config, Duration, Instant, Latency, LinkConfig, Simulation};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

const NAMES: [&str; 3] = ["a", "b", "c"];

type Files = BTreeMap<String, Vec<u8>>;

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("faultline-disk-{label}-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Completions by operation id (ids ascend in submission order).
type Completions = Rc<RefCell<BTreeMap<u64, IoResult>>>;

/// Submits every operation at start, back to back, and records the completions.
struct Submitter {
    ops: Vec<DiskOp>,
    done: Completions,
}

impl Node for Submitter {
    type Message = ();
    type Timer = ();
    type Observation = faultline_api::NoObservation;
    fn on_start(&mut self, ctx: &mut Context<'_, (), ()>) {
        for op in &self.ops {
            ctx.disk(op.clone());
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, (), ()>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Context<'_, (), ()>, _: ()) {}
    fn on_disk(&mut self, _: &mut Context<'_, (), ()>, id: IoId, result: IoResult) {
        let earlier = self.done.borrow_mut().insert(id.0, result);
        assert!(earlier.is_none(), "{id} completed twice");
    }
}

/// The results in submission order and the files at the end.
type Outcome = (Vec<IoResult>, Files);

fn collect(done: &Completions, count: usize, disk: &str) -> Vec<IoResult> {
    let done = done.borrow();
    assert_eq!(done.len(), count, "{disk}: every operation completes once");
    done.values().cloned().collect()
}

/// The simulated disk, as the engine drives it (no faults: `DiskConfig::default()` has none).
fn run_simulated(ops: &[DiskOp]) -> Outcome {
    let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
    let config = Config::new(7, link.clone(), link);
    assert!(!config.disk.faults.any());
    let mut sim: Simulation<(), ()> = Simulation::new(config);
    let done = Completions::default();
    let (node_ops, node_done) = (ops.to_vec(), done.clone());
    let node = sim.add_node(move |_| Submitter {
        ops: node_ops.clone(),
        done: node_done.clone(),
    });
    sim.run_until(Instant::ZERO + Duration::from_secs(10));
    let results = collect(&done, ops.len(), "simulated");
    let disk = sim.disk(node);
    let files = disk
        .files()
        .into_iter()
        .map(|(name, _)| {
            let content = disk.content(&name).expect("a listed file").to_vec();
            (name, content)
        })
        .collect();
    (results, files)
}

/// The in-memory disk of the unit-test host.
fn run_in_memory(ops: &[DiskOp]) -> Outcome {
    let mut host = TestHost::new(NodeId(0), vec![NodeId(0)], 7);
    let done = Completions::default();
    let mut node = Submitter {
        ops: ops.to_vec(),
        done: done.clone(),
    };
    let others = host.start(&mut node);
    assert!(others.is_empty());
    (collect(&done, ops.len(), "in-memory"), host.files.clone())
}

/// The files a disk's own reads see: `List`, then `ReadToEnd` of each, lengths checked.
fn read_back(disk: &mut RealDisk) -> Result<Files, TestCaseError> {
    let IoResult::Files(listing) = disk.apply(&DiskOp::List) else {
        return Err(TestCaseError::fail("List failed"));
    };
    let mut files = Files::new();
    for (name, len) in listing {
        let read = DiskOp::ReadToEnd {
            file: name.clone(),
            offset: 0,
        };
        let IoResult::Data(data) = disk.apply(&read) else {
            return Err(TestCaseError::fail(format!("reading {name} failed")));
        };
        prop_assert_eq!(
            data.len() as u64,
            len,
            "{} listed with another length",
            &name
        );
        files.insert(name, data);
    }
    Ok(files)
}

/// The directory as `std::fs` sees it, but for the disk's own files (`.faultline-*`: the
/// lazy mode's staging file).
fn on_disk(dir: &Path) -> Files {
    let mut files = Files::new();
    for entry in std::fs::read_dir(dir).expect("the directory") {
        let entry = entry.expect("an entry");
        let name = entry.file_name().into_string().expect("a UTF-8 name");
        if name.starts_with(".faultline-") {
            continue;
        }
        files.insert(name, std::fs::read(entry.path()).expect("a readable file"));
    }
    files
}

/// `RealDisk` in a fresh directory: the results, and the files its reads see at the end. Then
/// every file is synced, and the directory must hold the same.
fn run_real(ops: &[DiskOp], lazy: bool) -> Result<Outcome, TestCaseError> {
    let dir = TempDir::new(if lazy { "lazy" } else { "plain" });
    let mut disk = RealDisk::open(dir.path(), lazy).map_err(TestCaseError::fail)?;
    let mut results = Vec::new();
    for op in ops {
        let result = disk.apply(op);
        if let (true, DiskOp::Sync { file }, IoResult::Ok) = (lazy, op, &result) {
            // A completed sync put on disk exactly what reads see.
            let seen = disk.apply(&DiskOp::ReadToEnd {
                file: file.clone(),
                offset: 0,
            });
            let stored = std::fs::read(dir.path().join(file)).expect("a synced file");
            prop_assert_eq!(
                seen,
                IoResult::Data(stored),
                "{} after {}",
                file,
                op.describe()
            );
        }
        results.push(result);
    }
    if !lazy {
        prop_assert_eq!(disk.unsynced_bytes(), 0);
    }
    let files = read_back(&mut disk)?;
    for name in files.keys() {
        let sync = DiskOp::Sync { file: name.clone() };
        prop_assert_eq!(disk.apply(&sync), IoResult::Ok);
    }
    prop_assert_eq!(disk.apply(&DiskOp::SyncDir), IoResult::Ok);
    prop_assert_eq!(disk.unsynced_bytes(), 0);
    prop_assert_eq!(
        &on_disk(dir.path()),
        &files,
        "lazy {} after syncing all",
        lazy
    );
    Ok((results, files))
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(&NAMES[..]).prop_map(str::to_string)
}

/// Small data, empty included (an empty write or append creates its file).
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..7)
}

fn op() -> impl Strategy<Value = DiskOp> {
    prop_oneof![
        3 => (name(), 0..10u64, data()).prop_map(|(file, offset, data)| DiskOp::Write {
            file,
            offset,
            data
        }),
        2 => (name(), data()).prop_map(|(file, data)| DiskOp::Append { file, data }),
        1 => (name(), 0..14u64).prop_map(|(file, len)| DiskOp::Truncate { file, len }),
        2 => name().prop_map(|file| DiskOp::Sync { file }),
        1 => Just(DiskOp::SyncDir),
        1 => (name(), 0..14u64, 0..8u64).prop_map(|(file, offset, len)| DiskOp::Read {
            file,
            offset,
            len
        }),
        1 => (name(), 0..14u64).prop_map(|(file, offset)| DiskOp::ReadToEnd { file, offset }),
        1 => (name(), name()).prop_map(|(from, to)| DiskOp::Rename { from, to }),
        1 => name().prop_map(|file| DiskOp::Delete { file }),
        1 => Just(DiskOp::List),
    ]
}

/// Checks that every disk gave the reference's results and ended with its files.
fn compare(
    ops: &[DiskOp],
    reference: &Outcome,
    other: &Outcome,
    disk: &str,
) -> Result<(), TestCaseError> {
    for (index, op) in ops.iter().enumerate() {
        prop_assert_eq!(
            &other.0[index],
            &reference.0[index],
            "{} disagrees with the in-memory disk at op #{} ({})",
            disk,
            index,
            op.describe()
        );
    }
    prop_assert_eq!(&other.1, &reference.1, "{} ends with other files", disk);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // Goal: the four disks agree on every result and on the files at the end. Method: see the
    // module documentation.
    #[test]
    fn every_disk_gives_the_same_results(ops in prop::collection::vec(op(), 1..40)) {
        let reference = run_in_memory(&ops);
        compare(&ops, &reference, &run_simulated(&ops), "the simulated disk")?;
        compare(&ops, &reference, &run_real(&ops, false)?, "RealDisk")?;
        compare(&ops, &reference, &run_real(&ops, true)?, "lazy RealDisk")?;
    }
}

// Goal: sizes past the bound fail with NoSpace on the real disk as on the in-memory one, and
// change nothing; empty writes at any offset succeed and change no length. Method: fixed
// operations on both, in both modes, results and files compared.
#[test]
fn sizes_past_the_bound_fail_with_no_space() {
    let write = |file: &str, offset: u64, data: Vec<u8>| DiskOp::Write {
        file: file.into(),
        offset,
        data,
    };
    let ops = vec![
        write("a", 0, vec![1, 2, 3]),
        write("a", FILE_BYTES_MAX, vec![1]),
        write("a", u64::MAX / 2, vec![1]),
        write("b", FILE_BYTES_MAX - 1, vec![1, 2]),
        write("a", u64::MAX, Vec::new()),
        write("c", 1_000, Vec::new()),
        DiskOp::Truncate {
            file: "a".into(),
            len: FILE_BYTES_MAX + 1,
        },
        DiskOp::Truncate {
            file: "missing".into(),
            len: u64::MAX,
        },
        DiskOp::Append {
            file: "a".into(),
            data: vec![4],
        },
        DiskOp::Read {
            file: "a".into(),
            offset: 2,
            len: u64::MAX,
        },
        DiskOp::List,
    ];
    let reference = run_in_memory(&ops);
    let no_space = IoResult::Err(IoError::NoSpace);
    assert_eq!(
        reference.0[1..4],
        [no_space.clone(), no_space.clone(), no_space.clone()]
    );
    assert_eq!(reference.0[6..8], [no_space.clone(), no_space]);
    for lazy in [false, true] {
        let real = run_real(&ops, lazy).unwrap();
        compare(&ops, &reference, &real, "RealDisk").unwrap();
    }
}

// Goal: in lazy-fsync mode unsynced data is not in the file, a sync puts it there, and a
// "kill" (the disk dropped without a sync) loses exactly the unsynced data, not names.
// Method: writes, appends and truncates with and without syncs, the file read with `std::fs`
// between them; then a new `RealDisk` on the same directory reads what survived.
#[test]
fn lazy_mode_keeps_unsynced_data_out_of_the_files() {
    let dir = TempDir::new("lazy-held");
    let path = |file: &str| dir.path().join(file);
    let stored = |file: &str| std::fs::read(path(file)).expect("the file exists");
    let write = |file: &str, offset: u64, data: &[u8]| DiskOp::Write {
        file: file.into(),
        offset,
        data: data.to_vec(),
    };
    let sync = |file: &str| DiskOp::Sync { file: file.into() };
    let read = |disk: &mut RealDisk, file: &str| {
        disk.apply(&DiskOp::ReadToEnd {
            file: file.into(),
            offset: 0,
        })
    };
    let data = |bytes: &[u8]| IoResult::Data(bytes.to_vec());

    let mut disk = RealDisk::open(dir.path(), true).unwrap();
    assert_eq!(disk.apply(&write("a", 0, &[1, 2, 3])), IoResult::Ok);
    // The name is on disk at once; the data is not.
    assert_eq!(stored("a"), b"");
    assert_eq!(disk.unsynced_bytes(), 3);
    assert_eq!(read(&mut disk, "a"), data(&[1, 2, 3]));
    assert_eq!(disk.apply(&sync("a")), IoResult::Ok);
    assert_eq!(disk.apply(&DiskOp::SyncDir), IoResult::Ok);
    assert_eq!(stored("a"), [1, 2, 3]);
    assert_eq!(disk.unsynced_bytes(), 0);

    assert_eq!(disk.apply(&write("a", 1, &[9, 9])), IoResult::Ok);
    let append = DiskOp::Append {
        file: "a".into(),
        data: vec![7],
    };
    assert_eq!(disk.apply(&append), IoResult::Ok);
    assert_eq!(stored("a"), [1, 2, 3], "unsynced data reached the file");
    assert_eq!(read(&mut disk, "a"), data(&[1, 9, 9, 7]));
    assert_eq!(
        disk.apply(&DiskOp::List),
        IoResult::Files(vec![("a".into(), 4)])
    );
    assert_eq!(disk.unsynced_bytes(), 3);
    assert_eq!(disk.apply(&sync("a")), IoResult::Ok);
    assert_eq!(stored("a"), [1, 9, 9, 7]);

    let truncate = DiskOp::Truncate {
        file: "a".into(),
        len: 2,
    };
    assert_eq!(disk.apply(&truncate), IoResult::Ok);
    assert_eq!(
        stored("a"),
        [1, 9, 9, 7],
        "an unsynced truncate reached the file"
    );
    assert_eq!(read(&mut disk, "a"), data(&[1, 9]));
    assert_eq!(disk.apply(&write("a", 5, &[5])), IoResult::Ok);
    assert_eq!(disk.apply(&write("b", 0, &[8, 8])), IoResult::Ok);
    let rename = DiskOp::Rename {
        from: "b".into(),
        to: "c".into(),
    };
    assert_eq!(disk.apply(&rename), IoResult::Ok);
    assert_eq!(read(&mut disk, "c"), data(&[8, 8]));
    assert!(!path("b").exists());
    assert_eq!(stored("c"), b"", "the renamed file's data was never synced");

    // A kill: nothing more reaches the files.
    drop(disk);
    let mut disk = RealDisk::open(dir.path(), true).unwrap();
    assert_eq!(read(&mut disk, "a"), data(&[1, 9, 9, 7]));
    assert_eq!(read(&mut disk, "c"), data(&[]));
    assert_eq!(
        disk.apply(&DiskOp::List),
        IoResult::Files(vec![("a".into(), 4), ("c".into(), 0)])
    );

    // Synced now, the held content reaches the file whole: zeros filled past a truncate.
    assert_eq!(disk.apply(&truncate), IoResult::Ok);
    assert_eq!(disk.apply(&write("a", 5, &[5])), IoResult::Ok);
    assert_eq!(disk.apply(&sync("a")), IoResult::Ok);
    assert_eq!(stored("a"), [1, 9, 0, 0, 0, 5]);
}

// Goal: a name that could leave the directory is refused with `IoError::Io`, whatever the
// operation, and nothing is created or changed inside or outside the directory. Method: a disk
// in a directory inside another, with a subdirectory `a` (so that `a/b` would resolve), every
// operation with every bad name, in both modes; then both directories are listed. And
// `RealDisk::open` refuses a missing directory and a file, saying which.
#[test]
fn bad_names_are_refused() {
    let outer = TempDir::new("names");
    let dir = outer.path().join("node");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(outer.path().join("x"), b"outside").unwrap();
    let entries = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let bad = [
        "../x",
        "a/b",
        "",
        ".",
        "..",
        "x\0",
        "/tmp/x",
        ".faultline-staged",
    ];
    for lazy in [false, true] {
        let mut disk = RealDisk::open(&dir, lazy).unwrap();
        for name in bad {
            let file = name.to_string();
            let ops = [
                DiskOp::Write {
                    file: file.clone(),
                    offset: 0,
                    data: vec![1],
                },
                DiskOp::Write {
                    file: file.clone(),
                    offset: 0,
                    data: Vec::new(),
                },
                DiskOp::Append {
                    file: file.clone(),
                    data: vec![1],
                },
                DiskOp::Truncate {
                    file: file.clone(),
                    len: 0,
                },
                DiskOp::Sync { file: file.clone() },
                DiskOp::Read {
                    file: file.clone(),
                    offset: 0,
                    len: 10,
                },
                DiskOp::ReadToEnd {
                    file: file.clone(),
                    offset: 0,
                },
                DiskOp::Rename {
                    from: file.clone(),
                    to: "ok".into(),
                },
                DiskOp::Rename {
                    from: "ok".into(),
                    to: file.clone(),
                },
                DiskOp::Delete { file },
            ];
            for op in ops {
                let result = disk.apply(&op);
                assert_eq!(result, IoResult::Err(IoError::Io), "{op:?}");
            }
        }
        assert_eq!(disk.apply(&DiskOp::List), IoResult::Files(Vec::new()));
        assert_eq!(disk.unsynced_bytes(), 0);
    }
    assert_eq!(entries(outer.path()), ["node", "x"]);
    assert_eq!(std::fs::read(outer.path().join("x")).unwrap(), b"outside");
    assert_eq!(entries(&dir), ["a"]);
    assert!(entries(&dir.join("a")).is_empty());

    let missing = RealDisk::open(&outer.path().join("missing"), false).unwrap_err();
    assert!(missing.contains("missing"), "{missing}");
    let file = RealDisk::open(&outer.path().join("x"), false).unwrap_err();
    assert!(file.contains("not a directory"), "{file}");
}
