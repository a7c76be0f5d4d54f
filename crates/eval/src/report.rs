//! A per-class table of precision, recall, F1 and support with accuracy and the
//! macro and weighted averages, laid out like scikit-learn's
//! `classification_report`.

use std::fmt;

use crate::confusion::{ClassScores, ConfusionMatrix, ZeroDivision};
use crate::error::{EvalError, Result};

/// Precision, recall, F1 and support of every class, plus accuracy and the
/// macro and weighted averages. `Display` prints scikit-learn's layout; the
/// formatter's precision sets the digits (`{report:.4}`; default 2).
///
/// ```
/// let report = eval::classification_report(&[0, 1, 2, 2, 2], &[0, 0, 2, 2, 1], 3)?
///     .with_class_names(["ant", "bird", "cat"])?;
/// assert_eq!(report.per_class[2].recall, 2.0 / 3.0);
/// assert_eq!(report.accuracy, 0.6);
/// let text = report.to_string();
/// assert!(text.contains("weighted avg"));
/// println!("{report}");
/// # Ok::<(), eval::EvalError>(())
/// ```
/// prints
/// ```text
///               precision    recall  f1-score   support
///
///          ant       0.50      1.00      0.67         1
///         bird       0.00      0.00      0.00         1
///          cat       1.00      0.67      0.80         3
///
///     accuracy                           0.60         5
///    macro avg       0.50      0.56      0.49         5
/// weighted avg       0.70      0.60      0.61         5
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    /// Row labels, one per class; `"0"`, `"1"`, … unless set with
    /// [`ClassificationReport::with_class_names`].
    pub class_names: Vec<String>,
    /// Scores of each class (F-score = F1), in class order.
    pub per_class: Vec<ClassScores>,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Unweighted means of the per-class scores; support = all samples.
    pub macro_avg: ClassScores,
    /// Support-weighted means of the per-class scores; support = all samples.
    pub weighted_avg: ClassScores,
}

impl ClassificationReport {
    /// The report of a confusion matrix under a zero-division policy.
    pub fn new(confusion: &ConfusionMatrix, zero_division: ZeroDivision) -> Self {
        let per_class = confusion.per_class(1.0, zero_division);
        Self {
            class_names: (0..confusion.num_classes()).map(|c| c.to_string()).collect(),
            accuracy: confusion.accuracy(),
            macro_avg: confusion.averaged(&per_class, false),
            weighted_avg: confusion.averaged(&per_class, true),
            per_class,
        }
    }

    /// Replaces the row labels `"0"`, `"1"`, … with names.
    ///
    /// # Errors
    /// [`EvalError::LengthMismatch`] unless there is one name per class.
    pub fn with_class_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Result<Self> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.len() != self.per_class.len() {
            return Err(EvalError::LengthMismatch {
                op: "ClassificationReport::with_class_names",
                expected_what: "classes",
                expected: self.per_class.len(),
                found_what: "names",
                found: names.len(),
            });
        }
        self.class_names = names;
        Ok(self)
    }

    /// The number of samples.
    pub fn total(&self) -> usize {
        self.macro_avg.support
    }
}

impl fmt::Display for ClassificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LONGEST_HEADING: &str = "weighted avg";
        let digits = f.precision().unwrap_or(2);
        let width = self
            .class_names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .max(LONGEST_HEADING.len())
            .max(digits);
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &ClassScores| {
            writeln!(
                f,
                "{name:>width$}  {:>9.digits$} {:>9.digits$} {:>9.digits$} {:>9}",
                s.precision, s.recall, s.f_score, s.support
            )
        };
        writeln!(f, "{:>width$}  {:>9} {:>9} {:>9} {:>9}", "", "precision", "recall", "f1-score", "support")?;
        writeln!(f)?;
        for (name, scores) in self.class_names.iter().zip(&self.per_class) {
            row(f, name, scores)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:>width$}  {:>9} {:>9} {:>9.digits$} {:>9}",
            "accuracy",
            "",
            "",
            self.accuracy,
            self.total()
        )?;
        row(f, "macro avg", &self.macro_avg)?;
        write!(
            f,
            "{:>width$}  {:>9.digits$} {:>9.digits$} {:>9.digits$} {:>9}",
            LONGEST_HEADING,
            self.weighted_avg.precision,
            self.weighted_avg.recall,
            self.weighted_avg.f_score,
            self.weighted_avg.support
        )
    }
}

/// The [`ClassificationReport`] of labels in `0..num_classes`, with the
/// default zero-division policy (0).
///
/// # Errors
/// As [`ConfusionMatrix::new`].
pub fn classification_report(
    y_true: &[usize],
    y_pred: &[usize],
    num_classes: usize,
) -> Result<ClassificationReport> {
    Ok(ClassificationReport::new(
        &ConfusionMatrix::counted("classification_report", y_true, y_pred, num_classes)?,
        ZeroDivision::Zero,
    ))
}
