//! Threshold-free binary metrics of a score: the precision–recall curve,
//! average precision, the ROC curve and its area — each as scikit-learn
//! computes it, ties included.
//!
//! A classifier that outputs a score (a probability, a logit, any real number)
//! becomes a decision rule once a threshold is chosen: predict positive when
//! `score >= threshold`. Moving the threshold trades precision for recall
//! (tutorial §8.1); these curves show every trade at once. Only the distinct score
//! values matter as thresholds, and samples with equal scores move together, so
//! a tie is one step of the curve, never split in an arbitrary order.

use std::cmp::Ordering;

use num_traits::Float;

use crate::error::{EvalError, Result};
use crate::validate;

/// Precision and recall at every distinct score used as a threshold, as
/// scikit-learn's `precision_recall_curve` returns them.
///
/// `thresholds` are the distinct scores in ascending order. `precision[i]` and
/// `recall[i]` are those of the rule `score >= thresholds[i]`; both vectors have
/// one more element, the end point `precision = 1, recall = 0` (no positive
/// prediction), so recall runs from 1 (lowest threshold: everything predicted
/// positive) down to 0. The curve runs over all thresholds: since scikit-learn
/// 1.1 it no longer stops at the first threshold reaching full recall.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionRecallCurve {
    /// Precision at each threshold, then 1.
    pub precision: Vec<f64>,
    /// Recall at each threshold (non-increasing), then 0.
    pub recall: Vec<f64>,
    /// The distinct scores, ascending.
    pub thresholds: Vec<f64>,
}

/// The receiver operating characteristic: false-positive rate against
/// true-positive rate as the threshold falls, as scikit-learn's `roc_curve`.
///
/// `thresholds` are decreasing and start with `+∞` (nothing predicted positive,
/// the point (0, 0)); `fpr` and `tpr` have the same length and are
/// non-decreasing, ending at (1, 1).
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False-positive rate `FP / N` at each threshold.
    pub fpr: Vec<f64>,
    /// True-positive rate (recall) `TP / P` at each threshold.
    pub tpr: Vec<f64>,
    /// The thresholds, decreasing, starting at `+∞`.
    pub thresholds: Vec<f64>,
}

/// Cumulative false and true positives when every distinct score, from the
/// highest down, is used as the threshold (scikit-learn's `_binary_clf_curve`).
struct ThresholdCounts {
    false_positives: Vec<f64>,
    true_positives: Vec<f64>,
    /// The distinct scores, decreasing.
    thresholds: Vec<f64>,
}

impl ThresholdCounts {
    /// Validates `y_true` (0/1, same length as the scores) and the scores
    /// (finite), then counts.
    fn new<T: Float>(op: &'static str, y_true: &[usize], y_score: &[T]) -> Result<Self> {
        validate::non_empty(op, y_true.len())?;
        validate::same_len(op, ("y_true", y_true.len()), ("y_score", y_score.len()))?;
        validate::labels_in_range(op, y_true, 2)?;
        let scores = validate::finite(op, "y_score", y_score)?;

        let mut order: Vec<usize> = (0..scores.len()).collect();
        // Scores are finite, so `partial_cmp` is total here; -0.0 and 0.0 compare
        // equal and form one tie, as NumPy's `diff` sees them.
        order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(Ordering::Equal));

        let mut counts =
            Self { false_positives: Vec::new(), true_positives: Vec::new(), thresholds: Vec::new() };
        let (mut tp, mut fp) = (0usize, 0usize);
        for (rank, &i) in order.iter().enumerate() {
            if y_true[i] == 1 {
                tp += 1;
            } else {
                fp += 1;
            }
            // Record only at the end of a run of equal scores: tied samples all
            // switch to positive at the same threshold.
            let last_of_tie = order.get(rank + 1).is_none_or(|&next| scores[next] != scores[i]);
            if last_of_tie {
                counts.true_positives.push(tp as f64);
                counts.false_positives.push(fp as f64);
                counts.thresholds.push(scores[i]);
            }
        }
        Ok(counts)
    }

    fn positives(&self) -> f64 {
        self.true_positives.last().copied().unwrap_or(0.0)
    }

    fn negatives(&self) -> f64 {
        self.false_positives.last().copied().unwrap_or(0.0)
    }
}

/// Precision and recall for every threshold on `y_score`, for labels `y_true`
/// in {0, 1} (1 = positive). Scores may be any finite numbers (probabilities,
/// logits, margins), in f32 or f64.
///
/// ```
/// use eval::precision_recall_curve;
/// let curve = precision_recall_curve(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?;
/// assert_eq!(curve.thresholds, vec![0.1, 0.35, 0.4, 0.8]);
/// assert_eq!(curve.precision, vec![0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
/// assert_eq!(curve.recall, vec![1.0, 1.0, 0.5, 0.5, 0.0]);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`],
/// [`EvalError::LabelOutOfRange`] for a label other than 0/1,
/// [`EvalError::NotANumber`] / [`EvalError::NonFinite`] for a bad score, and
/// [`EvalError::Undefined`] when `y_true` has no positive sample (recall is
/// 0/0 at every threshold; scikit-learn warns and sets it to 1).
pub fn precision_recall_curve<T: Float>(y_true: &[usize], y_score: &[T]) -> Result<PrecisionRecallCurve> {
    precision_recall_curve_op("precision_recall_curve", y_true, y_score)
}

fn precision_recall_curve_op<T: Float>(
    op: &'static str,
    y_true: &[usize],
    y_score: &[T],
) -> Result<PrecisionRecallCurve> {
    let counts = ThresholdCounts::new(op, y_true, y_score)?;
    let positives = counts.positives();
    if positives == 0.0 {
        return Err(EvalError::Undefined { op, reason: "y_true has no positive sample, so recall is 0/0" });
    }
    // Reversed so thresholds ascend; every threshold predicts at least one
    // sample positive, so TP + FP > 0.
    let precision = counts
        .true_positives
        .iter()
        .zip(&counts.false_positives)
        .rev()
        .map(|(&tp, &fp)| tp / (tp + fp))
        .chain(std::iter::once(1.0))
        .collect();
    let recall =
        counts.true_positives.iter().rev().map(|&tp| tp / positives).chain(std::iter::once(0.0)).collect();
    let thresholds = counts.thresholds.into_iter().rev().collect();
    Ok(PrecisionRecallCurve { precision, recall, thresholds })
}

/// Average precision: the precision at each threshold weighted by the recall it
/// adds, `AP = Σ_k (R_k − R_{k−1})·P_k` over thresholds from high to low —
/// scikit-learn's step-wise sum, with no interpolation (a trapezoid under the
/// PR curve would be too optimistic).
///
/// ```
/// let ap = eval::average_precision(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?;
/// assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-15);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// As [`precision_recall_curve`].
pub fn average_precision<T: Float>(y_true: &[usize], y_score: &[T]) -> Result<f64> {
    let curve = precision_recall_curve_op("average_precision", y_true, y_score)?;
    let sum: f64 = curve.recall.windows(2).zip(&curve.precision).map(|(r, &p)| (r[1] - r[0]) * p).sum();
    Ok((-sum).max(0.0))
}

fn roc_curve_op<T: Float>(
    op: &'static str,
    y_true: &[usize],
    y_score: &[T],
    drop_intermediate: bool,
) -> Result<RocCurve> {
    let mut counts = ThresholdCounts::new(op, y_true, y_score)?;
    let (positives, negatives) = (counts.positives(), counts.negatives());
    if positives == 0.0 || negatives == 0.0 {
        return Err(EvalError::Undefined {
            op,
            reason: "y_true holds a single class, so one of the rates is 0/0",
        });
    }
    if drop_intermediate && counts.thresholds.len() > 2 {
        // Keep the ends and every corner: a point whose second difference is
        // zero in both coordinates lies on the segment between its neighbours
        // and changes neither the curve's shape nor its area.
        let n = counts.thresholds.len();
        let keep: Vec<usize> = (0..n)
            .filter(|&i| {
                i == 0 || i == n - 1 || {
                    let second = |v: &[f64]| v[i + 1] - 2.0 * v[i] + v[i - 1];
                    second(&counts.false_positives) != 0.0 || second(&counts.true_positives) != 0.0
                }
            })
            .collect();
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        counts = ThresholdCounts {
            false_positives: pick(&counts.false_positives),
            true_positives: pick(&counts.true_positives),
            thresholds: pick(&counts.thresholds),
        };
    }
    let fpr = std::iter::once(0.0).chain(counts.false_positives.iter().map(|&fp| fp / negatives)).collect();
    let tpr = std::iter::once(0.0).chain(counts.true_positives.iter().map(|&tp| tp / positives)).collect();
    let thresholds = std::iter::once(f64::INFINITY).chain(counts.thresholds).collect();
    Ok(RocCurve { fpr, tpr, thresholds })
}

/// The ROC curve with collinear intermediate points dropped, as scikit-learn's
/// `roc_curve` does by default (`drop_intermediate=True`): the curve's shape
/// and area are unchanged, only redundant thresholds go.
///
/// ```
/// let roc = eval::roc_curve(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?;
/// assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
/// assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
/// assert_eq!(roc.thresholds[0], f64::INFINITY);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// As [`precision_recall_curve`], and [`EvalError::Undefined`] when `y_true`
/// has only one class (no positives or no negatives).
pub fn roc_curve<T: Float>(y_true: &[usize], y_score: &[T]) -> Result<RocCurve> {
    roc_curve_op("roc_curve", y_true, y_score, true)
}

/// The ROC curve with a point for every distinct score (scikit-learn's
/// `roc_curve(..., drop_intermediate=False)`).
///
/// # Errors
/// As [`roc_curve`].
pub fn roc_curve_all_thresholds<T: Float>(y_true: &[usize], y_score: &[T]) -> Result<RocCurve> {
    roc_curve_op("roc_curve_all_thresholds", y_true, y_score, false)
}

/// Area under the ROC curve by the trapezoid rule over the distinct thresholds
/// (scikit-learn's `roc_auc_score` for binary labels). A tie between a positive
/// and a negative is a diagonal step and so counts one half: the AUC equals the
/// probability that a random positive scores above a random negative, ties
/// counting ½.
///
/// ```
/// let auc = eval::roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?;
/// assert_eq!(auc, 0.75);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// As [`roc_curve`].
pub fn roc_auc<T: Float>(y_true: &[usize], y_score: &[T]) -> Result<f64> {
    let curve = roc_curve_op("roc_auc", y_true, y_score, true)?;
    Ok(trapezoid(&curve.fpr, &curve.tpr))
}

/// `Σ (x[i+1] − x[i])·(y[i+1] + y[i]) / 2`, in NumPy's `trapezoid` order.
fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2).zip(y.windows(2)).map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0).sum()
}

/// Area under a curve through the points `(x[i], y[i])` by the trapezoid rule,
/// as scikit-learn's `auc`: `x` must be monotonic (non-decreasing, or
/// non-increasing, in which case the area is still returned positive for a
/// positive `y`).
///
/// ```
/// assert_eq!(eval::auc(&[0.0, 0.5, 1.0], &[0.0, 1.0, 1.0])?, 0.75);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`], [`EvalError::NotANumber`] /
/// [`EvalError::NonFinite`], and [`EvalError::Undefined`] for fewer than two
/// points or a non-monotonic `x`.
pub fn auc<T: Float>(x: &[T], y: &[T]) -> Result<f64> {
    const OP: &str = "auc";
    validate::non_empty(OP, x.len())?;
    validate::same_len(OP, ("x", x.len()), ("y", y.len()))?;
    let x = validate::finite(OP, "x", x)?;
    let y = validate::finite(OP, "y", y)?;
    if x.len() < 2 {
        return Err(EvalError::Undefined {
            op: OP,
            reason: "at least 2 points are needed to compute an area",
        });
    }
    let direction = if x.windows(2).all(|w| w[1] >= w[0]) {
        1.0
    } else if x.windows(2).all(|w| w[1] <= w[0]) {
        -1.0
    } else {
        return Err(EvalError::Undefined {
            op: OP,
            reason: "x is neither non-decreasing nor non-increasing",
        });
    };
    Ok(direction * trapezoid(&x, &y))
}
