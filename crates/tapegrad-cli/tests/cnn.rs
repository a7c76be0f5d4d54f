//! `tapegrad train --model cnn` through the built binary on a tiny idx folder of 8×8 images
//! written here (bars across against bars down, with noise): train, evaluate and predict;
//! `--resume` of a cnn run ends with the uninterrupted run's bytes; and the flags and data a
//! cnn cannot use are refused. Small channel counts keep each run to a moment in a debug build.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, json, run_err, run_ok};

const SIDE: usize = 8;

/// An idx header for byte data: magic `00 00 08 <dims>`, each dimension a big-endian u32.
fn idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for &d in dims {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

/// `n` images and labels: class 0 a bright row, class 1 a bright column, at a varying place,
/// over low noise from a fixed linear congruential generator.
fn images(n: usize, mut state: u64) -> (Vec<u8>, Vec<u8>) {
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut pixels = Vec::with_capacity(n * SIDE * SIDE);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 2;
        let place = 1 + next() % (SIDE - 2);
        for row in 0..SIDE {
            for col in 0..SIDE {
                let on = if class == 0 { row == place } else { col == place };
                pixels.push(if on { 200 + (next() % 56) as u8 } else { (next() % 40) as u8 });
            }
        }
        labels.push(class as u8);
    }
    (pixels, labels)
}

/// An MNIST-style folder: 48 training and 16 official test images.
fn idx_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("bars");
    std::fs::create_dir(&folder).unwrap();
    for (prefix, n, seed) in [("train", 48, 1), ("t10k", 16, 2)] {
        let (pixels, labels) = images(n, seed);
        std::fs::write(folder.join(format!("{prefix}-images-idx3-ubyte")), idx(&[n, SIDE, SIDE], &pixels))
            .unwrap();
        std::fs::write(folder.join(format!("{prefix}-labels-idx1-ubyte")), idx(&[n], &labels)).unwrap();
    }
    folder
}

/// A small cnn run on `data` into `out`, with `extra` flags.
fn train(data: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--data",
        arg(data),
        "--model",
        "cnn",
        "--channels",
        "4,8",
        "--hidden",
        "16",
        "--dropout",
        "0.2",
        "--batch-size",
        "8",
        "--epochs",
        "4",
        "--lr",
        "0.01",
        "--threads",
        "1",
        "--no-plots",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    run_ok(&args)
}

#[test]
fn a_cnn_trains_on_an_idx_folder_and_evaluate_and_predict_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_folder(dir.path());
    let run = dir.path().join("run");
    let stdout = train(&data, &run, &[]);
    assert!(stdout.contains("CNN on 8×8 images: conv 3×3 4-8"), "{stdout}");
    assert!(stdout.contains("Test set (16 samples)"), "the idx folder's own test set is used:\n{stdout}");

    let config = json(&run.join("config.json"));
    assert_eq!(config["model"]["kind"], "cnn");
    assert_eq!(config["model"]["conv"], serde_json::json!({"height": 8, "width": 8, "channels": [4, 8]}));
    // Two blocks halve 8×8 twice: 8 channels × 2 × 2 flattened features feed the hidden layer.
    assert_eq!(config["model"]["hidden"], serde_json::json!([16]));
    let metrics = json(&run.join("metrics.json"));
    let accuracy = metrics["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.75, "bars across against bars down should be easy: {metrics}");

    let evaluation = dir.path().join("evaluation.json");
    run_ok(&["evaluate", "--model", arg(&run), "--out", arg(&evaluation)]);
    assert_eq!(json(&evaluation)["metrics"], metrics["test"], "evaluate rebuilds the same cnn");
    let all = dir.path().join("all.json");
    run_ok(&["evaluate", "--model", arg(&run), "--data", arg(&data), "--split", "all", "--out", arg(&all)]);
    assert_eq!(json(&all)["samples"], 64);

    // Predict takes each image as a CSV row of its 64 raw pixels.
    let (pixels, labels) = images(4, 9);
    let rows: String = pixels
        .chunks(SIDE * SIDE)
        .map(|image| image.iter().map(u8::to_string).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, rows).unwrap();
    let predictions = dir.path().join("predictions.csv");
    let stdout = run_ok(&["predict", "--model", arg(&run), "--data", arg(&csv), "--out", arg(&predictions)]);
    assert!(stdout.contains("Wrote 4 predictions"), "{stdout}");
    let text = std::fs::read_to_string(&predictions).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "prediction,p_0,p_1");
    assert_eq!(lines.len(), 1 + labels.len(), "{text}");
}

#[test]
fn resuming_a_cnn_run_gives_the_uninterrupted_runs_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_folder(dir.path());
    let whole = dir.path().join("whole");
    train(&data, &whole, &[]);
    let expected = std::fs::read(whole.join("model.safetensors")).unwrap();
    let paused = dir.path().join("paused");
    let stdout = train(&data, &paused, &["--stop-after", "2"]);
    assert!(stdout.contains("paused after epoch 2"), "{stdout}");
    let stdout = train(&data, &paused, &["--resume"]);
    assert!(stdout.contains("resuming after epoch 2 of 4"), "{stdout}");
    assert!(std::fs::read(paused.join("model.safetensors")).unwrap() == expected, "resumed weights differ");
    // The folder alone says it is a cnn run.
    let paused_again = dir.path().join("paused-again");
    train(&data, &paused_again, &["--stop-after", "3"]);
    run_ok(&["train", "--resume", "--out", arg(&paused_again), "--threads", "1", "--no-plots"]);
    assert!(std::fs::read(paused_again.join("model.safetensors")).unwrap() == expected);
}

#[test]
fn a_cnn_needs_images_and_cnn_flags_need_a_cnn() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("table.csv");
    std::fs::write(&csv, "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n").unwrap();
    let out = dir.path().join("run");
    run_err(
        &["train", "--data", arg(&csv), "--model", "cnn", "--out", arg(&out)],
        &["--model", "image-shaped input", "table.csv"],
    );
    run_err(&["train", "--dataset", "iris", "--model", "cnn", "--out", arg(&out)], &["--model", "iris"]);
    run_err(
        &["train", "--dataset", "iris", "--channels", "4", "--out", arg(&out)],
        &["--channels", "--model cnn"],
    );
    let data = idx_folder(dir.path());
    run_err(
        &["train", "--data", arg(&data), "--model", "cnn", "--channels", "4,4,4,4", "--out", arg(&out)],
        &["--channels", "4 blocks halve 8×8"],
    );
    run_err(
        &["train", "--data", arg(&data), "--model", "cnn", "--channels", "4,x", "--out", arg(&out)],
        &["--channels", "\"x\""],
    );
    assert!(!out.exists(), "nothing is written for a refused run");
}
