//! Faultline's example crate: a small replicated key-value store (primary-backup) tested the
//! way Faultline tests its own protocols, for you to copy and make your own (README.md says
//! how).
//!
//! - [`protocol`]: the servers, the workload client and an online checker, written against
//!   the protocol API (`faultline-api`) alone, so the same state machines could run on any
//!   host.
//! - [`scenario`]: the store's scenarios for the simulator, built from the toolbox
//!   (`faultline-toolbox`): the fault mix, the plan, the run and its checks.
//! - `main.rs`: the command line (`list`, `fuzz`, `replay`, `shrink`, `show`, `merge`) over
//!   those scenarios; `tests/` the determinism check and the planted bugs.

pub mod protocol;
pub mod scenario;
