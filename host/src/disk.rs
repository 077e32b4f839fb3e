//! The real host's disk: a node's disk operations carried out on real files in one directory.
//!
//! [`RealDisk`] keeps the disk contract of `faultline_api::disk` with real files. The host
//! calls [`RealDisk::apply`] from one thread per node, one operation at a time, in submission
//! order (the contract's ordered I/O queue), so every operation sees every earlier one. Its
//! results are those of the in-memory reference disk (`faultline_api::testing`): an empty
//! write creates the file and changes no length, a write past the end zero-fills, a read
//! returns fewer bytes at the end of the file, a rename is atomic and replaces its target,
//! `List` gives every file with its length in name order, a missing file is `NotFound` (for
//! `Truncate`, `Sync`, `Delete`, reads and a rename's source), and a write, append or truncate
//! that would make a file longer than `faultline_api::testing::FILE_BYTES_MAX` (1 GiB) fails with `NoSpace` before touching
//! anything.
//!
//! - **Files** are named by the protocol. A name that could reach outside the directory (empty,
//!   `.`, `..`, or holding `/` or a NUL byte) is refused with `IoError::Io` and a warning.
//! - **`Sync { file }`** is `fsync` of the file; **`SyncDir`** is `fsync` of the directory
//!   itself, which makes creations, renames and deletions durable (Linux and the BSDs).
//! - **Errors** of the operating system map to `NotFound` (no such file), `NoSpace` (the
//!   device is full) and `Io` (everything else).
//! - **Handles** of recently used files stay open in a small cache (at most 64);
//!   renames and deletions carry out through it, so a cached handle always names its file.
//!
//! # Lazy-fsync mode
//!
//! A testing mode, like Jepsen's LazyFS: `RealDisk::open(dir, true)`. Data operations (write,
//! append, truncate) do not reach the real file; the disk holds the file's whole content in
//! the process (read from the file at the first data operation on it) and writes it to the
//! file only at `Sync { file }` (the bytes changed since the last sync, then the length, then
//! `fsync`). Killing the process (`kill -9`) thus loses every unsynced write, as a power cut
//! would, which the page cache of the normal mode never does. Reads, `ReadToEnd` and `List`
//! see the held content, as the contract asks.
//!
//! A sync takes the time of a real one before its bytes reach the file: they are first
//! written and fsynced to a staging file (`.faultline-staged`, never read back), and only
//! then copied into the file and fsynced there. So a kill while a sync is under way loses
//! them too, as a power cut during an fsync would; without the staging step they would sit
//! in the page cache for the whole fsync, and only a kill in the microseconds before the
//! `write` would lose anything. Names starting with `.faultline-` are the disk's own: refused
//! to protocols, skipped by listings.
//!
//! Name operations are not held: a file created by a write or append is created on disk at
//! once (empty: its data arrives at its first sync), and renames and deletions happen on disk
//! at once, taking the held content along or dropping it. So every held file exists on disk
//! under its name, and after a `SyncDir` a crash keeps the names the contract promises, data
//! or not, as LazyFS, which caches only data, does too. (A file that appeared on disk only at
//! its first sync would lose a name a completed `SyncDir` covered: an empty marker file, or a
//! file written and renamed before its sync.)
//!
//! A held file stays in memory after its sync, so a log that is appended to and synced over
//! and over is read from disk once; lazy mode's memory is the size of every file written to
//! since the process started.
//!
//! # What it does not model
//!
//! - Torn or reordered writes, lost name operations, bit flips, latent sector errors and the
//!   other storage faults of the simulated disk (`sim::disk`): the files are whatever the
//!   kernel and the device make of them. Outside lazy mode a killed process loses nothing
//!   (the kernel's page cache holds unsynced data); only a power cut or a crash of the
//!   machine does. In lazy mode a kill loses all unsynced data, never part of it.
//! - "A failed operation changed nothing" is kept as far as a real file allows: bounds are
//!   checked before anything is touched, and a write that fails part-way (the device filled
//!   up) is undone by restoring the file's length, or removing the file if the write created
//!   it; bytes it overwrote inside the old length cannot be restored.
//! - Other writers: the directory belongs to one `RealDisk`. Files changed behind its back
//!   (or, in lazy mode, changed on disk after being read) are not noticed; subdirectories and
//!   files with names the disk would refuse are left out of listings.

use faultline_api::disk::{DiskOp, IoError, IoResult};
use faultline_api::testing::FILE_BYTES_MAX;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most file handles kept open at once.
const HANDLES_MAX: usize = 64;

/// A node's disk on real files in one directory.
#[derive(Debug)]
pub struct RealDisk {
    files: Files,
    /// Lazy-fsync mode: each file's content as reads see it, for every file a data operation
    /// has touched. `None` outside lazy mode.
    held: Option<BTreeMap<String, Held>>,
}

/// The directory and the cache of open handles.
#[derive(Debug)]
struct Files {
    dir: PathBuf,
    handles: BTreeMap<String, File>,
}

/// A file's content in lazy mode.
#[derive(Debug)]
struct Held {
    content: Vec<u8>,
    /// The bytes changed since the last sync, `start..end` within `content`, as one range
    /// covering them all. Past the end of `content` the file on disk is only cut (its length
    /// is set at every sync), so a shrinking truncate changes no byte here.
    dirty: Option<(u64, u64)>,
}

impl Held {
    fn mark(&mut self, start: u64, end: u64) {
        if start < end {
            self.dirty = Some(match self.dirty {
                None => (start, end),
                Some((s, e)) => (s.min(start), e.max(end)),
            });
        }
    }

    /// Writes non-empty `data` at `offset`, zero-filling past the end (the caller checked the
    /// bound).
    fn write(&mut self, offset: u64, data: &[u8]) {
        let old = self.content.len() as u64;
        let end = offset + data.len() as u64;
        if old < end {
            self.content.resize(end as usize, 0);
        }
        self.content[offset as usize..end as usize].copy_from_slice(data);
        // Zeros filled between the old end and the write changed too.
        self.mark(offset.min(old), end);
    }

    fn truncate(&mut self, len: u64) {
        let old = self.content.len() as u64;
        self.content.resize(len as usize, 0);
        if len > old {
            self.mark(old, len);
        } else if let Some((start, end)) = self.dirty {
            self.dirty = (start < len).then_some((start, end.min(len)));
        }
    }
}

/// Whether a protocol-chosen name stays inside the directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && !name.starts_with(RESERVED_PREFIX)
}

/// Names the disk keeps for itself (the lazy mode's staging file, the writability probe);
/// a protocol's operation on one is refused, and listings skip them.
const RESERVED_PREFIX: &str = ".faultline-";
/// Where a lazy sync stages the bytes it is about to make durable.
const STAGING: &str = ".faultline-staged";

/// The file names an operation carries.
fn names(op: &DiskOp) -> Vec<&str> {
    match op {
        DiskOp::Write { file, .. }
        | DiskOp::Append { file, .. }
        | DiskOp::Truncate { file, .. }
        | DiskOp::Sync { file }
        | DiskOp::Read { file, .. }
        | DiskOp::ReadToEnd { file, .. }
        | DiskOp::Delete { file } => vec![file],
        DiskOp::Rename { from, to } => vec![from, to],
        DiskOp::SyncDir | DiskOp::List => Vec::new(),
    }
}

fn io_error(error: &io::Error) -> IoError {
    match error.kind() {
        io::ErrorKind::NotFound => IoError::NotFound,
        io::ErrorKind::StorageFull => IoError::NoSpace,
        _ => IoError::Io,
    }
}

/// `len` bytes of `content` from `offset`, fewer at its end.
fn slice(content: &[u8], offset: u64, len: u64) -> Vec<u8> {
    let size = content.len() as u64;
    let start = offset.min(size);
    let end = offset.saturating_add(len).min(size).max(start);
    content[start as usize..end as usize].to_vec()
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The file's handle, opened for reading and writing; with `create`, a missing file is
    /// created (empty). Returns whether it was.
    fn open(&mut self, name: &str, create: bool) -> io::Result<(&mut File, bool)> {
        let mut created = false;
        if !self.handles.contains_key(name) {
            let path = self.path(name);
            let mut options = OpenOptions::new();
            options.read(true).write(true);
            let file = match options.open(&path) {
                Ok(file) => file,
                Err(error) if create && error.kind() == io::ErrorKind::NotFound => {
                    created = true;
                    options.create_new(true).open(&path)?
                }
                Err(error) => return Err(error),
            };
            if self.handles.len() >= HANDLES_MAX {
                self.handles.pop_first();
            }
            self.handles.insert(name.to_string(), file);
        }
        let file = self
            .handles
            .get_mut(name)
            .expect("the handle was just opened");
        Ok((file, created))
    }

    /// The file's length on disk; `None` if there is no such file.
    fn len(&mut self, name: &str) -> io::Result<Option<u64>> {
        let metadata = match self.handles.get(name) {
            Some(file) => file.metadata(),
            None => fs::metadata(self.path(name)),
        };
        match metadata {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Writes non-empty `data` at `offset`; a failed write is undone as far as possible.
    fn write(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        let (file, created) = self.open(name, true)?;
        let old_len = if created {
            Ok(0)
        } else {
            file.metadata().map(|m| m.len())
        };
        let written = old_len.and_then(|old_len| {
            let written = file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.write_all(data));
            if written.is_err() && !created && offset + data.len() as u64 > old_len {
                // Best effort: the error is the write's.
                let _ = file.set_len(old_len);
            }
            written
        });
        if written.is_err() && created {
            self.handles.remove(name);
            // Best effort: the error is the write's.
            let _ = fs::remove_file(self.path(name));
        }
        written
    }

    /// Reads `len` bytes at `offset` from the file on disk, fewer at its end.
    fn read(&mut self, name: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let (file, _) = self.open(name, false)?;
        let size = file.metadata()?.len();
        let start = offset.min(size);
        let count = len.min(size - start);
        let mut data = vec![0; count as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut data)?;
        Ok(data)
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from), self.path(to))?;
        if from != to {
            let handle = self.handles.remove(from);
            self.handles.remove(to);
            if let Some(handle) = handle {
                self.handles.insert(to.to_string(), handle);
            }
        }
        Ok(())
    }

    fn delete(&mut self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name))?;
        self.handles.remove(name);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    /// Every regular file with an acceptable name, and its length on disk, in name order.
    fn list(&self) -> io::Result<BTreeMap<String, u64>> {
        let mut files = BTreeMap::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if valid_name(&name) {
                files.insert(name, entry.metadata()?.len());
            }
        }
        Ok(files)
    }
}

impl RealDisk {
    /// Opens `dir` (it must exist and be a writable directory; the error says which and why).
    /// With `lazy_fsync`, data reaches the files only when synced (the module documentation
    /// says how).
    pub fn open(dir: &Path, lazy_fsync: bool) -> Result<RealDisk, String> {
        let shown = dir.display();
        let metadata =
            fs::metadata(dir).map_err(|e| format!("disk directory {shown} cannot be used: {e}"))?;
        if !metadata.is_dir() {
            return Err(format!("disk directory {shown} is not a directory"));
        }
        // SyncDir opens it.
        File::open(dir).map_err(|e| format!("disk directory {shown} cannot be opened: {e}"))?;
        // Writable: a probe directory, which listings skip should it ever be left behind.
        let probe = dir.join(format!(".faultline-probe-{}", std::process::id()));
        match fs::create_dir(&probe) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("disk directory {shown} is not writable: {e}")),
        }
        fs::remove_dir(&probe)
            .map_err(|e| format!("disk directory {shown} is not writable: {e}"))?;
        Ok(RealDisk {
            files: Files {
                dir: dir.to_path_buf(),
                handles: BTreeMap::new(),
            },
            held: lazy_fsync.then(BTreeMap::new),
        })
    }

    /// Carries out one operation, synchronously, in the caller's order (the host calls it from
    /// one thread per node: the ordered I/O queue).
    pub fn apply(&mut self, op: &DiskOp) -> IoResult {
        if let Some(name) = names(op).into_iter().find(|name| !valid_name(name)) {
            tracing::warn!(
                event = "disk-refused",
                op = %op.describe(),
                name = ?name,
                "a file name must stay inside the node's directory"
            );
            return IoResult::Err(IoError::Io);
        }
        match self.carry_out(op) {
            Ok(result) => result,
            Err(error) => {
                let kind = io_error(&error);
                if kind == IoError::NotFound {
                    tracing::debug!(event = "disk-error", op = %op.describe(), %error);
                } else {
                    tracing::warn!(event = "disk-error", op = %op.describe(), %error);
                }
                IoResult::Err(kind)
            }
        }
    }

    /// What lazy-fsync mode holds that is not yet on disk: bytes of unsynced data (for logs
    /// and tests). A shrinking truncate not yet synced counts no bytes; outside lazy mode, 0.
    pub fn unsynced_bytes(&self) -> u64 {
        self.held.iter().flatten().fold(0, |sum, (_, held)| {
            sum + held.dirty.map_or(0, |(start, end)| end - start)
        })
    }

    fn carry_out(&mut self, op: &DiskOp) -> io::Result<IoResult> {
        const NO_SPACE: IoResult = IoResult::Err(IoError::NoSpace);
        match op {
            // An empty write changes no length, wherever it points; it may create the file.
            DiskOp::Write { file, data, .. } if data.is_empty() => {
                self.files.open(file, true)?;
            }
            DiskOp::Write { offset, data, .. }
                if offset.saturating_add(data.len() as u64) > FILE_BYTES_MAX =>
            {
                return Ok(NO_SPACE);
            }
            DiskOp::Write { file, offset, data } => self.write(file, *offset, data)?,
            DiskOp::Append { file, data } => {
                let len = self.len(file)?.unwrap_or(0);
                if len.saturating_add(data.len() as u64) > FILE_BYTES_MAX {
                    return Ok(NO_SPACE);
                }
                if data.is_empty() {
                    self.files.open(file, true)?;
                } else {
                    self.write(file, len, data)?;
                }
            }
            DiskOp::Truncate { len, .. } if *len > FILE_BYTES_MAX => return Ok(NO_SPACE),
            DiskOp::Truncate { file, len } => {
                if self.held.is_some() {
                    self.hold(file, false)?.truncate(*len);
                } else {
                    self.files.open(file, false)?.0.set_len(*len)?;
                }
            }
            DiskOp::Sync { file } => self.sync(file)?,
            DiskOp::Read { file, offset, len } => return self.read(file, *offset, *len),
            DiskOp::ReadToEnd { file, offset } => return self.read(file, *offset, u64::MAX),
            DiskOp::Rename { from, to } => {
                self.files.rename(from, to)?;
                if let Some(held) = &mut self.held
                    && from != to
                {
                    held.remove(to);
                    if let Some(content) = held.remove(from) {
                        held.insert(to.clone(), content);
                    }
                }
            }
            DiskOp::Delete { file } => {
                self.files.delete(file)?;
                if let Some(held) = &mut self.held {
                    held.remove(file);
                }
            }
            DiskOp::SyncDir => self.files.sync_dir()?,
            DiskOp::List => {
                let mut files = self.files.list()?;
                for (name, held) in self.held.iter().flatten() {
                    // Every held file exists on disk; only its length may differ.
                    if let Some(len) = files.get_mut(name) {
                        *len = held.content.len() as u64;
                    }
                }
                return Ok(IoResult::Files(files.into_iter().collect()));
            }
        }
        Ok(IoResult::Ok)
    }

    /// The file's length as reads see it; `None` if there is no such file.
    fn len(&mut self, name: &str) -> io::Result<Option<u64>> {
        match self.held.as_ref().and_then(|held| held.get(name)) {
            Some(held) => Ok(Some(held.content.len() as u64)),
            None => self.files.len(name),
        }
    }

    /// Writes non-empty `data` at `offset`, within the bound: to the file, or in lazy mode to
    /// the held content (the file is created on disk at once if missing).
    fn write(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.held.is_some() {
            self.hold(name, true)?.write(offset, data);
            Ok(())
        } else {
            self.files.write(name, offset, data)
        }
    }

    /// Lazy mode: the file's held content, read from disk at the first touch; with `create`,
    /// a missing file is created on disk, empty.
    fn hold(&mut self, name: &str, create: bool) -> io::Result<&mut Held> {
        let Some(held) = &mut self.held else {
            return Err(io::Error::other("the disk is not in lazy-fsync mode"));
        };
        if !held.contains_key(name) {
            let (file, created) = self.files.open(name, create)?;
            let mut content = Vec::new();
            if !created {
                file.seek(SeekFrom::Start(0))?;
                file.read_to_end(&mut content)?;
            }
            let dirty = None;
            held.insert(name.to_string(), Held { content, dirty });
        }
        Ok(held.get_mut(name).expect("the file was just held"))
    }

    fn read(&mut self, name: &str, offset: u64, len: u64) -> io::Result<IoResult> {
        if let Some(held) = self.held.as_ref().and_then(|held| held.get(name)) {
            return Ok(IoResult::Data(slice(&held.content, offset, len)));
        }
        Ok(IoResult::Data(self.files.read(name, offset, len)?))
    }

    /// `fsync` of the file; in lazy mode the held changes are written to it first.
    fn sync(&mut self, name: &str) -> io::Result<()> {
        let staging_path = self.files.dir.join(STAGING);
        let (file, _) = self.files.open(name, false)?;
        if let Some(held) = self.held.as_mut().and_then(|held| held.get_mut(name)) {
            if let Some((start, end)) = held.dirty {
                let bytes = &held.content[start as usize..end as usize];
                let staging = File::create(&staging_path)?;
                (&staging).write_all(bytes)?;
                staging.sync_all()?;
                file.seek(SeekFrom::Start(start))?;
                file.write_all(bytes)?;
            }
            file.set_len(held.content.len() as u64)?;
            file.sync_all()?;
            // Only now: a failed sync leaves the changes held, to be written by the next.
            held.dirty = None;
            return Ok(());
        }
        file.sync_all()
    }
}
