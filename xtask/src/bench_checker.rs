//! `cargo xtask bench checker`: how long the linearizability checker takes on the shipped
//! histories (../shared/testdata/histories/) and on a generated kv history of 10,000
//! operations by 10 processes over 100 keys, printed next to the targets of issue 3.
//!
//! Each figure is the best of several runs, which filters out noise from the other work on
//! the machine; parsing is included, as `check-history` would pay for it too.

use std::path::{Path, PathBuf};

use checkers::synth::{self, Workload};
use checkers::{BuiltinModel, History, Limits, Verdict};

use crate::check_history::Stopwatch;

const RUN_COUNT: usize = 5;
/// Seed of the generated history; fixed so every run measures the same history.
const GENERATED_SEED: u64 = 0x0fa1_7000_0000_0001;
const ETCD_TOTAL_MS_TARGET: f64 = 25.0;
const GENERATED_MS_TARGET: f64 = 1000.0;

/// Runs the benchmark; returns 1 if a verdict differs from the expected one, else 0.
pub fn run() -> i32 {
    let directory = histories_directory();
    let expected_path = directory.join("expected.tsv");
    let expected = match std::fs::read_to_string(&expected_path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", expected_path.display());
            return 2;
        }
    };
    let mut mismatch = false;
    let mut etcd_total_ms = 0.0;
    let mut etcd_count = 0;
    println!("file\tmodel\tverdict\texpected\tms (best of {RUN_COUNT})");
    for line in expected.lines().filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, model_name, verdict_expected] = fields[..] else {
            eprintln!(
                "error: {}: malformed line {line:?}",
                expected_path.display()
            );
            return 2;
        };
        let Some(model) = BuiltinModel::from_name(model_name) else {
            eprintln!(
                "error: {}: unknown model {model_name}",
                expected_path.display()
            );
            return 2;
        };
        let path = directory.join(file);
        let mut best_ms = f64::INFINITY;
        let mut verdict = Verdict::Unknown;
        for _ in 0..RUN_COUNT {
            let stopwatch = Stopwatch::start();
            let report = checkers::read_history(&path)
                .and_then(|history| model.check(&history, &Limits::none()));
            best_ms = best_ms.min(stopwatch.milliseconds());
            match report {
                Ok(report) => verdict = report.verdict,
                Err(error) => {
                    eprintln!("error: {error}");
                    return 2;
                }
            }
        }
        if verdict.as_str() != verdict_expected {
            mismatch = true;
        }
        if file.starts_with("etcd_") {
            etcd_total_ms += best_ms;
            etcd_count += 1;
        }
        println!("{file}\t{model_name}\t{verdict}\t{verdict_expected}\t{best_ms:.3}");
    }
    println!();
    println!(
        "etcd histories ({etcd_count}) together: {etcd_total_ms:.3} ms (target < {ETCD_TOTAL_MS_TARGET} ms; \
         Porcupine: about 0.55 s for its 102 etcd histories, about 5.4 ms each)"
    );

    let workload = Workload::kv_benchmark();
    let history: History = synth::generate(BuiltinModel::Kv, &workload, GENERATED_SEED);
    let mut best_ms = f64::INFINITY;
    let mut verdict = Verdict::Unknown;
    for _ in 0..RUN_COUNT {
        let stopwatch = Stopwatch::start();
        let report = BuiltinModel::Kv.check(&history, &Limits::none());
        best_ms = best_ms.min(stopwatch.milliseconds());
        match report {
            Ok(report) => verdict = report.verdict,
            Err(error) => {
                eprintln!("error: generated history: {error}");
                return 2;
            }
        }
    }
    if verdict != Verdict::Linearizable {
        mismatch = true;
    }
    println!(
        "generated kv history ({} operations, {} processes, {} keys, {} events): {verdict} \
         (expected linearizable) in {best_ms:.3} ms (target < {GENERATED_MS_TARGET} ms)",
        workload.operation_count,
        workload.process_count,
        workload.key_count,
        history.events().len()
    );
    if mismatch {
        eprintln!("error: a verdict differs from the expected one");
        return 1;
    }
    0
}

/// ../shared/testdata/histories beside the workspace root.
fn histories_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/histories")
}
