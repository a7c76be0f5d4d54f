//! Seeded shuffling and the train / validation / test split.
//!
//! Every random choice comes from a seed, so the same seed gives the same split and order
//! (with the locked `rand` version).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::{Dataset, LoadedData, Targets};
use crate::error::{Error, Result};

/// Independent random streams derived from one user seed, so that, for example, the split
/// and the first epoch's batch order are not the same permutation.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    /// [`shuffled_indices`] and splitting.
    Shuffle = 1,
    /// The batch order of one epoch.
    Epoch = 2,
}

/// SplitMix64's finaliser: a cheap bijection that scatters nearby inputs (seeds 0, 1, 2...).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random generator for `stream` number `index` (an epoch, say) under `seed`.
pub(crate) fn rng_for(seed: u64, stream: Stream, index: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(seed ^ mix(stream as u64)) ^ index))
}

/// A seeded random permutation of `0..n`.
///
/// ```
/// use tapegrad_data::shuffled_indices;
/// let order = shuffled_indices(5, 42);
/// assert_eq!(order, shuffled_indices(5, 42)); // same seed, same order
/// let mut sorted = order.clone();
/// sorted.sort();
/// assert_eq!(sorted, [0, 1, 2, 3, 4]);
/// ```
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut rng_for(seed, Stream::Shuffle, 0));
    indices
}

impl Dataset {
    /// The same samples in a seeded random order.
    pub fn shuffled(&self, seed: u64) -> Dataset {
        self.select_unchecked(&shuffled_indices(self.n_samples(), seed))
    }
}

/// How to split a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SplitConfig {
    /// The fraction of samples held out for validation (early stopping, choosing λ), in `[0, 1)`.
    pub validation_fraction: f64,
    /// The fraction held out for the final test, in `[0, 1)`. Ignored when the data set has
    /// an official test split (MNIST), which is the test set then.
    pub test_fraction: f64,
    /// The seed of the shuffle that decides which sample goes where.
    pub seed: u64,
    /// For classification, keep each class's share the same in every part (as scikit-learn's
    /// `stratify=y`), so a small test set still holds every class in proportion.
    pub stratify: bool,
}

impl Default for SplitConfig {
    /// 10% validation, 20% test, seed 0, stratified.
    fn default() -> Self {
        SplitConfig { validation_fraction: 0.1, test_fraction: 0.2, seed: 0, stratify: true }
    }
}

/// A data set split three ways. A part whose fraction is 0 is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// The training samples: what models and scalers are fitted on.
    pub train: Dataset,
    /// The validation samples.
    pub validation: Option<Dataset>,
    /// The test samples (the official ones when the data set has them).
    pub test: Option<Dataset>,
}

impl LoadedData {
    /// Splits into train, validation and test parts, keeping the official test set if any.
    ///
    /// Each part's size is its fraction of the samples, rounded, and at least one sample when
    /// its fraction is positive; the training part must keep at least one. Within each part,
    /// samples are in the shuffled order.
    ///
    /// ```
    /// use tapegrad_data::{load_shipped, SplitConfig};
    /// let splits = load_shipped("iris", None)?.split(&SplitConfig::default())?;
    /// assert_eq!(splits.train.n_samples(), 105);
    /// assert_eq!(splits.validation.as_ref().map(|v| v.n_samples()), Some(15));
    /// let test = splits.test.expect("test fraction is positive");
    /// assert_eq!(test.targets().class_counts(), Some(vec![10, 10, 10])); // stratified
    /// # Ok::<(), tapegrad_data::Error>(())
    /// ```
    pub fn split(self, config: &SplitConfig) -> Result<Splits> {
        let SplitConfig { validation_fraction, test_fraction, seed, stratify } = *config;
        let fraction_ok = |f: f64| f.is_finite() && (0.0..1.0).contains(&f);
        if !fraction_ok(validation_fraction)
            || !fraction_ok(test_fraction)
            || validation_fraction + test_fraction >= 1.0
        {
            return Err(Error::InvalidFraction { validation: validation_fraction, test: test_fraction });
        }
        let drawn_test_fraction = if self.official_test.is_some() { 0.0 } else { test_fraction };
        let data = self.data;
        let n = data.n_samples();
        let n_test = part_size(drawn_test_fraction, n);
        let n_validation = part_size(validation_fraction, n);
        if n_test + n_validation >= n {
            return Err(Error::SplitTooSmall { n_samples: n, n_validation, n_test });
        }
        let order = shuffled_indices(n, seed);
        let part_of = match data.targets() {
            Targets::Classes { labels, n_classes, .. } if stratify => {
                stratified_parts(&order, labels, *n_classes, n_test, n_validation)
            }
            _ => {
                let mut part_of = vec![Part::Train; n];
                for (rank, &i) in order.iter().enumerate() {
                    if rank < n_test {
                        part_of[i] = Part::Test;
                    } else if rank < n_test + n_validation {
                        part_of[i] = Part::Validation;
                    }
                }
                part_of
            }
        };
        let indices_of =
            |part: Part| -> Vec<usize> { order.iter().copied().filter(|&i| part_of[i] == part).collect() };
        let select = |indices: Vec<usize>| (!indices.is_empty()).then(|| data.select_unchecked(&indices));
        let test = match self.official_test {
            Some(official) => Some(official),
            None => select(indices_of(Part::Test)),
        };
        let validation = select(indices_of(Part::Validation));
        let train = data.select_unchecked(&indices_of(Part::Train));
        Ok(Splits { train, validation, test })
    }
}

/// Which part of a split a sample goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train,
    Validation,
    Test,
}

/// The number of samples a fraction takes: rounded, and at least one when the fraction is
/// positive (a 1% validation split of 50 samples should not vanish).
fn part_size(fraction: f64, n: usize) -> usize {
    if fraction <= 0.0 { 0 } else { ((fraction * n as f64).round() as usize).max(1) }
}

/// Assigns parts per class so each class keeps its share: `n_test` and `n_validation` are
/// apportioned over the classes in proportion to their sizes (largest remainder), then
/// each class's first samples in shuffled `order` go to test, the next to validation.
fn stratified_parts(
    order: &[usize],
    labels: &[usize],
    n_classes: usize,
    n_test: usize,
    n_validation: usize,
) -> Vec<Part> {
    let mut class_sizes = vec![0usize; n_classes];
    for &label in labels {
        class_sizes[label] += 1;
    }
    let test_per_class = apportion(n_test, &class_sizes);
    let room: Vec<usize> = class_sizes.iter().zip(&test_per_class).map(|(size, test)| size - test).collect();
    let validation_per_class = apportion_within(n_validation, &class_sizes, &room);
    let mut taken = vec![0usize; n_classes];
    let mut part_of = vec![Part::Train; labels.len()];
    for &i in order {
        let class = labels[i];
        let rank = taken[class];
        taken[class] += 1;
        part_of[i] = if rank < test_per_class[class] {
            Part::Test
        } else if rank < test_per_class[class] + validation_per_class[class] {
            Part::Validation
        } else {
            Part::Train
        };
    }
    part_of
}

/// Splits `total` over classes in proportion to `sizes`, each at most its size.
fn apportion(total: usize, sizes: &[usize]) -> Vec<usize> {
    apportion_within(total, sizes, sizes)
}

/// Splits `total` over classes in proportion to `weights`, class `c` getting at most
/// `room[c]`: floors first, then one more each by largest remainder (ties to the lower class),
/// repeated while classes with room are left. Needs `total <= sum(room)`.
fn apportion_within(total: usize, weights: &[usize], room: &[usize]) -> Vec<usize> {
    let weight_sum: usize = weights.iter().sum();
    if weight_sum == 0 {
        return vec![0; weights.len()];
    }
    // Exact integer arithmetic (in u128, so the product cannot overflow):
    // share = total * w / sum, remainder = (total * w) % sum.
    let product = |w: usize| total as u128 * w as u128;
    let sum = weight_sum as u128;
    let mut counts: Vec<usize> =
        weights.iter().zip(room).map(|(&w, &r)| ((product(w) / sum) as usize).min(r)).collect();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by_key(|&c| std::cmp::Reverse(product(weights[c]) % sum));
    let mut left = total - counts.iter().sum::<usize>();
    while left > 0 {
        let before = left;
        for &c in &by_remainder {
            if left > 0 && counts[c] < room[c] {
                counts[c] += 1;
                left -= 1;
            }
        }
        if left == before {
            // No room anywhere: callers never ask for more than the room there is.
            break;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_proportional_and_exact() {
        assert_eq!(apportion(30, &[50, 50, 50]), vec![10, 10, 10]);
        assert_eq!(apportion(114, &[212, 357]), vec![42, 72]); // 42.47, 71.53
        assert_eq!(apportion(3, &[1, 1, 1, 1]), vec![1, 1, 1, 0]);
        assert_eq!(apportion_within(4, &[4, 4], &[1, 4]), vec![1, 3]);
    }

    #[test]
    fn nearby_seeds_give_unrelated_streams() {
        assert_ne!(shuffled_indices(20, 0), shuffled_indices(20, 1));
        assert_ne!(mix(0), mix(1));
    }
}
