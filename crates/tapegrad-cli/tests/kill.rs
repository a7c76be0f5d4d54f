//! `kill -9` at random moments during training and checkpoint writes (issue 15): after every
//! kill each visible file in the run folder loads, no temporary survives the run that
//! finishes the job, and `--resume` from the interrupted folder ends byte-identical to a run
//! that was never interrupted.
//!
//! Twenty kills at seeded random delays (1/50 to 1/3 of the time an uninterrupted run takes
//! on this machine at this moment) into a 120-epoch digits run, which checkpoints every epoch,
//! so kills land before the first checkpoint, mid-epoch and during the writes of the
//! checkpoint, model and manifest.
//! `KILL_SEED=N` draws another sequence of delays.

#![cfg(unix)]

mod common;

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{arg, run_ok, tapegrad};
use nn::weights_file;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tapegrad_cli::checkpoint::Checkpoint;

const KILLS: usize = 20;

/// The training every run in this test performs, into `run`.
fn train_args(run: &Path, resume: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--dataset",
        "digits",
        "--hidden",
        "64",
        "--epochs",
        "120",
        "--threads",
        "1",
        "-q",
        "--no-plots",
    ]
    .map(String::from)
    .to_vec();
    if resume {
        args.push("--resume".into());
    }
    args.extend(["--out".into(), arg(run).into()]);
    args
}

/// Every file a reader can see (not a dot-file) parses as what its name says it is.
#[track_caller]
fn assert_visible_files_load(run: &Path, after: &str) {
    for entry in fs::read_dir(run).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = run.join(&name);
        let bytes = fs::read(&path).unwrap();
        let loaded = match name.as_str() {
            "checkpoint.safetensors" => {
                Checkpoint::from_bytes(&path, &bytes).map(drop).map_err(|e| e.to_string())
            }
            "model.safetensors" => weights_file::from_bytes(&bytes).map(drop).map_err(|e| e.to_string()),
            _ if name.ends_with(".json") => {
                serde_json::from_slice::<serde_json::Value>(&bytes).map(drop).map_err(|e| e.to_string())
            }
            _ => Err("a file tapegrad does not write".to_string()),
        };
        if let Err(e) = loaded {
            panic!("{after}: {name} does not load: {e}");
        }
    }
}

/// The temporaries (dot-files other than the lock) in `run`.
fn temporaries(run: &Path) -> Vec<String> {
    fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".tapegrad.lock")
        .collect()
}

#[test]
fn kill_nine_at_random_moments_leaves_loadable_files_and_resume_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let args = train_args(&reference, false);
    let started = Instant::now();
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // Delays scale with how long a whole run takes on this machine now, so kills land all
    // through a run however loaded the machine is.
    let whole_run_ms = started.elapsed().as_millis().max(60) as u64;
    let seed = std::env::var("KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kills = 0;
    let mut folders = 0;
    // Each folder is driven to the end through kills and `--resume`s; when a folder finishes
    // before all the kills have landed, the next folder starts afresh.
    while kills < KILLS {
        let run = dir.path().join(format!("interrupted-{folders}"));
        folders += 1;
        loop {
            // Before the first checkpoint there is nothing to resume: start the run afresh.
            let resume = run.join("checkpoint.safetensors").exists();
            let args = train_args(&run, resume);
            let mut child = tapegrad(&args.iter().map(String::as_str).collect::<Vec<_>>()).spawn().unwrap();
            if kills < KILLS {
                sleep(Duration::from_millis(rng.random_range(whole_run_ms / 50..whole_run_ms / 3)));
            }
            // `Child::kill` is SIGKILL on Unix: no destructor, no cleanup, as `kill -9`.
            let killed = kills < KILLS && matches!(child.try_wait(), Ok(None)) && child.kill().is_ok();
            let status = child.wait().unwrap();
            if !killed {
                assert!(status.success(), "a run between kills failed: {status}");
                break;
            }
            kills += 1;
            if run.exists() {
                assert_visible_files_load(&run, &format!("kill {kills}"));
            }
        }
        assert_visible_files_load(&run, "the finishing run");
        let left = temporaries(&run);
        assert!(left.is_empty(), "temporaries survived the finishing run: {left:?}");
        for name in ["model.safetensors", "config.json"] {
            let (a, b) = (fs::read(reference.join(name)).unwrap(), fs::read(run.join(name)).unwrap());
            assert!(a == b, "{name} after kills and --resume differs from the uninterrupted run's");
        }
    }
    eprintln!("{kills} kills over {folders} run folder(s), every one finished byte-identical");
}
