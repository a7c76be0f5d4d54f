//! Bad data through the binary: each case is one clear `error: …` line naming the file (and
//! line and column where there is one), exit code 1, no panic, and no output folder.

mod common;

use std::path::Path;

use common::{arg, run_err, run_ok};

/// Runs `train` on `data` (with `extra` flags) and checks the failure and that `--out` was
/// never created.
#[track_caller]
fn train_fails(dir: &Path, data: &Path, extra: &[&str], fragments: &[&str]) {
    let out = dir.join("run");
    let mut args = vec!["train", "--data", arg(data), "--epochs", "1", "--out", arg(&out)];
    args.extend_from_slice(extra);
    run_err(&args, fragments);
    assert!(!out.exists(), "a failed run must not create {}", out.display());
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    train_fails(dir.path(), &dir.path().join("absent.csv"), &[], &["absent.csv", "not found"]);
}

#[test]
fn csv_errors_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = write(d, "text.csv", b"a,b,y\n1,2,0\n3,x,1\n");
    train_fails(d, &text, &[], &["text.csv", "line 3, column 2", "\"x\" is not a number"]);
    let nan = write(d, "nan.csv", b"a,b,y\n1,2,0\n3,NaN,1\n");
    train_fails(d, &nan, &[], &["nan.csv", "line 3, column 2", "not a finite"]);
    let inf = write(d, "inf.csv", b"1,2,0\n3,inf,1\n");
    train_fails(d, &inf, &[], &["line 2, column 2"]);
    let short = write(d, "short.csv", b"a,b,y\n1,2,0\n3,1\n");
    train_fails(d, &short, &[], &["short.csv", "line 3", "expected 3 fields, found 2"]);
    let empty = write(d, "empty.csv", b"");
    train_fails(d, &empty, &[], &["empty.csv", "no data rows"]);
}

#[test]
fn a_truncated_gzip_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sklearn/digits.csv.gz");
    let bytes = std::fs::read(shipped).unwrap();
    let cut = write(dir.path(), "digits.csv.gz", &bytes[..bytes.len() / 2]);
    train_fails(dir.path(), &cut, &[], &["digits.csv.gz", "decompressing gzip data"]);
}

#[test]
fn target_and_label_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write(d, "data.csv", b"a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    train_fails(d, &data, &["--target", "z"], &["target column \"z\" not found", "[\"a\", \"b\", \"y\"]"]);
    train_fails(d, &data, &["--target", "7"], &["target column at index 7 not found"]);
    let negative = write(d, "negative.csv", b"a,y\n1,0\n2,-1\n");
    train_fails(d, &negative, &["--target", "y"], &["negative.csv", "line 3", "class label -1 is negative"]);
    let fraction = write(d, "fraction.csv", b"a,y\n1,0\n2,1.5\n");
    train_fails(d, &fraction, &["--target", "y"], &["fraction.csv", "line 3", "1.5 is not an integer"]);
    let one_class = write(d, "one.csv", b"a,y\n1,4\n2,4\n3,4\n4,4\n5,4\n6,4\n7,4\n8,4\n9,4\n10,4\n");
    train_fails(d, &one_class, &["--target", "y"], &["at least 2 classes"]);
}

/// An idx header: magic `00 00 08 <dims>`, then each dimension as a big-endian u32.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn idx_folders_with_a_bad_magic_or_truncated_data_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad_magic = dir.path().join("magic");
    std::fs::create_dir(&bad_magic).unwrap();
    write(&bad_magic, "train-images-idx3-ubyte", b"\x12\x34\x08\x03rest");
    write(&bad_magic, "train-labels-idx1-ubyte", &idx(&[2], &[0, 1]));
    train_fails(dir.path(), &bad_magic, &[], &["train-images-idx3-ubyte", "bad magic number"]);

    let truncated = dir.path().join("truncated");
    std::fs::create_dir(&truncated).unwrap();
    // Two 2x2 images declared, one and a half present.
    write(&truncated, "train-images-idx3-ubyte", &idx(&[2, 2, 2], &[0, 1, 2, 3, 4, 5]));
    write(&truncated, "train-labels-idx1-ubyte", &idx(&[2], &[0, 1]));
    train_fails(dir.path(), &truncated, &[], &["train-images-idx3-ubyte", "truncated"]);

    let no_labels = dir.path().join("nolabels");
    std::fs::create_dir(&no_labels).unwrap();
    write(&no_labels, "train-images-idx3-ubyte", &idx(&[2, 2, 2], &[0; 8]));
    train_fails(dir.path(), &no_labels, &[], &["train-labels-idx1-ubyte", "not found"]);
}

#[test]
fn a_users_idx_folder_trains_like_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("tiny-idx");
    std::fs::create_dir(&folder).unwrap();
    // 40 2x2 images: class 1 is bright on the left, class 0 on the right.
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..40u8 {
        let class = i % 2;
        let (left, right) = if class == 1 { (200 + i, 10) } else { (10, 200 + i) };
        pixels.extend_from_slice(&[left, right, left, right]);
        labels.push(class);
    }
    write(&folder, "train-images-idx3-ubyte", &idx(&[40, 2, 2], &pixels));
    write(&folder, "train-labels-idx1-ubyte", &idx(&[40], &labels));
    let run = dir.path().join("run");
    run_ok(&[
        "train",
        "--data",
        arg(&folder),
        "--epochs",
        "20",
        "--lr",
        "0.05",
        "--threads",
        "1",
        "--no-plots",
        "--out",
        arg(&run),
    ]);
    let metrics = common::json(&run.join("metrics.json"));
    assert_eq!(metrics["test"]["accuracy"], 1.0, "{metrics}");
}

#[test]
fn evaluate_and_predict_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_err(&["evaluate", "--model", arg(&d.join("nothing"))], &["nothing", "no such run folder"]);
    let run = d.join("run");
    common::train_iris(&run, &[]);
    let predictions = d.join("p.csv");
    let bad = write(d, "bad.csv", b"5.1,3.5,1.4,0.2\n6.7,oops,5.2,2.3\n");
    run_err(
        &["predict", "--model", arg(&run), "--data", arg(&bad), "--out", arg(&predictions)],
        &["bad.csv", "line 2, column 2", "\"oops\" is not a number"],
    );
    let wide = write(d, "wide.csv", b"1,2,3,4,5,6\n");
    run_err(
        &["predict", "--model", arg(&run), "--data", arg(&wide), "--out", arg(&predictions)],
        &["4 features"],
    );
    assert!(!predictions.exists(), "no half-written predictions");
    // Data with other features than the model's.
    run_err(&["evaluate", "--model", arg(&run), "--dataset", "wine"], &["4 features", "13"]);
    // A damaged weights file no longer matches the manifest the run wrote.
    std::fs::write(run.join("model.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00{").unwrap();
    run_err(&["evaluate", "--model", arg(&run)], &["model.safetensors does not match run.json"]);
}
