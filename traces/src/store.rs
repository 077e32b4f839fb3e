//! Stored traces. A file is a header and a body of checksummed blocks:
//!
//! | bytes | what |
//! |---|---|
//! | 16 | `FAULTLINE-TRACE\n` |
//! | 4 | format version (little-endian), [`FORMAT_VERSION`] |
//! | 2 + n | the commit of the build that wrote it: length, then UTF-8 |
//! | 8 | body length in bytes |
//! | 4 | CRC-32C of the header so far |
//! | ... | the body (bincode) in blocks of [`BLOCK_BYTES`], each followed by its CRC-32C |
//!
//! A truncated, corrupt, older or newer file gives an error that says which in words, with the
//! byte offsets of a damaged block, never a panic. Version 1 had no checksums: a changed digit
//! in its body went unnoticed.

use serde::{Deserialize, Serialize};
use sim::{Report, TraceRecord};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 16] = b"FAULTLINE-TRACE\n";
/// Bump when the layout changes; readers refuse other versions with a message that says which.
/// Version 3: verdicts name their checker and location; traces hold observations.
pub const FORMAT_VERSION: u32 = 4;
/// Stored traces are bounded; a length field claiming more is corruption.
const BODY_BYTES_MAX: usize = 1 << 30;
/// The body is checksummed in blocks of this many bytes, so damage is located.
pub const BLOCK_BYTES: usize = 64 << 10;
const CRC_BYTES: usize = 4;

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
    let bytes = encode(trace)?;
    let mut file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The bytes of a stored trace.
pub fn encode(trace: &StoredTrace) -> Result<Vec<u8>, String> {
    let body = bincode::serde::encode_to_vec(trace, bincode::config::standard())
        .map_err(|e| format!("encoding the trace: {e}"))?;
    if body.len() > BODY_BYTES_MAX {
        return Err(format!(
            "the trace takes {} bytes; stored traces take at most {BODY_BYTES_MAX}",
            body.len()
        ));
    }
    let commit = trace.commit.as_bytes();
    let commit = &commit[..commit.len().min(usize::from(u16::MAX))];
    let blocks = body.len().div_ceil(BLOCK_BYTES);
    let mut bytes = Vec::with_capacity(64 + commit.len() + body.len() + blocks * CRC_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(commit.len() as u16).to_le_bytes());
    bytes.extend_from_slice(commit);
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let header_crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&header_crc.to_le_bytes());
    for block in body.chunks(BLOCK_BYTES) {
        bytes.extend_from_slice(block);
        bytes.extend_from_slice(&crc32c::crc32c(block).to_le_bytes());
    }
    Ok(bytes)
}

/// Reads a stored trace.
pub fn load(path: &Path) -> Result<StoredTrace, String> {
    let size_max = (BODY_BYTES_MAX + BODY_BYTES_MAX / BLOCK_BYTES * CRC_BYTES + (1 << 17)) as u64;
    let bytes = sim::limits::read_file(path, "a stored trace", size_max)?;
    decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads the file's bytes in order, saying where it ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < n {
            return Err(format!(
                "truncated: the file ends inside its {what}, at byte {} of {}",
                self.bytes.len(),
                self.offset + n
            ));
        }
        self.offset += n;
        Ok(&rest[..n])
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }
}

/// Decodes the bytes of a stored trace.
pub fn decode(bytes: &[u8]) -> Result<StoredTrace, String> {
    let mut reader = Reader { bytes, offset: 0 };
    if reader.take(MAGIC.len(), "header").ok() != Some(MAGIC.as_slice()) {
        return Err("not a Faultline trace (no FAULTLINE-TRACE header)".to_string());
    }
    let version = reader.u32("header")?;
    let commit_len = u16::from_le_bytes(reader.take(2, "header")?.try_into().expect("2 bytes"));
    let commit = String::from_utf8_lossy(reader.take(usize::from(commit_len), "header")?);
    check_version(version, &commit)?;
    let body_len = u64::from_le_bytes(reader.take(8, "header")?.try_into().expect("8 bytes"));
    let header_end = reader.offset;
    if reader.u32("header")? != crc32c::crc32c(&bytes[..header_end]) {
        return Err(format!(
            "corrupt: the header (bytes 0 to {}) does not match its checksum",
            header_end - 1
        ));
    }
    if body_len > BODY_BYTES_MAX as u64 {
        return Err(format!(
            "corrupt: the header claims a body of {body_len} bytes"
        ));
    }
    let body = read_blocks(&mut reader, body_len as usize)?;
    if reader.offset != bytes.len() {
        return Err(format!(
            "corrupt: {} bytes follow the end of the trace at byte {}",
            bytes.len() - reader.offset,
            reader.offset
        ));
    }
    let config = bincode::config::standard().with_limit::<BODY_BYTES_MAX>();
    match bincode::serde::decode_from_slice::<StoredTrace, _>(&body, config) {
        Ok((trace, used)) if used == body.len() => Ok(trace),
        _ => Err(format!(
            "the body matches its checksums but is not a trace of format version \
             {FORMAT_VERSION}: it was written by another build of that version (commit {commit})"
        )),
    }
}

fn check_version(version: u32, commit: &str) -> Result<(), String> {
    if version > FORMAT_VERSION {
        return Err(format!(
            "written by a newer version of Faultline (trace format version {version}, commit \
             {commit}), newer than this build reads (version {FORMAT_VERSION}): use a build of \
             commit {commit} or later"
        ));
    }
    if version < FORMAT_VERSION {
        return Err(format!(
            "written by an older version of Faultline (trace format version {version}, commit \
             {commit}); this build reads version {FORMAT_VERSION}: show it with a build of commit \
             {commit}, or replay the run with this build and store it again"
        ));
    }
    Ok(())
}

/// The body, block by block, each checked against its checksum.
fn read_blocks(reader: &mut Reader<'_>, body_len: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::with_capacity(body_len.min(reader.bytes.len()));
    while body.len() < body_len {
        let start = reader.offset;
        let block = reader.take(BLOCK_BYTES.min(body_len - body.len()), "body")?;
        let crc = reader.u32("body")?;
        if crc != crc32c::crc32c(block) {
            return Err(format!(
                "corrupt: bytes {start} to {} (block {} of the body) do not match their checksum",
                start + block.len() - 1,
                body.len() / BLOCK_BYTES + 1
            ));
        }
        body.extend_from_slice(block);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(records: usize) -> StoredTrace {
        StoredTrace {
            commit: "abc123".to_string(),
            plan_json: "{}".to_string(),
            report: Report {
                scenario: "a scenario".to_string(),
                seed: 7,
                bug: None,
                verdict: sim::Verdict::pass(),
                counters: Default::default(),
                gauges: Default::default(),
                latencies: Default::default(),
                faults: Default::default(),
                trace_hash: 1,
                event_count: records as u64,
                virtual_time: sim::Duration::from_secs(1),
            },
            records: (0..records as u64)
                .map(|i| TraceRecord {
                    time_nanos: i * 1_000_003,
                    node: (i % 5) as u32,
                    event: sim::TraceEvent::Note {
                        text: format!("note {i}"),
                    },
                })
                .collect(),
        }
    }

    // Goal: every single-byte change is detected and located. Method: change one byte (a bit,
    // or a digit-like +1) at many offsets of a trace several blocks long, and decode.
    #[test]
    fn every_changed_byte_is_detected() {
        let trace = trace(20_000);
        let bytes = encode(&trace).unwrap();
        assert!(bytes.len() > 3 * BLOCK_BYTES, "{} bytes", bytes.len());
        assert_eq!(decode(&bytes).unwrap(), trace);
        for offset in (0..bytes.len()).step_by(997) {
            for change in [1u8, 0x80] {
                let mut damaged = bytes.clone();
                damaged[offset] = damaged[offset].wrapping_add(change);
                let error = decode(&damaged).unwrap_err();
                assert!(
                    error.starts_with("corrupt")
                        || error.starts_with("not a Faultline")
                        || error.contains("version")
                        || error.starts_with("truncated"),
                    "offset {offset}: {error}"
                );
            }
        }
        let mut damaged = bytes.clone();
        let offset = bytes.len() - 100;
        damaged[offset] ^= 1;
        let error = decode(&damaged).unwrap_err();
        assert!(error.contains("do not match their checksum"), "{error}");
        assert!(
            error.contains(&format!("to {}", bytes.len() - 5)),
            "{error}"
        );
    }

    #[test]
    fn older_versions_say_so() {
        let mut bytes = encode(&trace(3)).unwrap();
        bytes[16..20].copy_from_slice(&1u32.to_le_bytes());
        let error = decode(&bytes).unwrap_err();
        assert!(
            error.starts_with(
                "written by an older version of Faultline (trace format version 1, commit abc123)"
            ),
            "{error}"
        );
        bytes[16..20].copy_from_slice(&9u32.to_le_bytes());
        assert!(decode(&bytes).unwrap_err().contains("newer version"));
    }
}
