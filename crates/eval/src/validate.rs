//! Input checks shared by every metric: lengths, labels, probabilities, finiteness.
//!
//! Each check returns the first offending element as an [`EvalError`], so a
//! metric body can assume clean input and stay a plain formula.

use num_traits::Float;

use crate::error::{EvalError, Result};

/// Fails with [`EvalError::Empty`] when `len == 0`.
pub(crate) fn non_empty(op: &'static str, len: usize) -> Result<()> {
    if len == 0 { Err(EvalError::Empty { op }) } else { Ok(()) }
}

/// Fails with [`EvalError::LengthMismatch`] when `found != expected`.
pub(crate) fn same_len(
    op: &'static str,
    (expected_what, expected): (&'static str, usize),
    (found_what, found): (&'static str, usize),
) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(EvalError::LengthMismatch { op, expected_what, expected, found_what, found })
    }
}

/// Fails with [`EvalError::InvalidNumClasses`] when there are no classes at all.
pub(crate) fn num_classes_positive(op: &'static str, num_classes: usize) -> Result<()> {
    if num_classes == 0 {
        Err(EvalError::InvalidNumClasses { op, num_classes, reason: "at least one class is needed" })
    } else {
        Ok(())
    }
}

/// A zero-filled `num_classes × num_classes` table, or
/// [`EvalError::InvalidNumClasses`] when it cannot be allocated (a class count
/// from user input must not abort the process).
pub(crate) fn square_table<T: Clone + Default>(op: &'static str, num_classes: usize) -> Result<Vec<T>> {
    let too_many = |_| EvalError::InvalidNumClasses {
        op,
        num_classes,
        reason: "a num_classes × num_classes table does not fit in memory",
    };
    let cells = num_classes.checked_mul(num_classes).ok_or(()).map_err(too_many)?;
    let mut table = Vec::new();
    table.try_reserve_exact(cells).map_err(|_| too_many(()))?;
    table.resize(cells, T::default());
    Ok(table)
}

/// Fails with [`EvalError::LabelOutOfRange`] at the first label `>= num_classes`.
pub(crate) fn labels_in_range(op: &'static str, labels: &[usize], num_classes: usize) -> Result<()> {
    match labels.iter().position(|&label| label >= num_classes) {
        Some(index) => Err(EvalError::LabelOutOfRange { op, index, label: labels[index], num_classes }),
        None => Ok(()),
    }
}

/// Converts to f64. `to_f64` is total for f32 and f64; any other `Float` whose
/// conversion fails becomes NaN and is then rejected by the caller's NaN check.
fn widen<T: Float>(value: T) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

/// Widens to f64, rejecting NaN ([`EvalError::NotANumber`]) and values
/// outside `[0, 1]` ([`EvalError::ProbabilityOutOfRange`]).
pub(crate) fn probabilities<T: Float>(
    op: &'static str,
    what: &'static str,
    values: &[T],
) -> Result<Vec<f64>> {
    values
        .iter()
        .enumerate()
        .map(|(index, &value)| {
            let value = widen(value);
            if value.is_nan() {
                Err(EvalError::NotANumber { op, what, index })
            } else if !(0.0..=1.0).contains(&value) {
                Err(EvalError::ProbabilityOutOfRange { op, index, value })
            } else {
                Ok(value)
            }
        })
        .collect()
}

/// Widens to f64, rejecting NaN ([`EvalError::NotANumber`]) and infinities
/// ([`EvalError::NonFinite`]).
pub(crate) fn finite<T: Float>(op: &'static str, what: &'static str, values: &[T]) -> Result<Vec<f64>> {
    values.iter().enumerate().map(|(index, &value)| finite_one(op, what, index, widen(value))).collect()
}

/// The single-value form of [`finite`], for inputs already in f64.
pub(crate) fn finite_one(op: &'static str, what: &'static str, index: usize, value: f64) -> Result<f64> {
    if value.is_nan() {
        Err(EvalError::NotANumber { op, what, index })
    } else if value.is_infinite() {
        Err(EvalError::NonFinite { op, what, index, value })
    } else {
        Ok(value)
    }
}
