//! The node's event loop: one handler at a time, its effects carried out on sockets, timers
//! and files.

use crate::disk::RealDisk;
use crate::gateway::{self, CLIENT_BASE, Gateway};
use crate::net;
use faultline_api::disk::{DiskOp, IoId, IoResult};
use faultline_api::rng::stream;
use faultline_api::{Context, Effect, Inputs, Keys, Node, NodeId, Rng, Wire};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Where and how one node runs.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// This node.
    pub id: NodeId,
    /// Every server's peer address, this node's own included (where it listens for peers).
    /// A node without peers (a single server) may leave it empty.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Where clients connect (the JSON gateway).
    pub client_listen: SocketAddr,
    /// The data directory: the node's files live in `node/` under it, the host's own
    /// (`incarnation`) beside it. Reusing a directory is recovery.
    pub data_dir: PathBuf,
    /// The seed of the node's random stream (with its id and incarnation).
    pub seed: u64,
    /// Hold unsynced writes in the process (a testing mode: `kill -9` loses them).
    pub lazy_fsync: bool,
}

/// Why a node could not start.
#[derive(Debug)]
pub enum HostError {
    /// An address could not be bound.
    Address(String),
    /// The data directory is unusable.
    DataDir(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Address(message) | HostError::DataDir(message) => f.write_str(message),
        }
    }
}

/// What wakes the node's loop.
pub(crate) enum Input<M> {
    /// A client connection opened; its answers go to `answers`.
    ClientJoined {
        conn: NodeId,
        answers: mpsc::Sender<M>,
    },
    ClientLeft {
        conn: NodeId,
    },
    /// A request of a client connection.
    Client {
        conn: NodeId,
        message: M,
    },
}

/// The node's loop state: everything a handler's effects touch.
struct Host<N: Node> {
    node: N,
    id: NodeId,
    incarnation: u32,
    members: Vec<NodeId>,
    rng: Rng,
    keys: Keys,
    next_io: u64,
    started: Instant,
    effects: Vec<Effect<N::Message, N::Timer, N::Observation>>,
    /// Pending timers: when each is due, and its order of setting (ties fire in that order).
    timers: BTreeMap<N::Timer, (Instant, u64)>,
    timer_sequence: u64,
    peers: BTreeMap<NodeId, mpsc::Sender<Vec<u8>>>,
    clients: BTreeMap<NodeId, mpsc::Sender<N::Message>>,
    /// Messages to this node itself, delivered after the handler.
    loopback: Vec<N::Message>,
    disk: std::sync::mpsc::Sender<(IoId, DiskOp)>,
}

/// Runs `node` until `shutdown` completes (SIGTERM, say); clients speak through `gateway`.
/// Errors come before the node starts: an address that cannot be bound, a data directory that
/// cannot be used.
pub async fn run<N, G>(
    node: N,
    gateway: G,
    config: HostConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), HostError>
where
    N: Node,
    N::Message: Send,
    G: Gateway<Message = N::Message>,
{
    let node_dir = config.data_dir.join("node");
    std::fs::create_dir_all(&node_dir).map_err(|e| {
        HostError::DataDir(format!(
            "cannot use data directory {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let incarnation = next_incarnation(&config.data_dir)?;
    let mut disk = RealDisk::open(&node_dir, config.lazy_fsync).map_err(HostError::DataDir)?;
    let bind = |address: SocketAddr| async move {
        TcpListener::bind(address)
            .await
            .map_err(|e| HostError::Address(format!("cannot listen on {address}: {e}")))
    };
    let peer_listener = match config.peers.get(&config.id) {
        Some(&address) => Some(bind(address).await?),
        None => None,
    };
    let client_listener = bind(config.client_listen).await?;
    let client_address = client_listener
        .local_addr()
        .map_err(|e| HostError::Address(e.to_string()))?;

    let (inputs, mut input_rx) = mpsc::unbounded_channel::<Input<N::Message>>();
    let (frames, mut frame_rx) = mpsc::channel::<(NodeId, Vec<u8>)>(net::RECEIVED_MAX);
    let (disk_tx, disk_rx) = std::sync::mpsc::channel::<(IoId, DiskOp)>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(IoId, IoResult)>();
    // The ordered I/O queue: one thread carries out the node's disk operations in order.
    tokio::task::spawn_blocking(move || {
        while let Ok((id, op)) = disk_rx.recv() {
            let result = disk.apply(&op);
            if done_tx.send((id, result)).is_err() {
                return;
            }
        }
    });
    if let Some(listener) = peer_listener {
        tokio::spawn(net::accept(listener, frames));
    }
    tokio::spawn(gateway::serve(client_listener, Arc::new(gateway), inputs));
    let mut peers = BTreeMap::new();
    for (&peer, &address) in config.peers.iter().filter(|(p, _)| **p != config.id) {
        let (tx, rx) = mpsc::channel(net::QUEUE_MAX);
        tokio::spawn(net::dial(config.id, address, rx));
        peers.insert(peer, tx);
    }
    let mut members: Vec<NodeId> = config.peers.keys().copied().collect();
    if !members.contains(&config.id) {
        members.push(config.id);
        members.sort();
    }
    let mut host = Host {
        node,
        id: config.id,
        incarnation,
        members,
        rng: Rng::for_node(config.seed, config.id.0, incarnation),
        keys: Keys::new(config.seed, stream::KEYED_BASE + u64::from(config.id.0)),
        next_io: 0,
        started: Instant::now(),
        effects: Vec::new(),
        timers: BTreeMap::new(),
        timer_sequence: 0,
        peers,
        clients: BTreeMap::new(),
        loopback: Vec::new(),
        disk: disk_tx,
    };
    tracing::info!(
        event = "start",
        node = %host.id,
        incarnation,
        clients = %client_address,
        lazy_fsync = config.lazy_fsync,
        "listening"
    );
    host.call(|node, ctx| node.on_start(ctx));
    tokio::pin!(shutdown);
    loop {
        let next_timer = host.timers.values().map(|&(due, _)| due).min();
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some((id, result)) = done_rx.recv() => {
                tracing::debug!(event = "disk-done", node = %host.id, io = id.0, result = %result.describe());
                host.call(|node, ctx| node.on_disk(ctx, id, result));
            }
            Some((from, frame)) = frame_rx.recv() => match N::Message::decode(&frame) {
                Ok(message) => host.deliver(from, message),
                Err(error) => tracing::warn!(event = "undecodable", node = %host.id, %from, %error),
            },
            Some(input) = input_rx.recv() => match input {
                Input::ClientJoined { conn, answers } => {
                    host.clients.insert(conn, answers);
                }
                Input::ClientLeft { conn } => {
                    host.clients.remove(&conn);
                }
                Input::Client { conn, message } => host.deliver(conn, message),
            },
            () = sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                host.fire_due();
            }
        }
    }
    tracing::info!(event = "stop", node = %host.id, "shutting down");
    Ok(())
}

/// Counts this start of the data directory: 0 for the first. Written and synced before the
/// node starts, so two starts never share an incarnation (nor a random stream).
fn next_incarnation(data_dir: &std::path::Path) -> Result<u32, HostError> {
    let path = data_dir.join("incarnation");
    let error =
        |e: std::io::Error| HostError::DataDir(format!("cannot use {}: {e}", path.display()));
    let incarnation = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u32>()
            .map_or(0, |n| n.saturating_add(1)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(error(e)),
    };
    let file = std::fs::File::create(&path).map_err(error)?;
    use std::io::Write;
    (&file)
        .write_all(incarnation.to_string().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(error)?;
    Ok(incarnation)
}

impl<N: Node> Host<N>
where
    N::Message: Send,
{
    /// Runs one handler and carries out its effects.
    fn call(
        &mut self,
        handler: impl FnOnce(&mut N, &mut Context<'_, N::Message, N::Timer, N::Observation>),
    ) {
        let now = faultline_api::Instant::from_nanos(self.started.elapsed().as_nanos() as u64);
        let inputs = Inputs {
            id: self.id,
            incarnation: self.incarnation,
            now,
            members: &self.members,
            rng: &mut self.rng,
            keys: self.keys,
            next_io: &mut self.next_io,
        };
        let mut effects = std::mem::take(&mut self.effects);
        let mut ctx = Context::new(inputs, &mut effects);
        handler(&mut self.node, &mut ctx);
        for effect in effects.drain(..) {
            self.carry_out(effect);
        }
        self.effects = effects;
        for message in std::mem::take(&mut self.loopback) {
            self.deliver(self.id, message);
        }
    }

    fn deliver(&mut self, from: NodeId, message: N::Message) {
        tracing::debug!(event = "deliver", node = %self.id, %from, ?message);
        self.call(|node, ctx| node.on_message(ctx, from, message));
    }

    /// Fires every timer due now, earliest first.
    fn fire_due(&mut self) {
        let now = Instant::now();
        let mut due: Vec<(Instant, u64, N::Timer)> = self
            .timers
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(timer, &(at, sequence))| (at, sequence, timer.clone()))
            .collect();
        due.sort_by_key(|&(at, sequence, _)| (at, sequence));
        for (_, _, timer) in due {
            if self.timers.remove(&timer).is_some() {
                tracing::debug!(event = "fire", node = %self.id, ?timer);
                self.call(|node, ctx| node.on_timer(ctx, timer));
            }
        }
    }

    fn carry_out(&mut self, effect: Effect<N::Message, N::Timer, N::Observation>) {
        let node = self.id;
        match effect {
            Effect::Send { to, message } => self.send(to, message),
            Effect::SetTimer { after, timer } => {
                let due = Instant::now() + std::time::Duration::from_nanos(after.as_nanos());
                self.timer_sequence += 1;
                self.timers.insert(timer, (due, self.timer_sequence));
            }
            Effect::CancelTimer { timer } => {
                self.timers.remove(&timer);
            }
            Effect::Disk { id, op } => {
                tracing::debug!(event = "disk", %node, io = id.0, op = %op.describe());
                // The I/O thread lives as long as the loop; a send fails only at shutdown.
                let _ = self.disk.send((id, op));
            }
            Effect::History(record) => tracing::info!(event = "history", %node, ?record),
            Effect::Annotate(text) => tracing::info!(event = "note", %node, "{text}"),
            Effect::Count { name, delta } => tracing::trace!(event = "count", %node, name, delta),
            Effect::Sample { name, latency } => {
                tracing::trace!(event = "sample", %node, name, %latency)
            }
            Effect::Series { name, value } => tracing::trace!(event = "series", %node, name, value),
            Effect::Observe(observation) => tracing::info!(event = "observe", %node, ?observation),
            Effect::Leading(leading) => tracing::info!(event = "leading", %node, leading),
        }
    }

    fn send(&mut self, to: NodeId, message: N::Message) {
        tracing::debug!(event = "send", node = %self.id, %to, ?message);
        if to == self.id {
            self.loopback.push(message);
        } else if to.0 >= CLIENT_BASE {
            // A client gone, or one that stopped reading: the reply is dropped.
            if let Some(answers) = self.clients.get(&to) {
                let _ = answers.try_send(message);
            }
        } else if let Some(peer) = self.peers.get(&to) {
            // A full queue drops the message, as a congested network would.
            let _ = peer.try_send(message.to_bytes());
        } else {
            tracing::warn!(event = "send", node = %self.id, %to, "no such node: dropped");
        }
    }
}
