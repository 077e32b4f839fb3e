//! The protocol API: everything a protocol sees of the world, and nothing of the simulator.
//!
//! A protocol implements [`Node`]. Its host (the simulator, a real host on sockets and files,
//! or a unit test) builds a [`Context`] for each handler call from the node's inputs (its id,
//! its peers, its local clock, its random stream) and an effect buffer; the handler pushes
//! [`Effect`]s (send, set or cancel a timer, a disk operation, history records, annotations,
//! metrics, observations for checkers) and the host carries them out after it returns. Timers are keyed by value, messages
//! carry a wire encoding ([`Wire`]), and disks keep the contract in [`disk`].
//!
//! **Architecture Invariant:** this crate depends on no part of the simulator; `protocols/`
//! depends on this crate and not on `sim` (a test reads the manifest).

pub mod disk;
pub mod hash;
pub mod history;
mod node;
pub mod observe;
pub mod ops;
pub mod rng;
pub mod testing;
pub mod time;
pub mod wire;

pub use disk::{DiskOp, IoError, IoId, IoResult};
pub use hash::StableHasher;
pub use history::{Event as HistoryEvent, EventKind};
pub use node::{
    Context, Effect, Either, Inputs, Message, NoObservation, NoTimer, Node, NodeId, Observation,
    Timer,
};
pub use observe::{Observed, OnlineChecker, Violation};
pub use ops::{OpCursor, OpDraw, Script, Taken, WrittenOp, op_key};
pub use rng::{KeyedRng, Keys, Rng};
pub use time::{Duration, Instant};
pub use wire::{Wire, WireError};
