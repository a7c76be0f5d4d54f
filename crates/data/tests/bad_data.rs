//! Bad data gets its own error variant, naming the file, line and column: never a panic.
//! Each case writes a small bad file into a temporary folder and loads it.

use std::io::Write;
use std::path::{Path, PathBuf};

use tapegrad_data::{
    BatchSize, CsvOptions, Dataset, Error, Header, LoadedData, Scaling, Separator, SplitConfig, Standardizer,
    TargetColumn, TargetScaler, Targets, Task, load_csv, load_idx_dir, load_path, load_shipped, read_idx,
};

/// Writes `bytes` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writing a test file");
    path
}

/// Gzip-compresses `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("compressing");
    encoder.finish().expect("compressing")
}

/// An idx file's bytes: type 0x08, the given dims, then `data`.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn classification_last() -> CsvOptions {
    CsvOptions::new(TargetColumn::Index(-1), Task::Classification)
}

fn regression_last() -> CsvOptions {
    CsvOptions::new(TargetColumn::Index(-1), Task::Regression)
}

/// Loads `text` as `name` in a fresh temporary folder with `options`.
fn load_text(name: &str, text: &str, options: &CsvOptions) -> Result<Dataset, Error> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), name, text.as_bytes());
    load_csv(&path, options)
}

/// The innermost error of loading `text`, which must fail; also checks the message leads
/// with the file name.
#[track_caller]
fn csv_error(text: &str, options: &CsvOptions) -> Error {
    let err = load_text("bad.csv", text, options).expect_err("bad data must be an error");
    assert!(err.to_string().contains("bad.csv"), "message names the file: {err}");
    match err {
        Error::InFile { error, .. } => *error,
        other => other,
    }
}

// ---- CSV ----

#[test]
fn good_csv_with_header_semicolons_and_a_named_target_loads() {
    let text = "a;b;y\n1;2;0.5\n3;4;1.5\n";
    let options = CsvOptions::new(TargetColumn::Name("y".into()), Task::Regression);
    let data = load_text("good.csv", text, &options).expect("loads");
    assert_eq!(data.name(), "good");
    assert_eq!(data.features(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(data.targets(), &Targets::Values(vec![0.5, 1.5]));
}

#[test]
fn gzipped_csv_loads_like_plain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "small.csv.gz", &gzip(b"1,2,0\n3,4,1\n"));
    let data = load_csv(&path, &classification_last()).expect("loads");
    assert_eq!(data.name(), "small");
    assert_eq!((data.n_samples(), data.n_features(), data.n_classes()), (2, 2, Some(2)));
}

#[test]
fn every_separator_reads_the_same_table() {
    let tables = [
        ("comma", "1,2,3\n4,5,6\n", Separator::Comma),
        ("semicolon", "1;2;3\n4;5;6\n", Separator::Semicolon),
        ("tab", "1\t2\t3\n4\t5\t6\n", Separator::Tab),
        ("whitespace", "  1  2   3\n4 5\t\t6  \n", Separator::Whitespace),
    ];
    for (what, text, separator) in tables {
        // Detection looks at the first line only, which here has no tab.
        for separator in [separator, Separator::Auto] {
            let options = CsvOptions { separator, ..regression_last() };
            let data = load_text("t.csv", text, &options).expect(what);
            assert_eq!(data.features(), &[1.0, 2.0, 4.0, 5.0], "{what}");
            assert_eq!(data.targets(), &Targets::Values(vec![3.0, 6.0]), "{what}");
        }
    }
}

#[test]
fn header_is_detected_or_forced() {
    let with_header = "\"x\",\"y\"\n1,2\n";
    let auto = load_text("h.csv", with_header, &regression_last()).expect("auto");
    assert_eq!(auto.feature_names(), Some(&["x".to_string()][..]));
    assert_eq!(auto.n_samples(), 1);
    let numeric_header = "10,20\n1,2\n";
    let forced = CsvOptions { header: Header::Present, ..regression_last() };
    let data = load_text("h.csv", numeric_header, &forced).expect("forced header");
    assert_eq!((data.n_samples(), data.feature_names()), (1, Some(&["10".to_string()][..])));
    let none = CsvOptions { header: Header::Absent, ..regression_last() };
    assert_eq!(load_text("h.csv", numeric_header, &none).expect("no header").n_samples(), 2);
}

#[test]
fn target_by_index_counts_negative_indices_from_the_end() {
    let text = "1,2,3\n4,5,6\n";
    for (target, expected) in [(0, [1.0, 4.0]), (1, [2.0, 5.0]), (-3, [1.0, 4.0]), (-2, [2.0, 5.0])] {
        let options = CsvOptions::new(TargetColumn::Index(target), Task::Regression);
        let data = load_text("t.csv", text, &options).expect("loads");
        assert_eq!(data.targets(), &Targets::Values(expected.to_vec()), "target {target}");
    }
}

#[test]
fn empty_or_header_only_file_is_empty_file() {
    for text in ["", "\n\n  \n", "a,b,c\n"] {
        assert!(matches!(csv_error(text, &regression_last()), Error::EmptyFile), "{text:?}");
    }
}

#[test]
fn row_with_wrong_field_count_names_its_line() {
    let err = csv_error("a,b,y\n1,2,3\n\n4,5\n", &regression_last());
    assert!(matches!(err, Error::FieldCount { line: 4, expected: 3, found: 2 }), "{err}");
}

#[test]
fn non_number_names_line_and_column() {
    let err = csv_error("1,2,3\n4,five,6\n", &regression_last());
    assert!(matches!(&err, Error::NotANumber { line: 2, column: 2, field } if field == "five"), "{err}");
    assert_eq!(err.to_string(), "line 2, column 2: \"five\" is not a number");
    let err = csv_error("1,2,3\n4,,6\n", &regression_last());
    assert!(matches!(err, Error::NotANumber { line: 2, column: 2, .. }), "{err}");
}

#[test]
fn nan_and_inf_are_non_finite() {
    for bad in ["NaN", "inf", "-inf", "1e999"] {
        let err = csv_error(&format!("1,2,3\n4,5,{bad}\n"), &regression_last());
        assert!(matches!(err, Error::NonFinite { line: 2, column: 3, .. }), "{bad}: {err}");
    }
    // Finite in f64 but past f32's range.
    let err = csv_error("1,2,3\n4,1e39,6\n", &regression_last());
    assert!(matches!(err, Error::NonFinite { line: 2, column: 2, .. }), "{err}");
}

#[test]
fn unknown_target_column_lists_the_columns() {
    let options = CsvOptions::new(TargetColumn::Name("price".into()), Task::Regression);
    let err = csv_error("a,b\n1,2\n", &options);
    assert!(matches!(&err, Error::UnknownTargetColumn { n_columns: 2, names, .. } if names == &["a", "b"]));
    for index in [2, -3] {
        let options = CsvOptions::new(TargetColumn::Index(index), Task::Regression);
        let err = csv_error("1,2\n", &options);
        assert!(matches!(err, Error::UnknownTargetColumn { n_columns: 2, .. }), "{index}");
    }
    let options = CsvOptions::new(TargetColumn::Name("a".into()), Task::Regression);
    let err = csv_error("1,2\n", &options);
    assert!(matches!(err, Error::TargetNameWithoutHeader { .. }), "{err}");
}

#[test]
fn target_name_matches_case_insensitively_when_unambiguous() {
    let options = CsvOptions::new(TargetColumn::Name("QUALITY".into()), Task::Regression);
    let data = load_text("q.csv", "x,quality\n1,5\n", &options).expect("loads");
    assert_eq!(data.targets(), &Targets::Values(vec![5.0]));
}

#[test]
fn single_column_leaves_no_features() {
    let err = csv_error("1\n2\n", &regression_last());
    assert!(matches!(err, Error::NoFeatures { n_columns: 1 }), "{err}");
}

#[test]
fn class_labels_must_be_non_negative_integers() {
    let err = csv_error("1,0\n2,1.5\n", &classification_last());
    assert!(matches!(err, Error::NonIntegerLabel { line: 2, value } if value == 1.5), "{err}");
    let err = csv_error("1,0\n2,1\n3,-2\n", &classification_last());
    assert!(matches!(err, Error::NegativeLabel { line: 3, value } if value == -2.0), "{err}");
    // Past 2^53 an f64 cannot tell neighbouring integers apart.
    let err = csv_error("1,1e20\n", &classification_last());
    assert!(matches!(err, Error::NonIntegerLabel { line: 1, .. }), "{err}");
}

#[test]
fn class_labels_map_to_0_to_k_in_increasing_order() {
    let data = load_text("c.csv", "1,5\n2,3\n3,8\n4,5\n", &classification_last()).expect("loads");
    let Targets::Classes { labels, n_classes, class_names } = data.targets() else {
        panic!("classification");
    };
    assert_eq!((labels.as_slice(), *n_classes), (&[1, 0, 2, 1][..], 3));
    assert_eq!(class_names.as_deref(), Some(&["3", "5", "8"].map(String::from)[..]));
}

#[test]
fn invalid_utf8_names_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "u.csv", b"1,2\n3,\xff\n");
    let err = load_csv(&path, &regression_last()).expect_err("not UTF-8");
    assert!(matches!(err.innermost(), Error::NotUtf8 { line: 2 }), "{err}");
}

#[test]
fn corrupt_gzip_is_a_gzip_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = gzip(b"1,2\n3,4\n");
    bytes.truncate(bytes.len() - 6);
    let path = write(dir.path(), "z.csv.gz", &bytes);
    let err = load_csv(&path, &regression_last()).expect_err("truncated gzip");
    assert!(matches!(err.innermost(), Error::Gzip { .. }), "{err}");
}

#[test]
fn missing_file_is_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = load_csv(dir.path().join("nope.csv"), &regression_last()).expect_err("missing");
    assert!(matches!(err, Error::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("nope.csv"), "{err}");
    let err = load_shipped("iris", Some(dir.path())).expect_err("empty data folder");
    assert!(matches!(err, Error::MissingFile { .. }), "{err}");
}

#[test]
fn unknown_data_set_name_is_an_error() {
    assert!(matches!(load_shipped("cifar10", None), Err(Error::UnknownDataset { .. })));
}

// ---- idx ----

/// Writes a valid idx folder: `n` 2x2 images with labels `i % 3`, `.gz` for train only.
fn write_idx_dir(dir: &Path, n: u32, with_test: bool) {
    let images: Vec<u8> = (0..n * 4).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    write(dir, "train-images-idx3-ubyte.gz", &gzip(&idx_bytes(&[n, 2, 2], &images)));
    write(dir, "train-labels-idx1-ubyte.gz", &gzip(&idx_bytes(&[n], &labels)));
    if with_test {
        write(dir, "t10k-images-idx3-ubyte", &idx_bytes(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]));
        write(dir, "t10k-labels-idx1-ubyte", &idx_bytes(&[2], &[1, 0]));
    }
}

#[test]
fn idx_folder_loads_train_and_official_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_idx_dir(dir.path(), 6, true);
    let LoadedData { data, official_test } = load_path(dir.path(), &regression_last()).expect("loads");
    let test = official_test.expect("t10k files present");
    assert_eq!((data.n_samples(), data.n_features(), data.n_classes()), (6, 4, Some(3)));
    assert_eq!((test.n_samples(), test.n_classes()), (2, Some(3)));
    assert_eq!(test.features(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(Scaling::recommended(&data), Scaling::Image { max_value: 255.0 });
}

#[test]
fn idx_folder_without_test_files_has_no_official_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_idx_dir(dir.path(), 6, false);
    assert!(load_idx_dir(dir.path()).expect("loads").official_test.is_none());
}

#[test]
fn idx_folder_missing_a_file_says_which() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_idx_dir(dir.path(), 6, true);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).expect("remove");
    let err = load_idx_dir(dir.path()).expect_err("half a test set");
    assert!(matches!(&err, Error::MissingFile { path } if path.ends_with("t10k-labels-idx1-ubyte")));
    std::fs::remove_file(dir.path().join("train-labels-idx1-ubyte.gz")).expect("remove");
    let err = load_idx_dir(dir.path()).expect_err("no train labels");
    assert!(matches!(&err, Error::MissingFile { path } if path.ends_with("train-labels-idx1-ubyte")));
    let err = load_idx_dir(dir.path().join("absent")).expect_err("no folder");
    assert!(matches!(err, Error::MissingFile { .. }));
}

#[test]
fn idx_with_wrong_magic_is_idx_magic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "x.idx", b"PK\x03\x04 not idx at all");
    let err = read_idx(&path).expect_err("bad magic");
    assert!(matches!(err.innermost(), Error::IdxMagic { .. }), "{err}");
    assert!(err.to_string().contains("x.idx"), "{err}");
}

#[test]
fn idx_with_other_element_type_or_no_dims_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "f.idx", &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    let err = read_idx(&path).expect_err("f32 idx");
    assert!(matches!(err.innermost(), Error::IdxUnsupportedType { code: 0x0d }), "{err}");
    let path = write(dir.path(), "z.idx", &[0, 0, 8, 0]);
    let err = read_idx(&path).expect_err("no dims");
    assert!(matches!(err.innermost(), Error::IdxNoDimensions), "{err}");
}

#[test]
fn truncated_idx_is_idx_truncated_and_extra_bytes_are_trailing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = idx_bytes(&[3, 2, 2], &[7; 12]);
    for cut in [2, 4, 10, 16, full.len() - 1] {
        let path = write(dir.path(), "t.idx", &full[..cut]);
        let err = read_idx(&path).expect_err("truncated");
        assert!(matches!(err.innermost(), Error::IdxTruncated { .. }), "cut {cut}: {err}");
    }
    let mut longer = full.clone();
    longer.push(0);
    let path = write(dir.path(), "t.idx", &longer);
    let err = read_idx(&path).expect_err("trailing");
    assert!(matches!(err.innermost(), Error::IdxTrailingBytes { expected: 28, found: 29 }), "{err}");
}

#[test]
fn idx_with_huge_declared_dims_is_truncated_without_allocating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "h.idx", &idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[1, 2]));
    let err = read_idx(&path).expect_err("huge");
    assert!(matches!(err.innermost(), Error::IdxTruncated { .. }), "{err}");
}

#[test]
fn idx_labels_count_and_shape_must_match_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_idx_dir(dir.path(), 6, false);
    write(dir.path(), "train-labels-idx1-ubyte.gz", &gzip(&idx_bytes(&[5], &[0; 5])));
    let err = load_idx_dir(dir.path()).expect_err("5 labels for 6 images");
    assert!(matches!(err.innermost(), Error::CountMismatch { expected: 6, found: 5, .. }), "{err}");
    write(dir.path(), "train-labels-idx1-ubyte.gz", &gzip(&idx_bytes(&[6, 1], &[0; 6])));
    let err = load_idx_dir(dir.path()).expect_err("2-D labels");
    assert!(matches!(err.innermost(), Error::IdxShape { role: "labels", .. }), "{err}");
}

// ---- Dataset, split, batches, scalers ----

#[test]
fn dataset_rejects_inconsistent_parts() {
    let values = |n| Targets::Values(vec![0.0; n]);
    assert!(matches!(Dataset::new("d", vec![], 2, values(0)), Err(Error::EmptyDataset { .. })));
    assert!(matches!(Dataset::new("d", vec![1.0; 3], 2, values(1)), Err(Error::FeatureLength { .. })));
    assert!(matches!(Dataset::new("d", vec![1.0; 4], 2, values(3)), Err(Error::TargetLength { .. })));
    assert!(matches!(
        Dataset::new("d", vec![1.0, f32::NAN], 2, values(1)),
        Err(Error::NonFiniteFeature { sample: 0, feature: 1, .. })
    ));
    let classes = Targets::Classes { labels: vec![0, 3], n_classes: 3, class_names: None };
    assert!(matches!(
        Dataset::new("d", vec![1.0; 2], 1, classes),
        Err(Error::LabelOutOfRange { sample: 1, label: 3, .. })
    ));
    let named = Targets::Classes { labels: vec![0], n_classes: 2, class_names: Some(vec!["a".into()]) };
    assert!(matches!(Dataset::new("d", vec![1.0], 1, named), Err(Error::NamesLength { .. })));
    assert!(matches!(
        Dataset::new("d", vec![1.0], 1, Targets::Values(vec![f32::INFINITY])),
        Err(Error::NonFiniteTarget { .. })
    ));
    let data = Dataset::new("d", vec![1.0; 4], 2, values(2)).expect("valid");
    assert!(matches!(data.select(&[2]), Err(Error::IndexOutOfRange { index: 2, .. })));
    assert!(matches!(data.select(&[]), Err(Error::EmptyDataset { .. })));
    assert!(matches!(data.clone().with_feature_names(vec![]), Err(Error::NamesLength { .. })));
    let wide = tapegrad_data::ImageInfo { height: 3, width: 1, max_value: 1.0 };
    assert!(matches!(data.with_image(wide), Err(Error::ImageShape { .. })));
}

#[test]
fn bad_split_fractions_are_errors() {
    let data = Dataset::new("d", vec![1.0; 4], 1, Targets::Values(vec![0.0; 4])).expect("valid");
    let loaded = || LoadedData { data: data.clone(), official_test: None };
    for (validation, test) in [(-0.1, 0.2), (0.5, 0.5), (f64::NAN, 0.1), (0.1, 1.0)] {
        let config =
            SplitConfig { validation_fraction: validation, test_fraction: test, ..SplitConfig::default() };
        assert!(matches!(loaded().split(&config), Err(Error::InvalidFraction { .. })), "{validation} {test}");
    }
    let config = SplitConfig { validation_fraction: 0.4, test_fraction: 0.4, ..SplitConfig::default() };
    assert!(matches!(loaded().split(&config), Err(Error::SplitTooSmall { n_samples: 4, .. })));
}

#[test]
fn bad_batch_sizes_are_errors() {
    for text in ["0", "-1", "ten", ""] {
        assert!(matches!(text.parse::<BatchSize>(), Err(Error::InvalidBatchSize { .. })), "{text}");
    }
    assert!(matches!(BatchSize::fixed(0), Err(Error::InvalidBatchSize { .. })));
    assert_eq!("FULL".parse::<BatchSize>().ok(), Some(BatchSize::Full));
}

#[test]
fn scalers_reject_mismatched_or_non_finite_input() {
    let train = Dataset::new("d", vec![1.0, 2.0, 3.0, 4.0], 2, Targets::Values(vec![0.0; 2])).expect("valid");
    let scaler = Standardizer::fit(&train, Scaling::PerFeature).expect("fit");
    let mut three = [1.0, 2.0, 3.0];
    assert!(matches!(scaler.transform_features(&mut three), Err(Error::FeatureCountMismatch { .. })));
    assert!(matches!(
        Standardizer::fit_features(&[1.0, f32::NAN], 2, Scaling::PerFeature),
        Err(Error::NonFiniteFeature { .. })
    ));
    assert!(matches!(
        Standardizer::fit_features(&[], 2, Scaling::PerFeature),
        Err(Error::EmptyDataset { .. })
    ));
    assert!(matches!(
        Standardizer::fit(&train, Scaling::Image { max_value: 0.0 }),
        Err(Error::InvalidScaler { name: "max_value", .. })
    ));
    assert!(matches!(Scaling::image(&train), Err(Error::NotAnImage { .. })));
    // A tiny training spread makes a huge test value overflow f32: an error, data untouched.
    let tiny = Standardizer::fit_features(&[0.0, 1e-30], 1, Scaling::PerFeature).expect("fit");
    let mut huge = [3e38f32];
    assert!(matches!(tiny.transform_features(&mut huge), Err(Error::ScaledNonFinite { .. })));
    assert_eq!(huge, [3e38]);
    assert!(matches!(TargetScaler::fit(&[]), Err(Error::EmptyDataset { .. })));
    assert!(matches!(TargetScaler::fit(&[f32::NAN]), Err(Error::NonFiniteTarget { .. })));
    assert!(matches!(TargetScaler::new(0.0, 0.0), Err(Error::InvalidScaler { name: "std", .. })));
}
