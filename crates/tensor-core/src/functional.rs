//! Losses as graph expressions, in their numerically stable forms. `nn` builds its
//! loss modules (class weights, label smoothing) on these.
//!
//! The tutorial's binary cross-entropy, `−Σ y·log f · log(1 − f)`, multiplies the two
//! logs; the correct form (used here) adds them:
//! `L = −(1/N) Σ [y·ln p + (1 − y)·ln(1 − p)]`.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{GradVec, Save, is_grad_enabled};
use crate::ops::Indices;
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["cross_entropy", "bce", "bce_with_logits"];

/// How per-element losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Keep one loss per element (or per sample).
    None,
    /// Average (the default, as PyTorch).
    #[default]
    Mean,
    /// Sum.
    Sum,
}

/// Applies a [`Reduction`] to per-element losses. The mean of no elements is an error.
pub fn reduce<T: Element>(losses: Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
    match reduction {
        Reduction::None => Ok(losses),
        Reduction::Sum => Ok(losses.sum_all()),
        Reduction::Mean => losses.mean_all(),
    }
}

fn same_shape<T: Element>(op: &'static str, a: &Tensor<T>, b: &Tensor<T>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: a.shape.clone(),
            rhs: b.shape.clone(),
            reason: "the prediction and the target must have the same shape",
        });
    }
    Ok(())
}

/// Squared error `(pred − target)²` (seed eq. 3), reduced. Shapes must be equal.
pub fn mse<T: Element>(pred: &Tensor<T>, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
    same_shape("mse", pred, target)?;
    reduce(pred.sub(target)?.square(), reduction)
}

fn check_labels<T: Element>(op: &'static str, scores: &Tensor<T>, labels: &[usize]) -> Result<Indices> {
    if scores.ndim() != 2 || scores.shape()[0] != labels.len() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: scores.shape.clone(),
            rhs: crate::shape::shape_of(&[labels.len()]),
            reason: "scores must be [samples, classes] with one label per sample",
        });
    }
    let classes = scores.shape()[1];
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::IndexOutOfRange {
            op,
            index: bad,
            axis: 1,
            size: classes,
            shape: scores.shape.clone(),
        });
    }
    Indices::new(labels.to_vec(), &[labels.len(), 1])
}

/// Cross-entropy from logits `[N, C]` and integer labels (seed eq. 2):
/// `ℓ = logsumexp(z) − z_y` per row, reduced. Stable for any logits (±1e4 stay
/// finite).
///
/// One fused op on the tape: the forward computes each row's logsumexp once and
/// keeps the softmax it implies, and the gradient is `dy·(softmax(z) − onehot(y))`
/// — reusing that softmax when the backward is not itself recorded, and computing
/// it with the differentiable `softmax` op when it is (`create_graph`), so second
/// derivatives still work.
pub fn cross_entropy<T: Element>(
    logits: &Tensor<T>,
    labels: &[usize],
    reduction: Reduction,
) -> Result<Tensor<T>> {
    check_labels("cross_entropy", logits, labels)?;
    let classes = logits.shape()[1];
    let (probabilities, losses) = crate::kernels::cross_entropy_rows(logits.as_slice(), labels, classes);
    let probabilities = Tensor::from_parts(probabilities, logits.shape.clone());
    let labels: std::sync::Arc<[usize]> = labels.into();
    let y = Tensor::from_parts(losses, crate::shape::shape_of(&[labels.len()]));
    // The rule reuses the forward's softmax in one fused pass unless the backward is
    // itself recorded, when the softmax must be an op on the (saved) logits.
    let losses = Tensor::record_builtin("cross_entropy", &[logits], y, Save::INPUTS, move |dy, s| {
        if !is_grad_enabled() {
            let grad = crate::kernels::cross_entropy_backward_rows(
                probabilities.as_slice(),
                &labels,
                dy.as_slice(),
                classes,
            );
            return Ok(GradVec::from_iter([Some(Tensor::from_parts(grad, probabilities.shape.clone()))]));
        }
        let softmax = s.input(0)?.softmax(1)?;
        let onehot = Tensor::one_hot(&labels, classes)?;
        Ok(GradVec::from_iter([Some(softmax.sub(&onehot)?.mul(&dy.unsqueeze(1)?)?)]))
    });
    reduce(losses, reduction)
}

/// Negative log-likelihood from log-probabilities `[N, C]` and integer labels:
/// `ℓ = −log_probs[y]` per row, reduced. `nll(log_softmax(z))` equals cross-entropy.
pub fn nll<T: Element>(log_probs: &Tensor<T>, labels: &[usize], reduction: Reduction) -> Result<Tensor<T>> {
    let index = check_labels("nll", log_probs, labels)?;
    reduce(log_probs.gather(1, &index)?.reshape(&[labels.len()])?.neg(), reduction)
}

/// Binary cross-entropy on probabilities: `−[t·ln p + (1 − t)·ln(1 − p)]`, each log
/// clamped at −100 as PyTorch does, so p = 0 or 1 gives a finite loss. Probabilities
/// outside [0, 1] (or NaN) are an error. The target is data: it gets no gradient.
/// Gradient: `dy·(p − t) / max(p(1 − p), 1e-12)`.
pub fn bce<T: Element>(p: &Tensor<T>, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
    same_shape("bce", p, target)?;
    for (name, t) in [("probability", p), ("target", target)] {
        if let Some((i, v)) =
            t.as_slice().iter().enumerate().find(|(_, v)| !(**v >= T::zero() && **v <= T::one()))
        {
            return Err(Error::Domain {
                op: "bce",
                reason: format!("{name} {v} at flat index {i} is outside [0, 1]"),
            });
        }
    }
    let floor = T::from_f64(-100.0);
    let y = p.zip_with(target, "bce", move |p, t| {
        -(t * p.ln().max(floor) + (T::one() - t) * (T::one() - p).ln().max(floor))
    })?;
    let losses = Tensor::record_builtin("bce", &[p, &target.detach()], y, Save::INPUTS, |dy, s| {
        let (p, t) = (s.input(0)?, s.input(1)?);
        let denom = p.mul(&p.rsub_scalar(T::one()))?.clamp(T::from_f64(1e-12), T::infinity());
        let dp = dy.mul(&p.sub(t)?.div(&denom)?)?;
        Ok(GradVec::from_iter([Some(dp), None]))
    });
    reduce(losses, reduction)
}

/// Binary cross-entropy from logits: `max(z, 0) − z·t + ln(1 + e^−|z|)`, finite for
/// any z (at z = ±100 the loss is 0 or 100). Gradient: `dy·(σ(z) − t)` for the
/// logits and `−dy·z` for the target.
pub fn bce_with_logits<T: Element>(
    logits: &Tensor<T>,
    target: &Tensor<T>,
    reduction: Reduction,
) -> Result<Tensor<T>> {
    same_shape("bce_with_logits", logits, target)?;
    let y = logits
        .zip_with(target, "bce_with_logits", |z, t| z.max(T::zero()) - z * t + (-z.abs()).exp().ln_1p())?;
    let losses = Tensor::record_builtin("bce_with_logits", &[logits, target], y, Save::INPUTS, |dy, s| {
        let (z, t) = (s.input(0)?, s.input(1)?);
        Ok(GradVec::from_iter([Some(dy.mul(&z.sigmoid().sub(t)?)?), Some(dy.mul(z)?.neg())]))
    });
    reduce(losses, reduction)
}
