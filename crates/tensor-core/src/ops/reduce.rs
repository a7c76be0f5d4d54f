//! Reductions over one axis, several, or all, with keep-dims. Rules broadcast the
//! output's gradient back over the reduced axes.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::Save;
use crate::kernels;
use crate::ops::{Indices, one, zero_safe_mul};
use crate::shape::{Axes, Shape, normalize_axis, numel};
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["sum", "max", "min", "logsumexp"];

/// The kept-dims shape and the output shape of reducing `shape` over `mask`.
fn reduced_shapes(shape: &[usize], mask: &[bool], keepdim: bool) -> (Shape, Shape) {
    let kept: Shape = shape.iter().zip(mask).map(|(&d, &m)| if m { 1 } else { d }).collect();
    let out: Shape = if keepdim {
        kept.clone()
    } else {
        shape.iter().zip(mask).filter(|(_, m)| !**m).map(|(&d, _)| d).collect()
    };
    (kept, out)
}

/// Largest element treating NaN as largest, so a NaN input propagates.
fn nan_max<T: Element>(acc: T, v: T) -> T {
    if v > acc || v.is_nan() { v } else { acc }
}

fn nan_min<T: Element>(acc: T, v: T) -> T {
    if v < acc || v.is_nan() { v } else { acc }
}

impl<T: Element> Tensor<T> {
    /// Sum over `axes` (see [`Axes`]); `keepdim` keeps reduced axes as size 1.
    /// Gradient: `dy` broadcast back over the reduced axes.
    pub fn sum(&self, axes: impl Into<Axes>, keepdim: bool) -> Result<Tensor<T>> {
        let mask = axes.into().mask("sum", &self.shape)?;
        let (kept, out) = reduced_shapes(&self.shape, &mask, keepdim);
        let data = kernels::reduce(&self.data, &self.shape, &mask, T::zero(), |a, b| a + b);
        let y = Tensor::from_parts(data, out);
        let full = self.shape.clone();
        Ok(Tensor::record_builtin("sum", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.reshape(&kept)?.broadcast_to(&full)?))
        }))
    }

    /// Sum of all elements, as a scalar.
    pub fn sum_all(&self) -> Tensor<T> {
        match self.sum(Axes::All, false) {
            Ok(t) => t,
            Err(e) => unreachable!("tensor invariant: reducing all axes cannot fail: {e}"),
        }
    }

    /// Mean over `axes`. Errors if the reduced axes hold no element.
    pub fn mean(&self, axes: impl Into<Axes>, keepdim: bool) -> Result<Tensor<T>> {
        let axes = axes.into();
        let mask = axes.mask("mean", &self.shape)?;
        let count: usize = self.shape.iter().zip(&mask).filter(|(_, m)| **m).map(|(d, _)| d).product();
        if count == 0 {
            return Err(Error::Empty { op: "mean", shape: self.shape.clone() });
        }
        Ok(self.sum(axes, keepdim)?.mul_scalar(T::one() / T::from_usize(count)))
    }

    /// Mean of all elements. Errors on an empty tensor.
    pub fn mean_all(&self) -> Result<Tensor<T>> {
        self.mean(Axes::All, false)
    }

    fn extremum(
        &self,
        op: &'static str,
        axes: Axes,
        keepdim: bool,
        init: T,
        // Generic rather than a fn pointer, so the kernel inlines and vectorises it.
        pick: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<Tensor<T>> {
        let mask = axes.mask(op, &self.shape)?;
        if self.numel() == 0 {
            return Err(Error::Empty { op, shape: self.shape.clone() });
        }
        let (kept, out) = reduced_shapes(&self.shape, &mask, keepdim);
        let data = kernels::reduce(&self.data, &self.shape, &mask, init, pick);
        let y = Tensor::from_parts(data, out);
        Ok(Tensor::record_builtin(op, &[self], y, Save::ALL, move |dy, s| {
            // Ties share the gradient evenly (as torch.amax/amin).
            let x = s.input(0)?;
            let y_kept = s.output()?.detach().reshape(&kept)?;
            let hits = x.eq_elem(&y_kept)?;
            let count = hits.sum(Axes::reduced_between(&kept, &x.shape), true)?;
            let share = hits.div(&count)?;
            Ok(one(dy.reshape(&kept)?.mul(&share)?))
        }))
    }

    /// Maximum over `axes`. Ties split the gradient evenly among the maxima (as
    /// `torch.amax`). Errors on an empty tensor. A NaN propagates.
    pub fn max(&self, axes: impl Into<Axes>, keepdim: bool) -> Result<Tensor<T>> {
        self.extremum("max", axes.into(), keepdim, T::neg_infinity(), nan_max)
    }

    /// Minimum over `axes`. Ties split the gradient evenly among the minima.
    pub fn min(&self, axes: impl Into<Axes>, keepdim: bool) -> Result<Tensor<T>> {
        self.extremum("min", axes.into(), keepdim, T::infinity(), nan_min)
    }

    fn arg_extremum(&self, op: &'static str, axis: isize, better: fn(T, T) -> bool) -> Result<Indices> {
        let ax = normalize_axis(op, axis, &self.shape)?;
        let n = self.shape[ax];
        if n == 0 || self.numel() == 0 {
            return Err(Error::Empty { op, shape: self.shape.clone() });
        }
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| self.data[(o * n + k) * inner + i];
                let mut best = 0;
                for k in 1..n {
                    if better(at(k), at(best)) {
                        best = k;
                    }
                }
                out.push(best);
            }
        }
        let shape: Shape = self.shape.iter().enumerate().filter(|(d, _)| *d != ax).map(|(_, &d)| d).collect();
        Indices::new(out, &shape)
    }

    /// Index of the largest element along `axis` (the first on ties; NaN counts as
    /// largest). The axis is removed from the shape.
    pub fn argmax(&self, axis: isize) -> Result<Indices> {
        self.arg_extremum("argmax", axis, |a, b| a > b || a.is_nan() && !b.is_nan())
    }

    /// Index of the smallest element along `axis` (the first on ties).
    pub fn argmin(&self, axis: isize) -> Result<Indices> {
        self.arg_extremum("argmin", axis, |a, b| a < b || a.is_nan() && !b.is_nan())
    }

    /// `ln Σ eˣ` over `axes`, shifted by the maximum so it never overflows:
    /// `m + ln Σ e^(x−m)`. Infinite maxima are not shifted, so logsumexp([1, +∞]) = +∞
    /// and logsumexp of all −∞ is −∞. Gradient: `dy·e^(x−y)` (the softmax).
    pub fn logsumexp(&self, axes: impl Into<Axes>, keepdim: bool) -> Result<Tensor<T>> {
        let mask = axes.into().mask("logsumexp", &self.shape)?;
        let (kept, out) = reduced_shapes(&self.shape, &mask, keepdim);
        let m = kernels::reduce(&self.data, &self.shape, &mask, T::neg_infinity(), nan_max);
        let m: Vec<T> = m.into_iter().map(|v| if v.is_finite() { v } else { T::zero() }).collect();
        let m = Tensor::from_parts(m, kept.clone());
        let shifted = self.detach().zip_with(&m, "logsumexp", |a, b| (a - b).exp())?;
        let s = kernels::reduce(&shifted.data, &self.shape, &mask, T::zero(), |a, b| a + b);
        let data: Vec<T> = s.iter().zip(m.as_slice()).map(|(&s, &m)| s.ln() + m).collect();
        debug_assert_eq!(data.len(), numel(&out));
        let y = Tensor::from_parts(data, out);
        Ok(Tensor::record_builtin("logsumexp", &[self], y, Save::ALL, move |dy, s| {
            let y_kept = s.output()?.reshape(&kept)?;
            // Zero-safe, so a masked-out logsumexp that overflowed (x − y = ∞ − ∞)
            // gives 0, not NaN.
            Ok(one(zero_safe_mul(&dy.reshape(&kept)?, &s.input(0)?.sub(&y_kept)?.exp())?))
        }))
    }

    /// Variance over `axes` with `correction` (0: population, 1: sample, as
    /// `torch.var`). Errors when the count is not above the correction.
    pub fn var(&self, axes: impl Into<Axes>, keepdim: bool, correction: usize) -> Result<Tensor<T>> {
        let axes = axes.into();
        let mask = axes.mask("var", &self.shape)?;
        let count: usize = self.shape.iter().zip(&mask).filter(|(_, m)| **m).map(|(d, _)| d).product();
        if count <= correction {
            return Err(Error::InvalidArgument {
                op: "var",
                reason: format!(
                    "{count} elements per reduction of shape {:?} is not more than the correction {correction}",
                    self.shape
                ),
            });
        }
        let centered = self.sub(&self.mean(axes.clone(), true)?)?;
        Ok(centered.square().sum(axes, keepdim)?.mul_scalar(T::one() / T::from_usize(count - correction)))
    }
}

impl Axes {
    /// The axes where `kept` (a keep-dims reduced shape) differs from `full`: the
    /// axes that were reduced. Used to re-reduce masks in gradient rules.
    pub(crate) fn reduced_between(kept: &[usize], full: &[usize]) -> Axes {
        Axes::These(
            kept.iter().zip(full).enumerate().filter(|(_, (k, f))| k != f).map(|(i, _)| i as isize).collect(),
        )
    }
}
