//! Softmax and log-softmax along an axis, shifted by the maximum so large logits
//! never overflow (softmax([1e4, 0]) = [1, 0]).

use super::one;
use crate::element::Element;
use crate::error::Result;
use crate::graph::{Save, no_grad};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["softmax", "log_softmax"];

impl<T: Element> Tensor<T> {
    /// `e^(x−m) / Σ e^(x−m)` along `axis`, `m` the maximum. Gradient:
    /// `y·(dy − Σ dy·y)`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor<T>> {
        let ax = normalize_axis("softmax", axis, &self.shape)? as isize;
        let y = no_grad(|| -> Result<Tensor<T>> {
            let shifted = self.detach().sub(&self.detach().logsumexp(ax, true)?)?;
            Ok(shifted.exp())
        })?;
        Ok(Tensor::record_builtin("softmax", &[self], y, Save::OUTPUT, move |dy, s| {
            let y = s.output()?;
            let dot = dy.mul(y)?.sum(ax, true)?;
            Ok(one(y.mul(&dy.sub(&dot)?)?))
        }))
    }

    /// `x − logsumexp(x)` along `axis`, stable for any logits
    /// (log_softmax([1e4, 0]) = [0, −1e4]). Gradient: `dy − e^y·Σ dy`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor<T>> {
        let ax = normalize_axis("log_softmax", axis, &self.shape)? as isize;
        let y = no_grad(|| self.detach().sub(&self.detach().logsumexp(ax, true)?))?;
        Ok(Tensor::record_builtin("log_softmax", &[self], y, Save::OUTPUT, move |dy, s| {
            Ok(one(dy.sub(&s.output()?.exp().mul(&dy.sum(ax, true)?)?)?))
        }))
    }
}
