//! Elementwise binary ops with NumPy broadcasting, and their scalar forms. Rules
//! return gradients of the output's (broadcast) shape; the engine sums them back to
//! each input's shape.

use super::{one, two, zero_safe_mul};
use crate::element::Element;
use crate::error::Result;
use crate::graph::Save;
use crate::kernels;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] =
    &["add", "sub", "mul", "div", "pow", "maximum", "minimum", "add_scalar", "mul_scalar"];

impl<T: Element> Tensor<T> {
    /// `f(a, b)` elementwise with broadcasting, not recorded.
    pub(crate) fn zip_with(
        &self,
        other: &Tensor<T>,
        op: &'static str,
        f: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<Tensor<T>> {
        let shape = broadcast_shapes(op, &self.shape, &other.shape)?;
        let data = kernels::zip_broadcast(&self.data, &self.shape, &other.data, &other.shape, &shape, f);
        Ok(Tensor::from_parts(data, shape))
    }

    /// `self + other`, broadcasting. Gradient: `dy` to each input.
    pub fn add(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let y = self.zip_with(other, "add", |a, b| a + b)?;
        Ok(Tensor::record_builtin("add", &[self, other], y, Save::NOTHING, |dy, _| {
            Ok(two(dy.clone(), dy.clone()))
        }))
    }

    /// `self − other`, broadcasting. Gradient: `dy`, `−dy`.
    pub fn sub(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let y = self.zip_with(other, "sub", |a, b| a - b)?;
        Ok(Tensor::record_builtin("sub", &[self, other], y, Save::NOTHING, |dy, _| {
            Ok(two(dy.clone(), dy.neg()))
        }))
    }

    /// `self · other` elementwise, broadcasting. Gradient: `dy·b`, `dy·a`.
    pub fn mul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let y = self.zip_with(other, "mul", |a, b| a * b)?;
        Ok(Tensor::record_builtin("mul", &[self, other], y, Save::INPUTS, |dy, s| {
            let da = if s.needs_grad(0) { Some(dy.mul(s.input(1)?)?) } else { None };
            let db = if s.needs_grad(1) { Some(dy.mul(s.input(0)?)?) } else { None };
            Ok(smallvec::smallvec![da, db])
        }))
    }

    /// `self / other` elementwise, broadcasting. Gradient: `dy/b`, `−dy·y/b`.
    pub fn div(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let y = self.zip_with(other, "div", |a, b| a / b)?;
        Ok(Tensor::record_builtin("div", &[self, other], y, Save::input(1).and_output(), |dy, s| {
            let (reciprocal, y) = (s.input(1)?.powi(-1), s.output()?);
            Ok(two(zero_safe_mul(dy, &reciprocal)?, zero_safe_mul(dy, &y.mul(&reciprocal)?)?.neg()))
        }))
    }

    /// `self ^ other` elementwise, broadcasting. Gradient: `dy·b·a^(b−1)` and
    /// `dy·y·ln a`, where `ln a` is taken as 0 at `a = 0` (as PyTorch) so `0^b` with a
    /// constant exponent does not give NaN.
    pub fn pow(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let y = self.zip_with(other, "pow", |a, b| a.powf(b))?;
        Ok(Tensor::record_builtin("pow", &[self, other], y, Save::ALL, |dy, s| {
            let (a, b, y) = (s.input(0)?, s.input(1)?, s.output()?);
            let da = zero_safe_mul(dy, &b.mul(&a.pow(&b.add_scalar(T::from_f64(-1.0)))?)?)?;
            let is_zero = a.eq_scalar(T::zero());
            let safe_ln = Tensor::where_cond(&is_zero, &Tensor::scalar(T::zero()), &a.ln())?;
            let db = zero_safe_mul(dy, &y.mul(&safe_ln)?)?;
            Ok(two(da, db))
        }))
    }

    /// Elementwise maximum, broadcasting. Ties split the gradient evenly between the
    /// two inputs (as `torch.maximum`).
    pub fn maximum(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.pick("maximum", other, |a, b| a > b)
    }

    /// Elementwise minimum, broadcasting. Ties split the gradient evenly.
    pub fn minimum(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.pick("minimum", other, |a, b| a < b)
    }

    /// The elementwise winner under `wins` (maximum or minimum). The winner gets `dy`;
    /// on a tie each input gets half. A NaN in `self` propagates.
    fn pick(&self, op: &'static str, other: &Tensor<T>, wins: fn(T, T) -> bool) -> Result<Tensor<T>> {
        let y =
            self.zip_with(other, op, move |a, b| if wins(a, b) || a == b || a.is_nan() { a } else { b })?;
        Ok(Tensor::record_builtin(op, &[self, other], y, Save::INPUTS, move |dy, s| {
            let half = T::from_f64(0.5);
            let share_a = s.input(0)?.zip_with(s.input(1)?, op, move |a, b| {
                if wins(a, b) {
                    T::one()
                } else if a == b {
                    half
                } else {
                    T::zero()
                }
            })?;
            let share_b = share_a.map(|s| T::one() - s);
            Ok(two(dy.mul(&share_a)?, dy.mul(&share_b)?))
        }))
    }

    /// `self + c`. Gradient: `dy`.
    pub fn add_scalar(&self, c: T) -> Tensor<T> {
        let y = self.map(move |a| a + c);
        self.record_unary("add_scalar", y, Save::NOTHING, |dy, _| Ok(dy.clone()))
    }

    /// `self · c`. Gradient: `dy·c`.
    pub fn mul_scalar(&self, c: T) -> Tensor<T> {
        let y = self.map(move |a| a * c);
        Tensor::record_builtin("mul_scalar", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.mul_scalar(c)))
        })
    }

    /// `self / c` (as `self · (1/c)`).
    pub fn div_scalar(&self, c: T) -> Tensor<T> {
        self.mul_scalar(T::one() / c)
    }

    /// `c − self`.
    pub fn rsub_scalar(&self, c: T) -> Tensor<T> {
        self.neg().add_scalar(c)
    }

    /// `self²`, as `self · self` (one multiply per element, where `powi(2)` would call
    /// the math library). Gradient: `2·self·dy`, from the two uses of `self`.
    pub fn square(&self) -> Tensor<T> {
        match self.mul(self) {
            Ok(t) => t,
            Err(e) => unreachable!("tensor invariant: a shape always broadcasts with itself: {e}"),
        }
    }
}
