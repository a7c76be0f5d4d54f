//! A run folder as a unit: the manifest `run.json`, written last, records the size, a
//! fingerprint and the generation (one random id per training session) of every file a run
//! wrote; a lock keeps a second training out while one is writing.
//!
//! - **Never someone else's file.** Before a training writes anything, every file it could
//!   replace must be one the manifest records, unchanged (or one it was in the middle of
//!   writing when a previous session was killed); anything else is refused unless `--force`.
//! - **Never half old, half new.** Before a file is replaced the manifest marks it pending;
//!   once the run's files are all written the manifest is committed. `evaluate`, `predict` and
//!   `--resume` check that the files they read match the manifest (and `model.safetensors`
//!   and `config.json` the same generation), and refuse a folder that disagrees, naming the
//!   files.
//! - **One writer.** Training holds an exclusive lock on `.tapegrad.lock` (std's
//!   `File::try_lock`) for as long as it writes; a second training into the same folder fails
//!   at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::CHECKPOINT_FILE;
use super::error::{CliError, Result};
use super::output::{
    ensure_dir, json_bytes, parse_json, refuse_if_input, remove_stale_temporaries, write_atomic,
};

/// The manifest's file name inside a run folder.
pub const MANIFEST_FILE: &str = "run.json";
/// The lock file a training holds while it writes a run folder.
pub const LOCK_FILE: &str = ".tapegrad.lock";
/// The `format` of a manifest this version writes and reads.
pub const MANIFEST_FORMAT: &str = "tapegrad-run/1";
/// The model's weights.
pub const MODEL_FILE: &str = "model.safetensors";
/// The run's configuration.
pub const CONFIG_FILE: &str = "config.json";
/// The run's metrics.
pub const METRICS_FILE: &str = "metrics.json";
/// Every file a training may write into its folder (besides the manifest and the lock).
pub const RUN_FILES: [&str; 8] = [
    MODEL_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    CHECKPOINT_FILE,
    "loss.png",
    "pr_curve.png",
    "confusion_matrix.png",
    "predicted_vs_actual.png",
];

/// One written file as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its length in bytes.
    pub size: u64,
    /// [`fingerprint`] of its contents.
    pub fnv1a64: String,
    /// The training session that wrote it.
    pub generation: String,
}

/// `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The session that last committed the manifest.
    pub generation: String,
    /// The files written, by name.
    pub files: BTreeMap<String, Record>,
    /// Files being replaced when the manifest was written: their contents may be either the
    /// recorded ones or new ones, so readers refuse them and the next training may replace them.
    #[serde(default)]
    pub pending: BTreeSet<String>,
}

/// The 64-bit FNV-1a hash of `bytes` as 16 hex digits: enough to notice a changed or
/// foreign file (it is not meant to resist someone forging a collision).
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn record(bytes: &[u8], generation: &str) -> Record {
    Record { size: bytes.len() as u64, fnv1a64: fingerprint(bytes), generation: generation.to_string() }
}

fn matches(record: &Record, bytes: &[u8]) -> bool {
    record.size == bytes.len() as u64 && record.fnv1a64 == fingerprint(bytes)
}

/// Reads `dir/run.json`: `Ok(None)` when there is none.
fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let manifest: Manifest = parse_json(&path, &text)?;
            if manifest.format != MANIFEST_FORMAT {
                return Err(CliError::BadFile {
                    path,
                    reason: format!("format {:?} is not {MANIFEST_FORMAT:?}", manifest.format),
                });
            }
            Ok(Some(manifest))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io("reading", path, e)),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| CliError::io("reading", path, e))
}

fn inconsistent(dir: &Path, reason: String) -> CliError {
    CliError::BadFile { path: dir.to_path_buf(), reason }
}

/// The verified contents of the files `names` of a finished run in `dir`: each is recorded in
/// the manifest, not pending, unchanged, and all of one generation.
pub fn read_verified(dir: &Path, names: &[&str]) -> Result<Vec<Vec<u8>>> {
    let manifest = read_manifest(dir)?.ok_or_else(|| {
        inconsistent(
            dir,
            format!(
                "no {MANIFEST_FILE}: no training finished writing this folder (or an older tapegrad \
                 wrote it); train again"
            ),
        )
    })?;
    let mut contents = Vec::with_capacity(names.len());
    let mut bad = Vec::new();
    let mut generations = BTreeSet::new();
    for &name in names {
        let bytes = read(&dir.join(name))?;
        match manifest.files.get(name) {
            Some(r) if !manifest.pending.contains(name) && matches(r, &bytes) => {
                generations.insert(r.generation.clone());
            }
            _ => bad.push(name),
        }
        contents.push(bytes);
    }
    if !bad.is_empty() {
        return Err(inconsistent(
            dir,
            format!(
                "{} {} not match {MANIFEST_FILE} (a training was interrupted, or the files were changed \
                 by hand); train again",
                bad.join(" and "),
                if bad.len() == 1 { "does" } else { "do" }
            ),
        ));
    }
    if generations.len() > 1 {
        return Err(inconsistent(
            dir,
            format!("{} were written by different trainings; train again", names.join(" and ")),
        ));
    }
    Ok(contents)
}

/// A training's hold on its run folder: the lock, and the manifest it keeps up to date.
#[derive(Debug)]
pub struct RunWriter {
    dir: PathBuf,
    manifest: Manifest,
    generation: String,
    /// Held for the writer's lifetime; the lock is released when the file is closed.
    _lock: fs::File,
}

impl RunWriter {
    /// Takes `dir` for a training: creates it, locks it, removes stale temporary files, and
    /// checks that every file the run may replace is one a training wrote and nobody changed
    /// (`force` skips that check) and that none of them is one of `inputs` (even with `force`).
    pub fn open(dir: &Path, force: bool, inputs: &[&Path]) -> Result<RunWriter> {
        ensure_dir(dir)?;
        let lock = lock(dir)?;
        remove_stale_temporaries(dir)?;
        let mut manifest = match read_manifest(dir) {
            Ok(found) => found,
            Err(_) if force => None,
            Err(e) => return Err(foreign(dir, MANIFEST_FILE, Some(e.to_string()))),
        };
        for name in RUN_FILES.iter().copied().chain([MANIFEST_FILE]) {
            let path = dir.join(name);
            refuse_if_input("--out", &path, inputs)?;
            let Ok(meta) = fs::symlink_metadata(&path) else { continue };
            if force || name == MANIFEST_FILE {
                continue;
            }
            let ours = meta.file_type().is_file()
                && manifest.as_ref().is_some_and(|m| {
                    m.pending.contains(name)
                        || m.files.get(name).is_some_and(|r| read(&path).is_ok_and(|b| matches(r, &b)))
                });
            if !ours {
                return Err(foreign(dir, name, None));
            }
        }
        let generation = format!("{:016x}", rand::random::<u64>());
        let manifest = manifest.take().unwrap_or_default();
        let manifest =
            Manifest { format: MANIFEST_FORMAT.to_string(), generation: generation.clone(), ..manifest };
        Ok(RunWriter { dir: dir.to_path_buf(), manifest, generation, _lock: lock })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `name` (the checkpoint, for `--resume`) after checking it is the file a training
    /// wrote: recorded and unchanged, or the one being written when the last session stopped.
    pub fn read_owned(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(name);
        if fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let bytes = read(&path)?;
        let ours = self.manifest.pending.contains(name)
            || self.manifest.files.get(name).is_some_and(|r| matches(r, &bytes));
        if !ours {
            return Err(inconsistent(
                &self.dir,
                format!("{name} does not match {MANIFEST_FILE}; it was changed since a training wrote it"),
            ));
        }
        Ok(Some(bytes))
    }

    /// Replaces `name` with `bytes`: marks it pending in the manifest, writes it, records it.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.mark_pending(name)?;
        write_atomic(&self.dir.join(name), bytes)?;
        self.manifest.files.insert(name.to_string(), record(bytes, &self.generation));
        Ok(())
    }

    /// [`RunWriter::write`] for a file produced by a function that writes a path (a plot).
    pub fn write_via(&mut self, name: &str, produce: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        self.mark_pending(name)?;
        let path = self.dir.join(name);
        produce(&path)?;
        let bytes = read(&path)?;
        self.manifest.files.insert(name.to_string(), record(&bytes, &self.generation));
        Ok(())
    }

    fn mark_pending(&mut self, name: &str) -> Result<()> {
        if self.manifest.pending.insert(name.to_string()) {
            self.save_manifest()?;
        }
        Ok(())
    }

    /// Writes the manifest with every file written so far recorded and none pending.
    pub fn commit(&mut self) -> Result<()> {
        self.manifest.pending.clear();
        self.save_manifest()
    }

    fn save_manifest(&self) -> Result<()> {
        let path = self.dir.join(MANIFEST_FILE);
        write_atomic(&path, &json_bytes(&path, &self.manifest)?)
    }
}

fn foreign(dir: &Path, name: &str, detail: Option<String>) -> CliError {
    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
    CliError::invalid(
        "--out",
        format!(
            "{} already holds {name}, which tapegrad did not write or which was changed since{detail}; \
             refusing to overwrite it (choose another --out, or pass --force)",
            dir.display()
        ),
    )
}

/// Opens and locks `dir`'s lock file, failing at once when another process holds it.
fn lock(dir: &Path) -> Result<fs::File> {
    let path = dir.join(LOCK_FILE);
    if fs::symlink_metadata(&path).is_ok_and(|m| !m.file_type().is_file()) {
        return Err(CliError::BadFile { path, reason: "is not a regular file; remove it".into() });
    }
    // Opening never truncates: the lock file's contents do not matter.
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::io("opening", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(CliError::invalid(
            "--out",
            format!(
                "another tapegrad training is writing to {}; wait for it or choose another --out",
                dir.display()
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(CliError::io("locking", &path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_read_back_and_a_change_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut writer = RunWriter::open(d, false, &[]).unwrap();
        writer.write(MODEL_FILE, b"weights").unwrap();
        writer.write(CONFIG_FILE, b"{}").unwrap();
        // Not committed yet: a reader refuses the folder.
        assert!(read_verified(d, &[CONFIG_FILE, MODEL_FILE]).is_err());
        writer.commit().unwrap();
        assert_eq!(
            read_verified(d, &[CONFIG_FILE, MODEL_FILE]).unwrap(),
            [b"{}".to_vec(), b"weights".to_vec()]
        );
        // A second writer is refused while the first holds the lock.
        let err = RunWriter::open(d, false, &[]).unwrap_err().to_string();
        assert!(err.contains("another tapegrad training"), "{err}");
        drop(writer);
        fs::write(d.join(MODEL_FILE), b"other").unwrap();
        let err = read_verified(d, &[CONFIG_FILE, MODEL_FILE]).unwrap_err().to_string();
        assert!(err.contains("model.safetensors does not match run.json"), "{err}");
        let err = RunWriter::open(d, false, &[]).unwrap_err().to_string();
        assert!(err.contains("model.safetensors, which tapegrad did not write"), "{err}");
        RunWriter::open(d, true, &[]).unwrap();
    }

    #[test]
    fn fingerprints_differ() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
