//! Mini-batches: a data set cut into batches of a given size, in order or in a seeded
//! random order per epoch.
//!
//! Batch gradient descent, mini-batch and stochastic gradient descent (tutorial §7.1–7.3) are the
//! same loop over batches of size N, B and 1: [`BatchSize::Full`], [`BatchSize::Fixed`]`(B)`, `Fixed(1)`.

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

use rand::seq::SliceRandom;

use crate::dataset::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::split::{Stream, rng_for};

/// How many samples a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum BatchSize {
    /// Every sample in one batch (batch gradient descent).
    Full,
    /// At most this many samples per batch; the last batch holds the rest.
    Fixed(NonZeroUsize),
}

impl BatchSize {
    /// A fixed batch size; zero is an error.
    pub fn fixed(size: usize) -> Result<BatchSize> {
        NonZeroUsize::new(size)
            .map(BatchSize::Fixed)
            .ok_or_else(|| Error::InvalidBatchSize { given: size.to_string() })
    }

    /// The number of samples per batch for a data set of `n_samples` (at least 1).
    pub fn resolve(self, n_samples: usize) -> usize {
        match self {
            BatchSize::Full => n_samples.max(1),
            BatchSize::Fixed(size) => size.get(),
        }
    }
}

impl FromStr for BatchSize {
    type Err = Error;

    /// Parses `full` (any case) or a positive integer, as a `--batch-size` flag gives them.
    fn from_str(text: &str) -> Result<BatchSize> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("full") {
            return Ok(BatchSize::Full);
        }
        text.parse::<NonZeroUsize>()
            .map(BatchSize::Fixed)
            .map_err(|_| Error::InvalidBatchSize { given: text.to_string() })
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Full => f.write_str("full"),
            BatchSize::Fixed(size) => write!(f, "{size}"),
        }
    }
}

/// The order samples are visited in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BatchOrder {
    /// As stored (for evaluation).
    Sequential,
    /// A random permutation that is a function of `seed` and `epoch` alone, so every epoch
    /// gets a fresh order and a run resumed at epoch `e` sees exactly the order an
    /// uninterrupted run would, with no generator state to save.
    Shuffled {
        /// The run's seed.
        seed: u64,
        /// The epoch number (any numbering; each value gives its own order).
        epoch: u64,
    },
}

/// The targets of one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchTargets {
    /// Class indices.
    Classes(Vec<usize>),
    /// Regression values.
    Values(Vec<f32>),
}

impl BatchTargets {
    /// The number of targets.
    pub fn len(&self) -> usize {
        match self {
            BatchTargets::Classes(labels) => labels.len(),
            BatchTargets::Values(values) => values.len(),
        }
    }

    /// Whether there are none (never, for a batch from [`Batches`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One mini-batch: `n_samples x n_features` features, row-major, and their targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Features, row-major.
    pub features: Vec<f32>,
    /// Samples in this batch (the last batch may hold fewer than the batch size).
    pub n_samples: usize,
    /// Features per sample.
    pub n_features: usize,
    /// One target per sample.
    pub targets: BatchTargets,
    /// Each sample's index in the data set, in batch order.
    pub indices: Vec<usize>,
}

/// An iterator over the mini-batches of one epoch; see [`Dataset::batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    next_start: usize,
}

impl Dataset {
    /// The mini-batches of one epoch: `batch_size` samples each (the last one smaller), in
    /// `order`.
    ///
    /// ```
    /// use tapegrad_data::{BatchOrder, BatchSize, Dataset, Targets};
    /// let data = Dataset::new("five", (0..5).map(|x| x as f32).collect(), 1,
    ///     Targets::Values(vec![0.0; 5]))?;
    /// let sizes: Vec<usize> = data
    ///     .batches(BatchSize::fixed(2)?, BatchOrder::Sequential)
    ///     .map(|batch| batch.n_samples)
    ///     .collect();
    /// assert_eq!(sizes, [2, 2, 1]);
    /// let epoch_3 = |seed| -> Vec<usize> {
    ///     data.batches(BatchSize::Full, BatchOrder::Shuffled { seed, epoch: 3 })
    ///         .flat_map(|batch| batch.indices)
    ///         .collect()
    /// };
    /// assert_eq!(epoch_3(7), epoch_3(7)); // reproducible
    /// # Ok::<(), tapegrad_data::Error>(())
    /// ```
    pub fn batches(&self, batch_size: BatchSize, order: BatchOrder) -> Batches<'_> {
        let mut indices: Vec<usize> = (0..self.n_samples()).collect();
        if let BatchOrder::Shuffled { seed, epoch } = order {
            indices.shuffle(&mut rng_for(seed, Stream::Epoch, epoch));
        }
        Batches {
            data: self,
            order: indices,
            batch_size: batch_size.resolve(self.n_samples()),
            next_start: 0,
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let start = self.next_start;
        if start >= self.order.len() {
            return None;
        }
        let end = (start + self.batch_size).min(self.order.len());
        self.next_start = end;
        let indices = self.order[start..end].to_vec();
        let n_features = self.data.n_features();
        let mut features = Vec::with_capacity(indices.len() * n_features);
        for &i in &indices {
            features.extend_from_slice(&self.data.features()[i * n_features..][..n_features]);
        }
        let targets = match self.data.targets() {
            Targets::Classes { labels, .. } => {
                BatchTargets::Classes(indices.iter().map(|&i| labels[i]).collect())
            }
            Targets::Values(values) => BatchTargets::Values(indices.iter().map(|&i| values[i]).collect()),
        };
        Some(Batch { features, n_samples: indices.len(), n_features, targets, indices })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.next_start).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_> {}
