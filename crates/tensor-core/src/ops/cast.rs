//! `cast`: a tensor's values in the other element type (f32 ↔ f64), recorded across
//! the two graphs. The node lives in the output's graph with one cross edge into the
//! input's; its VJP is the cast back, itself recorded, so a gradient that crosses a
//! cast is differentiable again (mixed-precision Hessian-vector products work).

use crate::element::Element;
use crate::error::Result;
use crate::tensor::Tensor;
use std::any::Any;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["cast"];

impl<T: Element> Tensor<T> {
    /// This tensor's values as element type `U` (candle's `to_dtype`, PyTorch's
    /// `.to(dtype)`), differentiable: the gradient flows back through the cast back.
    /// f64 → f32 rounds to nearest (values beyond f32's range become ±∞, as in
    /// PyTorch); f32 → f64 is exact. Casting to the same type returns the tensor
    /// itself, graph and all.
    ///
    /// A graph may cross between the types any number of times and stays one graph:
    /// an f64 loss over an f32 model backwards once, and [`Gradients`](crate::Gradients)
    /// holds both types' gradients.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// let w = Tensor::<f32>::from_vec(vec![1.5, -2.0], &[2])?.requires_grad();
    /// // An f32 model, a loss accumulated in f64.
    /// let loss = w.mul(&w)?.cast::<f64>().sum_all();
    /// let grads = loss.backward()?;
    /// assert_eq!(grads.wrt(&w)?.to_vec(), vec![3.0f32, -4.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        if let Some(same) = (self as &dyn Any).downcast_ref::<Tensor<U>>() {
            return same.clone();
        }
        let other: Box<dyn Any> = Box::new(self.cast_to_other());
        match other.downcast::<Tensor<U>>() {
            Ok(t) => *t,
            // Element is sealed to f32 and f64: a U that is not T is T::Other.
            Err(_) => unreachable!("Element has exactly two types"),
        }
    }

    /// The cast to the other element type, recorded.
    fn cast_to_other(&self) -> Tensor<T::Other> {
        let values: Vec<T::Other> = self.as_slice().iter().map(|&v| T::Other::from_f64(v.as_f64())).collect();
        let y = Tensor::from_parts(values, self.shape.clone());
        Tensor::record_cast("cast", self, y, cast_back::<T::Other>)
    }
}

/// The cast's VJP: `dy` cast back to the input's type.
fn cast_back<T: Element>(dy: &Tensor<T>) -> Result<Tensor<T::Other>> {
    Ok(dy.cast_to_other())
}
