//! Goal: `check-history` keeps its contract: a header and one row per file (`error` for a
//! file that cannot be checked), exit codes, EDN read as it is, the same output for every
//! number of jobs, `unknown` within the memory limit, bad flags named with their limits.
//! Method: run the built binary on the shipped and on generated histories.

mod common;

use common::{text, xtask};

use std::path::{Path, PathBuf};
use std::process::Output;

use checkers::synth::{self, KvShape};

fn histories(file: &str) -> String {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/histories"
    ))
    .join(file)
    .display()
    .to_string()
}

/// A file in a scratch folder of this test process.
fn scratch(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-check-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writable");
    path
}

/// The stdout rows without the milliseconds column, which differs from run to run.
fn rows(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .map(|line| {
            line.rsplit_once('\t')
                .map_or(line, |(row, _)| row)
                .to_owned()
        })
        .collect()
}

#[test]
fn header_error_rows_and_exit_codes() {
    let ok = histories("etcd_002.jsonl");
    let kv = histories("kv_c01-ok.jsonl");
    let empty = scratch("empty.jsonl", "");
    let empty = empty.to_str().expect("a UTF-8 path");
    let out = xtask(&["check-history", "--model", "cas-register", &ok, &kv, empty]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        rows(&out),
        [
            "file\tmodel\tverdict".to_owned(),
            format!("{ok}\tcas-register\tlinearizable"),
            format!("{kv}\tcas-register\terror"),
            format!("{empty}\tcas-register\terror"),
        ]
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{kv}:1: unknown f \"append\"")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{empty}: no operations")),
        "{stderr}"
    );

    let bad = histories("etcd_000.jsonl");
    let out = xtask(&["check-history", "--model", "cas-register", &ok, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let out = xtask(&["check-history", "--model", "kv", &kv]);
    assert_eq!(out.status.code(), Some(0));
}

// Knossos' samples, read as the EDN they are, with the register at 0.
#[test]
fn knossos_edn() {
    for (file, code) in [
        ("knossos/bad_rethink-fail-minimal.edn", 1),
        ("knossos/good_memstress3-33.edn", 0),
    ] {
        let path = histories(file);
        let out = xtask(&[
            "check-history",
            "--model",
            "cas-register",
            "--initial",
            "0",
            &path,
        ]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{file}: {}",
            text(&out.stderr)
        );
        let out = xtask(&[
            "check-history",
            "--model",
            "cas-register",
            "--initial",
            "0",
            "--input-format",
            "jsonl",
            &path,
        ]);
        assert_eq!(out.status.code(), Some(2), "{file} as JSON Lines");
    }
}

// The output is the same for every number of jobs, also when some keys are unknown, and
// the explanation lists the other failing keys in a line each.
#[test]
fn same_output_for_every_job_count() {
    let shape = KvShape {
        violation: true,
        ..KvShape::default()
    };
    let history = synth::generate_kv(&shape, 3);
    let path = scratch("jepsen-shaped.jsonl", &history.to_jsonl());
    let path = path.to_str().expect("a UTF-8 path");
    let run = |jobs: &str, memory: &str| {
        xtask(&[
            "check-history",
            "--model",
            "kv",
            "--jobs",
            jobs,
            "--memory",
            memory,
            path,
        ])
    };
    let single = run("1", "512");
    assert_eq!(single.status.code(), Some(1), "{}", text(&single.stderr));
    for jobs in ["2", "5"] {
        let parallel = run(jobs, "512");
        assert_eq!(rows(&parallel), rows(&single), "{jobs} jobs");
        assert_eq!(text(&parallel.stderr), text(&single.stderr), "{jobs} jobs");
    }
    // Keys that need more than 1 MiB end unknown; one failing key still fails the file.
    let limited = run("1", "1");
    assert_eq!(limited.status.code(), Some(1), "{}", text(&limited.stderr));
    assert_eq!(text(&run("4", "1").stderr), text(&limited.stderr));
}

// Memory is bounded: a history beyond what any checker decides ends `unknown` within the
// limit, with what was explored.
#[test]
fn unknown_within_the_memory_limit() {
    let shape = KvShape {
        process_count: 100,
        key_count: 1,
        operation_count: 1_000,
        ..KvShape::default()
    };
    let path = scratch("one-key.jsonl", &synth::generate_kv(&shape, 1).to_jsonl());
    let out = xtask(&[
        "check-history",
        "--model",
        "kv",
        "--memory",
        "8",
        path.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown: key \"k0\": the memory limit of 8 MiB per key ran out after"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the longest linearizable prefix found places"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_name_their_limits() {
    let file = histories("etcd_002.jsonl");
    let cases: [(&[&str], &str); 6] = [
        (&["--jobs", "0"], "--jobs must be between 1 and 1024, got 0"),
        (
            &["--memory", "0"],
            "--memory must be between 1 and 1048576 MiB, got 0",
        ),
        (
            &["--timeout", "0"],
            "--timeout must be a positive number of seconds, got 0",
        ),
        (
            &["--input-format", "xml"],
            "valid formats: auto, jsonl, edn",
        ),
        (
            &["--initial", "zero"],
            "--initial must be a JSON literal such as 0 or null",
        ),
        (
            &["--initial", "\"a\""],
            "--initial: the initial value must be null or a signed 64-bit integer",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["check-history", "--model", "cas-register"];
        args.extend_from_slice(flags);
        args.push(&file);
        let out = xtask(&args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
    let out = xtask(&["check-history", "--model", "kv", "--initial", "1", &file]);
    assert!(text(&out.stderr).contains("kv keys start empty"));
}
