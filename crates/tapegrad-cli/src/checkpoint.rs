//! Checkpoints: everything a run needs to continue exactly where it stopped, in one
//! safetensors file written atomically after every epoch.
//!
//! The file holds the current weights (`model/<name>`), the best weights so far for early
//! stopping (`best/<name>`), the optimizer's buffers (`optimizer/<index>/<buffer>`, `F32`:
//! they were widened from `f32` and narrow back exactly) and, as JSON in the header's
//! metadata, the run's configuration, the optimizer's step counts and hyper-parameters, the
//! epochs done, the loss history and the early-stopping state. There is no random-generator
//! state to save: the batch order of an epoch is a function of (seed, epoch) and each dropout
//! mask of (seed, epoch, step, layer), so a resumed epoch replays exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nn::weights_file::{self, NamedTensor, TensorData};
use optim::OptimizerState;
use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::error::{CliError, Result};

/// The checkpoint's file name inside a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The `format` metadata of a checkpoint this version writes and reads.
const CHECKPOINT_FORMAT: &str = "tapegrad-checkpoint/1";

/// Per-epoch figures of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Mean training loss over each epoch's batches (dropout on).
    pub train_loss: Vec<f64>,
    /// Validation loss after each epoch (empty without a validation split).
    pub validation_loss: Vec<f64>,
    /// Validation accuracy (classification) or RMSE in target units (regression) after each epoch.
    pub validation_metric: Vec<f64>,
    /// The learning rate of each epoch.
    pub lr: Vec<f64>,
    /// Wall time of each epoch, seconds.
    pub epoch_seconds: Vec<f64>,
}

/// Early stopping's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyState {
    /// The lowest validation loss so far.
    pub best_loss: Option<f64>,
    /// Its epoch (1-based).
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    pub bad_epochs: usize,
    /// Whether the patience ran out.
    pub stopped: bool,
}

/// Where a run stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Whether training is over (all epochs run, or stopped early).
    pub finished: bool,
    /// Per-epoch figures.
    pub history: History,
    /// Early stopping.
    pub early: EarlyState,
    /// Training wall time so far, over every session of the run.
    pub train_seconds: f64,
}

/// A run's saved state.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The run's configuration.
    pub config: RunConfig,
    /// Where it stands.
    pub progress: Progress,
    /// The current weights, by parameter name.
    pub weights: Vec<NamedTensor>,
    /// The best weights for early stopping (empty when there are none).
    pub best: Vec<NamedTensor>,
    /// The optimizer's state.
    pub optimizer: OptimizerState,
}

/// The checkpoint path of a run folder.
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

fn bad(path: &Path, reason: impl Into<String>) -> CliError {
    CliError::BadFile { path: path.to_path_buf(), reason: reason.into() }
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        super::output::write_atomic(path, &self.to_bytes(path)?)
    }

    /// The checkpoint as safetensors bytes (`path` names the file in errors).
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let mut tensors = Vec::with_capacity(self.weights.len() * 2 + self.optimizer.params.len() * 2);
        for (prefix, list) in [("model", &self.weights), ("best", &self.best)] {
            for t in list.iter() {
                tensors.push(NamedTensor::new(
                    format!("{prefix}/{}", t.name),
                    t.shape.clone(),
                    t.data.clone(),
                )?);
            }
        }
        // The buffers go in as tensors; the JSON keeps their names with empty values.
        let mut skeleton = self.optimizer.clone();
        for (index, param) in skeleton.params.iter_mut().enumerate() {
            let Some(param) = param else { continue };
            for (name, values) in param.buffers.iter_mut() {
                let narrow: Vec<f32> = values.iter().map(|&v| v as f32).collect();
                tensors.push(NamedTensor::new(
                    format!("optimizer/{index}/{name}"),
                    vec![narrow.len()],
                    TensorData::F32(narrow),
                )?);
                values.clear();
            }
        }
        let json =
            |value: &dyn erased::Json| value.to_json().map_err(|e| bad(path, format!("serialising: {e}")));
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), CHECKPOINT_FORMAT.to_string());
        metadata.insert("config".to_string(), json(&self.config)?);
        metadata.insert("progress".to_string(), json(&self.progress)?);
        metadata.insert("optimizer".to_string(), json(&skeleton)?);
        Ok(weights_file::to_bytes(&tensors, &metadata)?)
    }

    /// Reads a checkpoint, checking its format and that every buffer the optimizer state
    /// names is present.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        if !path.exists() {
            return Err(bad(path, "no checkpoint here (nothing to resume); train without --resume to start"));
        }
        let bytes = std::fs::read(path).map_err(|e| CliError::io("reading", path, e))?;
        Checkpoint::from_bytes(path, &bytes)
    }

    /// Parses a checkpoint read from `path`, as [`Checkpoint::load`]; every tensor must hold
    /// finite values.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint> {
        let file = weights_file::from_bytes(bytes)?;
        check_finite(path, &file.tensors)?;
        let field = |key: &str| {
            file.metadata.get(key).ok_or_else(|| bad(path, format!("the checkpoint metadata has no `{key}`")))
        };
        if field("format")? != CHECKPOINT_FORMAT {
            return Err(bad(path, format!("unknown checkpoint format {:?}", field("format")?)));
        }
        let parse = |key: &str| -> Result<serde_json::Value> {
            serde_json::from_str(field(key)?).map_err(|e| bad(path, format!("`{key}`: {e}")))
        };
        let config: RunConfig =
            serde_json::from_value(parse("config")?).map_err(|e| bad(path, format!("`config`: {e}")))?;
        let progress: Progress =
            serde_json::from_value(parse("progress")?).map_err(|e| bad(path, format!("`progress`: {e}")))?;
        let mut optimizer: OptimizerState = serde_json::from_value(parse("optimizer")?)
            .map_err(|e| bad(path, format!("`optimizer`: {e}")))?;
        for (index, param) in optimizer.params.iter_mut().enumerate() {
            let Some(param) = param else { continue };
            for (name, values) in param.buffers.iter_mut() {
                let key = format!("optimizer/{index}/{name}");
                let tensor = file.get(&key).ok_or_else(|| bad(path, format!("missing tensor `{key}`")))?;
                *values = match &tensor.data {
                    TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
                    TensorData::F64(v) => v.clone(),
                    TensorData::I64(_) => {
                        return Err(bad(path, format!("tensor `{key}` is I64; optimizer state is floats")));
                    }
                };
            }
        }
        let strip = |prefix: &str| -> Vec<NamedTensor> {
            file.tensors
                .iter()
                .filter_map(|t| {
                    t.name.strip_prefix(prefix).map(|name| NamedTensor {
                        name: name.to_string(),
                        shape: t.shape.clone(),
                        data: t.data.clone(),
                    })
                })
                .collect()
        };
        Ok(Checkpoint { config, progress, weights: strip("model/"), best: strip("best/"), optimizer })
    }
}

/// Refuses weights holding NaN or an infinity: such a file is corrupt (training stops on a
/// non-finite loss, so it never writes one), and using it would print NaN predictions.
pub fn check_finite(path: &Path, tensors: &[NamedTensor]) -> Result<()> {
    for tensor in tensors {
        let first_bad = match &tensor.data {
            TensorData::F32(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, f64::from(v[i]))),
            TensorData::F64(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i])),
            // Integers (batch norm's count) are always finite.
            TensorData::I64(_) => None,
        };
        if let Some((index, value)) = first_bad {
            return Err(bad(
                path,
                format!("tensor `{}` holds {value} at index {index}; the weights are corrupt", tensor.name),
            ));
        }
    }
    Ok(())
}

/// Serialising a value to a JSON string through a trait object (the metadata map is built
/// from several types).
mod erased {
    /// A value that can be written as a JSON string.
    pub trait Json {
        /// The value as compact JSON.
        fn to_json(&self) -> serde_json::Result<String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::TrainArgs;
    use crate::config::{DataSource, RUN_FORMAT, resolve_training};
    use crate::model::{ModelSpec, Network};
    use crate::prepare::prepare;
    use optim::StepParams;
    use tensor_core::Tensor;

    #[test]
    fn a_checkpoint_round_trips_bit_for_bit() {
        let source = DataSource::Shipped { name: "iris".into() };
        let (training, split, _) =
            resolve_training(&TrainArgs::default(), &source, tapegrad_data::Task::Classification).unwrap();
        let prepared = prepare(&source, &split).unwrap();
        let model = ModelSpec {
            inputs: 4,
            hidden: vec![5],
            outputs: 3,
            activation: "relu".into(),
            dropout: 0.0,
            kind: crate::args::ModelArg::Mlp,
            conv: None,
        };
        let network = Network::new(&model, 1).unwrap();
        let mut adam = optim::build::<f32>(training.hyper).unwrap();
        let x = Tensor::from_slice(&prepared.train.features()[..8], &[2, 4]).unwrap();
        let loss = nn::loss::cross_entropy(&network.forward_eval(&x).unwrap(), &[0, 2], nn::Reduction::Mean)
            .unwrap();
        adam.step_params(&network.parameter_list(), &loss.backward().unwrap()).unwrap();
        let config = RunConfig {
            format: RUN_FORMAT.into(),
            dataset: "iris".into(),
            task: prepared.task,
            source,
            split,
            model,
            training,
            preprocessing: prepared.preprocessing,
        };
        let progress = Progress {
            epochs_done: 1,
            history: History { train_loss: vec![0.1 + 0.2], ..History::default() },
            early: EarlyState { best_loss: Some(1.0 / 3.0), best_epoch: Some(1), ..EarlyState::default() },
            ..Progress::default()
        };
        let weights = nn::module_io::module_tensors(&network).unwrap();
        let checkpoint =
            Checkpoint { config, progress, best: weights.clone(), weights, optimizer: adam.state() };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        checkpoint.save(&path).unwrap();
        // Tensors come back in file order; they are matched by name, so compare them sorted.
        let sorted = |mut c: Checkpoint| {
            c.weights.sort_by(|a, b| a.name.cmp(&b.name));
            c.best.sort_by(|a, b| a.name.cmp(&b.name));
            c
        };
        assert_eq!(sorted(Checkpoint::load(&path).unwrap()), sorted(checkpoint));
    }

    #[test]
    fn a_missing_or_foreign_checkpoint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        assert!(matches!(Checkpoint::load(&path), Err(CliError::BadFile { .. })));
        weights_file::save(&path, &[]).unwrap();
        let err = Checkpoint::load(&path).unwrap_err();
        assert!(err.to_string().contains("no `format`"), "{err}");
    }
}
