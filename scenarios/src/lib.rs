//! Faultline's built-in scenarios: its protocols bound to a workload, a fault plan and the
//! checks that judge a run. Each is a [`Scenario`] of the toolbox (`faultline-toolbox`), which
//! holds what any protocol's scenarios share (the trait, the harness, the runner, the shrinker
//! and the command line); [`toolbox`] registers them all for `cargo xtask`.
//!
//! A scenario is written as data, a specification file (`spec.rs`; the built-in ones are
//! `scenarios/specs/*.toml`, compiled in), and runs through its family's adapter (`echo.rs`,
//! `unique_ids.rs`, `broadcast.rs`, `rpc.rs`, `wal_kv.rs`), found through the registries
//! (`registry.rs`).

pub mod broadcast;
mod echo;
mod raft;
pub mod registry;
pub mod rpc;
pub mod spec;
mod unique_ids;
mod wal_kv;

use faultline_toolbox::{Scenario, Toolbox};
use std::path::Path;

/// Every built-in scenario, in the order `list` shows them: the specification files of
/// `scenarios/specs/`, compiled in.
pub fn all() -> &'static [&'static dyn Scenario] {
    static ALL: std::sync::OnceLock<Vec<&'static dyn Scenario>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        faultline_toolbox::spec::built_in(registry::REGISTRY, "scenarios/specs", spec::BUILT_IN)
    })
}

/// The scenario of a specification file (`--scenario-file`): read, checked and kept for the
/// rest of the process. Errors are `FILE:LINE: message`.
pub fn load_file(path: &Path) -> Result<&'static dyn Scenario, String> {
    toolbox().load_file(path)
}

/// The built-in scenarios as the command line sees them: called as `cargo xtask`, reading
/// specification files, keeping the regression corpus in `scenarios/corpus/`.
pub fn toolbox() -> Toolbox {
    Toolbox::new("cargo xtask", all().to_vec())
        .with_registry(registry::REGISTRY)
        .with_corpus(corpus_folder())
}

/// The regression corpus of this checkout: failing plans of the built-in scenarios, each with
/// what it caught (`faultline_toolbox::corpus`).
pub fn corpus_folder() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The built-in scenario called `name`, or an error that lists the valid names.
pub fn find(name: &str) -> Result<&'static dyn Scenario, String> {
    toolbox().find(name)
}
