//! `serve`: a protocol's node as a real server (`faultline_host`), and its client gateway;
//! `client`: the command-line client of the key-value servers.
//!
//! The gateways turn newline-delimited JSON into the protocols' own client messages:
//!
//! | protocol | request | answer |
//! |---|---|---|
//! | `wal-kv` | `{"op":"set","key":K,"value":V}` | `{"ok":true}` |
//! | | `{"op":"get","key":K}` | `{"ok":true,"value":V}` (`""` for a missing key) |
//! | | `{"op":"append","key":K,"value":V}` | `{"ok":true}` |
//! | `echo` | `{"op":"echo","payload":N}` | `{"ok":true,"payload":N}` |
//! | `broadcast` | `{"op":"topology","topology":{"0":[1],"1":[0]}}` (each node's neighbours) | `{"ok":true}` |
//! | | `{"op":"broadcast","value":N}` | `{"ok":true}` |
//! | | `{"op":"read"}` | `{"ok":true,"values":[..]}` |
//!
//! Anything else is answered `{"ok":false,"error":"..."}` naming what is wrong (an unknown
//! op, malformed JSON, a key or value too long); the connection stays open. `set` is the
//! `kv` history model's `put`: a recorded real run is checked with the `kv` model.

use faultline_host::{Gateway, HostConfig};
use faultline_toolbox::cli::EXIT_BAD_INPUT;
use protocols::broadcast::{BroadcastConfig, BroadcastMessage, BroadcastServer};
use protocols::echo::{EchoMessage, EchoServer};
use protocols::kv_client::{KvOp, KvReply};
use protocols::wal_kv::{WalBug, WalKv, WalMessage};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// The longest key a gateway accepts, in bytes.
pub const KEY_BYTES_MAX: usize = 1024;
/// The longest value a gateway accepts, in bytes.
pub const VALUE_BYTES_MAX: usize = 16 << 10;
/// Exit code: the server could not be reached in time.
const EXIT_UNREACHABLE: i32 = 3;
/// Servers a cluster may have (`--peers`), as in a simulation.
const PEERS_MAX: usize = sim::limits::WORKLOAD_NODES_MAX as usize;
/// The longest `client --timeout`.
const CLIENT_TIMEOUT_MAX: sim::Duration = sim::Duration::from_secs(3600);

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The protocol: wal-kv, echo or broadcast.
    #[arg(long)]
    protocol: String,
    /// Where clients connect (newline-delimited JSON); port 0 picks a free port, printed on
    /// the first line of stdout as `listening ADDR`.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// The data directory (created if missing; reusing one is recovery).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// This node's id: its index in --peers (echo and broadcast).
    #[arg(long, default_value_t = 0)]
    id: u32,
    /// Every server's peer address, in id order, comma-separated (echo and broadcast).
    #[arg(long, value_name = "ADDR,ADDR,...", value_delimiter = ',')]
    peers: Vec<String>,
    /// The seed of the node's random draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// TESTING ONLY: hold unsynced writes in the process, so that `kill -9` loses them like a
    /// power cut (as Jepsen's LazyFS does). Never use it for data you want to keep.
    #[arg(long)]
    lazy_fsync: bool,
    /// A planted bug of the protocol (wal-kv: ack-before-sync, trust-torn-length,
    /// no-checksum), for tests.
    #[arg(long)]
    bug: Option<String>,
    /// Exit when stdin closes: a test's servers end when the test does, even if it is killed.
    #[arg(long, hide = true)]
    exit_on_stdin_eof: bool,
    /// Log level on stderr: off, error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log: String,
}

#[derive(clap::Args)]
pub struct ClientArgs {
    /// The server's client address.
    #[arg(long, value_name = "ADDR")]
    server: String,
    /// How long to wait for the server, per connection attempt and per answer (`5s`).
    #[arg(long, default_value = "5s")]
    timeout: String,
    /// `get KEY` or `set KEY VALUE`; without one, an interactive session reads commands from
    /// stdin (prompts on stderr).
    command: Vec<String>,
}

/// `cargo xtask serve`.
pub fn serve(args: ServeArgs) -> i32 {
    let Some(level) = log_level(&args.log) else {
        eprintln!(
            "error: unknown --log `{}`; valid levels: off, error, warn, info, debug, trace",
            args.log
        );
        return EXIT_BAD_INPUT;
    };
    let _already_set = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    match configure(&args) {
        Ok(config) => launch(&args, config),
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_BAD_INPUT
        }
    }
}

fn log_level(name: &str) -> Option<tracing::level_filters::LevelFilter> {
    use tracing::level_filters::LevelFilter;
    Some(match name {
        "off" => LevelFilter::OFF,
        "error" => LevelFilter::ERROR,
        "warn" => LevelFilter::WARN,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ => return None,
    })
}

fn address(text: &str, what: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{what} `{text}` is not an address (HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("{what} `{text}` resolves to no address"))
}

fn configure(args: &ServeArgs) -> Result<HostConfig, String> {
    const PROTOCOLS: &str = "wal-kv, echo, broadcast";
    if !["wal-kv", "echo", "broadcast"].contains(&args.protocol.as_str()) {
        return Err(format!(
            "unknown protocol `{}`; valid protocols: {PROTOCOLS}",
            args.protocol
        ));
    }
    if args.protocol == "wal-kv" && !args.peers.is_empty() {
        return Err("wal-kv runs as a single server: give no --peers".into());
    }
    if args.peers.len() > PEERS_MAX {
        return Err(format!(
            "--peers names {} servers; the limit is {PEERS_MAX}",
            args.peers.len()
        ));
    }
    let mut peers = BTreeMap::new();
    for (index, peer) in args.peers.iter().enumerate() {
        let node = faultline_api::NodeId(index as u32);
        peers.insert(node, address(peer, &format!("--peers entry {index}"))?);
    }
    if !peers.is_empty() && args.id as usize >= peers.len() {
        return Err(format!(
            "--id {} is not an index of --peers (0 to {})",
            args.id,
            peers.len() - 1
        ));
    }
    if args.data_dir.exists() && !args.data_dir.is_dir() {
        return Err(format!(
            "--data-dir {} exists and is not a directory",
            args.data_dir.display()
        ));
    }
    Ok(HostConfig {
        id: faultline_api::NodeId(args.id),
        peers,
        client_listen: address(&args.listen, "--listen")?,
        data_dir: args.data_dir.clone(),
        seed: args.seed,
        lazy_fsync: args.lazy_fsync,
    })
}

/// Runs the node until SIGTERM or SIGINT (exit 0), or stdin's end with --exit-on-stdin-eof.
fn launch(args: &ServeArgs, config: HostConfig) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let watch_stdin = args.exit_on_stdin_eof;
    let result = runtime.block_on(async {
        let shutdown = async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return std::future::pending().await;
            };
            let stdin_closed = async {
                if !watch_stdin {
                    return std::future::pending().await;
                }
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink)
                    .await;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                () = stdin_closed => {}
            }
        };
        match args.protocol.as_str() {
            "wal-kv" => {
                let bug = match args.bug.as_deref() {
                    None => WalBug::None,
                    Some("ack-before-sync") => WalBug::AckBeforeSync,
                    Some("trust-torn-length") => WalBug::TrustTornLength,
                    Some("no-checksum") => WalBug::NoChecksum,
                    Some(other) => {
                        return Err(format!(
                            "unknown bug `{other}`; valid bugs: ack-before-sync, trust-torn-length, no-checksum"
                        ));
                    }
                };
                faultline_host::run(WalKv::new(bug), KvGateway, config, shutdown)
                    .await
                    .map_err(|e| e.to_string())
            }
            "echo" => faultline_host::run(EchoServer::default(), EchoGateway, config, shutdown)
                .await
                .map_err(|e| e.to_string()),
            _ => {
                let server = BroadcastServer::new(BroadcastConfig::fault_tolerant());
                faultline_host::run(server, BroadcastGateway, config, shutdown)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    });
    // The stdin watcher's read blocks in the runtime's blocking pool until stdin closes: do
    // not wait for it (the disk thread has ended with the node's loop).
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_BAD_INPUT
        }
    }
}

fn error_line(message: impl std::fmt::Display) -> String {
    json!({ "ok": false, "error": message.to_string() }).to_string()
}

/// The request object of a line, and its `op`.
fn parse(line: &str, ops: &[&str]) -> Result<(serde_json::Map<String, Value>, String), String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| error_line(format!("malformed JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(error_line("a request is a JSON object"));
    };
    let op = match object.get("op") {
        Some(Value::String(op)) if ops.contains(&op.as_str()) => op.clone(),
        Some(Value::String(op)) => {
            return Err(error_line(format!(
                "unknown op `{op}`; valid ops: {}",
                ops.join(", ")
            )));
        }
        _ => return Err(error_line("`op` is missing or not a string")),
    };
    Ok((object, op))
}

fn text_field(
    object: &serde_json::Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<String, String> {
    match object.get(field) {
        Some(Value::String(text)) if text.len() <= max => Ok(text.clone()),
        Some(Value::String(text)) => Err(error_line(format!(
            "`{field}` is {} bytes; the limit is {max}",
            text.len()
        ))),
        _ => Err(error_line(format!("`{field}` is missing or not a string"))),
    }
}

fn number_field(object: &serde_json::Map<String, Value>, field: &str) -> Result<u64, String> {
    object
        .get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| error_line(format!("`{field}` is missing or not a whole number")))
}

/// wal-kv's gateway: get, set (the `kv` model's put) and append.
struct KvGateway;

impl Gateway for KvGateway {
    type Message = WalMessage;

    fn request(&self, line: &str, request: u64) -> Result<WalMessage, String> {
        let (object, op) = parse(line, &["get", "set", "append"])?;
        let key = text_field(&object, "key", KEY_BYTES_MAX)?;
        let op = match op.as_str() {
            "get" => KvOp::Get { key },
            "set" => KvOp::Put {
                key,
                value: text_field(&object, "value", VALUE_BYTES_MAX)?,
            },
            _ => KvOp::Append {
                key,
                value: text_field(&object, "value", VALUE_BYTES_MAX)?,
            },
        };
        Ok(WalMessage::Request { request, op })
    }

    fn reply(&self, message: &WalMessage) -> Option<(u64, String)> {
        let WalMessage::Reply { request, reply } = message else {
            return None;
        };
        let line = match reply {
            KvReply::Value(value) => json!({ "ok": true, "value": value }),
            KvReply::Done => json!({ "ok": true }),
            KvReply::Failed(reason) => json!({ "ok": false, "error": reason }),
            KvReply::Swapped(swapped) => json!({ "ok": true, "swapped": swapped }),
            KvReply::NotLeader { .. } => json!({ "ok": false, "error": "not the leader" }),
        };
        Some((*request, line.to_string()))
    }
}

struct EchoGateway;

impl Gateway for EchoGateway {
    type Message = EchoMessage;

    fn request(&self, line: &str, request: u64) -> Result<EchoMessage, String> {
        let (object, _) = parse(line, &["echo"])?;
        let payload = number_field(&object, "payload")?;
        Ok(EchoMessage::Request {
            id: request,
            payload,
        })
    }

    fn reply(&self, message: &EchoMessage) -> Option<(u64, String)> {
        match message {
            EchoMessage::Reply { id, payload } => {
                Some((*id, json!({ "ok": true, "payload": payload }).to_string()))
            }
            EchoMessage::Request { .. } => None,
        }
    }
}

struct BroadcastGateway;

impl Gateway for BroadcastGateway {
    type Message = BroadcastMessage;

    fn request(&self, line: &str, request: u64) -> Result<BroadcastMessage, String> {
        let (object, op) = parse(line, &["topology", "broadcast", "read"])?;
        Ok(match op.as_str() {
            "topology" => BroadcastMessage::Topology {
                request,
                topology: topology(&object)?,
            },
            "broadcast" => BroadcastMessage::Broadcast {
                request,
                value: number_field(&object, "value")?,
            },
            _ => BroadcastMessage::Read { request },
        })
    }

    fn reply(&self, message: &BroadcastMessage) -> Option<(u64, String)> {
        match message {
            BroadcastMessage::BroadcastOk { request }
            | BroadcastMessage::TopologyOk { request } => {
                Some((*request, json!({ "ok": true }).to_string()))
            }
            BroadcastMessage::ReadOk { request, values } => Some((
                *request,
                json!({ "ok": true, "values": values }).to_string(),
            )),
            _ => None,
        }
    }
}

/// A `topology` object: node ids (as strings) to lists of node ids.
fn topology(
    object: &serde_json::Map<String, Value>,
) -> Result<BTreeMap<faultline_api::NodeId, Vec<faultline_api::NodeId>>, String> {
    let bad = || error_line("`topology` maps node ids (\"0\") to lists of node ids ([1, 2])");
    let Some(Value::Object(map)) = object.get("topology") else {
        return Err(bad());
    };
    let mut topology = BTreeMap::new();
    for (node, neighbours) in map {
        let node: u32 = node.parse().map_err(|_| bad())?;
        let Value::Array(neighbours) = neighbours else {
            return Err(bad());
        };
        let neighbours = neighbours
            .iter()
            .map(|n| {
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(faultline_api::NodeId)
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        topology.insert(faultline_api::NodeId(node), neighbours);
    }
    Ok(topology)
}

/// `cargo xtask client`: exit 0 on success, 2 on bad arguments (or an error answer), 3 when
/// the server cannot be reached within the timeout.
pub fn client(args: ClientArgs) -> i32 {
    let timeout = match sim::Duration::parse_flag(&args.timeout) {
        Ok(t) if t > sim::Duration::ZERO && t <= CLIENT_TIMEOUT_MAX => {
            Duration::from_nanos(t.as_nanos())
        }
        Ok(t) => {
            eprintln!(
                "error: --timeout is {t}; it must be above 0 and at most {CLIENT_TIMEOUT_MAX}"
            );
            return EXIT_BAD_INPUT;
        }
        Err(e) => {
            eprintln!("error: --timeout: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let server = match address(&args.server, "--server") {
        Ok(server) => server,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.command.is_empty() {
        return interactive(server, timeout);
    }
    let request = match command_line(&args.command) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut connection = match Connection::open(server, timeout) {
        Ok(connection) => connection,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_UNREACHABLE;
        }
    };
    match connection.ask(&request) {
        Ok(answer) => print_answer(&request, &answer),
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_UNREACHABLE
        }
    }
}

/// `get KEY` or `set KEY VALUE` as a request object.
fn command_line(words: &[String]) -> Result<Value, String> {
    match words {
        [op, key] if op == "get" => Ok(json!({ "op": "get", "key": key })),
        [op, key, value] if op == "set" => Ok(json!({ "op": "set", "key": key, "value": value })),
        _ => Err(format!(
            "unknown command `{}`; valid commands: get KEY, set KEY VALUE",
            words.join(" ")
        )),
    }
}

/// Prints a get's value (empty for a missing key) or `ok`; an error answer goes to stderr.
fn print_answer(request: &Value, answer: &Value) -> i32 {
    if answer.get("ok") != Some(&Value::Bool(true)) {
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("?");
        eprintln!("error: the server answered: {error}");
        return EXIT_BAD_INPUT;
    }
    if request.get("op").and_then(Value::as_str) == Some("get") {
        println!(
            "{}",
            answer.get("value").and_then(Value::as_str).unwrap_or("")
        );
    } else {
        println!("ok");
    }
    0
}

fn interactive(server: SocketAddr, timeout: Duration) -> i32 {
    let mut connection = match Connection::open(server, timeout) {
        Ok(connection) => connection,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_UNREACHABLE;
        }
    };
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return 0,
            Ok(_) => {}
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            continue;
        }
        let request = match command_line(&words) {
            Ok(request) => request,
            Err(message) => {
                eprintln!("error: {message}");
                continue;
            }
        };
        match connection.ask(&request) {
            Ok(answer) => {
                print_answer(&request, &answer);
            }
            Err(message) => {
                eprintln!("error: {message}");
                return EXIT_UNREACHABLE;
            }
        }
    }
}

/// One client connection: a request line out, an answer line back.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    /// Connects within `timeout`; answers must come within it too.
    pub fn open(server: SocketAddr, timeout: Duration) -> Result<Connection, String> {
        let stream = TcpStream::connect_timeout(&server, timeout)
            .map_err(|e| format!("cannot reach {server} within {timeout:?}: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends `request` and reads its answer.
    pub fn ask(&mut self, request: &Value) -> Result<Value, String> {
        let line = format!("{request}\n");
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("sending: {e}"))?;
        let mut answer = String::new();
        match self.reader.read_line(&mut answer) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => serde_json::from_str(answer.trim())
                .map_err(|e| format!("the server's answer is not JSON: {e}")),
            Err(e) => Err(format!("no answer: {e}")),
        }
    }
}
