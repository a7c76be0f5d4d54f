//! The [`Module`] trait: a forward function plus named parameters and sub-modules, so a model
//! of any shape lists its parameters with nested names (`layers.0.weight`) and switches
//! between training and evaluation mode in one call.
//!
//! # Writing your own module
//! Implement [`Module::forward`], and list what the module holds: its own parameters in
//! [`Module::own_parameters`] and its sub-modules in [`Module::children`]. Everything else —
//! [`parameters`](Module::parameters) with prefixed names, [`train`](Module::train) /
//! [`eval`](Module::eval) reaching every dropout layer inside — comes from those two lists.
//!
//! ```
//! use nn::{Init, Linear, Module, Result};
//! use rand::{SeedableRng, rngs::StdRng};
//! use tensor_core::{Parameter, Tensor};
//!
//! /// `y = x + α·tanh(x·W + b)`: a residual block with a learnt scale α.
//! struct Residual {
//!     inner: Linear<f64>,
//!     alpha: Parameter<f64>,
//! }
//!
//! impl Module<f64> for Residual {
//!     fn forward(&self, x: &Tensor<f64>) -> Result<Tensor<f64>> {
//!         let branch = self.inner.forward(x)?.tanh().mul(&self.alpha.tensor())?;
//!         Ok(x.add(&branch)?)
//!     }
//!     fn own_parameters(&self) -> Vec<(String, Parameter<f64>)> {
//!         vec![("alpha".into(), self.alpha.clone())]
//!     }
//!     fn children(&self) -> Vec<(String, &dyn Module<f64>)> {
//!         vec![("inner".into(), &self.inner)]
//!     }
//! }
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let block = Residual {
//!     inner: Linear::new(3, 3, Init::xavier_uniform(), &mut rng)?,
//!     alpha: Parameter::new("alpha", &Tensor::scalar(0.5)),
//! };
//! let names: Vec<String> = block.parameters().into_iter().map(|(name, _)| name).collect();
//! assert_eq!(names, ["alpha", "inner.weight", "inner.bias"]);
//!
//! // Train it: the gradient of every parameter, by its handle.
//! let x = Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.5, 0.0, -1.0], &[2, 3])?;
//! let loss = block.forward(&x)?.square().mean_all()?;
//! let grads = loss.backward()?;
//! for (_, p) in block.parameters() {
//!     assert_eq!(grads.get_param(&p).map(|g| g.shape().to_vec()), Some(p.shape().to_vec()));
//! }
//! # Ok::<(), nn::NnError>(())
//! ```
//!
//! Generic modules (`impl<T: Element> Module<T> for Residual<T>`) work the same way; every
//! built-in module is generic over `f32` and `f64`.
//!
//! # Modes
//! Modules start in training mode. `train(false)` / `eval()` take `&self`: like parameter
//! values, the mode is shared state behind the module (an atomic flag), which keeps a custom
//! module down to one list of children instead of a shared and a mutable one.

use crate::error::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use tensor_core::{Element, Parameter, Tensor};

/// A model or part of one: a forward function, named parameters and named sub-modules.
///
/// Implement [`forward`](Module::forward) and, when the module holds them,
/// [`own_parameters`](Module::own_parameters) and [`children`](Module::children); the
/// provided methods do the rest. See the [module docs](self) for a full custom module.
/// Modules are `Send + Sync`, so a trained model can serve predictions from other threads.
pub trait Module<T: Element>: Send + Sync {
    /// Computes the output for a batch `x` (rows = samples), recording on the tape when any
    /// parameter or input requires a gradient.
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>>;

    /// The parameters this module holds directly (not through a child), named relative to
    /// it (`"weight"`). Default: none.
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        Vec::new()
    }

    /// The sub-modules, each with the name that prefixes its parameters' names. Default: none.
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        Vec::new()
    }

    /// The buffers this module holds directly: state saved in weight files but not trained
    /// (batch norm's `running_mean`), named relative to the module. Default: none.
    fn own_buffers(&self) -> Vec<(String, Parameter<T>)> {
        Vec::new()
    }

    /// Every buffer, own first, then each child's with the child's name and a dot in front,
    /// as [`parameters`](Module::parameters). Optimizers never see these.
    fn buffers(&self) -> Vec<(String, Parameter<T>)> {
        let mut all = self.own_buffers();
        for (name, child) in self.children() {
            all.extend(prefixed(&name, child.buffers()));
        }
        all
    }

    /// The names (as in [`own_buffers`](Module::own_buffers)) of own buffers that hold a
    /// whole-number count, which weight files store as `I64` as PyTorch does (batch norm's
    /// `num_batches_tracked`). Default: none.
    fn own_count_buffers(&self) -> Vec<String> {
        Vec::new()
    }

    /// Every count buffer's full name, own first, then each child's with the child's name and a
    /// dot in front, as [`buffers`](Module::buffers).
    fn count_buffers(&self) -> Vec<String> {
        let mut all = self.own_count_buffers();
        for (name, child) in self.children() {
            let child_names = child.count_buffers().into_iter();
            if name.is_empty() {
                all.extend(child_names);
            } else {
                all.extend(child_names.map(|n| format!("{name}.{n}")));
            }
        }
        all
    }

    /// The flag of a module whose forward depends on the mode (dropout), or of a container
    /// that reports its own mode. Default: none (the module computes the same in both modes).
    fn training_flag(&self) -> Option<&TrainingFlag> {
        None
    }

    /// Every parameter, own first, then each child's with the child's name and a dot in
    /// front (`layers.0.weight`), in a stable order. A parameter shared by two children
    /// appears under both names.
    fn parameters(&self) -> Vec<(String, Parameter<T>)> {
        let mut all = self.own_parameters();
        for (name, child) in self.children() {
            all.extend(prefixed(&name, child.parameters()));
        }
        all
    }

    /// The parameter called `name` (a full nested name), if any.
    fn parameter(&self, name: &str) -> Option<Parameter<T>> {
        self.parameters().into_iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    /// Number of trainable scalars (elements of all parameters).
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|(_, p)| p.numel()).sum()
    }

    /// Puts this module and every descendant in training mode (`true`) or evaluation mode
    /// (`false`).
    fn train(&self, training: bool) {
        if let Some(flag) = self.training_flag() {
            flag.set(training);
        }
        for (_, child) in self.children() {
            child.train(training);
        }
    }

    /// Evaluation mode: `train(false)`. Dropout becomes the identity.
    fn eval(&self) {
        self.train(false);
    }

    /// Whether the module is in training mode: its own flag if it has one, else whether
    /// all its children are. A module without flag or children computes the same in both
    /// modes and reports `true`.
    fn is_training(&self) -> bool {
        match self.training_flag() {
            Some(flag) => flag.get(),
            None => self.children().iter().all(|(_, child)| child.is_training()),
        }
    }
}

/// A module's training/evaluation mode, settable through `&self`. Embed one in a module whose
/// forward depends on the mode and return it from [`Module::training_flag`]. Starts in
/// training mode.
#[derive(Debug)]
pub struct TrainingFlag(AtomicBool);

impl TrainingFlag {
    /// A flag in training mode.
    pub fn new() -> Self {
        TrainingFlag(AtomicBool::new(true))
    }

    /// Whether training mode is on.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Switches training mode on or off.
    pub fn set(&self, training: bool) {
        self.0.store(training, Ordering::Relaxed);
    }
}

impl Default for TrainingFlag {
    fn default() -> Self {
        Self::new()
    }
}

/// `params` with `prefix` and a dot in front of every name (no dot when `prefix` is empty):
/// what a container does with its children's parameters.
///
/// ```
/// use tensor_core::{Parameter, Tensor};
/// let p = Parameter::new("weight", &Tensor::<f64>::zeros(&[2, 2])?);
/// let named = nn::prefixed("encoder", vec![("weight".to_string(), p)]);
/// assert_eq!(named[0].0, "encoder.weight");
/// # Ok::<(), tensor_core::Error>(())
/// ```
pub fn prefixed<T: Element>(
    prefix: &str,
    params: Vec<(String, Parameter<T>)>,
) -> Vec<(String, Parameter<T>)> {
    if prefix.is_empty() {
        return params;
    }
    params.into_iter().map(|(name, p)| (format!("{prefix}.{name}"), p)).collect()
}

/// A boxed module is a module, so `Vec<Box<dyn Module<T>>>` and `Box<dyn Module<T>>` fields
/// work wherever a module does. Every method forwards, keeping the inner module's overrides.
impl<T: Element, M: Module<T> + ?Sized> Module<T> for Box<M> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        (**self).forward(x)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        (**self).own_parameters()
    }
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        (**self).children()
    }
    fn training_flag(&self) -> Option<&TrainingFlag> {
        (**self).training_flag()
    }
    fn own_buffers(&self) -> Vec<(String, Parameter<T>)> {
        (**self).own_buffers()
    }
    fn buffers(&self) -> Vec<(String, Parameter<T>)> {
        (**self).buffers()
    }
    fn own_count_buffers(&self) -> Vec<String> {
        (**self).own_count_buffers()
    }
    fn count_buffers(&self) -> Vec<String> {
        (**self).count_buffers()
    }
    fn parameters(&self) -> Vec<(String, Parameter<T>)> {
        (**self).parameters()
    }
    fn train(&self, training: bool) {
        (**self).train(training)
    }
    fn is_training(&self) -> bool {
        (**self).is_training()
    }
}

/// A parameter-free module from a function, for one-off steps inside a
/// [`Sequential`](crate::Sequential) (a reshape, a scaling). Made by [`from_fn`].
pub struct FnModule<F> {
    f: F,
}

/// Wraps a function of the input as a module without parameters.
///
/// ```
/// use nn::{Module, Sequential};
/// use tensor_core::Tensor;
/// let double = nn::from_fn(|x: &Tensor<f64>| Ok(x.mul_scalar(2.0)));
/// let model = Sequential::new().push(double);
/// assert_eq!(model.forward(&Tensor::scalar(1.5))?.item()?, 3.0);
/// # Ok::<(), nn::NnError>(())
/// ```
pub fn from_fn<T, F>(f: F) -> FnModule<F>
where
    T: Element,
    F: Fn(&Tensor<T>) -> Result<Tensor<T>> + Send + Sync,
{
    FnModule { f }
}

impl<T, F> Module<T> for FnModule<F>
where
    T: Element,
    F: Fn(&Tensor<T>) -> Result<Tensor<T>> + Send + Sync,
{
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        (self.f)(x)
    }
}
