//! The data sets shipped in the repository's `data/` folder, loaded by name, and a user's own
//! file or idx folder loaded the same way.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::bytes::read_maybe_gz;
use crate::csv::{CsvOptions, Header, Separator, TargetColumn, load_csv, parse_table, utf8};
use crate::dataset::{Dataset, ImageInfo, LoadedData, Targets, Task};
use crate::error::{Error, Result};
use crate::idx::load_idx_dir;

/// The environment variable naming the data folder when no path is given.
pub const DATA_DIR_ENV: &str = "TAPEGRAD_DATA";

/// The data folder: `explicit` when given, else the `TAPEGRAD_DATA` environment variable when
/// set and non-empty, else the repository's `data/` folder (found from this crate's source
/// location at compile time).
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")),
    }
}

/// A data set shipped with tapegrad (see `data/README.md` for sources and licences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Shipped {
    /// MNIST handwritten digits: 60,000 training and 10,000 official test images, 28x28, 10 classes.
    Mnist,
    /// scikit-learn's 8x8 digits: 1,797 images with pixels 0..=16, 10 classes.
    Digits,
    /// Fisher's iris: 150 x 4, 3 classes.
    Iris,
    /// Wisconsin diagnostic breast cancer: 569 x 30, 2 classes (malignant, benign).
    BreastCancer,
    /// UCI wine: 178 x 13, 3 classes.
    Wine,
    /// Diabetes (Efron et al. 2004): 442 x 10 raw features, disease progression to regress.
    Diabetes,
    /// Red wine quality (Cortez et al. 2009): 1,599 x 11, quality score 3..=8 to regress.
    WineQuality,
}

impl Shipped {
    /// Every shipped data set.
    pub const ALL: [Shipped; 7] = [
        Shipped::Mnist,
        Shipped::Digits,
        Shipped::Iris,
        Shipped::BreastCancer,
        Shipped::Wine,
        Shipped::Diabetes,
        Shipped::WineQuality,
    ];

    /// The name a user types (`breast-cancer`).
    pub fn name(self) -> &'static str {
        match self {
            Shipped::Mnist => "mnist",
            Shipped::Digits => "digits",
            Shipped::Iris => "iris",
            Shipped::BreastCancer => "breast-cancer",
            Shipped::Wine => "wine",
            Shipped::Diabetes => "diabetes",
            Shipped::WineQuality => "wine-quality",
        }
    }

    /// The task the data set is loaded for.
    pub fn task(self) -> Task {
        match self {
            Shipped::Diabetes | Shipped::WineQuality => Task::Regression,
            _ => Task::Classification,
        }
    }

    /// The files it is read from, relative to the data folder.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Shipped::Mnist => &[
                "mnist/train-images-idx3-ubyte.gz",
                "mnist/train-labels-idx1-ubyte.gz",
                "mnist/t10k-images-idx3-ubyte.gz",
                "mnist/t10k-labels-idx1-ubyte.gz",
            ],
            Shipped::Digits => &["sklearn/digits.csv.gz"],
            Shipped::Iris => &["sklearn/iris.csv"],
            Shipped::BreastCancer => &["sklearn/breast_cancer.csv"],
            Shipped::Wine => &["sklearn/wine_data.csv"],
            Shipped::Diabetes => &["sklearn/diabetes_data_raw.csv.gz", "sklearn/diabetes_target.csv.gz"],
            Shipped::WineQuality => &["winequality/winequality-red.csv.gz"],
        }
    }

    /// Loads the data set from the data folder `data_dir` (see [`data_dir`]).
    ///
    /// MNIST comes with its official test set in [`LoadedData::official_test`]; the others
    /// have none, so [`LoadedData::split`] draws their test set.
    pub fn load(self, data_dir: &Path) -> Result<LoadedData> {
        let path = |index: usize| data_dir.join(self.files()[index]);
        let data = match self {
            Shipped::Mnist => {
                let loaded = load_idx_dir(data_dir.join("mnist"))?;
                return Ok(LoadedData {
                    data: loaded.data.with_name(self.name()),
                    official_test: loaded.official_test.map(|t| t.with_name(self.name())),
                });
            }
            Shipped::Digits => load_digits(&path(0))?,
            Shipped::Iris => load_sklearn_csv(&path(0), self.name(), iris_feature_names())?,
            Shipped::BreastCancer => load_sklearn_csv(&path(0), self.name(), breast_cancer_feature_names())?,
            Shipped::Wine => load_sklearn_csv(&path(0), self.name(), wine_feature_names())?,
            Shipped::Diabetes => load_diabetes(&path(0), &path(1))?,
            Shipped::WineQuality => {
                let options = CsvOptions {
                    header: Header::Present,
                    separator: Separator::Comma,
                    target: TargetColumn::Name("quality".to_string()),
                    task: Task::Regression,
                };
                load_csv(path(0), &options)?.with_name(self.name())
            }
        };
        Ok(LoadedData { data, official_test: None })
    }
}

impl FromStr for Shipped {
    type Err = Error;

    /// Parses a shipped set's name; case and `_` versus `-` do not matter.
    fn from_str(name: &str) -> Result<Shipped> {
        let normal = name.trim().to_ascii_lowercase().replace('_', "-");
        let normal = match normal.as_str() {
            "winequality" | "winequality-red" | "red-wine-quality" => "wine-quality",
            other => other,
        };
        Shipped::ALL.into_iter().find(|set| set.name() == normal).ok_or_else(|| Error::UnknownDataset {
            name: name.to_string(),
            known: Shipped::ALL.map(Shipped::name).join(", "),
        })
    }
}

impl fmt::Display for Shipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Loads a shipped data set by name from [`data_dir`]`(data_dir)`.
///
/// ```
/// let iris = tapegrad_data::load_shipped("iris", None)?;
/// assert_eq!((iris.data.n_samples(), iris.data.n_features()), (150, 4));
/// assert_eq!(iris.data.n_classes(), Some(3));
/// # Ok::<(), tapegrad_data::Error>(())
/// ```
pub fn load_shipped(name: &str, data_dir: Option<&Path>) -> Result<LoadedData> {
    let set: Shipped = name.parse()?;
    set.load(&self::data_dir(data_dir))
}

/// Loads a user's data the way a shipped set is loaded: a folder is read as an MNIST-style
/// idx folder (see [`load_idx_dir`]; `options` do not apply), a file as CSV with `options`.
pub fn load_path(path: impl AsRef<Path>, options: &CsvOptions) -> Result<LoadedData> {
    let path = path.as_ref();
    if path.is_dir() {
        return load_idx_dir(path);
    }
    Ok(LoadedData { data: load_csv(path, options)?, official_test: None })
}

/// Reads a text file, gzip-compressed or not.
fn read_text(path: &Path) -> Result<String> {
    let bytes = read_maybe_gz(path)?;
    utf8(&bytes).map(str::to_string).map_err(|e| e.in_file(path))
}

/// Loads a scikit-learn CSV whose first line is `n_samples,n_features,class names...` and
/// whose rows end with the class index.
fn load_sklearn_csv(path: &Path, name: &str, feature_names: Vec<String>) -> Result<Dataset> {
    let text = read_text(path)?;
    parse_sklearn_csv(&text, name, feature_names).map_err(|e| e.in_file(path))
}

/// [`load_sklearn_csv`] on text.
fn parse_sklearn_csv(text: &str, name: &str, feature_names: Vec<String>) -> Result<Dataset> {
    let first = text.lines().next().ok_or(Error::EmptyFile)?;
    let fields: Vec<&str> = first.split(',').map(str::trim).collect();
    let declared = match fields.as_slice() {
        [n_samples, n_features, class_names @ ..] if !class_names.is_empty() => n_samples
            .parse::<usize>()
            .ok()
            .zip(n_features.parse::<usize>().ok())
            .map(|(s, f)| (s, f, class_names)),
        _ => None,
    };
    let Some((n_samples, n_features, class_names)) = declared else {
        return Err(Error::SklearnHeader { found: first.to_string() });
    };
    let table = parse_table(text, 1, Header::Absent, Separator::Comma)?;
    check_count("columns (features and label)", n_features + 1, table.n_columns)?;
    check_count("rows", n_samples, table.n_rows())?;
    let target = table.n_columns - 1;
    let (features, n_features) = table.features(Some(target))?;
    let labels = table.class_indices(target, class_names.len())?;
    let targets = Targets::Classes {
        labels,
        n_classes: class_names.len(),
        class_names: Some(class_names.iter().map(|c| c.to_string()).collect()),
    };
    Dataset::new(name, features, n_features, targets)?.with_feature_names(feature_names)
}

/// Loads scikit-learn's digits: 64 pixel columns (8x8, values 0..=16) and the digit, no header.
fn load_digits(path: &Path) -> Result<Dataset> {
    const SIDE: usize = 8;
    const N_CLASSES: usize = 10;
    let text = read_text(path)?;
    let parse = || {
        let table = parse_table(&text, 0, Header::Absent, Separator::Comma)?;
        check_count("columns (64 pixels and label)", SIDE * SIDE + 1, table.n_columns)?;
        let target = table.n_columns - 1;
        let (features, n_features) = table.features(Some(target))?;
        let targets = Targets::Classes {
            labels: table.class_indices(target, N_CLASSES)?,
            n_classes: N_CLASSES,
            class_names: Some((0..N_CLASSES).map(|c| c.to_string()).collect()),
        };
        let names =
            (0..SIDE).flat_map(|row| (0..SIDE).map(move |col| format!("pixel_{row}_{col}"))).collect();
        Dataset::new(Shipped::Digits.name(), features, n_features, targets)?
            .with_feature_names(names)?
            .with_image(ImageInfo { height: SIDE, width: SIDE, max_value: 16.0 })
    };
    parse().map_err(|e| e.in_file(path))
}

/// Loads diabetes: 10 whitespace-separated raw features per line, and the target from its
/// own file, one value per line.
fn load_diabetes(data_path: &Path, target_path: &Path) -> Result<Dataset> {
    const NAMES: [&str; 10] = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"];
    let data_text = read_text(data_path)?;
    let target_text = read_text(target_path)?;
    let table = parse_table(&data_text, 0, Header::Absent, Separator::Whitespace)
        .and_then(|table| {
            check_count("columns", NAMES.len(), table.n_columns)?;
            Ok(table)
        })
        .map_err(|e| e.in_file(data_path))?;
    let (features, n_features) = table.features(None).map_err(|e| e.in_file(data_path))?;
    let values = parse_table(&target_text, 0, Header::Absent, Separator::Whitespace)
        .and_then(|targets| {
            check_count("columns", 1, targets.n_columns)?;
            check_count("target rows (one per data row)", table.n_rows(), targets.n_rows())?;
            Ok(targets.regression_column(0))
        })
        .map_err(|e| e.in_file(target_path))?;
    Dataset::new(Shipped::Diabetes.name(), features, n_features, Targets::Values(values))?
        .with_feature_names(NAMES.map(String::from).to_vec())
}

/// An error unless `found == expected`.
fn check_count(what: &'static str, expected: usize, found: usize) -> Result<()> {
    if found == expected { Ok(()) } else { Err(Error::CountMismatch { what, expected, found }) }
}

/// scikit-learn's `feature_names` for iris.
fn iris_feature_names() -> Vec<String> {
    ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
        .map(String::from)
        .to_vec()
}

/// scikit-learn's `feature_names` for wine.
fn wine_feature_names() -> Vec<String> {
    [
        "alcohol",
        "malic_acid",
        "ash",
        "alcalinity_of_ash",
        "magnesium",
        "total_phenols",
        "flavanoids",
        "nonflavanoid_phenols",
        "proanthocyanins",
        "color_intensity",
        "hue",
        "od280/od315_of_diluted_wines",
        "proline",
    ]
    .map(String::from)
    .to_vec()
}

/// scikit-learn's `feature_names` for breast cancer: ten measurements, each as a mean, a
/// standard error and a worst value, in that order.
fn breast_cancer_feature_names() -> Vec<String> {
    const MEASURES: [&str; 10] = [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    ];
    let means = MEASURES.iter().map(|m| format!("mean {m}"));
    let errors = MEASURES.iter().map(|m| format!("{m} error"));
    let worsts = MEASURES.iter().map(|m| format!("worst {m}"));
    means.chain(errors).chain(worsts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sklearn_first_line_must_declare_counts_and_classes() {
        for bad in ["", "150,4\n1,2", "a,4,x\n1,2", "150,four,x\n1,2"] {
            let err = parse_sklearn_csv(bad, "bad", vec![]).unwrap_err();
            assert!(matches!(err, Error::SklearnHeader { .. } | Error::EmptyFile), "{bad:?}: {err}");
        }
    }

    #[test]
    fn sklearn_counts_must_match_the_first_line() {
        let err = parse_sklearn_csv("3,1,a,b\n1,0\n2,1\n", "x", vec!["f".into()]).unwrap_err();
        assert!(matches!(err, Error::CountMismatch { what: "rows", expected: 3, found: 2 }));
        let err = parse_sklearn_csv("1,2,a,b\n1,0\n", "x", vec![]).unwrap_err();
        assert!(matches!(err, Error::CountMismatch { expected: 3, found: 2, .. }));
    }

    #[test]
    fn sklearn_labels_must_name_a_declared_class() {
        let err = parse_sklearn_csv("2,1,a,b\n1,0\n2,2\n", "x", vec!["f".into()]).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { sample: 1, label: 2, n_classes: 2, .. }));
    }

    #[test]
    fn names_parse_loosely_and_unknown_names_list_the_known_ones() {
        assert_eq!("Breast_Cancer".parse::<Shipped>().ok(), Some(Shipped::BreastCancer));
        assert_eq!("winequality".parse::<Shipped>().ok(), Some(Shipped::WineQuality));
        let err = "cifar".parse::<Shipped>().unwrap_err();
        assert!(matches!(err, Error::UnknownDataset { .. }));
        assert!(err.to_string().contains("mnist, digits, iris"), "{err}");
    }

    #[test]
    fn explicit_data_dir_wins() {
        assert_eq!(data_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}
