//! The idx format of MNIST: parsing one file (gzipped or plain), and loading an idx folder.
//!
//! An idx file is a magic number `00 00 <type> <ndims>`, then `ndims` dimensions as big-endian
//! `u32`, then the elements row-major. MNIST uses type `0x08` (unsigned bytes): images are
//! `0x00000803` (`n x rows x cols`) and labels `0x00000801` (`n`). Only type `0x08` is read.

use std::path::{Path, PathBuf};

use crate::bytes::{maybe_gunzip, read_maybe_gz};
use crate::dataset::{Dataset, ImageInfo, LoadedData, Targets};
use crate::error::{Error, Result};

/// The idx type code for unsigned bytes, the only one this crate reads.
const IDX_TYPE_U8: u8 = 0x08;

/// The largest pixel value of byte images: scaling to `[0, 1]` divides by it.
const BYTE_MAX: f32 = 255.0;

/// One idx array: its dimensions and its bytes, row-major.
///
/// Invariant: the product of `dims` equals `data.len()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl IdxArray {
    /// The dimensions, outermost first (`[60000, 28, 28]` for MNIST's training images).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Parses idx bytes (gzip-compressed or not: detected by content).
///
/// Every inconsistency is an error, never a panic, and nothing is allocated from the
/// header's sizes before the input is known to hold that many bytes.
///
/// ```
/// use tapegrad_data::parse_idx;
/// // Labels file: magic 0x00000801, one dimension of 3, then the bytes.
/// let labels = parse_idx(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])?;
/// assert_eq!(labels.dims(), &[3]);
/// assert_eq!(labels.data(), &[7, 2, 1]);
/// assert!(parse_idx(&[0, 0, 8, 1, 0, 0, 0, 4, 7, 2, 1]).is_err()); // truncated
/// # Ok::<(), tapegrad_data::Error>(())
/// ```
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray> {
    if crate::bytes::is_gzip(bytes) {
        let plain = maybe_gunzip(bytes.to_vec())?;
        return parse_plain_idx_owned(plain);
    }
    parse_plain_idx(bytes)
}

/// Parses uncompressed idx bytes.
fn parse_plain_idx(bytes: &[u8]) -> Result<IdxArray> {
    let (dims, header_len) = check_idx_layout(bytes)?;
    Ok(IdxArray { dims, data: bytes[header_len..].to_vec() })
}

/// Parses uncompressed idx bytes it owns, reusing their buffer (MNIST's images are 47 MB).
fn parse_plain_idx_owned(mut bytes: Vec<u8>) -> Result<IdxArray> {
    let (dims, header_len) = check_idx_layout(&bytes)?;
    bytes.drain(..header_len);
    Ok(IdxArray { dims, data: bytes })
}

/// Checks the magic number, the header and the length; returns the dimensions and the
/// header length.
fn check_idx_layout(bytes: &[u8]) -> Result<(Vec<usize>, usize)> {
    let found = bytes.len() as u64;
    let [zero_a, zero_b, type_code, ndims] = match bytes.get(..4) {
        Some(&[a, b, c, d]) => [a, b, c, d],
        _ => {
            if bytes.iter().any(|&b| b != 0) {
                return Err(Error::IdxMagic { found: bytes.to_vec() });
            }
            return Err(Error::IdxTruncated { expected: 4, found });
        }
    };
    if zero_a != 0 || zero_b != 0 {
        return Err(Error::IdxMagic { found: bytes[..4].to_vec() });
    }
    if type_code != IDX_TYPE_U8 {
        return Err(Error::IdxUnsupportedType { code: type_code });
    }
    if ndims == 0 {
        return Err(Error::IdxNoDimensions);
    }
    let header_len = 4 + 4 * usize::from(ndims);
    let Some(header) = bytes.get(4..header_len) else {
        return Err(Error::IdxTruncated { expected: header_len as u64, found });
    };
    let dims: Vec<usize> =
        header.chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
    // Saturating: a product past u64 cannot match any real input length, which the
    // comparison below reports as truncation.
    let n_elements = dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
    let expected = n_elements.saturating_add(header_len as u64);
    if found < expected {
        return Err(Error::IdxTruncated { expected, found });
    }
    if found > expected {
        return Err(Error::IdxTrailingBytes { expected, found });
    }
    Ok((dims, header_len))
}

/// Reads and parses the idx file at `path` (gzip-compressed or not).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    parse_plain_idx_owned(bytes).map_err(|e| e.in_file(path))
}

/// Builds a classification data set from an idx images array (`n x rows x cols`, or
/// `n x features`) and an idx labels array (`n`), with `n_classes` classes named `"0"`, `"1"`, ...
///
/// Three-dimensional images are marked as images with pixel maximum 255.
pub fn idx_dataset(name: &str, images: &IdxArray, labels: &IdxArray, n_classes: usize) -> Result<Dataset> {
    let (n_samples, image) = match *images.dims() {
        [n, height, width] => (n, Some(ImageInfo { height, width, max_value: BYTE_MAX })),
        [n, _] => (n, None),
        _ => {
            return Err(Error::IdxShape {
                role: "images",
                expected: "2 (samples x features) or 3 (samples x rows x columns)",
                dims: images.dims().to_vec(),
            });
        }
    };
    let &[n_labels] = labels.dims() else {
        return Err(Error::IdxShape {
            role: "labels",
            expected: "1 (samples)",
            dims: labels.dims().to_vec(),
        });
    };
    if n_labels != n_samples {
        return Err(Error::CountMismatch {
            what: "idx labels for the images",
            expected: n_samples,
            found: n_labels,
        });
    }
    let n_features = images.data().len().checked_div(n_samples).unwrap_or(0);
    let features = images.data().iter().map(|&b| f32::from(b)).collect();
    let targets = Targets::Classes {
        labels: labels.data().iter().map(|&b| usize::from(b)).collect(),
        n_classes,
        class_names: Some((0..n_classes).map(|c| c.to_string()).collect()),
    };
    let data = Dataset::new(name, features, n_features, targets)?;
    match image {
        Some(image) => data.with_image(image),
        None => Ok(data),
    }
}

/// The standard idx file names in an MNIST-style folder, without `.gz`.
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// `dir/stem.gz` or `dir/stem`, whichever exists (the compressed one first).
fn find_idx_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|file| dir.join(file))
        .find(|path| path.is_file())
}

/// Loads an MNIST-style idx folder: `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`
/// (each `.gz` or not) and, when present, the official test set `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte`.
///
/// The number of classes is the largest label in either part plus one, so both parts agree.
/// The data set is named after the folder.
pub fn load_idx_dir(dir: impl AsRef<Path>) -> Result<LoadedData> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::MissingFile { path: dir.to_path_buf() });
    }
    let required =
        |stem: &str| find_idx_file(dir, stem).ok_or_else(|| Error::MissingFile { path: dir.join(stem) });
    let train_images = read_idx(required(TRAIN_IMAGES)?)?;
    let train_labels = read_idx(required(TRAIN_LABELS)?)?;
    let test = match (find_idx_file(dir, TEST_IMAGES), find_idx_file(dir, TEST_LABELS)) {
        (None, None) => None,
        // One half of the test set without the other is a broken folder, not "no test set".
        _ => Some((read_idx(required(TEST_IMAGES)?)?, read_idx(required(TEST_LABELS)?)?)),
    };
    let max_label = train_labels
        .data()
        .iter()
        .chain(test.iter().flat_map(|(_, labels)| labels.data()))
        .max()
        .copied()
        .unwrap_or(0);
    let n_classes = usize::from(max_label) + 1;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "idx".to_string());
    // These errors involve a pair of files, so they name the folder.
    let data = idx_dataset(&name, &train_images, &train_labels, n_classes).map_err(|e| e.in_file(dir))?;
    let official_test = match test {
        Some((images, labels)) => {
            Some(idx_dataset(&name, &images, &labels, n_classes).map_err(|e| e.in_file(dir))?)
        }
        None => None,
    };
    if let Some(test) = &official_test
        && test.n_features() != data.n_features()
    {
        let mismatch = Error::CountMismatch {
            what: "features per test image (as in the training images)",
            expected: data.n_features(),
            found: test.n_features(),
        };
        return Err(mismatch.in_file(dir));
    }
    Ok(LoadedData { data, official_test })
}
