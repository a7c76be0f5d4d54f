//! Writing outputs atomically: each file goes to a temporary name in the same folder, is
//! flushed to disk, then renamed over the target, so a crash or a kill leaves either the old
//! file or the new one, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{CliError, Result};

/// The temporary sibling of `path` used while writing it: hidden, unique per process (so two
/// runs writing into one folder do not trample each other's temporary files), and with the
/// same extension (the PNG encoder picks its format from it).
fn temporary_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let extension = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!(".{stem}.tmp-{}{extension}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temporary file, `fsync`, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Creates `path`'s contents with `fill` into a temporary file, then renames it over `path`.
/// On any error the temporary file is removed and `path` is left as it was.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>) -> Result<()> {
    let temporary = temporary_path(path);
    let result = (|| {
        let mut file = fs::File::create(&temporary).map_err(|e| CliError::io("creating", &temporary, e))?;
        fill(&mut file).map_err(|e| CliError::io("writing", &temporary, e))?;
        file.sync_all().map_err(|e| CliError::io("flushing", &temporary, e))?;
        fs::rename(&temporary, path).map_err(|e| CliError::io("renaming into place", path, e))
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Produces a file with a function that writes to a path (a plotting backend, say) atomically:
/// `draw` writes the temporary path, which is then renamed over `path`.
pub fn create_atomic_via(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temporary = temporary_path(path);
    let result = draw(&temporary).and_then(|()| {
        fs::rename(&temporary, path).map_err(|e| CliError::io("renaming into place", path, e))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Serialises `value` as pretty JSON (with a final newline) into `path`, atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| CliError::BadFile {
        path: path.to_path_buf(),
        reason: format!("serialising JSON: {e}"),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| CliError::io("reading", path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::BadFile { path: path.to_path_buf(), reason: e.to_string() })
}

/// Creates `dir` and its parents if needed.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| CliError::io("creating folder", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_json_atomic(&path, &vec![1.5, 0.1 + 0.2]).unwrap();
        let back: Vec<f64> = read_json(&path).unwrap();
        assert_eq!(back, vec![1.5, 0.1 + 0.2]);
    }
}
