//! Protocols as sans-IO state machines. Each implements `sim::Node` and reaches the world only
//! through `sim::Context`: no sockets, clocks, threads or OS randomness.
//!
//! **Architecture Invariant:** this crate uses only `sim`'s protocol-facing API (`sim::api`
//! and the time, rng, history, hash and disk types it hands out), never the engine. The tidy
//! test in `xtask/tests/tidy.rs` enforces it.

pub mod broadcast;
pub mod echo;
pub mod kv_client;
pub mod processes;
pub mod rpc;
pub mod unique_ids;
pub mod wal_kv;
