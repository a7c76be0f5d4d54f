//! `mpirun -np 2 tapegrad train --distributed` against one process (feature `mpi`; run by
//! `cargo xtask ci` when `mpirun` is installed). Every MPI launch is bounded by `timeout`,
//! so a broken MPI fails the test instead of hanging it.
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tapegrad");
/// Seconds one launch may take before it counts as a hang.
const LIMIT: &str = "300";
/// The bound on `max |N=2 - N=1| / max |N=1|` over all parameters (f32, ~175 steps).
const BOUND: f32 = 1e-6;

fn train(out: &Path, ranks: Option<&str>) {
    let common = [
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "25",
        "--batch-size",
        "16",
        "--seed",
        "1",
        "--no-plots",
        "--quiet",
        "--threads",
        "1",
        "--out",
    ];
    let mut cmd = match ranks {
        None => Command::new(BIN),
        Some(n) => {
            let mut c = Command::new("timeout");
            c.args([LIMIT, "mpirun", "--allow-run-as-root", "--oversubscribe", "-np", n, BIN]);
            c
        }
    };
    cmd.args(common).arg(out);
    if ranks.is_some() {
        cmd.arg("--distributed");
    }
    let status = cmd.status().expect("could not start tapegrad (or timeout/mpirun)");
    assert!(
        status.success(),
        "training with {ranks:?} ranks failed ({status}; 124 means MPI hung and timed out)"
    );
}

/// Every f32 parameter of a safetensors file, in name order.
fn parameters(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__").collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let offsets = &header[name]["data_offsets"];
        let (s, e) = (offsets[0].as_u64().unwrap() as usize, offsets[1].as_u64().unwrap() as usize);
        out.extend(data[s..e].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
    }
    out
}

#[test]
fn two_ranks_match_one_process_and_rerun_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two, again) = (dir.path().join("one"), dir.path().join("two"), dir.path().join("again"));
    train(&one, None);
    train(&two, Some("2"));
    train(&again, Some("2"));
    let model = "model.safetensors";
    assert_eq!(
        std::fs::read(two.join(model)).unwrap(),
        std::fs::read(again.join(model)).unwrap(),
        "two runs with 2 ranks differ"
    );
    // The run says how much of its time the exchange took; a single process has no such entry.
    let metrics = |run: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap()
    };
    let distributed = &metrics(&two)["distributed"];
    assert_eq!(distributed["ranks"], 2);
    assert!(distributed["all_reduce_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{distributed}");
    assert!(metrics(&one).get("distributed").is_none());
    let (a, b) = (parameters(&one.join(model)), parameters(&two.join(model)));
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&b).fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst / scale <= BOUND,
        "N=2 vs N=1: max diff {worst:e} relative {:e} > {BOUND:e}",
        worst / scale
    );
    // Rank 0 alone wrote the run folder, and it resumes in one process.
    let status = Command::new(BIN)
        .args(["train", "--resume", "--quiet", "--no-plots", "--out"])
        .arg(&two)
        .status()
        .unwrap();
    assert!(status.success());
}
