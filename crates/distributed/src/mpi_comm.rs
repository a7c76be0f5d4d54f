//! The MPI communicator (feature `mpi`): Open MPI's `MPI_COMM_WORLD` through rsmpi.

use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _};

use crate::{Communicator, DistributedError, Result};

/// `MPI_COMM_WORLD` of a program started by `mpirun -np N`. MPI is finalised when this is
/// dropped, so keep it alive for the whole run. Started without `mpirun`, it is one rank.
pub struct MpiCommunicator {
    // Dropping the universe finalises MPI; `world` borrows nothing from it but is only
    // valid while it lives, so the two are kept together.
    world: SimpleCommunicator,
    _universe: mpi::environment::Universe,
}

impl MpiCommunicator {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<MpiCommunicator> {
        let universe = mpi::initialize().ok_or(DistributedError::MpiInit)?;
        let world = universe.world();
        Ok(MpiCommunicator { world, _universe: universe })
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_gather(&self, local: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0.0_f32; local.len() * self.size()];
        self.world.all_gather_into(local, &mut out[..]);
        Ok(out)
    }
}
