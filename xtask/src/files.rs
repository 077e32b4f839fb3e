//! Writing files the user asked for, without ever replacing one silently.

use std::path::Path;

/// Writes `contents` to `path`; an existing file is replaced only with `force`.
pub fn write_new(path: &Path, contents: &[u8], force: bool) -> Result<(), String> {
    if path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))
}
