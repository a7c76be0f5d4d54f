//! tapegrad: reverse-mode automatic differentiation on n-d tensors, with a
//! neural-network front-end. This facade re-exports the workspace's crates; the command line
//! is the separate `tapegrad-cli` crate, so depending on this one pulls in no CLI crates.

pub use eval;
pub use nn;
pub use optim;
/// Data sets, CSV and idx readers, scaling and batching (`tapegrad-data`).
pub use tapegrad_data as data;
/// Data-parallel training: gradient all-reduce, sharding, rank seeds (`tapegrad-distributed`).
pub use tapegrad_distributed as distributed;
pub use tensor_core;
