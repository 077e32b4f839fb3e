//! Stored traces: a header (magic, format version, the commit of the build that wrote it) and
//! a bincode body. A truncated, corrupt or newer file gives an error that says which, never a
//! panic.

use serde::{Deserialize, Serialize};
use sim::{Report, TraceRecord};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 16] = b"FAULTLINE-TRACE\n";
/// Bump when the body's layout changes; readers refuse newer versions.
pub const FORMAT_VERSION: u32 = 1;
/// Stored traces are bounded; a length field claiming more is corruption.
const BODY_BYTES_MAX: usize = 1 << 30;

/// What a stored trace holds.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct StoredTrace {
    /// The git commit of the build that ran the simulation.
    pub commit: String,
    /// The plan, as JSON, so that the run can be repeated.
    pub plan_json: String,
    pub report: Report,
    pub records: Vec<TraceRecord>,
}

/// Writes `trace` to `path`; an existing file is replaced only when `force` is set.
pub fn save(path: &Path, trace: &StoredTrace, force: bool) -> Result<(), String> {
    if path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let commit = trace.commit.as_bytes();
    bytes.extend_from_slice(&(commit.len() as u16).to_le_bytes());
    bytes.extend_from_slice(commit);
    let body = bincode::serde::encode_to_vec(trace, bincode::config::standard())
        .map_err(|e| format!("encoding the trace: {e}"))?;
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&body);
    let mut file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a stored trace.
pub fn load(path: &Path) -> Result<StoredTrace, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Decodes the bytes of a stored trace.
pub fn decode(bytes: &[u8]) -> Result<StoredTrace, String> {
    let mut rest = bytes;
    let mut take = |n: usize, what: &str| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err(format!("truncated: the file ends inside its {what}"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    if take(MAGIC.len(), "header").ok() != Some(MAGIC.as_slice()) {
        return Err("not a Faultline trace (no FAULTLINE-TRACE header)".to_string());
    }
    let version = u32::from_le_bytes(take(4, "header")?.try_into().expect("4 bytes"));
    let commit_len = u16::from_le_bytes(take(2, "header")?.try_into().expect("2 bytes"));
    let commit = String::from_utf8_lossy(take(usize::from(commit_len), "header")?).into_owned();
    if version > FORMAT_VERSION {
        return Err(format!(
            "trace format version {version} (written by commit {commit}) is newer than this build reads \
             (version {FORMAT_VERSION}); use a build of commit {commit} or later"
        ));
    }
    if version < FORMAT_VERSION {
        return Err(format!(
            "trace format version {version} (written by commit {commit}) is older than this build reads \
             (version {FORMAT_VERSION}); use a build of commit {commit}"
        ));
    }
    let body_len = u64::from_le_bytes(take(8, "header")?.try_into().expect("8 bytes"));
    if body_len > BODY_BYTES_MAX as u64 {
        return Err(format!(
            "corrupt: the header claims a body of {body_len} bytes"
        ));
    }
    let body = take(body_len as usize, "body")?;
    let config = bincode::config::standard().with_limit::<BODY_BYTES_MAX>();
    let (trace, used): (StoredTrace, usize) = bincode::serde::decode_from_slice(body, config)
        .map_err(|e| format!("corrupt body: {e}"))?;
    if used != body.len() {
        return Err("corrupt body: trailing bytes".to_string());
    }
    Ok(trace)
}
