//! The headline metrics of a classification or regression run in one struct,
//! listed by stable names for a `metrics.json`.

use num_traits::Float;

use crate::confusion::{ConfusionMatrix, ZeroDivision};
use crate::error::{EvalError, Result};
use crate::log_loss::{log_loss, log_loss_binary};
use crate::regression::{mae, mape, mse, r2};

/// Predicted probabilities handed to [`ClassificationSummary::with_probabilities`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Probabilities<'a, T> {
    /// Two classes: one probability per sample, that of class 1 (a sigmoid output).
    PositiveClass(&'a [T]),
    /// Row-major `n × num_classes`, one distribution per sample (a softmax output).
    PerClass(&'a [T]),
}

/// Accuracy, balanced accuracy, macro precision / recall / F1, micro and
/// weighted F1 and, when probabilities are given, log loss. Zero division
/// gives 0 (scikit-learn's default).
///
/// ```
/// use eval::{ClassificationSummary, Probabilities};
/// let y_true = [0, 1, 1, 0];
/// let y_pred = [0, 1, 0, 0];
/// let p1 = [0.1_f32, 0.9, 0.4, 0.2];
/// let summary = ClassificationSummary::with_probabilities(&y_true, &y_pred, 2, Probabilities::PositiveClass(&p1))?;
/// assert_eq!(summary.accuracy, 0.75);
/// let named = summary.to_named();
/// assert_eq!(named[0], ("accuracy", 0.75));
/// assert!(named.iter().any(|(name, _)| *name == "log_loss"));
/// # Ok::<(), eval::EvalError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassificationSummary {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Mean recall over the classes present in `y_true`.
    pub balanced_accuracy: f64,
    /// Unweighted mean of per-class precision.
    pub precision_macro: f64,
    /// Unweighted mean of per-class recall.
    pub recall_macro: f64,
    /// Unweighted mean of per-class F1.
    pub f1_macro: f64,
    /// F1 of the pooled counts (= accuracy for single-label data).
    pub f1_micro: f64,
    /// Support-weighted mean of per-class F1.
    pub f1_weighted: f64,
    /// Log loss of the predicted probabilities, when they were given.
    pub log_loss: Option<f64>,
}

impl ClassificationSummary {
    /// The label metrics of `y_pred` against `y_true` (no log loss).
    ///
    /// # Errors
    /// As [`ConfusionMatrix::new`].
    pub fn new(y_true: &[usize], y_pred: &[usize], num_classes: usize) -> Result<Self> {
        Ok(Self::from_confusion(&ConfusionMatrix::counted(
            "ClassificationSummary",
            y_true,
            y_pred,
            num_classes,
        )?))
    }

    /// The label metrics and the log loss of `probabilities`.
    ///
    /// # Errors
    /// As [`ClassificationSummary::new`] and [`crate::log_loss`] /
    /// [`crate::log_loss_binary`]; [`EvalError::InvalidNumClasses`] for
    /// [`Probabilities::PositiveClass`] with `num_classes != 2`.
    pub fn with_probabilities<T: Float>(
        y_true: &[usize],
        y_pred: &[usize],
        num_classes: usize,
        probabilities: Probabilities<'_, T>,
    ) -> Result<Self> {
        let mut summary = Self::new(y_true, y_pred, num_classes)?;
        summary.log_loss = Some(match probabilities {
            Probabilities::PositiveClass(p) => {
                if num_classes != 2 {
                    return Err(EvalError::InvalidNumClasses {
                        op: "ClassificationSummary::with_probabilities",
                        num_classes,
                        reason: "one probability per sample describes exactly 2 classes; use Probabilities::PerClass",
                    });
                }
                log_loss_binary(y_true, p)?
            }
            Probabilities::PerClass(p) => log_loss(y_true, p, num_classes)?,
        });
        Ok(summary)
    }

    /// The label metrics of a confusion matrix (no log loss).
    pub fn from_confusion(confusion: &ConfusionMatrix) -> Self {
        let zero = ZeroDivision::Zero;
        let per_class = confusion.per_class(1.0, zero);
        let macro_avg = confusion.averaged(&per_class, false);
        let weighted = confusion.averaged(&per_class, true);
        Self {
            accuracy: confusion.accuracy(),
            balanced_accuracy: confusion.balanced_accuracy(),
            precision_macro: macro_avg.precision,
            recall_macro: macro_avg.recall,
            f1_macro: macro_avg.f_score,
            f1_micro: confusion.micro(1.0, zero).f_score,
            f1_weighted: weighted.f_score,
            log_loss: None,
        }
    }

    /// `(name, value)` pairs in a fixed order: `accuracy`, `balanced_accuracy`,
    /// `precision_macro`, `recall_macro`, `f1_macro`, `f1_micro`, `f1_weighted`,
    /// then `log_loss` when present.
    pub fn to_named(&self) -> Vec<(&'static str, f64)> {
        let mut named = vec![
            ("accuracy", self.accuracy),
            ("balanced_accuracy", self.balanced_accuracy),
            ("precision_macro", self.precision_macro),
            ("recall_macro", self.recall_macro),
            ("f1_macro", self.f1_macro),
            ("f1_micro", self.f1_micro),
            ("f1_weighted", self.f1_weighted),
        ];
        if let Some(loss) = self.log_loss {
            named.push(("log_loss", loss));
        }
        named
    }
}

/// MSE, RMSE, MAE, MAPE and R² of one set of predictions.
///
/// ```
/// let summary = eval::RegressionSummary::new(&[1.0, 2.0, 4.0], &[1.0, 3.0, 4.0])?;
/// assert_eq!(summary.mse, 1.0 / 3.0);
/// let names: Vec<&str> = summary.to_named().iter().map(|(n, _)| *n).collect();
/// assert_eq!(names, ["mse", "rmse", "mae", "mape", "r2"]);
/// # Ok::<(), eval::EvalError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionSummary {
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean absolute percentage error (a fraction), dividing by `max(|y|, ε)`.
    pub mape: f64,
    /// Coefficient of determination.
    pub r2: f64,
}

impl RegressionSummary {
    /// All five metrics of `y_pred` against `y_true`.
    ///
    /// # Errors
    /// As [`crate::mse`] and [`crate::r2`] (which needs at least two samples).
    pub fn new<T: Float>(y_true: &[T], y_pred: &[T]) -> Result<Self> {
        let mse = mse(y_true, y_pred)?;
        Ok(Self {
            mse,
            rmse: mse.sqrt(),
            mae: mae(y_true, y_pred)?,
            mape: mape(y_true, y_pred)?,
            r2: r2(y_true, y_pred)?,
        })
    }

    /// `(name, value)` pairs in a fixed order: `mse`, `rmse`, `mae`, `mape`, `r2`.
    pub fn to_named(&self) -> Vec<(&'static str, f64)> {
        vec![("mse", self.mse), ("rmse", self.rmse), ("mae", self.mae), ("mape", self.mape), ("r2", self.r2)]
    }
}
