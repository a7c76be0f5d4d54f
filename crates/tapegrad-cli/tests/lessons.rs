//! The tutorial's lessons run end to end and write their plots.

mod common;

use common::{arg, assert_png, run_ok};

#[test]
fn capacity_shows_under_and_over_fitting() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&["lesson", "capacity", "--out", arg(dir.path())]);
    assert!(out.contains("Model capacity (tutorial §9)"), "the explanation is printed:\n{out}");
    assert!(out.contains("lowest validation RMSE: degree"), "{out}");
    assert_png(&dir.path().join("capacity.png"));
    assert_png(&dir.path().join("capacity_fits.png"));
}

#[test]
fn ridge_chooses_lambda_on_validation_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&["lesson", "ridge", "--quiet", "--out", arg(dir.path())]);
    assert!(!out.contains("Regularisation (tutorial §10)"), "--quiet drops the explanation");
    assert!(out.contains("chosen on validation: λ ="), "{out}");
    assert_png(&dir.path().join("ridge.png"));
    assert_png(&dir.path().join("ridge_fits.png"));
}

#[test]
fn gd_variants_compares_six_methods() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&["lesson", "gd-variants", "--epochs", "2", "--out", arg(dir.path())]);
    for method in ["batch GD", "stochastic GD", "mini-batch GD", "momentum", "RMSprop", "Adam"] {
        assert!(out.contains(method), "{method} missing:\n{out}");
    }
    assert_png(&dir.path().join("gd_variants.png"));
}
