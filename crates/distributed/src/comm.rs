//! The communicator abstraction and its two MPI-free implementations.

use std::sync::{Arc, Barrier, Mutex};

use crate::{DistributedError, Result};

/// A group of ranks that train one model together. Every rank must call each collective
/// (here [`Communicator::all_gather`]) the same number of times, in the same order, with
/// buffers of the same length.
pub trait Communicator {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `local` buffer, concatenated in rank order (`size() * local.len()` values).
    fn all_gather(&self, local: &[f32]) -> Result<Vec<f32>>;
    /// Whether this is rank 0, the one that writes files and prints progress.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// One process alone: rank 0 of 1. Collectives return the local buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&self, local: &[f32]) -> Result<Vec<f32>> {
        Ok(local.to_vec())
    }
}

struct Shared {
    slots: Mutex<Vec<Vec<f32>>>,
    barrier: Barrier,
}

/// Ranks simulated by threads of one process, for testing data-parallel code without MPI.
/// [`LocalGroup::new`] returns one handle per rank; move each into its own thread.
/// A rank that panics leaves the others waiting at the next collective, as an MPI rank
/// that dies does; tests join the threads, so the panic is what they report.
///
/// ```
/// use tapegrad_distributed::{LocalGroup, all_reduce_sum, Communicator};
/// let handles = LocalGroup::new(2);
/// let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
///     let jobs: Vec<_> = handles
///         .into_iter()
///         .map(|comm| s.spawn(move || {
///             let mut buf = vec![comm.rank() as f32 + 1.0];
///             all_reduce_sum(&comm, &mut buf).unwrap();
///             buf
///         }))
///         .collect();
///     jobs.into_iter().map(|j| j.join().unwrap()).collect()
/// });
/// assert_eq!(sums, [[3.0], [3.0]]);
/// ```
pub struct LocalGroup {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl LocalGroup {
    /// `size` handles, rank `0..size` in order.
    ///
    /// # Panics
    /// If `size == 0`.
    pub fn new(size: usize) -> Vec<LocalGroup> {
        assert!(size > 0, "LocalGroup needs at least one rank");
        let shared =
            Arc::new(Shared { slots: Mutex::new(vec![Vec::new(); size]), barrier: Barrier::new(size) });
        (0..size).map(|rank| LocalGroup { rank, size, shared: Arc::clone(&shared) }).collect()
    }
}

impl Communicator for LocalGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, local: &[f32]) -> Result<Vec<f32>> {
        let poisoned = |_| DistributedError::Invalid("LocalGroup: a rank panicked".into());
        self.shared.slots.lock().map_err(poisoned)?[self.rank] = local.to_vec();
        // Everyone has written before anyone reads, and everyone has read before the next
        // collective writes again.
        self.shared.barrier.wait();
        let slots = self.shared.slots.lock().map_err(poisoned)?;
        let expected = slots[0].len();
        if let Some((rank, got)) = slots.iter().map(Vec::len).enumerate().find(|&(_, n)| n != expected) {
            return Err(DistributedError::LengthMismatch { rank, expected, got });
        }
        let out = slots.concat();
        drop(slots);
        self.shared.barrier.wait();
        Ok(out)
    }
}
