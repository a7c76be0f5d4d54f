//! Adagrad (Duchi, Hazan & Singer 2011) in PyTorch's form: each weight's
//! step is divided by the root of the sum of all its squared gradients.

use num_traits::Float;
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};
use crate::optimizer::{Optimizer, check_non_negative, slot_optimizer, with_fma};
use crate::state::{BufferSpec, HyperParams, OptimizerKind, OptimizerState, Slots, cast};

const NAME: &str = "Adagrad";

/// Adagrad's hyper-parameters, with PyTorch's defaults (`lr = 1e-2`,
/// `lr_decay = 0`, `weight_decay = 0`, `initial_accumulator_value = 0`,
/// `eps = 1e-10`).
///
/// The update for a parameter `θ` with gradient `g`, step `t` from 1
/// (PyTorch's `torch.optim.Adagrad`; `s` starts at `initial_accumulator_value`):
/// ```text
/// lr_t = lr / (1 + (t − 1)·lr_decay)
/// g ← g + weight_decay·θ
/// s ← s + g²
/// θ ← θ − lr_t·g/(√s + ε)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdagradConfig {
    /// Learning rate η ≥ 0.
    pub lr: f64,
    /// Learning-rate decay ≥ 0: step `t` uses `lr / (1 + (t − 1)·lr_decay)`.
    pub lr_decay: f64,
    /// L2 weight decay λ ≥ 0, added to the gradient as `λ·θ`.
    pub weight_decay: f64,
    /// Starting value ≥ 0 of the sum of squared gradients.
    pub initial_accumulator_value: f64,
    /// ε ≥ 0 added to the root; with ε = 0 and a zero starting sum, a zero gradient gives NaN.
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

impl AdagradConfig {
    /// PyTorch's defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdagradConfig { lr, ..AdagradConfig::default() }
    }

    /// Sets the learning-rate decay.
    pub fn lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }

    /// Sets the L2 weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the starting value of the sum of squared gradients.
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }

    /// Sets ε.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperParameter`] for a NaN, infinite or negative
    /// `lr`, `lr_decay`, `weight_decay`, `initial_accumulator_value` or `eps`.
    pub fn validate(&self) -> Result<()> {
        check_non_negative(NAME, "lr", self.lr)?;
        check_non_negative(NAME, "lr_decay", self.lr_decay)?;
        check_non_negative(NAME, "weight_decay", self.weight_decay)?;
        check_non_negative(NAME, "initial_accumulator_value", self.initial_accumulator_value)?;
        check_non_negative(NAME, "eps", self.eps)
    }

    fn buffers(&self) -> [BufferSpec; 1] {
        [BufferSpec { name: "sum", init: self.initial_accumulator_value }]
    }
}

/// Adagrad, PyTorch's `torch.optim.Adagrad`; see [`AdagradConfig`] for the update.
#[derive(Debug, Clone)]
pub struct Adagrad<T> {
    config: AdagradConfig,
    slots: Slots<T>,
}

impl<T: Float> Adagrad<T> {
    /// One update of every parameter; shape checks and lazy state live in `Slots::step`.
    fn update(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<()> {
        let c = self.config;
        let eps = cast::<T>(c.eps);
        let weight_decay = cast::<T>(c.weight_decay);
        self.slots.step(NAME, &c.buffers(), params, grads, |step, buffers, param, grad| {
            // Mirrors torch's `_single_tensor_adagrad` operation by operation,
            // fusing multiply-adds where its CPU kernels do (see the crate docs);
            // the decayed learning rate is a Python float there, f64 here.
            let clr = c.lr / (1.0 + (step - 1) as f64 * c.lr_decay);
            let neg_clr = cast::<T>(-clr);
            let sum = &mut buffers[0];
            with_fma(
                #[inline(always)]
                || match c.weight_decay != 0.0 {
                    true => rows(param, grad, sum, neg_clr, eps, |theta, g| theta.mul_add(weight_decay, g)),
                    false => rows(param, grad, sum, neg_clr, eps, |_, g| g),
                },
            );
        })
    }
}

/// One Adagrad update of a parameter and its running sum; `decayed(θ, g)` gives the
/// gradient after weight decay. Zipped, with the decay chosen by the caller, so the
/// loop vectorises (as Adam's: SIMD `sqrt`, division and FMA round as the scalar ones).
#[inline(always)]
fn rows<T: Float>(
    param: &mut [T],
    grad: &[T],
    sum: &mut [T],
    neg_clr: T,
    eps: T,
    decayed: impl Fn(T, T) -> T,
) {
    for ((theta, &g), s) in param.iter_mut().zip(grad).zip(sum.iter_mut()) {
        let d = decayed(*theta, g);
        *s = d.mul_add(d, *s);
        let std = s.sqrt() + eps;
        *theta = *theta + neg_clr * d / std;
    }
}

slot_optimizer!(Adagrad, AdagradConfig, Adagrad, NAME);
