//! The one error type of the crate: every way a metric's input can be unusable.

use thiserror::Error;

/// Everything that can make a metric refuse its input.
///
/// Each variant names the operation (`op`, e.g. `"confusion_matrix"`) and the
/// offending sizes or values, so the message alone says what to fix.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EvalError {
    /// The input has no samples, so every mean is 0/0.
    #[error("{op}: empty input, at least one sample is needed")]
    Empty {
        /// The metric that was asked for.
        op: &'static str,
    },

    /// Two inputs that must describe the same samples have different lengths.
    #[error("{op}: length mismatch: {expected_what} has {expected} elements but {found_what} has {found}")]
    LengthMismatch {
        /// The metric that was asked for.
        op: &'static str,
        /// What the reference length was taken from (e.g. `"y_true"`).
        expected_what: &'static str,
        /// The reference length.
        expected: usize,
        /// The input whose length disagrees (e.g. `"y_pred"`).
        found_what: &'static str,
        /// Its length.
        found: usize,
    },

    /// A class label is not one of `0..num_classes`.
    #[error(
        "{op}: label {label} at index {index} is outside the {num_classes} declared classes (0..{num_classes})"
    )]
    LabelOutOfRange {
        /// The metric that was asked for.
        op: &'static str,
        /// Position of the label in its input.
        index: usize,
        /// The label found there.
        label: usize,
        /// The declared number of classes.
        num_classes: usize,
    },

    /// The declared number of classes is unusable (zero, or not what the metric needs).
    #[error("{op}: invalid number of classes {num_classes}: {reason}")]
    InvalidNumClasses {
        /// The metric that was asked for.
        op: &'static str,
        /// The number given.
        num_classes: usize,
        /// Why it cannot be used.
        reason: &'static str,
    },

    /// A value that must be a probability is outside `[0, 1]` (infinities included).
    #[error("{op}: probability {value} at index {index} is outside [0, 1]")]
    ProbabilityOutOfRange {
        /// The metric that was asked for.
        op: &'static str,
        /// Position of the value in its (flattened) input.
        index: usize,
        /// The value, converted to f64.
        value: f64,
    },

    /// An input value is NaN.
    #[error("{op}: {what}[{index}] is NaN")]
    NotANumber {
        /// The metric that was asked for.
        op: &'static str,
        /// Which input holds it (e.g. `"y_score"`).
        what: &'static str,
        /// Position of the value in its (flattened) input.
        index: usize,
    },

    /// An input value is infinite where only finite numbers make sense
    /// (scores, regression targets, costs).
    #[error("{op}: {what}[{index}] is not finite ({value})")]
    NonFinite {
        /// The metric that was asked for.
        op: &'static str,
        /// Which input holds it.
        what: &'static str,
        /// Position of the value in its (flattened) input.
        index: usize,
        /// The value, converted to f64.
        value: f64,
    },

    /// A parameter (β of the F-score, the clipping ε of log loss, …) is out of its domain.
    #[error("{op}: parameter {name} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The metric that was asked for.
        op: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The domain it must lie in.
        reason: &'static str,
    },

    /// The metric is mathematically undefined for this input (e.g. a ROC curve
    /// when `y_true` holds a single class), where returning a number would be a guess.
    #[error("{op}: undefined for this input: {reason}")]
    Undefined {
        /// The metric that was asked for.
        op: &'static str,
        /// Why no number can be given.
        reason: &'static str,
    },
}

/// `Result` with [`EvalError`] as the error.
pub type Result<T> = std::result::Result<T, EvalError>;
