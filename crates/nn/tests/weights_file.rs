//! Safetensors weight files: round trips, atomic saves, every load-error variant, the spec check,
//! interop with Python's `safetensors` (files in `tests/data/`, see
//! `scripts/gen_safetensors_interop.py`) and a never-panic property test on damaged bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nn::weights_file::{
    self, Dtype, NamedTensor, SpecMismatch, TensorData, TensorSpec, WeightsError, check_against, from_bytes,
    to_bytes,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn tensor(name: &str, shape: &[usize], data: TensorData) -> NamedTensor {
    NamedTensor::new(name, shape.to_vec(), data).expect("valid test tensor")
}

fn sample() -> Vec<NamedTensor> {
    vec![
        tensor("layers.0.weight", &[2, 3], TensorData::F32(vec![1.0, -2.0, 0.5, 1e-30, -0.0, 3.25])),
        tensor("layers.0.bias", &[3], TensorData::F32(vec![0.1, 0.2, 0.3])),
        tensor("scale", &[], TensorData::F64(vec![std::f64::consts::PI])),
        tensor("empty", &[0, 4], TensorData::F64(Vec::new())),
    ]
}

/// Bit patterns, so that NaN, -0.0 and subnormals compare exactly.
fn bits(data: &TensorData) -> (Dtype, Vec<u64>) {
    match data {
        TensorData::F32(v) => (Dtype::F32, v.iter().map(|x| u64::from(x.to_bits())).collect()),
        TensorData::F64(v) => (Dtype::F64, v.iter().map(|x| x.to_bits()).collect()),
        TensorData::I64(v) => (Dtype::I64, v.iter().map(|&x| x as u64).collect()),
    }
}

#[track_caller]
fn assert_same_tensors(actual: &[NamedTensor], expected: &[NamedTensor]) {
    assert_eq!(actual.len(), expected.len(), "number of tensors");
    for want in expected {
        let got =
            actual.iter().find(|t| t.name == want.name).unwrap_or_else(|| panic!("`{}` missing", want.name));
        assert_eq!(got.shape, want.shape, "`{}` shape", want.name);
        assert_eq!(bits(&got.data), bits(&want.data), "`{}` values", want.name);
    }
}

/// A file from a hand-written header and `data_len` zero bytes of data.
fn raw_file(header: &str, data_len: usize) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

#[test]
fn round_trip_in_memory_keeps_values_shapes_and_metadata() {
    let metadata = BTreeMap::from([("epoch".to_owned(), "7".to_owned())]);
    let bytes = to_bytes(&sample(), &metadata).unwrap();
    let file = from_bytes(&bytes).unwrap();
    assert_same_tensors(&file.tensors, &sample());
    assert_eq!(file.metadata, metadata);
    assert_eq!(file.get("scale").map(|t| t.dtype()), Some(Dtype::F64));
    assert!(file.get("nope").is_none());
    // No metadata written when the map is empty.
    let plain = to_bytes(&sample(), &BTreeMap::new()).unwrap();
    assert!(!String::from_utf8_lossy(&plain).contains("__metadata__"));
    assert!(from_bytes(&plain).unwrap().metadata.is_empty());
}

#[test]
fn i64_tensors_round_trip_exactly_with_the_header_dtype_i64() {
    let tensors = vec![
        tensor("bn.num_batches_tracked", &[], TensorData::I64(vec![i64::MIN])),
        tensor("counts", &[3], TensorData::I64(vec![0, -1, i64::MAX])),
        tensor("w", &[1], TensorData::F32(vec![0.5])),
    ];
    let bytes = to_bytes(&tensors, &BTreeMap::new()).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains(r#""dtype":"I64""#));
    let file = from_bytes(&bytes).unwrap();
    assert_same_tensors(&file.tensors, &tensors);
    assert_eq!(file.get("counts").map(|t| t.dtype()), Some(Dtype::I64));
    // The header's byte count is checked with I64's 8 bytes per element.
    let header = r#"{"c": {"dtype": "I64", "shape": [2], "data_offsets": [0, 8]}}"#;
    assert!(matches!(
        from_bytes(&raw_file(header, 8)),
        Err(WeightsError::ByteCount { expected_bytes: 16, .. })
    ));
}

#[test]
fn save_and_load_on_disk_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    weights_file::save(&path, &sample()).unwrap();
    assert_same_tensors(&weights_file::load(&path).unwrap(), &sample());

    let replacement = vec![tensor("only", &[1], TensorData::F64(vec![42.0]))];
    let metadata = BTreeMap::from([("run".to_owned(), "second".to_owned())]);
    weights_file::save_with_metadata(&path, &replacement, &metadata).unwrap();
    let file = weights_file::load_with_metadata(&path).unwrap();
    assert_same_tensors(&file.tensors, &replacement);
    assert_eq!(file.metadata, metadata);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["model.safetensors"], "no temporary file is left behind");
}

#[test]
fn failed_saves_leave_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    weights_file::save(&path, &sample()).unwrap();
    let before = std::fs::read(&path).unwrap();

    let duplicate = [sample()[0].clone(), sample()[0].clone()];
    assert!(matches!(
        weights_file::save(&path, &duplicate),
        Err(WeightsError::DuplicateName { name }) if name == "layers.0.weight"
    ));
    let wrong_count =
        NamedTensor { name: "w".into(), shape: vec![2, 2], data: TensorData::F32(vec![1.0, 2.0, 3.0]) };
    assert!(matches!(
        weights_file::save(&path, &[wrong_count]),
        Err(WeightsError::ElementCount { expected: 4, actual: 3, .. })
    ));
    let reserved =
        NamedTensor { name: "__metadata__".into(), shape: vec![], data: TensorData::F32(vec![1.0]) };
    assert!(matches!(weights_file::save(&path, &[reserved]), Err(WeightsError::ReservedName)));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn save_into_a_missing_folder_or_without_a_file_name_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/folder/model.safetensors");
    match weights_file::save(&missing, &sample()) {
        Err(WeightsError::Io { op, path, .. }) => {
            assert_eq!(op, "create temporary file in");
            assert_eq!(path, dir.path().join("no/such/folder"));
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(matches!(
        weights_file::save(dir.path().join(".."), &sample()),
        Err(WeightsError::NoFileName { .. })
    ));
    assert!(matches!(
        weights_file::load(dir.path().join("absent.safetensors")),
        Err(WeightsError::Io { op: "read", .. })
    ));
}

#[test]
fn named_tensor_new_checks_the_element_count() {
    assert!(matches!(
        NamedTensor::new("w", vec![3], TensorData::F64(vec![1.0])),
        Err(WeightsError::ElementCount { expected: 3, actual: 1, .. })
    ));
    assert!(matches!(
        NamedTensor::new("w", vec![usize::MAX, 2], TensorData::F64(vec![])),
        Err(WeightsError::ShapeTooLarge { .. })
    ));
    assert!(matches!(
        NamedTensor::new("__metadata__", vec![], TensorData::F64(vec![1.0])),
        Err(WeightsError::ReservedName)
    ));
}

#[test]
fn truncated_files_say_how_many_bytes_are_missing() {
    assert!(matches!(from_bytes(&[]), Err(WeightsError::Truncated { needed: 8, actual: 0, .. })));
    assert!(matches!(from_bytes(&[1, 0, 0]), Err(WeightsError::Truncated { needed: 8, actual: 3, .. })));
    let good = to_bytes(&sample(), &BTreeMap::new()).unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap());
    match from_bytes(&good[..20]) {
        Err(WeightsError::Truncated { needed, actual: 20, .. }) => assert_eq!(needed, 8 + header_len),
        other => panic!("expected Truncated in the header, got {other:?}"),
    }
    let cut = good.len() - 3;
    match from_bytes(&good[..cut]) {
        Err(WeightsError::Truncated { what, needed, actual }) => {
            assert!(what.starts_with("tensor `"), "{what}");
            assert_eq!((needed, actual), (good.len() as u64, cut as u64));
        }
        other => panic!("expected Truncated in the data, got {other:?}"),
    }
}

#[test]
fn wrong_headers_are_bad_header_errors() {
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("length over the limit", huge, "exceeds the limit"),
        (
            "not UTF-8",
            {
                let mut b = 2u64.to_le_bytes().to_vec();
                b.extend_from_slice(&[0xff, 0xfe]);
                b
            },
            "not UTF-8",
        ),
        ("not JSON", raw_file("{nope", 0), "invalid JSON"),
        ("an array", raw_file("[1, 2]", 0), "does not start with `{`"),
        ("entry not an object", raw_file(r#"{"w": 3}"#, 0), "tensor `w`: entry is not an object"),
        (
            "missing dtype",
            raw_file(r#"{"w": {"shape": [1], "data_offsets": [0, 4]}}"#, 4),
            "`dtype` is missing",
        ),
        (
            "negative dim",
            raw_file(r#"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, 4),
            "`shape`",
        ),
        (
            "three offsets",
            raw_file(r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}"#, 4),
            "exactly two",
        ),
        ("metadata not strings", raw_file(r#"{"__metadata__": {"epoch": 3}}"#, 0), "not a string"),
        ("metadata not an object", raw_file(r#"{"__metadata__": []}"#, 0), "is not an object"),
    ];
    for (label, bytes, needle) in cases {
        match from_bytes(&bytes) {
            Err(WeightsError::BadHeader { reason }) => assert!(reason.contains(needle), "{label}: {reason}"),
            other => panic!("{label}: expected BadHeader, got {other:?}"),
        }
    }
}

#[test]
fn unsupported_dtypes_are_named() {
    for dtype in ["F16", "BF16", "I32", "U8", "F128"] {
        let header = format!(r#"{{"w": {{"dtype": "{dtype}", "shape": [2], "data_offsets": [0, 4]}}}}"#);
        match from_bytes(&raw_file(&header, 4)) {
            Err(WeightsError::UnsupportedDtype { name, dtype: found }) => {
                assert_eq!((name.as_str(), found.as_str()), ("w", dtype));
            }
            other => panic!("{dtype}: expected UnsupportedDtype, got {other:?}"),
        }
    }
}

#[test]
fn shape_and_byte_count_mismatch_says_both_numbers() {
    let header = r#"{"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}"#;
    match from_bytes(&raw_file(header, 20)) {
        Err(err @ WeightsError::ByteCount { .. }) => {
            let WeightsError::ByteCount { ref name, dtype, ref shape, expected_bytes, actual_bytes } = err
            else {
                unreachable!()
            };
            assert_eq!((name.as_str(), dtype, shape.as_slice()), ("w", Dtype::F32, &[2, 3][..]));
            assert_eq!((expected_bytes, actual_bytes), (24, 20));
            assert!(err.to_string().contains("needs 24 bytes"), "{err}");
        }
        other => panic!("expected ByteCount, got {other:?}"),
    }
}

#[test]
fn duplicate_names_in_a_header_are_reported() {
    let header = r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                     "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#;
    assert!(matches!(
        from_bytes(&raw_file(header, 8)),
        Err(WeightsError::DuplicateName { name }) if name == "w"
    ));
}

#[test]
fn gaps_overlaps_and_trailing_bytes_are_layout_errors() {
    let cases = [
        (
            "gap",
            r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#,
            12,
            "gap",
        ),
        (
            "overlap",
            r#"{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
            8,
            "overlap",
        ),
        (
            "trailing",
            r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#,
            9,
            "5 bytes after the last tensor",
        ),
        (
            "reversed",
            r#"{"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}"#,
            4,
            "end before begin",
        ),
    ];
    for (label, header, data_len, needle) in cases {
        match from_bytes(&raw_file(header, data_len)) {
            Err(WeightsError::BadLayout { reason }) => assert!(reason.contains(needle), "{label}: {reason}"),
            other => panic!("{label}: expected BadLayout, got {other:?}"),
        }
    }
}

#[test]
fn check_against_lists_every_difference() {
    let found = sample();
    let expected_ok: Vec<TensorSpec> = found.iter().map(NamedTensor::spec).collect();
    check_against(&found, &expected_ok).unwrap();
    let reversed: Vec<TensorSpec> = expected_ok.iter().rev().cloned().collect();
    check_against(&found, &reversed).expect("order does not matter");

    let expected = vec![
        TensorSpec::new("layers.0.weight", vec![3, 2], Dtype::F32),
        TensorSpec::new("layers.0.bias", vec![3], Dtype::F64),
        TensorSpec::new("scale", vec![1], Dtype::F32),
        TensorSpec::new("layers.1.weight", vec![3, 1], Dtype::F32),
    ];
    let Err(err @ WeightsError::Mismatch { .. }) = check_against(&found, &expected) else {
        panic!("expected a mismatch");
    };
    let WeightsError::Mismatch { ref problems } = err else { unreachable!() };
    assert_eq!(
        problems,
        &[
            SpecMismatch::Missing(TensorSpec::new("layers.1.weight", vec![3, 1], Dtype::F32)),
            SpecMismatch::Unexpected(TensorSpec::new("empty", vec![0, 4], Dtype::F64)),
            SpecMismatch::Shape { name: "layers.0.weight".into(), expected: vec![3, 2], found: vec![2, 3] },
            SpecMismatch::Dtype { name: "layers.0.bias".into(), expected: Dtype::F64, found: Dtype::F32 },
            SpecMismatch::Shape { name: "scale".into(), expected: vec![1], found: vec![] },
            SpecMismatch::Dtype { name: "scale".into(), expected: Dtype::F32, found: Dtype::F64 },
        ]
    );
    let message = err.to_string();
    for needle in [
        "missing `layers.1.weight` F32 [3, 1]",
        "unexpected `empty` F64 [0, 4]",
        "`layers.0.weight` has shape [2, 3], expected [3, 2]",
        "`layers.0.bias` has dtype F32, expected F64",
    ] {
        assert!(message.contains(needle), "{message}");
    }
    let file = weights_file::WeightsFile { tensors: found, metadata: BTreeMap::new() };
    assert!(file.check_against(&expected).is_err());
}

fn expected_from_json(path: &Path) -> (Vec<NamedTensor>, BTreeMap<String, String>) {
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("interop JSON is committed"))
            .expect("interop JSON parses");
    let tensors = json["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .map(|t| {
            let values = t["values"].as_array().expect("values").iter().map(|v| v.as_f64().expect("number"));
            let data = match t["dtype"].as_str().expect("dtype") {
                // Each f32 was widened exactly to f64 for the JSON, so narrowing back is exact.
                "F32" => TensorData::F32(values.map(|v| v as f32).collect()),
                "F64" => TensorData::F64(values.collect()),
                other => panic!("unexpected dtype {other}"),
            };
            let shape: Vec<usize> =
                t["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().unwrap() as usize).collect();
            tensor(t["name"].as_str().expect("name"), &shape, data)
        })
        .collect();
    let metadata = json["metadata"]
        .as_object()
        .expect("metadata")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
        .collect();
    (tensors, metadata)
}

#[test]
fn python_file_loads() {
    let dir = data_dir();
    let file = weights_file::load_with_metadata(dir.join("from_python.safetensors")).unwrap();
    let (expected, metadata) = expected_from_json(&dir.join("from_python.json"));
    assert_same_tensors(&file.tensors, &expected);
    assert_eq!(file.metadata, metadata);
    assert_eq!(file.get("temperature").map(|t| t.shape.len()), Some(0), "a scalar has shape []");
    let specs: Vec<TensorSpec> = expected.iter().map(NamedTensor::spec).collect();
    file.check_against(&specs).unwrap();
}

/// The tensors of `tests/data/from_rust.safetensors`, which `scripts/gen_safetensors_interop.py`
/// checks from Python.
fn rust_recipe() -> (Vec<NamedTensor>, BTreeMap<String, String>) {
    let tensors = vec![
        tensor("mlp.0.weight", &[3, 2], TensorData::F32(vec![0.5, -1.25, 3.0e38, 1.0e-45, -0.0, 65504.0])),
        tensor("mlp.0.bias", &[2], TensorData::F32(vec![0.1, -0.2])),
        tensor("mlp.1.weight", &[2, 3], TensorData::F64(vec![1e-300, -2.5, 1e300, 0.1, 0.2, 5e-324])),
        tensor("log_temperature", &[], TensorData::F64(vec![-std::f64::consts::LN_2])),
        tensor("unused.empty", &[0, 5], TensorData::F32(Vec::new())),
    ];
    // One key only: the crate writes the map from a HashMap, so several keys would be ordered
    // differently on each run and the committed bytes would churn.
    let metadata = BTreeMap::from([("producer".to_owned(), "tapegrad nn::weights_file".to_owned())]);
    (tensors, metadata)
}

/// With `NN_WRITE_INTEROP=1` this (re)writes `from_rust.safetensors` and `from_rust.json`;
/// otherwise it checks that the committed file still holds the recipe.
#[test]
fn rust_file_for_python() {
    let dir = data_dir();
    let (tensors, metadata) = rust_recipe();
    if std::env::var_os("NN_WRITE_INTEROP").is_some() {
        weights_file::save_with_metadata(dir.join("from_rust.safetensors"), &tensors, &metadata).unwrap();
        let described: Vec<Value> = tensors
            .iter()
            .map(|t| {
                let values: Vec<f64> = match &t.data {
                    TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
                    TensorData::F64(v) => v.clone(),
                    // The recipe holds no integer tensors; these would be exact up to 2^53.
                    TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
                };
                json!({"name": t.name, "dtype": t.dtype().to_string(), "shape": t.shape, "values": values})
            })
            .collect();
        let doc = json!({
            "generator": "crates/nn/tests/weights_file.rs rust_file_for_python (NN_WRITE_INTEROP=1)",
            "metadata": metadata,
            "tensors": described,
        });
        std::fs::write(dir.join("from_rust.json"), serde_json::to_string_pretty(&doc).unwrap() + "\n")
            .unwrap();
    }
    let file = weights_file::load_with_metadata(dir.join("from_rust.safetensors")).unwrap();
    assert_same_tensors(&file.tensors, &tensors);
    assert_eq!(file.metadata, metadata);
    let (described, described_metadata) = expected_from_json(&dir.join("from_rust.json"));
    assert_same_tensors(&described, &tensors);
    assert_eq!(described_metadata, metadata);
}

fn arbitrary_tensors() -> impl Strategy<Value = Vec<NamedTensor>> {
    let one =
        (proptest::collection::vec(0usize..4, 0..4), 0u8..3, any::<u64>()).prop_map(|(shape, kind, seed)| {
            let n: usize = shape.iter().product();
            // Arbitrary bit patterns (NaNs, infinities, subnormals included) from a tiny LCG.
            let mut state = seed;
            let mut next = move || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                state
            };
            let data = match kind {
                0 => TensorData::F32((0..n).map(|_| f32::from_bits((next() >> 32) as u32)).collect()),
                1 => TensorData::F64((0..n).map(|_| f64::from_bits(next())).collect()),
                _ => TensorData::I64((0..n).map(|_| next() as i64).collect()),
            };
            (shape, data)
        });
    proptest::collection::vec(one, 0..5).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (shape, data))| NamedTensor::new(format!("t{i}"), shape, data).unwrap())
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_are_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(from_bytes(&bytes).is_err());
    }

    #[test]
    fn random_header_with_a_valid_length_prefix_is_an_error(body in "\\{[ -~]{0,80}") {
        let mut bytes = (body.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(body.as_bytes());
        // Printable junk after `{` almost never forms a valid header; if it does, it must describe
        // zero tensors and so load as an empty file.
        if let Ok(file) = from_bytes(&bytes) {
            prop_assert!(file.tensors.is_empty());
        }
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_truncated_error(tensors in arbitrary_tensors(), cut in any::<prop::sample::Index>()) {
        let bytes = to_bytes(&tensors, &BTreeMap::new()).unwrap();
        let cut = cut.index(bytes.len());
        let is_truncated = matches!(from_bytes(&bytes[..cut]), Err(WeightsError::Truncated { .. }));
        prop_assert!(is_truncated, "cut at {} of {}", cut, bytes.len());
    }

    #[test]
    fn corrupted_bytes_never_panic(tensors in arbitrary_tensors(), position in any::<prop::sample::Index>(), value in any::<u8>()) {
        let mut bytes = to_bytes(&tensors, &BTreeMap::new()).unwrap();
        let position = position.index(bytes.len());
        bytes[position] = value;
        let _ = from_bytes(&bytes);
    }

    #[test]
    fn round_trip_is_bit_exact(tensors in arbitrary_tensors()) {
        let file = from_bytes(&to_bytes(&tensors, &BTreeMap::new()).unwrap()).unwrap();
        assert_same_tensors(&file.tensors, &tensors);
    }
}
