//! Everything that can go wrong in a benchmark run, each naming what it was doing.

use std::path::PathBuf;

/// A benchmark error.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A model spec that is not `inputs-hidden-…-outputs` with positive sizes.
    #[error("model {spec:?}: expected layer sizes like 784-128-10 (at least two, all positive)")]
    InvalidModel {
        /// The spec as given.
        spec: String,
    },
    /// A configuration value out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The rayon pool could not be built.
    #[error("building a rayon pool of {threads} threads: {reason}")]
    ThreadPool {
        /// Requested size.
        threads: usize,
        /// rayon's message.
        reason: String,
    },
    /// A tensor op failed (a harness bug or an engine bug).
    #[error("tensor op: {0}")]
    Tensor(#[from] tensor_core::Error),
    /// An nn module failed (building, forward, saving weights). Boxed: nn's error is
    /// large and would make every `Result` of the harness as large.
    #[error("nn: {0}")]
    Nn(Box<nn::NnError>),
    /// An optimizer failed (boxed for the same reason).
    #[error("optimizer: {0}")]
    Optim(Box<optim::OptimError>),
    /// Backward produced no gradient for a parameter.
    #[error("backward gave no gradient for parameter {parameter}")]
    MissingGradient {
        /// The parameter's name.
        parameter: String,
    },
    /// A child process (our own measurement or PyTorch's) could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A child process exited with failure.
    #[error("{program} failed ({status}): {stderr}")]
    ChildFailed {
        /// The program.
        program: PathBuf,
        /// Its exit status.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// A child process printed no result line that parses.
    #[error("{program} printed no result line: {output:?}")]
    ChildOutput {
        /// The program.
        program: PathBuf,
        /// The tail of its standard output.
        output: String,
    },
    /// PyTorch was required but `python -c "import torch"` failed.
    #[error("PyTorch is required but {python} cannot import torch")]
    TorchUnavailable {
        /// The Python interpreter tried.
        python: String,
    },
    /// Writing the report failed.
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

impl From<nn::NnError> for BenchError {
    fn from(e: nn::NnError) -> Self {
        BenchError::Nn(Box::new(e))
    }
}

impl From<optim::OptimError> for BenchError {
    fn from(e: optim::OptimError) -> Self {
        BenchError::Optim(Box::new(e))
    }
}
