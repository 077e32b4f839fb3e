//! Scenario specifications: a scenario written as data, in a TOML file (Faultline's are
//! `scenarios/specs/`, the format in `scenarios/specs/README.md`). A specification names its
//! nodes by kind, count and configuration, its clients and workload, its checkers, the
//! network, the fault mix, the phases and the planted bugs it offers; a tool's [`Registry`]
//! maps each name to the Rust that cannot be data: the family adapters that build a
//! simulation's nodes and clients and run the family's checks. The format is the same for
//! every tool; only the names differ.
//!
//! A specification is a family of runs: a seed expands it into a [`Plan`] (one run), and a
//! plan runs alone. A specification holds no plan, and a plan names its specification's
//! scenario.
//!
//! Errors are `FILE:LINE: message`, naming the field, its limit or the valid names; a file is
//! user input, so nothing in it panics.

use crate::harness::{self, Answered, FaultMix};
use crate::registry::{NodeKind, Registry, WorkloadKind};
use crate::{Bug, Planted, Run, Scenario};
use serde::Deserialize;
use sim::history::EventKind;
use sim::limits;
use sim::rng::stream;
use sim::{
    DiskConfig, DiskFaults, Duration, FaultBudget, Latency, LinkConfig, Plan, Rng, Swarm,
    TraceLevel,
};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The largest specification file read.
pub const SPEC_BYTES_MAX: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The file, as written.

/// A value, or a range a seed draws it from (`{ min = .., max = .. }`, both ends included).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "a value, or a range to draw it from written { min = .., max = .. } (no other keys)"
)]
pub enum Drawn<T> {
    Fixed(T),
    Range { min: T, max: T },
}

/// A range a seed draws from, both ends included.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Between<T> {
    pub min: T,
    pub max: T,
}

/// A specification file as written: the common sections typed, the kind-specific ones
/// (`[nodes]`, `[workload]`, `[check.NAME]`) as [`Section`]s for the registry's kinds to read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    name: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    bugs: Vec<Spanned<String>>,
    checkers: Spanned<Vec<Spanned<String>>>,
    nodes: Spanned<Section>,
    clients: Spanned<Clients>,
    workload: Spanned<Section>,
    #[serde(default)]
    check: BTreeMap<Spanned<String>, Spanned<Section>>,
    network: Network,
    #[serde(default)]
    faults: Faults,
    disk: Option<Spanned<Disk>>,
    phases: Phases,
    /// The file's text, for typed views of it (`File::view`).
    #[serde(skip)]
    text: String,
}

/// `[clients]`: client nodes, each with its processes (one operation outstanding each).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clients {
    pub count: Spanned<u64>,
    pub processes: Spanned<u64>,
}

/// A section whose keys a kind defines: `[nodes]` (besides `kind` and `count`), `[workload]`
/// (besides `kind`), `[check.NAME]`. The registry checks which keys apply; a kind reads its
/// values with [`File::get`] and [`File::need`], or from a typed view ([`File::view`]).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Section(BTreeMap<Spanned<String>, Spanned<toml::Value>>);

impl Section {
    pub(crate) fn entries(
        &self,
    ) -> impl Iterator<Item = (&Spanned<String>, &Spanned<toml::Value>)> {
        self.0.iter()
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0.keys().any(|k| k.get_ref() == key)
    }

    fn value(&self, key: &str) -> Option<&Spanned<toml::Value>> {
        self.0
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v)
    }
}

impl File {
    /// The `[nodes]` section.
    pub fn nodes_section(&self) -> &Spanned<Section> {
        &self.nodes
    }

    /// The `[workload]` section.
    pub fn workload_section(&self) -> &Spanned<Section> {
        &self.workload
    }

    /// Whether the file lists the checker `name`.
    pub fn lists_checker(&self, name: &str) -> bool {
        self.checkers.get_ref().iter().any(|c| c.get_ref() == name)
    }

    /// The value of `section.key` (`"nodes"`, `"workload"`), if given: an error at the value
    /// if it is not a `T`.
    pub fn get<T: serde::de::DeserializeOwned>(
        &self,
        section: &str,
        key: &str,
    ) -> Result<Option<Spanned<T>>, SpecError> {
        let Some(found) = self.section(section).and_then(|s| s.get_ref().value(key)) else {
            return Ok(None);
        };
        let value = T::deserialize(found.get_ref().clone()).map_err(|e| {
            err(
                found,
                format!("`{section}.{key}`: {}", e.message().trim_end()),
            )
        })?;
        Ok(Some(Spanned::new(found.span(), value)))
    }

    /// The value of `section.key`, which the kind requires (the registry checked that it is
    /// given).
    pub fn need<T: serde::de::DeserializeOwned>(
        &self,
        section: &str,
        key: &str,
    ) -> Result<Spanned<T>, SpecError> {
        self.get(section, key)?.ok_or_else(|| SpecError {
            span: self.section(section).map(Spanned::span),
            message: format!("missing key `{section}.{key}`"),
        })
    }

    fn section(&self, name: &str) -> Option<&Spanned<Section>> {
        match name {
            "nodes" => Some(&self.nodes),
            "workload" => Some(&self.workload),
            _ => name
                .strip_prefix("check.")
                .and_then(|checker| self.check.iter().find(|(k, _)| k.get_ref() == checker))
                .map(|(_, v)| v),
        }
    }

    /// The whole file read as `T` (which names only the sections it needs, with `Spanned`
    /// values keeping their lines): a family's typed view of its keys.
    pub fn view<T: serde::de::DeserializeOwned>(&self) -> Result<T, SpecError> {
        toml::from_str(&self.text).map_err(|e| SpecError {
            span: e.span(),
            message: e.message().trim_end().to_string(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Network {
    latency: Spanned<Latency>,
    #[serde(default)]
    loss_max: Option<Spanned<f64>>,
    #[serde(default)]
    duplicate_max: Option<Spanned<f64>>,
    clients: Spanned<ClientNetwork>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientNetwork {
    #[serde(default)]
    like_servers: bool,
    latency: Option<Spanned<Latency>>,
    loss: Option<Spanned<Drawn<f64>>>,
    duplicate: Option<Spanned<Drawn<f64>>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
    #[serde(default)]
    forced: BTreeMap<Spanned<String>, Spanned<u32>>,
    faulty_nodes_max: Option<Spanned<Budget>>,
    gap: Option<Spanned<Between<Duration>>>,
}

/// How many servers may be faulty at once: a number, or `"minority"` (a strict minority of
/// `nodes.count`, so that it follows the count).
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a number of servers, or \"minority\" (a strict minority of nodes.count)"
)]
enum Budget {
    Count(u64),
    Named(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disk {
    sector_bytes: Option<Spanned<u64>>,
    crash_lose_max: Option<Spanned<f64>>,
    crash_tear_max: Option<Spanned<f64>>,
    sync_latency: Option<Spanned<Latency>>,
    faults: Option<Spanned<DiskFaultsFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskFaultsFile {
    read_corrupt_max: Option<Spanned<f64>>,
    latent_max: Option<Spanned<f64>>,
    read_error_max: Option<Spanned<f64>>,
    write_error_max: Option<Spanned<f64>>,
    misdirect_max: Option<Spanned<f64>>,
    #[serde(default)]
    files: Vec<String>,
    nodes_max: Option<Spanned<u64>>,
    full: Option<Spanned<FullDisk>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullDisk {
    one_in: Spanned<u64>,
    capacity: Spanned<Between<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Phases {
    safety: Spanned<Duration>,
    liveness: Spanned<Duration>,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// An error at a place in the file (a byte range of its text), or in the file as a whole.
#[derive(Debug)]
pub struct SpecError {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl SpecError {
    pub fn at(span: Range<usize>, message: impl Into<String>) -> SpecError {
        SpecError {
            span: Some(span),
            message: message.into(),
        }
    }
}

/// An error on a spanned value.
pub fn err<T>(value: &Spanned<T>, message: impl Into<String>) -> SpecError {
    SpecError::at(value.span(), message)
}

/// A limit check (`sim::limits`) on a spanned value: its error at the value's line.
pub fn limit<T>(value: &Spanned<T>, check: Result<(), String>) -> Result<(), SpecError> {
    check.map_err(|message| err(value, message))
}

/// The line (from 1) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn located(origin: &str, text: &str, error: SpecError) -> String {
    match error.span {
        Some(span) => format!("{origin}:{}: {}", line_of(text, span.start), error.message),
        None => format!("{origin}: {}", error.message),
    }
}

/// The check of a workload that runs one client node (its processes are the concurrency):
/// `clients.count = 1`, or an error at it naming the workload.
pub fn one_client(file: &File, workload: &str) -> Result<(), SpecError> {
    let clients = &file.clients.get_ref().count;
    if *clients.get_ref() != 1 {
        return Err(err(
            clients,
            format!(
                "the {workload} workload runs one client (with many processes): `clients.count = 1`"
            ),
        ));
    }
    Ok(())
}

/// A required key of a section: its value, or an error at the section naming the key.
pub fn need<'a, T, S>(
    section: &Spanned<S>,
    name: &str,
    value: &'a Option<Spanned<T>>,
) -> Result<&'a Spanned<T>, SpecError> {
    value
        .as_ref()
        .ok_or_else(|| err(section, format!("missing key `{name}`")))
}

// ---------------------------------------------------------------------------------------------
// The specification, resolved and checked.

/// A probability as the plan keeps it (parts per million), drawn or fixed.
#[derive(Clone, Copy, Debug)]
enum Ppm {
    Fixed(u32),
    Between(u32, u32),
}

impl Ppm {
    fn draw(self, rng: &mut Rng) -> u32 {
        match self {
            Ppm::Fixed(ppm) => ppm,
            Ppm::Between(min, max) => rng.between(u64::from(min), u64::from(max)) as u32,
        }
    }
}

#[derive(Clone, Debug)]
enum ClientLink {
    /// The clients' links are the servers' (drawn loss and duplication included).
    LikeServers,
    Own {
        latency: Latency,
        loss: Ppm,
        duplicate: Ppm,
    },
}

#[derive(Clone, Debug)]
struct DiskDraw {
    sector_bytes: u32,
    sync_latency: Latency,
    crash_lose_max: u32,
    crash_tear_max: u32,
    faults: Option<DiskFaultsDraw>,
}

#[derive(Clone, Debug)]
struct DiskFaultsDraw {
    /// read_corrupt, latent, read_error, write_error, misdirect.
    maxima: [u32; 5],
    files: Vec<String>,
    nodes_max: u32,
    /// One seed in `.0` gets a disk of a capacity drawn from `.1..=.2` bytes.
    full: Option<(u64, u64, u64)>,
}

impl DiskDraw {
    fn draw(&self, rng: &mut Rng) -> DiskConfig {
        let mut disk = DiskConfig {
            sector_bytes: self.sector_bytes,
            sync_latency: self.sync_latency.clone(),
            crash_lose_ppm: sim::plan::draw_ppm(rng, self.crash_lose_max),
            crash_tear_ppm: sim::plan::draw_ppm(rng, self.crash_tear_max),
            ..DiskConfig::default()
        };
        if let Some(faults) = &self.faults {
            let [corrupt, latent, read_error, write_error, misdirect] = faults.maxima;
            disk.faults = DiskFaults {
                read_corrupt_ppm: sim::plan::draw_ppm(rng, corrupt),
                latent_ppm: sim::plan::draw_ppm(rng, latent),
                read_error_ppm: sim::plan::draw_ppm(rng, read_error),
                write_error_ppm: sim::plan::draw_ppm(rng, write_error),
                misdirect_ppm: sim::plan::draw_ppm(rng, misdirect),
                files: faults.files.clone(),
                nodes_max: faults.nodes_max,
                unlimited: false,
            };
            if let Some((one_in, min, max)) = faults.full
                && rng.below(one_in) == 0
            {
                disk.capacity_bytes = rng.between(min, max);
            }
        }
        disk
    }
}

/// A specification, checked: what every family shares. The family's own part is its adapter.
pub struct Spec {
    pub name: &'static str,
    pub description: &'static str,
    /// The file it came from; `None` for a built-in specification.
    pub file: Option<PathBuf>,
    pub node_kind: &'static NodeKind,
    pub workload_kind: &'static WorkloadKind,
    pub servers: u32,
    pub clients: u32,
    /// Processes per client.
    pub processes: u64,
    /// The planted bugs a plan of this scenario may switch on, in the file's order.
    pub bugs: Vec<Bug>,
    /// The checkers a run performs, in the order it performs them (the workload's).
    pub checkers: Vec<&'static str>,
    /// The answers `answered-after-heal` accepts, and how long after the heal it starts.
    pub answered: Answered,
    latency: Latency,
    client_link: ClientLink,
    /// `None`: a quiet run (no fault kinds, no loss, no duplication): no swarm is drawn.
    mix: Option<FaultMix>,
    /// The least weight of each fault kind: partition, crash, pause, clock, hold.
    forced: [u32; 6],
    faulty_nodes_max: usize,
    /// The mean gap between fault episodes, drawn in whole milliseconds.
    gap_millis: Option<(u64, u64)>,
    disk: Option<DiskDraw>,
    pub safety: Duration,
    pub liveness: Duration,
}

impl Spec {
    /// Whether the run performs the checker `name`.
    pub fn checks(&self, name: &str) -> bool {
        self.checkers.contains(&name)
    }

    /// The entries of a family's bug table this scenario offers, in the file's order.
    pub fn planted<S: Copy>(&self, table: &[Planted<S>]) -> Vec<Planted<S>> {
        self.bugs
            .iter()
            .filter_map(|bug| table.iter().find(|p| p.bug.name == bug.name).copied())
            .collect()
    }

    /// Expands a seed: the swarm, the client links, the fault gap, the disk, the workload (the
    /// adapter's draws), then the fault schedule, in that order from the seed's plan stream.
    fn plan(&self, adapter: &dyn Adapter, seed: u64, bug: Option<&str>) -> Plan {
        let mut rng = Rng::from_seed(seed, stream::PLAN);
        let link = LinkConfig::reliable(self.latency.clone());
        let mut swarm = match &self.mix {
            None => Swarm::quiet(link.clone(), link),
            Some(mix) => {
                let mut swarm = harness::draw_swarm(&mut rng, self.latency.clone(), link, mix);
                let [partition, crash, pause, clock, hold, leader_crash] = self.forced;
                swarm.partition_weight = swarm.partition_weight.max(partition);
                swarm.crash_weight = swarm.crash_weight.max(crash);
                swarm.pause_weight = swarm.pause_weight.max(pause);
                swarm.clock_weight = swarm.clock_weight.max(clock);
                swarm.hold_weight = swarm.hold_weight.max(hold);
                swarm.leader_crash_weight = swarm.leader_crash_weight.max(leader_crash);
                swarm
            }
        };
        swarm.client_link = match &self.client_link {
            ClientLink::LikeServers => swarm.link.clone(),
            ClientLink::Own {
                latency,
                loss,
                duplicate,
            } => {
                let loss_ppm = loss.draw(&mut rng);
                LinkConfig {
                    latency: latency.clone(),
                    loss_ppm,
                    duplicate_ppm: duplicate.draw(&mut rng),
                    queue_capacity: u32::MAX,
                }
            }
        };
        if let Some((min, max)) = self.gap_millis {
            swarm.fault_gap_mean = Duration::from_millis(rng.between(min, max));
        }
        if let Some(disk) = &self.disk {
            swarm.disk = disk.draw(&mut rng);
        }
        let workload = adapter.workload(self, &mut rng);
        let faults = match self.mix {
            None => Vec::new(),
            Some(_) => harness::draw_faults(
                &swarm,
                self.servers,
                FaultBudget {
                    faulty_nodes_max: self.faulty_nodes_max,
                },
                self.safety,
                &mut rng,
            ),
        };
        harness::plan(
            self.name,
            seed,
            bug,
            swarm,
            faults,
            (self.safety, self.liveness),
            &workload,
        )
    }
}

/// The Rust half of a scenario family: what cannot be data. One per workload (its clients, its
/// nodes, its checks), built from the file by the workload's registry entry.
pub trait Adapter: Sync + Send {
    /// The plan's workload section; the draws it makes come after the swarm's and the disk's.
    fn workload(&self, spec: &Spec, rng: &mut Rng) -> serde_json::Value;
    /// Runs a plan: nodes, clients, the phases and the checks the spec names.
    fn run(&self, spec: &Spec, plan: &Plan, level: TraceLevel) -> Result<Run, String>;
    /// The check a run makes before it starts (`harness::workload`): the plan's limits and its
    /// workload section.
    fn check_plan(&self, plan: &Plan) -> Result<(), String>;
    /// Extra lines for `replay` after the report.
    fn summary(&self, _spec: &Spec, _run: &Run) -> String {
        String::new()
    }
    /// See [`Scenario::operations_follow_history`].
    fn operations_follow_history(&self) -> bool {
        true
    }
}

/// A scenario made from a specification.
pub struct SpecScenario {
    pub spec: Spec,
    adapter: Box<dyn Adapter>,
}

impl Scenario for SpecScenario {
    fn name(&self) -> &'static str {
        self.spec.name
    }

    fn description(&self) -> &'static str {
        self.spec.description
    }

    fn bugs(&self) -> Vec<Bug> {
        self.spec.bugs.clone()
    }

    fn plan(&self, seed: u64, bug: Option<&str>) -> Plan {
        self.spec.plan(self.adapter.as_ref(), seed, bug)
    }

    fn run(&self, plan: &Plan, level: TraceLevel) -> Result<Run, String> {
        self.adapter.run(&self.spec, plan, level)
    }

    fn summary(&self, run: &Run) -> String {
        self.adapter.summary(&self.spec, run)
    }

    fn file(&self) -> Option<&Path> {
        self.spec.file.as_deref()
    }

    fn checkers(&self) -> Vec<&'static str> {
        self.spec.checkers.clone()
    }

    fn operations_follow_history(&self) -> bool {
        self.adapter.operations_follow_history()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and checking.

/// Reads a specification file: at most [`SPEC_BYTES_MAX`] bytes of UTF-8. Errors name the file
/// (and the line).
pub fn read_file(registry: Registry, path: &Path) -> Result<SpecScenario, String> {
    let origin = path.display().to_string();
    let bytes = sim::limits::read_file(path, "a scenario file", SPEC_BYTES_MAX)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = line_of(&String::from_utf8_lossy(&e.as_bytes()[..valid]), valid);
        format!("{origin}:{line}: the file is not UTF-8 text")
    })?;
    parse(registry, &origin, &text, Some(path.to_path_buf()))
}

/// A tool's own specifications, compiled in (`(file name, text)`, each read from `folder`):
/// parsed once and kept for the rest of the process, in order. A broken one is a bug of the
/// tool, and panics naming the file and line.
pub fn built_in(
    registry: Registry,
    folder: &str,
    files: &[(&str, &str)],
) -> Vec<&'static dyn Scenario> {
    files
        .iter()
        .map(|(file, text)| {
            let origin = format!("{folder}/{file}");
            let scenario = parse(registry, &origin, text, None)
                .unwrap_or_else(|e| panic!("a built-in specification is broken: {e}"));
            let scenario: &'static dyn Scenario = Box::leak(Box::new(scenario));
            scenario
        })
        .collect()
}

/// Parses and checks a specification's text, its names looked up in `registry`; `origin`
/// names it in errors, `file` is where it was read from (`None` for a tool's built-in one).
pub fn parse(
    registry: Registry,
    origin: &str,
    text: &str,
    file: Option<PathBuf>,
) -> Result<SpecScenario, String> {
    if text.len() as u64 > SPEC_BYTES_MAX {
        return Err(format!(
            "{origin}: the text has {} bytes; a scenario file holds at most {SPEC_BYTES_MAX}",
            text.len()
        ));
    }
    let mut parsed: File = toml::from_str(text).map_err(|e| {
        let error = SpecError {
            span: e.span(),
            message: e.message().trim_end().to_string(),
        };
        located(origin, text, error)
    })?;
    parsed.text = text.to_string();
    resolve(registry, parsed, file).map_err(|e| located(origin, text, e))
}

/// A probability written as a decimal from 0 to 1, in parts per million.
fn probability(field: &str, value: &Spanned<f64>) -> Result<u32, SpecError> {
    let p = *value.get_ref();
    if !(0.0..=1.0).contains(&p) {
        return Err(err(
            value,
            format!("`{field}` is {p}; a probability is a decimal from 0 to 1"),
        ));
    }
    Ok((p * f64::from(sim::rng::PPM)).round() as u32)
}

fn probability_or_zero(field: &str, value: &Option<Spanned<f64>>) -> Result<u32, SpecError> {
    value.as_ref().map_or(Ok(0), |v| probability(field, v))
}

fn drawn_probability(field: &str, value: &Option<Spanned<Drawn<f64>>>) -> Result<Ppm, SpecError> {
    let Some(value) = value else {
        return Ok(Ppm::Fixed(0));
    };
    let check = |p: f64| {
        if (0.0..=1.0).contains(&p) {
            Ok((p * f64::from(sim::rng::PPM)).round() as u32)
        } else {
            Err(err(
                value,
                format!("`{field}` holds {p}; a probability is a decimal from 0 to 1"),
            ))
        }
    };
    match *value.get_ref() {
        Drawn::Fixed(p) => Ok(Ppm::Fixed(check(p)?)),
        Drawn::Range { min, max } => {
            let (min, max) = (check(min)?, check(max)?);
            if min > max {
                return Err(err(value, format!("`{field}`: min is above max")));
            }
            Ok(Ppm::Between(min, max))
        }
    }
}

/// A count within `min..=max` (a `sim::limits` limit), at the value's line.
pub fn count(field: &str, value: &Spanned<u64>, min: u64, max: u64) -> Result<u64, SpecError> {
    limit(value, limits::count(field, *value.get_ref(), min, max))?;
    Ok(*value.get_ref())
}

/// A range in whole milliseconds, each end at most `max`.
pub fn millis_range(
    field: &str,
    value: &Spanned<Between<Duration>>,
    max: Duration,
) -> Result<(u64, u64), SpecError> {
    let range = value.get_ref();
    for (end, d) in [("min", range.min), ("max", range.max)] {
        limit(value, limits::duration(&format!("{field}.{end}"), d, max))?;
        if d.as_nanos() % 1_000_000 != 0 {
            return Err(err(
                value,
                format!("`{field}.{end}` is {d}; this range is drawn in whole milliseconds"),
            ));
        }
    }
    if range.min > range.max {
        return Err(err(value, format!("`{field}`: min is above max")));
    }
    Ok((range.min.as_millis(), range.max.as_millis()))
}

/// A range of counts, each end within `min..=max`.
pub fn count_range(
    field: &str,
    value: &Spanned<Between<u64>>,
    min: u64,
    max: u64,
) -> Result<(u64, u64), SpecError> {
    let range = value.get_ref();
    limit(
        value,
        limits::count(&format!("{field}.min"), range.min, min, max),
    )?;
    limit(
        value,
        limits::count(&format!("{field}.max"), range.max, min, max),
    )?;
    if range.min > range.max {
        return Err(err(value, format!("`{field}`: min is above max")));
    }
    Ok((range.min, range.max))
}

const FAULT_KINDS: [&str; 6] = [
    "partition",
    "crash",
    "pause",
    "clock",
    "hold",
    "leader-crash",
];

fn fault_kind(name: &Spanned<String>) -> Result<usize, SpecError> {
    FAULT_KINDS
        .iter()
        .position(|k| k == name.get_ref())
        .ok_or_else(|| {
            err(
                name,
                format!(
                    "unknown fault kind `{}`; valid fault kinds: {}",
                    name.get_ref(),
                    FAULT_KINDS.join(", ")
                ),
            )
        })
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

/// The network: the servers' latency and loss and duplication maxima, and the client links.
fn network(network: &Network) -> Result<(u32, u32, ClientLink), SpecError> {
    limit(
        &network.latency,
        network.latency.get_ref().validate_at("network.latency"),
    )?;
    let loss_max = probability_or_zero("network.loss_max", &network.loss_max)?;
    let duplicate_max = probability_or_zero("network.duplicate_max", &network.duplicate_max)?;
    let client_net = network.clients.get_ref();
    let client_link = match (client_net.like_servers, &client_net.latency) {
        (true, None) if client_net.loss.is_none() && client_net.duplicate.is_none() => {
            ClientLink::LikeServers
        }
        (true, _) => {
            return Err(err(
                &network.clients,
                "`network.clients`: `like_servers = true` takes no latency, loss or duplicate",
            ));
        }
        (false, None) => {
            return Err(err(
                &network.clients,
                "`network.clients` needs `latency` (or `like_servers = true`)",
            ));
        }
        (false, Some(latency)) => {
            limit(
                latency,
                latency.get_ref().validate_at("network.clients.latency"),
            )?;
            ClientLink::Own {
                latency: latency.get_ref().clone(),
                loss: drawn_probability("network.clients.loss", &client_net.loss)?,
                duplicate: drawn_probability("network.clients.duplicate", &client_net.duplicate)?,
            }
        }
    };
    Ok((loss_max, duplicate_max, client_link))
}

/// The fault mix drawn per seed: `None` for a quiet run; the least weights; the faulty-node
/// budget; the fault gap's range in milliseconds.
fn fault_mix(
    faults: &Faults,
    loss_max: u32,
    duplicate_max: u32,
    servers: u64,
) -> Result<FaultMixSpec, SpecError> {
    let mut enabled = [false; 6];
    for kind in &faults.kinds {
        let index = fault_kind(kind)?;
        if enabled[index] {
            return Err(err(
                kind,
                format!("fault kind `{}` is listed twice", kind.get_ref()),
            ));
        }
        enabled[index] = true;
    }
    let mut forced = [0u32; 6];
    for (kind, weight) in &faults.forced {
        let index = fault_kind(kind)?;
        if !enabled[index] {
            return Err(err(
                kind,
                format!(
                    "`faults.forced.{}`: the kind is not in `faults.kinds`",
                    kind.get_ref()
                ),
            ));
        }
        limit(
            weight,
            limits::count(
                &format!("faults.forced.{}", kind.get_ref()),
                u64::from(*weight.get_ref()),
                1,
                3,
            ),
        )?;
        forced[index] = *weight.get_ref();
    }
    let quiet = !enabled.iter().any(|&e| e) && loss_max == 0 && duplicate_max == 0;
    let mix = (!quiet).then_some(FaultMix {
        loss_ppm_max: loss_max,
        duplicate_ppm_max: duplicate_max,
        partitions: enabled[0],
        crashes: enabled[1],
        pauses: enabled[2],
        clocks: enabled[3],
        holds: enabled[4],
        leader_crashes: enabled[5],
    });
    let faulty_nodes_max = match &faults.faulty_nodes_max {
        Some(value) => match value.get_ref() {
            Budget::Count(n) => {
                limit(
                    value,
                    limits::count("faults.faulty_nodes_max", *n, 0, servers),
                )?;
                *n as usize
            }
            Budget::Named(name) if name == "minority" => (servers as usize).saturating_sub(1) / 2,
            Budget::Named(name) => {
                return Err(err(
                    value,
                    format!(
                        "`faults.faulty_nodes_max` is `{name}`; write a number of servers or \
                         \"minority\""
                    ),
                ));
            }
        },
        None if enabled.iter().any(|&e| e) => {
            return Err(SpecError {
                span: faults.kinds.first().map(Spanned::span),
                message:
                    "`faults.faulty_nodes_max` is missing: how many servers may be faulty at once"
                        .into(),
            });
        }
        None => 0,
    };
    let gap_millis = match &faults.gap {
        Some(gap) => Some(millis_range("faults.gap", gap, limits::LATENCY_MAX)?),
        None => None,
    };
    Ok(FaultMixSpec {
        mix,
        forced,
        faulty_nodes_max,
        gap_millis,
    })
}

/// What `fault_mix` resolves.
struct FaultMixSpec {
    mix: Option<FaultMix>,
    forced: [u32; 6],
    faulty_nodes_max: usize,
    gap_millis: Option<(u64, u64)>,
}

fn resolve(
    registry: Registry,
    file: File,
    path: Option<PathBuf>,
) -> Result<SpecScenario, SpecError> {
    let name = file.name.get_ref();
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(err(
            &file.name,
            format!("scenario name `{name}`: use letters, digits, `-` and `_` only"),
        ));
    }
    let node_kind_name = file.need::<String>("nodes", "kind")?;
    let node_kind = registry
        .node_kind(node_kind_name.get_ref())
        .map_err(|e| err(&node_kind_name, e))?;
    let workload_name = file.need::<String>("workload", "kind")?;
    let workload_kind = registry
        .workload(workload_name.get_ref())
        .map_err(|e| err(&workload_name, e))?;
    if !workload_kind.node_kinds.contains(&node_kind.name) {
        return Err(err(
            &workload_name,
            format!(
                "workload `{}` does not drive node kind `{}`; it drives: {}",
                workload_kind.name,
                node_kind.name,
                workload_kind.node_kinds.join(", ")
            ),
        ));
    }
    crate::registry::check_keys(&file, node_kind, workload_kind)?;

    let nodes_count = file.need::<u64>("nodes", "count")?;
    let servers = count("nodes.count", &nodes_count, 1, limits::WORKLOAD_NODES_MAX)?;
    let clients = file.clients.get_ref();
    let client_count = count(
        "clients.count",
        &clients.count,
        1,
        limits::WORKLOAD_NODES_MAX,
    )?;
    limit(
        &clients.count,
        harness::check_nodes(servers, client_count)
            .map_err(|e| e.replace("workload.servers", "nodes.count")),
    )?;
    let processes = count(
        "clients.processes",
        &clients.processes,
        1,
        limits::PROCESSES_MAX,
    )?;
    limit(
        &clients.processes,
        limits::count(
            "clients.count times clients.processes",
            client_count.saturating_mul(processes),
            1,
            limits::PROCESSES_MAX,
        ),
    )?;

    // Bugs: the node kind's table.
    let table = (node_kind.bugs)();
    let mut bugs: Vec<Bug> = Vec::new();
    for bug in &file.bugs {
        let Some(found) = table.iter().find(|b| b.name == bug.get_ref()) else {
            let names: Vec<&str> = table.iter().map(|b| b.name).collect();
            let valid = if names.is_empty() {
                "it plants none".to_string()
            } else {
                format!("valid bugs: {}", names.join(", "))
            };
            return Err(err(
                bug,
                format!(
                    "unknown bug `{}` for node kind `{}`; {valid}",
                    bug.get_ref(),
                    node_kind.name
                ),
            ));
        };
        if bugs.iter().any(|b| b.name == found.name) {
            return Err(err(bug, format!("bug `{}` is listed twice", found.name)));
        }
        bugs.push(*found);
    }

    // Checkers: known, fitting the workload, once each.
    let mut checkers: Vec<&'static str> = Vec::new();
    for checker in file.checkers.get_ref() {
        let known = registry
            .checker(checker.get_ref())
            .map_err(|e| err(checker, e))?;
        if !workload_kind.checkers.contains(&known) {
            return Err(err(
                checker,
                format!(
                    "checker `{known}` does not fit workload `{}`; its checkers: {}",
                    workload_kind.name,
                    workload_kind.checkers.join(", ")
                ),
            ));
        }
        if checkers.contains(&known) {
            return Err(err(checker, format!("checker `{known}` is listed twice")));
        }
        checkers.push(known);
    }
    // A run performs them in the workload's order, whatever the file's.
    checkers.sort_by_key(|c| workload_kind.checkers.iter().position(|k| k == c));
    check_settings(registry, &file, &checkers)?;
    let (accept, grace) = answered_settings(&file)?;

    let network = &file.network;
    let (loss_max, duplicate_max, client_link) = self::network(network)?;
    let FaultMixSpec {
        mix,
        forced,
        faulty_nodes_max,
        gap_millis,
    } = fault_mix(&file.faults, loss_max, duplicate_max, servers)?;
    let disk = match &file.disk {
        Some(disk) => Some(disk_draw(disk)?),
        None => None,
    };

    let phases = &file.phases;
    limit(
        &phases.safety,
        limits::duration("phases.safety", *phases.safety.get_ref(), limits::PHASE_MAX),
    )?;
    limit(
        &phases.liveness,
        limits::duration(
            "phases.liveness",
            *phases.liveness.get_ref(),
            limits::PHASE_MAX,
        ),
    )?;

    let adapter = (workload_kind.build)(&file)?;
    let spec = Spec {
        name: leak(name),
        description: leak(file.description.get_ref()),
        file: path,
        node_kind,
        workload_kind,
        servers: servers as u32,
        clients: client_count as u32,
        processes,
        bugs,
        checkers,
        answered: Answered { accept, grace },
        latency: network.latency.get_ref().clone(),
        client_link,
        mix,
        forced,
        faulty_nodes_max,
        gap_millis,
        disk,
        safety: *phases.safety.get_ref(),
        liveness: *phases.liveness.get_ref(),
    };
    let scenario = SpecScenario { spec, adapter };
    // The last word: seed 0's plan passes every check a run makes before it starts (the
    // limits of the whole plan and of the workload together).
    let plan = scenario.plan(0, None);
    scenario
        .adapter
        .check_plan(&plan)
        .map_err(|e| err(&file.workload, format!("seed 0's plan: {e}")))?;
    Ok(scenario)
}

/// Every `[check.NAME]` section configures a checker the file lists, with the keys that
/// checker takes (`answered-after-heal`: `accept`, `grace`, neither required); a listed
/// checker that takes settings has its section.
fn check_settings(
    registry: Registry,
    file: &File,
    checkers: &[&'static str],
) -> Result<(), SpecError> {
    for (name, section) in &file.check {
        let name = name.get_ref().as_str();
        if !checkers.contains(&name) {
            return Err(err(
                section,
                format!("`[check.{name}]` configures a checker not in `checkers`"),
            ));
        }
        let (common, taken): (&[&str], &[&str]) = if name == checkers::checks::answered::NAME {
            (&["accept", "grace"], &[])
        } else {
            (&[], registry.settings(name))
        };
        if common.is_empty() && taken.is_empty() {
            return Err(err(
                section,
                format!("`[check.{name}]`: checker `{name}` takes no settings"),
            ));
        }
        crate::registry::check_section(
            section,
            common,
            taken,
            |key| format!("`check.{name}.{key}` is not a setting of checker `{name}`"),
            |key| format!("checker `{name}` needs `check.{name}.{key}`"),
        )?;
    }
    for &name in checkers {
        let wants_section = !registry.settings(name).is_empty();
        if wants_section && !file.check.keys().any(|k| k.get_ref() == name) {
            return Err(err(
                &file.checkers,
                format!("checker `{name}` needs its `[check.{name}]` section"),
            ));
        }
    }
    Ok(())
}

/// `[check.answered-after-heal]`, read from the file as written so that each answer keeps
/// its line.
#[derive(Deserialize)]
struct AnsweredView {
    #[serde(default)]
    check: AnsweredCheck,
}

#[derive(Default, Deserialize)]
struct AnsweredCheck {
    #[serde(rename = "answered-after-heal")]
    answered: Option<AnsweredSettings>,
}

#[derive(Deserialize)]
struct AnsweredSettings {
    accept: Option<Spanned<Vec<Spanned<String>>>>,
    grace: Option<Spanned<Duration>>,
}

/// What `answered-after-heal` accepts as an answer (`ok` by default) and its grace after the
/// heal (none by default): `[check.answered-after-heal]`'s `accept` and `grace`.
fn answered_settings(file: &File) -> Result<(Vec<EventKind>, Duration), SpecError> {
    let mut accept = vec![EventKind::Ok];
    let mut grace = Duration::ZERO;
    let Some(settings) = file.view::<AnsweredView>()?.check.answered else {
        return Ok((accept, grace));
    };
    if let Some(list) = &settings.accept {
        accept.clear();
        for answer in list.get_ref() {
            let kind = match answer.get_ref().as_str() {
                "ok" => EventKind::Ok,
                "fail" => EventKind::Fail,
                other => {
                    return Err(err(
                        answer,
                        format!("unknown answer `{other}`; valid answers: ok, fail"),
                    ));
                }
            };
            if !accept.contains(&kind) {
                accept.push(kind);
            }
        }
        if accept.is_empty() {
            return Err(err(list, "`accept` needs at least one answer: ok, fail"));
        }
    }
    if let Some(value) = &settings.grace {
        limit(
            value,
            limits::duration(
                "check.answered-after-heal.grace",
                *value.get_ref(),
                limits::PHASE_MAX,
            ),
        )?;
        grace = *value.get_ref();
    }
    Ok((accept, grace))
}

fn disk_draw(section: &Spanned<Disk>) -> Result<DiskDraw, SpecError> {
    let disk = section.get_ref();
    let defaults = DiskConfig::default();
    let sector_bytes = match &disk.sector_bytes {
        Some(value) => count(
            "disk.sector_bytes",
            value,
            1,
            u64::from(limits::SECTOR_BYTES_MAX),
        )? as u32,
        None => defaults.sector_bytes,
    };
    let faults = match &disk.faults {
        None => None,
        Some(faults_section) => {
            let f = faults_section.get_ref();
            let maxima = [
                probability_or_zero("disk.faults.read_corrupt_max", &f.read_corrupt_max)?,
                probability_or_zero("disk.faults.latent_max", &f.latent_max)?,
                probability_or_zero("disk.faults.read_error_max", &f.read_error_max)?,
                probability_or_zero("disk.faults.write_error_max", &f.write_error_max)?,
                probability_or_zero("disk.faults.misdirect_max", &f.misdirect_max)?,
            ];
            let nodes_max = match &f.nodes_max {
                Some(value) => count("disk.faults.nodes_max", value, 0, limits::NODES_MAX)? as u32,
                None => 0,
            };
            let full = match &f.full {
                None => None,
                Some(full) => {
                    let one_in = count(
                        "disk.faults.full.one_in",
                        &full.get_ref().one_in,
                        1,
                        1 << 32,
                    )?;
                    let (min, max) = count_range(
                        "disk.faults.full.capacity",
                        &full.get_ref().capacity,
                        0,
                        u64::MAX,
                    )?;
                    Some((one_in, min, max))
                }
            };
            Some(DiskFaultsDraw {
                maxima,
                files: f.files.clone(),
                nodes_max,
                full,
            })
        }
    };
    let sync_latency = match &disk.sync_latency {
        Some(latency) => {
            limit(latency, latency.get_ref().validate_at("disk.sync_latency"))?;
            latency.get_ref().clone()
        }
        None => defaults.sync_latency,
    };
    Ok(DiskDraw {
        sector_bytes,
        sync_latency,
        crash_lose_max: match &disk.crash_lose_max {
            Some(v) => probability("disk.crash_lose_max", v)?,
            None => defaults.crash_lose_ppm,
        },
        crash_tear_max: match &disk.crash_tear_max {
            Some(v) => probability("disk.crash_tear_max", v)?,
            None => defaults.crash_tear_ppm,
        },
        faults,
    })
}
