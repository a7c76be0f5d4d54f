//! Scoring a trained network on a data set: the metrics of SPEC §4 by the eval crate's names,
//! a readable table, and the raw predictions the plots need.

use std::fmt::Write as _;

use eval::{ClassificationSummary, ConfusionMatrix, Probabilities, RegressionSummary, ZeroDivision};
use tapegrad_data::{Dataset, Targets};

use super::config::Preprocessing;
use super::error::{CliError, Result};
use super::model::Network;
use super::train::argmax;

/// The predictions behind a set of metrics.
#[derive(Debug, Clone)]
pub enum Predictions {
    /// Classification: true labels, predicted labels, and per-class probabilities (row-major).
    Classes {
        /// True labels.
        y_true: Vec<usize>,
        /// Predicted labels (the most probable class).
        y_pred: Vec<usize>,
        /// Softmax probabilities, `n × n_classes`.
        probabilities: Vec<f64>,
        /// Number of classes.
        n_classes: usize,
        /// A name per class.
        class_names: Vec<String>,
    },
    /// Regression, in the target's units.
    Values {
        /// True values.
        y_true: Vec<f64>,
        /// Predictions.
        y_pred: Vec<f64>,
    },
}

/// The metrics of one data set.
#[derive(Debug, Clone)]
pub struct Scored {
    /// `(name, value)` in a fixed order, the eval crate's names.
    pub metrics: Vec<(String, f64)>,
    /// The predictions.
    pub predictions: Predictions,
}

/// Row-wise softmax of logits, in `f64` (shifted by the row maximum, so it cannot overflow).
pub fn softmax_rows(logits: &[f32], width: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(width) {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let exps: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        out.extend(exps.iter().map(|e| e / sum));
    }
    out
}

/// Network predictions in the data's own terms: class probabilities, or values mapped back
/// to the target's units.
pub enum Output {
    /// Softmax probabilities, `n × n_classes`, and the most probable class of each row.
    Classes {
        /// Probabilities, row-major.
        probabilities: Vec<f64>,
        /// The predicted class of each row.
        predicted: Vec<usize>,
    },
    /// Predicted values in target units.
    Values(Vec<f64>),
}

/// Runs the network on standardised `features` and maps its outputs back.
pub fn predict(network: &Network, preprocessing: &Preprocessing, features: &[f32]) -> Result<Output> {
    let outputs = network.predict(features)?;
    let width = network.spec().outputs;
    Ok(match &preprocessing.target_scaler {
        None => {
            let predicted = outputs.chunks(width).map(argmax).collect();
            Output::Classes { probabilities: softmax_rows(&outputs, width), predicted }
        }
        Some(scaler) => Output::Values(scaler.inverse(&outputs)?.into_iter().map(f64::from).collect()),
    })
}

/// Scores the network on `data` (standardised features, targets in original units).
pub fn score(network: &Network, preprocessing: &Preprocessing, data: &Dataset) -> Result<Scored> {
    let output = predict(network, preprocessing, data.features())?;
    match (data.targets(), output) {
        (Targets::Classes { labels, n_classes, .. }, Output::Classes { probabilities, predicted }) => {
            let n_classes_model = network.spec().outputs;
            if *n_classes > n_classes_model {
                return Err(CliError::ModelMismatch {
                    reason: format!("the data has {n_classes} classes, the model predicts {n_classes_model}"),
                });
            }
            let n_classes = n_classes_model;
            let summary = ClassificationSummary::with_probabilities(
                labels,
                &predicted,
                n_classes,
                Probabilities::PerClass(&probabilities),
            )?;
            let mut metrics: Vec<(String, f64)> =
                summary.to_named().into_iter().map(|(name, value)| (name.to_string(), value)).collect();
            metrics.extend(ranking_metrics(labels, &probabilities, n_classes)?);
            let class_names = preprocessing
                .class_names
                .clone()
                .filter(|names| names.len() == n_classes)
                .unwrap_or_else(|| (0..n_classes).map(|c| c.to_string()).collect());
            Ok(Scored {
                metrics,
                predictions: Predictions::Classes {
                    y_true: labels.clone(),
                    y_pred: predicted,
                    probabilities,
                    n_classes,
                    class_names,
                },
            })
        }
        (Targets::Values(values), Output::Values(predicted)) => {
            let y_true: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
            let summary = RegressionSummary::new(&y_true, &predicted)?;
            let metrics =
                summary.to_named().into_iter().map(|(name, value)| (name.to_string(), value)).collect();
            Ok(Scored { metrics, predictions: Predictions::Values { y_true, y_pred: predicted } })
        }
        _ => Err(CliError::ModelMismatch {
            reason: format!(
                "the model was trained for {}, the data is for {}",
                task_of(preprocessing),
                data.task()
            ),
        }),
    }
}

fn task_of(preprocessing: &Preprocessing) -> &'static str {
    if preprocessing.target_scaler.is_some() { "regression" } else { "classification" }
}

/// Threshold-free metrics: for two classes the ROC AUC and average precision of class 1; for
/// more, their one-vs-rest macro averages over the classes present in the data.
fn ranking_metrics(labels: &[usize], probabilities: &[f64], n_classes: usize) -> Result<Vec<(String, f64)>> {
    let column =
        |c: usize| -> Vec<f64> { probabilities.iter().skip(c).step_by(n_classes).copied().collect() };
    let one_vs_rest = |c: usize| -> Vec<usize> { labels.iter().map(|&l| usize::from(l == c)).collect() };
    if n_classes == 2 {
        let (truth, scores) = (one_vs_rest(1), column(1));
        if truth.iter().all(|&t| t == truth[0]) {
            return Ok(Vec::new());
        }
        return Ok(vec![
            ("roc_auc".to_string(), eval::roc_auc(&truth, &scores)?),
            ("average_precision".to_string(), eval::average_precision(&truth, &scores)?),
        ]);
    }
    let mut aucs = Vec::new();
    let mut aps = Vec::new();
    for c in 0..n_classes {
        let truth = one_vs_rest(c);
        let positives = truth.iter().filter(|&&t| t == 1).count();
        if positives == 0 || positives == truth.len() {
            continue;
        }
        let scores = column(c);
        aucs.push(eval::roc_auc(&truth, &scores)?);
        aps.push(eval::average_precision(&truth, &scores)?);
    }
    if aucs.is_empty() {
        return Ok(Vec::new());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(vec![
        ("roc_auc_ovr_macro".to_string(), mean(&aucs)),
        ("average_precision_macro".to_string(), mean(&aps)),
    ])
}

/// The readable report: the metrics, and for classification the per-class table and the
/// confusion matrix.
pub fn render(title: &str, scored: &Scored) -> Result<String> {
    let mut text = String::new();
    let n = match &scored.predictions {
        Predictions::Classes { y_true, .. } => y_true.len(),
        Predictions::Values { y_true, .. } => y_true.len(),
    };
    let _ = writeln!(text, "{title} ({n} samples)");
    let width = scored.metrics.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in &scored.metrics {
        let _ = writeln!(text, "  {name:<width$}  {}", format_value(name, *value));
    }
    if let Predictions::Classes { y_true, y_pred, n_classes, class_names, .. } = &scored.predictions {
        let confusion = ConfusionMatrix::new(y_true, y_pred, *n_classes)?;
        let report = eval::ClassificationReport::new(&confusion, ZeroDivision::Zero)
            .with_class_names(class_names.clone())?;
        let _ = writeln!(text, "\nPer class:\n{report:.4}");
        let _ = writeln!(text, "\nConfusion matrix (rows: true class, columns: predicted):\n{confusion}");
        if class_names.iter().enumerate().any(|(i, name)| *name != i.to_string()) {
            let legend: Vec<String> =
                class_names.iter().enumerate().map(|(i, n)| format!("{i} = {n}")).collect();
            let _ = writeln!(text, "  ({})", legend.join(", "));
        }
    }
    Ok(text)
}

/// A metric value for the table: fractions with 4 decimals, errors with a precision that suits
/// their size.
fn format_value(name: &str, value: f64) -> String {
    if name == "mape" {
        format!("{:.2}%", value * 100.0)
    } else if value.abs() >= 1000.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let p = softmax_rows(&[1000.0, 0.0, -1000.0, 1.0, 1.0, 1.0], 3);
        assert_eq!(&p[..3], &[1.0, 0.0, 0.0]);
        assert!((p[3..].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ranking_metrics_skip_absent_classes() {
        let labels = [0, 1, 0, 1];
        let probs = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7];
        let named = ranking_metrics(&labels, &probs, 2).unwrap();
        assert_eq!(named[0], ("roc_auc".to_string(), 1.0));
        let three = [0.8, 0.1, 0.1, 0.1, 0.8, 0.1];
        let named = ranking_metrics(&[0, 1], &three, 3).unwrap();
        assert_eq!(named[0].1, 1.0);
    }
}
