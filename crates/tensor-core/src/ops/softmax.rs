//! Softmax and log-softmax along an axis, shifted by the maximum so large logits
//! never overflow (softmax([1e4, 0]) = [1, 0]). Along the last axis (attention
//! scores, logits) forward and backward are fused row kernels over contiguous rows
//! (`kernels::softmax_rows` …); a recorded backward (`create_graph`) and other axes
//! use the same rules written with ops.

use super::one;
use crate::element::Element;
use crate::error::Result;
use crate::graph::{Save, is_grad_enabled, no_grad};
use crate::kernels;
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["softmax", "log_softmax"];

impl<T: Element> Tensor<T> {
    /// `e^(x−m) / Σ e^(x−m)` along `axis`, `m` the maximum. Gradient:
    /// `y·(dy − Σ dy·y)`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor<T>> {
        let axis_index = normalize_axis("softmax", axis, &self.shape)?;
        let ax = axis_index as isize;
        let last = axis_index + 1 == self.ndim();
        let n = self.shape[axis_index];
        let y = if last {
            Tensor::from_parts(kernels::softmax_rows(&self.data, n), self.shape.clone())
        } else {
            no_grad(|| -> Result<Tensor<T>> {
                let shifted = self.detach().sub(&self.detach().logsumexp(ax, true)?)?;
                Ok(shifted.exp())
            })?
        };
        Ok(Tensor::record_builtin("softmax", &[self], y, Save::OUTPUT, move |dy, s| {
            let y = s.output()?;
            if last && !is_grad_enabled() && dy.shape() == y.shape() {
                let dx = kernels::softmax_backward_rows(dy.as_slice(), y.as_slice(), n);
                return Ok(one(Tensor::from_parts(dx, y.shape.clone())));
            }
            let dot = dy.mul(y)?.sum(ax, true)?;
            Ok(one(y.mul(&dy.sub(&dot)?)?))
        }))
    }

    /// `x − logsumexp(x)` along `axis`, stable for any logits
    /// (log_softmax([1e4, 0]) = [0, −1e4]). Gradient: `dy − e^y·Σ dy`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor<T>> {
        let axis_index = normalize_axis("log_softmax", axis, &self.shape)?;
        let ax = axis_index as isize;
        let last = axis_index + 1 == self.ndim();
        let n = self.shape[axis_index];
        let y = if last {
            Tensor::from_parts(kernels::log_softmax_rows(&self.data, n), self.shape.clone())
        } else {
            no_grad(|| self.detach().sub(&self.detach().logsumexp(ax, true)?))?
        };
        Ok(Tensor::record_builtin("log_softmax", &[self], y, Save::OUTPUT, move |dy, s| {
            let y = s.output()?;
            if last && !is_grad_enabled() && dy.shape() == y.shape() {
                let dx = kernels::log_softmax_backward_rows(dy.as_slice(), y.as_slice(), n);
                return Ok(one(Tensor::from_parts(dx, y.shape.clone())));
            }
            Ok(one(dy.sub(&s.output()?.exp().mul(&dy.sum(ax, true)?)?)?))
        }))
    }
}
