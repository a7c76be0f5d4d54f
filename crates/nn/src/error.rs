//! The error type of the module, layer, loss and regularisation APIs: tensor-core's errors and
//! weight-file errors pass through unchanged, and nn adds variants for its own bad inputs
//! (hyper-parameters, class labels, layer sizes), each naming the operation and the values.

use crate::weights_file::WeightsError;

/// `Result` with nn's [`NnError`].
pub type Result<T> = std::result::Result<T, NnError>;

/// Everything that can go wrong in nn's modules, losses, initialisers and regularisers.
///
/// Errors from tensor ops keep their own variant ([`NnError::Tensor`]), so
/// `matches!(e, NnError::Tensor(tensor_core::Error::Matmul { .. }))` still works; weight-file
/// problems keep theirs ([`NnError::Weights`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// A tensor op failed (shapes, axes, domain, backward...).
    #[error(transparent)]
    Tensor(#[from] tensor_core::Error),
    /// Saving or loading a weights file failed, or the file does not fit the module.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// A hyper-parameter or argument outside what the operation accepts.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The operation, e.g. `"Dropout::new"`.
        op: &'static str,
        /// What is wrong, with the value given.
        reason: String,
    },
    /// A class label is not below the number of classes.
    #[error("{op}: label {label} of sample {sample} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// The loss.
        op: &'static str,
        /// The bad label.
        label: usize,
        /// Which sample (row) holds it.
        sample: usize,
        /// Number of classes (columns of the scores).
        classes: usize,
    },
    /// The input's last dimension is not the number of features a layer expects.
    #[error("{layer}: expected inputs with {expected} features in the last dimension, got shape {shape:?}")]
    InputFeatures {
        /// The layer, e.g. `"Linear(4 → 3)"`.
        layer: String,
        /// Features the layer takes.
        expected: usize,
        /// The input's shape.
        shape: Vec<usize>,
    },
    /// An activation name that [`crate::Activation`] does not know.
    #[error("unknown activation {name:?}; expected one of {known}")]
    UnknownActivation {
        /// The name given.
        name: String,
        /// The accepted names.
        known: &'static str,
    },
    /// A metric given to early stopping is NaN or infinite.
    #[error("EarlyStopping::step: the validation metric at epoch {epoch} is {value}, not a finite number")]
    NonFiniteMetric {
        /// The epoch (0-based count of calls to `step`).
        epoch: usize,
        /// The value.
        value: f64,
    },
}

/// Shorthand for [`NnError::InvalidArgument`].
pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> NnError {
    NnError::InvalidArgument { op, reason: reason.into() }
}
