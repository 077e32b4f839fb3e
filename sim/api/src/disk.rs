//! Disk operations, as a protocol asks for them, and how they complete.
//!
//! # The disk contract
//!
//! What every host (the simulator, a real host on real files) guarantees, per node:
//!
//! - **Submission order.** Operations take effect in the order they were submitted
//!   (`Context::disk`), whatever order their completions are reported in.
//! - **Reads** see every write, append and truncate submitted before them, synced or not.
//! - **Listings** (`DiskOp::List`) see every name operation submitted before them.
//! - **`Sync { file }`**, once it completes, has made durable every data operation (write,
//!   append, truncate) on that file submitted before it.
//! - **`SyncDir`**, once it completes, has made durable every name operation (a file created
//!   by its first write, rename, delete) submitted before it. A rename is atomic.
//! - **Completions** may be reported in any order; each operation completes exactly once
//!   while the node lives. A crash loses the completions still owed, and the disk decides what
//!   of the unsynced operations survives (`sim::disk` says how the simulated one decides).
//! - **A failed operation changed nothing.**
//!
//! So a protocol may submit a write, a sync of its file and a `SyncDir` back to back without
//! waiting: the sync covers the write, and once both complete the write is durable under its
//! name. A real host keeps the contract with one ordered I/O queue per node.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A disk operation, as a protocol asks for it.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub enum DiskOp {
    Write {
        file: String,
        offset: u64,
        data: Vec<u8>,
    },
    Append {
        file: String,
        data: Vec<u8>,
    },
    Truncate {
        file: String,
        len: u64,
    },
    Sync {
        file: String,
    },
    /// Reads `len` bytes at `offset`, fewer at the end of the file.
    Read {
        file: String,
        offset: u64,
        len: u64,
    },
    /// Reads from `offset` to the end of the file.
    ReadToEnd {
        file: String,
        offset: u64,
    },
    Rename {
        from: String,
        to: String,
    },
    Delete {
        file: String,
    },
    SyncDir,
    /// Lists the files with their lengths, in name order: `IoResult::Files`.
    List,
}

impl DiskOp {
    /// Whether the operation makes earlier ones durable.
    pub fn is_sync(&self) -> bool {
        matches!(self, DiskOp::Sync { .. } | DiskOp::SyncDir)
    }

    /// A one-line description for the trace (data is summarized, not dumped).
    pub fn describe(&self) -> String {
        match self {
            DiskOp::Write { file, offset, data } => {
                format!("write {file} @{offset} {} bytes", data.len())
            }
            DiskOp::Append { file, data } => format!("append {file} {} bytes", data.len()),
            DiskOp::Truncate { file, len } => format!("truncate {file} to {len}"),
            DiskOp::Sync { file } => format!("sync {file}"),
            DiskOp::Read { file, offset, len } => format!("read {file} @{offset} {len} bytes"),
            DiskOp::ReadToEnd { file, offset } => format!("read {file} @{offset} to the end"),
            DiskOp::Rename { from, to } => format!("rename {from} -> {to}"),
            DiskOp::Delete { file } => format!("delete {file}"),
            DiskOp::SyncDir => "sync-dir".to_string(),
            DiskOp::List => "list".to_string(),
        }
    }
}

/// Why a disk operation failed. A failed operation changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize)]
pub enum IoError {
    /// The device reported an error.
    Io,
    /// The disk is full.
    NoSpace,
    /// No file of that name.
    NotFound,
}

/// How a disk operation completed.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub enum IoResult {
    Ok,
    /// The bytes read (fewer than asked at the end of the file).
    Data(Vec<u8>),
    /// A listing: every file and its length, in name order.
    Files(Vec<(String, u64)>),
    Err(IoError),
}

impl IoResult {
    pub fn describe(&self) -> String {
        match self {
            IoResult::Ok => "ok".to_string(),
            IoResult::Data(data) => format!("{} bytes", data.len()),
            IoResult::Files(files) => format!("{} files", files.len()),
            IoResult::Err(error) => format!("error {error:?}"),
        }
    }
}

/// A handle to a disk operation, matched with its completion in `Node::on_disk`. Unique per
/// node for the whole run (restarts included).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct IoId(pub u64);

impl fmt::Display for IoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "io{}", self.0)
    }
}
