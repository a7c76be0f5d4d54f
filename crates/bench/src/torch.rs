//! PyTorch's side: runs `bench/torch_mlp.py` (MLPs) or `bench/torch_models.py` (the
//! named models, found next to the MLP script) with the same job and reads the one
//! JSON line it prints.

use crate::error::BenchError;
use crate::{Job, Measurement, Model};
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

/// Measures PyTorch's side of one job (`script` is the MLP script).
pub(crate) fn measure(job: &Job, python: &str, script: &Path) -> Result<Measurement, BenchError> {
    if !matches!(job.model, Model::Mlp(_)) {
        return measure_named(job, python, &script.with_file_name("torch_models.py"));
    }
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
    read_measurement(program, &mut command)
}

/// Measures PyTorch's side of a named model, starting from our initial weights
/// (written to a temporary safetensors file for the script to load).
fn measure_named(job: &Job, python: &str, script: &Path) -> Result<Measurement, BenchError> {
    let init = std::env::temp_dir().join(format!(
        "tapegrad-bench-{}-{}.safetensors",
        std::process::id(),
        job.model_name()
    ));
    crate::models::save_initial_weights(&job.model, job.protocol.seed, &init)?;
    let program = PathBuf::from(python);
    let mut command = Command::new(&program);
    command.arg(script).arg("--init").arg(&init).args([
        "--model",
        &job.model_name(),
        "--threads",
        &job.threads.to_string(),
        "--warmup",
        &job.protocol.model_warmup.to_string(),
        "--steps",
        &job.protocol.model_steps.to_string(),
        "--epochs",
        &job.protocol.epochs.to_string(),
        "--seed",
        &job.protocol.seed.to_string(),
    ]);
    let measured = read_measurement(program, &mut command);
    // The file is ours alone (named by our process id); a failure to remove it
    // leaves a few MB in the temporary directory and is not worth failing the run.
    let _ = std::fs::remove_file(&init);
    measured
}

/// Runs a PyTorch script and parses the last JSON line it prints.
fn read_measurement(program: PathBuf, command: &mut Command) -> Result<Measurement, BenchError> {
    let stdout = run_child(&program, command)?;
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Measurement>(l).ok())
        .ok_or_else(|| BenchError::ChildOutput { program, output: tail(&stdout) })
}
