//! Expected misclassification cost under a user-given cost matrix, and the
//! decision rule that minimises it (tutorial §8.1: unequal misclassification costs).
//!
//! Accuracy counts every mistake the same. When calling a product with
//! allergens "allergen-free" is far worse than the reverse, the right measure is
//! the mean cost of the decisions, and the right decision is not "the most
//! probable class" but "the class with the least expected cost".

use num_traits::Float;

use crate::confusion::ConfusionMatrix;
use crate::error::{EvalError, Result};
use crate::validate;

/// `C[t][p]`: the cost of predicting class `p` for a sample of true class `t`
/// (rows = true class, as in [`ConfusionMatrix`]). Usually 0 on the diagonal
/// and positive elsewhere, but any finite numbers are allowed (a negative cost
/// is a gain).
///
/// ```
/// // tutorial §8.1: class 1 = "allergen-free". Calling a product with allergens
/// // allergen-free (true 0, predicted 1) costs 10; the reverse mistake costs 1.
/// let cost = eval::CostMatrix::binary(10.0, 1.0)?;
/// assert_eq!(cost.get(0, 1), Some(10.0));
/// // Predict "allergen-free" only when P(free) >= 10 / 11.
/// assert!((cost.binary_threshold()? - 10.0 / 11.0).abs() < 1e-15);
/// # Ok::<(), eval::EvalError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CostMatrix {
    num_classes: usize,
    /// Row-major `num_classes × num_classes`.
    costs: Vec<f64>,
}

impl CostMatrix {
    /// A `k × k` cost matrix from row-major costs (rows = true class).
    ///
    /// # Errors
    /// [`EvalError::InvalidNumClasses`] for `k = 0`, [`EvalError::LengthMismatch`]
    /// unless `costs.len() == k²`, [`EvalError::NotANumber`] /
    /// [`EvalError::NonFinite`] for a cost that is not a finite number.
    pub fn new(num_classes: usize, costs: Vec<f64>) -> Result<Self> {
        const OP: &str = "CostMatrix::new";
        validate::num_classes_positive(OP, num_classes)?;
        validate::same_len(
            OP,
            ("num_classes²", num_classes.saturating_mul(num_classes)),
            ("costs", costs.len()),
        )?;
        for (index, &cost) in costs.iter().enumerate() {
            validate::finite_one(OP, "costs", index, cost)?;
        }
        Ok(Self { num_classes, costs })
    }

    /// The 2 × 2 matrix with zero cost for correct decisions, `false_positive`
    /// for predicting 1 on a true 0 and `false_negative` for predicting 0 on a
    /// true 1.
    ///
    /// # Errors
    /// As [`CostMatrix::new`].
    pub fn binary(false_positive: f64, false_negative: f64) -> Result<Self> {
        Self::new(2, vec![0.0, false_positive, false_negative, 0.0])
    }

    /// The 0/1 cost (every mistake costs 1): its expected cost is the error
    /// rate `1 − accuracy`.
    ///
    /// # Errors
    /// [`EvalError::InvalidNumClasses`] for `num_classes = 0` or a class count
    /// whose `k × k` matrix does not fit in memory.
    pub fn zero_one(num_classes: usize) -> Result<Self> {
        const OP: &str = "CostMatrix::zero_one";
        validate::num_classes_positive(OP, num_classes)?;
        let mut costs: Vec<f64> = validate::square_table(OP, num_classes)?;
        for (i, cost) in costs.iter_mut().enumerate() {
            if i / num_classes != i % num_classes {
                *cost = 1.0;
            }
        }
        Self::new(num_classes, costs)
    }

    /// The number of classes `k`.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The cost of predicting `predicted_class` for a sample of `true_class`;
    /// `None` when either is out of range.
    pub fn get(&self, true_class: usize, predicted_class: usize) -> Option<f64> {
        (true_class < self.num_classes && predicted_class < self.num_classes)
            .then(|| self.costs[true_class * self.num_classes + predicted_class])
    }

    /// For two classes: the probability of class 1 at or above which predicting
    /// 1 has the lower expected cost,
    /// `p* = (C[0][1] − C[0][0]) / ((C[0][1] − C[0][0]) + (C[1][0] − C[1][1]))`.
    /// With 0/1 costs it is ½; a costlier false positive raises it.
    ///
    /// # Errors
    /// [`EvalError::InvalidNumClasses`] unless the matrix is 2 × 2, and
    /// [`EvalError::Undefined`] unless each mistake costs more than the correct
    /// decision for that class (otherwise one prediction is always at least as
    /// good and there is no threshold to speak of).
    pub fn binary_threshold(&self) -> Result<f64> {
        const OP: &str = "CostMatrix::binary_threshold";
        if self.num_classes != 2 {
            return Err(EvalError::InvalidNumClasses {
                op: OP,
                num_classes: self.num_classes,
                reason: "a decision threshold needs exactly 2 classes",
            });
        }
        let false_positive_regret = self.costs[1] - self.costs[0];
        let false_negative_regret = self.costs[2] - self.costs[3];
        if false_positive_regret <= 0.0 || false_negative_regret <= 0.0 {
            return Err(EvalError::Undefined {
                op: OP,
                reason: "each mistake must cost more than the correct decision (C[0][1] > C[0][0] and C[1][0] > C[1][1])",
            });
        }
        Ok(false_positive_regret / (false_positive_regret + false_negative_regret))
    }
}

/// Mean cost of the decisions: `(1/n) Σ_i C[y_true[i]][y_pred[i]]`, i.e.
/// `Σ_{t,p} confusion[t][p]·C[t][p] / n`. With [`CostMatrix::zero_one`] it is
/// the error rate.
///
/// ```
/// use eval::{expected_cost, CostMatrix};
/// let cost = CostMatrix::binary(10.0, 1.0)?;
/// // one false positive (10) and one false negative (1) among four samples
/// assert_eq!(expected_cost(&[0, 0, 1, 1], &[0, 1, 0, 1], &cost)?, 11.0 / 4.0);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// As [`ConfusionMatrix::new`] with the cost matrix's class count.
pub fn expected_cost(y_true: &[usize], y_pred: &[usize], cost: &CostMatrix) -> Result<f64> {
    let confusion = ConfusionMatrix::counted("expected_cost", y_true, y_pred, cost.num_classes)?;
    confusion_expected_cost(&confusion, cost)
}

/// [`expected_cost`] of an already counted confusion matrix.
///
/// # Errors
/// [`EvalError::InvalidNumClasses`] when the two matrices differ in size.
pub fn confusion_expected_cost(confusion: &ConfusionMatrix, cost: &CostMatrix) -> Result<f64> {
    if confusion.num_classes() != cost.num_classes {
        return Err(EvalError::InvalidNumClasses {
            op: "expected_cost",
            num_classes: cost.num_classes,
            reason: "the cost matrix and the confusion matrix must have the same number of classes",
        });
    }
    let total: f64 = confusion.as_slice().iter().zip(&cost.costs).map(|(&count, &c)| count as f64 * c).sum();
    Ok(total / confusion.total() as f64)
}

/// The Bayes decision for each sample: the class `p` minimising the expected
/// cost `Σ_t P(t)·C[t][p]` under the sample's predicted distribution. With 0/1
/// costs this is the most probable class; ties go to the lowest class index.
///
/// `probabilities` is row-major `n × k`, as in [`crate::log_loss`]. Rows are
/// used as given (not renormalised).
///
/// ```
/// use eval::{bayes_decisions, CostMatrix};
/// let cost = CostMatrix::binary(10.0, 1.0)?;
/// // P(class 1) = 0.8 is not enough when a false positive costs 10× more.
/// let probs = [0.2, 0.8, 0.05, 0.95];
/// assert_eq!(bayes_decisions(&probs, &cost)?, vec![0, 1]);
/// # Ok::<(), eval::EvalError>(())
/// ```
///
/// # Errors
/// [`EvalError::Empty`], [`EvalError::LengthMismatch`] when the length is not a
/// multiple of `k`, [`EvalError::ProbabilityOutOfRange`] and
/// [`EvalError::NotANumber`].
pub fn bayes_decisions<T: Float>(probabilities: &[T], cost: &CostMatrix) -> Result<Vec<usize>> {
    const OP: &str = "bayes_decisions";
    let k = cost.num_classes;
    validate::non_empty(OP, probabilities.len())?;
    if !probabilities.len().is_multiple_of(k) {
        return Err(EvalError::LengthMismatch {
            op: OP,
            expected_what: "a multiple of num_classes",
            expected: probabilities.len().next_multiple_of(k),
            found_what: "probabilities",
            found: probabilities.len(),
        });
    }
    let probabilities = validate::probabilities(OP, "probabilities", probabilities)?;
    Ok(probabilities
        .chunks(k)
        .map(|row| {
            let risk = |p: usize| -> f64 { (0..k).map(|t| row[t] * cost.costs[t * k + p]).sum() };
            // Strict `<` keeps the first (lowest) class on ties.
            (1..k)
                .fold((0, risk(0)), |best, p| {
                    let r = risk(p);
                    if r < best.1 { (p, r) } else { best }
                })
                .0
        })
        .collect())
}
