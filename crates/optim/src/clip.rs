//! Gradient clipping on plain slices: by global norm (PyTorch's
//! `clip_grad_norm_`) and by value (`clip_grad_value_`), run between backward
//! and the optimizer step.
//!
//! The functions take any slice of gradient buffers (`&mut [&mut [T]]`,
//! `&mut [Vec<T>]`, …) holding the gradients that exist; a parameter without a
//! gradient is simply left out of the list.

use num_traits::Float;

use crate::error::{OptimError, Result};
use crate::state::cast;

/// The global `norm_type`-norm of all gradients together, as if they were
/// concatenated into one vector: `(Σ |g|^p)^(1/p)`, or `max |g|` for
/// `norm_type = f64::INFINITY`.
///
/// Computed in f64 and scaled by the largest magnitude, so it neither
/// overflows for huge gradients (`1e200` in f64) nor underflows for tiny ones.
/// Any NaN gives NaN. An empty list has norm 0.
///
/// ```
/// let grads = [vec![3.0_f32], vec![0.0, 4.0]];
/// assert_eq!(optim::grad_norm(&grads, 2.0)?, 5.0);
/// assert_eq!(optim::grad_norm(&grads, f64::INFINITY)?, 4.0);
/// # Ok::<(), optim::OptimError>(())
/// ```
///
/// # Errors
/// [`OptimError::InvalidClip`] when `norm_type` is NaN or not > 0.
pub fn grad_norm<T: Float, G: AsRef<[T]>>(grads: &[G], norm_type: f64) -> Result<f64> {
    check_norm_type("grad_norm", norm_type)?;
    let views: Vec<&[T]> = grads.iter().map(AsRef::as_ref).collect();
    Ok(norm_of(&views, norm_type))
}

/// Scales all gradients together so their global L2 norm is at most
/// `max_norm`, and returns the norm **before** clipping (PyTorch's
/// `torch.nn.utils.clip_grad_norm_`).
///
/// As PyTorch, the scale is `max_norm/(norm + 1e-6)` when that is below 1;
/// otherwise the gradients are left exactly as they were.
///
/// ```
/// let mut grads = vec![vec![3.0_f64], vec![0.0, 4.0]];
/// let before = optim::clip_grad_norm(&mut grads, 1.0)?;
/// assert_eq!(before, 5.0);
/// assert!((optim::grad_norm(&grads, 2.0)? - 1.0).abs() < 1e-6);
/// # Ok::<(), optim::OptimError>(())
/// ```
///
/// # Errors
/// [`OptimError::InvalidClip`] when `max_norm` is NaN or negative;
/// [`OptimError::NonFiniteGradNorm`] when the norm is NaN or infinite (PyTorch's
/// `error_if_nonfinite = True`): no scaling can repair such gradients, so they
/// are left unchanged and the step should be skipped.
pub fn clip_grad_norm<T: Float, G: AsMut<[T]>>(grads: &mut [G], max_norm: f64) -> Result<f64> {
    clip_grad_norm_with(grads, max_norm, 2.0)
}

/// [`clip_grad_norm`] with another norm: any `norm_type > 0`, or
/// `f64::INFINITY` for the largest magnitude.
///
/// # Errors
/// As [`clip_grad_norm`], and [`OptimError::InvalidClip`] when `norm_type` is
/// NaN or not > 0.
pub fn clip_grad_norm_with<T: Float, G: AsMut<[T]>>(
    grads: &mut [G],
    max_norm: f64,
    norm_type: f64,
) -> Result<f64> {
    const OP: &str = "clip_grad_norm";
    check_norm_type(OP, norm_type)?;
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(OptimError::InvalidClip {
            op: OP,
            name: "max_norm",
            value: max_norm,
            expected: ">= 0 (infinity allowed)",
        });
    }
    let views: Vec<&[T]> = grads.iter_mut().map(|g| &*g.as_mut()).collect();
    let norm = norm_of(&views, norm_type);
    if !norm.is_finite() {
        return Err(OptimError::NonFiniteGradNorm { op: OP, norm_type, norm });
    }
    let coefficient = max_norm / (norm + 1e-6);
    if coefficient < 1.0 {
        let coefficient = cast::<T>(coefficient);
        for g in grads.iter_mut() {
            for x in g.as_mut() {
                *x = *x * coefficient;
            }
        }
    }
    Ok(norm)
}

/// Clamps every gradient element to `[−clip_value, clip_value]` (PyTorch's
/// `torch.nn.utils.clip_grad_value_`). NaN elements stay NaN.
///
/// ```
/// let mut grads = vec![vec![-3.0_f32, 0.5, 2.0]];
/// optim::clip_grad_value(&mut grads, 1.0)?;
/// assert_eq!(grads[0], [-1.0, 0.5, 1.0]);
/// # Ok::<(), optim::OptimError>(())
/// ```
///
/// # Errors
/// [`OptimError::InvalidClip`] when `clip_value` is NaN or negative.
pub fn clip_grad_value<T: Float, G: AsMut<[T]>>(grads: &mut [G], clip_value: f64) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(OptimError::InvalidClip {
            op: "clip_grad_value",
            name: "clip_value",
            value: clip_value,
            expected: ">= 0 (infinity allowed)",
        });
    }
    let high = cast::<T>(clip_value);
    let low = -high;
    for g in grads.iter_mut() {
        for x in g.as_mut() {
            // Comparisons rather than `clamp`/`min`/`max`, so NaN passes through.
            if *x > high {
                *x = high;
            } else if *x < low {
                *x = low;
            }
        }
    }
    Ok(())
}

fn check_norm_type(op: &'static str, norm_type: f64) -> Result<()> {
    if norm_type > 0.0 {
        Ok(())
    } else {
        Err(OptimError::InvalidClip {
            op,
            name: "norm_type",
            value: norm_type,
            expected: "> 0 (infinity for the max norm)",
        })
    }
}

/// The scaled global norm described at [`grad_norm`].
fn norm_of<T: Float>(grads: &[&[T]], norm_type: f64) -> f64 {
    let mut scale = 0.0_f64;
    for x in grads.iter().copied().flatten() {
        let magnitude = x.to_f64().unwrap_or(f64::NAN).abs();
        if magnitude.is_nan() {
            return f64::NAN;
        }
        scale = scale.max(magnitude);
    }
    if scale == 0.0 || scale.is_infinite() || norm_type.is_infinite() {
        return scale;
    }
    let mut sum = 0.0_f64;
    for x in grads.iter().copied().flatten() {
        let ratio = x.to_f64().unwrap_or(f64::NAN).abs() / scale;
        sum += if norm_type == 2.0 { ratio * ratio } else { ratio.powf(norm_type) };
    }
    if norm_type == 2.0 { scale * sum.sqrt() } else { scale * sum.powf(norm_type.recip()) }
}
