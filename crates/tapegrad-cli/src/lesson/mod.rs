//! The tutorial's lessons as real runs with plots: gradient-descent variants (§7), model capacity
//! (§9) and ridge regularisation (§10), each on shipped data, each printing a short
//! explanation and its figures, and writing PNG plots.

mod capacity;
mod gd_variants;
mod ridge;

use std::path::{Path, PathBuf};

use tapegrad_data::{SplitConfig, Targets};

use super::args::{Lesson, LessonArgs, LessonCommon};
use super::error::{CliError, Result};
use super::output::ensure_dir;

/// Runs `tapegrad lesson <name>`.
pub fn run(args: &LessonArgs) -> Result<()> {
    match &args.lesson {
        Lesson::GdVariants(common) => gd_variants::run(common, &out_dir(common, "gd-variants")),
        Lesson::Capacity(common) => capacity::run(common, &out_dir(common, "capacity")),
        Lesson::Ridge(common) => ridge::run(common, &out_dir(common, "ridge")),
    }
}

/// The lesson's output folder: `--out` or `runs/lesson-<name>`.
fn out_dir(common: &LessonCommon, name: &str) -> PathBuf {
    common.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("lesson-{name}")))
}

/// Prints a paragraph unless `--quiet`.
fn explain(common: &LessonCommon, text: &str) {
    if !common.quiet {
        say!("{}\n", text.trim());
    }
}

/// One real input and a real target, split three ways: the lessons' curve-fitting problem.
#[derive(Debug, Clone)]
pub struct OneFeature {
    /// What x is.
    pub x_name: String,
    /// What y is.
    pub y_name: String,
    /// Training inputs, mapped to [-1, 1] with the training minimum and maximum.
    pub x_train: Vec<f64>,
    /// Training targets.
    pub y_train: Vec<f64>,
    /// Validation inputs (same map).
    pub x_validation: Vec<f64>,
    /// Validation targets.
    pub y_validation: Vec<f64>,
    /// Test inputs (same map).
    pub x_test: Vec<f64>,
    /// Test targets.
    pub y_test: Vec<f64>,
}

/// Diabetes: body-mass index against disease progression one year later, with `train_samples`
/// training samples (the rest of the training split is dropped, so that capacity shows).
///
/// Inputs are mapped to [-1, 1] with the training minimum and maximum: powers up to x¹⁵ then
/// stay at most 1, which keeps the polynomial design matrix well enough conditioned.
pub fn diabetes_bmi(seed: u64, train_samples: usize) -> Result<OneFeature> {
    let loaded = tapegrad_data::load_shipped("diabetes", None)?;
    let column =
        loaded.data.feature_names().and_then(|names| names.iter().position(|n| n == "bmi")).ok_or_else(
            || CliError::ModelMismatch { reason: "the diabetes data has no `bmi` column".into() },
        )?;
    let split = SplitConfig { validation_fraction: 0.3, test_fraction: 0.2, seed, stratify: false };
    let splits = loaded.split(&split)?;
    let pick = |d: &tapegrad_data::Dataset, limit: usize| -> (Vec<f64>, Vec<f64>) {
        let n = d.n_samples().min(limit);
        let x = (0..n).filter_map(|i| d.row(i).map(|r| f64::from(r[column]))).collect();
        let y = match d.targets() {
            Targets::Values(v) => v.iter().take(n).map(|&t| f64::from(t)).collect(),
            Targets::Classes { labels, .. } => labels.iter().take(n).map(|&l| l as f64).collect(),
        };
        (x, y)
    };
    let (x_train, y_train) = pick(&splits.train, train_samples.max(2));
    let empty = || CliError::ModelMismatch { reason: "the diabetes split left a part empty".into() };
    let (x_validation, y_validation) = pick(splits.validation.as_ref().ok_or_else(empty)?, usize::MAX);
    let (x_test, y_test) = pick(splits.test.as_ref().ok_or_else(empty)?, usize::MAX);
    let lo = x_train.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = x_train.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let map = |x: Vec<f64>| x.into_iter().map(|v| 2.0 * (v - lo) / span - 1.0).collect::<Vec<f64>>();
    Ok(OneFeature {
        x_name: "body-mass index (scaled to [-1, 1] on the training samples)".into(),
        y_name: "disease progression after one year".into(),
        x_train: map(x_train),
        y_train,
        x_validation: map(x_validation),
        y_validation,
        x_test: map(x_test),
        y_test,
    })
}

/// Root mean squared error.
pub fn rmse(y: &[f64], prediction: &[f64]) -> Result<f64> {
    Ok(eval::rmse(y, prediction)?)
}

/// Creates the lesson folder and says where the plots go.
fn prepare_out(dir: &Path) -> Result<()> {
    ensure_dir(dir)
}

/// Evenly spaced values from `lo` to `hi` (inclusive).
fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64).collect()
}
