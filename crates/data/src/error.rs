//! The one error type of the crate: every way a data file, a name or a parameter can be wrong.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while loading, checking, splitting, scaling or batching data.
///
/// Line and column numbers are 1-based, as an editor shows them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder the loader needs does not exist.
    #[error("data file {} not found", path.display())]
    MissingFile {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// Reading a file failed for a reason other than its absence.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Bytes that start like gzip could not be decompressed.
    #[error("decompressing gzip data: {source}")]
    Gzip {
        /// What the decompressor said.
        source: std::io::Error,
    },
    /// An error inside a given file; the message leads with the path.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file the error is in.
        path: PathBuf,
        /// The error itself.
        error: Box<Error>,
    },

    /// The first four bytes are not an idx magic number `00 00 <type> <ndims>`.
    #[error("idx: bad magic number {found:02x?}: expected two zero bytes, a type code and a dimension count")]
    IdxMagic {
        /// The first bytes of the input (fewer than four when the input is that short).
        found: Vec<u8>,
    },
    /// The idx type code is not `0x08` (unsigned bytes), the only one MNIST-style data uses.
    #[error("idx: element type code 0x{code:02x} is not supported (only 0x08, unsigned bytes)")]
    IdxUnsupportedType {
        /// The type code found in the magic number.
        code: u8,
    },
    /// The idx magic number declares zero dimensions.
    #[error("idx: the magic number declares 0 dimensions; at least 1 is needed")]
    IdxNoDimensions,
    /// The idx input ends before the header or data it declares.
    #[error("idx: truncated: the header declares {expected} bytes in total, the input has {found}")]
    IdxTruncated {
        /// Bytes the header declares (header included).
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The idx input has bytes after the data its header declares.
    #[error("idx: {found} bytes, but the header declares {expected}: trailing bytes")]
    IdxTrailingBytes {
        /// Bytes the header declares (header included).
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// An idx file has the wrong number of dimensions for its role (images or labels).
    #[error("idx: {role} must have {expected} dimensions, found dims {dims:?}")]
    IdxShape {
        /// What the file is used as ("images" or "labels").
        role: &'static str,
        /// The accepted dimension counts, in words.
        expected: &'static str,
        /// The dimensions found.
        dims: Vec<usize>,
    },

    /// The input is not valid UTF-8 text.
    #[error("line {line}: the text is not valid UTF-8")]
    NotUtf8 {
        /// The line holding the first invalid byte.
        line: usize,
    },
    /// The input has no data rows: it is empty, blank, or only a header.
    #[error("no data rows: the input is empty or holds only a header")]
    EmptyFile,
    /// A row has a different number of fields from the first row (or the header).
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// The offending line.
        line: usize,
        /// Fields in the header or first row.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A field is not a number.
    #[error("line {line}, column {column}: {field:?} is not a number")]
    NotANumber {
        /// The offending line.
        line: usize,
        /// The offending column.
        column: usize,
        /// The field's text.
        field: String,
    },
    /// A field is NaN, infinite, or too large for `f32`.
    #[error("line {line}, column {column}: {field:?} is not a finite f32 number (NaN, inf or out of range)")]
    NonFinite {
        /// The offending line.
        line: usize,
        /// The offending column.
        column: usize,
        /// The field's text.
        field: String,
    },
    /// The chosen target column does not exist.
    #[error("target column {target} not found: the data has {n_columns} columns {names:?}")]
    UnknownTargetColumn {
        /// The target as given (a name or an index).
        target: String,
        /// Columns in the data.
        n_columns: usize,
        /// Column names from the header (empty without one).
        names: Vec<String>,
    },
    /// A target column was chosen by name, but the data has no header line to find it in.
    #[error("target column {name:?} chosen by name, but the data has no header line: choose it by index")]
    TargetNameWithoutHeader {
        /// The name asked for.
        name: String,
    },
    /// After removing the target column, no feature columns are left.
    #[error("the data has only {n_columns} column(s) and the target takes one: no features left")]
    NoFeatures {
        /// Columns in the data.
        n_columns: usize,
    },
    /// A class label is not an integer (or too large to be one exactly).
    #[error("line {line}: class label {value} is not an integer (classification needs labels 0, 1, 2, ...)")]
    NonIntegerLabel {
        /// The offending line (0 when the labels did not come from a text file).
        line: usize,
        /// The label as read.
        value: f64,
    },
    /// A class label is negative.
    #[error("line {line}: class label {value} is negative (classification needs labels 0, 1, 2, ...)")]
    NegativeLabel {
        /// The offending line.
        line: usize,
        /// The label as read.
        value: f64,
    },
    /// A scikit-learn style first line `n_samples,n_features,class names...` is malformed.
    #[error("line 1: expected `n_samples,n_features,class names...`, found {found:?}")]
    SklearnHeader {
        /// The line as found.
        found: String,
    },
    /// A file's row count or column count differs from what its header or companion file says.
    #[error("{what}: expected {expected}, found {found}")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// The count declared.
        expected: usize,
        /// The count found.
        found: usize,
    },

    /// A data set name is not one of the shipped sets.
    #[error("unknown data set {name:?}: the shipped sets are {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// A data set would have no samples.
    #[error("{op}: a data set needs at least one sample and one feature, got {n_samples} x {n_features}")]
    EmptyDataset {
        /// The operation that would build it.
        op: &'static str,
        /// Samples asked for.
        n_samples: usize,
        /// Features asked for.
        n_features: usize,
    },
    /// A feature buffer's length is not `n_samples * n_features`, or does not divide by `n_features`.
    #[error("{op}: {len} feature values do not fill rows of {n_features} features")]
    FeatureLength {
        /// The operation.
        op: &'static str,
        /// Values given.
        len: usize,
        /// Features per sample.
        n_features: usize,
    },
    /// The number of targets differs from the number of samples.
    #[error("{op}: {n_targets} targets for {n_samples} samples")]
    TargetLength {
        /// The operation.
        op: &'static str,
        /// Targets given.
        n_targets: usize,
        /// Samples given.
        n_samples: usize,
    },
    /// A feature value is NaN or infinite.
    #[error("{op}: feature value {value} at sample {sample}, feature {feature} is not finite")]
    NonFiniteFeature {
        /// The operation.
        op: &'static str,
        /// Sample (row) index, 0-based.
        sample: usize,
        /// Feature (column) index, 0-based.
        feature: usize,
        /// The value.
        value: f32,
    },
    /// A regression target is NaN or infinite.
    #[error("{op}: target value {value} at sample {sample} is not finite")]
    NonFiniteTarget {
        /// The operation.
        op: &'static str,
        /// Sample index, 0-based.
        sample: usize,
        /// The value.
        value: f32,
    },
    /// A class index is not below the number of classes.
    #[error("{op}: class {label} at sample {sample} is out of range for {n_classes} classes")]
    LabelOutOfRange {
        /// The operation.
        op: &'static str,
        /// Sample index, 0-based.
        sample: usize,
        /// The class index.
        label: usize,
        /// The number of classes.
        n_classes: usize,
    },
    /// A list of names (features or classes) has the wrong length.
    #[error("{op}: {found} {what} names for {expected} {what}")]
    NamesLength {
        /// The operation.
        op: &'static str,
        /// "feature" or "class".
        what: &'static str,
        /// The count the data has.
        expected: usize,
        /// Names given.
        found: usize,
    },
    /// Image dimensions do not multiply to the number of features, or the pixel maximum is not positive.
    #[error("{op}: a {height}x{width} image with maximum {max_value} does not fit {n_features} features")]
    ImageShape {
        /// The operation.
        op: &'static str,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
        /// Declared maximum pixel value.
        max_value: f32,
        /// Features per sample.
        n_features: usize,
    },
    /// A sample index is out of range.
    #[error("{op}: sample index {index} is out of range for {n_samples} samples")]
    IndexOutOfRange {
        /// The operation.
        op: &'static str,
        /// The index.
        index: usize,
        /// Samples in the data set.
        n_samples: usize,
    },

    /// A split fraction is not a finite number in `[0, 1)`, or the fractions add up to 1 or more.
    #[error(
        "split: validation fraction {validation} and test fraction {test} must each be in [0, 1) and sum to less than 1"
    )]
    InvalidFraction {
        /// Validation fraction given.
        validation: f64,
        /// Test fraction given.
        test: f64,
    },
    /// The split would leave the training set empty.
    #[error(
        "split: {n_samples} samples leave no training samples after {n_validation} validation and {n_test} test"
    )]
    SplitTooSmall {
        /// Samples available.
        n_samples: usize,
        /// Validation samples taken.
        n_validation: usize,
        /// Test samples taken.
        n_test: usize,
    },

    /// A batch size is zero or not a number / `full`.
    #[error("batch size {given:?}: expected a positive integer or `full`")]
    InvalidBatchSize {
        /// The batch size as given.
        given: String,
    },

    /// Data to scale has a different number of features from the data the scaler was fitted on.
    #[error("{op}: the scaler was fitted on {expected} features, the data has {found}")]
    FeatureCountMismatch {
        /// The operation.
        op: &'static str,
        /// Features at fit time.
        expected: usize,
        /// Features now.
        found: usize,
    },
    /// A scaler's parameters are unusable: a non-finite mean, a non-positive or non-finite
    /// standard deviation or scale, or no values to fit on.
    #[error("{op}: invalid scaler parameter {name} = {value}")]
    InvalidScaler {
        /// The operation.
        op: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// Scaling produced a value outside the `f32` range.
    #[error("{op}: scaling value {value} at sample {sample}, feature {feature} overflows f32")]
    ScaledNonFinite {
        /// The operation.
        op: &'static str,
        /// Sample index, 0-based.
        sample: usize,
        /// Feature index, 0-based.
        feature: usize,
        /// The value before scaling.
        value: f32,
    },
    /// A scaling method that needs images was used on data without image information.
    #[error("{op}: data set {name:?} has no image shape, so image scaling does not apply")]
    NotAnImage {
        /// The operation.
        op: &'static str,
        /// The data set's name.
        name: String,
    },
}

impl Error {
    /// The error inside any [`Error::InFile`] wrappers: what went wrong, without where.
    ///
    /// ```
    /// use tapegrad_data::Error;
    /// let err = Error::InFile { path: "x.csv".into(), error: Box::new(Error::EmptyFile) };
    /// assert!(matches!(err.innermost(), Error::EmptyFile));
    /// ```
    pub fn innermost(&self) -> &Error {
        let mut err = self;
        while let Error::InFile { error, .. } = err {
            err = error;
        }
        err
    }

    /// Wraps `self` with the file it happened in (no double wrapping for the same file).
    pub(crate) fn in_file(self, path: &std::path::Path) -> Error {
        match self {
            // Errors that already name their path need no second mention.
            Error::MissingFile { .. } | Error::Io { .. } | Error::InFile { .. } => self,
            other => Error::InFile { path: path.to_path_buf(), error: Box::new(other) },
        }
    }
}
