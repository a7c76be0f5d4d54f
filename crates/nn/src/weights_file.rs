//! Weight files in the safetensors format: a low-level, tensor-engine-independent save/load of named
//! `f32` / `f64` / `i64` arrays, with atomic writes, precise load errors and a name/shape/dtype check.
//!
//! # Format
//! [safetensors](https://github.com/huggingface/safetensors): 8 bytes little-endian header length
//! `n`, `n` bytes of JSON header (`{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets":
//! [begin, end]}, …, "__metadata__": {"key": "value"}}`), then the raw little-endian, row-major
//! data. Files written here load in Python with `safetensors.numpy.load_file` /
//! `safetensors.torch.load_file`, and files written there load here (tested both ways with files
//! in `tests/data/`, made by `scripts/gen_safetensors_interop.py`). Writing goes through the
//! `safetensors` crate; reading validates the header itself first so that each kind of damage gets
//! its own [`WeightsError`] variant naming the tensor and the numbers that disagree, then hands the
//! bytes to the crate.
//!
//! Only `F32`, `F64` and `I64` tensors are read (`I64` for integer state such as batch norm's
//! `num_batches_tracked`, an int64 in PyTorch's state dict); other dtypes (`F16`, `BF16`, `I32`,
//! `U8`, …) are reported as [`WeightsError::UnsupportedDtype`] rather than converted silently.
//!
//! # Order
//! The safetensors writer orders tensors by dtype and then name, so the order of the slice given to
//! [`save`] is not kept. [`load`] returns tensors in file order (by data offset): match them by
//! name, as [`check_against`] does.
//!
//! # Atomic writes
//! [`save`] writes the whole file to a new temporary file in the target's folder, flushes and
//! `fsync`s it, then renames it over the target (and, on Unix, `fsync`s the folder so the rename
//! itself survives a power cut). A crash or error at any point leaves either the old file or the
//! new one, never a mixture; on error the temporary file is removed. The new file gets default
//! permissions, not the old file's.
//!
//! ```
//! use nn::weights_file::{self, Dtype, NamedTensor, TensorData, TensorSpec};
//! let dir = std::env::temp_dir().join(format!("nn-weights-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("model.safetensors");
//! let weight = NamedTensor::new("linear.weight", vec![2, 2], TensorData::F32(vec![1.0, 2.0, 3.0, 4.0]))?;
//! let bias = NamedTensor::new("linear.bias", vec![2], TensorData::F32(vec![0.5, -0.5]))?;
//! weights_file::save(&path, &[weight.clone(), bias])?;
//!
//! let loaded = weights_file::load(&path)?;
//! assert!(loaded.contains(&weight));
//! weights_file::check_against(
//!     &loaded,
//!     &[TensorSpec::new("linear.weight", vec![2, 2], Dtype::F32), TensorSpec::new("linear.bias", vec![2], Dtype::F32)],
//! )?;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), nn::weights_file::WeightsError>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::SafeTensorError;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;
use thiserror::Error;

/// Key of the optional string-to-string metadata map in a safetensors header.
pub const METADATA_KEY: &str = "__metadata__";

/// Largest header accepted, in bytes: the `safetensors` crate's own limit (100 MB).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// 32-bit float (`"F32"` in the header).
    F32,
    /// 64-bit float (`"F64"` in the header).
    F64,
    /// 64-bit signed integer (`"I64"` in the header): PyTorch's `torch.int64`.
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    fn to_safetensors(self) -> safetensors::Dtype {
        match self {
            Dtype::F32 => safetensors::Dtype::F32,
            Dtype::F64 => safetensors::Dtype::F64,
            Dtype::I64 => safetensors::Dtype::I64,
        }
    }

    fn from_header(name: &str) -> Option<Self> {
        match name {
            "F32" => Some(Dtype::F32),
            "F64" => Some(Dtype::F64),
            "I64" => Some(Dtype::I64),
            _ => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
        })
    }
}

/// The values of a tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 64-bit signed integers.
    I64(Vec<i64>),
}

impl TensorData {
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            TensorData::F32(_) => Dtype::F32,
            TensorData::F64(_) => Dtype::F64,
            TensorData::I64(_) => Dtype::I64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// Whether there are no elements (a shape with a zero dimension).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    fn from_le_bytes(dtype: Dtype, bytes: &[u8]) -> Self {
        match dtype {
            Dtype::F32 => TensorData::F32(
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            ),
            Dtype::F64 => TensorData::F64(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            Dtype::I64 => TensorData::I64(
                bytes
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
        }
    }
}

/// A named, shaped array: one entry of a weights file. A shape of `[]` is a scalar (one element).
///
/// The fields are public for easy destructuring; [`NamedTensor::new`] checks that the element count
/// matches the shape, and [`save`] checks it again for values built by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Name, such as `layers.0.weight`.
    pub name: String,
    /// Dimensions, row-major.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: TensorData,
}

impl NamedTensor {
    /// A tensor after checking that `data` holds `shape.iter().product()` elements and that the name
    /// is not the reserved [`METADATA_KEY`].
    ///
    /// # Errors
    /// [`WeightsError::ElementCount`], [`WeightsError::ShapeTooLarge`],
    /// [`WeightsError::ReservedName`].
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: TensorData) -> Result<Self> {
        let tensor = Self { name: name.into(), shape, data };
        tensor.validate()?;
        Ok(tensor)
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.data.dtype()
    }

    /// Name, shape and dtype, for [`check_against`].
    pub fn spec(&self) -> TensorSpec {
        TensorSpec::new(self.name.clone(), self.shape.clone(), self.dtype())
    }

    fn validate(&self) -> Result<()> {
        if self.name == METADATA_KEY {
            return Err(WeightsError::ReservedName);
        }
        let elements = element_count(&self.shape).ok_or_else(|| WeightsError::ShapeTooLarge {
            name: self.name.clone(),
            shape: self.shape.clone(),
        })?;
        if elements != self.data.len() {
            return Err(WeightsError::ElementCount {
                name: self.name.clone(),
                shape: self.shape.clone(),
                expected: elements,
                actual: self.data.len(),
            });
        }
        Ok(())
    }
}

/// What a tensor is expected to be: name, shape and dtype (see [`check_against`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// Name, such as `layers.0.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Dtype,
}

impl TensorSpec {
    /// A spec from its parts.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, dtype: Dtype) -> Self {
        Self { name: name.into(), shape, dtype }
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {} {:?}", self.name, self.dtype, self.shape)
    }
}

/// A loaded weights file: the tensors in file order and the header's metadata map (empty if none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WeightsFile {
    /// Tensors in file (data offset) order.
    pub tensors: Vec<NamedTensor>,
    /// The header's `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
}

impl WeightsFile {
    /// The tensor called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// [`check_against`] on this file's tensors.
    ///
    /// # Errors
    /// [`WeightsError::Mismatch`] listing every difference.
    pub fn check_against(&self, expected: &[TensorSpec]) -> Result<()> {
        check_against(&self.tensors, expected)
    }
}

/// One way in which loaded tensors differ from what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecMismatch {
    /// An expected tensor is not in the file.
    Missing(TensorSpec),
    /// The file has a tensor that was not expected.
    Unexpected(TensorSpec),
    /// Same name, different shape.
    Shape {
        /// Tensor name.
        name: String,
        /// Expected shape.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// Same name, different element type.
    Dtype {
        /// Tensor name.
        name: String,
        /// Expected dtype.
        expected: Dtype,
        /// Dtype in the file.
        found: Dtype,
    },
}

impl fmt::Display for SpecMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecMismatch::Missing(spec) => write!(f, "missing {spec}"),
            SpecMismatch::Unexpected(spec) => write!(f, "unexpected {spec}"),
            SpecMismatch::Shape { name, expected, found } => {
                write!(f, "`{name}` has shape {found:?}, expected {expected:?}")
            }
            SpecMismatch::Dtype { name, expected, found } => {
                write!(f, "`{name}` has dtype {found}, expected {expected}")
            }
        }
    }
}

fn join_mismatches(problems: &[SpecMismatch]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Errors from saving, loading and checking weight files.
#[derive(Debug, Error)]
pub enum WeightsError {
    /// A file-system operation failed.
    #[error("weights file: {op} `{}`: {source}", path.display())]
    Io {
        /// What was being done: `"read"`, `"create temporary file in"`, `"write"`, `"rename onto"`.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The save path has no file name (e.g. ends in `..` or is a root).
    #[error("weights file: save path `{}` has no file name", path.display())]
    NoFileName {
        /// The path given.
        path: PathBuf,
    },
    /// The file is shorter than its header says.
    #[error("weights file truncated: {what} needs at least {needed} bytes, the file has {actual}")]
    Truncated {
        /// What did not fit: `"the header length"`, `"the header"` or `"tensor `name`"`.
        what: String,
        /// Bytes the file would need.
        needed: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The header is not a valid safetensors header.
    #[error("weights file: wrong header: {reason}")]
    BadHeader {
        /// What is wrong, naming the tensor entry where there is one.
        reason: String,
    },
    /// A tensor has a dtype this loader does not read.
    #[error("weights file: tensor `{name}` has dtype {dtype}; only F32, F64 and I64 are supported")]
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// The dtype string from the header.
        dtype: String,
    },
    /// A tensor's data range does not hold `shape × dtype size` bytes.
    #[error(
        "weights file: tensor `{name}` ({dtype} {shape:?}) needs {expected_bytes} bytes, \
         its data_offsets span {actual_bytes}"
    )]
    ByteCount {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: Dtype,
        /// Its shape.
        shape: Vec<usize>,
        /// `shape.product() × dtype size`.
        expected_bytes: u64,
        /// `end − begin` from the header.
        actual_bytes: u64,
    },
    /// Two tensors share a name (in a header, or in the slice given to [`save`]).
    #[error("weights file: tensor name `{name}` appears more than once")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// Tensor data ranges overlap, leave gaps, or leave unclaimed bytes at the end of the file.
    #[error("weights file: bad data layout: {reason}")]
    BadLayout {
        /// What is wrong.
        reason: String,
    },
    /// A tensor's element count does not match its shape (when saving).
    #[error("weights file: tensor `{name}` has shape {shape:?} ({expected} elements) but {actual} values")]
    ElementCount {
        /// Tensor name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// `shape.product()`.
        expected: usize,
        /// Number of values given.
        actual: usize,
    },
    /// A shape whose element or byte count overflows.
    #[error("weights file: tensor `{name}` has shape {shape:?}, too large to address")]
    ShapeTooLarge {
        /// Tensor name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor is named `__metadata__`, which the format reserves for the metadata map.
    #[error("weights file: the tensor name `__metadata__` is reserved for the metadata map")]
    ReservedName,
    /// The `safetensors` crate rejected the data (after this module's own checks passed).
    #[error("weights file: {op}: {source}")]
    Safetensors {
        /// `"serialize"` or `"deserialize"`.
        op: &'static str,
        /// The crate's error.
        #[source]
        source: SafeTensorError,
    },
    /// A tensor that holds a count (batch norm's `num_batches_tracked`) holds a value that is not
    /// a whole number from 0 to `max`, the largest count the destination stores exactly.
    #[error(
        "weights file: tensor `{name}` holds {value}, which is not a count from 0 to {max} \
         that {target} stores exactly"
    )]
    NotACount {
        /// Tensor name.
        name: String,
        /// The offending value, as written in the file or held by the module.
        value: String,
        /// The largest accepted count.
        max: u64,
        /// What it is converted to: `"I64"`, `"F32"` or `"F64"`.
        target: &'static str,
    },
    /// Loaded tensors differ from the expected names, shapes or dtypes.
    #[error("weights do not match: {}", join_mismatches(.problems))]
    Mismatch {
        /// Every difference: missing and unexpected names, then shape and dtype differences.
        problems: Vec<SpecMismatch>,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, WeightsError>;

/// Saves `tensors` to `path` atomically (see the module docs), with no metadata.
///
/// # Errors
/// [`WeightsError::DuplicateName`], [`WeightsError::ElementCount`], [`WeightsError::ReservedName`]
/// before anything touches the disk; [`WeightsError::Io`] if the temporary file cannot be created,
/// written or renamed — in every case an existing file at `path` is left as it was.
pub fn save(path: impl AsRef<Path>, tensors: &[NamedTensor]) -> Result<()> {
    save_with_metadata(path, tensors, &BTreeMap::new())
}

/// [`save`] with a string-to-string metadata map stored in the header (omitted when empty).
///
/// # Errors
/// As [`save`].
pub fn save_with_metadata(
    path: impl AsRef<Path>,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let bytes = to_bytes(tensors, metadata)?;
    write_atomically(path.as_ref(), |file| file.write_all(&bytes))
}

/// Serialises `tensors` (and `metadata`, omitted when empty) to safetensors bytes.
///
/// # Errors
/// As [`save`], without the I/O errors.
pub fn to_bytes(tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut seen = HashSet::with_capacity(tensors.len());
    for tensor in tensors {
        tensor.validate()?;
        if !seen.insert(tensor.name.as_str()) {
            return Err(WeightsError::DuplicateName { name: tensor.name.clone() });
        }
    }
    let views = tensors.iter().map(|t| {
        (
            t.name.as_str(),
            LittleEndianView {
                dtype: t.dtype().to_safetensors(),
                shape: &t.shape,
                bytes: t.data.to_le_bytes(),
            },
        )
    });
    let metadata: Option<HashMap<String, String>> =
        (!metadata.is_empty()).then(|| metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    safetensors::serialize(views, metadata)
        .map_err(|source| WeightsError::Safetensors { op: "serialize", source })
}

/// A tensor's bytes already converted to little-endian, as the `safetensors` writer wants them.
struct LittleEndianView<'a> {
    dtype: safetensors::Dtype,
    shape: &'a [usize],
    bytes: Vec<u8>,
}

impl safetensors::View for LittleEndianView<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Loads every tensor of the file at `path`, in file order.
///
/// # Errors
/// [`WeightsError::Io`] if the file cannot be read; otherwise as [`from_bytes`].
pub fn load(path: impl AsRef<Path>) -> Result<Vec<NamedTensor>> {
    Ok(load_with_metadata(path)?.tensors)
}

/// Loads the tensors and the metadata map of the file at `path`.
///
/// # Errors
/// As [`load`].
pub fn load_with_metadata(path: impl AsRef<Path>) -> Result<WeightsFile> {
    let path = path.as_ref();
    let bytes =
        fs::read(path).map_err(|source| WeightsError::Io { op: "read", path: path.to_owned(), source })?;
    from_bytes(&bytes)
}

/// Parses safetensors bytes.
///
/// # Errors
/// Each kind of damage has its own variant: [`WeightsError::Truncated`] (file shorter than its
/// header says), [`WeightsError::BadHeader`] (length over [`MAX_HEADER_LEN`], not UTF-8, not a
/// JSON object, a malformed entry or metadata), [`WeightsError::DuplicateName`],
/// [`WeightsError::UnsupportedDtype`], [`WeightsError::ByteCount`] (shape × dtype ≠ data range)
/// and [`WeightsError::BadLayout`] (overlaps, gaps, trailing bytes). Never panics, whatever the
/// bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<WeightsFile> {
    let file_len = bytes.len() as u64;
    let Some(length_bytes) = bytes.first_chunk::<8>() else {
        return Err(WeightsError::Truncated {
            what: "the header length".to_owned(),
            needed: 8,
            actual: file_len,
        });
    };
    let header_len = u64::from_le_bytes(*length_bytes);
    if header_len > MAX_HEADER_LEN {
        return Err(WeightsError::BadHeader {
            reason: format!("header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes"),
        });
    }
    let data_start = 8 + header_len;
    if data_start > file_len {
        return Err(WeightsError::Truncated {
            what: format!("the {header_len}-byte header"),
            needed: data_start,
            actual: file_len,
        });
    }
    // Both bounds are ≤ file_len, which came from a usize, so the casts are lossless.
    let header = std::str::from_utf8(&bytes[8..data_start as usize])
        .map_err(|e| WeightsError::BadHeader { reason: format!("not UTF-8 ({e})") })?;
    let entries = parse_header(header)?;
    let data_len = file_len - data_start;

    let mut metadata = BTreeMap::new();
    let mut tensors: Vec<HeaderTensor> = Vec::new();
    let mut seen = HashSet::new();
    for (key, value) in entries {
        if !seen.insert(key.clone()) {
            return Err(WeightsError::DuplicateName { name: key });
        }
        if key == METADATA_KEY {
            metadata = parse_metadata(value)?;
        } else {
            tensors.push(parse_tensor_entry(key, &value)?);
        }
    }

    tensors.sort_by_key(|t| t.begin);
    let mut position = 0;
    for tensor in &tensors {
        if tensor.begin != position {
            return Err(WeightsError::BadLayout {
                reason: format!(
                    "tensor `{}` starts at data byte {} but the previous data ends at {position} \
                     ({})",
                    tensor.name,
                    tensor.begin,
                    if tensor.begin > position { "gap" } else { "overlap" }
                ),
            });
        }
        if tensor.end > data_len {
            return Err(WeightsError::Truncated {
                what: format!("tensor `{}`", tensor.name),
                needed: data_start.saturating_add(tensor.end),
                actual: file_len,
            });
        }
        position = tensor.end;
    }
    if position != data_len {
        return Err(WeightsError::BadLayout {
            reason: format!(
                "{} bytes after the last tensor's data (data section is {data_len} bytes, tensors \
                 cover {position})",
                data_len - position
            ),
        });
    }

    // Everything the crate checks has been checked above with better messages; it stays the final
    // authority on the format, and its views give the data slices.
    let parsed = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|source| WeightsError::Safetensors { op: "deserialize", source })?;
    let mut out = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        let view = parsed
            .tensor(&tensor.name)
            .map_err(|source| WeightsError::Safetensors { op: "deserialize", source })?;
        out.push(NamedTensor {
            data: TensorData::from_le_bytes(tensor.dtype, view.data()),
            name: tensor.name,
            shape: tensor.shape,
        });
    }
    Ok(WeightsFile { tensors: out, metadata })
}

/// Compares loaded tensors with what a model expects and reports **every** difference at once:
/// expected names that are missing, names that were not expected, and shape or dtype differences
/// for names present in both. Order does not matter.
///
/// ```
/// use nn::weights_file::{check_against, Dtype, NamedTensor, SpecMismatch, TensorData, TensorSpec, WeightsError};
/// let found = [NamedTensor::new("w", vec![2, 3], TensorData::F32(vec![0.0; 6]))?];
/// let expected = [TensorSpec::new("w", vec![3, 2], Dtype::F32), TensorSpec::new("b", vec![2], Dtype::F32)];
/// let Err(WeightsError::Mismatch { problems }) = check_against(&found, &expected) else { panic!() };
/// assert_eq!(problems, [
///     SpecMismatch::Missing(TensorSpec::new("b", vec![2], Dtype::F32)),
///     SpecMismatch::Shape { name: "w".into(), expected: vec![3, 2], found: vec![2, 3] },
/// ]);
/// # Ok::<(), WeightsError>(())
/// ```
///
/// # Errors
/// [`WeightsError::Mismatch`] with the list of [`SpecMismatch`]es: missing names (in `expected`
/// order), unexpected names (in `found` order), then shape/dtype differences (in `expected` order).
pub fn check_against(found: &[NamedTensor], expected: &[TensorSpec]) -> Result<()> {
    let found_by_name: HashMap<&str, &NamedTensor> = found.iter().map(|t| (t.name.as_str(), t)).collect();
    let expected_names: HashSet<&str> = expected.iter().map(|s| s.name.as_str()).collect();
    let mut problems = Vec::new();
    for spec in expected {
        if !found_by_name.contains_key(spec.name.as_str()) {
            problems.push(SpecMismatch::Missing(spec.clone()));
        }
    }
    for tensor in found {
        if !expected_names.contains(tensor.name.as_str()) {
            problems.push(SpecMismatch::Unexpected(tensor.spec()));
        }
    }
    for spec in expected {
        let Some(tensor) = found_by_name.get(spec.name.as_str()) else {
            continue;
        };
        if tensor.shape != spec.shape {
            problems.push(SpecMismatch::Shape {
                name: spec.name.clone(),
                expected: spec.shape.clone(),
                found: tensor.shape.clone(),
            });
        }
        if tensor.dtype() != spec.dtype {
            problems.push(SpecMismatch::Dtype {
                name: spec.name.clone(),
                expected: spec.dtype,
                found: tensor.dtype(),
            });
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(WeightsError::Mismatch { problems }) }
}

fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// A tensor entry of the header after validation.
struct HeaderTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    begin: u64,
    end: u64,
}

/// The header's top-level entries in file order, duplicates kept (a JSON map would drop them).
struct OrderedEntries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = OrderedEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedEntries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(OrderedEntries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

fn parse_header(header: &str) -> Result<Vec<(String, Value)>> {
    if !header.trim_start().starts_with('{') {
        return Err(WeightsError::BadHeader { reason: "does not start with `{`".to_owned() });
    }
    serde_json::from_str::<OrderedEntries>(header)
        .map(|entries| entries.0)
        .map_err(|e| WeightsError::BadHeader { reason: format!("invalid JSON ({e})") })
}

fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>> {
    let Value::Object(map) = value else {
        return Err(WeightsError::BadHeader { reason: format!("`{METADATA_KEY}` is not an object") });
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(WeightsError::BadHeader {
                reason: format!("`{METADATA_KEY}` value for `{k}` is {other}, not a string"),
            }),
        })
        .collect()
}

fn parse_tensor_entry(name: String, value: &Value) -> Result<HeaderTensor> {
    let bad = |what: &str| WeightsError::BadHeader { reason: format!("tensor `{name}`: {what}") };
    let Value::Object(fields) = value else {
        return Err(bad("entry is not an object"));
    };
    let dtype_name = fields
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`dtype` is missing or not a string"))?;
    let shape = fields
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`shape` is missing or not an array"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| bad("`shape` holds something other than non-negative integers"))?;
    let offsets = fields
        .get("data_offsets")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`data_offsets` is missing or not an array"))?;
    let [begin, end] = offsets.as_slice() else {
        return Err(bad("`data_offsets` does not hold exactly two numbers"));
    };
    let (Some(begin), Some(end)) = (begin.as_u64(), end.as_u64()) else {
        return Err(bad("`data_offsets` holds something other than non-negative integers"));
    };
    if end < begin {
        return Err(WeightsError::BadLayout {
            reason: format!("tensor `{name}` has data_offsets [{begin}, {end}]: end before begin"),
        });
    }
    let Some(dtype) = Dtype::from_header(dtype_name) else {
        return Err(WeightsError::UnsupportedDtype { dtype: dtype_name.to_owned(), name });
    };
    let expected_bytes = element_count(&shape)
        .and_then(|n| n.checked_mul(dtype.size_in_bytes()))
        .ok_or_else(|| WeightsError::ShapeTooLarge { name: name.clone(), shape: shape.clone() })?
        as u64;
    if expected_bytes != end - begin {
        return Err(WeightsError::ByteCount {
            name,
            dtype,
            shape,
            expected_bytes,
            actual_bytes: end - begin,
        });
    }
    Ok(HeaderTensor { name, dtype, shape, begin, end })
}

/// Writes a file via a temporary sibling and a rename, so `path` is never seen half-written.
fn write_atomically(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| WeightsError::NoFileName { path: path.to_owned() })?;
    // The temporary file must be in the same folder: a rename is only atomic within one file system.
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (temp_path, mut file) = create_temporary(folder, file_name)?;
    let io_error = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| WeightsError::Io { op, path, source }
    };
    let written = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", &temp_path));
    drop(file);
    let result = written.and_then(|()| fs::rename(&temp_path, path).map_err(io_error("rename onto", path)));
    if result.is_err() {
        // Best effort: the error being reported matters more than a failure to tidy up.
        let _ = fs::remove_file(&temp_path);
        return result;
    }
    sync_folder(folder);
    Ok(())
}

/// Creates a new, empty temporary file next to the target; never opens an existing file.
fn create_temporary(folder: &Path, file_name: &std::ffi::OsStr) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut attempt = 0;
    loop {
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let temp_path = folder.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&temp_path) {
            Ok(file) => return Ok((temp_path, file)),
            // A leftover from a crashed process with the same id: try the next counter value.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(source) => {
                return Err(WeightsError::Io {
                    op: "create temporary file in",
                    path: folder.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Makes the rename durable on Unix by syncing the folder's entry list. Best effort: the data is
/// already safely in place, and some file systems do not support syncing a folder.
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn failure_mid_write_leaves_the_old_file_whole_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        fs::write(&path, b"old contents").unwrap();
        let result = write_atomically(&path, |file| {
            file.write_all(b"half of the new")?;
            Err(io::Error::other("simulated crash mid-write"))
        });
        match result {
            Err(WeightsError::Io { op: "write", source, .. }) => {
                assert_eq!(source.to_string(), "simulated crash mid-write");
            }
            other => panic!("expected a write error, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        assert_eq!(entries(dir.path()), ["model.safetensors"]);
    }

    #[test]
    fn failed_rename_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty folder cannot be replaced by a file, so the rename step fails.
        let target = dir.path().join("occupied");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        let result = write_atomically(&target, |file| file.write_all(b"new"));
        assert!(matches!(result, Err(WeightsError::Io { op: "rename onto", .. })), "{result:?}");
        assert_eq!(entries(dir.path()), ["occupied"]);
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"x");
    }
}
