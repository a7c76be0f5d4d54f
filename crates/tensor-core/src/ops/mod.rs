//! Every differentiable op, grouped by family. Each op is one function that computes
//! its value and records its gradient rule right beside it, the rule written with the
//! same differentiable ops (so gradients of gradients work). Adding an op touches one
//! file here and one row in `tests/gradcheck_ops.rs`.

mod attention;
mod binary;
mod cast;
mod compare;
mod conv;
mod embedding;
mod index;
mod linalg;
mod movement;
mod norm;
mod pool;
mod reduce;
mod rnn;
mod sample;
mod softmax;
mod split;
mod unary;

pub use attention::AttentionMask;

/// Every op the library records, each name declared beside its op (the `OPS` list at
/// the top of its file). Recording a built-in op whose name is missing here fails in
/// debug builds, and the gradcheck table's tidy test fails for a listed op without a
/// row: adding an op touches its file and its row, nothing else.
pub fn builtin_ops() -> impl Iterator<Item = &'static str> {
    [
        binary::OPS,
        cast::OPS,
        compare::OPS,
        conv::OPS,
        index::OPS,
        attention::OPS,
        linalg::OPS,
        movement::OPS,
        reduce::OPS,
        rnn::OPS,
        softmax::OPS,
        split::OPS,
        norm::OPS,
        pool::OPS,
        unary::OPS,
        crate::functional::OPS,
        crate::func::OPS,
    ]
    .into_iter()
    .flatten()
    .copied()
}
pub use conv::ConvOptions;
pub use index::Indices;
pub use norm::RunningStats;

use crate::element::Element;
use crate::error::Result;
use crate::graph::{BackwardOptions, GradVec, Saved, enable_grad};
use crate::tensor::Tensor;

/// The rule of a fused op under `create_graph`: the op written with ops
/// (`composed`, given one tensor per input), recomputed from the saved inputs and
/// differentiated with a recorded backward seeded by `dy`, as `func::checkpoint`
/// does. The fused kernels' backward is not itself recorded; this one is, so
/// gradients of gradients go through the composition. Every input must be saved.
pub(crate) fn recompute_rule<T: Element>(
    dy: &Tensor<T>,
    s: &Saved<'_, T>,
    composed: impl FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
) -> Result<GradVec<T>> {
    // A fresh identity node per input, so an input passed twice (h0 and c0 the same
    // tensor) gets each position's gradient, not their sum at both.
    let mut vars = Vec::with_capacity(s.len());
    let mut given = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        let x = s.input(i)?;
        let var = if s.needs_grad(i) && x.is_recorded() { Some(x.unsqueeze(0)?.squeeze(0)?) } else { None };
        given.push(var.clone().unwrap_or_else(|| x.clone()));
        vars.push(var);
    }
    let y = enable_grad(|| composed(&given))?;
    let targets: Vec<Tensor<T>> = vars.iter().flatten().cloned().collect();
    if targets.is_empty() || !y.is_recorded() {
        return Ok((0..s.len()).map(|_| None).collect());
    }
    let g = y.backward_with(BackwardOptions {
        seed: Some(dy.clone()),
        inputs: targets,
        create_graph: true,
        ..Default::default()
    })?;
    Ok(vars.iter().map(|v| v.as_ref().map(|v| g.get_or_zeros(v))).collect())
}

/// The rule's return value for a one-input op.
pub(crate) fn one<T: Element>(g: Tensor<T>) -> GradVec<T> {
    smallvec::smallvec![Some(g)]
}

/// The rule's return value for a two-input op.
pub(crate) fn two<T: Element>(a: Tensor<T>, b: Tensor<T>) -> GradVec<T> {
    smallvec::smallvec![Some(a), Some(b)]
}

/// `dy · local`, except that where `dy` is exactly 0 the result is 0 even if the
/// local derivative is infinite or NaN. A branch masked out by `where_cond` receives
/// a zero gradient, and this keeps e.g. `sqrt`'s infinite slope at 0 (or its NaN at
/// a negative input) from turning that zero into NaN. (PyTorch gives NaN there.)
pub(crate) fn zero_safe_mul<T: Element>(
    dy: &Tensor<T>,
    local: &Tensor<T>,
) -> crate::error::Result<Tensor<T>> {
    let product = dy.mul(local)?;
    if product.as_slice().iter().all(|v| v.is_finite()) {
        return Ok(product);
    }
    let flows = dy.map(|g| if g != T::zero() { T::one() } else { T::zero() });
    Tensor::where_cond(&flows, &product, &Tensor::scalar(T::zero()))
}
