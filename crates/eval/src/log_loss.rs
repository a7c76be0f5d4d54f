//! Log loss (cross-entropy of predicted probabilities), binary and multiclass,
//! with probabilities clipped away from 0 and 1 so one confident mistake gives
//! a large finite loss rather than infinity.

use num_traits::Float;

use crate::error::{EvalError, Result};
use crate::validate;

/// The default clipping: probabilities are clamped to `[1e-7, 1 − 1e-7]`
/// before the logarithm, so a single sample costs at most `−ln(1e-7) ≈ 16.1`.
///
/// This is the clipping the project's scikit-learn fixtures were made with.
/// scikit-learn itself (since 1.5) clips at the machine epsilon of the input's
/// dtype (`f64::EPSILON` for f64, giving at most ≈ 36.0 per sample); use
/// [`log_loss_binary_with_clip`] / [`log_loss_with_clip`] with `f64::EPSILON`
/// to reproduce that. The two agree whenever every probability lies in
/// `[1e-7, 1 − 1e-7]`.
pub const DEFAULT_LOG_LOSS_CLIP: f64 = 1e-7;

fn check_clip(op: &'static str, clip: f64) -> Result<()> {
    if (0.0..0.5).contains(&clip) {
        Ok(())
    } else {
        Err(EvalError::InvalidParameter {
            op,
            name: "clip",
            value: clip,
            reason: "the clipping epsilon must lie in [0, 0.5)",
        })
    }
}

/// Binary log loss `−(1/n) Σ [y·ln p + (1 − y)·ln(1 − p)]`, where `y_prob[i]` is
/// the predicted probability that sample `i` is of class 1, clipped to
/// [`DEFAULT_LOG_LOSS_CLIP`].
///
/// ```
/// let loss = eval::log_loss_binary(&[1, 0], &[0.8_f32, 0.4])?;
/// assert!((loss - (-(0.8_f64.ln() + 0.6_f64.ln()) / 2.0)).abs() < 1e-7);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`],
/// [`EvalError::LabelOutOfRange`] for a label other than 0/1,
/// [`EvalError::ProbabilityOutOfRange`] and [`EvalError::NotANumber`].
pub fn log_loss_binary<T: Float>(y_true: &[usize], y_prob: &[T]) -> Result<f64> {
    log_loss_binary_with_clip(y_true, y_prob, DEFAULT_LOG_LOSS_CLIP)
}

/// [`log_loss_binary`] with probabilities clipped to `[clip, 1 − clip]`
/// (`clip = 0` turns clipping off, so a certain mistake gives `+∞`).
///
/// # Errors
/// As [`log_loss_binary`], and [`EvalError::InvalidParameter`] unless
/// `0 <= clip < 0.5`.
pub fn log_loss_binary_with_clip<T: Float>(y_true: &[usize], y_prob: &[T], clip: f64) -> Result<f64> {
    const OP: &str = "log_loss_binary";
    check_clip(OP, clip)?;
    validate::non_empty(OP, y_true.len())?;
    validate::same_len(OP, ("y_true", y_true.len()), ("y_prob", y_prob.len()))?;
    validate::labels_in_range(OP, y_true, 2)?;
    let probabilities = validate::probabilities(OP, "y_prob", y_prob)?;
    let total: f64 = y_true
        .iter()
        .zip(&probabilities)
        .map(|(&label, &p)| {
            let p = p.clamp(clip, 1.0 - clip);
            if label == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(total / y_true.len() as f64)
}

/// Multiclass log loss `−(1/n) Σ_i ln p_i[y_i]`, the mean negative log of the
/// probability given to the true class, clipped to [`DEFAULT_LOG_LOSS_CLIP`].
///
/// `probabilities` is row-major `n × num_classes`: row `i` holds sample `i`'s
/// predicted distribution over the classes (e.g. softmax outputs).
///
/// Rows are used as given, not renormalised and not required to sum to 1:
/// scikit-learn (since 1.5) also computes without renormalising (it only warns
/// when rows do not sum to 1), so a row that sums to 0.99 is scored as it is.
///
/// ```
/// // two samples, three classes
/// let probs = [0.7, 0.2, 0.1,
///              0.1, 0.3, 0.6];
/// let loss = eval::log_loss(&[0, 2], &probs, 3)?;
/// assert!((loss - (-(0.7_f64.ln() + 0.6_f64.ln()) / 2.0)).abs() < 1e-15);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::InvalidNumClasses`] for 0 classes,
/// [`EvalError::LengthMismatch`] unless `probabilities.len() == n·num_classes`,
/// [`EvalError::LabelOutOfRange`], [`EvalError::ProbabilityOutOfRange`] and
/// [`EvalError::NotANumber`].
pub fn log_loss<T: Float>(y_true: &[usize], probabilities: &[T], num_classes: usize) -> Result<f64> {
    log_loss_with_clip(y_true, probabilities, num_classes, DEFAULT_LOG_LOSS_CLIP)
}

/// [`log_loss`] with probabilities clipped to `[clip, 1 − clip]`.
///
/// # Errors
/// As [`log_loss`], and [`EvalError::InvalidParameter`] unless `0 <= clip < 0.5`.
pub fn log_loss_with_clip<T: Float>(
    y_true: &[usize],
    probabilities: &[T],
    num_classes: usize,
    clip: f64,
) -> Result<f64> {
    const OP: &str = "log_loss";
    check_clip(OP, clip)?;
    validate::non_empty(OP, y_true.len())?;
    validate::num_classes_positive(OP, num_classes)?;
    validate::same_len(
        OP,
        ("y_true.len() × num_classes", y_true.len().saturating_mul(num_classes)),
        ("probabilities", probabilities.len()),
    )?;
    validate::labels_in_range(OP, y_true, num_classes)?;
    let probabilities = validate::probabilities(OP, "probabilities", probabilities)?;
    let total: f64 = y_true
        .iter()
        .zip(probabilities.chunks(num_classes))
        .map(|(&label, row)| -row[label].clamp(clip, 1.0 - clip).ln())
        .sum();
    Ok(total / y_true.len() as f64)
}
