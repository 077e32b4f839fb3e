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
    // The toolbox's scenario helpers run inside a run; its runner and command line drive runs
    // from outside (threads, the wall clock) and are not simulated code.
    let toolbox_simulated = [
        "harness.rs",
        "shrink.rs",
        "lib.rs",
        "spec.rs",
        "registry.rs",
    ];
    let toolbox = files_under(&["toolbox"]).into_iter().filter(|(path, _)| {
        toolbox_simulated
            .iter()
            .any(|f| path.ends_with(format!("toolbox/src/{f}")))
    });
    for (path, text) in files_under(&["sim", "protocols", "scenarios", "example"])
        .into_iter()
        .chain(toolbox)
    {
        // check_seeds reads FAULTLINE_SEED in the test process, outside any simulation.
        let allowed_env = path.ends_with("sim/src/testing.rs");
        // Code only: a message naming `thread_rng` as a suspect is no use of it.
        let code = blank_literals(&text);
        for (number, line) in code_lines(&code) {
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

/// Every package a manifest depends on, in any section (normal, dev, build, per target), by
/// its real name: a renamed dependency (`engine = { package = "sim" }`) counts as `sim`.
fn dependencies(manifest: &str) -> Vec<String> {
    let manifest: toml::Table = manifest.parse().expect("a manifest is TOML");
    let mut scopes = vec![&manifest];
    if let Some(toml::Value::Table(targets)) = manifest.get("target") {
        scopes.extend(targets.values().filter_map(|t| t.as_table()));
    }
    let sections = ["dependencies", "dev-dependencies", "build-dependencies"];
    let tables = scopes
        .into_iter()
        .flat_map(|scope| sections.iter().filter_map(|s| scope.get(*s)?.as_table()));
    let mut names = Vec::new();
    for deps in tables {
        for (name, spec) in deps {
            let package = spec.get("package").and_then(|p| p.as_str());
            names.push(package.unwrap_or(name).to_string());
        }
    }
    names
}

// Protocols depend on the protocol API and never on the engine: Cargo then forbids every
// path from a protocol into the simulator, and the API crate itself depends on no part of it.
#[test]
fn protocols_depend_on_the_protocol_api_not_on_the_engine() {
    for manifest in ["protocols/Cargo.toml", "sim/api/Cargo.toml"] {
        let text = std::fs::read_to_string(root().join(manifest)).expect("manifest");
        let deps = dependencies(&text);
        assert!(
            !deps.iter().any(|d| d == "sim"),
            "{manifest} depends on `sim`; protocols reach the world through `faultline-api` only"
        );
        if manifest.starts_with("protocols") {
            assert!(
                deps.iter().any(|d| d == "faultline-api"),
                "{manifest}: {deps:?}"
            );
        }
    }
}

// The toolbox is what a user's crate depends on to test its own protocol: it must not pull in
// Faultline's protocols or their scenarios.
#[test]
fn the_toolbox_knows_no_built_in_protocol() {
    let text = std::fs::read_to_string(root().join("toolbox/Cargo.toml")).expect("manifest");
    let deps = dependencies(&text);
    for crate_name in ["protocols", "scenarios", "faultline-host", "xtask"] {
        assert!(
            !deps.iter().any(|d| d == crate_name),
            "toolbox/Cargo.toml depends on `{crate_name}`"
        );
    }
    assert!(deps.iter().any(|d| d == "sim"));
}

// One node, two hosts: the real host runs protocols through the protocol API alone (no
// protocol code in it; the simulator only to test its disk against the simulated one), and
// no protocol compiles differently for it (no `cfg` but tests).
#[test]
fn the_real_host_knows_no_protocol_and_protocols_know_no_host() {
    let text = std::fs::read_to_string(root().join("host/Cargo.toml")).expect("manifest");
    let manifest: toml::Table = text.parse().expect("a manifest is TOML");
    let normal = manifest["dependencies"].as_table().expect("dependencies");
    for crate_name in ["protocols", "scenarios", "sim", "checkers"] {
        assert!(
            !normal.contains_key(crate_name),
            "host/Cargo.toml depends on `{crate_name}`"
        );
    }
    assert!(normal.contains_key("faultline-api"));
    for (path, text) in files_under(&["protocols"]) {
        for (number, line) in code_lines(&text) {
            let cfg = line.contains("#[cfg(") || line.contains("cfg!(");
            if cfg && !line.contains("cfg(test)") {
                panic!("{}:{number}: a `cfg` in a protocol: {line}", path.display());
            }
        }
    }
}

#[test]
fn dependencies_are_read_from_every_section() {
    let manifest = r#"
[dependencies]
a = "1"
engine = { package = "sim", path = "../sim" }
[dev-dependencies]
b.workspace = true
[target.'cfg(unix)'.build-dependencies]
c = "1"
"#;
    assert_eq!(dependencies(manifest), ["a", "sim", "b", "c"]);
}

// Protocols keep no state outside their nodes and touch no real resource: everything goes
// through the context. Mutable statics, atomics, locks and thread-locals would carry state
// across nodes, runs and seeds; files, sockets and processes are the real world.
#[test]
fn protocols_keep_no_hidden_state_and_touch_no_real_resource() {
    let banned = [
        "static mut",
        "Atomic",
        "thread_local!",
        "Mutex",
        "RwLock",
        "OnceLock",
        "LazyLock",
        "std::fs",
        "std::net",
        "std::process",
        "std::io::stdin",
    ];
    let mut problems = Vec::new();
    for (path, text) in files_under(&["protocols"]) {
        for (number, line) in code_lines(&text) {
            for pattern in banned {
                if line.contains(pattern) {
                    problems.push(format!(
                        "{}:{number}: `{pattern}` in a protocol",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The longest a function in `sim/` may be, in lines; see `long_functions_in_sim`.
const FUNCTION_LINES_MAX: usize = 70;

/// Functions allowed past the limit, each with the reason.
const LONG_FUNCTIONS_ALLOWED: &[(&str, &str)] = &[];

// No function in the engine (outside its unit tests) is longer than about a screen: long
// functions are where several concerns hide (`apply_fault` was 194 lines).
#[test]
fn no_long_functions_in_sim() {
    let mut problems = Vec::new();
    for (path, text) in files_under(&["sim"]) {
        // Unit tests (the `#[cfg(test)]` module that ends a file) are tables of cases.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (name, first_line, lines) in functions(code) {
            if lines > FUNCTION_LINES_MAX
                && !LONG_FUNCTIONS_ALLOWED
                    .iter()
                    .any(|(allowed, _)| *allowed == name)
            {
                problems.push(format!(
                    "{}:{first_line}: fn {name} is {lines} lines (at most {FUNCTION_LINES_MAX})",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn functions_are_measured() {
    let code = "fn a() {\n    let s = \"}}{\";\n    let c = '}';\n}\n\n// fn b() {\nfn c<'a>(x: &'a str) -> &'a str {\n    x // }\n}\ntrait T { fn d(&self); }\n";
    assert_eq!(
        functions(code),
        [("a".to_string(), 1, 4), ("c".to_string(), 7, 3)]
    );
}

/// Every function with a body: (name, first line, length in lines). Braces inside strings,
/// character literals and comments do not count.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = blank_literals(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(at) = find_fn_keyword(line) else {
            continue;
        };
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i32;
        let mut opened = false;
        'scan: for (offset, rest) in lines[index..].iter().enumerate() {
            let rest = if offset == 0 { &rest[at..] } else { rest };
            for c in rest.chars() {
                match c {
                    ';' if !opened => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
                if opened && depth == 0 {
                    found.push((name.clone(), index + 1, offset + 1));
                    break 'scan;
                }
            }
        }
    }
    found
}

/// Where `fn ` starts as a keyword on a line.
fn find_fn_keyword(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = line[from..].find("fn ") {
        let at = from + found;
        let before = line[..at].chars().last();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

/// The text with comments, string literals and character literals replaced by spaces (line
/// breaks kept), so that counting braces sees only code.
fn blank_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                }
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{7f}'.
            out.push_str("   ");
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

// Every lint exception says why, on the line before it.
#[test]
fn every_allow_has_a_reason() {
    let mut problems = Vec::new();
    for (path, text) in files_under(&[
        "sim",
        "protocols",
        "scenarios",
        "toolbox",
        "checkers",
        "traces",
        "host",
        "xtask",
        "example",
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
