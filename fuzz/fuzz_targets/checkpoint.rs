//! Fuzz target: checkpoint bytes (what `tapegrad train --resume` reads) must load or
//! return an error naming the file, never panic or allocate beyond the stated limits.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tapegrad_cli::checkpoint::Checkpoint;

fuzz_target!(|bytes: &[u8]| {
    let _ = Checkpoint::from_bytes(Path::new("checkpoint.safetensors"), bytes);
});
