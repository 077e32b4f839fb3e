//! The real host: runs an unmodified node of the protocol API (`faultline_api::Node`) as an
//! operating-system process, the same state machine the simulator runs.
//!
//! - **Messages** to peers go over TCP as length-delimited frames of the messages' wire
//!   encoding (`Wire`), one connection per ordered pair of nodes, reconnecting with backoff;
//!   a message that cannot be sent is dropped, as a lossy network would (`net`).
//! - **Timers** run on the monotonic clock; `Context::now` is the time since the process
//!   started.
//! - **Disk operations** run on real files under the node's data directory, in submission
//!   order on one I/O thread per node (the disk contract's ordered queue): `Sync` is `fsync`
//!   of the file, `SyncDir` `fsync` of the directory (`disk`). `--lazy-fsync`, a testing mode,
//!   holds unsynced writes in the process so that `kill -9` loses them like a power cut.
//! - **Randomness** comes from the seed given on the command line, per node and incarnation
//!   (the incarnation counts the starts of a data directory), so a real run's draws repeat.
//! - **Clients** speak newline-delimited JSON to a per-protocol `Gateway`, outside the state
//!   machine, which turns a line into a message and a reply message back into a line; each
//!   connection is a client node of its own (`gateway`).
//! - **Logs** go through `tracing`, with the simulator's trace event names (`start`,
//!   `deliver`, `send`, `fire`, `disk`, `disk-done`, `observe`, `note`), so a real run and a
//!   simulated one read alike.
//!
//! Why tokio: one node's sockets, timers, signals and client connections are many waits on
//! one event loop; tokio's current-thread runtime gives that with bounded, cancellable waits
//! (connect and read timeouts, reconnect backoff) and safe signal handling, while the node's
//! handlers still run one at a time on one thread. Disk operations block, so they run on a
//! blocking thread of their own, in order.

pub mod disk;
pub mod gateway;
pub mod net;
pub mod run;

pub use gateway::{Gateway, LINE_BYTES_MAX};
pub use run::{HostConfig, HostError, run};
