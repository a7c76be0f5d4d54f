//! The one way the command line writes a file: a temporary file created exclusively (`O_EXCL`,
//! a random name starting with [`TEMP_PREFIX`]) in the destination folder, filled, `fsync`ed,
//! then renamed over the target, and the folder `fsync`ed. A crash or a kill leaves either the
//! old file or the new one, never half of one; nothing is ever written through a path someone
//! else could have prepared (a symlink planted at a predictable name is never opened, and the
//! rename replaces a symlink at the target rather than following it).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{CliError, Result};

/// The start of every temporary file's name; [`remove_stale_temporaries`] removes regular files
/// with this prefix that a killed run left behind.
pub const TEMP_PREFIX: &str = ".tapegrad-";

/// The folder a file is written in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` atomically (exclusive temporary file, `fsync`, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Fills a fresh temporary file in `path`'s folder with `fill`, then renames it over `path`.
/// On any error the temporary file is removed and `path` is left as it was.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>) -> Result<()> {
    let folder = folder_of(path);
    if path.file_name().is_none() {
        return Err(CliError::BadFile { path: path.to_path_buf(), reason: "not a file name".into() });
    }
    // `tempfile` opens with O_CREAT | O_EXCL under a random name: it never opens an existing
    // file or follows a symlink, and a planted file or folder only makes it draw another name.
    let mut temporary = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(|e| CliError::io("creating a temporary file in", folder, e))?;
    let temporary_path = temporary.path().to_path_buf();
    fill(temporary.as_file_mut())
        .and_then(|()| temporary.as_file_mut().flush())
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(|e| CliError::io("writing", &temporary_path, e))?;
    // On error `persist` hands the temporary back; dropping it removes the file.
    temporary.persist(path).map_err(|e| CliError::io("renaming into place", path, e.error))?;
    sync_folder(folder);
    Ok(())
}

/// Makes a rename durable on Unix by syncing the folder's entries. Best effort: the data is
/// already in place, and some file systems cannot sync a folder.
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

/// Whether `name` is a temporary file of a tapegrad run: ours ([`TEMP_PREFIX`]) or one of the
/// names earlier versions used (`.NAME.PID.N.tmp` for safetensors, `.STEM.tmp-PID.EXT`).
fn is_temporary_name(name: &str) -> bool {
    if name.starts_with(TEMP_PREFIX) {
        return true;
    }
    let Some(rest) = name.strip_prefix('.') else { return false };
    let parts: Vec<&str> = rest.split('.').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let old_safetensors = parts.len() >= 4
        && parts[parts.len() - 1] == "tmp"
        && numeric(parts[parts.len() - 2])
        && numeric(parts[parts.len() - 3]);
    let old_json_png = parts.len() == 3
        && parts[1].strip_prefix("tmp-").is_some_and(numeric)
        && matches!(parts[2], "json" | "png" | "csv");
    old_safetensors || old_json_png
}

/// Removes the temporary files earlier, killed runs left in `dir`: regular files (checked with
/// `symlink_metadata`, so a symlink is never followed and never removed) with a temporary's
/// name. Returns how many were removed. Call it only while holding the folder's lock.
pub fn remove_stale_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = fs::read_dir(dir).map_err(|e| CliError::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        let regular = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if regular && is_temporary_name(name) && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Serialises `value` as pretty JSON (with a final newline).
pub fn json_bytes<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| CliError::BadFile {
        path: path.to_path_buf(),
        reason: format!("serialising JSON: {e}"),
    })?;
    text.push('\n');
    Ok(text.into_bytes())
}

/// Serialises `value` as pretty JSON (with a final newline) into `path`, atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, &json_bytes(path, value)?)
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| CliError::io("reading", path, e))?;
    parse_json(path, &text)
}

/// Parses JSON text read from `path`, naming the file in any error.
pub fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| CliError::BadFile { path: path.to_path_buf(), reason: e.to_string() })
}

/// Creates `dir` and its parents if needed.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| CliError::io("creating folder", dir, e))
}

/// `path` made absolute with symlinks resolved, for comparing an output with the inputs: the
/// path itself when it exists, else its resolved folder joined with its name (an output that
/// does not exist yet).
pub fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(path) = fs::canonicalize(path) {
        return Some(path);
    }
    let name = path.file_name()?;
    fs::canonicalize(folder_of(path)).ok().map(|folder| folder.join(name))
}

/// Refuses to write `output` (given by `flag`) when it is the same file as one of `inputs`.
pub fn refuse_if_input(flag: &'static str, output: &Path, inputs: &[&Path]) -> Result<()> {
    let Some(out) = resolved(output) else { return Ok(()) };
    for input in inputs {
        if resolved(input).is_some_and(|input| input == out) {
            return Err(CliError::invalid(
                flag,
                format!(
                    "{} is also an input; refusing to overwrite it (choose another {flag})",
                    output.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["out.txt"]);
    }

    #[test]
    fn json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_json_atomic(&path, &vec![1.5, 0.1 + 0.2]).unwrap();
        let back: Vec<f64> = read_json(&path).unwrap();
        assert_eq!(back, vec![1.5, 0.1 + 0.2]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("out.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    }

    #[cfg(unix)]
    #[test]
    fn stale_temporaries_go_symlinks_and_folders_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let victim = d.join("victim");
        fs::write(&victim, b"precious").unwrap();
        fs::write(d.join(".tapegrad-abc.tmp"), b"x").unwrap();
        fs::write(d.join(".checkpoint.safetensors.123.4.tmp"), b"x").unwrap();
        fs::write(d.join(".config.tmp-99.json"), b"x").unwrap();
        std::os::unix::fs::symlink(&victim, d.join(".tapegrad-link.tmp")).unwrap();
        fs::create_dir(d.join(".tapegrad-dir.tmp")).unwrap();
        fs::write(d.join(".hidden-user-file"), b"x").unwrap();
        assert_eq!(remove_stale_temporaries(d).unwrap(), 3);
        assert_eq!(names(d), [".hidden-user-file", ".tapegrad-dir.tmp", ".tapegrad-link.tmp", "victim"]);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }
}
