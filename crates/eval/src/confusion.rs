//! The confusion matrix and the label metrics read off it: accuracy, balanced
//! accuracy, precision, recall and F-β — per class, binary, and macro / micro /
//! weighted averages — with scikit-learn's formulas and zero-division policy.

use std::fmt;

use crate::error::{EvalError, Result};
use crate::validate;

/// What a precision, recall or F-score is when its denominator is zero.
///
/// Precision is undefined for a class that is never predicted, recall for a
/// class that never occurs, and F-β when both hold. scikit-learn's
/// `zero_division` parameter chooses the value; its default (`"warn"`) gives 0,
/// and so does ours ([`ZeroDivision::Zero`] is the `Default`).
///
/// With [`ZeroDivision::NaN`] the undefined per-class values are NaN and the
/// macro and weighted averages leave them out (as scikit-learn's
/// `zero_division=np.nan`); an average over nothing but NaN is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ZeroDivision {
    /// The undefined value is 0 (scikit-learn's default).
    #[default]
    Zero,
    /// The undefined value is 1.
    One,
    /// The undefined value is NaN and is excluded from macro / weighted averages.
    NaN,
}

impl ZeroDivision {
    /// The number this policy puts in place of `x / 0`.
    pub fn value(self) -> f64 {
        match self {
            ZeroDivision::Zero => 0.0,
            ZeroDivision::One => 1.0,
            ZeroDivision::NaN => f64::NAN,
        }
    }

    /// `numerator / denominator`, or the policy's value when the denominator is 0.
    fn divide(self, numerator: f64, denominator: f64) -> f64 {
        if denominator == 0.0 { self.value() } else { numerator / denominator }
    }
}

/// How per-class scores are combined into one number (scikit-learn's `average`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Average {
    /// The score of one class taken as "positive", all others as "negative"
    /// (scikit-learn's `average="binary"` with `pos_label=positive`). With more
    /// than two classes this is that class's one-vs-rest score.
    Binary {
        /// The class counted as positive (1 in the usual 0/1 labelling).
        positive: usize,
    },
    /// The unweighted mean of the per-class scores: every class counts the same,
    /// however rare.
    Macro,
    /// The score of the pooled counts (Σ TP, Σ FP, Σ FN over classes). For
    /// single-label data micro precision = micro recall = micro F = accuracy.
    Micro,
    /// The mean of the per-class scores weighted by each class's support (its
    /// number of true samples).
    Weighted,
}

/// Precision, recall and F-β of one class, or one average of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScores {
    /// `TP / (TP + FP)`: of the samples predicted as this class, the share that are.
    pub precision: f64,
    /// `TP / (TP + FN)`: of the samples of this class, the share found.
    pub recall: f64,
    /// `(1 + β²)·TP / ((1 + β²)·TP + β²·FN + FP)`, the weighted harmonic mean of
    /// precision and recall (β = 1: F1).
    pub f_score: f64,
    /// Number of true samples of the class; for an average, all samples.
    pub support: usize,
}

/// A `k × k` table of counts: entry `(t, p)` is the number of samples of true
/// class `t` predicted as class `p` (rows = true class, as scikit-learn's).
///
/// All `k` declared classes are rows and columns even when absent from the data
/// (like scikit-learn with `labels=range(k)`), so the shape never depends on the
/// sample. `Display` renders it as an aligned text table.
///
/// ```
/// use eval::ConfusionMatrix;
/// let cm = ConfusionMatrix::new(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3)?;
/// assert_eq!(cm.get(0, 1), Some(1));
/// assert_eq!(cm.rows(), vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]);
/// assert_eq!(cm.accuracy(), 0.6);
/// println!("{cm}");
/// # Ok::<(), eval::EvalError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfusionMatrix {
    num_classes: usize,
    /// Row-major `num_classes × num_classes` counts.
    counts: Vec<usize>,
}

/// Per-class raw counts: true positives, predicted (TP + FP) and true (TP + FN).
#[derive(Debug, Clone, Copy)]
struct ClassCounts {
    true_positives: f64,
    predicted: f64,
    actual: f64,
}

impl ClassCounts {
    /// Precision, recall and F-β from counts, exactly as scikit-learn's
    /// `precision_recall_fscore_support`: F is computed from the counts
    /// (`(1 + β²)·TP / (β²·(TP + FN) + (TP + FP))`), so it is 0 — not undefined —
    /// when TP = 0 but the class was predicted or present.
    fn scores(self, beta: f64, zero_division: ZeroDivision, support: usize) -> ClassScores {
        let precision = zero_division.divide(self.true_positives, self.predicted);
        let recall = zero_division.divide(self.true_positives, self.actual);
        let f_score = if beta.is_infinite() {
            recall
        } else {
            let beta2 = beta * beta;
            zero_division.divide((1.0 + beta2) * self.true_positives, beta2 * self.actual + self.predicted)
        };
        ClassScores { precision, recall, f_score, support }
    }
}

/// Mean of `values` weighted by `weights` (all 1 when `None`), skipping NaN
/// entries as scikit-learn's `_nanaverage`; NaN when every entry is NaN, the
/// plain mean of the kept entries when all their weights are zero.
fn nan_average(values: &[f64], weights: Option<&[f64]>) -> f64 {
    let kept: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter(|(_, value)| !value.is_nan())
        .map(|(i, &value)| (value, weights.map_or(1.0, |w| w[i])))
        .collect();
    if kept.is_empty() {
        return f64::NAN;
    }
    let weight_sum: f64 = kept.iter().map(|&(_, w)| w).sum();
    if weight_sum == 0.0 {
        return kept.iter().map(|&(v, _)| v).sum::<f64>() / kept.len() as f64;
    }
    kept.iter().map(|&(v, w)| v * w).sum::<f64>() / weight_sum
}

/// Checks β: F-β is defined for β ≥ 0 (β = 0 gives precision, β = ∞ recall).
fn check_beta(op: &'static str, beta: f64) -> Result<()> {
    if beta.is_nan() || beta < 0.0 {
        Err(EvalError::InvalidParameter {
            op,
            name: "beta",
            value: beta,
            reason: "beta must be >= 0 (0 gives precision, infinity gives recall)",
        })
    } else {
        Ok(())
    }
}

impl ConfusionMatrix {
    /// Counts the pairs `(y_true[i], y_pred[i])`, with labels in `0..num_classes`.
    ///
    /// # Errors
    /// [`EvalError::Empty`], [`EvalError::LengthMismatch`],
    /// [`EvalError::InvalidNumClasses`] for `num_classes == 0` (or so large that
    /// the `k × k` table cannot be allocated), and
    /// [`EvalError::LabelOutOfRange`] for a label `>= num_classes`.
    pub fn new(y_true: &[usize], y_pred: &[usize], num_classes: usize) -> Result<Self> {
        Self::counted("confusion_matrix", y_true, y_pred, num_classes)
    }

    /// [`ConfusionMatrix::new`] with errors naming `op`, the metric the caller asked for.
    pub(crate) fn counted(
        op: &'static str,
        y_true: &[usize],
        y_pred: &[usize],
        num_classes: usize,
    ) -> Result<Self> {
        validate::non_empty(op, y_true.len())?;
        validate::same_len(op, ("y_true", y_true.len()), ("y_pred", y_pred.len()))?;
        validate::num_classes_positive(op, num_classes)?;
        validate::labels_in_range(op, y_true, num_classes)?;
        validate::labels_in_range(op, y_pred, num_classes)?;
        let mut counts = validate::square_table(op, num_classes)?;
        for (&t, &p) in y_true.iter().zip(y_pred) {
            counts[t * num_classes + p] += 1;
        }
        Ok(Self { num_classes, counts })
    }

    /// Builds a matrix from row-major counts (rows = true class), e.g. one read
    /// back from a report.
    ///
    /// # Errors
    /// [`EvalError::InvalidNumClasses`] for `num_classes == 0`,
    /// [`EvalError::LengthMismatch`] unless `counts.len() == num_classes²`, and
    /// [`EvalError::Empty`] when all counts are zero (every metric would be 0/0).
    pub fn from_counts(num_classes: usize, counts: Vec<usize>) -> Result<Self> {
        const OP: &str = "ConfusionMatrix::from_counts";
        validate::num_classes_positive(OP, num_classes)?;
        validate::same_len(
            OP,
            ("num_classes²", num_classes.saturating_mul(num_classes)),
            ("counts", counts.len()),
        )?;
        if counts.iter().all(|&c| c == 0) {
            return Err(EvalError::Empty { op: OP });
        }
        Ok(Self { num_classes, counts })
    }

    /// The number of declared classes `k` (the matrix is `k × k`).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The number of samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Samples of true class `true_class` predicted as `predicted_class`;
    /// `None` when either is `>= num_classes`.
    pub fn get(&self, true_class: usize, predicted_class: usize) -> Option<usize> {
        if true_class < self.num_classes && predicted_class < self.num_classes {
            Some(self.counts[true_class * self.num_classes + predicted_class])
        } else {
            None
        }
    }

    /// The counts, row-major (rows = true class).
    pub fn as_slice(&self) -> &[usize] {
        &self.counts
    }

    /// The counts as one `Vec` per true class.
    pub fn rows(&self) -> Vec<Vec<usize>> {
        self.counts.chunks(self.num_classes).map(<[usize]>::to_vec).collect()
    }

    /// Samples whose true class is `class` (row sum); `None` when out of range.
    pub fn support(&self, class: usize) -> Option<usize> {
        (class < self.num_classes).then(|| self.row(class).iter().sum())
    }

    /// Samples predicted as `class` (column sum); `None` when out of range.
    pub fn predicted_count(&self, class: usize) -> Option<usize> {
        (class < self.num_classes)
            .then(|| (0..self.num_classes).map(|t| self.counts[t * self.num_classes + class]).sum())
    }

    fn row(&self, true_class: usize) -> &[usize] {
        &self.counts[true_class * self.num_classes..(true_class + 1) * self.num_classes]
    }

    fn diagonal(&self, class: usize) -> usize {
        self.counts[class * self.num_classes + class]
    }

    fn class_counts(&self, class: usize) -> ClassCounts {
        ClassCounts {
            true_positives: self.diagonal(class) as f64,
            predicted: self.predicted_count(class).unwrap_or(0) as f64,
            actual: self.support(class).unwrap_or(0) as f64,
        }
    }

    /// Fraction of samples on the diagonal: `Σ_c C[c][c] / n`.
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.num_classes).map(|c| self.diagonal(c)).sum();
        correct as f64 / self.total() as f64
    }

    /// Mean recall over the classes that occur in the true labels.
    ///
    /// A class with no true samples has no recall and is left out of the mean,
    /// as scikit-learn's `balanced_accuracy_score` does (it warns). For two
    /// classes this is `(TPR + TNR) / 2`; on balanced data it equals accuracy.
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = (0..self.num_classes)
            .filter_map(|c| {
                let support = self.support(c).unwrap_or(0);
                (support > 0).then(|| self.diagonal(c) as f64 / support as f64)
            })
            .collect();
        recalls.iter().sum::<f64>() / recalls.len() as f64
    }

    /// Precision, recall and F-β of one class (one-vs-rest).
    ///
    /// # Errors
    /// [`EvalError::LabelOutOfRange`] for `class >= num_classes`,
    /// [`EvalError::InvalidParameter`] for β < 0 or NaN.
    pub fn class_scores(&self, class: usize, beta: f64, zero_division: ZeroDivision) -> Result<ClassScores> {
        const OP: &str = "class_scores";
        check_beta(OP, beta)?;
        validate::labels_in_range(OP, &[class], self.num_classes)?;
        Ok(self.class_counts(class).scores(beta, zero_division, self.support(class).unwrap_or(0)))
    }

    /// Precision, recall and F-β of every class, in class order.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] for β < 0 or NaN.
    pub fn per_class_scores(&self, beta: f64, zero_division: ZeroDivision) -> Result<Vec<ClassScores>> {
        check_beta("per_class_scores", beta)?;
        Ok(self.per_class(beta, zero_division))
    }

    /// [`ConfusionMatrix::per_class_scores`] for a β already checked.
    pub(crate) fn per_class(&self, beta: f64, zero_division: ZeroDivision) -> Vec<ClassScores> {
        (0..self.num_classes)
            .map(|c| self.class_counts(c).scores(beta, zero_division, self.support(c).unwrap_or(0)))
            .collect()
    }

    /// Scores of the counts pooled over all classes (Σ TP, Σ predicted, Σ true).
    pub(crate) fn micro(&self, beta: f64, zero_division: ZeroDivision) -> ClassScores {
        let pooled = (0..self.num_classes).map(|c| self.class_counts(c)).fold(
            ClassCounts { true_positives: 0.0, predicted: 0.0, actual: 0.0 },
            |sum, c| ClassCounts {
                true_positives: sum.true_positives + c.true_positives,
                predicted: sum.predicted + c.predicted,
                actual: sum.actual + c.actual,
            },
        );
        pooled.scores(beta, zero_division, self.total())
    }

    /// The macro (unweighted) or support-weighted mean of per-class scores.
    pub(crate) fn averaged(&self, per_class: &[ClassScores], weighted: bool) -> ClassScores {
        let weights: Vec<f64> = per_class.iter().map(|s| s.support as f64).collect();
        let weights = weighted.then_some(weights.as_slice());
        let column = |pick: fn(&ClassScores) -> f64| {
            let values: Vec<f64> = per_class.iter().map(pick).collect();
            nan_average(&values, weights)
        };
        ClassScores {
            precision: column(|s| s.precision),
            recall: column(|s| s.recall),
            f_score: column(|s| s.f_score),
            support: self.total(),
        }
    }

    /// Precision, recall and F-β combined as `average` says. `support` is the
    /// positive class's for [`Average::Binary`], all samples otherwise.
    ///
    /// Macro and weighted F are the means of the per-class F-scores (not the F of
    /// the mean precision and recall), as scikit-learn computes them.
    ///
    /// # Errors
    /// [`EvalError::InvalidParameter`] for β < 0 or NaN, [`EvalError::LabelOutOfRange`]
    /// for a binary positive class `>= num_classes`.
    pub fn scores(&self, average: Average, beta: f64, zero_division: ZeroDivision) -> Result<ClassScores> {
        const OP: &str = "scores";
        check_beta(OP, beta)?;
        match average {
            Average::Binary { positive } => self.class_scores(positive, beta, zero_division),
            Average::Micro => Ok(self.micro(beta, zero_division)),
            Average::Macro | Average::Weighted => {
                let per_class = self.per_class(beta, zero_division);
                Ok(self.averaged(&per_class, average == Average::Weighted))
            }
        }
    }

    /// Precision under `average`.
    ///
    /// # Errors
    /// As [`ConfusionMatrix::scores`].
    pub fn precision(&self, average: Average, zero_division: ZeroDivision) -> Result<f64> {
        Ok(self.scores(average, 1.0, zero_division)?.precision)
    }

    /// Recall under `average`.
    ///
    /// # Errors
    /// As [`ConfusionMatrix::scores`].
    pub fn recall(&self, average: Average, zero_division: ZeroDivision) -> Result<f64> {
        Ok(self.scores(average, 1.0, zero_division)?.recall)
    }

    /// F1 (the harmonic mean of precision and recall) under `average`.
    ///
    /// # Errors
    /// As [`ConfusionMatrix::scores`].
    pub fn f1(&self, average: Average, zero_division: ZeroDivision) -> Result<f64> {
        Ok(self.scores(average, 1.0, zero_division)?.f_score)
    }

    /// F-β under `average`: recall counts β times as much as precision.
    ///
    /// # Errors
    /// As [`ConfusionMatrix::scores`].
    pub fn fbeta(&self, beta: f64, average: Average, zero_division: ZeroDivision) -> Result<f64> {
        Ok(self.scores(average, beta, zero_division)?.f_score)
    }
}

/// Renders an aligned table, true classes down, predicted classes across:
///
/// ```text
/// true \ pred    0    1
///           0  135   42
///           1    2   11
/// ```
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CORNER: &str = "true \\ pred";
        let widest_count = self.counts.iter().max().copied().unwrap_or(0);
        let widest_label = self.num_classes.saturating_sub(1);
        let cell = widest_count.to_string().len().max(widest_label.to_string().len()) + 2;
        let first = CORNER.len().max(widest_label.to_string().len());
        write!(f, "{CORNER:>first$}")?;
        for p in 0..self.num_classes {
            write!(f, "{p:>cell$}")?;
        }
        for t in 0..self.num_classes {
            write!(f, "\n{t:>first$}")?;
            for count in self.row(t) {
                write!(f, "{count:>cell$}")?;
            }
        }
        Ok(())
    }
}

/// Counts `(y_true[i], y_pred[i])` pairs; the same as [`ConfusionMatrix::new`].
///
/// # Errors
/// As [`ConfusionMatrix::new`].
pub fn confusion_matrix(y_true: &[usize], y_pred: &[usize], num_classes: usize) -> Result<ConfusionMatrix> {
    ConfusionMatrix::new(y_true, y_pred, num_classes)
}

/// Fraction of samples whose predicted label equals the true one.
///
/// Labels are compared as they are, so no class count is needed.
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`].
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    const OP: &str = "accuracy";
    validate::non_empty(OP, y_true.len())?;
    validate::same_len(OP, ("y_true", y_true.len()), ("y_pred", y_pred.len()))?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// Mean per-class recall over the classes present in `y_true`; see
/// [`ConfusionMatrix::balanced_accuracy`].
///
/// # Errors
/// As [`ConfusionMatrix::new`].
pub fn balanced_accuracy(y_true: &[usize], y_pred: &[usize], num_classes: usize) -> Result<f64> {
    Ok(ConfusionMatrix::counted("balanced_accuracy", y_true, y_pred, num_classes)?.balanced_accuracy())
}

/// The binary scores of class 1 against class 0 with the default zero-division
/// policy; labels must be 0 or 1.
fn binary_scores(op: &'static str, y_true: &[usize], y_pred: &[usize], beta: f64) -> Result<ClassScores> {
    check_beta(op, beta)?;
    ConfusionMatrix::counted(op, y_true, y_pred, 2)?.scores(
        Average::Binary { positive: 1 },
        beta,
        ZeroDivision::Zero,
    )
}

/// Binary precision `TP / (TP + FP)` of class 1 (labels 0/1); 0 when nothing is
/// predicted positive ([`ZeroDivision::Zero`]).
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`], [`EvalError::LabelOutOfRange`]
/// for a label other than 0 or 1.
pub fn binary_precision(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    Ok(binary_scores("binary_precision", y_true, y_pred, 1.0)?.precision)
}

/// Binary recall `TP / (TP + FN)` of class 1 (labels 0/1); 0 when there are no
/// positives ([`ZeroDivision::Zero`]).
///
/// # Errors
/// As [`binary_precision`].
pub fn binary_recall(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    Ok(binary_scores("binary_recall", y_true, y_pred, 1.0)?.recall)
}

/// Binary F1 of class 1 (labels 0/1): `2·TP / (2·TP + FP + FN)`, the harmonic
/// mean of precision and recall.
///
/// # Errors
/// As [`binary_precision`].
pub fn binary_f1(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    Ok(binary_scores("binary_f1", y_true, y_pred, 1.0)?.f_score)
}

/// Binary F-β of class 1 (labels 0/1): `(1 + β²)·TP / ((1 + β²)·TP + β²·FN + FP)`.
///
/// # Errors
/// As [`binary_precision`], and [`EvalError::InvalidParameter`] for β < 0 or NaN.
pub fn binary_fbeta(y_true: &[usize], y_pred: &[usize], beta: f64) -> Result<f64> {
    Ok(binary_scores("binary_fbeta", y_true, y_pred, beta)?.f_score)
}
