//! Helpers shared by the command-line tests: run the built `tapegrad` binary and check how it
//! ended.

#![allow(dead_code)] // Each test file uses its own subset.

use std::path::Path;
use std::process::{Command, Output};

/// A `tapegrad` command with one worker thread (quick, and the same arithmetic in every run).
pub fn tapegrad(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tapegrad"));
    command.args(args);
    command
}

/// Runs `tapegrad args…`, asserts success, returns standard output.
#[track_caller]
pub fn run_ok(args: &[&str]) -> String {
    let output = tapegrad(args).output().expect("the tapegrad binary starts");
    assert!(
        output.status.success(),
        "tapegrad {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `tapegrad args…`, asserts it failed with exit code 1 and a one-line `error: …` message
/// containing every one of `fragments`, and returns that line.
#[track_caller]
pub fn run_err(args: &[&str], fragments: &[&str]) -> String {
    let output: Output = tapegrad(args).output().expect("the tapegrad binary starts");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "tapegrad {args:?}: expected exit code 1, stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "tapegrad {args:?}: expected one line on stderr, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for fragment in fragments {
        assert!(stderr.contains(fragment), "tapegrad {args:?}: {fragment:?} not in {stderr:?}");
    }
    lines[0].to_string()
}

/// A path as a `&str` argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Reads a JSON file.
#[track_caller]
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts `path` is a PNG file.
#[track_caller]
pub fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000 && &bytes[..8] == b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
}

/// Trains a one-epoch iris run (one thread, quiet, no plots) into `run`, with `extra` flags.
#[track_caller]
pub fn train_iris(run: &Path, extra: &[&str]) {
    let mut args = vec!["train", "--dataset", "iris", "--epochs", "1", "--threads", "1", "-q", "--no-plots"];
    args.extend(extra);
    args.extend(["--out", arg(run)]);
    run_ok(&args);
}
