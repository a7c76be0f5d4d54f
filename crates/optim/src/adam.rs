//! Adam (tutorial §7.6) and AdamW, in PyTorch's form (Kingma & Ba, with bias
//! correction).
//!
//! The tutorial's eq. (13), `Δw = −η·v_t/√(S_t + ε)·g_t²`, is wrong: it multiplies
//! by the squared gradient a second time, puts ε inside the root and has no
//! bias correction, so the first steps are far too small. The correct update
//! (Kingma & Ba 2015, as `torch.optim.Adam`) is
//! `θ ← θ − η·m̂/(√v̂ + ε)` with `m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 − β₂ᵗ)`; its first
//! step moves every weight by about `η·sign(g)` whatever the gradient's size.

use num_traits::Float;
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};
use crate::optimizer::{Optimizer, check_non_negative, check_unit_open, lerp, slot_optimizer, with_fma};
use crate::state::{BufferSpec, HyperParams, OptimizerKind, OptimizerState, Slots, cast};

/// Adam's hyper-parameters, with PyTorch's defaults (`lr = 1e-3`,
/// `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`, no weight decay, no AMSGrad).
///
/// The update for a parameter `θ` with gradient `g`, step `t` from 1
/// (PyTorch's `torch.optim.Adam`; all buffers start at 0):
/// ```text
/// g ← g + weight_decay·θ                       (L2: the decay goes through the moments)
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// AMSGrad:  v_max ← max(v_max, v), used below in place of v
/// θ ← θ − lr·(m/(1 − β₁ᵗ)) / (√(v/(1 − β₂ᵗ)) + ε)
/// ```
/// This replaces the tutorial's eq. (13), which is wrong (see the module docs).
/// For decay that does not go through the moments, use [`AdamW`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate η ≥ 0.
    pub lr: f64,
    /// Decay β₁ of the first-moment average, in [0, 1).
    pub beta1: f64,
    /// Decay β₂ of the second-moment average, in [0, 1).
    pub beta2: f64,
    /// ε ≥ 0 added to the root of the second moment; with ε = 0 a zero gradient gives 0/0 = NaN.
    pub eps: f64,
    /// L2 weight decay λ ≥ 0, added to the gradient as `λ·θ`.
    pub weight_decay: f64,
    /// Use the running maximum of the second moment (AMSGrad).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, amsgrad: false }
    }
}

/// AdamW's hyper-parameters: Adam's, with PyTorch's AdamW defaults
/// (`lr = 1e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`,
/// `weight_decay = 1e-2`, no AMSGrad).
///
/// The update (PyTorch's `torch.optim.AdamW`, Loshchilov & Hutter): first the
/// decoupled decay `θ ← θ·(1 − lr·weight_decay)`, then Adam's step (see
/// [`AdamConfig`]) without the L2 term, so the decay is not rescaled by the
/// adaptive denominator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Learning rate η ≥ 0.
    pub lr: f64,
    /// Decay β₁ of the first-moment average, in [0, 1).
    pub beta1: f64,
    /// Decay β₂ of the second-moment average, in [0, 1).
    pub beta2: f64,
    /// ε ≥ 0 added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay λ ≥ 0: `θ ← θ·(1 − lr·λ)` each step.
    pub weight_decay: f64,
    /// Use the running maximum of the second moment (AMSGrad).
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { weight_decay: 1e-2, ..AdamWConfig::from(AdamConfig::default()) }
    }
}

impl From<AdamConfig> for AdamWConfig {
    /// The same numbers, with `weight_decay` read as decoupled decay.
    fn from(c: AdamConfig) -> Self {
        AdamWConfig {
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
        }
    }
}

/// Builder methods and validation, identical for both configurations.
macro_rules! adam_config_methods {
    ($config:ident, $name:literal) => {
        impl $config {
            /// PyTorch's defaults with learning rate `lr`.
            pub fn new(lr: f64) -> Self {
                $config { lr, ..$config::default() }
            }

            /// Sets β₁ and β₂.
            pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.beta1 = beta1;
                self.beta2 = beta2;
                self
            }

            /// Sets ε.
            pub fn eps(mut self, eps: f64) -> Self {
                self.eps = eps;
                self
            }

            /// Sets the weight decay λ.
            pub fn weight_decay(mut self, weight_decay: f64) -> Self {
                self.weight_decay = weight_decay;
                self
            }

            /// Turns AMSGrad on or off.
            pub fn amsgrad(mut self, amsgrad: bool) -> Self {
                self.amsgrad = amsgrad;
                self
            }

            /// Checks every hyper-parameter.
            ///
            /// # Errors
            /// [`OptimError::InvalidHyperParameter`] for a NaN, infinite or
            /// negative `lr`, `eps` or `weight_decay`, or a β outside [0, 1).
            pub fn validate(&self) -> Result<()> {
                check_non_negative($name, "lr", self.lr)?;
                check_unit_open($name, "beta1", self.beta1)?;
                check_unit_open($name, "beta2", self.beta2)?;
                check_non_negative($name, "eps", self.eps)?;
                check_non_negative($name, "weight_decay", self.weight_decay)
            }

            fn buffers(&self) -> &'static [BufferSpec] {
                self.core().buffers()
            }

            fn core(&self) -> AdamCore {
                AdamCore {
                    lr: self.lr,
                    beta1: self.beta1,
                    beta2: self.beta2,
                    eps: self.eps,
                    weight_decay: self.weight_decay,
                    amsgrad: self.amsgrad,
                }
            }
        }
    };
}

adam_config_methods!(AdamConfig, "Adam");
adam_config_methods!(AdamWConfig, "AdamW");

/// The numbers both Adam variants need; `decoupled` picks the decay form.
#[derive(Debug, Clone, Copy)]
struct AdamCore {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
}

impl AdamCore {
    fn buffers(&self) -> &'static [BufferSpec] {
        const EXP_AVG: BufferSpec = BufferSpec { name: "exp_avg", init: 0.0 };
        const EXP_AVG_SQ: BufferSpec = BufferSpec { name: "exp_avg_sq", init: 0.0 };
        const MAX_EXP_AVG_SQ: BufferSpec = BufferSpec { name: "max_exp_avg_sq", init: 0.0 };
        if self.amsgrad { &[EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ] } else { &[EXP_AVG, EXP_AVG_SQ] }
    }

    /// One Adam step on every parameter with a gradient; mirrors torch's
    /// `_single_tensor_adam` operation by operation, fusing multiply-adds where
    /// its CPU kernels do (see the crate docs).
    fn step<T: Float>(
        self,
        name: &'static str,
        decoupled: bool,
        slots: &mut Slots<T>,
        params: &mut [&mut [T]],
        grads: &[Option<&[T]>],
    ) -> Result<()> {
        let one_minus_beta1 = cast::<T>(1.0 - self.beta1);
        let beta2 = cast::<T>(self.beta2);
        let one_minus_beta2 = cast::<T>(1.0 - self.beta2);
        let eps = cast::<T>(self.eps);
        let weight_decay = cast::<T>(self.weight_decay);
        let decay_factor = cast::<T>(1.0 - self.lr * self.weight_decay);
        slots.step(name, self.buffers(), params, grads, |step, buffers, param, grad| {
            // Bias corrections in f64 with `powf`, as PyTorch computes them in
            // Python floats (`beta ** step`).
            let t = step as f64;
            let bias_correction1 = 1.0 - self.beta1.powf(t);
            let bias_correction2 = 1.0 - self.beta2.powf(t);
            let neg_step_size = cast::<T>(-(self.lr / bias_correction1));
            let bias_correction2_sqrt = cast::<T>(bias_correction2.sqrt());
            let (exp_avg, rest) = buffers.split_at_mut(1);
            let (exp_avg_sq, max_exp_avg_sq) = rest.split_at_mut(1);
            let (exp_avg, exp_avg_sq) = (&mut exp_avg[0], &mut exp_avg_sq[0]);
            let max_exp_avg_sq = max_exp_avg_sq.first_mut();
            let step = AdamStep {
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                eps,
                neg_step_size,
                bias_correction2_sqrt,
            };
            let buffers = (&mut **exp_avg, &mut **exp_avg_sq, max_exp_avg_sq.map(|b| &mut **b));
            with_fma(
                #[inline(always)]
                || match (self.weight_decay != 0.0, decoupled) {
                    (false, _) => step.rows(param, grad, buffers, |_, g| g),
                    (true, true) => step.rows(param, grad, buffers, |theta, g| {
                        *theta = *theta * decay_factor;
                        g
                    }),
                    (true, false) => {
                        step.rows(param, grad, buffers, |theta, g| theta.mul_add(weight_decay, g))
                    }
                },
            );
        })
    }
}

/// One Adam step's coefficients, for the update loop.
#[derive(Clone, Copy)]
struct AdamStep<T> {
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    eps: T,
    neg_step_size: T,
    bias_correction2_sqrt: T,
}

impl<T: Float> AdamStep<T> {
    /// Updates one parameter and its moments (and running maximum, for AMSGrad);
    /// `decayed(θ, g)` applies the weight decay and gives the gradient to use.
    ///
    /// Zipped iterators and one loop per form (decay, AMSGrad or not), so the loop
    /// vectorises: indexing the buffers kept it scalar, one `sqrt` and one division
    /// per element. SIMD `sqrt`, division and FMA round exactly as the scalar ones.
    #[inline(always)]
    fn rows(
        self,
        param: &mut [T],
        grad: &[T],
        (exp_avg, exp_avg_sq, max_exp_avg_sq): (&mut [T], &mut [T], Option<&mut [T]>),
        decayed: impl Fn(&mut T, T) -> T,
    ) {
        let moments = |d: T, m: &mut T, v: &mut T| {
            *m = lerp(*m, d, self.one_minus_beta1);
            *v = (self.one_minus_beta2 * d).mul_add(d, *v * self.beta2);
        };
        let apply = |theta: &mut T, m: T, second_moment: T| {
            let denom = second_moment.sqrt() / self.bias_correction2_sqrt + self.eps;
            *theta = *theta + self.neg_step_size * m / denom;
        };
        let rows = param.iter_mut().zip(grad).zip(exp_avg.iter_mut()).zip(exp_avg_sq.iter_mut());
        match max_exp_avg_sq {
            None => {
                for (((theta, &g), m), v) in rows {
                    let d = decayed(theta, g);
                    moments(d, m, v);
                    apply(theta, *m, *v);
                }
            }
            Some(max_buffer) => {
                for ((((theta, &g), m), v), v_max) in rows.zip(max_buffer.iter_mut()) {
                    let d = decayed(theta, g);
                    moments(d, m, v);
                    // `torch.maximum` propagates NaN; `Float::max` would drop it.
                    if *v > *v_max || v.is_nan() {
                        *v_max = *v;
                    }
                    apply(theta, *m, *v_max);
                }
            }
        }
    }
}

/// Adam with L2 weight decay, PyTorch's `torch.optim.Adam`; see [`AdamConfig`]
/// for the update and the module docs for why the tutorial's eq. (13) is not used.
#[derive(Debug, Clone)]
pub struct Adam<T> {
    config: AdamConfig,
    slots: Slots<T>,
}

/// Adam with decoupled weight decay, PyTorch's `torch.optim.AdamW`; see
/// [`AdamWConfig`] for the update.
#[derive(Debug, Clone)]
pub struct AdamW<T> {
    config: AdamWConfig,
    slots: Slots<T>,
}

/// The update, identical for both variants apart from the decay form; the rest of
/// the optimizer comes from `slot_optimizer!`.
macro_rules! adam_optimizer {
    ($ty:ident, $config:ident, $name:literal, $decoupled:literal) => {
        impl<T: Float> $ty<T> {
            /// One update of every parameter (see [`AdamCore`]).
            fn update(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<()> {
                self.config.core().step($name, $decoupled, &mut self.slots, params, grads)
            }
        }

        slot_optimizer!($ty, $config, $ty, $name);
    };
}

adam_optimizer!(Adam, AdamConfig, "Adam", false);
adam_optimizer!(AdamW, AdamWConfig, "AdamW", true);
