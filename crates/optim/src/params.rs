//! The bridge from tensor-core's parameters and gradient store to the slice-based
//! optimizers: one call steps a whole model. The optimizer reads gradients and writes
//! parameter values; it never touches the tape.

use crate::error::Result;
use crate::optimizer::Optimizer;
use tensor_core::{Element, Gradients, Parameter, Tensor};

/// Stepping an [`Optimizer`] over tensor-core [`Parameter`]s.
///
/// ```
/// use optim::{Sgd, SgdConfig, StepParams};
/// use tensor_core::{Parameter, Tensor};
/// let w = Parameter::new("w", &Tensor::<f64>::full(&[2], 3.0)?);
/// let mut sgd = Sgd::new(SgdConfig::new(0.1))?;
/// let grads = w.tensor().square().sum_all().backward()?; // d/dw Σw² = 2w = 6
/// sgd.step_params(&[w.clone()], &grads)?;
/// assert_eq!(w.value().to_vec(), vec![3.0 - 0.1 * 6.0; 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait StepParams<T: Element> {
    /// One update of `params` (in a fixed order: the `i`-th parameter keeps the `i`-th
    /// state) from their gradients in `grads`. A parameter with no gradient (the loss
    /// did not depend on it) is skipped and its state left untouched.
    fn step_params(&mut self, params: &[Parameter<T>], grads: &Gradients<T>) -> Result<()>;

    /// Like [`step_params`](Self::step_params) with gradients given directly, one per
    /// parameter (`None` skips it) — e.g. after [`clip_gradients_by_norm`].
    fn step_with_grads(&mut self, params: &[Parameter<T>], grads: &[Option<Tensor<T>>]) -> Result<()>;
}

impl<T: Element, O: Optimizer<T> + ?Sized> StepParams<T> for O {
    fn step_params(&mut self, params: &[Parameter<T>], grads: &Gradients<T>) -> Result<()> {
        let slices: Vec<Option<&[T]>> =
            params.iter().map(|p| grads.get_param(p).map(|g| g.as_slice())).collect();
        Parameter::update_all(params, |values| self.step_slices(values, &slices))?
    }

    fn step_with_grads(&mut self, params: &[Parameter<T>], grads: &[Option<Tensor<T>>]) -> Result<()> {
        let slices: Vec<Option<&[T]>> = grads.iter().map(|g| g.as_ref().map(|g| g.as_slice())).collect();
        Parameter::update_all(params, |values| self.step_slices(values, &slices))?
    }
}

/// The parameters' gradients, rescaled so their global L2 norm is at most
/// `max_norm` (as `torch.nn.utils.clip_grad_norm_`). Returns the gradients (one per
/// parameter, `None` where it has none) and the norm before clipping.
pub fn clip_gradients_by_norm<T: Element>(
    params: &[Parameter<T>],
    grads: &Gradients<T>,
    max_norm: f64,
) -> Result<(Vec<Option<Tensor<T>>>, f64)> {
    let present: Vec<Option<&Tensor<T>>> = params.iter().map(|p| grads.get_param(p)).collect();
    let mut buffers: Vec<Vec<T>> = present.iter().flatten().map(|g| g.to_vec()).collect();
    let norm = crate::clip::clip_grad_norm(&mut buffers, max_norm)?;
    let mut clipped = buffers.into_iter();
    let out = present
        .iter()
        .map(|g| {
            g.map(|g| {
                let data = clipped.next().unwrap_or_default();
                Tensor::from_vec(data, g.shape())
            })
            .transpose()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((out, norm))
}
