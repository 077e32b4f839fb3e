//! Client histories in the shared format (`../shared/formats/history.md`): what clients
//! invoked and how each operation completed, stamped with global virtual time.

use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// The `type` field of a history line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpStatus {
    Invoke,
    /// Took effect exactly once and returned `value`.
    Ok,
    /// Definitely did not take effect.
    Fail,
    /// Indeterminate: may or may not have taken effect.
    Info,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::Invoke => "invoke",
            OpStatus::Ok => "ok",
            OpStatus::Fail => "fail",
            OpStatus::Info => "info",
        }
    }
}

/// One line of a history.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub process: u64,
    #[serde(rename = "type")]
    pub status: OpStatus,
    pub f: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    pub value: serde_json::Value,
    /// Global virtual time in nanoseconds (never a node's local clock).
    pub time: u64,
}

impl HistoryRecord {
    pub(crate) fn new(
        process: u64,
        status: OpStatus,
        f: &str,
        key: Option<&str>,
        value: serde_json::Value,
    ) -> HistoryRecord {
        HistoryRecord {
            process,
            status,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            time: 0,
        }
    }

    pub fn time(&self) -> Instant {
        Instant::from_nanos(self.time)
    }
}

/// Writes a history as JSON Lines, one record per line.
pub fn write_jsonl(records: &[HistoryRecord], out: &mut dyn Write) -> io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
