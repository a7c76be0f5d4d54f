//! Regularisation (tutorial §10): an L2 penalty `λ‖θ‖²` over chosen parameters, added to the loss
//! as a graph expression, and early stopping on a validation metric that keeps and restores the
//! best weights. (Dropout is [`crate::Dropout`]; decoupled weight decay lives in the optimizers.)

use crate::error::{NnError, Result, invalid};
use crate::module::Module;
use tensor_core::{Element, Parameter, Tensor};

/// `λ·Σ‖θ‖²` over `params` (the sum of squares of every element), as a graph expression: add
/// it to the loss and backward gives each parameter the extra gradient `2λθ`. No parameters
/// give a constant 0.
///
/// Choose the parameters by name, e.g. weights only (decaying biases is usually pointless):
///
/// ```
/// use nn::{Activation, Mlp, Module};
/// use nn::regularization::l2_penalty;
/// use rand::{SeedableRng, rngs::StdRng};
/// let mlp = Mlp::<f64>::new(&[3, 4, 2], Activation::Tanh, &mut StdRng::seed_from_u64(0))?;
/// let params = mlp.parameters();
/// let weights = params.iter().filter(|(name, _)| name.ends_with("weight")).map(|(_, p)| p);
/// let penalty = l2_penalty(weights, 1e-3)?;
/// let expected: f64 = params.iter()
///     .filter(|(n, _)| n.ends_with("weight"))
///     .flat_map(|(_, p)| p.value().to_vec())
///     .map(|w| 1e-3 * w * w)
///     .sum();
/// assert!((penalty.item()? - expected).abs() < 1e-15);
/// # Ok::<(), nn::NnError>(())
/// ```
///
/// # Errors
/// [`NnError::InvalidArgument`] when `lambda` is negative or not finite.
pub fn l2_penalty<'a, T: Element>(
    params: impl IntoIterator<Item = &'a Parameter<T>>,
    lambda: f64,
) -> Result<Tensor<T>> {
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(invalid("l2_penalty", format!("lambda {lambda} must be finite and at least 0")));
    }
    let mut total: Option<Tensor<T>> = None;
    for p in params {
        let squares = p.tensor().square().sum_all();
        total = Some(match total {
            Some(t) => t.add(&squares)?,
            None => squares,
        });
    }
    Ok(match total {
        Some(t) => t.mul_scalar(T::from_f64(lambda)),
        None => Tensor::scalar(T::zero()),
    })
}

/// Whether a smaller or a larger validation metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// Smaller is better (a loss).
    #[default]
    Min,
    /// Larger is better (an accuracy).
    Max,
}

/// What [`EarlyStopping::step`] decided about the latest epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyStop {
    /// The metric improved by more than `min_delta`: the weights were saved as the best.
    Improved,
    /// No improvement for this many epochs in a row, fewer than the patience.
    Waiting(usize),
    /// No improvement for `patience` epochs in a row: stop, and restore the best weights.
    Stop,
}

/// Early stopping: stop when the validation metric has not improved by more than `min_delta`
/// for `patience` epochs in a row, keeping a copy of the parameters from the best epoch.
///
/// An epoch improves when `metric < best − min_delta` ([`StopMode::Min`]) or
/// `metric > best + min_delta` ([`StopMode::Max`]); the first epoch always does.
///
/// ```
/// use nn::regularization::{EarlyStop, EarlyStopping, StopMode};
/// use nn::{Init, Linear, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let model = Linear::<f64>::new(2, 1, Init::xavier_uniform(), &mut StdRng::seed_from_u64(0))?;
/// let mut stopper = EarlyStopping::new(2, 0.0, StopMode::Min)?;
/// assert_eq!(stopper.step(1.0, &model)?, EarlyStop::Improved); // best so far: saved
/// let best = model.weight().value();
/// model.weight().set(&Tensor::full(&[2, 1], 9.0)?)?; // training moves on...
/// assert_eq!(stopper.step(1.5, &model)?, EarlyStop::Waiting(1));
/// assert_eq!(stopper.step(1.2, &model)?, EarlyStop::Stop);
/// stopper.restore_best(&model)?; // ...and comes back to the best epoch's weights
/// assert!(model.weight().value().data_eq(&best));
/// assert_eq!(stopper.best_epoch(), Some(0));
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct EarlyStopping<T: Element> {
    patience: usize,
    min_delta: f64,
    mode: StopMode,
    epoch: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    bad_epochs: usize,
    snapshot: Vec<(String, Tensor<T>)>,
}

impl<T: Element> EarlyStopping<T> {
    /// Stops after `patience` epochs without an improvement larger than `min_delta`.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`] when `min_delta` is negative or not finite.
    pub fn new(patience: usize, min_delta: f64, mode: StopMode) -> Result<Self> {
        if !(min_delta.is_finite() && min_delta >= 0.0) {
            return Err(invalid(
                "EarlyStopping::new",
                format!("min_delta {min_delta} must be finite and at least 0"),
            ));
        }
        Ok(EarlyStopping {
            patience,
            min_delta,
            mode,
            epoch: 0,
            best: None,
            best_epoch: None,
            bad_epochs: 0,
            snapshot: Vec::new(),
        })
    }

    /// Records the validation `metric` of the epoch just finished; on an improvement copies
    /// `module`'s parameters as the best.
    ///
    /// # Errors
    /// [`NnError::NonFiniteMetric`] for a NaN or infinite metric (a diverged run should be
    /// noticed, not silently counted as "no improvement").
    pub fn step<M: Module<T> + ?Sized>(&mut self, metric: f64, module: &M) -> Result<EarlyStop> {
        let epoch = self.epoch;
        if !metric.is_finite() {
            return Err(NnError::NonFiniteMetric { epoch, value: metric });
        }
        self.epoch += 1;
        let improved = match (self.best, self.mode) {
            (None, _) => true,
            (Some(best), StopMode::Min) => metric < best - self.min_delta,
            (Some(best), StopMode::Max) => metric > best + self.min_delta,
        };
        if improved {
            self.best = Some(metric);
            self.best_epoch = Some(epoch);
            self.bad_epochs = 0;
            self.snapshot = module.parameters().into_iter().map(|(name, p)| (name, p.value())).collect();
            return Ok(EarlyStop::Improved);
        }
        self.bad_epochs += 1;
        Ok(if self.bad_epochs >= self.patience {
            EarlyStop::Stop
        } else {
            EarlyStop::Waiting(self.bad_epochs)
        })
    }

    /// Whether the patience has run out.
    pub fn should_stop(&self) -> bool {
        self.best.is_some() && self.bad_epochs >= self.patience
    }

    /// The best metric so far.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The epoch (0-based count of [`step`](Self::step) calls) of the best metric.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// Epochs in a row without improvement.
    pub fn epochs_without_improvement(&self) -> usize {
        self.bad_epochs
    }

    /// The saved parameter values of the best epoch, by name.
    pub fn best_parameters(&self) -> &[(String, Tensor<T>)] {
        &self.snapshot
    }

    /// Copies the best epoch's parameters back into `module`. Nothing is changed unless every
    /// name and shape matches.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`] before any metric was recorded, or when `module`'s
    /// parameters differ in names or shapes from the saved ones.
    pub fn restore_best<M: Module<T> + ?Sized>(&self, module: &M) -> Result<()> {
        const OP: &str = "EarlyStopping::restore_best";
        if self.best.is_none() {
            return Err(invalid(OP, "no metric has been recorded, so there are no best weights"));
        }
        let params = module.parameters();
        let names = |list: Vec<(&str, &[usize])>| {
            list.iter().map(|(n, s)| format!("{n} {s:?}")).collect::<Vec<_>>().join(", ")
        };
        let current: Vec<(&str, &[usize])> = params.iter().map(|(n, p)| (n.as_str(), p.shape())).collect();
        let saved: Vec<(&str, &[usize])> =
            self.snapshot.iter().map(|(n, t)| (n.as_str(), t.shape())).collect();
        if current != saved {
            return Err(invalid(
                OP,
                format!(
                    "the module's parameters [{}] differ from the saved ones [{}]",
                    names(current),
                    names(saved)
                ),
            ));
        }
        for ((_, p), (_, value)) in params.iter().zip(&self.snapshot) {
            p.set(value)?;
        }
        Ok(())
    }
}
