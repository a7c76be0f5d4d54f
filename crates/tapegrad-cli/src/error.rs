//! The command line's one error type: every failure a user can cause, as one line that names
//! the file, flag or value at fault. `main` prints it and exits non-zero; nothing panics.

use std::path::PathBuf;

/// `Result` with the command line's [`CliError`].
pub type Result<T> = std::result::Result<T, CliError>;

/// Everything that can stop a `tapegrad` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Loading, checking, splitting or scaling data failed (the message names file, line and column).
    #[error(transparent)]
    Data(#[from] tapegrad_data::Error),
    /// A distributed (MPI) step failed.
    #[error(transparent)]
    Distributed(#[from] tapegrad_distributed::DistributedError),
    /// A model, loss or weights operation failed.
    #[error(transparent)]
    Nn(#[from] nn::NnError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] tensor_core::Error),
    /// Building or stepping an optimizer or a schedule failed.
    #[error(transparent)]
    Optim(#[from] optim::OptimError),
    /// Computing a metric failed.
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    /// Reading or writing a safetensors file failed.
    #[error(transparent)]
    Weights(#[from] nn::weights_file::WeightsError),
    /// A closed-form fit (the lessons' least squares and ridge) failed.
    #[error(transparent)]
    ClosedForm(#[from] nn::closed_form::ClosedFormError),
    /// A flag's value, or a combination of flags, that cannot work.
    #[error("{flag}: {reason}")]
    InvalidArgument {
        /// The flag, e.g. `--hidden`.
        flag: &'static str,
        /// What is wrong, with the value given.
        reason: String,
    },
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done: `creating`, `writing`, `reading`, `renaming`.
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A JSON file (a run's `config.json`, a checkpoint's metadata) is missing a field or malformed.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `--resume` was asked for, but the flags describe a different run from the checkpoint's.
    #[error("--resume: the checkpoint in {} was written by a different run ({differences}); resume with the same flags, or train without --resume to start over", dir.display())]
    ResumeMismatch {
        /// The run folder.
        dir: PathBuf,
        /// The settings that differ, `name: checkpoint → flags`.
        differences: String,
    },
    /// The training loss became NaN or infinite.
    #[error("training diverged at epoch {epoch}: the loss is {loss}; try a smaller --lr (now {lr})")]
    Diverged {
        /// The epoch (1-based) where it happened.
        epoch: usize,
        /// The loss value.
        loss: f64,
        /// The learning rate in force.
        lr: f64,
    },
    /// Drawing a plot failed.
    #[error("plotting {}: {reason}", path.display())]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// What the plotting library said.
        reason: String,
    },
    /// The speed benchmark failed.
    #[error(transparent)]
    Bench(#[from] tapegrad_bench::BenchError),
    /// A model whose shape is beyond the stated limits (from a flag, a `config.json` or a checkpoint).
    #[error("the model is too large: {reason}")]
    ModelTooLarge {
        /// Which limit, and the sizes.
        reason: String,
    },
    /// The data given to `evaluate` or `predict` does not fit the trained model.
    #[error("{reason}")]
    ModelMismatch {
        /// What differs (feature counts, task, classes).
        reason: String,
    },
}

impl CliError {
    /// An [`CliError::InvalidArgument`] for `flag`.
    pub fn invalid(flag: &'static str, reason: impl Into<String>) -> CliError {
        CliError::InvalidArgument { flag, reason: reason.into() }
    }

    /// An [`CliError::Io`] error for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> CliError {
        CliError::Io { op, path: path.into(), source }
    }
}
