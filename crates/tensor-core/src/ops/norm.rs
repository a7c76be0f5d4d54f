//! Normalisation layers: batch norm (training form with batch statistics and a
//! running-statistics update, evaluation form with the running statistics) and layer
//! norm over trailing axes. Batch norm is a composition of differentiable ops (mean,
//! centring, `(σ² + ε)^(−1/2)`), so it is twice differentiable without a rule of its
//! own. Layer norm is one fused op over contiguous rows (forward and backward each a
//! row kernel, as PyTorch's); its rule under `create_graph` is the same gradient
//! written with ops, so it stays twice differentiable.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{GradVec, Save, is_grad_enabled, no_grad};
use crate::kernels;
use crate::shape::{Shape, shape_of};
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["layer_norm"];

/// A batch norm's running mean and variance, one value per channel (shape (C)).
///
/// They start at 0 and 1 ([`RunningStats::new`]); each training step replaces them
/// with `(1 − m)·r + m·stat` (m the momentum), using the batch mean and the
/// **unbiased** batch variance, as PyTorch.
#[derive(Debug, Clone)]
pub struct RunningStats<T: Element> {
    /// Running mean per channel.
    pub mean: Tensor<T>,
    /// Running (unbiased) variance per channel.
    pub var: Tensor<T>,
}

impl<T: Element> RunningStats<T> {
    /// Fresh statistics for `channels` channels: mean 0, variance 1.
    pub fn new(channels: usize) -> Self {
        let stat = |v: T| Tensor::from_parts(vec![v; channels], shape_of(&[channels]));
        RunningStats { mean: stat(T::zero()), var: stat(T::one()) }
    }
}

/// Checks an optional per-channel (or per-feature) affine parameter's shape.
fn check_affine<T: Element>(
    op: &'static str,
    x: &Tensor<T>,
    p: Option<&Tensor<T>>,
    want: &[usize],
    reason: &'static str,
) -> Result<()> {
    match p {
        Some(p) if p.shape.as_slice() != want => {
            Err(Error::ShapeMismatch { op, lhs: x.shape.clone(), rhs: p.shape.clone(), reason })
        }
        _ => Ok(()),
    }
}

fn check_eps<T: Element>(op: &'static str, eps: T) -> Result<()> {
    if !(eps >= T::zero() && eps.is_finite()) {
        return Err(Error::InvalidArgument {
            op,
            reason: format!("eps {eps} must be finite and non-negative"),
        });
    }
    Ok(())
}

/// `γ·x̂ + β` with γ and β (when given) reshaped to `kept`.
fn affine<T: Element>(
    xhat: Tensor<T>,
    gamma: Option<&Tensor<T>>,
    beta: Option<&Tensor<T>>,
    kept: &[usize],
) -> Result<Tensor<T>> {
    let y = match gamma {
        Some(g) => xhat.mul(&g.reshape(kept)?)?,
        None => xhat,
    };
    match beta {
        Some(b) => y.add(&b.reshape(kept)?),
        None => Ok(y),
    }
}

impl<T: Element> Tensor<T> {
    /// The batch-norm input checks shared by both forms; returns the channel count,
    /// the reduced axes (all but axis 1) and the keep-dims statistic shape (1, C, 1…).
    fn batch_norm_layout(
        &self,
        op: &'static str,
        gamma: Option<&Tensor<T>>,
        beta: Option<&Tensor<T>>,
        running: &RunningStats<T>,
        eps: T,
    ) -> Result<(usize, Vec<isize>, Shape)> {
        if self.ndim() < 2 {
            return Err(Error::InvalidArgument {
                op,
                reason: format!("the input must be (N, C, …), got shape {:?}", self.shape),
            });
        }
        let c = self.shape[1];
        let reason = "γ, β and the running statistics must have one element per channel (axis 1)";
        for p in [gamma, beta, Some(&running.mean), Some(&running.var)] {
            check_affine(op, self, p, &[c], reason)?;
        }
        check_eps(op, eps)?;
        let axes: Vec<isize> = (0..self.ndim() as isize).filter(|&a| a != 1).collect();
        let mut kept: Shape = smallvec::smallvec![1; self.ndim()];
        kept[1] = c;
        Ok((c, axes, kept))
    }

    /// Batch normalisation, training form: `γ·(x − μ)/√(σ² + ε) + β` with μ and σ²
    /// the mean and **biased** variance of each channel (axis 1) over the batch and
    /// every other axis — (N), (N, L) or (N, H, W). γ and β are (C) or `None` (1 and
    /// 0). Returns the output and the updated running statistics
    /// `(1 − momentum)·r + momentum·stat`, the variance there **unbiased** (as
    /// PyTorch); the statistics are constants, not on the graph.
    ///
    /// Errors on a rank below 2, parameters or statistics that are not (C), a
    /// momentum outside [0, 1], a negative ε, or a single value per channel.
    ///
    /// ```
    /// use tensor_core::{RunningStats, Tensor};
    /// // One channel holding [1, 3]: μ = 2, σ² = 1 (biased), so x̂ ≈ [−1, 1]; the
    /// // unbiased variance is 2, so the running variance becomes 0.9·1 + 0.1·2 = 1.1.
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2, 1])?;
    /// let (y, stats) = x.batch_norm_train(None, None, &RunningStats::new(1), 0.1, 0.0)?;
    /// assert_eq!(y.to_vec(), vec![-1.0, 1.0]);
    /// assert!((stats.mean.to_vec()[0] - 0.2).abs() < 1e-15);
    /// assert!((stats.var.to_vec()[0] - 1.1).abs() < 1e-15);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn batch_norm_train(
        &self,
        gamma: Option<&Tensor<T>>,
        beta: Option<&Tensor<T>>,
        running: &RunningStats<T>,
        momentum: T,
        eps: T,
    ) -> Result<(Tensor<T>, RunningStats<T>)> {
        let op = "batch_norm";
        let (c, axes, kept) = self.batch_norm_layout(op, gamma, beta, running, eps)?;
        if !(momentum >= T::zero() && momentum <= T::one()) {
            return Err(Error::InvalidArgument {
                op,
                reason: format!("momentum {momentum} must be in [0, 1]"),
            });
        }
        let count = self.numel() / c.max(1);
        if count < 2 {
            return Err(Error::InvalidArgument {
                op,
                reason: format!(
                    "training needs more than one value per channel, the input of shape {:?} has {count}",
                    self.shape
                ),
            });
        }
        let mean = self.mean(axes.as_slice(), true)?;
        let centered = self.sub(&mean)?;
        let var = centered.square().mean(axes.as_slice(), true)?;
        let xhat = centered.mul(&var.add_scalar(eps).powf(T::from_f64(-0.5)))?;
        let y = affine(xhat, gamma, beta, &kept)?;
        let stats = no_grad(|| -> Result<RunningStats<T>> {
            let keep = T::one() - momentum;
            let unbiased = T::from_usize(count) / T::from_usize(count - 1);
            let batch_mean = mean.detach().reshape(&[c])?;
            let batch_var = var.detach().reshape(&[c])?.mul_scalar(unbiased);
            Ok(RunningStats {
                mean: running.mean.detach().mul_scalar(keep).add(&batch_mean.mul_scalar(momentum))?,
                var: running.var.detach().mul_scalar(keep).add(&batch_var.mul_scalar(momentum))?,
            })
        })?;
        Ok((y, stats))
    }

    /// Batch normalisation, evaluation form: `γ·(x − r_μ)/√(r_σ² + ε) + β` with the
    /// running statistics of each channel (axis 1). Same checks as
    /// [`batch_norm_train`](Self::batch_norm_train) except the batch size.
    ///
    /// ```
    /// use tensor_core::{RunningStats, Tensor};
    /// // Fresh statistics (0, 1) and ε = 0 leave the input unchanged.
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2, 1])?;
    /// let y = x.batch_norm_eval(None, None, &RunningStats::new(1), 0.0)?;
    /// assert_eq!(y.to_vec(), vec![1.0, 3.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn batch_norm_eval(
        &self,
        gamma: Option<&Tensor<T>>,
        beta: Option<&Tensor<T>>,
        running: &RunningStats<T>,
        eps: T,
    ) -> Result<Tensor<T>> {
        let (_, _, kept) = self.batch_norm_layout("batch_norm", gamma, beta, running, eps)?;
        let mean = running.mean.reshape(&kept)?;
        let scale = running.var.reshape(&kept)?.add_scalar(eps).powf(T::from_f64(-0.5));
        affine(self.sub(&mean)?.mul(&scale)?, gamma, beta, &kept)
    }

    /// Layer normalisation over the trailing axes `normalized_shape` (as PyTorch's
    /// `layer_norm`): `γ·(x − μ)/√(σ² + ε) + β` with μ and the **biased** σ² over those
    /// axes of each sample; γ and β have shape `normalized_shape` (or `None`).
    ///
    /// Errors when `normalized_shape` is empty, is not the input's trailing shape, or
    /// γ/β have another shape, or ε is negative.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // [1, 3]: μ = 2, σ² = 1, so with ε = 0 the output is [−1, 1].
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[1, 2])?;
    /// assert_eq!(x.layer_norm(&[2], None, None, 0.0)?.to_vec(), vec![-1.0, 1.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        gamma: Option<&Tensor<T>>,
        beta: Option<&Tensor<T>>,
        eps: T,
    ) -> Result<Tensor<T>> {
        let op = "layer_norm";
        let k = normalized_shape.len();
        if k == 0 || k > self.ndim() || &self.shape[self.ndim() - k..] != normalized_shape {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape.clone(),
                rhs: shape_of(normalized_shape),
                reason: "the normalised shape must be the input's trailing axes (and not empty)",
            });
        }
        let reason = "γ and β must have the normalised shape";
        check_affine(op, self, gamma, normalized_shape, reason)?;
        check_affine(op, self, beta, normalized_shape, reason)?;
        check_eps(op, eps)?;
        let n: usize = normalized_shape.iter().product();
        let (y, stats) = kernels::layer_norm_rows(
            &self.data,
            n,
            eps,
            gamma.map(|g| g.as_slice()),
            beta.map(|b| b.as_slice()),
        );
        let y = Tensor::from_parts(y, self.shape.clone());
        let mut inputs = vec![self];
        inputs.extend(gamma);
        inputs.extend(beta);
        let (has_gamma, has_beta) = (gamma.is_some(), beta.is_some());
        let stats = std::sync::Arc::new(stats);
        Ok(Tensor::record_builtin(op, &inputs, y, Save::INPUTS, move |dy, s| {
            let x = s.input(0)?;
            let gamma = if has_gamma { Some(s.input(1)?) } else { None };
            let wants = |i: usize| s.needs_grad(i);
            let mut grads = GradVec::new();
            if is_grad_enabled() {
                // Recorded backward: the same gradient written with ops.
                let axes: Vec<isize> = (-(k as isize)..0).collect();
                let axes = axes.as_slice();
                let centered = x.sub(&x.mean(axes, true)?)?;
                let rstd = centered.square().mean(axes, true)?.add_scalar(eps).powf(T::from_f64(-0.5));
                let xhat = centered.mul(&rstd)?;
                let g = match gamma {
                    Some(gm) => dy.mul(gm)?,
                    None => dy.clone(),
                };
                let dx = if wants(0) {
                    let inner =
                        g.sub(&g.mean(axes, true)?)?.sub(&xhat.mul(&g.mul(&xhat)?.mean(axes, true)?)?)?;
                    Some(rstd.mul(&inner)?)
                } else {
                    None
                };
                grads.push(dx);
                if has_gamma {
                    grads.push(if wants(1) { Some(dy.mul(&xhat)?) } else { None });
                }
            } else {
                // The fused kernels: x̂ from the forward's statistics, then one pass
                // per row for dx.
                let xhat =
                    Tensor::from_parts(kernels::layer_norm_xhat(x.as_slice(), &stats, n), x.shape.clone());
                let g = match gamma {
                    Some(gm) => dy.mul(gm)?,
                    None => dy.clone(),
                };
                let dx = if wants(0) {
                    let dx = kernels::layer_norm_backward_rows(g.as_slice(), xhat.as_slice(), &stats, n);
                    Some(Tensor::from_parts(dx, x.shape.clone()))
                } else {
                    None
                };
                grads.push(dx);
                if has_gamma {
                    grads.push(if wants(1) { Some(dy.mul(&xhat)?) } else { None });
                }
            }
            if has_beta {
                grads.push(if wants(grads.len()) { Some(dy.clone()) } else { None });
            }
            Ok(grads)
        }))
    }
}
