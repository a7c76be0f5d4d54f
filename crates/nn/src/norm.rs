//! Normalisation layers: [`BatchNorm1d`] / [`BatchNorm2d`] (batch statistics in training mode,
//! running statistics in evaluation mode) and [`LayerNorm`]. Parameter and buffer names are
//! PyTorch's (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`), so a
//! PyTorch state dict loads unchanged. `num_batches_tracked` is held as a float scalar of the
//! layer's element type but saved in weight files as `I64`, PyTorch's dtype for it (see
//! [`Module::own_count_buffers`]); files that stored it as a float still load.

use crate::error::{Result, invalid};
use crate::module::{Module, TrainingFlag};
use tensor_core::{Element, Parameter, RunningStats, Tensor};

/// Batch normalisation over channel axis 1 (PyTorch's `BatchNormNd`). `D` is the number of
/// spatial axes the layer is for: use the aliases [`BatchNorm1d`] ((N, C) or (N, C, L)) and
/// [`BatchNorm2d`] ((N, C, H, W)).
///
/// Training mode normalises with the batch mean and biased variance and updates the running
/// statistics (`r ← (1 − m)·r + m·stat`, unbiased variance; with `momentum = None`, the
/// cumulative average `m = 1/num_batches_tracked`); evaluation mode uses the running ones.
///
/// ```
/// use nn::{BatchNorm1d, Module};
/// use tensor_core::Tensor;
/// let bn = BatchNorm1d::<f64>::new(1)?;
/// let y = bn.forward(&Tensor::from_vec(vec![1.0, 3.0], &[2, 1])?)?;
/// assert!((y.to_vec()[1] - 1.0).abs() < 1e-4);
/// assert!((bn.running_mean().value().to_vec()[0] - 0.2).abs() < 1e-12);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct BatchNorm<T: Element, const D: usize> {
    weight: Option<Parameter<T>>,
    bias: Option<Parameter<T>>,
    running_mean: Parameter<T>,
    running_var: Parameter<T>,
    num_batches_tracked: Parameter<T>,
    momentum: Option<f64>,
    eps: f64,
    channels: usize,
    training: TrainingFlag,
}

/// Batch normalisation of (N, C) or (N, C, L) inputs.
pub type BatchNorm1d<T> = BatchNorm<T, 1>;
/// Batch normalisation of (N, C, H, W) inputs.
pub type BatchNorm2d<T> = BatchNorm<T, 2>;

impl<T: Element, const D: usize> BatchNorm<T, D> {
    /// PyTorch's defaults: affine (γ = 1, β = 0), momentum 0.1, ε = 1e-5.
    pub fn new(channels: usize) -> Result<Self> {
        Self::with_options(channels, Some(0.1), 1e-5, true)
    }

    /// Every setting: `momentum` in [0, 1] (`None`: cumulative average), `eps` ≥ 0, and
    /// whether the layer has a learnt γ and β.
    pub fn with_options(channels: usize, momentum: Option<f64>, eps: f64, affine: bool) -> Result<Self> {
        let op = if D == 1 { "BatchNorm1d::new" } else { "BatchNorm2d::new" };
        if channels == 0 {
            return Err(invalid(op, "the layer needs at least one channel"));
        }
        if let Some(m) = momentum
            && !(0.0..=1.0).contains(&m)
        {
            return Err(invalid(op, format!("momentum {m} must be in [0, 1]")));
        }
        if eps.is_nan() || eps < 0.0 {
            return Err(invalid(op, format!("eps {eps} must be at least 0")));
        }
        let stats = RunningStats::<T>::new(channels);
        let (weight, bias) = if affine {
            (
                Some(Parameter::new("weight", &Tensor::ones(&[channels])?)),
                Some(Parameter::new("bias", &Tensor::zeros(&[channels])?)),
            )
        } else {
            (None, None)
        };
        Ok(BatchNorm {
            weight,
            bias,
            running_mean: Parameter::new("running_mean", &stats.mean),
            running_var: Parameter::new("running_var", &stats.var),
            num_batches_tracked: Parameter::new("num_batches_tracked", &Tensor::scalar(T::zero())),
            momentum,
            eps,
            channels,
            training: TrainingFlag::new(),
        })
    }

    /// The running mean per channel (a buffer).
    pub fn running_mean(&self) -> &Parameter<T> {
        &self.running_mean
    }

    /// The running unbiased variance per channel (a buffer).
    pub fn running_var(&self) -> &Parameter<T> {
        &self.running_var
    }

    /// How many training batches have updated the statistics (a buffer).
    pub fn num_batches_tracked(&self) -> &Parameter<T> {
        &self.num_batches_tracked
    }

    fn check(&self, x: &Tensor<T>) -> Result<()> {
        let ranks: &[usize] = if D == 1 { &[2, 3] } else { &[D + 2] };
        if !ranks.contains(&x.ndim()) || x.shape()[1] != self.channels {
            let op = if D == 1 { "BatchNorm1d" } else { "BatchNorm2d" };
            return Err(invalid(
                op,
                format!(
                    "expected an input of rank {ranks:?} with {} channels on axis 1, got shape {:?}",
                    self.channels,
                    x.shape()
                ),
            ));
        }
        Ok(())
    }
}

impl<T: Element, const D: usize> Module<T> for BatchNorm<T, D> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.check(x)?;
        let gamma = self.weight.as_ref().map(Parameter::tensor);
        let beta = self.bias.as_ref().map(Parameter::tensor);
        let running = RunningStats { mean: self.running_mean.value(), var: self.running_var.value() };
        let eps = T::from_f64(self.eps);
        if !self.training.get() {
            return Ok(x.batch_norm_eval(gamma.as_ref(), beta.as_ref(), &running, eps)?);
        }
        let tracked = self.num_batches_tracked.value().item()?.as_f64() + 1.0;
        let momentum = self.momentum.unwrap_or(1.0 / tracked);
        let (y, stats) =
            x.batch_norm_train(gamma.as_ref(), beta.as_ref(), &running, T::from_f64(momentum), eps)?;
        self.running_mean.set(&stats.mean)?;
        self.running_var.set(&stats.var)?;
        self.num_batches_tracked.set(&Tensor::scalar(T::from_f64(tracked)))?;
        Ok(y)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        let mut params = Vec::new();
        if let Some(w) = &self.weight {
            params.push(("weight".to_string(), w.clone()));
        }
        if let Some(b) = &self.bias {
            params.push(("bias".to_string(), b.clone()));
        }
        params
    }
    fn own_buffers(&self) -> Vec<(String, Parameter<T>)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
            ("num_batches_tracked".to_string(), self.num_batches_tracked.clone()),
        ]
    }
    fn own_count_buffers(&self) -> Vec<String> {
        vec!["num_batches_tracked".to_string()]
    }
    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// Layer normalisation over the trailing `normalized_shape` axes (PyTorch's `nn.LayerNorm`):
/// biased variance, ε inside the root, learnt `weight` (γ, ones) and `bias` (β, zeros).
///
/// ```
/// use nn::{LayerNorm, Module};
/// use tensor_core::Tensor;
/// let ln = LayerNorm::<f64>::new(&[2])?;
/// let y = ln.forward(&Tensor::from_vec(vec![1.0, 3.0], &[1, 2])?)?;
/// assert!((y.to_vec()[0] + 1.0).abs() < 1e-4);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct LayerNorm<T: Element> {
    weight: Option<Parameter<T>>,
    bias: Option<Parameter<T>>,
    normalized_shape: Vec<usize>,
    eps: f64,
}

impl<T: Element> LayerNorm<T> {
    /// ε = 1e-5, affine.
    pub fn new(normalized_shape: &[usize]) -> Result<Self> {
        Self::with_options(normalized_shape, 1e-5, true)
    }

    /// Every setting. Errors on an empty shape or a negative ε.
    pub fn with_options(normalized_shape: &[usize], eps: f64, affine: bool) -> Result<Self> {
        if normalized_shape.is_empty() || normalized_shape.contains(&0) {
            return Err(invalid("LayerNorm::new", format!("normalized shape {normalized_shape:?} is empty")));
        }
        if eps.is_nan() || eps < 0.0 {
            return Err(invalid("LayerNorm::new", format!("eps {eps} must be at least 0")));
        }
        let (weight, bias) = if affine {
            (
                Some(Parameter::new("weight", &Tensor::ones(normalized_shape)?)),
                Some(Parameter::new("bias", &Tensor::zeros(normalized_shape)?)),
            )
        } else {
            (None, None)
        };
        Ok(LayerNorm { weight, bias, normalized_shape: normalized_shape.to_vec(), eps })
    }
}

impl<T: Element> Module<T> for LayerNorm<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        let gamma = self.weight.as_ref().map(Parameter::tensor);
        let beta = self.bias.as_ref().map(Parameter::tensor);
        Ok(x.layer_norm(&self.normalized_shape, gamma.as_ref(), beta.as_ref(), T::from_f64(self.eps))?)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        let mut params = Vec::new();
        if let Some(w) = &self.weight {
            params.push(("weight".to_string(), w.clone()));
        }
        if let Some(b) = &self.bias {
            params.push(("bias".to_string(), b.clone()));
        }
        params
    }
}
