//! Goal: the source tree keeps the rules that make runs a pure function of their seed and keep
//! the simulator ignorant of protocols. Method: read the files and fail on banned patterns
//! (as TigerBeetle's tidy.zig and rust-analyzer's tidy test do); clippy.toml bans the same
//! types and methods at compile time, and this catches what clippy cannot see, such as an
//! `allow` without a reason or a protocol reaching into the engine.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(folder: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files_under(crates: &[&str]) -> Vec<(PathBuf, String)> {
    let mut paths = Vec::new();
    for name in crates {
        rust_files(&root().join(name).join("src"), &mut paths);
    }
    assert!(!paths.is_empty());
    paths
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// Code lines, without comments: a doc comment may name what it forbids.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("")))
}

// Code that runs inside the simulator: no wall clock, no OS randomness, no random-order maps,
// no threads.
#[test]
fn simulated_code_is_deterministic() {
    let banned = [
        "std::time",
        "SystemTime",
        "thread_rng",
        "OsRng",
        "from_entropy",
        "from_os_rng",
        "getrandom",
        "HashMap",
        "HashSet",
        "RandomState",
        "DefaultHasher",
        "thread::spawn",
        "std::env::var",
    ];
    let mut problems = Vec::new();
    for (path, text) in files_under(&["sim", "protocols", "scenarios"]) {
        // check_seeds reads FAULTLINE_SEED in the test process, outside any simulation.
        let allowed_env = path.ends_with("sim/src/testing.rs");
        for (number, line) in code_lines(&text) {
            for pattern in banned {
                if line.contains(pattern) && !(allowed_env && pattern == "std::env::var") {
                    problems.push(format!(
                        "{}:{number}: `{pattern}` in simulated code",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The first path segments a `sim::` path names: `sim::api::Context` gives `api`,
/// `sim::{Context, time::Duration}` gives `Context` and `time`.
fn sim_imports(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("sim::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 5..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mysim::`, not `sim::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let first = item
                            .trim()
                            .split("::")
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        if !first.is_empty() {
                            names.push(first);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

// Protocols reach the simulator only through the protocol-facing API: the api, time,
// history, rng, hash and disk modules, and the root re-exports of their items.
#[test]
fn protocols_use_only_the_protocol_api() {
    let allowed = [
        "api",
        "time",
        "history",
        "rng",
        "hash",
        "disk",
        "Context",
        "Node",
        "NodeId",
        "TimerId",
        "IoId",
        "Message",
        "Duration",
        "Instant",
        "Rng",
        "HistoryRecord",
        "OpStatus",
        "StableHasher",
        "DiskOp",
        "IoResult",
        "IoError",
    ];
    let mut problems = Vec::new();
    for (path, text) in files_under(&["protocols"]) {
        for name in sim_imports(&without_comments(&text)) {
            if !allowed.contains(&name.as_str()) {
                problems.push(format!(
                    "{}: `sim::{name}` is not part of the protocol-facing API",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn sim_imports_are_parsed() {
    let code =
        "use sim::{Context, time::{Duration, Instant}};\nuse sim::engine::Core; let x = mysim::y;";
    assert_eq!(sim_imports(code), ["Context", "time", "engine"]);
}

// The engine knows no protocol: nothing in sim/ names the protocols or scenarios crates.
#[test]
fn the_engine_knows_no_protocol() {
    let mut problems = Vec::new();
    for (path, text) in files_under(&["sim"]) {
        for (number, line) in code_lines(&text) {
            if line.contains("protocols::") || line.contains("scenarios::") {
                problems.push(format!(
                    "{}:{number}: the engine names a protocol",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// Every lint exception says why, on the line before it.
#[test]
fn every_allow_has_a_reason() {
    let mut problems = Vec::new();
    for (path, text) in files_under(&[
        "sim",
        "protocols",
        "scenarios",
        "checkers",
        "traces",
        "xtask",
    ]) {
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("#[allow(")
                || line.trim_start().starts_with("#![allow(")
            {
                let previous = index
                    .checked_sub(1)
                    .map(|i| lines[i].trim_start())
                    .unwrap_or("");
                if !previous.starts_with("//") {
                    problems.push(format!(
                        "{}:{}: an allow without a comment saying why",
                        path.display(),
                        index + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
