//! The `--json` summary of a campaign, or of some of its shards: what `merge`
//! reads. It holds the campaign's identity (what every shard must share), which shards it
//! covers, and one mergeable [`TargetSummary`] per scenario.

use super::summary::TargetSummary;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "faultline-fuzz-summary";
pub const VERSION: u32 = 1;
/// A summary file's size at most: a summary keeps a bounded set of seeds, so a real one is a
/// few kilobytes.
pub const BYTES_MAX: u64 = 16 << 20;

/// What the shards of one campaign share.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub start: u64,
    /// `None`: the stream runs to the last seed, until `--duration` runs out.
    pub seeds: Option<u64>,
    /// `--duration`, in nanoseconds of wall-clock time.
    pub duration_nanos: Option<u64>,
    pub check_determinism: bool,
    /// The number of shards the campaign was cut into.
    pub shards: u64,
    /// (scenario, bug), in the campaign's order.
    pub targets: Vec<(String, Option<String>)>,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    pub format: String,
    pub version: u32,
    pub campaign: Identity,
    /// The shards this file covers, in order.
    pub shards_run: Vec<u64>,
    /// Wall-clock seconds (the longest shard's, once merged) and worker threads (all shards').
    pub seconds: f64,
    pub jobs: u64,
    /// Whether a shard was stopped by Ctrl-C, or by `--duration` before its last seed.
    pub interrupted: bool,
    pub duration_ran_out: bool,
    pub scenarios: Vec<TargetSummary>,
}

impl CampaignFile {
    pub fn seeds_run(&self) -> u64 {
        self.scenarios
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.seeds))
    }

    pub fn failing(&self) -> u64 {
        self.scenarios
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.failing()))
    }

    /// The exit code: the lowest non-zero code among the outcomes found (0 if none).
    pub fn exit_code(&self) -> i32 {
        self.scenarios
            .iter()
            .flat_map(|s| s.outcomes.iter())
            .filter(|&(_, &n)| n > 0)
            .map(|(o, _)| o.exit_code())
            .filter(|&code| code != 0)
            .min()
            .unwrap_or(0)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serializes") + "\n"
    }

    /// Reads and checks a file written by `fuzz --json` or `merge --json`; its replay lines
    /// are rebuilt to start with `command`.
    pub fn read(path: &Path, command: &str) -> Result<CampaignFile, String> {
        let name = path.display();
        let text = crate::cli::files::read_bounded(path, "a campaign summary", BYTES_MAX)?;
        let header: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        let (format, version) = (&header["format"], &header["version"]);
        if format != FORMAT || version != VERSION {
            return Err(format!(
                "{name}: not a campaign summary of this version (format {format}, version \
                 {version}; expected \"{FORMAT}\" version {VERSION}, as `fuzz --json` writes)"
            ));
        }
        let file: CampaignFile = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        file.checked(command).map_err(|e| format!("{name}: {e}"))
    }

    fn checked(mut self, command: &str) -> Result<CampaignFile, String> {
        let identity = &self.campaign;
        if self.scenarios.len() != identity.targets.len() {
            return Err("the scenarios differ from the campaign's".into());
        }
        for (summary, (scenario, bug)) in self.scenarios.iter().zip(&identity.targets) {
            if (&summary.scenario, &summary.bug) != (scenario, bug) {
                return Err(format!("scenario {}: not the campaign's", summary.scenario));
            }
        }
        let ordered = self.shards_run.windows(2).all(|w| w[0] < w[1]);
        if !ordered || self.shards_run.iter().any(|&s| s >= identity.shards) {
            return Err(format!(
                "shards_run {:?}: not distinct shards of {}, in order",
                self.shards_run, identity.shards
            ));
        }
        let scenarios = std::mem::take(&mut self.scenarios);
        self.scenarios = scenarios
            .into_iter()
            .map(|summary| summary.checked(command))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }
}
