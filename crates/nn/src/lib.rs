//! Layers, activations, initialisers, losses, regularisation, closed-form least squares and weight files, built as graph expressions on `tensor-core` (issue: nn).
//!
//! The centre is the [`Module`] trait: a forward function with named parameters and
//! sub-modules, so a model of any shape lists its parameters with nested names
//! (`layers.0.weight`), hands them to an optimizer, switches to evaluation mode in one call, and
//! saves or loads them as safetensors ([`save_module`], [`load_module`]). Built on it:
//! [`Linear`] (`y = x·W + b`, `W` of shape inputs × outputs, samples as rows), [`Sequential`],
//! [`Mlp`], [`Dropout`], the [`Activation`]s, and the seeded initialisers of [`init`].
//! Losses ([`loss`]) and the L2 penalty ([`regularization`]) are graph expressions: add them,
//! call `backward`, read each parameter's gradient.
//!
//! ```
//! use nn::{Activation, MlpConfig, Module, loss};
//! use rand::{SeedableRng, rngs::StdRng};
//! use tensor_core::Tensor;
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let model = MlpConfig::new(&[2, 8, 2], Activation::Tanh).build::<f64>(&mut rng)?;
//! let x = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[3, 2])?;
//! let labels = [1, 1, 0];
//! for _ in 0..200 {
//!     let loss = loss::cross_entropy(&model.forward(&x)?, &labels, loss::Reduction::Mean)?;
//!     let grads = loss.backward()?;
//!     for (_, p) in model.parameters() {
//!         if let Some(g) = grads.get_param(&p) {
//!             let g = g.to_vec();
//!             p.update(|w| w.iter_mut().zip(&g).for_each(|(w, g)| *w -= 0.5 * g));
//!         }
//!     }
//! }
//! let loss = loss::cross_entropy(&model.forward(&x)?, &labels, loss::Reduction::Mean)?.item()?;
//! assert!(loss < 0.05, "loss {loss}");
//! # Ok::<(), nn::NnError>(())
//! ```

// These modules are documented by their own `//!` pages (an outer `///` here would
// make rustdoc resolve their intra-doc links from the crate root).
pub mod closed_form;
pub mod poly;
pub mod weights_file;

pub mod activation;
pub mod attention;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod error;
pub mod init;
pub mod linear;
pub mod loss;
pub mod module;
pub mod module_io;
pub mod norm;
pub mod pool;
pub mod regularization;
pub mod rnn;
pub mod sequential;

/// The `rand` crate nn's constructors take generators from (`&mut impl rand::Rng`), re-exported so
/// that callers use the same version without depending on it themselves.
pub use rand;

// The derive's generated code names `::nn::…`; this makes that path work inside nn too.
extern crate self as nn;

/// tensor-core, for the code `#[derive(Module)]` generates (not a public API).
#[doc(hidden)]
pub use tensor_core as __tensor_core;

/// `#[derive(Module)]`: generates the [`Module`] impl of a struct from its fields (see the
/// `nn-derive` crate docs for what each field type becomes).
pub use nn_derive::Module;

pub use activation::Activation;
pub use attention::{MultiHeadAttention, TransformerBlock};
pub use conv::{Conv1d, Conv2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use error::{NnError, Result};
pub use init::{FanMode, Init};
pub use linear::Linear;
pub use loss::Reduction;
pub use module::{FnModule, Module, TrainingFlag, from_fn, prefixed};
pub use module_io::{load_module, save_module};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm};
pub use pool::{AvgPool2d, Flatten, MaxPool2d};
pub use regularization::{EarlyStop, EarlyStopping, StopMode, l2_penalty};
pub use rnn::{Gru, Lstm};
pub use sequential::{Mlp, MlpConfig, Sequential};
