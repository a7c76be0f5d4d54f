//! Conformance with scikit-learn: every value of every case in `metrics_sklearn.json`.
//!
//! The fixture folder is `$TAPEGRAD_FIXTURES` when set, else the repo's
//! `fixtures`. Nothing here depends on the particular cases: every case
//! of a known kind is run, every output key it holds is checked (an unknown
//! kind or key is a failure, so nothing is skipped silently), and all
//! mismatches are reported together.

use std::path::PathBuf;

use eval::{Average, ConfusionMatrix, ZeroDivision};
use serde_json::{Map, Value};

/// Relative tolerance for every value (curves element by element).
const RELATIVE_TOLERANCE: f64 = 1e-10;

fn fixture_dir() -> PathBuf {
    std::env::var_os("TAPEGRAD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures")))
}

/// Collects mismatches so one run reports all of them.
#[derive(Default)]
struct Checker {
    failures: Vec<String>,
    values_checked: usize,
}

impl Checker {
    fn fail(&mut self, context: &str, message: String) {
        self.failures.push(format!("{context}: {message}"));
    }

    /// `|actual − expected| <= max(1e-10·|expected|, extra_tolerance)`; an
    /// expected 0 must be matched exactly unless `extra_tolerance` says otherwise.
    fn close(
        &mut self,
        context: &str,
        key: &str,
        actual: eval::Result<f64>,
        expected: f64,
        extra_tolerance: f64,
    ) {
        self.values_checked += 1;
        match actual {
            Err(e) => self.fail(context, format!("{key}: error {e}")),
            Ok(actual) => {
                let tolerance = (RELATIVE_TOLERANCE * expected.abs()).max(extra_tolerance);
                let equal = actual == expected || (actual - expected).abs() <= tolerance;
                if !equal {
                    self.fail(
                        context,
                        format!("{key}: got {actual:e}, expected {expected:e} (tolerance {tolerance:e})"),
                    );
                }
            }
        }
    }

    fn close_vec(&mut self, context: &str, key: &str, actual: eval::Result<Vec<f64>>, expected: &[f64]) {
        match actual {
            Err(e) => self.fail(context, format!("{key}: error {e}")),
            Ok(actual) if actual.len() != expected.len() => {
                self.fail(context, format!("{key}: length {} but expected {}", actual.len(), expected.len()))
            }
            Ok(actual) => {
                for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
                    self.close(context, &format!("{key}[{i}]"), Ok(a), e, 0.0);
                }
            }
        }
    }

    fn confusion(&mut self, context: &str, actual: eval::Result<ConfusionMatrix>, expected: &Value) {
        self.values_checked += 1;
        let expected: Option<Vec<Vec<usize>>> =
            expected.as_array().and_then(|rows| rows.iter().map(labels).collect::<Option<Vec<_>>>());
        match (actual, expected) {
            (Err(e), _) => self.fail(context, format!("confusion: error {e}")),
            (_, None) => self.fail(context, "confusion: fixture is not a matrix of counts".into()),
            (Ok(cm), Some(expected)) if cm.rows() != expected => {
                self.fail(context, format!("confusion: got {:?}, expected {expected:?}", cm.rows()))
            }
            (Ok(_), Some(_)) => {}
        }
    }
}

fn floats(value: &Value) -> Option<Vec<f64>> {
    value.as_array()?.iter().map(Value::as_f64).collect()
}

/// Labels are stored as floats (`1.0`); each must be a non-negative integer.
fn labels(value: &Value) -> Option<Vec<usize>> {
    value
        .as_array()?
        .iter()
        .map(|v| {
            let x = v.as_f64()?;
            (x >= 0.0 && x.fract() == 0.0).then_some(x as usize)
        })
        .collect()
}

/// Inputs of a case, parsed once; `None` for whatever the case does not hold.
struct Inputs {
    y_true_labels: Option<Vec<usize>>,
    y_pred_labels: Option<Vec<usize>>,
    y_true_values: Option<Vec<f64>>,
    y_pred_values: Option<Vec<f64>>,
    y_score: Option<Vec<f64>>,
    probabilities: Option<Vec<f64>>,
    probabilities_rows: Option<Vec<Vec<f64>>>,
    num_classes: Option<usize>,
}

const INPUT_KEYS: [&str; 6] = ["kind", "y_true", "y_pred", "y_score", "probabilities", "num_classes"];

impl Inputs {
    fn parse(case: &Map<String, Value>) -> Self {
        let rows: Option<Vec<Vec<f64>>> = case
            .get("probabilities")
            .and_then(Value::as_array)
            .and_then(|rows| rows.iter().map(floats).collect());
        Self {
            y_true_labels: case.get("y_true").and_then(labels),
            y_pred_labels: case.get("y_pred").and_then(labels),
            y_true_values: case.get("y_true").and_then(floats),
            y_pred_values: case.get("y_pred").and_then(floats),
            y_score: case.get("y_score").and_then(floats),
            probabilities: rows.as_ref().map(|r| r.concat()),
            probabilities_rows: rows,
            num_classes: case.get("num_classes").and_then(Value::as_u64).map(|k| k as usize),
        }
    }
}

/// The number of decimals in the shortest representation of `x`, i.e. the
/// precision it was written with.
fn decimals(x: f64) -> usize {
    let text = format!("{x}");
    text.split_once('.').map_or(0, |(_, fraction)| fraction.len())
}

/// How far a multiclass log loss may be from the fixture because the stored
/// probabilities are themselves rounded.
///
/// A probability written with `d` decimals is known to ±δ, δ = ½·10^(−d), and
/// `d(−ln p) = −dp / p`, so the loss computed from the stored values can differ
/// from the one computed from the unrounded values by up to `mean_i δ / p_i[y_i]`.
/// When the stored probabilities carry full f64 precision this bound is far
/// below 1e-10 and the plain relative tolerance decides. (The fixture's
/// probabilities have 8 decimals and rows summing to 1 ± 2e-8, while its
/// `log_loss` was evidently computed before rounding: even an exact formula on
/// the stored values is off by up to 4e-9 relative.)
fn input_rounding_bound(rows: &[Vec<f64>], y_true: &[usize]) -> f64 {
    let d = rows.iter().flatten().map(|&p| decimals(p)).max().unwrap_or(0);
    let delta = 0.5 * 10f64.powi(-(d as i32));
    let sum: f64 =
        rows.iter().zip(y_true).map(|(row, &y)| delta / row.get(y).copied().unwrap_or(f64::NAN)).sum();
    sum / y_true.len() as f64
}

/// Parses `precision_macro`, `f1_weighted`, … into the metric and the average.
fn averaged_key(key: &str) -> Option<(&str, Average)> {
    let (metric, average) = key.rsplit_once('_')?;
    let average = match average {
        "macro" => Average::Macro,
        "micro" => Average::Micro,
        "weighted" => Average::Weighted,
        _ => return None,
    };
    ["precision", "recall", "f1"].contains(&metric).then_some((metric, average))
}

fn check_case(checker: &mut Checker, context: &str, case: &Map<String, Value>) {
    let kind = case.get("kind").and_then(Value::as_str).unwrap_or("<none>");
    let inputs = Inputs::parse(case);
    for (key, expected) in case {
        if INPUT_KEYS.contains(&key.as_str()) {
            continue;
        }
        let handled = match kind {
            "binary" => check_binary(checker, context, &inputs, key, expected),
            "multiclass" => check_multiclass(checker, context, &inputs, key, expected),
            "regression" => check_regression(checker, context, &inputs, key, expected),
            other => {
                checker.fail(context, format!("unknown case kind {other:?}"));
                return;
            }
        };
        if !handled {
            checker.fail(context, format!("output key {key:?} is not checked by this test"));
        }
    }
}

fn require<'a, T>(checker: &mut Checker, context: &str, what: &str, value: &'a Option<T>) -> Option<&'a T> {
    if value.is_none() {
        checker.fail(context, format!("missing or malformed input {what}"));
    }
    value.as_ref()
}

/// Returns whether `key` is a known output of a binary case.
fn check_binary(checker: &mut Checker, context: &str, inputs: &Inputs, key: &str, expected: &Value) -> bool {
    let (Some(y_true), Some(y_pred), Some(y_score)) = (
        require(checker, context, "y_true", &inputs.y_true_labels),
        require(checker, context, "y_pred", &inputs.y_pred_labels),
        require(checker, context, "y_score", &inputs.y_score),
    ) else {
        return true;
    };
    let confusion = || ConfusionMatrix::new(y_true, y_pred, 2);
    let binary = Average::Binary { positive: 1 };
    let number = expected.as_f64();
    match (key, number) {
        ("confusion", _) => checker.confusion(context, confusion(), expected),
        ("pr_curve", _) => {
            let curve = eval::precision_recall_curve(y_true, y_score);
            for part in ["precision", "recall", "thresholds"] {
                let Some(want) = expected.get(part).and_then(floats) else {
                    checker.fail(context, format!("pr_curve.{part} missing or malformed"));
                    continue;
                };
                let got = curve.clone().map(|c| match part {
                    "precision" => c.precision,
                    "recall" => c.recall,
                    _ => c.thresholds,
                });
                checker.close_vec(context, &format!("pr_curve.{part}"), got, &want);
            }
            if let Some(extra) = expected
                .as_object()
                .and_then(|o| o.keys().find(|k| !["precision", "recall", "thresholds"].contains(&k.as_str())))
            {
                checker.fail(context, format!("pr_curve.{extra} is not checked by this test"));
            }
        }
        (_, None) => checker.fail(context, format!("{key}: expected a number")),
        ("accuracy", Some(e)) => checker.close(context, key, eval::accuracy(y_true, y_pred), e, 0.0),
        ("balanced_accuracy", Some(e)) => {
            checker.close(context, key, eval::balanced_accuracy(y_true, y_pred, 2), e, 0.0)
        }
        ("precision", Some(e)) => checker.close(context, key, eval::binary_precision(y_true, y_pred), e, 0.0),
        ("recall", Some(e)) => checker.close(context, key, eval::binary_recall(y_true, y_pred), e, 0.0),
        ("f1", Some(e)) => checker.close(context, key, eval::binary_f1(y_true, y_pred), e, 0.0),
        ("average_precision", Some(e)) => {
            checker.close(context, key, eval::average_precision(y_true, y_score), e, 0.0)
        }
        ("roc_auc", Some(e)) => checker.close(context, key, eval::roc_auc(y_true, y_score), e, 0.0),
        ("log_loss", Some(e)) => checker.close(context, key, eval::log_loss_binary(y_true, y_score), e, 0.0),
        (key, Some(e)) => match key.strip_prefix("fbeta").and_then(|b| b.parse::<f64>().ok()) {
            Some(beta) => {
                let got = confusion().and_then(|cm| cm.fbeta(beta, binary, ZeroDivision::Zero));
                checker.close(context, key, got, e, 0.0);
                // The shortcut must agree with the matrix method.
                checker.close(context, key, eval::binary_fbeta(y_true, y_pred, beta), e, 0.0);
            }
            None => return false,
        },
    }
    true
}

/// Returns whether `key` is a known output of a multiclass case.
fn check_multiclass(
    checker: &mut Checker,
    context: &str,
    inputs: &Inputs,
    key: &str,
    expected: &Value,
) -> bool {
    let (Some(y_true), Some(y_pred), Some(&k)) = (
        require(checker, context, "y_true", &inputs.y_true_labels),
        require(checker, context, "y_pred", &inputs.y_pred_labels),
        require(checker, context, "num_classes", &inputs.num_classes),
    ) else {
        return true;
    };
    let confusion = ConfusionMatrix::new(y_true, y_pred, k);
    let zero = ZeroDivision::Zero;
    match key {
        "confusion" => checker.confusion(context, confusion, expected),
        "f1_per_class" => {
            let Some(want) = floats(expected) else {
                checker.fail(context, "f1_per_class: expected numbers".into());
                return true;
            };
            let got = confusion
                .and_then(|cm| cm.per_class_scores(1.0, zero))
                .map(|scores| scores.iter().map(|s| s.f_score).collect());
            checker.close_vec(context, key, got, &want);
        }
        _ => {
            let Some(e) = expected.as_f64() else {
                checker.fail(context, format!("{key}: expected a number"));
                return true;
            };
            match key {
                "accuracy" => {
                    checker.close(context, key, eval::accuracy(y_true, y_pred), e, 0.0);
                    checker.close(context, key, confusion.map(|cm| cm.accuracy()), e, 0.0);
                }
                "balanced_accuracy" => {
                    checker.close(context, key, eval::balanced_accuracy(y_true, y_pred, k), e, 0.0)
                }
                "log_loss" => {
                    let (Some(probabilities), Some(rows)) = (
                        require(checker, context, "probabilities", &inputs.probabilities),
                        inputs.probabilities_rows.as_ref(),
                    ) else {
                        return true;
                    };
                    let rounding = input_rounding_bound(rows, y_true);
                    checker.close(context, key, eval::log_loss(y_true, probabilities, k), e, rounding);
                }
                _ => match averaged_key(key) {
                    Some((metric, average)) => {
                        let got = confusion.and_then(|cm| match metric {
                            "precision" => cm.precision(average, zero),
                            "recall" => cm.recall(average, zero),
                            _ => cm.f1(average, zero),
                        });
                        checker.close(context, key, got, e, 0.0);
                    }
                    None => return false,
                },
            }
        }
    }
    true
}

/// Returns whether `key` is a known output of a regression case.
fn check_regression(
    checker: &mut Checker,
    context: &str,
    inputs: &Inputs,
    key: &str,
    expected: &Value,
) -> bool {
    let (Some(y_true), Some(y_pred)) = (
        require(checker, context, "y_true", &inputs.y_true_values),
        require(checker, context, "y_pred", &inputs.y_pred_values),
    ) else {
        return true;
    };
    let Some(e) = expected.as_f64() else {
        checker.fail(context, format!("{key}: expected a number"));
        return true;
    };
    let got = match key {
        "mse" => eval::mse(y_true, y_pred),
        "rmse" => eval::rmse(y_true, y_pred),
        "mae" => eval::mae(y_true, y_pred),
        "mape_sklearn" => eval::mape(y_true, y_pred),
        "r2" => eval::r2(y_true, y_pred),
        _ => return false,
    };
    checker.close(context, key, got, e, 0.0);
    true
}

#[test]
fn every_case_of_metrics_sklearn_matches() {
    let path = fixture_dir().join("metrics_sklearn.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let fixture: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let cases = fixture
        .get("cases")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{}: no `cases` array", path.display()));
    assert!(!cases.is_empty(), "{}: `cases` is empty", path.display());

    let mut checker = Checker::default();
    for (index, case) in cases.iter().enumerate() {
        let kind = case.get("kind").and_then(Value::as_str).unwrap_or("<none>");
        let context = format!("case {index} ({kind})");
        match case.as_object() {
            Some(case) => check_case(&mut checker, &context, case),
            None => checker.fail(&context, "not an object".into()),
        }
    }
    assert!(
        checker.failures.is_empty(),
        "{} of {} checks failed against {}:\n{}",
        checker.failures.len(),
        checker.values_checked,
        path.display(),
        checker.failures.join("\n")
    );
    eprintln!("{} values checked in {} cases", checker.values_checked, cases.len());
}
