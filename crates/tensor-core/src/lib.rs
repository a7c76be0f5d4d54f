//! # tensor-core: n-d tensors and reverse-mode autodiff on graphs they own
//!
//! Tensors of `f32` or `f64` ([`Tensor`]) with NumPy broadcasting, matmul on a fast
//! GEMM kernel, reductions, movement and indexing ops, and stable softmax. Every op
//! on a tensor that requires a gradient records itself into a graph owned by its
//! result (dropped with it); [`Tensor::backward`] walks that graph from the output
//! and returns a [`Gradients`] store.
//!
//! Gradient rules are written with the same differentiable ops, so with
//! [`BackwardOptions::create_graph`] gradients can be differentiated again:
//!
//! ```
//! use tensor_core::{BackwardOptions, Tensor};
//! // f(x) = x³;  f'(x) = 3x² = 12 and f''(x) = 6x = 12 at x = 2.
//! let x = Tensor::<f64>::scalar(2.0).requires_grad();
//! let y = x.powi(3);
//! let g = y.backward_with(BackwardOptions { create_graph: true, ..Default::default() })?;
//! let dx = g.wrt(&x)?.clone();
//! assert_eq!(dx.item()?, 12.0);
//! let gg = dx.backward()?;
//! assert_eq!(gg.wrt(&x)?.item()?, 12.0);
//! # Ok::<(), tensor_core::Error>(())
//! ```
//!
//! Start with [`Tensor`], then [`graph`] for how recording works, [`gradcheck`] to
//! verify a gradient, [`functional`] for losses, and [`func`] for Jacobians, Hessians,
//! forward mode and checkpointing.

mod alloc;
pub mod element;
pub mod error;
pub mod func;
pub mod functional;
pub mod gradcheck;
pub mod graph;
pub mod inspect;
mod kernels;
mod ops;
mod parallel;
pub mod shape;
#[cfg(feature = "proptest")]
pub mod strategies;
mod tensor;
mod vmath;

pub use element::Element;
pub use error::{Error, Phase, Result};
pub use graph::{
    BackwardOptions, GradRule, GradVec, Gradients, NoGradGuard, Parameter, Save, Saved, VjpRule, enable_grad,
    is_anomaly_enabled, is_grad_enabled, live_nodes, no_grad, set_detect_anomaly,
};
pub use ops::{AttentionMask, ConvOptions, RunningStats};
pub use ops::{Indices, builtin_ops};
pub use shape::{Axes, Shape};
pub use tensor::Tensor;
