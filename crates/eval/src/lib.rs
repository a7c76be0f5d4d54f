//! Classification and regression metrics: plain slices in, plain numbers out; independent of the tape (issue: eval).
//!
//! Every metric agrees with scikit-learn (checked against
//! `fixtures/metrics_sklearn.json` to 1e-10 relative), except where a
//! documented choice below says otherwise.
//!
//! - **Inputs**: class labels are `usize` in `0..num_classes`; scores,
//!   probabilities and regression values are `f32` or `f64` (any
//!   [`num_traits::Float`]) and are computed in `f64`. Bad input — empty,
//!   mismatched lengths, a label out of range, a probability outside `[0, 1]`,
//!   NaN — is an [`EvalError`], never a panic or a silent NaN.
//! - **Labels** ([`ConfusionMatrix`], [`accuracy`], [`balanced_accuracy`],
//!   precision / recall / F-β per class, binary, macro, micro and weighted
//!   ([`Average`]), [`ClassificationReport`]). When a precision, recall or F
//!   is 0/0, [`ZeroDivision`] chooses the value: 0 by default, as scikit-learn.
//! - **Scores** ([`precision_recall_curve`], [`average_precision`],
//!   [`roc_curve`], [`roc_auc`]): every distinct score is a threshold; ties
//!   move together.
//! - **Probabilities**: [`log_loss_binary`], [`log_loss`] (clipped to
//!   `[1e-7, 1 − 1e-7]`, see [`DEFAULT_LOG_LOSS_CLIP`]).
//! - **Costs** (tutorial §8.1, unequal misclassification costs): [`CostMatrix`],
//!   [`expected_cost`], [`bayes_decisions`].
//! - **Regression**: [`mse`], [`rmse`], [`mae`], [`mape`] (divides by
//!   `max(|y|, f64::EPSILON)`, so `y = 0` stays finite), [`r2`].
//! - **Summaries** for a `metrics.json`: [`ClassificationSummary`] and
//!   [`RegressionSummary`], whose `to_named()` lists `(name, value)` pairs.
//!
//! ```
//! use eval::{Average, ConfusionMatrix, ZeroDivision};
//!
//! let y_true = [0, 0, 1, 1, 1, 2];
//! let y_pred = [0, 1, 1, 1, 2, 2];
//! let cm = ConfusionMatrix::new(&y_true, &y_pred, 3)?;
//! assert_eq!(cm.accuracy(), 4.0 / 6.0);
//! let f1 = cm.f1(Average::Macro, ZeroDivision::Zero)?;
//! assert!((f1 - (2.0 / 3.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
//! println!("{cm}");
//!
//! // Scores of the positive class: threshold-free metrics.
//! let labels = [0, 0, 1, 1];
//! let scores = [0.1_f32, 0.4, 0.35, 0.8];
//! assert_eq!(eval::roc_auc(&labels, &scores)?, 0.75);
//! let curve = eval::precision_recall_curve(&labels, &scores)?;
//! assert_eq!(curve.recall.last(), Some(&0.0));
//!
//! // Regression, and an error instead of a panic.
//! assert_eq!(eval::mae(&[1.0, 2.0], &[1.5, 2.5])?, 0.5);
//! assert!(matches!(eval::mse::<f64>(&[], &[]), Err(eval::EvalError::Empty { .. })));
//! # Ok::<(), eval::EvalError>(())
//! ```

mod confusion;
mod cost;
mod error;
mod log_loss;
mod ranking;
mod regression;
mod report;
mod summary;
mod validate;

pub use confusion::{
    Average, ClassScores, ConfusionMatrix, ZeroDivision, accuracy, balanced_accuracy, binary_f1,
    binary_fbeta, binary_precision, binary_recall, confusion_matrix,
};
pub use cost::{CostMatrix, bayes_decisions, confusion_expected_cost, expected_cost};
pub use error::{EvalError, Result};
pub use log_loss::{
    DEFAULT_LOG_LOSS_CLIP, log_loss, log_loss_binary, log_loss_binary_with_clip, log_loss_with_clip,
};
pub use ranking::{
    PrecisionRecallCurve, RocCurve, auc, average_precision, precision_recall_curve, roc_auc, roc_curve,
    roc_curve_all_thresholds,
};
pub use regression::{mae, mape, mse, r2, rmse};
pub use report::{ClassificationReport, classification_report};
pub use summary::{ClassificationSummary, Probabilities, RegressionSummary};
