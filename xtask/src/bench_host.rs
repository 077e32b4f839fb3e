//! `cargo xtask bench host`: the real wal-kv server on loopback, beside the same workload in
//! simulation.
//!
//! Real: this binary's `serve --protocol wal-kv` runs as a child process with its data
//! directory under `target/` (`--dir`; the filesystem type is printed: a tmpfs would measure
//! memory, not a disk), and 1, 8 and 64 client threads each keep one request in flight over
//! one connection, without think time: half `set`s of a fresh value, half `get`s, over 100
//! keys. Every `set` is acknowledged only once synced (the server batches the writes that
//! arrive together into one fsync). Each client count runs `--seconds` of wall time.
//!
//! Simulated: the same workload (that many processes, 1 ms of mean think time, the least a
//! simulated client takes; 100 keys; the `kv` client's mix) on the simulated wal-kv with its
//! default disk (syncs of 0.5 to 5 ms) and 1 ms links, no faults, 11 virtual seconds; its
//! figure is operations completed per virtual second.
//!
//! Printed: a tab-separated header and one row per client count: `clients`,
//! `real_ops_per_s`, `real_p50_ms`, `real_p99_ms`, `sim_ops_per_virtual_s`. No target: the
//! figures describe this machine's disk.

// Real clients: threads and the wall clock, as simulated code never has them.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::serve::Connection;
use faultline_toolbox::cli::EXIT_BAD_INPUT;
use serde_json::json;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct HostArgs {
    /// Wall-clock seconds per client count (1 to 600).
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Where the server keeps its data (created; removed afterwards).
    #[arg(long, default_value = "target/bench-host")]
    dir: PathBuf,
}

const CLIENT_COUNTS: [usize; 3] = [1, 8, 64];
const KEYS: u64 = 100;

pub fn run(args: HostArgs) -> i32 {
    if !(1..=600).contains(&args.seconds) {
        eprintln!("error: --seconds is {}; it must be 1 to 600", args.seconds);
        return EXIT_BAD_INPUT;
    }
    println!("clients\treal_ops_per_s\treal_p50_ms\treal_p99_ms\tsim_ops_per_virtual_s");
    for clients in CLIENT_COUNTS {
        let real = match real(&args, clients) {
            Ok(real) => real,
            Err(message) => {
                eprintln!("error: {message}");
                return 1;
            }
        };
        let simulated = match simulated(clients) {
            Ok(simulated) => simulated,
            Err(message) => {
                eprintln!("error: {message}");
                return 1;
            }
        };
        println!(
            "{clients}\t{:.0}\t{:.3}\t{:.3}\t{simulated:.0}",
            real.0, real.1, real.2
        );
    }
    0
}

/// The filesystem type under `path`, from /proc/mounts (the longest mount point above it).
fn filesystem(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max()
        .map_or_else(|| "unknown".to_string(), |(_, kind)| kind)
}

/// A server child, killed when dropped.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Operations per second, p50 and p99 in milliseconds.
fn real(args: &HostArgs, clients: usize) -> Result<(f64, f64, f64), String> {
    let dir = args.dir.join(format!("wal-kv-{clients}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!(
        "bench host: {clients} clients, data in {} ({})",
        dir.display(),
        filesystem(&dir)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args([
            "serve",
            "--protocol",
            "wal-kv",
            "--log",
            "warn",
            "--exit-on-stdin-eof",
        ])
        .arg("--listen")
        .arg(address.to_string())
        .arg("--data-dir")
        .arg(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let _server = ServerChild(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
        if Instant::now() > deadline {
            return Err("the server did not start listening within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let latencies = latencies.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut connection = Connection::open(address, Duration::from_secs(10))?;
                let mut mine = Vec::new();
                let mut count = 0u64;
                while Instant::now() < end {
                    count += 1;
                    let key = format!("k{}", (client as u64 * 31 + count * 7) % KEYS);
                    let request = if count.is_multiple_of(2) {
                        json!({"op": "get", "key": key})
                    } else {
                        json!({"op": "set", "key": key, "value": format!("{client}-{count}")})
                    };
                    let sent = Instant::now();
                    let answer = connection.ask(&request)?;
                    if answer["ok"] != json!(true) {
                        return Err(format!("the server answered {answer}"));
                    }
                    mine.push(sent.elapsed());
                }
                latencies.lock().expect("no client panicked").extend(mine);
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a client panicked")??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies = std::mem::take(&mut *latencies.lock().expect("no client panicked"));
    latencies.sort();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok((
        latencies.len() as f64 / elapsed,
        quantile(0.5),
        quantile(0.99),
    ))
}

/// Client operations per virtual second of the simulated wal-kv under the same workload.
fn simulated(clients: usize) -> Result<f64, String> {
    let text = format!(
        r#"name = "wal-kv-bench"
description = "the bench host workload in simulation"
checkers = ["answered-after-heal"]
[nodes]
kind = "wal-kv"
count = 1
[clients]
count = 1
processes = {clients}
[workload]
kind = "kv"
keys = {KEYS}
think_mean = "1ms"
timeout = "1s"
[network]
latency = {{ constant = "1ms" }}
clients = {{ latency = {{ constant = "1ms" }} }}
[phases]
safety = "10s"
liveness = "1s"
"#
    );
    let scenario = scenarios::spec::parse("bench host (simulated)", &text, None)?;
    let plan = faultline_toolbox::Scenario::plan(&scenario, 0, None);
    let run = faultline_toolbox::Scenario::run(&scenario, &plan, sim::TraceLevel::Hash)?;
    let completed = run
        .history
        .iter()
        .filter(|e| e.kind == faultline_api::EventKind::Ok)
        .count();
    let virtual_s = (plan.safety_duration + plan.liveness_duration).as_nanos() as f64 / 1e9;
    Ok(completed as f64 / virtual_s)
}
