//! Categorical sampling from (unnormalised) probabilities with a caller's seeded
//! generator, for generating text. Not differentiable: the result is indices.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::ops::Indices;
use crate::tensor::Tensor;
use rand::Rng;

impl<T: Element> Tensor<T> {
    /// Draws one class per row of the last axis, class `i` with probability
    /// `p_i / Σ p` (as `torch.multinomial(p, 1)`: rows need not sum to 1). The result
    /// has this tensor's shape without the last axis. Deterministic for a seeded `rng`;
    /// a class of probability 0 is never drawn.
    ///
    /// Errors on a scalar, an empty last axis, or a row with a negative, NaN or
    /// infinite entry or summing to 0.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use tensor_core::Tensor;
    /// let p = Tensor::<f64>::from_vec(vec![0.0, 1.0, 0.0, 0.5, 0.0, 0.5], &[2, 3])?;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// let drawn = p.sample_categorical(&mut rng)?;
    /// assert_eq!(drawn.shape(), &[2]);
    /// assert_eq!(drawn.as_slice()[0], 1); // the only class with mass
    /// assert_ne!(drawn.as_slice()[1], 1);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn sample_categorical(&self, rng: &mut impl Rng) -> Result<Indices> {
        let op = "sample_categorical";
        let classes = self.shape.last().copied().unwrap_or(0);
        if classes == 0 {
            return Err(Error::InvalidArgument {
                op,
                reason: format!(
                    "needs probabilities along a non-empty last axis, got shape {:?}",
                    self.shape
                ),
            });
        }
        let mut drawn = Vec::with_capacity(self.numel() / classes);
        for (r, row) in self.as_slice().chunks(classes).enumerate() {
            if let Some(bad) = row.iter().find(|p| !(p.is_finite() && **p >= T::zero())) {
                return Err(Error::Domain {
                    op,
                    reason: format!(
                        "row {r} of shape {:?} holds {bad}; probabilities must be finite and ≥ 0",
                        self.shape
                    ),
                });
            }
            let total: f64 = row.iter().map(|p| p.as_f64()).sum();
            if !(total > 0.0 && total.is_finite()) {
                return Err(Error::Domain {
                    op,
                    reason: format!(
                        "row {r} of shape {:?} sums to {total}, not a positive number",
                        self.shape
                    ),
                });
            }
            let target = rng.random::<f64>() * total;
            let mut acc = 0.0;
            // Rounding can leave `target` at or above the last partial sum: then the
            // last class with mass is the draw.
            let mut pick = row.iter().rposition(|p| *p > T::zero()).unwrap_or(0);
            for (i, p) in row.iter().enumerate() {
                acc += p.as_f64();
                if acc > target {
                    pick = i;
                    break;
                }
            }
            drawn.push(pick);
        }
        Indices::new(drawn, &self.shape[..self.ndim() - 1])
    }
}
