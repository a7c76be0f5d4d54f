//! Reading a file's bytes, decompressing them when they are gzip, whatever the file is called.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start like a gzip stream.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// `bytes` decompressed when they are gzip (detected by content, not by name), else as they are.
///
/// Concatenated gzip members are read in full, as `gunzip` does.
pub(crate) fn maybe_gunzip(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| Error::Gzip { source })?;
    Ok(out)
}

/// The contents of the file at `path`, decompressed when they are gzip.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| io_error(path, source))?;
    maybe_gunzip(raw).map_err(|e| e.in_file(path))
}

/// Maps "not found" to [`Error::MissingFile`], which is what a user most often needs to hear.
pub(crate) fn io_error(path: &Path, source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::MissingFile { path: path.to_path_buf() }
    } else {
        Error::Io { path: path.to_path_buf(), source }
    }
}
