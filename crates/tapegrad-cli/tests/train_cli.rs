//! `tapegrad train`, `evaluate` and `predict` through the built binary, on shipped sets and a
//! user's CSV, with tiny settings so each run takes a moment.

mod common;

use common::{arg, assert_png, json, run_err, run_ok};

#[test]
fn train_writes_the_run_folder_and_evaluate_reproduces_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("iris");
    let stdout =
        run_ok(&["train", "--dataset", "iris", "--epochs", "8", "--threads", "1", "--out", arg(&run)]);
    // Not a terminal: one plain line per epoch, then the report.
    assert!(stdout.contains("epoch   8/8"), "{stdout}");
    assert!(stdout.contains("Test set (30 samples)") && stdout.contains("Confusion matrix"), "{stdout}");
    assert!(stdout.contains("virginica"), "class names reach the report:\n{stdout}");

    let metrics = json(&run.join("metrics.json"));
    assert_eq!(metrics["task"], "classification");
    assert_eq!(metrics["dataset"], "iris");
    assert!(metrics["train_seconds"].as_f64().is_some_and(|s| s >= 0.0));
    let test = &metrics["test"];
    for name in ["accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "log_loss", "precision_macro"] {
        assert!(test[name].as_f64().is_some_and(f64::is_finite), "metrics.json lacks {name}: {metrics}");
    }
    assert!(test["accuracy"].as_f64().unwrap() > 0.6, "{metrics}");
    assert_eq!(metrics["history"]["train_loss"].as_array().map(Vec::len), Some(8));

    let config = json(&run.join("config.json"));
    assert_eq!(config["model"]["inputs"], 4);
    assert_eq!(config["model"]["outputs"], 3);
    assert_eq!(config["training"]["epochs"], 8);
    for png in ["loss.png", "pr_curve.png", "confusion_matrix.png"] {
        assert_png(&run.join(png));
    }
    assert!(run.join("model.safetensors").is_file() && run.join("checkpoint.safetensors").is_file());

    // Weights + configuration rebuild the model: the same test split gives the same numbers.
    let evaluation = dir.path().join("evaluation.json");
    run_ok(&["evaluate", "--model", arg(&run), "--out", arg(&evaluation)]);
    let evaluation = json(&evaluation);
    assert_eq!(evaluation["split"], "test split");
    assert_eq!(evaluation["metrics"], metrics["test"]);

    // Predictions for rows with and without the target column.
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n").unwrap();
    let predictions = dir.path().join("predictions.csv");
    let stdout = run_ok(&["predict", "--model", arg(&run), "--data", arg(&rows), "--out", arg(&predictions)]);
    assert!(stdout.contains("Wrote 2 predictions"), "{stdout}");
    let text = std::fs::read_to_string(&predictions).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "prediction,p_setosa,p_versicolor,p_virginica");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("setosa,"), "a textbook setosa: {text}");
    let probabilities: f64 = lines[1].split(',').skip(1).map(|p| p.parse::<f64>().unwrap()).sum();
    assert!((probabilities - 1.0).abs() < 1e-4, "{text}");
}

#[test]
fn regression_reports_in_target_units_and_plots_predicted_against_actual() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("diabetes");
    run_ok(&["train", "--dataset", "diabetes", "--epochs", "5", "--threads", "1", "-q", "--out", arg(&run)]);
    let metrics = json(&run.join("metrics.json"));
    assert_eq!(metrics["task"], "regression");
    let test = &metrics["test"];
    for name in ["mse", "rmse", "mae", "mape", "r2"] {
        assert!(test[name].as_f64().is_some_and(f64::is_finite), "{metrics}");
    }
    // Disease progression runs 25–346: an RMSE in those units, not in standard deviations.
    let rmse = test["rmse"].as_f64().unwrap();
    assert!(rmse > 20.0 && rmse < 200.0, "rmse {rmse}");
    assert_png(&run.join("predicted_vs_actual.png"));
    assert_png(&run.join("loss.png"));

    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, "age sex bmi bp s1 s2 s3 s4 s5 s6\n59 2 32.1 101 157 93.2 38 4 4.8598 87\n")
        .unwrap();
    let predictions = dir.path().join("p.csv");
    run_ok(&["predict", "--model", arg(&run), "--data", arg(&rows), "--out", arg(&predictions)]);
    let text = std::fs::read_to_string(&predictions).unwrap();
    let value: f64 = text.lines().nth(1).unwrap().parse().unwrap();
    assert!(value > 0.0 && value < 400.0, "{text}");
}

#[test]
fn a_users_csv_trains_with_its_target_chosen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("points.csv");
    let mut text = String::from("label;x;y\n");
    for i in 0..60 {
        let (x, y) = ((i % 10) as f32, (i / 10) as f32);
        text.push_str(&format!("{};{x};{y}\n", if x > 4.5 { 7 } else { 3 }));
    }
    std::fs::write(&csv, text).unwrap();
    let run = dir.path().join("run");
    let stdout = run_ok(&[
        "train",
        "--data",
        arg(&csv),
        "--target",
        "label",
        "--task",
        "classification",
        "--epochs",
        "30",
        "--lr",
        "0.05",
        "--threads",
        "1",
        "--no-plots",
        "--out",
        arg(&run),
    ]);
    assert!(stdout.contains("points: "), "{stdout}");
    let metrics = json(&run.join("metrics.json"));
    assert_eq!(metrics["dataset"], "points");
    assert!(metrics["test"]["accuracy"].as_f64().unwrap() >= 0.9, "{metrics}");
    assert!(metrics["test"]["roc_auc"].as_f64().is_some(), "binary runs add ROC AUC: {metrics}");
    assert!(!run.join("loss.png").exists(), "--no-plots");
    // The original labels name the classes.
    let config = json(&run.join("config.json"));
    assert_eq!(config["preprocessing"]["class_names"], serde_json::json!(["3", "7"]));
    // Evaluating on the whole file.
    let out = run_ok(&[
        "evaluate",
        "--model",
        arg(&run),
        "--data",
        arg(&csv),
        "--target",
        "label",
        "--split",
        "all",
    ]);
    assert!(out.contains("all samples") && out.contains("(60 samples)"), "{out}");
}

#[test]
fn every_optimizer_and_schedule_trains() {
    let dir = tempfile::tempdir().unwrap();
    for (optimizer, schedule) in [
        ("sgd", "constant"),
        ("momentum", "step"),
        ("nesterov", "exponential"),
        ("rmsprop", "cosine"),
        ("adam", "warmup-cosine"),
        ("adamw", "cosine"),
        ("adagrad", "constant"),
    ] {
        let run = dir.path().join(optimizer);
        let out = run_ok(&[
            "train",
            "--dataset",
            "wine",
            "--optimizer",
            optimizer,
            "--schedule",
            schedule,
            "--epochs",
            "4",
            "--batch-size",
            "full",
            "--threads",
            "1",
            "--no-plots",
            "--out",
            arg(&run),
        ]);
        assert!(out.contains("epoch   4/4"), "{optimizer}: {out}");
        assert!(json(&run.join("metrics.json"))["test"]["accuracy"].as_f64().is_some());
    }
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // A learning rate far too high: the validation loss soon stops improving.
    let out = run_ok(&[
        "train",
        "--dataset",
        "wine",
        "--lr",
        "0.5",
        "--epochs",
        "60",
        "--patience",
        "3",
        "--threads",
        "1",
        "--no-plots",
        "--out",
        arg(&run),
    ]);
    let metrics = json(&run.join("metrics.json"));
    assert_eq!(metrics["stopped_early"], true, "{out}");
    let best = metrics["best_epoch"].as_u64().unwrap();
    let epochs = metrics["epochs"].as_u64().unwrap();
    assert_eq!(epochs, best + 3, "stops `patience` epochs after the best");
    assert!(out.contains(&format!("the weights are epoch {best}'s")), "{out}");
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let o = arg(&out);
    run_err(&["train", "--dataset", "cifar", "--out", o], &["unknown data set \"cifar\"", "mnist, digits"]);
    run_err(&["train", "--dataset", "iris", "--hidden", "16,x", "--out", o], &["--hidden", "\"x\""]);
    run_err(&["train", "--dataset", "iris", "--lr=-1", "--out", o], &["--lr", "-1"]);
    run_err(&["train", "--dataset", "iris", "--batch-size", "0", "--out", o], &["--batch-size"]);
    run_err(&["train", "--dataset", "iris", "--dropout", "1", "--out", o], &["--dropout"]);
    run_err(&["train", "--dataset", "iris", "--activation", "swish", "--out", o], &["unknown activation"]);
    run_err(&["train", "--dataset", "iris", "--loss", "mse", "--out", o], &["--loss"]);
    run_err(&["train", "--dataset", "iris", "--beta1", "1.5", "--out", o], &["beta1"]);
    run_err(&["train", "--out", o], &["--dataset"]);
    assert!(!out.exists(), "a failed run writes nothing");
    // A syntax error is clap's: exit code 2 with usage.
    let status = common::tapegrad(&["train", "--epochs", "many"]).output().unwrap().status;
    assert_eq!(status.code(), Some(2));
}
