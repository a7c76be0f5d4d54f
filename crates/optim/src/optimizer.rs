//! The [`Optimizer`] trait every optimizer implements, and the hyper-parameter
//! checks they share.

use num_traits::Float;

use crate::error::{OptimError, Result};
use crate::state::{OptimizerKind, OptimizerState};

/// An optimizer: updates parameters in place from their gradients.
///
/// Parameters are plain slices identified by **position**: the `i`-th slice
/// passed to [`step_slices`](Optimizer::step_slices) is the same parameter on
/// every call, and its state (momentum buffer, moment estimates, …) is kept
/// under that position. An adapter from a tensor engine lists its parameters
/// in a fixed order and looks each one's gradient up in its gradient store.
///
/// The trait is object safe, so a training loop can hold a
/// `Box<dyn Optimizer<f32>>` chosen at run time.
///
/// # Example
/// ```
/// use optim::{Optimizer, Sgd, SgdConfig};
///
/// let mut sgd = Sgd::<f64>::new(SgdConfig::new(0.1).momentum(0.9))?;
/// let mut weights = vec![1.0, 2.0];
/// let mut bias = vec![0.5];
/// let grad_w = [0.5, -1.0];
/// // The bias got no gradient this step: it is skipped, and its state untouched.
/// sgd.step_slices(&mut [&mut weights, &mut bias], &[Some(&grad_w), None])?;
/// assert_eq!(weights, [1.0 - 0.1 * 0.5, 2.0 + 0.1 * 1.0]);
/// assert_eq!(bias, [0.5]);
/// # Ok::<(), optim::OptimError>(())
/// ```
pub trait Optimizer<T: Float> {
    /// Which optimizer this is.
    fn kind(&self) -> OptimizerKind;

    /// The learning rate used by the next step.
    fn lr(&self) -> f64;

    /// Sets the learning rate for the following steps (what a schedule does
    /// each epoch).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperParameter`] when `lr` is negative or not finite.
    fn set_lr(&mut self, lr: f64) -> Result<()>;

    /// Takes one optimization step: updates each parameter `params[i]` in place
    /// from `grads[i]`.
    ///
    /// A parameter whose gradient is `None` (it took no part in the loss) is
    /// skipped entirely: it is not changed, not even by weight decay, and its
    /// state — including its step count, which Adam's bias correction uses —
    /// is left as it was, as PyTorch does for a parameter whose `.grad` is
    /// `None`. An all-zero gradient, by contrast, is a real update (moments
    /// decay, weight decay applies).
    ///
    /// Non-finite gradient values are not checked here and propagate as in
    /// PyTorch; clip with [`crate::clip_grad_norm`] first to catch them.
    ///
    /// # Errors
    /// Everything is checked before anything is changed, so an error leaves
    /// parameters and state untouched:
    /// [`OptimError::ParamGradCountMismatch`] when the slices differ in number,
    /// [`OptimError::ParamCountChanged`] when the number of parameters differs
    /// from the one the state was built for,
    /// [`OptimError::ParamGradLengthMismatch`] when a gradient's length differs
    /// from its parameter's, and [`OptimError::StateLengthMismatch`] when a
    /// parameter's length differs from its saved state's.
    fn step_slices(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<()>;

    /// A snapshot of the state needed to resume training exactly: the
    /// hyper-parameters, step counts and per-parameter buffers.
    fn state(&self) -> OptimizerState;

    /// Replaces this optimizer's state (hyper-parameters included, as
    /// PyTorch's `load_state_dict` does) with a saved one.
    ///
    /// Buffer lengths are checked against the parameters on the next step.
    ///
    /// # Errors
    /// [`OptimError::StateKindMismatch`] when the state belongs to another kind
    /// of optimizer, [`OptimError::InvalidHyperParameter`] (or
    /// [`OptimError::NesterovNeedsMomentum`]) when its hyper-parameters are
    /// invalid, and [`OptimError::InvalidState`] when a parameter's buffers
    /// are missing, unexpected for the configuration, or of the wrong length.
    /// On error, the optimizer is unchanged.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;

    /// Drops all per-parameter state (buffers and step counts), keeping the
    /// hyper-parameters.
    fn reset_state(&mut self);
}

/// `value` must be finite and ≥ 0 (learning rates, ε, momentum, weight decay).
pub(crate) fn check_non_negative(optimizer: &'static str, name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(OptimError::InvalidHyperParameter { optimizer, name, value, expected: "finite and >= 0" })
    }
}

/// `value` must lie in `[0, 1)` (β's and RMSprop's α: at 1 the average never moves).
pub(crate) fn check_unit_open(optimizer: &'static str, name: &'static str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(OptimError::InvalidHyperParameter { optimizer, name, value, expected: "in [0, 1)" })
    }
}

/// `value` must lie in `[0, 1]` (SGD's dampening).
pub(crate) fn check_unit_closed(optimizer: &'static str, name: &'static str, value: f64) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(OptimError::InvalidHyperParameter { optimizer, name, value, expected: "in [0, 1]" })
    }
}

/// PyTorch's `lerp`: `start + weight·(end − start)`, computed from whichever
/// end is nearer for accuracy and with one fused multiply-add, exactly as its
/// vectorised CPU kernel does.
#[inline]
pub(crate) fn lerp<T: Float>(start: T, end: T, weight: T) -> T {
    if weight.abs() < cast_half() {
        weight.mul_add(end - start, start)
    } else {
        (weight - T::one()).mul_add(end - start, end)
    }
}

/// Runs `f`, compiled with FMA and AVX2 when the CPU has them. An update loop full
/// of `mul_add` is otherwise compiled for baseline x86-64, where each `mul_add` is a
/// call into libm's `fmaf`/`fma` and the loop cannot be vectorised (the Adam step was
/// 8% of `lstm-char`'s time, most of it in those calls). The results are the same
/// either way: a fused multiply-add rounds once, in hardware or in libm.
#[inline(always)]
pub(crate) fn with_fma<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2,fma")]
        fn compiled_for_fma<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has both features (checked just above).
        return unsafe { compiled_for_fma(f) };
    }
    f()
}

#[inline]
fn cast_half<T: Float>() -> T {
    (T::one() + T::one()).recip()
}

/// Writes what every optimizer has in common — `new` (validating the config),
/// `config`, and the [`Optimizer`] methods other than the update itself — for a type
/// `$ty<T> { config: $config, slots: Slots<T> }` whose config has `validate()` and
/// `buffers()` and which has an inherent `update(&mut self, params, grads)`.
macro_rules! slot_optimizer {
    ($ty:ident, $config:ident, $kind:ident, $name:expr) => {
        impl<T: Float> $ty<T> {
            /// Builds the optimizer after checking `config`.
            ///
            /// # Errors
            #[doc = concat!("See [`", stringify!($config), "::validate`].")]
            pub fn new(config: $config) -> Result<Self> {
                config.validate()?;
                Ok($ty { config, slots: Slots::new() })
            }

            /// The hyper-parameters in force.
            pub fn config(&self) -> &$config {
                &self.config
            }
        }

        impl<T: Float> Optimizer<T> for $ty<T> {
            fn kind(&self) -> OptimizerKind {
                OptimizerKind::$kind
            }

            fn lr(&self) -> f64 {
                self.config.lr
            }

            fn set_lr(&mut self, lr: f64) -> Result<()> {
                check_non_negative($name, "lr", lr)?;
                self.config.lr = lr;
                Ok(())
            }

            fn step_slices(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<()> {
                self.update(params, grads)
            }

            fn state(&self) -> OptimizerState {
                self.slots.to_state(HyperParams::$kind(self.config), &self.config.buffers())
            }

            fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
                let HyperParams::$kind(config) = state.hyper else {
                    return Err(OptimError::StateKindMismatch {
                        optimizer: $name,
                        expected: OptimizerKind::$kind,
                        found: state.kind(),
                    });
                };
                config.validate()?;
                self.slots = Slots::from_state($name, state, &config.buffers())?;
                self.config = config;
                Ok(())
            }

            fn reset_state(&mut self) {
                self.slots.clear();
            }
        }
    };
}
pub(crate) use slot_optimizer;
