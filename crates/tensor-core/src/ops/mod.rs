//! Every differentiable op, grouped by family. Each op is one function that computes
//! its value and records its gradient rule right beside it, the rule written with the
//! same differentiable ops (so gradients of gradients work). Adding an op touches one
//! file here and one row in `tests/gradcheck_ops.rs`.

mod binary;
mod compare;
mod index;
mod linalg;
mod movement;
mod reduce;
mod softmax;
mod unary;

pub use index::Indices;

use crate::element::Element;
use crate::tape::GradVec;
use crate::tensor::Tensor;

/// The rule's return value for a one-input op.
pub(crate) fn one<T: Element>(g: Tensor<T>) -> GradVec<T> {
    smallvec::smallvec![Some(g)]
}

/// The rule's return value for a two-input op.
pub(crate) fn two<T: Element>(a: Tensor<T>, b: Tensor<T>) -> GradVec<T> {
    smallvec::smallvec![Some(a), Some(b)]
}
