//! Faultline's simulation engine: a single-threaded discrete-event simulator with virtual
//! time, a faulty network, per-node clocks and a trace of every event. It knows no protocol:
//! protocols implement [`Node`] against the protocol-facing API in [`api`], and scenarios drive
//! a [`Simulation`].
//!
//! A run is a pure function of its seed (and plan): the same seed replays the same message
//! order, the same losses, partitions, crashes and clock jumps, event for event.

pub mod disk;
#[cfg(test)]
mod disk_contract_tests;
mod engine;
pub mod limits;
pub mod net;
pub mod plan;
pub mod report;
pub mod testing;
pub mod trace;

/// The protocol API, a crate of its own so that protocols depend on it and not on the engine.
pub use faultline_api as api;
pub use faultline_api::{hash, history, rng, time};

pub use api::{
    Context, Effect, Either, IoId, Message, NoObservation, NoTimer, Node, NodeId, Observation,
    OnlineChecker, Timer, Wire,
};
pub use disk::{Disk, DiskConfig, DiskFaults, DiskOp, IoError, IoResult};
pub use engine::{
    Config, Halt, INSTANT_EVENTS_MAX, NetworkStats, ObservationRecord, Simulation,
    capture_log_line, current_event,
};
pub use hash::StableHasher;
pub use history::{Event as HistoryEvent, EventKind};
pub use net::{Latency, LinkConfig, Partition};
pub use plan::{Fault, FaultBudget, Plan, ScheduledFault, Swarm};
pub use report::{Metrics, Outcome, Quantiles, Report, Verdict};
pub use rng::{KeyedRng, Keys, Rng};
pub use time::{Duration, Instant};
pub use trace::{DropReason, Trace, TraceEvent, TraceLevel, TraceRecord, TraceSink};
