//! Losses (tutorial §4) as graph expressions, each with a [`Reduction`] (`Mean`, `Sum`, `None`):
//! squared error, L1, Huber, binary cross-entropy on probabilities and from logits,
//! cross-entropy from logits (class weights, label smoothing) and NLL on log-probabilities.
//!
//! Semantics follow PyTorch's `torch.nn` losses, so numbers match it. Shapes of prediction and
//! target must be equal (no silent broadcasting); class labels are `usize`s below the number of
//! classes, one per row of `[samples, classes]` scores.
//!
//! # Binary cross-entropy: the tutorial's formula is wrong
//! The tutorial's eq. (1), `−Σ y·log f · log(1 − f)`, multiplies the two logarithms. The correct
//! loss adds them: `L = −(1/N) Σ [y·ln p + (1 − y)·ln(1 − p)]` ([`bce`]); from logits `z` it is
//! `ℓ(z, y) = max(z, 0) − z·y + ln(1 + e^(−|z|))` with gradient `σ(z) − y` ([`bce_with_logits`]).

use crate::error::{NnError, Result, invalid};
use tensor_core::shape::shape_of;
use tensor_core::{Element, Indices, Tensor, functional};

pub use tensor_core::functional::Reduction;

fn same_shape<T: Element>(op: &'static str, pred: &Tensor<T>, target: &Tensor<T>) -> Result<()> {
    if pred.shape() != target.shape() {
        return Err(NnError::Tensor(tensor_core::Error::ShapeMismatch {
            op,
            lhs: shape_of(pred.shape()),
            rhs: shape_of(target.shape()),
            reason: "the prediction and the target must have the same shape",
        }));
    }
    Ok(())
}

/// Squared error `(ŷ − y)²` (tutorial eq. 3); with `Mean`, `mean((y − ŷ)²)`.
///
/// # Errors
/// Shapes differ; `Mean` of nothing.
pub fn mse<T: Element>(pred: &Tensor<T>, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
    Ok(functional::mse(pred, target, reduction)?)
}

/// Absolute error `|ŷ − y|` (L1, MAE with `Mean`). Gradient `sign(ŷ − y)`, 0 where equal.
///
/// # Errors
/// Shapes differ; `Mean` of nothing.
pub fn l1<T: Element>(pred: &Tensor<T>, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
    same_shape("l1", pred, target)?;
    Ok(functional::reduce(pred.sub(target)?.abs(), reduction)?)
}

/// Huber loss with threshold `delta` (PyTorch's `HuberLoss`): with `d = ŷ − y`,
/// `½d²` where `|d| ≤ δ`, else `δ(|d| − ½δ)` — quadratic near 0, linear (robust to
/// outliers) beyond δ. Gradient `d` inside, `δ·sign(d)` outside.
///
/// ```
/// use nn::loss::{huber, Reduction};
/// use tensor_core::Tensor;
/// let pred = Tensor::<f64>::from_vec(vec![0.5, 3.0], &[2])?;
/// let target = Tensor::zeros(&[2])?;
/// // ½·0.5² = 0.125 (inside δ = 1);  1·(3 − ½) = 2.5 (outside).
/// assert_eq!(huber(&pred, &target, 1.0, Reduction::None)?.to_vec(), vec![0.125, 2.5]);
/// # Ok::<(), nn::NnError>(())
/// ```
///
/// # Errors
/// `delta` not finite and positive; shapes differ; `Mean` of nothing.
pub fn huber<T: Element>(
    pred: &Tensor<T>,
    target: &Tensor<T>,
    delta: f64,
    reduction: Reduction,
) -> Result<Tensor<T>> {
    if !(delta.is_finite() && delta > 0.0) {
        return Err(invalid("huber", format!("delta {delta} must be finite and positive")));
    }
    same_shape("huber", pred, target)?;
    let d = pred.sub(target)?;
    let abs = d.abs();
    let delta_t = T::from_f64(delta);
    let quadratic = d.square().mul_scalar(T::from_f64(0.5));
    let linear = abs.add_scalar(T::from_f64(-0.5 * delta)).mul_scalar(delta_t);
    let outside = abs.gt_scalar(delta_t);
    Ok(functional::reduce(Tensor::where_cond(&outside, &linear, &quadratic)?, reduction)?)
}

/// Binary cross-entropy on probabilities `p` and targets `y` in [0, 1]:
/// `ℓ = −[y·ln p + (1 − y)·ln(1 − p)]`, each log clamped at −100 as PyTorch, so `p = 0` or `1`
/// gives a finite loss; with `Mean`, `L = −(1/N) Σ [y·ln p + (1 − y)·ln(1 − p)]`.
///
/// The tutorial's eq. (1), `−Σ y·log f · log(1 − f)`, is wrong: it multiplies the two logs, so it
/// is not the Bernoulli negative log-likelihood (for `y = 0` it is 0 whatever `f`, so negatives
/// teach nothing); the logs must be **added**, weighted by `y` and `1 − y`, as here. Prefer [`bce_with_logits`] on raw scores:
/// it is stable where `σ(z)` rounds to 0 or 1.
///
/// ```
/// use nn::loss::{bce, Reduction};
/// use tensor_core::Tensor;
/// let p = Tensor::<f64>::from_vec(vec![0.9, 0.2], &[2])?;
/// let y = Tensor::from_vec(vec![1.0, 0.0], &[2])?;
/// let loss = bce(&p, &y, Reduction::Mean)?.item()?;
/// assert!((loss - -(0.9f64.ln() + 0.8f64.ln()) / 2.0).abs() < 1e-15);
/// # Ok::<(), nn::NnError>(())
/// ```
///
/// # Errors
/// A probability or target outside [0, 1] or NaN (`tensor_core::Error::Domain`); shapes
/// differ; `Mean` of nothing.
pub fn bce<T: Element>(p: &Tensor<T>, target: &Tensor<T>, reduction: Reduction) -> Result<Tensor<T>> {
    Ok(functional::bce(p, target, reduction)?)
}

/// Binary cross-entropy from logits `z` (the stable form of `bce(σ(z), y)`):
/// `ℓ(z, y) = max(z, 0) − z·y + ln(1 + e^(−|z|))`, finite for any `z` (at `z = ±100` the loss
/// is 0 or 100); gradient `σ(z) − y`. See [`bce`] for why the tutorial's eq. (1) is wrong.
///
/// # Errors
/// Shapes differ; `Mean` of nothing.
pub fn bce_with_logits<T: Element>(
    logits: &Tensor<T>,
    target: &Tensor<T>,
    reduction: Reduction,
) -> Result<Tensor<T>> {
    Ok(functional::bce_with_logits(logits, target, reduction)?)
}

/// Cross-entropy from logits `[samples, classes]` and one label per sample (tutorial eq. 2):
/// `ℓ = logsumexp(z) − z_y`, stable for any logits; gradient `softmax(z) − onehot(y)`. For class
/// weights or label smoothing use [`CrossEntropyLoss`].
///
/// # Errors
/// Logits not 2-D or the label count differs from the rows (`ShapeMismatch`); a label ≥ the
/// number of classes ([`NnError::LabelOutOfRange`]); `Mean` of no samples.
pub fn cross_entropy<T: Element>(
    logits: &Tensor<T>,
    labels: &[usize],
    reduction: Reduction,
) -> Result<Tensor<T>> {
    CrossEntropyLoss::new().reduction(reduction).loss(logits, labels)
}

/// Negative log-likelihood from log-probabilities `[samples, classes]`: `ℓ = −log_probs[y]`.
/// `nll(log_softmax(z), y)` equals `cross_entropy(z, y)`. For class weights use [`NllLoss`].
///
/// # Errors
/// As [`cross_entropy`].
pub fn nll<T: Element>(log_probs: &Tensor<T>, labels: &[usize], reduction: Reduction) -> Result<Tensor<T>> {
    NllLoss::new().reduction(reduction).loss(log_probs, labels)
}

/// Cross-entropy from logits with PyTorch's options (`torch.nn.CrossEntropyLoss`).
///
/// With class weights `w` (length = classes), smoothing `ε` and `C` classes, the loss of sample
/// `i` with label `yᵢ` and log-probabilities `lᵢ = log_softmax(zᵢ)` is
///
/// `ℓᵢ = (1 − ε)·w[yᵢ]·(−lᵢ[yᵢ]) + (ε/C)·Σ_c w[c]·(−lᵢ[c])`
///
/// (`w = 1` without weights). `Sum` adds the `ℓᵢ`; `Mean` divides the sum by `Σᵢ w[yᵢ]` — the
/// total weight of the samples' classes, not the sample count — which is `N` without weights.
/// Label smoothing thus mixes the one-hot target with the uniform distribution:
/// target `(1 − ε)·onehot(y) + ε/C`.
///
/// ```
/// use nn::loss::{CrossEntropyLoss, Reduction};
/// use tensor_core::Tensor;
/// // Equal logits: every log-probability is ln ½, so each ℓᵢ = w[yᵢ]·ln 2 without smoothing.
/// let logits = Tensor::<f64>::zeros(&[3, 2])?;
/// let ce = CrossEntropyLoss::new().class_weights(vec![1.0, 3.0]);
/// let loss = ce.loss(&logits, &[0, 1, 1])?.item()?;
/// // (1 + 3 + 3)·ln 2 / (1 + 3 + 3) = ln 2
/// assert!((loss - 2f64.ln()).abs() < 1e-15);
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CrossEntropyLoss {
    /// One non-negative weight per class, or `None` for equal weights.
    pub class_weights: Option<Vec<f64>>,
    /// Label smoothing `ε` in [0, 1].
    pub label_smoothing: f64,
    /// How the per-sample losses are combined.
    pub reduction: Reduction,
}

impl CrossEntropyLoss {
    /// No weights, no smoothing, `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    /// With one weight per class.
    pub fn class_weights(mut self, weights: Vec<f64>) -> Self {
        self.class_weights = Some(weights);
        self
    }

    /// With label smoothing `epsilon`.
    pub fn label_smoothing(mut self, epsilon: f64) -> Self {
        self.label_smoothing = epsilon;
        self
    }

    /// With this reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of `logits` `[samples, classes]` against `labels`.
    ///
    /// # Errors
    /// Logits not 2-D or a label count different from the rows (`ShapeMismatch`); a label ≥ the
    /// number of classes ([`NnError::LabelOutOfRange`]); weights of the wrong length, negative
    /// or not finite, smoothing outside [0, 1] ([`NnError::InvalidArgument`]); `Mean` of no
    /// samples, or of samples whose class weights sum to 0.
    pub fn loss<T: Element>(&self, logits: &Tensor<T>, labels: &[usize]) -> Result<Tensor<T>> {
        const OP: &str = "cross_entropy";
        check_labels(OP, logits, labels)?;
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return Err(invalid(OP, format!("label smoothing {} is outside [0, 1]", self.label_smoothing)));
        }
        if self.class_weights.is_none() && self.label_smoothing == 0.0 {
            // The plain case: logsumexp(z) − z_y directly, one fused expression.
            return Ok(functional::cross_entropy(logits, labels, self.reduction)?);
        }
        let log_probs = logits.log_softmax(1)?;
        weighted_nll(
            OP,
            &log_probs,
            labels,
            self.class_weights.as_deref(),
            self.label_smoothing,
            self.reduction,
        )
    }
}

/// Negative log-likelihood on log-probabilities with optional class weights
/// (`torch.nn.NLLLoss`): `ℓᵢ = −w[yᵢ]·log_probs[i, yᵢ]`; `Mean` divides by `Σᵢ w[yᵢ]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NllLoss {
    /// One non-negative weight per class, or `None` for equal weights.
    pub class_weights: Option<Vec<f64>>,
    /// How the per-sample losses are combined.
    pub reduction: Reduction,
}

impl NllLoss {
    /// No weights, `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    /// With one weight per class.
    pub fn class_weights(mut self, weights: Vec<f64>) -> Self {
        self.class_weights = Some(weights);
        self
    }

    /// With this reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of `log_probs` `[samples, classes]` against `labels`.
    ///
    /// # Errors
    /// As [`CrossEntropyLoss::loss`].
    pub fn loss<T: Element>(&self, log_probs: &Tensor<T>, labels: &[usize]) -> Result<Tensor<T>> {
        const OP: &str = "nll";
        check_labels(OP, log_probs, labels)?;
        weighted_nll(OP, log_probs, labels, self.class_weights.as_deref(), 0.0, self.reduction)
    }
}

/// Scores must be `[samples, classes]` with one label per row, each below `classes`.
fn check_labels<T: Element>(op: &'static str, scores: &Tensor<T>, labels: &[usize]) -> Result<()> {
    if scores.ndim() != 2 || scores.shape()[0] != labels.len() {
        return Err(NnError::Tensor(tensor_core::Error::ShapeMismatch {
            op,
            lhs: shape_of(scores.shape()),
            rhs: shape_of(&[labels.len()]),
            reason: "scores must be [samples, classes] with one label per sample",
        }));
    }
    let classes = scores.shape()[1];
    if let Some((sample, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
        return Err(NnError::LabelOutOfRange { op, label, sample, classes });
    }
    Ok(())
}

/// `(1 − ε)·w[y]·(−l[y]) + (ε/C)·Σ_c w[c]·(−l[c])` per row, reduced with PyTorch's weighted mean.
fn weighted_nll<T: Element>(
    op: &'static str,
    log_probs: &Tensor<T>,
    labels: &[usize],
    weights: Option<&[f64]>,
    smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor<T>> {
    let (samples, classes) = (labels.len(), log_probs.shape()[1]);
    if let Some(w) = weights {
        if w.len() != classes {
            return Err(invalid(op, format!("{} class weights given for {classes} classes", w.len())));
        }
        if let Some((c, v)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
            return Err(invalid(op, format!("class weight {v} of class {c} is not a finite number ≥ 0")));
        }
    }
    let index = Indices::new(labels.to_vec(), &[samples, 1])?;
    let mut per_sample = log_probs.gather(1, &index)?.reshape(&[samples])?.neg();
    let label_weights: Option<Vec<f64>> = weights.map(|w| labels.iter().map(|&y| w[y]).collect());
    if let Some(wy) = &label_weights {
        let wy = Tensor::from_vec(wy.iter().map(|&v| T::from_f64(v)).collect(), &[samples])?;
        per_sample = per_sample.mul(&wy)?;
    }
    if smoothing > 0.0 {
        let weighted = match weights {
            Some(w) => {
                log_probs.mul(&Tensor::from_vec(w.iter().map(|&v| T::from_f64(v)).collect(), &[classes])?)?
            }
            None => log_probs.clone(),
        };
        let uniform = weighted.sum(1, false)?.neg();
        per_sample = per_sample
            .mul_scalar(T::from_f64(1.0 - smoothing))
            .add(&uniform.mul_scalar(T::from_f64(smoothing / classes as f64)))?;
    }
    match (reduction, label_weights) {
        (Reduction::Mean, Some(wy)) => {
            let total: f64 = wy.iter().sum();
            if total == 0.0 {
                return Err(invalid(
                    op,
                    format!(
                        "the weighted mean divides by the class weights of the {samples} samples, which sum to 0"
                    ),
                ));
            }
            Ok(per_sample.sum_all().div_scalar(T::from_f64(total)))
        }
        (reduction, _) => Ok(functional::reduce(per_sample, reduction)?),
    }
}
