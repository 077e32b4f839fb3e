//! Files the user asked for: checked before a run starts (so that a missing folder or a file
//! that exists is an error before minutes of work, not after), and never replaced silently.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Checks that `path` can be written: its folder exists, it is not a folder itself, and it does
/// not exist unless `force`. `flag` names the option in the error (`--diagram`).
pub fn check_output(flag: &str, path: &Path, force: bool) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{flag} {}: is a folder", path.display()));
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(format!(
            "{flag} {}: there is no folder {}",
            path.display(),
            folder.display()
        ));
    }
    if path.exists() && !force {
        return Err(format!(
            "{flag} {}: the file exists; pass --force to replace it",
            path.display()
        ));
    }
    Ok(())
}

/// Checks every output of a command before it runs: each as [`check_output`], and no two
/// options naming the same file (the second would replace the first).
pub fn check_outputs(outputs: &[(&str, Option<&PathBuf>)], force: bool) -> Result<(), String> {
    let mut seen: Vec<(&str, &PathBuf)> = Vec::new();
    for &(flag, path) in outputs {
        let Some(path) = path else { continue };
        check_output(flag, path, force)?;
        if let Some((other, _)) = seen.iter().find(|(_, p)| same_file(p, path)) {
            return Err(format!(
                "{other} and {flag} both name {}; give each its own file",
                path.display()
            ));
        }
        seen.push((flag, path));
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    absolute(a) == absolute(b)
}

/// Creates `path` for writing; an existing file is replaced only with `force`.
pub fn create(path: &Path, force: bool) -> Result<BufWriter<File>, String> {
    if path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `contents` to `path`; an existing file is replaced only with `force`.
pub fn write_new(path: &Path, contents: &[u8], force: bool) -> Result<(), String> {
    use std::io::Write;
    let mut file = create(path, force)?;
    file.write_all(contents)
        .and_then(|()| file.flush())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a text file of at most `bytes_max` bytes (`sim::limits::read_file`); `what` names
/// it in errors.
pub fn read_bounded(path: &Path, what: &str, bytes_max: u64) -> Result<String, String> {
    let bytes = sim::limits::read_file(path, what, bytes_max)?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}
