//! Faultline's example crate: a small replicated key-value store (primary-backup) tested the
//! way Faultline tests its own protocols, for you to copy and make your own (README.md says
//! how).
//!
//! - [`protocol`]: the servers, the workload client and an online checker, written against
//!   the protocol API (`faultline-api`) alone, so the same state machines could run on any
//!   host.
//! - [`scenario`]: the names the store's scenario files (`specs/*.toml`) use, registered with
//!   the toolbox (`faultline-toolbox`), and the adapter that runs them in the simulator: the
//!   plan's workload, the nodes and client, the checks.
//! - `main.rs`: the command line (`list`, `fuzz`, `replay`, `shrink`, `show`, `merge`) over
//!   those scenarios; `tests/` the determinism check and the planted bugs.

pub mod protocol;
pub mod scenario;
