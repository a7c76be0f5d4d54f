//! Regression metrics (tutorial §8.2–8.5): MSE, RMSE, MAE, MAPE and R², on f32 or
//! f64 slices, computed in f64.

use num_traits::Float;

use crate::error::{EvalError, Result};
use crate::validate;

/// Validates a target/prediction pair (non-empty, same length, finite) and
/// widens both to f64.
fn pair<T: Float>(op: &'static str, y_true: &[T], y_pred: &[T]) -> Result<(Vec<f64>, Vec<f64>)> {
    validate::non_empty(op, y_true.len())?;
    validate::same_len(op, ("y_true", y_true.len()), ("y_pred", y_pred.len()))?;
    Ok((validate::finite(op, "y_true", y_true)?, validate::finite(op, "y_pred", y_pred)?))
}

fn mean(values: impl Iterator<Item = f64>, n: usize) -> f64 {
    values.sum::<f64>() / n as f64
}

/// Mean squared error `(1/n) Σ (y − ŷ)²` (seed eq. 15).
///
/// ```
/// assert_eq!(eval::mse(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0])?, 4.0 / 3.0);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`], [`EvalError::NotANumber`]
/// and [`EvalError::NonFinite`].
pub fn mse<T: Float>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    mean_squared_error("mse", y_true, y_pred)
}

fn mean_squared_error<T: Float>(op: &'static str, y_true: &[T], y_pred: &[T]) -> Result<f64> {
    let (t, p) = pair(op, y_true, y_pred)?;
    Ok(mean(t.iter().zip(&p).map(|(t, p)| (t - p) * (t - p)), t.len()))
}

/// Root mean squared error `√MSE` (seed eq. 16), in the units of `y`.
///
/// # Errors
/// As [`mse`].
pub fn rmse<T: Float>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    mean_squared_error("rmse", y_true, y_pred).map(f64::sqrt)
}

/// Mean absolute error `(1/n) Σ |y − ŷ|` (seed eq. 17).
///
/// # Errors
/// As [`mse`].
pub fn mae<T: Float>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    let (t, p) = pair("mae", y_true, y_pred)?;
    Ok(mean(t.iter().zip(&p).map(|(t, p)| (t - p).abs()), t.len()))
}

/// Mean absolute percentage error as scikit-learn computes it:
/// `(1/n) Σ |y − ŷ| / max(|y|, ε)` with `ε = f64::EPSILON ≈ 2.22e-16`, as a
/// fraction (0.1 means 10 %), not multiplied by 100.
///
/// The tutorial's eq. (18), `(1/n) Σ |y − ŷ| / y`, cannot be used as written:
/// - `y = 0` divides by zero: `+∞` when `ŷ ≠ 0`, and `0/0 = NaN` when `ŷ = 0`
///   too, so one zero target poisons the whole mean;
/// - a negative `y` gives a negative "error" that cancels positive ones.
///
/// Dividing by `max(|y|, ε)` fixes both: a perfect prediction of 0 scores 0,
/// and a miss on a zero target gives a huge but finite term that signals
/// "MAPE is the wrong metric for targets at or near 0" instead of hiding the
/// other samples behind an infinity or a NaN.
///
/// ```
/// assert_eq!(eval::mape(&[100.0, 0.0], &[110.0, 0.0])?, 0.05);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// As [`mse`].
pub fn mape<T: Float>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    let (t, p) = pair("mape", y_true, y_pred)?;
    Ok(mean(t.iter().zip(&p).map(|(t, p)| (t - p).abs() / t.abs().max(f64::EPSILON)), t.len()))
}

/// Coefficient of determination `R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²`: the share of
/// the variance of `y` the predictions explain. 1 is perfect, 0 is as good as
/// predicting the mean, and it is negative for anything worse.
///
/// When `y` is constant the ratio is 0/0 or x/0; as scikit-learn's default
/// (`force_finite=True`), R² is then 1 for a perfect prediction and 0 otherwise.
///
/// ```
/// assert_eq!(eval::r2(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0])?, 1.0);
/// assert_eq!(eval::r2(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0])?, 0.0);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// As [`mse`], and [`EvalError::Undefined`] for a single sample (scikit-learn
/// warns and returns NaN: one point has no variance to explain).
pub fn r2<T: Float>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    const OP: &str = "r2";
    let (t, p) = pair(OP, y_true, y_pred)?;
    if t.len() < 2 {
        return Err(EvalError::Undefined { op: OP, reason: "R² needs at least 2 samples" });
    }
    let y_mean = mean(t.iter().copied(), t.len());
    let residual: f64 = t.iter().zip(&p).map(|(t, p)| (t - p) * (t - p)).sum();
    let total: f64 = t.iter().map(|t| (t - y_mean) * (t - y_mean)).sum();
    Ok(if total != 0.0 {
        1.0 - residual / total
    } else if residual == 0.0 {
        1.0
    } else {
        0.0
    })
}
