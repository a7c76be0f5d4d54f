//! Data for tapegrad: the shipped data sets by name, loaders for idx and numeric CSV files,
//! standardisation fitted on the training split, seeded splits and mini-batches.
//!
//! A typical run:
//!
//! ```
//! use tapegrad_data::{load_shipped, BatchOrder, BatchSize, Scaling, SplitConfig, Standardizer};
//!
//! let loaded = load_shipped("wine", None)?; // or `load_path(user_file, &csv_options)`
//! let mut splits = loaded.split(&SplitConfig { seed: 7, ..SplitConfig::default() })?;
//! // Statistics come from the training split only, then apply to every split.
//! let scaler = Standardizer::fit(&splits.train, Scaling::recommended(&splits.train))?;
//! scaler.transform(&mut splits.train)?;
//! for part in [&mut splits.validation, &mut splits.test].into_iter().flatten() {
//!     scaler.transform(part)?;
//! }
//! for epoch in 0..2 {
//!     let order = BatchOrder::Shuffled { seed: 7, epoch };
//!     for batch in splits.train.batches(BatchSize::fixed(32)?, order) {
//!         assert_eq!(batch.features.len(), batch.n_samples * 13);
//!     }
//! }
//! # Ok::<(), tapegrad_data::Error>(())
//! ```
//!
//! Every loader returns a [`Result`]: bad data (a missing file, a wrong idx magic number, a
//! truncated file, a CSV row with the wrong number of fields or a non-number, NaN or inf,
//! an unknown target column, non-integer or negative class labels) is an [`Error`] naming
//! the file, line and column, never a panic.

mod batch;
mod bytes;
mod csv;
mod dataset;
mod error;
mod idx;
mod scale;
mod shipped;
mod split;

pub use batch::{Batch, BatchOrder, BatchSize, BatchTargets, Batches};
pub use csv::{CsvOptions, Header, Separator, TargetColumn, load_csv, parse_csv, parse_csv_bytes};
pub use dataset::{Dataset, ImageInfo, LoadedData, Targets, Task};
pub use error::{Error, Result};
pub use idx::{IdxArray, idx_dataset, load_idx_dir, parse_idx, read_idx};
pub use scale::{Scaling, Standardizer, TargetScaler};
pub use shipped::{DATA_DIR_ENV, Shipped, data_dir, load_path, load_shipped};
pub use split::{SplitConfig, Splits, shuffled_indices};
