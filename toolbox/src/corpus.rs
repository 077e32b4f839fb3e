//! The regression corpus: plans that once failed, each with what it caught, one JSON file an
//! entry under `FOLDER/SCENARIO/` (Faultline's own: `scenarios/corpus/`). An entry holds the whole plan, not only its seed,
//! so it keeps its meaning when a planner changes (a seed alone would expand into another
//! run). `scenarios/tests/corpus.rs` runs every entry of Faultline's and checks its outcome; `fuzz --add-to-corpus`
//! adds the lowest failing seeds of a campaign as new entries, never replacing one.

use crate::Scenario;
use serde::{Deserialize, Serialize};
use sim::{Outcome, Plan};
use std::path::{Path, PathBuf};

/// One regression entry.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Where a shrunk plan came from (the `shrink` command); first, so that it reads as the
    /// file's header. Absent in entries that `fuzz --add-to-corpus` added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<crate::shrink::Origin>,
    /// What the plan caught when it was added: its verdict line (outcome, checker and place,
    /// the message's first line).
    pub caught: String,
    /// The outcome the plan must keep ending in: a planted bug's plan stays failing (it proves
    /// the checks can fail); a real bug's plan is set to `pass` once the bug is fixed.
    pub outcome: Outcome,
    pub plan: Plan,
}

/// Where the entry of `plan` lives in the corpus `folder`: `SCENARIO/seed-N.json`, or
/// `SCENARIO/BUG-seed-N.json`.
pub fn entry_path(folder: &Path, plan: &Plan) -> PathBuf {
    let file = match &plan.bug {
        Some(bug) => format!("{bug}-seed-{}.json", plan.seed),
        None => format!("seed-{}.json", plan.seed),
    };
    folder.join(&plan.scenario).join(file)
}

/// Reads an entry; errors name the file, and the line and field where it is malformed.
pub fn read(path: &Path) -> Result<Entry, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut parser = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut parser).map_err(|e| {
        let inner = e.inner();
        format!(
            "{}:{}: `{}`: {inner}",
            path.display(),
            inner.line(),
            e.path()
        )
    })
}

/// The plan inside a corpus entry's text (an object with `caught`, `outcome` and `plan`, and
/// `shrunk` in a shrunk plan's file), so that `replay --plan` runs an entry or a shrunk plan as
/// it stands; `None` for any other text.
pub fn entry_plan(text: &str) -> Option<String> {
    let serde_json::Value::Object(object) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let keys = 3 + usize::from(object.contains_key("shrunk"));
    let is_entry = object.len() == keys
        && ["caught", "outcome"]
            .iter()
            .all(|k| object.contains_key(*k));
    is_entry.then(|| object.get("plan").map(ToString::to_string))?
}

/// Adds to the corpus in `folder` the entry of `scenario`'s run of `seed` (with `bug`) that caught `caught` ending in
/// `outcome`; returns whether it was new (an existing entry is never replaced).
pub fn add(
    folder: &Path,
    scenario: &dyn Scenario,
    seed: u64,
    bug: Option<&str>,
    outcome: Outcome,
    caught: &str,
) -> Result<bool, String> {
    let plan = scenario.plan(seed, bug);
    let path = entry_path(folder, &plan);
    if path.exists() {
        return Ok(false);
    }
    let entry = Entry {
        shrunk: None,
        caught: caught.to_string(),
        outcome,
        plan,
    };
    let scenario_folder = path
        .parent()
        .expect("an entry lives in a scenario's folder");
    std::fs::create_dir_all(scenario_folder)
        .map_err(|e| format!("{}: {e}", scenario_folder.display()))?;
    let text = serde_json::to_string_pretty(&entry).expect("an entry serializes") + "\n";
    // `create_new`: a file that appeared since the check above is not replaced either.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}
