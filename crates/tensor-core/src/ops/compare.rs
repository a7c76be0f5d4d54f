//! Comparisons (constant 0/1 masks, not differentiable) and `where_cond`, which is
//! differentiable in its two branches but not in its mask.

use super::one;
use crate::element::Element;
use crate::error::Result;
use crate::graph::Save;
use crate::shape::{broadcast_shapes, numel};
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["where"];

fn indicator<T: Element>(b: bool) -> T {
    if b { T::one() } else { T::zero() }
}

impl<T: Element> Tensor<T> {
    /// 1 where `self > other`, else 0 (broadcasting; a constant).
    pub fn gt(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "gt", |a, b| indicator(a > b))
    }
    /// 1 where `self ≥ other`, else 0 (broadcasting; a constant).
    pub fn ge(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "ge", |a, b| indicator(a >= b))
    }
    /// 1 where `self < other`, else 0 (broadcasting; a constant).
    pub fn lt(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "lt", |a, b| indicator(a < b))
    }
    /// 1 where `self ≤ other`, else 0 (broadcasting; a constant).
    pub fn le(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "le", |a, b| indicator(a <= b))
    }
    /// 1 where `self == other`, else 0 (broadcasting; a constant).
    pub fn eq_elem(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "eq", |a, b| indicator(a == b))
    }
    /// 1 where `self > c`, else 0 (a constant).
    pub fn gt_scalar(&self, c: T) -> Tensor<T> {
        self.map(move |a| indicator(a > c))
    }
    /// 1 where `self < c`, else 0 (a constant).
    pub fn lt_scalar(&self, c: T) -> Tensor<T> {
        self.map(move |a| indicator(a < c))
    }
    /// 1 where `self == c`, else 0 (a constant).
    pub fn eq_scalar(&self, c: T) -> Tensor<T> {
        self.map(move |a| indicator(a == c))
    }

    /// Picks `a` where `mask` is non-zero and `b` elsewhere, broadcasting all three.
    /// Gradient: `dy` flows to the picked branch only, so a NaN or infinity in the
    /// branch not taken never reaches the other's gradient. The mask gets none.
    pub fn where_cond(mask: &Tensor<T>, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
        let ab = broadcast_shapes("where", &a.shape, &b.shape)?;
        let shape = broadcast_shapes("where", &mask.shape, &ab)?;
        let get = |t: &Tensor<T>| -> Vec<T> {
            if t.shape == shape {
                t.to_vec()
            } else {
                crate::kernels::broadcast_copy(&t.data, &t.shape, &shape)
            }
        };
        let (m, av, bv) = (get(mask), get(a), get(b));
        let data: Vec<T> =
            (0..numel(&shape)).map(|i| if m[i] != T::zero() { av[i] } else { bv[i] }).collect();
        let y = Tensor::from_parts(data, shape);
        Ok(Tensor::record_builtin("where", &[mask, a, b], y, Save::input(0), |dy, s| {
            let zero = Tensor::scalar(T::zero());
            let mask = s.input(0)?.detach();
            let da = Tensor::where_cond(&mask, dy, &zero)?;
            let db = Tensor::where_cond(&mask, &zero, dy)?;
            let mut g = one(da);
            g.insert(0, None);
            g.push(Some(db));
            Ok(g)
        }))
    }
}
