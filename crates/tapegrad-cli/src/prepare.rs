//! From a data source to network-ready splits: load, split, fit the standardisers on the
//! training split only, and apply them everywhere.
//!
//! Regression targets are standardised too, so the loss and its gradients are near 1 whatever
//! the units (diabetes runs 25–346); the training and validation sets carry the scaled
//! targets, the test set keeps the original ones, and predictions are mapped back before any
//! metric is computed, so every reported figure is in the target's own units.

use tapegrad_data::{Dataset, Scaling, SplitConfig, Splits, Standardizer, TargetScaler, Targets, Task};

use super::config::{DataSource, Preprocessing};
use super::error::{CliError, Result};

/// The splits of a run, standardised, with the fitted preprocessing.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Training samples (scaled features; scaled targets for regression).
    pub train: Dataset,
    /// Validation samples (scaled like `train`), when the split has any.
    pub validation: Option<Dataset>,
    /// Test samples: scaled features, targets in original units.
    pub test: Option<Dataset>,
    /// What was fitted on the training split.
    pub preprocessing: Preprocessing,
    /// Classification or regression.
    pub task: Task,
    /// Outputs the network needs: the number of classes, or 1.
    pub outputs: usize,
}

/// Loads `source`, splits it with `split` and standardises every part with statistics of the
/// training part.
pub fn prepare(source: &DataSource, split: &SplitConfig) -> Result<Prepared> {
    let loaded = source.load()?;
    let task = loaded.data.task();
    if task != source.task() {
        return Err(CliError::invalid(
            "--task",
            format!("the data holds {task} targets, not {}", source.task()),
        ));
    }
    let feature_names = loaded.data.feature_names().map(<[String]>::to_vec);
    let Splits { mut train, mut validation, mut test } = loaded.split(split)?;
    let standardizer = Standardizer::fit(&train, Scaling::recommended(&train))?;
    standardizer.transform(&mut train)?;
    for part in [&mut validation, &mut test].into_iter().flatten() {
        standardizer.transform(part)?;
    }
    let (outputs, class_names, target_scaler) = match train.targets() {
        Targets::Classes { n_classes, class_names, .. } => {
            if *n_classes < 2 {
                return Err(CliError::invalid(
                    "--target",
                    format!("classification needs at least 2 classes; the target column holds {n_classes}"),
                ));
            }
            let names =
                class_names.clone().unwrap_or_else(|| (0..*n_classes).map(|c| c.to_string()).collect());
            (*n_classes, Some(names), None)
        }
        Targets::Values(values) => (1, None, Some(TargetScaler::fit(values)?)),
    };
    if let Some(scaler) = &target_scaler {
        train = scale_targets(train, scaler)?;
        validation = validation.map(|v| scale_targets(v, scaler)).transpose()?;
    }
    Ok(Prepared {
        train,
        validation,
        test,
        preprocessing: Preprocessing { standardizer, target_scaler, class_names, feature_names },
        task,
        outputs,
    })
}

/// The same samples with standardised regression targets.
fn scale_targets(data: Dataset, scaler: &TargetScaler) -> Result<Dataset> {
    let name = data.name().to_string();
    let n_features = data.n_features();
    let (features, targets) = data.into_parts();
    let Targets::Values(values) = targets else {
        return Err(CliError::ModelMismatch { reason: "scaling targets of a classification set".into() });
    };
    Ok(Dataset::new(name, features, n_features, Targets::Values(scaler.transform(&values)?))?)
}

/// Applies a saved run's preprocessing to freshly loaded samples: the features are
/// standardised; targets stay in their original units.
pub fn apply_features(preprocessing: &Preprocessing, data: &mut Dataset) -> Result<()> {
    let expected = preprocessing.standardizer.n_features();
    if data.n_features() != expected {
        return Err(CliError::ModelMismatch {
            reason: format!(
                "the model was trained on {expected} features; {} has {}",
                data.name(),
                data.n_features()
            ),
        });
    }
    preprocessing.standardizer.transform(data)?;
    Ok(())
}
