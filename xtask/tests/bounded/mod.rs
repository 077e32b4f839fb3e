//! Running the built command line with bounded memory and time, as the input tests need: a
//! run that tries to allocate without bound dies of the memory limit (a signal, which the tests
//! report), and one that hangs is killed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Address space a single command may use.
pub const MEMORY_KIB_MAX: u64 = 2 << 20;
/// A command still running after this long is a hang (the longest legitimate case here takes a
/// few seconds; this is a bound for the test, not a measurement).
pub const SECONDS_MAX: u64 = 120;

/// How a command ended.
#[derive(Debug)]
pub struct Ended {
    /// The exit code; `None` when a signal ended it (an abort, the memory limit).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ended {
    /// Exit codes 0 to 6 are the contract; 101 is a panic, a signal is an abort.
    pub fn assert_contract(&self, what: &str) {
        assert!(
            matches!(self.code, Some(0..=6)),
            "{what}: ended with {:?}\nstderr: {}",
            self.code,
            tail(&self.stderr)
        );
        assert!(
            !self.stderr.contains("panicked"),
            "{what}: a panic\nstderr: {}",
            tail(&self.stderr)
        );
    }

    /// The first line of stderr.
    pub fn error(&self) -> &str {
        self.stderr.lines().next().unwrap_or_default()
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2_000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// A fresh scratch folder.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-inputs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// Runs `cargo xtask ARGS` (the built binary) under the memory limit, killing it after
/// [`SECONDS_MAX`]; stdout and stderr go to files in `dir`.
pub fn xtask(dir: &Path, args: &[String]) -> Ended {
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let file = |path: &Path| std::fs::File::create(path).expect("an output file");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB_MAX} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path))
        .spawn()
        .expect("sh runs");
    let mut waited_ms = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            break status;
        }
        if waited_ms > SECONDS_MAX * 1_000 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`xtask {}` still ran after {SECONDS_MAX}s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited_ms += 10;
    };
    let read = |path: &Path| {
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
    };
    Ended {
        code: status.code(),
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}

/// As [`xtask`], from string slices.
pub fn run(dir: &Path, args: &[&str]) -> Ended {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    xtask(dir, &args)
}

/// A scenario's plan, shortened so that it runs in a moment, as JSON.
pub fn short_plan(scenario: &str, seed: u64) -> serde_json::Value {
    let mut plan = scenarios::find(scenario)
        .expect("a built-in scenario")
        .plan(seed, None);
    plan.safety_duration = sim::Duration::from_millis(1_500);
    plan.liveness_duration = sim::Duration::from_secs(1);
    serde_json::from_str(&plan.to_json()).expect("a plan is JSON")
}
