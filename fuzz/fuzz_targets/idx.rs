//! Fuzz target: idx bytes (plain or gzip) must parse or return an error, never panic,
//! and a parsed array must satisfy its invariant (dims multiply to the data length).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(array) = tapegrad_data::parse_idx(bytes) {
        let n: usize = array.dims().iter().product();
        assert_eq!(n, array.data().len(), "idx invariant: dims multiply to the data length");
    }
});
