//! Property tests: the parsers answer random and truncated bytes with an error, never a
//! panic; splits partition the data reproducibly; batches cover every sample once.

use std::io::Write;

use proptest::prelude::*;
use tapegrad_data::{
    BatchOrder, BatchSize, BatchTargets, CsvOptions, Dataset, Header, LoadedData, Scaling, Separator,
    SplitConfig, Standardizer, TargetColumn, Targets, Task, parse_csv, parse_csv_bytes, parse_idx,
};

/// An idx file's bytes: type 0x08, the given dims, then `data`.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("compressing");
    encoder.finish().expect("compressing")
}

/// A valid idx array: 1 to 3 small dims and matching bytes.
fn valid_idx() -> impl Strategy<Value = (Vec<u32>, Vec<u8>)> {
    prop::collection::vec(1u32..5, 1..4).prop_flat_map(|dims| {
        let n = dims.iter().product::<u32>() as usize;
        (Just(dims), prop::collection::vec(any::<u8>(), n))
    })
}

fn any_csv_options() -> impl Strategy<Value = CsvOptions> {
    let header = prop_oneof![Just(Header::Auto), Just(Header::Present), Just(Header::Absent)];
    let separator = prop_oneof![
        Just(Separator::Auto),
        Just(Separator::Comma),
        Just(Separator::Semicolon),
        Just(Separator::Tab),
        Just(Separator::Whitespace),
    ];
    let target =
        prop_oneof![(-4isize..4).prop_map(TargetColumn::Index), "[a-c]{1,2}".prop_map(TargetColumn::Name),];
    let task = prop_oneof![Just(Task::Classification), Just(Task::Regression)];
    (header, separator, target, task).prop_map(|(header, separator, target, task)| CsvOptions {
        header,
        separator,
        target,
        task,
    })
}

/// Text made of what CSV files are made of, so the parser goes past its first checks.
fn csv_like_text() -> impl Strategy<Value = String> {
    "[0-9a-c.,;\t \"\\-+eEnaif\r\n]{0,200}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn idx_parser_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_idx(&bytes);
    }

    #[test]
    fn idx_parser_never_panics_on_random_bytes_after_a_valid_magic(
        ndims in 0u8..5,
        rest in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut bytes = vec![0, 0, 8, ndims];
        bytes.extend(rest);
        let _ = parse_idx(&bytes);
    }

    #[test]
    fn idx_round_trips_and_every_truncation_is_an_error(
        (dims, data) in valid_idx(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = idx_bytes(&dims, &data);
        let parsed = parse_idx(&bytes).expect("valid idx");
        let dims_usize: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        prop_assert_eq!(parsed.dims(), dims_usize.as_slice());
        prop_assert_eq!(parsed.data(), data.as_slice());
        let cut = cut.index(bytes.len());
        prop_assert!(parse_idx(&bytes[..cut]).is_err());
        let compressed = gzip(&bytes);
        let unzipped = parse_idx(&compressed).expect("gzipped idx");
        prop_assert_eq!(unzipped.data(), data.as_slice());
        let cut_gz = cut.min(compressed.len() - 1);
        prop_assert!(parse_idx(&compressed[..cut_gz]).is_err());
    }

    #[test]
    fn csv_parser_never_panics_on_random_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        options in any_csv_options(),
    ) {
        let _ = parse_csv_bytes(&bytes, "fuzz", &options);
    }

    #[test]
    fn csv_parser_never_panics_on_csv_like_text(text in csv_like_text(), options in any_csv_options()) {
        let _ = parse_csv(&text, "fuzz", &options);
    }

    #[test]
    fn csv_round_trips_and_truncations_never_panic(
        rows in prop::collection::vec(prop::collection::vec(-1e6f32..1e6, 3), 1..20),
        labels in prop::collection::vec(0u8..4, 20),
        separator in prop_oneof![Just(","), Just(";"), Just("\t"), Just("  ")],
        cut in any::<prop::sample::Index>(),
    ) {
        let mut text = ["f1", "f2", "f3", "label"].join(separator);
        text.push('\n');
        for (row, label) in rows.iter().zip(&labels) {
            let fields: Vec<String> = row.iter().map(f32::to_string).chain([label.to_string()]).collect();
            text.push_str(&fields.join(separator));
            text.push_str("\r\n");
        }
        let options = CsvOptions::new(TargetColumn::Name("label".into()), Task::Classification);
        let data = parse_csv(&text, "round trip", &options).expect("valid CSV");
        let expected: Vec<f32> = rows.concat();
        prop_assert_eq!(data.features(), expected.as_slice());
        prop_assert_eq!(data.n_samples(), rows.len());
        let cut = cut.index(text.len() + 1);
        if text.is_char_boundary(cut) {
            let _ = parse_csv(&text[..cut], "truncated", &options);
        }
        let _ = parse_csv_bytes(&gzip(text.as_bytes())[..cut.min(text.len() / 2)], "gz", &options);
    }
}

/// A classification data set whose single feature is the sample's index, so any split or
/// batch can be traced back.
fn traced(n: usize, n_classes: usize) -> Dataset {
    let features = (0..n).map(|i| i as f32).collect();
    let labels = (0..n).map(|i| (i * 7 + i / 3) % n_classes).collect();
    let targets = Targets::Classes { labels, n_classes, class_names: None };
    Dataset::new("traced", features, 1, targets).expect("valid")
}

fn ids(data: &Option<Dataset>) -> Vec<usize> {
    data.iter().flat_map(|d| d.features().iter().map(|&x| x as usize)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn split_partitions_the_samples_reproducibly(
        n in 3usize..300,
        n_classes in 1usize..5,
        validation in 0.0f64..0.4,
        test in 0.0f64..0.4,
        seed in any::<u64>(),
        stratify in any::<bool>(),
    ) {
        let config = SplitConfig { validation_fraction: validation, test_fraction: test, seed, stratify };
        let loaded = || LoadedData { data: traced(n, n_classes), official_test: None };
        let Ok(splits) = loaded().split(&config) else {
            // Only when the fractions leave no training sample.
            let taken = |f: f64| if f > 0.0 { ((f * n as f64).round() as usize).max(1) } else { 0 };
            prop_assert!(taken(validation) + taken(test) >= n);
            return Ok(());
        };
        let mut all: Vec<usize> = ids(&Some(splits.train.clone()));
        let validation_ids = ids(&splits.validation);
        let test_ids = ids(&splits.test);
        prop_assert_eq!(test_ids.len(), if test > 0.0 { ((test * n as f64).round() as usize).max(1) } else { 0 });
        all.extend(&validation_ids);
        all.extend(&test_ids);
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        prop_assert_eq!(loaded().split(&config).expect("same config"), splits.clone());
        if stratify && test > 0.0 {
            // Each class's test share is within one sample of proportional.
            let test_set = splits.test.as_ref().expect("test");
            let total = traced(n, n_classes).targets().class_counts().expect("classes");
            let got = test_set.targets().class_counts().expect("classes");
            for (c, (&t, &g)) in total.iter().zip(&got).enumerate() {
                let ideal = t as f64 * test_ids.len() as f64 / n as f64;
                prop_assert!((g as f64 - ideal).abs() <= 1.0 + 1e-9, "class {} got {} ideal {}", c, g, ideal);
            }
        }
    }

    #[test]
    fn batches_cover_every_sample_once_in_full_batches_then_a_remainder(
        n in 1usize..200,
        size in prop_oneof![Just(0usize), Just(1usize), 1usize..64],
        seed in any::<u64>(),
        epoch in 0u64..5,
    ) {
        let data = traced(n, 3);
        let batch_size = if size == 0 { BatchSize::Full } else { BatchSize::fixed(size).expect("positive") };
        let per_batch = if size == 0 { n } else { size };
        let order = BatchOrder::Shuffled { seed, epoch };
        let batches: Vec<_> = data.batches(batch_size, order).collect();
        prop_assert_eq!(batches.len(), n.div_ceil(per_batch));
        let mut seen = Vec::new();
        for (k, batch) in batches.iter().enumerate() {
            let expected = if k + 1 < batches.len() { per_batch } else { n - per_batch * (batches.len() - 1) };
            prop_assert_eq!(batch.n_samples, expected);
            prop_assert_eq!(batch.targets.len(), expected);
            let ids: Vec<usize> = batch.features.iter().map(|&x| x as usize).collect();
            prop_assert_eq!(&ids, &batch.indices);
            let BatchTargets::Classes(labels) = &batch.targets else { panic!("classes") };
            let Targets::Classes { labels: all, .. } = data.targets() else { panic!("classes") };
            for (&i, &label) in batch.indices.iter().zip(labels) {
                prop_assert_eq!(all[i], label);
            }
            seen.extend(ids);
        }
        let again: Vec<usize> = data.batches(batch_size, order).flat_map(|b| b.indices).collect();
        prop_assert_eq!(&again, &seen);
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn per_feature_standardisation_gives_mean_0_and_std_1_or_leaves_constants(
        rows in prop::collection::vec((-1e3f32..1e3, -1e3f32..1e3), 2..50),
        constant in -10f32..10.0,
    ) {
        let features: Vec<f32> = rows.iter().flat_map(|&(a, b)| [a, b, constant]).collect();
        let mut data = Dataset::new("s", features, 3, Targets::Values(vec![0.0; rows.len()])).expect("valid");
        let scaler = Standardizer::fit(&data, Scaling::PerFeature).expect("fit");
        scaler.transform(&mut data).expect("transform");
        prop_assert_eq!(scaler.std()[2], 1.0);
        for j in 0..3 {
            let column: Vec<f64> = data.features().iter().skip(j).step_by(3).map(|&x| f64::from(x)).collect();
            let mean = column.iter().sum::<f64>() / column.len() as f64;
            let var = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / column.len() as f64;
            prop_assert!(mean.abs() < 1e-3, "feature {} mean {}", j, mean);
            let constant_column = scaler.std()[j] == 1.0 && var < 1e-6;
            prop_assert!(constant_column || (var - 1.0).abs() < 1e-3, "feature {} var {}", j, var);
        }
    }
}

#[test]
fn different_epochs_and_seeds_give_different_orders() {
    let data = traced(50, 2);
    let order = |seed, epoch| -> Vec<usize> {
        data.batches(BatchSize::Full, BatchOrder::Shuffled { seed, epoch }).flat_map(|b| b.indices).collect()
    };
    assert_ne!(order(1, 0), order(1, 1));
    assert_ne!(order(1, 0), order(2, 0));
    let sequential: Vec<usize> =
        data.batches(BatchSize::Full, BatchOrder::Sequential).flat_map(|b| b.indices).collect();
    assert_eq!(sequential, (0..50).collect::<Vec<_>>());
}

#[test]
fn global_image_scaling_uses_one_mean_and_std() {
    let features = vec![0.0, 255.0, 0.0, 255.0];
    let data = Dataset::new("img", features, 2, Targets::Values(vec![0.0; 2]))
        .and_then(|d| d.with_image(tapegrad_data::ImageInfo { height: 1, width: 2, max_value: 255.0 }))
        .expect("valid");
    let scaler = Standardizer::fit(&data, Scaling::recommended(&data)).expect("fit");
    assert_eq!(scaler.image_mean_std(), Some((0.5, 0.5)));
    let mut scaled = data.clone();
    scaler.transform(&mut scaled).expect("transform");
    assert_eq!(scaled.features(), &[-1.0, 1.0, -1.0, 1.0]);
}

#[cfg(feature = "serde")]
#[test]
fn fitted_scalers_round_trip_through_json_and_bad_ones_are_refused() {
    let scaler = Standardizer::fit_features(&[1.0, 2.0, 3.0, 5.0], 2, Scaling::PerFeature).expect("fit");
    let json = serde_json::to_string(&scaler).expect("serialise");
    let back: Standardizer = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, scaler);
    let bad = r#"{"scaling":"per_feature","mean":[0.0],"std":[0.0]}"#;
    assert!(serde_json::from_str::<Standardizer>(bad).is_err());
    let targets = tapegrad_data::TargetScaler::fit(&[1.0, 3.0]).expect("fit");
    let json = serde_json::to_string(&targets).expect("serialise");
    assert_eq!(serde_json::from_str::<tapegrad_data::TargetScaler>(&json).expect("back"), targets);
    assert!(serde_json::from_str::<tapegrad_data::TargetScaler>(r#"{"mean":0,"std":-1}"#).is_err());
}
