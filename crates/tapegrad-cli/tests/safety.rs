//! The command line never destroys a user's files, never leaves a run folder half old and half
//! new, and turns what it cannot do into one `error:` line (issue 15): each case through the
//! built binary, on iris with one epoch so each run takes a moment.

mod common;

use std::fs;
use std::path::Path;

use common::{arg, run_err, run_ok, tapegrad};
use nn::weights_file::{self, TensorData};
use tapegrad_cli::checkpoint::Checkpoint;
use tapegrad_cli::run_folder::{Manifest, fingerprint};

/// Trains a one-epoch iris run into `run`.
fn train(run: &Path, extra: &[&str]) {
    common::train_iris(run, extra);
}

/// Replaces `name` in the run folder and records it in the manifest, as a training would: the
/// reader's own checks (sizes, finite weights) are then what stops it, not the manifest's.
fn forge(run: &Path, name: &str, bytes: &[u8]) {
    fs::write(run.join(name), bytes).unwrap();
    let path = run.join("run.json");
    let mut manifest: Manifest = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let record = manifest.files.get_mut(name).unwrap();
    record.size = bytes.len() as u64;
    record.fnv1a64 = fingerprint(bytes);
    fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn planted_symlinks_and_folders_at_temporary_names_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let run = dir.path().join("run");
    fs::create_dir(&run).unwrap();
    // The old writers' names were predictable from the next process ids: plant a symlink at
    // every one of them, for the next few hundred ids, and a folder at some.
    let last: u32 = fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(std::process::id());
    for pid in last..last + 300 {
        for name in [
            format!(".config.tmp-{pid}.json"),
            format!(".metrics.tmp-{pid}.json"),
            format!(".loss.tmp-{pid}.png"),
        ] {
            std::os::unix::fs::symlink(&victim, run.join(name)).unwrap();
        }
        fs::create_dir(run.join(format!(".pr_curve.tmp-{pid}.png"))).unwrap();
        std::os::unix::fs::symlink(&victim, run.join(format!(".checkpoint.safetensors.{pid}.0.tmp")))
            .unwrap();
    }
    // And at names with our prefix: the clean-up of stale temporaries must not follow them.
    std::os::unix::fs::symlink(&victim, run.join(".tapegrad-planted.tmp")).unwrap();
    fs::create_dir(run.join(".tapegrad-planted-dir.tmp")).unwrap();
    let before = names(&run).len();
    run_ok(&["train", "--dataset", "iris", "--epochs", "1", "--threads", "1", "-q", "--out", arg(&run)]);
    assert_eq!(fs::read(&victim).unwrap(), b"precious", "the victim was written through a symlink");
    assert!(run.join("loss.png").is_file() && run.join("config.json").is_file());
    // Our files, the manifest and the lock are added; every planted name is still there.
    let after = names(&run);
    assert_eq!(after.len(), before + 9, "{after:?}");
    assert!(after.iter().all(|n| !n.starts_with(".tapegrad-") || n.contains("planted")), "{after:?}");
}

#[test]
fn a_stale_temporary_of_a_killed_run_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fs::create_dir(&run).unwrap();
    fs::write(run.join(".tapegrad-AbC123.tmp"), vec![0u8; 1000]).unwrap();
    fs::write(run.join(".checkpoint.safetensors.4242.3.tmp"), vec![0u8; 1000]).unwrap();
    train(&run, &[]);
    let left: Vec<String> = names(&run).into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn outputs_never_replace_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = d.join("run");
    train(&run, &[]);
    let rows = d.join("x.csv");
    let text = b"5.1,3.5,1.4,0.2\n";
    fs::write(&rows, text).unwrap();
    run_err(
        &["predict", "--model", arg(&run), "--data", arg(&rows), "--out", arg(&rows)],
        &["x.csv", "also an input"],
    );
    assert_eq!(fs::read(&rows).unwrap(), text);
    // The default output, predictions.csv, as the input.
    fs::write(d.join("predictions.csv"), text).unwrap();
    let output = tapegrad(&["predict", "--model", arg(&run), "--data", "predictions.csv"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("also an input"), "{output:?}");
    assert_eq!(fs::read(d.join("predictions.csv")).unwrap(), text);
    // A run's own files are no metrics destination.
    let model = fs::read(run.join("model.safetensors")).unwrap();
    let target = run.join("model.safetensors");
    run_err(
        &["evaluate", "--model", arg(&run), "--out", arg(&target)],
        &["model.safetensors", "also an input"],
    );
    assert_eq!(fs::read(&target).unwrap(), model);
    // Training data inside --out, at a name the run writes: refused even with --force.
    let data = run.join("metrics.json");
    fs::write(&data, "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,1,0\n2,3,1\n4,5,0\n6,7,1\n8,9,0\n1,3,1\n")
        .unwrap();
    run_err(
        &["train", "--data", arg(&data), "--epochs", "1", "-q", "--no-plots", "--force", "--out", arg(&run)],
        &["also an input"],
    );
}

#[test]
fn files_in_out_that_tapegrad_did_not_write_are_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fs::create_dir(&run).unwrap();
    fs::write(run.join("metrics.json"), b"my own notes").unwrap();
    run_err(
        &["train", "--dataset", "iris", "--epochs", "1", "-q", "--no-plots", "--out", arg(&run)],
        &["metrics.json", "did not write", "--force"],
    );
    assert_eq!(fs::read(run.join("metrics.json")).unwrap(), b"my own notes");
    assert_eq!(names(&run), [".tapegrad.lock", "metrics.json"], "nothing was written");
    // A file tapegrad wrote and the user changed afterwards is theirs now.
    fs::remove_file(run.join("metrics.json")).unwrap();
    train(&run, &[]);
    train(&run, &["--seed", "1"]);
    fs::write(run.join("config.json"), b"{}").unwrap();
    run_err(
        &["train", "--dataset", "iris", "--epochs", "1", "-q", "--no-plots", "--out", arg(&run)],
        &["config.json", "did not write"],
    );
    train(&run, &["--force"]);
    run_ok(&["evaluate", "--model", arg(&run)]);
}

#[test]
fn sizes_beyond_the_limits_are_errors_not_aborts() {
    for hidden in ["4000000000", "18446744073709551615", "100000,100000"] {
        run_err(&["train", "--dataset", "iris", "--hidden", hidden, "--epochs", "1", "-q"], &["too large"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let batch =
        ["train", "--dataset", "digits", "--hidden", "1000000", "--batch-size", "full", "-q", "--out"];
    run_err(&[&batch[..], &[arg(&run)]].concat(), &["--batch-size", "limit"]);
    assert!(!run.exists(), "checked before the folder is made");
    train(&run, &[]);
    let rows = dir.path().join("rows.csv");
    fs::write(&rows, "5.1,3.5,1.4,0.2\n").unwrap();
    let config = fs::read_to_string(run.join("config.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&config).unwrap();
    // 1e12 is no integer (a clean parse error); 10^12 as an integer is beyond the limits.
    for (outputs, fragment) in
        [(serde_json::json!(1e12), "config.json"), (serde_json::json!(1_000_000_000_000u64), "too large")]
    {
        value["model"]["outputs"] = outputs;
        forge(&run, "config.json", value.to_string().as_bytes());
        run_err(&["evaluate", "--model", arg(&run)], &[fragment]);
        let out = dir.path().join("p.csv");
        run_err(&["predict", "--model", arg(&run), "--data", arg(&rows), "--out", arg(&out)], &[fragment]);
    }
    // A checkpoint whose configuration asks for 10^12 hidden units.
    let path = run.join("checkpoint.safetensors");
    let mut checkpoint = Checkpoint::load(&path).unwrap();
    checkpoint.config.model.hidden = vec![1_000_000_000_000];
    checkpoint.config.training.epochs = 2;
    forge(&run, "checkpoint.safetensors", &checkpoint.to_bytes(&path).unwrap());
    run_err(&["train", "--resume", "--out", arg(&run), "-q"], &["too large"]);
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &[]);
    let rows = dir.path().join("rows.csv");
    fs::write(&rows, "5.1,3.5,1.4,0.2\n").unwrap();
    let original = weights_file::load_with_metadata(run.join("model.safetensors")).unwrap();
    for bad in [f32::NAN, f32::INFINITY] {
        let mut tensors = original.tensors.clone();
        let TensorData::F32(values) = &mut tensors[0].data else { panic!("f32 weights") };
        values[3] = bad;
        let name = tensors[0].name.clone();
        forge(&run, "model.safetensors", &weights_file::to_bytes(&tensors, &original.metadata).unwrap());
        run_err(&["evaluate", "--model", arg(&run)], &[&name, "index 3"]);
        let out = dir.path().join("p.csv");
        run_err(
            &["predict", "--model", arg(&run), "--data", arg(&rows), "--out", arg(&out)],
            &[&name, "index 3"],
        );
        assert!(!out.exists());
    }
    // The same in a checkpoint, for --resume.
    let path = run.join("checkpoint.safetensors");
    let file = weights_file::load_with_metadata(&path).unwrap();
    let mut tensors = file.tensors.clone();
    let TensorData::F32(values) = &mut tensors[0].data else { panic!("f32 weights") };
    values[0] = f32::NAN;
    let name = tensors[0].name.clone();
    forge(&run, "checkpoint.safetensors", &weights_file::to_bytes(&tensors, &file.metadata).unwrap());
    run_err(&["train", "--resume", "--out", arg(&run), "-q"], &[&name, "index 0"]);
}

#[test]
fn flags_that_cannot_work_or_do_not_apply_are_errors() {
    let base = ["train", "--dataset", "iris", "--epochs", "3", "-q"];
    let cases: [(&[&str], &str); 7] = [
        (&["--schedule", "step", "--step-size", "0"], "--step-size"),
        (&["--target", "0"], "--target"),
        (&["--task", "regression"], "--task"),
        (&["--gamma", "0.5"], "--gamma"),
        (&["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
        (&["--optimizer", "sgd", "--beta1", "0.5"], "--beta1"),
        (&["--schedule", "warmup-cosine", "--warmup-epochs", "0"], "--warmup-epochs"),
    ];
    for (extra, flag) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        run_err(&args, &[flag]);
    }
}

#[test]
fn a_folder_mixing_two_runs_is_refused_and_a_second_training_waits_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train(&a, &[]);
    train(&b, &["--seed", "7"]);
    // The weights of one run beside the configuration of another, as an interrupted write left them.
    fs::copy(b.join("model.safetensors"), a.join("model.safetensors")).unwrap();
    run_err(&["evaluate", "--model", arg(&a)], &["model.safetensors does not match run.json"]);
    let rows = dir.path().join("rows.csv");
    fs::write(&rows, "5.1,3.5,1.4,0.2\n").unwrap();
    run_err(
        &["predict", "--model", arg(&a), "--data", arg(&rows), "--out", arg(&dir.path().join("p.csv"))],
        &["model.safetensors"],
    );
    // A training in progress holds the lock: another one into the folder fails at once.
    let lock = fs::OpenOptions::new().write(true).open(b.join(".tapegrad.lock")).unwrap();
    lock.try_lock().unwrap();
    run_err(
        &["train", "--dataset", "iris", "--epochs", "1", "-q", "--no-plots", "--out", arg(&b)],
        &["another tapegrad training is writing to"],
    );
    drop(lock);
    train(&b, &[]);
}
