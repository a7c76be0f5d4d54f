//! PyTorch's side: runs `bench/torch_mlp.py` with the same job and reads the one
//! JSON line it prints.

use crate::error::BenchError;
use crate::{Job, Measurement};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether `python -c "import torch"` succeeds.
pub(crate) fn available(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import torch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last few lines of a program's output, for error messages.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Runs a child to completion and returns its standard output, or an error with
/// the tail of its standard error.
pub(crate) fn run_child(program: &Path, command: &mut Command) -> Result<String, BenchError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BenchError::Spawn { program: program.to_path_buf(), source })?;
    if !output.status.success() {
        return Err(BenchError::ChildFailed {
            program: program.to_path_buf(),
            status: output.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&output.stderr)),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Measures PyTorch's side of one job.
pub(crate) fn measure(job: &Job, python: &str, script: &Path) -> Result<Measurement, BenchError> {
    let program = PathBuf::from(python);
    let mut command = Command::new(&program);
    command.arg(script).args([
        "--model",
        &job.model_name(),
        "--batch-size",
        &job.batch_size.to_string(),
        "--threads",
        &job.threads.to_string(),
        "--samples",
        &job.protocol.samples.to_string(),
        "--warmup",
        &job.protocol.warmup.to_string(),
        "--epochs",
        &job.protocol.epochs.to_string(),
        "--seed",
        &job.protocol.seed.to_string(),
    ]);
    let stdout = run_child(&program, &mut command)?;
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Measurement>(l).ok())
        .ok_or_else(|| BenchError::ChildOutput { program, output: tail(&stdout) })
}
