//! The one error type of optim. Every message names the optimizer, schedule or
//! operation, and the offending value or sizes, so a bad configuration deep in a
//! training script says exactly what to fix.

use crate::state::OptimizerKind;

/// `Result` with optim's [`OptimError`].
pub type Result<T> = std::result::Result<T, OptimError>;

/// Everything that can go wrong in optim.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// The tensor engine refused the parameters (e.g. one listed twice).
    #[error(transparent)]
    Tensor(#[from] tensor_core::Error),

    /// A hyper-parameter is NaN, infinite or outside its allowed range.
    #[error("{optimizer}: hyper-parameter {name} = {value} is invalid: must be {expected}")]
    InvalidHyperParameter {
        /// The optimizer being configured (`"SGD"`, `"Adam"`, …).
        optimizer: &'static str,
        /// The hyper-parameter's name, as in PyTorch (`lr`, `eps`, `beta1`, …).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The allowed range, in words (`"finite and >= 0"`).
        expected: &'static str,
    },
    /// Nesterov momentum was asked for without momentum, or with dampening.
    #[error(
        "{optimizer}: nesterov = true needs momentum > 0 and dampening = 0, got momentum = {momentum}, dampening = {dampening}"
    )]
    NesterovNeedsMomentum {
        /// The optimizer being configured.
        optimizer: &'static str,
        /// The configured momentum.
        momentum: f64,
        /// The configured dampening.
        dampening: f64,
    },
    /// `step_slices` got a different number of parameters and gradients.
    #[error("{optimizer}.step: {params} parameters but {grads} gradient slots")]
    ParamGradCountMismatch {
        /// The optimizer.
        optimizer: &'static str,
        /// Number of parameters passed.
        params: usize,
        /// Number of gradient slots passed.
        grads: usize,
    },
    /// `step_slices` got a different number of parameters than the optimizer's state holds.
    #[error(
        "{optimizer}.step: {got} parameters, but the optimizer's state was built for {expected} (parameters are identified by position)"
    )]
    ParamCountChanged {
        /// The optimizer.
        optimizer: &'static str,
        /// Number of parameters the state was built for.
        expected: usize,
        /// Number of parameters passed now.
        got: usize,
    },
    /// A parameter and its gradient have different lengths.
    #[error("{optimizer}.step: parameter {index} has {param_len} elements but its gradient has {grad_len}")]
    ParamGradLengthMismatch {
        /// The optimizer.
        optimizer: &'static str,
        /// Position of the parameter.
        index: usize,
        /// Number of elements of the parameter.
        param_len: usize,
        /// Number of elements of the gradient.
        grad_len: usize,
    },
    /// A parameter's length differs from the length of its saved state.
    #[error(
        "{optimizer}.step: parameter {index} has {param_len} elements but its optimizer state has {state_len}"
    )]
    StateLengthMismatch {
        /// The optimizer.
        optimizer: &'static str,
        /// Position of the parameter.
        index: usize,
        /// Number of elements of the parameter.
        param_len: usize,
        /// Number of elements of the state buffers.
        state_len: usize,
    },
    /// `load_state` was given the state of a different kind of optimizer.
    #[error("{optimizer}.load_state: the state was saved by {found:?}, not {expected:?}")]
    StateKindMismatch {
        /// The optimizer loading the state.
        optimizer: &'static str,
        /// The kind this optimizer is.
        expected: OptimizerKind,
        /// The kind found in the state.
        found: OptimizerKind,
    },
    /// `load_state` was given a state whose buffers are inconsistent.
    #[error("{optimizer}.load_state: parameter {index}: {reason}")]
    InvalidState {
        /// The optimizer loading the state.
        optimizer: &'static str,
        /// Position of the offending parameter.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A learning-rate schedule parameter is out of range.
    #[error("{schedule} schedule: {name} = {value} is invalid: must be {expected}")]
    InvalidSchedule {
        /// The schedule (`"step"`, `"cosine"`, …).
        schedule: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The allowed range, in words.
        expected: &'static str,
    },
    /// A gradient-clipping argument is out of range.
    #[error("{op}: {name} = {value} is invalid: must be {expected}")]
    InvalidClip {
        /// The clipping function.
        op: &'static str,
        /// The argument's name.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The allowed range, in words.
        expected: &'static str,
    },
    /// The gradients' global norm is NaN or infinite, so no scaling can fix them.
    #[error(
        "{op}: the total {norm_type}-norm of the gradients is non-finite ({norm}); gradients left unchanged"
    )]
    NonFiniteGradNorm {
        /// The clipping function.
        op: &'static str,
        /// The norm's order (2 for the Euclidean norm, `inf` for the max norm).
        norm_type: f64,
        /// The measured norm.
        norm: f64,
    },
}
