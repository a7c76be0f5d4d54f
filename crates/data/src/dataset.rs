//! The in-memory data set: a row-major feature matrix, its targets, and what is known about them.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// What is learned from the data: a class out of a fixed set, or a real value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum Task {
    /// Targets are class indices `0..n_classes`.
    Classification,
    /// Targets are real values.
    Regression,
}

impl FromStr for Task {
    type Err = String;

    /// Parses `classification` or `regression` (any case), as a command line flag gives them.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "classification" => Ok(Task::Classification),
            "regression" => Ok(Task::Regression),
            _ => Err(format!("task {text:?}: expected `classification` or `regression`")),
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        })
    }
}

/// The targets of a data set, one per sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class indices in `0..n_classes`.
    Classes {
        /// One class index per sample.
        labels: Vec<usize>,
        /// The number of classes (some may have no samples in a split).
        n_classes: usize,
        /// A name per class when the data gives them (`setosa`, or the original label `"3"`).
        class_names: Option<Vec<String>>,
    },
    /// Real-valued targets.
    Values(Vec<f32>),
}

impl Targets {
    /// The number of targets.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values(values) => values.len(),
        }
    }

    /// Whether there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The task these targets are for.
    pub fn task(&self) -> Task {
        match self {
            Targets::Classes { .. } => Task::Classification,
            Targets::Values(_) => Task::Regression,
        }
    }

    /// The number of classes, for classification targets.
    pub fn n_classes(&self) -> Option<usize> {
        match self {
            Targets::Classes { n_classes, .. } => Some(*n_classes),
            Targets::Values(_) => None,
        }
    }

    /// Samples per class (index = class), for classification targets.
    ///
    /// ```
    /// use tapegrad_data::Targets;
    /// let targets = Targets::Classes { labels: vec![0, 2, 2], n_classes: 3, class_names: None };
    /// assert_eq!(targets.class_counts(), Some(vec![1, 0, 2]));
    /// ```
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        match self {
            Targets::Classes { labels, n_classes, .. } => {
                let mut counts = vec![0; *n_classes];
                for &label in labels {
                    // Out-of-range labels cannot be in a checked data set; skipping them keeps
                    // this total on unchecked targets too.
                    if let Some(count) = counts.get_mut(label) {
                        *count += 1;
                    }
                }
                Some(counts)
            }
            Targets::Values(_) => None,
        }
    }

    /// The targets of the samples at `indices`, in that order (indices already checked).
    pub(crate) fn select_unchecked(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, n_classes, class_names } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
                class_names: class_names.clone(),
            },
            Targets::Values(values) => Targets::Values(indices.iter().map(|&i| values[i]).collect()),
        }
    }
}

/// The layout of image data: each sample is a `height x width` image stored row by row,
/// with pixel values in `0..=max_value` (255 for MNIST, 16 for digits).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ImageInfo {
    /// Rows of pixels.
    pub height: usize,
    /// Pixels per row.
    pub width: usize,
    /// The largest possible pixel value (what "scale to [0, 1]" divides by).
    pub max_value: f32,
}

/// A data set in memory: `n_samples x n_features` features, row-major `f32`, and one target
/// per sample.
///
/// The constructor checks the invariants every other function relies on: at least one sample
/// and one feature, `features.len() == n_samples * n_features`, every feature finite, one
/// target per sample, class labels below the number of classes, names of the right count.
///
/// ```
/// use tapegrad_data::{Dataset, Targets};
/// let data = Dataset::new(
///     "tiny",
///     vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
///     2,
///     Targets::Values(vec![0.5, 1.5, 2.5]),
/// )?;
/// assert_eq!((data.n_samples(), data.n_features()), (3, 2));
/// assert_eq!(data.row(1), Some(&[3.0, 4.0][..]));
/// # Ok::<(), tapegrad_data::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: String,
    features: Vec<f32>,
    n_samples: usize,
    n_features: usize,
    targets: Targets,
    feature_names: Option<Vec<String>>,
    image: Option<ImageInfo>,
}

impl Dataset {
    /// A data set from row-major `features` with `n_features` per sample and their `targets`.
    pub fn new(
        name: impl Into<String>,
        features: Vec<f32>,
        n_features: usize,
        targets: Targets,
    ) -> Result<Dataset> {
        const OP: &str = "Dataset::new";
        let n_samples = targets.len();
        if n_features == 0 || n_samples == 0 {
            return Err(Error::EmptyDataset {
                op: OP,
                n_samples: features.len().checked_div(n_features).unwrap_or(n_samples),
                n_features,
            });
        }
        if !features.len().is_multiple_of(n_features) {
            return Err(Error::FeatureLength { op: OP, len: features.len(), n_features });
        }
        if features.len() / n_features != n_samples {
            return Err(Error::TargetLength {
                op: OP,
                n_targets: n_samples,
                n_samples: features.len() / n_features,
            });
        }
        if let Some(index) = features.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteFeature {
                op: OP,
                sample: index / n_features,
                feature: index % n_features,
                value: features[index],
            });
        }
        check_targets(OP, &targets)?;
        Ok(Dataset {
            name: name.into(),
            features,
            n_samples,
            n_features,
            targets,
            feature_names: None,
            image: None,
        })
    }

    /// The same data set with a name for each feature.
    pub fn with_feature_names(mut self, names: Vec<String>) -> Result<Dataset> {
        if names.len() != self.n_features {
            return Err(Error::NamesLength {
                op: "Dataset::with_feature_names",
                what: "feature",
                expected: self.n_features,
                found: names.len(),
            });
        }
        self.feature_names = Some(names);
        Ok(self)
    }

    /// The same data set marked as images of the given shape (`height * width` must equal
    /// the number of features, `max_value` must be positive and finite).
    pub fn with_image(mut self, image: ImageInfo) -> Result<Dataset> {
        let fits = image.height.checked_mul(image.width) == Some(self.n_features);
        if !(fits && image.max_value.is_finite() && image.max_value > 0.0) {
            return Err(Error::ImageShape {
                op: "Dataset::with_image",
                height: image.height,
                width: image.width,
                max_value: image.max_value,
                n_features: self.n_features,
            });
        }
        self.image = Some(image);
        Ok(self)
    }

    /// The same data set under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Dataset {
        self.name = name.into();
        self
    }

    /// The data set's name (`iris`, a file name, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of samples (rows).
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// The number of features per sample (columns).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// All features, row-major: sample `i` is `features()[i * n_features..(i + 1) * n_features]`.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// The features of sample `index`, or `None` past the end.
    pub fn row(&self, index: usize) -> Option<&[f32]> {
        let start = index.checked_mul(self.n_features)?;
        self.features.get(start..start + self.n_features)
    }

    /// The targets, one per sample.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Classification or regression, from the targets.
    pub fn task(&self) -> Task {
        self.targets.task()
    }

    /// The number of classes, for classification data.
    pub fn n_classes(&self) -> Option<usize> {
        self.targets.n_classes()
    }

    /// A name per feature, when the data gives them.
    pub fn feature_names(&self) -> Option<&[String]> {
        self.feature_names.as_deref()
    }

    /// The image layout, when the samples are images.
    pub fn image(&self) -> Option<ImageInfo> {
        self.image
    }

    /// A new data set of the samples at `indices`, in that order (repeats allowed).
    ///
    /// An empty `indices` or one past the end is an error.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        const OP: &str = "Dataset::select";
        if indices.is_empty() {
            return Err(Error::EmptyDataset { op: OP, n_samples: 0, n_features: self.n_features });
        }
        if let Some(&index) = indices.iter().find(|&&i| i >= self.n_samples) {
            return Err(Error::IndexOutOfRange { op: OP, index, n_samples: self.n_samples });
        }
        Ok(self.select_unchecked(indices))
    }

    /// [`Dataset::select`] for indices known to be in range and non-empty.
    pub(crate) fn select_unchecked(&self, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.n_features);
        for &i in indices {
            features.extend_from_slice(&self.features[i * self.n_features..][..self.n_features]);
        }
        Dataset {
            name: self.name.clone(),
            features,
            n_samples: indices.len(),
            n_features: self.n_features,
            targets: self.targets.select_unchecked(indices),
            feature_names: self.feature_names.clone(),
            image: self.image,
        }
    }

    /// The features for in-place scaling; the crate keeps them finite.
    pub(crate) fn features_mut(&mut self) -> &mut [f32] {
        &mut self.features
    }

    /// Takes the data set apart: the row-major features and the targets, without copying.
    pub fn into_parts(self) -> (Vec<f32>, Targets) {
        (self.features, self.targets)
    }
}

/// Checks class labels and names, and that regression values are finite.
fn check_targets(op: &'static str, targets: &Targets) -> Result<()> {
    match targets {
        Targets::Classes { labels, n_classes, class_names } => {
            if let Some((sample, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= *n_classes) {
                return Err(Error::LabelOutOfRange { op, sample, label, n_classes: *n_classes });
            }
            if let Some(names) = class_names
                && names.len() != *n_classes
            {
                return Err(Error::NamesLength {
                    op,
                    what: "class",
                    expected: *n_classes,
                    found: names.len(),
                });
            }
        }
        Targets::Values(values) => {
            if let Some((sample, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFiniteTarget { op, sample, value });
            }
        }
    }
    Ok(())
}

/// A loaded data set: all its samples, or the official training part and the official test
/// part when the data set comes with one (MNIST).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedData {
    /// All samples, or the official training samples when `official_test` is set.
    pub data: Dataset,
    /// The data set's own test split, which splitting keeps as the test set.
    pub official_test: Option<Dataset>,
}
