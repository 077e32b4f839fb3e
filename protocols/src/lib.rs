//! Protocols as sans-IO state machines. Each implements `faultline_api::Node` and reaches the
//! world only through `faultline_api::Context`: no sockets, clocks, threads, files or OS
//! randomness. The same state machines run in the simulator and on any other host.
//!
//! **Architecture Invariant:** this crate depends on the protocol API (`faultline-api`) and
//! not on the simulator; a test in `xtask/tests/tidy.rs` reads `protocols/Cargo.toml` to keep
//! it so.

pub mod broadcast;
pub mod echo;
pub mod kv_client;
pub mod processes;
pub mod raft;
pub mod rpc;
pub mod unique_ids;
pub mod wal;
pub mod wal_kv;
