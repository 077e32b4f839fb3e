//! The registries a specification file's names are looked up in: node kinds, workloads,
//! checkers and (through each node kind) planted bugs. A tool gives its own as a [`Registry`]
//! (Faultline's are `scenarios::registry`); each lookup that fails lists the valid names.

use crate::Bug;
use crate::spec::{Adapter, File, Section, SpecError, err};

/// A kind of server node: the protocol and how it is configured.
pub struct NodeKind {
    pub name: &'static str,
    pub summary: &'static str,
    /// The `[nodes]` keys that configure this kind (besides `kind` and `count`), each required.
    pub config: &'static [&'static str],
    /// The planted bugs a file may switch on for this kind (the family's `Planted` table).
    pub bugs: fn() -> Vec<Bug>,
}

/// A workload: what the clients do, the nodes it drives and the checkers that can judge it.
pub struct WorkloadKind {
    pub name: &'static str,
    pub summary: &'static str,
    /// The node kinds it drives.
    pub node_kinds: &'static [&'static str],
    /// The `[workload]` keys it takes (besides `kind`), each required.
    pub params: &'static [&'static str],
    /// The checkers that fit it, in the order a run performs them.
    pub checkers: &'static [&'static str],
    /// Builds the family's adapter (the Rust half of its scenarios) from the file: it reads
    /// the kind's keys (`File::nodes`, `File::workload`, or a typed view, `File::view`).
    pub build: fn(&File) -> Result<Box<dyn Adapter>, SpecError>,
}

/// A checker a specification can name, besides the history checkers of `checkers::registry`
/// (which every registry has).
pub struct CheckerKind {
    pub name: &'static str,
    pub summary: &'static str,
    /// The keys of its `[check.NAME]` section, each required; empty for a checker without
    /// settings (a file may then give no such section). A file that lists a checker with
    /// settings must give the section. The toolbox checks which keys are given; the family's
    /// adapter reads and checks their values (`File::get`, or a typed view).
    pub settings: &'static [&'static str],
}

/// A tool's names: what its specification files may say.
#[derive(Clone, Copy)]
pub struct Registry {
    pub node_kinds: &'static [NodeKind],
    pub workloads: &'static [WorkloadKind],
    pub checkers: &'static [CheckerKind],
}

impl Registry {
    /// The node kind called `name`; the error lists the valid ones.
    pub fn node_kind(&self, name: &str) -> Result<&'static NodeKind, String> {
        let kinds = self.node_kinds;
        kinds.iter().find(|k| k.name == name).ok_or_else(|| {
            let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
            format!(
                "unknown node kind `{name}`; valid node kinds: {}",
                names.join(", ")
            )
        })
    }

    /// The workload called `name`; the error lists the valid ones.
    pub fn workload(&self, name: &str) -> Result<&'static WorkloadKind, String> {
        let workloads = self.workloads;
        workloads.iter().find(|w| w.name == name).ok_or_else(|| {
            let names: Vec<&str> = workloads.iter().map(|w| w.name).collect();
            format!(
                "unknown workload `{name}`; valid workloads: {}",
                names.join(", ")
            )
        })
    }

    /// Every checker name: the history checkers, then the registry's own.
    pub fn checker_names(&self) -> Vec<&'static str> {
        checkers::registry::CHECKERS
            .iter()
            .map(|c| c.name)
            .chain(self.checkers.iter().map(|c| c.name))
            .collect()
    }

    /// The checker called `name` (its static name); the error lists the valid ones.
    pub fn checker(&self, name: &str) -> Result<&'static str, String> {
        self.checker_names()
            .into_iter()
            .find(|&c| c == name)
            .ok_or_else(|| {
                format!(
                    "unknown checker `{name}`; valid checkers: {}",
                    self.checker_names().join(", ")
                )
            })
    }

    /// The settings keys of the checker `name` (none for a history checker).
    pub(crate) fn settings(&self, name: &str) -> &'static [&'static str] {
        self.checkers
            .iter()
            .find(|c| c.name == name)
            .map_or(&[], |c| c.settings)
    }
}

/// Every key given in `[nodes]` and `[workload]` applies to the kind named there, and every
/// key the kinds take is given.
pub(crate) fn check_keys(
    file: &File,
    node_kind: &NodeKind,
    workload: &WorkloadKind,
) -> Result<(), SpecError> {
    check_section(
        file.nodes_section(),
        &["kind", "count"],
        node_kind.config,
        |key| {
            format!(
                "`nodes.{key}` does not configure node kind `{}`; `[nodes]` takes kind, count \
                 and the kind's keys ({})",
                node_kind.name,
                keys_of(node_kind.config)
            )
        },
        |key| format!("node kind `{}` needs `nodes.{key}`", node_kind.name),
    )?;
    check_section(
        file.workload_section(),
        &["kind"],
        workload.params,
        |key| {
            format!(
                "`workload.{key}` is not a parameter of workload `{}`; `[workload]` takes kind \
                 and the workload's keys ({})",
                workload.name,
                keys_of(workload.params)
            )
        },
        |key| format!("workload `{}` needs `workload.{key}`", workload.name),
    )
}

/// The keys of a section: each one `common` or `taken`, and every `taken` one given.
pub(crate) fn check_section(
    section: &toml::Spanned<Section>,
    common: &[&str],
    taken: &[&str],
    not_taken: impl Fn(&str) -> String,
    missing: impl Fn(&str) -> String,
) -> Result<(), SpecError> {
    for (key, _) in section.get_ref().entries() {
        let name = key.get_ref().as_str();
        if !common.contains(&name) && !taken.contains(&name) {
            return Err(err(key, not_taken(name)));
        }
    }
    for key in taken {
        if !section.get_ref().contains(key) {
            return Err(err(section, missing(key)));
        }
    }
    Ok(())
}

fn keys_of(keys: &[&str]) -> String {
    if keys.is_empty() {
        "it takes none".to_string()
    } else {
        keys.join(", ")
    }
}
