//! What the command-line tests share: running the built binary, reading its output, and a
//! fresh scratch folder per test.

// Each test file uses only some of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the built command line with `args`.
pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("the binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty scratch folder, named after the test file (`family`) and the test.
pub fn scratch(family: &str, name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("faultline-{family}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
