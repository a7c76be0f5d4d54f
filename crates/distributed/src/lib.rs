//! Data-parallel training: every rank (process) holds the same model, computes gradients on
//! its shard of each global batch, and the ranks combine those gradients before each of them
//! takes the same optimizer step.
//!
//! The pieces a training loop needs, called between `backward` and the optimizer step:
//! - [`Communicator`]: what a group of ranks can do (rank, size, all-gather). Implemented by
//!   [`SingleProcess`] (one rank), [`LocalGroup`] (threads simulating ranks, for tests
//!   without MPI) and, with the `mpi` feature, `MpiCommunicator` (Open MPI through rsmpi).
//! - [`all_reduce_sum`] / [`all_reduce_mean`]: one flat buffer per step, summed in a fixed
//!   order, so every rank gets bit-identical results and reruns are reproducible.
//! - [`shard`]: which contiguous rows of a global batch a rank takes.
//! - [`rank_seed`]: a seed per rank for randomness that must differ between ranks.
//!
//! # Determinism
//! `MPI_Allreduce` does not promise a summation order: Open MPI picks an algorithm (ring,
//! recursive doubling, …) from the message size and process count, and floating-point sums
//! depend on the order. So the reduction here is an all-gather of every rank's buffer
//! followed by a sum over ranks `0, 1, …, N-1` in that order, done by every rank itself.
//! Every rank therefore computes the same bits, and two runs with the same `N` give the same
//! bits. The cost is `N` buffers of memory and `(N-1)` buffers received per rank instead of
//! a ring's `2(N-1)/N`; for the shipped models (well under a million parameters) that is
//! small next to a step's compute (docs/PERFORMANCE.md measures it).

mod comm;
mod grads;
mod shard;

#[cfg(feature = "mpi")]
mod mpi_comm;

pub use comm::{Communicator, LocalGroup, SingleProcess};
pub use grads::{all_reduce_gradients, flatten, unflatten};
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiCommunicator;
pub use shard::{Shard, rank_seed, shard};

/// What can go wrong in a distributed step.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    /// Ranks passed buffers of different lengths to one collective.
    #[error("all-reduce: rank {rank} sent {got} values, rank 0 sent {expected}")]
    LengthMismatch {
        /// The rank whose buffer differs.
        rank: usize,
        /// Rank 0's length.
        expected: usize,
        /// That rank's length.
        got: usize,
    },
    /// MPI could not be initialised (already initialised, or not started by `mpirun`).
    #[error("MPI could not be initialised (was it already initialised in this process?)")]
    MpiInit,
    /// An invalid argument: the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A tensor operation failed while flattening or rebuilding gradients.
    #[error(transparent)]
    Tensor(#[from] tensor_core::Error),
}

/// `Result` with a [`DistributedError`].
pub type Result<T> = std::result::Result<T, DistributedError>;

/// Sums `buffer` over all ranks in rank order `0..N` and leaves the sum in every rank's
/// `buffer`. Every rank must call it with a buffer of the same length.
///
/// ```
/// use tapegrad_distributed::{SingleProcess, all_reduce_sum};
/// let mut grads = vec![1.0_f32, 2.0];
/// all_reduce_sum(&SingleProcess, &mut grads).unwrap();
/// assert_eq!(grads, [1.0, 2.0]);
/// ```
pub fn all_reduce_sum<C: Communicator + ?Sized>(comm: &C, buffer: &mut [f32]) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let gathered = comm.all_gather(buffer)?;
    let n = buffer.len();
    if gathered.len() != n * comm.size() {
        return Err(DistributedError::LengthMismatch {
            rank: 0,
            expected: n * comm.size(),
            got: gathered.len(),
        });
    }
    // Fixed order: rank 0's values, plus rank 1's, plus … — the same on every rank.
    buffer.copy_from_slice(&gathered[..n]);
    for part in gathered[n..].chunks_exact(n) {
        for (acc, v) in buffer.iter_mut().zip(part) {
            *acc += v;
        }
    }
    Ok(())
}

/// [`all_reduce_sum`] divided by the number of ranks. Right when every rank's shard has the
/// same size; with unequal shards scale each rank's loss by `shard / global` and use
/// [`all_reduce_sum`] instead (as [`Shard::loss_scale`] gives).
pub fn all_reduce_mean<C: Communicator + ?Sized>(comm: &C, buffer: &mut [f32]) -> Result<()> {
    all_reduce_sum(comm, buffer)?;
    let n = comm.size() as f32;
    if comm.size() > 1 {
        buffer.iter_mut().for_each(|v| *v /= n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_gets_the_same_bits_summed_in_rank_order() {
        // Values whose f32 sum depends on the order: (1e8 + 1) - 1e8 + ... in rank order.
        let inputs = [vec![1e8_f32, 1.0], vec![1.0, 2.0], vec![-1e8, 3.0]];
        let expected: Vec<f32> = (0..2).map(|i| inputs[0][i] + inputs[1][i] + inputs[2][i]).collect();
        let results: Vec<Vec<f32>> = std::thread::scope(|s| {
            let jobs: Vec<_> = LocalGroup::new(3)
                .into_iter()
                .zip(&inputs)
                .map(|(comm, input)| {
                    s.spawn(move || {
                        let mut buf = input.clone();
                        all_reduce_sum(&comm, &mut buf).unwrap();
                        buf
                    })
                })
                .collect();
            jobs.into_iter().map(|j| j.join().unwrap()).collect()
        });
        for r in &results {
            assert_eq!(r, &expected);
        }
    }
}
