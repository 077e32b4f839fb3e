//! Goal: the same state machines run for real (`cargo xtask serve`: TCP on loopback, real
//! files, fsync). A broadcast cluster spreads values over TCP; the wal-kv state machine stays
//! linearizable while its process is killed (`SIGKILL`) and restarted and paused
//! (`SIGSTOP`/`SIGCONT`); and with `--lazy-fsync`, which makes a kill lose what was not synced
//! as a power cut would, the planted bug `ack-before-sync` is caught. `serve` and `client`
//! answer with their documented exit codes.
//!
//! Method: a server process on a free loopback port; four client threads speak the JSON
//! protocol, each one request at a time, recording every invocation and completion in one
//! history in wall-clock order (a lock orders the lines: an invocation is written before its
//! request leaves, a completion after its answer arrives). A nemesis thread kills and
//! restarts the server, or pauses it for a moment, every few hundred milliseconds. The history
//! is checked with the `kv` model (`set` is the model's `put`). Everything is bounded: each
//! run's length, each answer's wait (a timed-out request is indeterminate, `info`), the
//! number of kills. Every server is in its own process group and is killed when the test
//! drops it; it also exits when its stdin closes, so it dies with the test even if the test
//! is killed.

// A test of real processes: it reads the wall clock and runs threads, as the simulator never
// does.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use checkers::BuiltinModel;
use checkers::linearizability::Limits;
use checkers::report::Verdict;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port below the ephemeral range (32768 up on Linux): a port the kernel hands
/// out (`bind` to port 0) can be taken by any outgoing connection between the probe and the
/// server's own bind, or while a killed server restarts; one below the range only by another
/// explicit bind. Candidates differ per process and per call.
fn free_port() -> SocketAddr {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let (low, span) = (20_000u32, 12_000u32);
    let start = std::process::id() % span;
    for _ in 0..span {
        let offset = u32::from(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = (low + (start + offset * 7) % span) as u16;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(address).is_ok() {
            return address;
        }
    }
    panic!("no free loopback port from {low} to {}", low + span);
}

const KEYS: [&str; 3] = ["a", "b", "c"];
const CLIENTS: u64 = 4;
const ANSWER_TIMEOUT: Duration = Duration::from_millis(1500);

/// A server process, killed and reaped when dropped.
struct Server {
    child: Option<Child>,
    address: SocketAddr,
    dir: PathBuf,
    flags: Vec<String>,
}

impl Server {
    fn start(dir: &Path, flags: &[&str]) -> Server {
        let mut server = Server {
            child: None,
            address: free_port(),
            dir: dir.to_path_buf(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["serve", "--protocol", "wal-kv", "--log", "warn"])
            .arg("--listen")
            .arg(self.address.to_string())
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--exit-on-stdin-eof")
            .args(&self.flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("the xtask binary starts");
        self.child = Some(child);
        // Ready once it accepts connections (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&self.address, Duration::from_millis(100)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn kill_and_restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The history, its lines in wall-clock order.
struct History {
    lines: Mutex<Vec<String>>,
    start: Instant,
}

impl History {
    fn record(&self, process: u64, kind: &str, f: &str, key: &str, value: Value) {
        let time = self.start.elapsed().as_nanos() as u64;
        let line = json!({ "process": process, "type": kind, "f": f, "key": key, "value": value, "time": time });
        self.lines.lock().unwrap().push(line.to_string());
    }
}

/// One client: requests until `stop`, each recorded.
fn client(process: u64, address: SocketAddr, history: &History, stop: &AtomicBool) {
    let mut connection: Option<(BufReader<TcpStream>, TcpStream)> = None;
    let mut count = 0u64;
    while !stop.load(Ordering::Relaxed) {
        count += 1;
        let key = KEYS[((process * 7 + count * 13) % 3) as usize];
        let (f, request, argument) = if count.is_multiple_of(2) {
            ("get", json!({"op": "get", "key": key}), Value::Null)
        } else {
            let value = format!("{process}-{count}");
            (
                "put",
                json!({"op": "set", "key": key, "value": value}),
                json!(value),
            )
        };
        if connection.is_none() {
            match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
                    stream.set_nodelay(true).unwrap();
                    let reader = BufReader::new(stream.try_clone().unwrap());
                    connection = Some((reader, stream));
                }
                Err(_) => {
                    // Nothing was sent: nothing to record.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
        }
        let (reader, writer) = connection.as_mut().unwrap();
        history.record(process, "invoke", f, key, argument);
        let mut answer = String::new();
        let outcome = writer
            .write_all(format!("{request}\n").as_bytes())
            .and_then(|()| reader.read_line(&mut answer));
        let answer: Option<Value> = match outcome {
            Ok(n) if n > 0 => serde_json::from_str(answer.trim()).ok(),
            _ => None,
        };
        match answer {
            Some(answer) if answer["ok"] == json!(true) => {
                let value = if f == "get" {
                    answer["value"].clone()
                } else {
                    Value::Null
                };
                history.record(process, "ok", f, key, value);
            }
            Some(answer)
                if answer["error"]
                    .as_str()
                    .is_some_and(|e| !e.starts_with("timeout")) =>
            {
                // The server refused it: it did not take effect.
                history.record(process, "fail", f, key, Value::Null);
            }
            _ => {
                history.record(process, "info", f, key, Value::Null);
                connection = None;
            }
        }
    }
}

/// Runs the workload for `length` with a nemesis every 150-400 ms (`kills` of the faults are
/// kill-and-restart, the rest pauses), then checks the history.
fn run(flags: &[&str], length: Duration, name: &str) -> (Verdict, usize, u32) {
    let dir = std::env::temp_dir().join(format!("faultline-real-kv-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = Server::start(&dir, flags);
    let history = Arc::new(History {
        lines: Mutex::new(Vec::new()),
        start: Instant::now(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|process| {
            let (history, stop, address) = (history.clone(), stop.clone(), server.address);
            std::thread::spawn(move || client(process, address, &history, &stop))
        })
        .collect();
    let deadline = Instant::now() + length;
    let mut kills = 0u32;
    let mut step = 0u64;
    while Instant::now() < deadline {
        step += 1;
        std::thread::sleep(Duration::from_millis(150 + (step * 97) % 250));
        if step.is_multiple_of(3) {
            server.signal("STOP");
            std::thread::sleep(Duration::from_millis(100 + (step * 31) % 200));
            server.signal("CONT");
        } else {
            server.kill_and_restart();
            kills += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client thread");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let lines = history.lines.lock().unwrap().join("\n");
    let parsed = checkers::history::parse_history(&lines).expect("the history is well formed");
    let limits = Limits {
        duration_max: Some(Duration::from_secs(20)),
        memory_bytes_max: Some(256 << 20),
    };
    let report = BuiltinModel::Kv
        .check(&parsed, &limits)
        .expect("the history checks");
    let operations = lines.lines().filter(|l| l.contains("\"invoke\"")).count();
    (report.verdict, operations, kills)
}

#[test]
fn wal_kv_on_real_files_stays_linearizable_through_kills_and_pauses() {
    let (verdict, operations, kills) = run(&[], Duration::from_secs(6), "correct");
    assert!(operations > 100, "only {operations} operations ran");
    assert!(kills >= 5, "only {kills} kills");
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "{operations} operations, {kills} kills"
    );
}

#[test]
fn wal_kv_loses_nothing_acknowledged_when_kills_lose_unsynced_writes() {
    let (verdict, operations, kills) = run(&["--lazy-fsync"], Duration::from_secs(6), "lazy");
    assert!(
        operations > 100 && kills >= 5,
        "{operations} operations, {kills} kills"
    );
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "{operations} operations, {kills} kills"
    );
}

#[test]
fn ack_before_sync_is_caught_when_kills_lose_unsynced_writes() {
    // Each round is a fresh server; the bug shows once a kill lands between an acknowledged
    // write and its sync and a read comes after. Bounded: at most four rounds of 5 s.
    let flags = ["--lazy-fsync", "--bug", "ack-before-sync"];
    let mut tried = Vec::new();
    for round in 0..4 {
        let (verdict, operations, kills) =
            run(&flags, Duration::from_secs(5), &format!("bug{round}"));
        tried.push((verdict, operations, kills));
        if verdict == Verdict::NotLinearizable {
            eprintln!("ack-before-sync caught: {tried:?} (verdict, operations, kills per round)");
            return;
        }
    }
    panic!("ack-before-sync under --lazy-fsync was not caught: {tried:?}");
}

fn xtask(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the xtask binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.code().unwrap_or(-1), stdout)
}

#[test]
fn serve_and_client_answer_with_their_exit_codes() {
    let dir = std::env::temp_dir().join(format!("faultline-real-kv-{}-cli", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.to_str().unwrap();
    let bad_address = [
        "serve",
        "--protocol",
        "wal-kv",
        "--listen",
        "nowhere",
        "--data-dir",
        dir_text,
    ];
    assert_eq!(xtask(&bad_address).0, 2, "a bad address");
    let bad_protocol = [
        "serve",
        "--protocol",
        "paxos",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir_text,
    ];
    assert_eq!(xtask(&bad_protocol).0, 2, "an unknown protocol");

    let mut server = Server::start(&dir, &[]);
    let address = server.address.to_string();
    let client = |words: &[&str]| {
        let mut args = vec!["client", "--server", &address, "--timeout", "5s"];
        args.extend_from_slice(words);
        xtask(&args)
    };
    assert_eq!(client(&["set", "a", "1"]), (0, "ok".to_string()));
    assert_eq!(client(&["get", "a"]), (0, "1".to_string()));
    assert_eq!(client(&["get", "missing"]), (0, String::new()));
    assert_eq!(client(&["frob", "a"]).0, 2, "an unknown command");
    let too_long = [
        "client",
        "--server",
        &address,
        "--timeout",
        "2h",
        "get",
        "a",
    ];
    assert_eq!(xtask(&too_long).0, 2, "a timeout past its limit");
    // SIGTERM: a clean exit.
    server.signal("TERM");
    let mut child = server.child.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "SIGTERM ends the server cleanly");
    let unreachable = client(&["get", "a"]);
    assert_eq!(unreachable.0, 3, "nobody listens any more");
    // Reusing the directory is recovery.
    server.spawn();
    assert_eq!(client(&["get", "a"]), (0, "1".to_string()));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

// Goal: the host is generic: three broadcast nodes, real processes linked by TCP, spread a
// value given to one of them to the others. Method: free ports for peers and clients; the
// topology, then a broadcast on n0, then reads on every node until they hold it (bounded).
#[test]
fn a_broadcast_cluster_spreads_values_over_real_links() {
    let peers: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let clients: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let peer_list = peers
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let base = std::env::temp_dir().join(format!("faultline-real-bc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let mut nodes: Vec<Child> = (0..3)
        .map(|id| {
            Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args([
                    "serve",
                    "--protocol",
                    "broadcast",
                    "--log",
                    "warn",
                    "--exit-on-stdin-eof",
                ])
                .args(["--id", &id.to_string(), "--peers", &peer_list])
                .args(["--listen", &clients[id].to_string()])
                .arg("--data-dir")
                .arg(base.join(id.to_string()))
                .stdin(Stdio::piped())
                .process_group(0)
                .spawn()
                .expect("the xtask binary starts")
        })
        .collect();
    let ask = |node: usize, request: Value| -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(stream) =
                TcpStream::connect_timeout(&clients[node], Duration::from_millis(200))
            {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut answer = String::new();
                if writer.write_all(format!("{request}\n").as_bytes()).is_ok()
                    && BufReader::new(stream).read_line(&mut answer).is_ok()
                    && let Ok(answer) = serde_json::from_str(answer.trim())
                {
                    return answer;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {node} never answered {request}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let topology = json!({"op": "topology", "topology": {"0": [1, 2], "1": [0, 2], "2": [0, 1]}});
    for node in 0..3 {
        assert_eq!(ask(node, topology.clone())["ok"], json!(true));
    }
    assert_eq!(
        ask(0, json!({"op": "broadcast", "value": 42}))["ok"],
        json!(true)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in 0..3 {
        while ask(node, json!({"op": "read"}))["values"] != json!([42]) {
            assert!(Instant::now() < deadline, "node {node} never learned 42");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for node in &mut nodes {
        let _ = node.kill();
        let _ = node.wait();
    }
    let _ = std::fs::remove_dir_all(&base);
}
