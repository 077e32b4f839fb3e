//! `cargo xtask audit`: where a dependency tree reads OS randomness, the wall clock or
//! random-state hash maps — what would make a simulated run depend on more than its seed.
//!
//! The tree is `cargo metadata`'s for the manifest (`--manifest-path`, default the current
//! workspace), filtered to this machine's platform; every package's `src/` is scanned, code
//! only (comments and string literals are blanked), for the patterns below. A hit is a place
//! to look at, not a verdict: code that is never reached from a handler is harmless, and the
//! determinism check (`check_seeds`, `fuzz --check-determinism`) says whether a run differs.
//! What no audit can see: a library's raw system calls. Output: `crate  file:line  pattern`,
//! one line per hit, in crate and file order; exit 1 when there is any, 0 when none, 2 on bad
//! input.

use faultline_toolbox::cli::EXIT_BAD_INPUT;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// The Cargo.toml of the tree to audit (default: the current workspace's).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

/// What to look for, and what each means.
const PATTERNS: &[(&str, &str)] = &[
    ("thread_rng", "OS randomness"),
    ("rand::rng()", "OS randomness"),
    ("rand::random", "OS randomness"),
    ("OsRng", "OS randomness"),
    ("SysRng", "OS randomness"),
    ("from_entropy", "OS randomness"),
    ("from_os_rng", "OS randomness"),
    ("getrandom(", "OS randomness"),
    ("getrandom::", "OS randomness"),
    ("getentropy", "OS randomness"),
    ("SystemTime::now", "wall clock"),
    ("Instant::now", "wall clock"),
    ("RandomState", "random-state hash map"),
    ("HashMap::new", "random-state hash map"),
    ("HashMap::with_capacity", "random-state hash map"),
    ("HashSet::new", "random-state hash map"),
    ("HashSet::with_capacity", "random-state hash map"),
    ("DefaultHasher", "random-state hash map"),
];
/// Files larger than this are skipped (generated bindings), and said so.
const FILE_BYTES_MAX: u64 = 4 << 20;

pub fn run(args: Args) -> i32 {
    let packages = match packages(args.manifest_path.as_deref()) {
        Ok(packages) => packages,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut hits = 0usize;
    for (name, dir) in &packages {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        files.sort();
        for file in files {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if size > FILE_BYTES_MAX {
                eprintln!("audit: skipped {} ({size} bytes)", file.display());
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let shown = file
                .strip_prefix(dir)
                .unwrap_or(&file)
                .display()
                .to_string();
            for (number, line) in blank_comments_and_strings(&text).lines().enumerate() {
                for (pattern, _) in PATTERNS.iter().filter(|(p, _)| line.contains(p)) {
                    println!("{name}\t{shown}:{}\t{pattern}", number + 1);
                    hits += 1;
                }
            }
        }
    }
    eprintln!(
        "audit: {} packages, {hits} places reading OS randomness, the wall clock or random-state hash maps",
        packages.len()
    );
    if hits > 0 { 1 } else { 0 }
}

/// Every package of the tree (name and version, and its directory), from `cargo metadata`.
fn packages(manifest: Option<&Path>) -> Result<Vec<(String, PathBuf)>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let host = host_triple()?;
    let mut command = Command::new(&cargo);
    command.args([
        "metadata",
        "--format-version",
        "1",
        "--filter-platform",
        &host,
    ]);
    if let Some(manifest) = manifest {
        if !manifest.is_file() {
            return Err(format!(
                "--manifest-path {}: no such file",
                manifest.display()
            ));
        }
        command.arg("--manifest-path").arg(manifest);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata's output is not JSON: {e}"))?;
    let mut packages: Vec<(String, PathBuf)> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|package| {
            let name = package["name"].as_str()?;
            let version = package["version"].as_str()?;
            let manifest = PathBuf::from(package["manifest_path"].as_str()?);
            Some((
                format!("{name}-{version}"),
                manifest.parent()?.to_path_buf(),
            ))
        })
        .collect();
    packages.sort();
    Ok(packages)
}

fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => rust_files(&path, out),
            Ok(kind) if kind.is_file() && path.extension().is_some_and(|e| e == "rs") => {
                out.push(path)
            }
            _ => {}
        }
    }
}

/// The text with comments and string literals blanked, lines kept.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_lines = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                keep_lines(&mut out, chars[i]);
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    keep_lines(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    keep_lines(&mut out, chars[i]);
                }
                i += 1;
            }
            out.push_str("  ");
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_strings_are_not_code() {
        let text = "let a = thread_rng(); // OsRng\n/* Instant::now\n */ \"HashMap::new\" x";
        let code = blank_comments_and_strings(text);
        assert!(code.contains("thread_rng"));
        assert!(!code.contains("OsRng"));
        assert!(!code.contains("Instant::now"));
        assert!(!code.contains("HashMap"));
        assert_eq!(code.lines().count(), 3);
    }
}
