//! Faultline's own specification files: the built-in ones (`specs/*.toml`, compiled in), and
//! the typed view of the keys its node kinds and workloads take (`View`), which each family's
//! adapter reads. The format and its checks are the toolbox's (`faultline_toolbox::spec`); the
//! names are `registry.rs`'s.

use crate::registry::{EFFICIENCY_TARGETS, REGISTRY};
use faultline_toolbox::spec::{Between, Clients, File, SpecError, SpecScenario, count, err, limit};
use serde::Deserialize;
use sim::{Duration, limits};
use std::path::PathBuf;
use toml::Spanned;

pub use faultline_toolbox::spec::SPEC_BYTES_MAX;

/// The built-in specifications, in the order `list` shows them: (file name, text).
pub const BUILT_IN: &[(&str, &str)] = &[
    ("echo.toml", include_str!("../specs/echo.toml")),
    ("unique-ids.toml", include_str!("../specs/unique-ids.toml")),
    (
        "broadcast-single.toml",
        include_str!("../specs/broadcast-single.toml"),
    ),
    (
        "broadcast-multi.toml",
        include_str!("../specs/broadcast-multi.toml"),
    ),
    (
        "broadcast-partition.toml",
        include_str!("../specs/broadcast-partition.toml"),
    ),
    (
        "broadcast-efficiency-1.toml",
        include_str!("../specs/broadcast-efficiency-1.toml"),
    ),
    (
        "broadcast-efficiency-2.toml",
        include_str!("../specs/broadcast-efficiency-2.toml"),
    ),
    (
        "broadcast-efficiency-1-partition.toml",
        include_str!("../specs/broadcast-efficiency-1-partition.toml"),
    ),
    (
        "broadcast-efficiency-2-partition.toml",
        include_str!("../specs/broadcast-efficiency-2-partition.toml"),
    ),
    (
        "rpc-unreliable.toml",
        include_str!("../specs/rpc-unreliable.toml"),
    ),
    (
        "rpc-overload.toml",
        include_str!("../specs/rpc-overload.toml"),
    ),
    ("wal-kv.toml", include_str!("../specs/wal-kv.toml")),
    (
        "wal-kv-faulty-disk.toml",
        include_str!("../specs/wal-kv-faulty-disk.toml"),
    ),
    (
        "raft-election.toml",
        include_str!("../specs/raft-election.toml"),
    ),
    (
        "raft-reelection.toml",
        include_str!("../specs/raft-reelection.toml"),
    ),
    (
        "raft-many-elections.toml",
        include_str!("../specs/raft-many-elections.toml"),
    ),
    ("raft-kv.toml", include_str!("../specs/raft-kv.toml")),
    (
        "raft-persist.toml",
        include_str!("../specs/raft-persist.toml"),
    ),
    (
        "raft-figure8.toml",
        include_str!("../specs/raft-figure8.toml"),
    ),
    (
        "raft-figure8-unreliable.toml",
        include_str!("../specs/raft-figure8-unreliable.toml"),
    ),
    ("raft-churn.toml", include_str!("../specs/raft-churn.toml")),
    ("raft-agree.toml", include_str!("../specs/raft-agree.toml")),
    (
        "raft-failover.toml",
        include_str!("../specs/raft-failover.toml"),
    ),
    (
        "raft-no-quorum.toml",
        include_str!("../specs/raft-no-quorum.toml"),
    ),
    (
        "raft-backup.toml",
        include_str!("../specs/raft-backup.toml"),
    ),
];

// ---------------------------------------------------------------------------------------------
// The file, as written.

/// Parses and checks a specification's text with Faultline's names; `origin` names it in
/// errors.
pub fn parse(origin: &str, text: &str, file: Option<PathBuf>) -> Result<SpecScenario, String> {
    faultline_toolbox::spec::parse(REGISTRY, origin, text, file)
}

/// The keys of Faultline's node kinds and workloads, typed, as each family's adapter reads
/// them (`File::view`): the registry has checked which apply to which kind, and `View::of`
/// checks their values against `sim::limits`.
#[derive(Deserialize)]
pub(crate) struct View {
    pub nodes: Spanned<Nodes>,
    pub clients: Spanned<Clients>,
    pub workload: Spanned<Workload>,
    #[serde(default)]
    check: Check,
}

impl View {
    /// The view of a file, its values checked.
    pub fn of(file: &File) -> Result<View, SpecError> {
        let view: View = file.view()?;
        check_values(&view)?;
        Ok(view)
    }
}

/// `[nodes]`: the servers. Keys other than `kind` and `count` configure a kind (the registry
/// says which apply to which).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Nodes {
    pub kind: Spanned<String>,
    pub count: Spanned<u64>,
    pub flush_interval: Option<Spanned<Duration>>,
    pub hub_flush_interval: Option<Spanned<Duration>>,
    pub workers: Option<Spanned<u64>>,
    pub queue_capacity: Option<Spanned<u64>>,
    pub service_time: Option<Spanned<Duration>>,
    pub service_min: Option<Spanned<Duration>>,
    pub service_max: Option<Spanned<Duration>>,
    pub heartbeat: Option<Spanned<Duration>>,
    pub election_timeout: Option<Spanned<Between<Duration>>>,
}

/// `[workload]`: what the clients do. Keys other than `kind` are the workload's parameters
/// (the registry says which each workload takes).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Workload {
    pub kind: Spanned<String>,
    pub timeout: Option<Spanned<Duration>>,
    pub ops_per_second: Option<Spanned<u64>>,
    pub think_mean: Option<Spanned<Duration>>,
    pub keys: Option<Spanned<u64>>,
    pub add_percent: Option<Spanned<u64>>,
    pub amount_max: Option<Spanned<u64>>,
    pub call_deadline: Option<Spanned<Duration>>,
    pub attempt_timeout: Option<Spanned<Duration>>,
    pub base_per_second: Option<Spanned<Between<u64>>>,
    pub spike_percent: Option<Spanned<Between<u64>>>,
    pub spike_start: Option<Spanned<Duration>>,
    pub spike_length: Option<Spanned<Between<Duration>>>,
    pub recovery_bound: Option<Spanned<Duration>>,
    pub healthy_goodput_percent: Option<Spanned<u64>>,
    pub elect_within: Option<Spanned<Duration>>,
    pub stable_for: Option<Spanned<Duration>>,
    pub election_messages_max: Option<Spanned<u64>>,
    pub healthy_latency_p50: Option<Spanned<Duration>>,
}

/// `[check.NAME]`: the settings of Faultline's checkers that have some.
#[derive(Default, Deserialize)]
struct Check {
    #[serde(rename = "efficiency-targets")]
    targets: Option<Spanned<TargetsFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    msgs_per_op_max: Spanned<u64>,
    latency_median_max: Spanned<Duration>,
    latency_max: Spanned<Duration>,
}

/// The efficiency targets of broadcast's `efficiency-targets` checker.
#[derive(Clone, Copy, Debug)]
pub struct Targets {
    /// msgs-per-op must stay below this.
    pub msgs_per_op_max: u64,
    pub latency_median_max: Duration,
    pub latency_max: Duration,
}

/// The limits of `sim::limits` on every kind-specific key given, at its line (the adapters
/// and seed 0's plan check the rest).
fn check_values(file: &View) -> Result<(), SpecError> {
    fn each<T: Copy>(
        value: &Option<Spanned<T>>,
        check: impl FnOnce(T) -> Result<(), String>,
    ) -> Result<(), SpecError> {
        match value {
            Some(v) => limit(v, check(*v.get_ref())),
            None => Ok(()),
        }
    }
    let w = file.workload.get_ref();
    each(&w.timeout, |d| limits::timeout("workload.timeout", d))?;
    each(&w.call_deadline, |d| {
        limits::timeout("workload.call_deadline", d)
    })?;
    each(&w.attempt_timeout, |d| {
        limits::timeout("workload.attempt_timeout", d)
    })?;
    each(&w.think_mean, |d| limits::think("workload.think_mean", d))?;
    each(&w.ops_per_second, |n| {
        limits::count("workload.ops_per_second", n, 1, limits::RATE_MAX)
    })?;
    each(&w.keys, |n| {
        limits::count("workload.keys", n, 1, limits::QUEUE_MAX)
    })?;
    each(&w.add_percent, |n| {
        limits::count("workload.add_percent", n, 0, 100)
    })?;
    each(&w.amount_max, |n| {
        limits::count("workload.amount_max", n, 1, 1 << 40)
    })?;
    each(&w.healthy_goodput_percent, |n| {
        limits::count("workload.healthy_goodput_percent", n, 0, 100)
    })?;
    for (field, value) in [
        ("workload.spike_start", &w.spike_start),
        ("workload.recovery_bound", &w.recovery_bound),
        ("workload.healthy_latency_p50", &w.healthy_latency_p50),
    ] {
        each(value, |d| limits::duration(field, d, limits::PHASE_MAX))?;
    }
    let n = file.nodes.get_ref();
    for (field, value) in [
        ("nodes.service_time", &n.service_time),
        ("nodes.service_min", &n.service_min),
        ("nodes.service_max", &n.service_max),
    ] {
        each(value, |d| limits::duration(field, d, limits::LATENCY_MAX))?;
    }
    if let (Some(min), Some(max)) = (&n.service_min, &n.service_max)
        && min.get_ref() > max.get_ref()
    {
        return Err(err(min, "`nodes.service_min` is above `nodes.service_max`"));
    }
    each(&n.heartbeat, |d| limits::timeout("nodes.heartbeat", d))?;
    if let Some(election) = &n.election_timeout {
        let Between { min, max } = *election.get_ref();
        limit(election, limits::timeout("nodes.election_timeout.min", min))?;
        limit(election, limits::timeout("nodes.election_timeout.max", max))?;
        if min > max {
            return Err(err(election, "`nodes.election_timeout`: min is above max"));
        }
        if let Some(heartbeat) = &n.heartbeat
            && *heartbeat.get_ref() >= min
        {
            return Err(err(
                heartbeat,
                format!("`nodes.heartbeat` must be below `nodes.election_timeout.min` ({min})"),
            ));
        }
    }
    for (field, value) in [
        ("workload.elect_within", &w.elect_within),
        ("workload.stable_for", &w.stable_for),
    ] {
        each(value, |d| limits::duration(field, d, limits::PHASE_MAX))?;
    }
    each(&w.election_messages_max, |n| {
        limits::count("workload.election_messages_max", n, 1, u64::from(u32::MAX))
    })?;
    Ok(())
}

impl View {
    /// The targets of `[check.efficiency-targets]`, if the file lists that checker (the
    /// toolbox checked that the section is there then, and only then), their values checked.
    pub fn targets(&self, file: &File) -> Result<Option<Targets>, SpecError> {
        if !file.lists_checker(EFFICIENCY_TARGETS) {
            return Ok(None);
        }
        let Some(section) = &self.check.targets else {
            return Ok(None);
        };
        let t = section.get_ref();
        let msgs = count(
            "check.efficiency-targets.msgs_per_op_max",
            &t.msgs_per_op_max,
            1,
            1 << 40,
        )?;
        for (field, value) in [
            ("latency_median_max", &t.latency_median_max),
            ("latency_max", &t.latency_max),
        ] {
            limit(
                value,
                limits::duration(
                    &format!("check.efficiency-targets.{field}"),
                    *value.get_ref(),
                    limits::PHASE_MAX,
                ),
            )?;
        }
        Ok(Some(Targets {
            msgs_per_op_max: msgs,
            latency_median_max: *t.latency_median_max.get_ref(),
            latency_max: *t.latency_max.get_ref(),
        }))
    }
}
