//! tapegrad: reverse-mode automatic differentiation on n-d tensors, with a
//! neural-network front-end. This facade re-exports the workspace's crates.

pub use eval;
pub use nn;
pub use optim;
/// Data sets, CSV and idx readers, scaling and batching (`tapegrad-data`).
pub use tapegrad_data as data;
/// Data-parallel training: gradient all-reduce, sharding, rank seeds (`tapegrad-distributed`).
pub use tapegrad_distributed as distributed;
pub use tensor_core;

// The `tapegrad` command line (train, evaluate, predict, lesson), as a library so its parts
// can be tested and reused; documented by its own `//!` page.
pub mod cli;
