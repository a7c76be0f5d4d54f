//! Sharding a global batch by rank, and seeds per rank.

/// The rows of a global batch one rank takes: `start..start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// The first row.
    pub start: usize,
    /// How many rows (0 when the batch has fewer rows than there are ranks).
    pub len: usize,
    /// The global batch's rows.
    pub global: usize,
}

impl Shard {
    /// The row range.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }

    /// The factor to multiply this shard's mean loss by, `len / global`, so that summing the
    /// ranks' gradients gives the gradient of the mean loss over the whole global batch.
    pub fn loss_scale(&self) -> f32 {
        if self.global == 0 { 0.0 } else { self.len as f32 / self.global as f32 }
    }
}

/// Splits `global` rows into `size` contiguous slices and returns rank `rank`'s. The first
/// `global % size` ranks take one row more, so every row is used exactly once and the global
/// batch size is preserved; a rank whose slice is empty contributes a zero gradient.
///
/// # Panics
/// If `rank >= size` or `size == 0` (a caller invariant: ranks come from a communicator).
///
/// ```
/// use tapegrad_distributed::shard;
/// // 10 rows over 3 ranks: 4 + 3 + 3.
/// assert_eq!(shard(10, 0, 3).range(), 0..4);
/// assert_eq!(shard(10, 1, 3).range(), 4..7);
/// assert_eq!(shard(10, 2, 3).range(), 7..10);
/// ```
pub fn shard(global: usize, rank: usize, size: usize) -> Shard {
    assert!(size > 0 && rank < size, "shard invariant: rank {rank} of {size}");
    let base = global / size;
    let extra = global % size;
    let len = base + usize::from(rank < extra);
    let start = rank * base + rank.min(extra);
    Shard { start, len, global }
}

/// A seed for randomness that must differ between ranks but be reproducible (e.g. a
/// per-rank data augmentation stream): a SplitMix64 mix of `seed` and `rank`. Randomness
/// that must be the same on every rank (initial weights, the batch order) uses `seed`
/// itself; the CLI's dropout masks are drawn per global batch row, so they need neither.
///
/// ```
/// use tapegrad_distributed::rank_seed;
/// assert_ne!(rank_seed(7, 0), rank_seed(7, 1));
/// assert_eq!(rank_seed(7, 1), rank_seed(7, 1));
/// ```
pub fn rank_seed(seed: u64, rank: usize) -> u64 {
    let mut z = seed ^ (rank as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(global: usize, size: usize, expected: &[(usize, usize)]) {
        let got: Vec<(usize, usize)> =
            (0..size).map(|r| (shard(global, r, size).start, shard(global, r, size).len)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn shards_cover_the_batch_once() {
        check(8, 2, &[(0, 4), (4, 4)]);
        check(7, 2, &[(0, 4), (4, 3)]);
        check(1, 2, &[(0, 1), (1, 0)]);
        check(0, 3, &[(0, 0), (0, 0), (0, 0)]);
        check(5, 1, &[(0, 5)]);
    }

    #[test]
    fn loss_scales_sum_to_one() {
        let total: f32 = (0..3).map(|r| shard(10, r, 3).loss_scale()).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}
