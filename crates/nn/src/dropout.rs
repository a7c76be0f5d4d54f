//! Inverted dropout (tutorial §10): in training mode each element is zeroed with probability `p`
//! and the survivors are scaled by `1/(1 − p)`, so the expected output equals the input and
//! evaluation mode can be the identity.

use crate::error::{Result, invalid};
use crate::module::{Module, TrainingFlag};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use tensor_core::{Element, Tensor};

/// Inverted dropout with probability `p`, from its own seeded generator.
///
/// Training mode: `y = x·m/(1 − p)` with `m` a fresh 0/1 mask (`P(m = 0) = p`) per call, so the
/// gradient is `dy·m/(1 − p)`. Evaluation mode: `y = x`. The masks are a deterministic sequence
/// for a given seed (one generator per layer, advanced by each training-mode forward).
///
/// ```
/// use nn::{Dropout, Module};
/// use tensor_core::Tensor;
/// let drop = Dropout::new(0.5, 42)?;
/// let x = Tensor::<f64>::ones(&[1000])?;
/// let y = drop.forward(&x)?;
/// assert!(y.as_slice().iter().all(|&v| v == 0.0 || v == 2.0)); // survivors scaled by 1/(1 − p)
/// drop.eval();
/// assert!(drop.forward(&x)?.data_eq(&x));
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Dropout {
    p: f64,
    rng: Mutex<StdRng>,
    training: TrainingFlag,
}

impl Dropout {
    /// Dropout with drop probability `p` and a generator seeded with `seed`.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`](crate::NnError::InvalidArgument) unless `0 ≤ p < 1`
    /// (`p = 1` would drop everything and scale by infinity).
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid("Dropout::new", format!("drop probability {p} is outside [0, 1)")));
        }
        Ok(Dropout { p, rng: Mutex::new(StdRng::seed_from_u64(seed)), training: TrainingFlag::new() })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Switches training mode on or off. (The same as [`Module::train`], callable without
    /// naming the element type: a `Dropout` is a module for both `f32` and `f64`.)
    pub fn train(&self, training: bool) {
        self.training.set(training);
    }

    /// Evaluation mode: the identity.
    pub fn eval(&self) {
        self.train(false);
    }

    /// Whether training mode is on.
    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    fn mask<T: Element>(&self, shape: &[usize]) -> Result<Tensor<T>> {
        let keep = T::from_f64(1.0 / (1.0 - self.p));
        let n: usize = shape.iter().product();
        // A poisoned lock only means another thread panicked mid-draw; the generator state is
        // still a valid state, so keep using it.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let data: Vec<T> =
            (0..n).map(|_| if rng.random::<f64>() < self.p { T::zero() } else { keep }).collect();
        Ok(Tensor::from_vec(data, shape)?)
    }
}

impl<T: Element> Module<T> for Dropout {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        Ok(x.mul(&self.mask(x.shape())?)?)
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

impl std::fmt::Debug for Dropout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dropout(p = {}, training: {})", self.p, self.training.get())
    }
}
