//! `--resume` ends with exactly the weights of an uninterrupted run: after a clean stop, and
//! after the process is killed in the middle of an epoch. The runs use dropout and early
//! stopping, so the checkpoint's best weights and the per-step dropout masks are exercised too.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{arg, run_err, run_ok, tapegrad};

/// The flags of the run every test repeats: digits, small batches so an epoch has many steps
/// to be killed in, dropout, and early stopping.
fn flags(out: &Path) -> Vec<String> {
    [
        "train",
        "--dataset",
        "digits",
        "--hidden",
        "32",
        "--dropout",
        "0.2",
        "--batch-size",
        "4",
        "--epochs",
        "6",
        "--patience",
        "4",
        "--threads",
        "1",
        "--no-plots",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([arg(out).to_string()])
    .collect()
}

fn run_flags(flags: &[String], extra: &[&str]) -> String {
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    run_ok(&args)
}

/// The model file of an uninterrupted run.
fn reference(dir: &Path) -> Vec<u8> {
    let out = dir.join("uninterrupted");
    run_flags(&flags(&out), &[]);
    std::fs::read(out.join("model.safetensors")).unwrap()
}

#[test]
fn resuming_after_a_clean_stop_gives_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    let out = dir.path().join("stopped");
    let stdout = run_flags(&flags(&out), &["--stop-after", "2"]);
    assert!(stdout.contains("paused after epoch 2"), "{stdout}");
    assert!(!out.join("model.safetensors").exists(), "a paused run has no final model yet");
    let stdout = run_flags(&flags(&out), &["--resume"]);
    assert!(stdout.contains("resuming after epoch 2 of 6"), "{stdout}");
    assert!(!stdout.contains("epoch   1/6"), "epochs 1 and 2 are not run again:\n{stdout}");
    assert!(std::fs::read(out.join("model.safetensors")).unwrap() == expected, "resumed weights differ");
    // The run folder alone is enough to resume (here: a finished run, which just re-finalises).
    run_ok(&["train", "--resume", "--out", arg(&out), "--threads", "1", "--no-plots"]);
    assert!(std::fs::read(out.join("model.safetensors")).unwrap() == expected);
}

#[test]
fn resuming_after_a_kill_mid_epoch_gives_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    let out = dir.path().join("killed");
    let mut child = tapegrad(&flags(&out).iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each epoch's line is printed after its checkpoint is on disk; kill at once after the
    // second, when the process is into epoch 3.
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let second = line.starts_with("epoch   2/6");
        seen.push(line);
        if second {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed before finishing: {seen:?}");
    assert!(!out.join("model.safetensors").exists());
    let stdout = run_flags(&flags(&out), &["--resume"]);
    // The kill lands in epoch 3 unless the machine stalls the test between reading the line
    // and killing; either way the run resumes from a whole checkpoint.
    let resumed_after = stdout
        .lines()
        .find_map(|l| l.strip_prefix("resuming after epoch "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|k| k.parse::<usize>().ok());
    assert!(resumed_after.is_some_and(|k| (2..6).contains(&k)), "{stdout}");
    assert!(std::fs::read(out.join("model.safetensors")).unwrap() == expected, "resumed weights differ");
}

#[test]
fn resuming_with_other_settings_or_nothing_to_resume_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    run_err(
        &flags(&out).iter().map(String::as_str).chain(["--resume"]).collect::<Vec<_>>(),
        &["no checkpoint"],
    );
    run_flags(&flags(&out), &["--stop-after", "1"]);
    let mut changed = flags(&out);
    let epochs = changed.iter().position(|f| f == "--epochs").unwrap();
    changed[epochs + 1] = "9".into();
    run_err(
        &changed.iter().map(String::as_str).chain(["--resume"]).collect::<Vec<_>>(),
        &["--resume", "training.epochs: 6 → 9"],
    );
}
