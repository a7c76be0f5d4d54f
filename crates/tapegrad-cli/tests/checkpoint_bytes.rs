//! The checkpoint loader (what `train --resume` reads) on hostile bytes (issue 15), the CI
//! form of the `checkpoint` fuzz target in `fuzz/`: random bytes, and a real checkpoint
//! with bytes overwritten or cut short, load or give an error — never a panic or an abort.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::train_iris;
use proptest::prelude::*;
use tapegrad_cli::checkpoint::Checkpoint;

/// The bytes of a real checkpoint: one epoch of iris, trained once for all cases.
fn real_checkpoint() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train_iris(&run, &[]);
        std::fs::read(run.join("checkpoint.safetensors")).unwrap()
    })
}

fn path() -> PathBuf {
    Path::new("checkpoint.safetensors").to_path_buf()
}

#[test]
fn the_real_checkpoint_loads() {
    Checkpoint::from_bytes(&path(), real_checkpoint()).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_are_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(Checkpoint::from_bytes(&path(), &bytes).is_err());
    }

    #[test]
    fn overwritten_bytes_load_or_are_an_error(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = real_checkpoint().to_vec();
        // Header bytes are the interesting ones: aim half the edits at the first 1 KiB.
        for (i, (at, value)) in edits.into_iter().enumerate() {
            let span = if i % 2 == 0 { bytes.len().min(1024) } else { bytes.len() };
            let at = at.index(span);
            bytes[at] = value;
        }
        let _ = Checkpoint::from_bytes(&path(), &bytes);
    }

    #[test]
    fn a_checkpoint_cut_short_is_an_error(keep in any::<prop::sample::Index>()) {
        let bytes = real_checkpoint();
        let keep = keep.index(bytes.len());
        prop_assert!(Checkpoint::from_bytes(&path(), &bytes[..keep]).is_err());
    }
}
