//! Every shipped data set loads from the repository's `data/` folder with its documented
//! shape, classes and quirks.

use tapegrad_data::{
    BatchOrder, BatchSize, Dataset, LoadedData, Scaling, Shipped, SplitConfig, Standardizer, Targets, Task,
    load_shipped,
};

/// Loads a shipped set from the repository's data folder.
#[track_caller]
fn load(name: &str) -> LoadedData {
    match load_shipped(name, None) {
        Ok(loaded) => loaded,
        Err(err) => panic!("loading {name}: {err}"),
    }
}

/// Checks a loaded set without an official test split: its shape and class counts.
#[track_caller]
fn check(name: &str, n_samples: usize, n_features: usize, class_counts: Option<&[usize]>) {
    let loaded = load(name);
    assert!(loaded.official_test.is_none(), "{name} has no official test split");
    let data = &loaded.data;
    assert_eq!(data.name(), name);
    assert_eq!((data.n_samples(), data.n_features()), (n_samples, n_features), "{name}");
    assert_eq!(data.features().len(), n_samples * n_features);
    assert_eq!(data.targets().class_counts().as_deref(), class_counts, "{name}");
    let names = data.feature_names().expect("shipped sets name their features");
    assert_eq!(names.len(), n_features, "{name}");
}

#[test]
fn digits_is_1797_images_of_8x8_in_10_classes() {
    check("digits", 1797, 64, Some(&[178, 182, 177, 183, 181, 182, 181, 179, 174, 180]));
    let data = load("digits").data;
    let image = data.image().expect("digits are images");
    assert_eq!((image.height, image.width, image.max_value), (8, 8, 16.0));
    assert!(data.features().iter().all(|&x| (0.0..=16.0).contains(&x)));
}

#[test]
fn iris_is_150_by_4_in_3_named_classes() {
    check("iris", 150, 4, Some(&[50, 50, 50]));
    let data = load("iris").data;
    let Targets::Classes { class_names, .. } = data.targets() else {
        panic!("iris is classification");
    };
    let expected = ["setosa", "versicolor", "virginica"].map(String::from);
    assert_eq!(class_names.as_deref(), Some(&expected[..]));
    // The first row of Fisher's data: 5.1, 3.5, 1.4, 0.2, setosa.
    assert_eq!(data.row(0), Some(&[5.1, 3.5, 1.4, 0.2][..]));
}

#[test]
fn breast_cancer_is_569_by_30_with_212_malignant() {
    check("breast-cancer", 569, 30, Some(&[212, 357]));
    let data = load("breast-cancer").data;
    let names = data.feature_names().expect("named features");
    assert_eq!(names[0], "mean radius");
    assert_eq!(names[10], "radius error");
    assert_eq!(names[29], "worst fractal dimension");
}

#[test]
fn wine_is_178_by_13_in_3_classes() {
    check("wine", 178, 13, Some(&[59, 71, 48]));
}

#[test]
fn diabetes_is_442_by_10_raw_with_targets_25_to_346() {
    check("diabetes", 442, 10, None);
    let data = load("diabetes").data;
    assert_eq!(data.task(), Task::Regression);
    let Targets::Values(values) = data.targets() else {
        panic!("diabetes is regression");
    };
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert_eq!((min, max), (25.0, 346.0));
    // Raw, unscaled: the first patient is 59 years old, sex 2, BMI 32.1.
    assert_eq!(&data.row(0).expect("row 0")[..3], &[59.0, 2.0, 32.1]);
    assert_eq!(values[0], 151.0);
}

#[test]
fn wine_quality_is_1599_by_11_regression_on_quality() {
    check("wine-quality", 1599, 11, None);
    let data = load("wine-quality").data;
    let names = data.feature_names().expect("header names");
    assert_eq!(names[0], "fixed acidity");
    assert_eq!(names[10], "alcohol");
    let Targets::Values(values) = data.targets() else {
        panic!("wine quality is regression");
    };
    assert!(values.iter().all(|&q| (3.0..=8.0).contains(&q) && q.fract() == 0.0));
}

#[test]
fn every_name_in_all_is_loadable_by_its_display_name() {
    for set in Shipped::ALL {
        assert_eq!(set.to_string().parse::<Shipped>().ok(), Some(set));
        assert_eq!(set.task() == Task::Regression, matches!(set, Shipped::Diabetes | Shipped::WineQuality));
    }
}

/// MNIST is ~11 MB compressed, so this one test loads it once and checks everything
/// that needs it.
#[test]
fn mnist_loads_60000_plus_10000_images_and_scales_globally() {
    let loaded = load("mnist");
    let train = &loaded.data;
    let test = loaded.official_test.as_ref().expect("MNIST has an official test set");
    assert_eq!((train.n_samples(), train.n_features()), (60_000, 784));
    assert_eq!((test.n_samples(), test.n_features()), (10_000, 784));
    assert_eq!((train.name(), test.name()), ("mnist", "mnist"));
    assert_eq!(
        train.targets().class_counts(),
        Some(vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    );
    assert_eq!(
        test.targets().class_counts(),
        Some(vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    );
    let image = train.image().expect("MNIST is images");
    assert_eq!((image.height, image.width, image.max_value), (28, 28, 255.0));

    // The well-known normalisation constants: mean 0.1307, std 0.3081 of pixels in [0, 1].
    let scaling = Scaling::recommended(train);
    assert_eq!(scaling, Scaling::Image { max_value: 255.0 });
    let scaler = Standardizer::fit(train, scaling).expect("fit");
    let (mean, std) = scaler.image_mean_std().expect("image scaling");
    assert!((mean - 0.1307).abs() < 1e-4 && (std - 0.3081).abs() < 1e-4, "{mean} {std}");

    // The split keeps the official test set and draws validation from the training images.
    let config = SplitConfig {
        validation_fraction: 1.0 / 12.0,
        test_fraction: 0.5, // ignored: MNIST has its own test set
        seed: 3,
        stratify: true,
    };
    let mut splits = loaded.split(&config).expect("split");
    let validation = splits.validation.as_ref().expect("validation");
    assert_eq!((splits.train.n_samples(), validation.n_samples()), (55_000, 5_000));
    assert_eq!(splits.test.as_ref().map(Dataset::n_samples), Some(10_000));

    scaler.transform(&mut splits.train).expect("transform");
    let pixels = splits.train.features();
    let n = pixels.len() as f64;
    let scaled_mean = pixels.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    assert!(scaled_mean.abs() < 0.01, "{scaled_mean}");

    let batches = splits
        .train
        .batches(BatchSize::fixed(128).expect("size"), BatchOrder::Shuffled { seed: 3, epoch: 0 });
    assert_eq!(batches.len(), 430); // 55000 / 128 = 429.7
    let last = batches.last().expect("a last batch");
    assert_eq!(last.n_samples, 55_000 - 429 * 128);
}
