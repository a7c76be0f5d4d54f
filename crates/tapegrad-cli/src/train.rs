//! The training loop: mini-batches in a seeded per-epoch order, one optimizer step per batch,
//! validation loss and early stopping after each epoch, and a checkpoint after each epoch so
//! `--resume` continues bit for bit.

use std::path::Path;
use std::time::Instant;

use nn::module_io::{load_tensors, module_tensors};
use nn::weights_file::NamedTensor;
use optim::{StepParams, clip_gradients_by_norm};
use tapegrad_data::{Batch, BatchOrder, BatchTargets, Dataset, Targets};
use tapegrad_distributed::{Communicator, all_reduce_gradients, rank_seed, shard};
use tensor_core::{Parameter, Tensor};

use super::args::LossArg;
use super::checkpoint::{CHECKPOINT_FILE, Checkpoint, Progress};
use super::config::{LossSpec, RunConfig};
use super::error::{CliError, Result};
use super::model::{DropoutKey, MAX_ACTIVATIONS, Network};
use super::progress::Reporter;
use super::run_folder::RunWriter;

/// How a call to [`train`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// All epochs ran, or early stopping ended the run.
    Finished,
    /// `--stop-after` stopped it; the checkpoint holds the state.
    Paused,
}

/// What training produced.
pub struct Trained {
    /// The network with its final weights (the best epoch's under early stopping).
    pub network: Network,
    /// Where the run stands.
    pub progress: Progress,
    /// How the call ended.
    pub ending: Ending,
    /// Seconds this rank spent in the gradient all-reduce in this session (0 for one
    /// process): the exchange itself plus any wait for slower ranks.
    pub all_reduce_seconds: f64,
    /// Seconds of this session's training loop (steps, validation, checkpoints).
    pub session_seconds: f64,
}

/// The loss of `outputs` against batch `targets`.
pub fn loss_of(spec: &LossSpec, outputs: &Tensor<f32>, targets: &BatchTargets) -> Result<Tensor<f32>> {
    Ok(match (targets, spec.kind) {
        (BatchTargets::Classes(labels), _) => {
            nn::loss::CrossEntropyLoss::new().label_smoothing(spec.label_smoothing).loss(outputs, labels)?
        }
        (BatchTargets::Values(values), kind) => {
            let target = Tensor::from_slice(values, &[values.len(), 1])?;
            match kind {
                LossArg::L1 => nn::loss::l1(outputs, &target, nn::Reduction::Mean)?,
                LossArg::Huber => nn::loss::huber(outputs, &target, spec.huber_delta, nn::Reduction::Mean)?,
                LossArg::Mse | LossArg::CrossEntropy => nn::loss::mse(outputs, &target, nn::Reduction::Mean)?,
            }
        }
    })
}

/// The mean loss over `data` and its headline metric (accuracy, or RMSE times `target_std`:
/// in the target's units), in evaluation mode.
pub fn validate(network: &Network, data: &Dataset, loss: &LossSpec, target_std: f64) -> Result<(f64, f64)> {
    let outputs = network.predict(data.features())?;
    let n = data.n_samples();
    let width = network.spec().outputs;
    let output_tensor = Tensor::from_vec(outputs, &[n, width])?;
    let targets = match data.targets() {
        Targets::Classes { labels, .. } => BatchTargets::Classes(labels.clone()),
        Targets::Values(values) => BatchTargets::Values(values.clone()),
    };
    let loss_value = tensor_core::no_grad(|| loss_of(loss, &output_tensor, &targets))?.item()?;
    let metric = match &targets {
        BatchTargets::Classes(labels) => {
            let correct = output_tensor
                .as_slice()
                .chunks(width)
                .zip(labels)
                .filter(|(row, label)| argmax(row) == **label)
                .count();
            correct as f64 / n as f64
        }
        BatchTargets::Values(values) => {
            let squares: f64 = output_tensor
                .as_slice()
                .iter()
                .zip(values)
                .map(|(p, y)| (f64::from(*p) - f64::from(*y)).powi(2))
                .sum();
            (squares / n as f64).sqrt() * target_std
        }
    };
    Ok((f64::from(loss_value), metric))
}

/// The index of the largest value (the first one on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Sets the network's parameters from named tensors.
fn load_weights(network: &Network, tensors: &[NamedTensor]) -> Result<()> {
    Ok(load_tensors(network, tensors)?)
}

/// Rows `range` of `batch`, in batch order.
fn slice_batch(batch: &Batch, range: std::ops::Range<usize>) -> Batch {
    let f = batch.n_features;
    let targets = match &batch.targets {
        BatchTargets::Classes(labels) => BatchTargets::Classes(labels[range.clone()].to_vec()),
        BatchTargets::Values(values) => BatchTargets::Values(values[range.clone()].to_vec()),
    };
    Batch {
        features: batch.features[range.start * f..range.end * f].to_vec(),
        n_samples: range.len(),
        n_features: f,
        targets,
        indices: batch.indices[range].to_vec(),
    }
}

/// One global batch's place in the run, for [`distributed_step`].
struct DistributedStep<'a> {
    network: &'a Network,
    params: &'a [Parameter<f32>],
    batch: Batch,
    epoch: usize,
    step: usize,
}

/// One optimizer step on this rank's shard of a global batch; returns the global batch's mean
/// loss (the same on every rank).
fn distributed_step(
    at: DistributedStep<'_>,
    spec: &super::config::TrainSpec,
    comm: &dyn Communicator,
    optimizer: &mut dyn optim::Optimizer<f32>,
    all_reduce_time: &mut std::time::Duration,
) -> Result<f64> {
    let part = shard(at.batch.n_samples, comm.rank(), comm.size());
    let batch = slice_batch(&at.batch, part.range());
    // Each rank draws its own dropout masks from a seed of its own, reproducibly.
    let key =
        DropoutKey { seed: rank_seed(spec.seed, comm.rank()), epoch: at.epoch as u64, step: at.step as u64 };
    // Each rank's mean loss is scaled by its share of the global batch, so the sum of the
    // ranks' gradients is the gradient of the global batch's mean loss.
    let (value, grads) = if batch.n_samples == 0 {
        (0.0, None)
    } else {
        let x = Tensor::from_vec(batch.features, &[batch.n_samples, batch.n_features])?;
        let outputs = at.network.forward_train(&x, key)?;
        let loss = loss_of(&spec.loss, &outputs, &batch.targets)?.mul_scalar(part.loss_scale());
        (loss.item()?, Some(loss.backward()?))
    };
    // The scaled loss rides in the same message, so every rank reports the global mean.
    let mut reported = [value];
    let exchange = Instant::now();
    let grads = all_reduce_gradients(comm, at.params, grads.as_ref(), &mut reported)?;
    *all_reduce_time += exchange.elapsed();
    let grads = match spec.clip_norm {
        Some(max_norm) => {
            let mut buffers: Vec<Vec<f32>> = grads.iter().flatten().map(Tensor::to_vec).collect();
            optim::clip_grad_norm(&mut buffers, max_norm)?;
            buffers
                .into_iter()
                .zip(at.params)
                .map(|(data, p)| Ok(Some(Tensor::from_vec(data, p.shape())?)))
                .collect::<Result<Vec<_>>>()?
        }
        None => grads,
    };
    optimizer.step_with_grads(at.params, &grads)?;
    Ok(f64::from(reported[0]))
}

/// Refuses batches whose activations would exceed [`MAX_ACTIVATIONS`] in the widest layer (a
/// CNN's unfolded convolution input counts as a layer: see [`super::model::ModelSpec::max_width`]);
/// checked before the run folder is touched.
pub fn check_batch(config: &RunConfig, n_samples: usize) -> Result<()> {
    let rows = config.training.batch_size.resolve(n_samples).max(1);
    let width = config.model.max_width();
    if rows.checked_mul(width).is_none_or(|n| n > MAX_ACTIVATIONS) {
        return Err(CliError::invalid(
            "--batch-size",
            format!(
                "batches of {rows} rows through a layer holding {width} values per row exceed the \
                 limit of {MAX_ACTIVATIONS} activations; use a smaller batch or narrower layers"
            ),
        ));
    }
    Ok(())
}

/// Trains `config`'s network on `train` (scaled), validating on `validation`, checkpointing
/// into `dir` through `writer`. With `resume`, continues from that checkpoint. `stop_after`
/// pauses cleanly after that many epochs in total. With more than one rank in `comm`, each
/// rank trains on its shard of every batch, the gradients are summed in rank order, and only
/// rank 0 — the one rank given a `writer` — writes the checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &RunConfig,
    train: &Dataset,
    validation: Option<&Dataset>,
    dir: &Path,
    mut writer: Option<&mut RunWriter>,
    resume: Option<Checkpoint>,
    reporter: &mut Reporter,
    stop_after: Option<usize>,
    comm: &dyn Communicator,
) -> Result<Trained> {
    let spec = &config.training;
    let network = Network::new(&config.model, spec.seed)?;
    let params: Vec<Parameter<f32>> = network.parameter_list();
    let (mut optimizer, mut progress, mut best) = match resume {
        Some(checkpoint) => {
            load_weights(&network, &checkpoint.weights)?;
            (optim::from_state::<f32>(&checkpoint.optimizer)?, checkpoint.progress, checkpoint.best)
        }
        None => (optim::build::<f32>(spec.hyper)?, Progress::default(), Vec::new()),
    };
    let schedule = spec.schedule.build(spec.hyper.lr(), spec.epochs)?;
    let target_std = config.preprocessing.target_scaler.map_or(1.0, |s| f64::from(s.std()));
    let n_features = train.n_features();
    let batches_per_epoch = spec.batch_size.resolve(train.n_samples()).max(1);
    let batches_per_epoch = train.n_samples().div_ceil(batches_per_epoch);
    let early_stopping = spec.patience > 0 && validation.is_some();
    let path = dir.join(CHECKPOINT_FILE);

    let mut all_reduce_time = std::time::Duration::ZERO;
    let session = Instant::now();
    while !progress.finished && progress.epochs_done < spec.epochs {
        let epoch = progress.epochs_done;
        let lr = schedule.lr_at(epoch);
        optimizer.set_lr(lr)?;
        let started = Instant::now();
        reporter.start_epoch(epoch + 1, spec.epochs, batches_per_epoch);
        let order = BatchOrder::Shuffled { seed: spec.seed, epoch: epoch as u64 };
        for (step, batch) in train.batches(spec.batch_size, order).enumerate() {
            let rows = batch.n_samples;
            let value = if comm.size() > 1 {
                distributed_step(
                    DistributedStep { network: &network, params: &params, batch, epoch, step },
                    spec,
                    comm,
                    &mut *optimizer,
                    &mut all_reduce_time,
                )?
            } else {
                let x = Tensor::from_vec(batch.features, &[batch.n_samples, n_features])?;
                let key = DropoutKey { seed: spec.seed, epoch: epoch as u64, step: step as u64 };
                let outputs = network.forward_train(&x, key)?;
                let loss = loss_of(&spec.loss, &outputs, &batch.targets)?;
                let value = f64::from(loss.item()?);
                if !value.is_finite() {
                    return Err(CliError::Diverged { epoch: epoch + 1, loss: value, lr });
                }
                let grads = loss.backward()?;
                match spec.clip_norm {
                    Some(max_norm) => {
                        let (clipped, _) = clip_gradients_by_norm(&params, &grads, max_norm)?;
                        optimizer.step_with_grads(&params, &clipped)?;
                    }
                    None => optimizer.step_params(&params, &grads)?,
                }
                value
            };
            if !value.is_finite() {
                return Err(CliError::Diverged { epoch: epoch + 1, loss: value, lr });
            }
            reporter.step(rows, value);
        }
        let train_loss = reporter.running_loss();
        let history = &mut progress.history;
        history.train_loss.push(train_loss);
        history.lr.push(lr);
        let mut summary = format!("epoch {:>3}/{}  train loss {train_loss:.4}", epoch + 1, spec.epochs);
        if let Some(validation) = validation {
            let (loss, metric) = validate(&network, validation, &spec.loss, target_std)?;
            if !loss.is_finite() {
                return Err(CliError::Diverged { epoch: epoch + 1, loss, lr });
            }
            history.validation_loss.push(loss);
            history.validation_metric.push(metric);
            let metric_name = if config.preprocessing.target_scaler.is_some() { "rmse" } else { "accuracy" };
            summary.push_str(&format!("  val loss {loss:.4}  val {metric_name} {metric:.4}"));
            if early_stopping {
                let early = &mut progress.early;
                if early.best_loss.is_none_or(|best_loss| loss < best_loss) {
                    early.best_loss = Some(loss);
                    early.best_epoch = Some(epoch + 1);
                    early.bad_epochs = 0;
                    best = module_tensors(&network)?;
                } else {
                    early.bad_epochs += 1;
                    early.stopped = early.bad_epochs >= spec.patience;
                }
            }
        }
        progress.epochs_done = epoch + 1;
        progress.finished = progress.early.stopped || progress.epochs_done == spec.epochs;
        // The checkpoint records the epoch's time up to the save; the run's total then adds
        // the save itself, so `train_seconds` counts checkpointing too.
        let before_save = started.elapsed().as_secs_f64();
        progress.history.epoch_seconds.push(before_save);
        progress.train_seconds += before_save;
        let checkpoint = Checkpoint {
            config: config.clone(),
            progress: progress.clone(),
            weights: module_tensors(&network)?,
            best: best.clone(),
            optimizer: optimizer.state(),
        };
        if let Some(writer) = writer.as_deref_mut() {
            writer.write(CHECKPOINT_FILE, &checkpoint.to_bytes(&path)?)?;
            writer.commit()?;
        }
        let seconds = started.elapsed().as_secs_f64();
        progress.train_seconds += seconds - before_save;
        if let Some(last) = progress.history.epoch_seconds.last_mut() {
            *last = seconds;
        }
        summary.push_str(&format!("  lr {lr:.3e}  {seconds:.1}s"));
        reporter.end_epoch(&summary);
        if progress.early.stopped {
            reporter.line(&format!(
                "early stopping: no lower validation loss for {} epochs; keeping epoch {}",
                spec.patience,
                progress.early.best_epoch.unwrap_or(0)
            ));
        }
        if !progress.finished && stop_after.is_some_and(|k| progress.epochs_done >= k) {
            return Ok(Trained {
                network,
                progress,
                ending: Ending::Paused,
                all_reduce_seconds: all_reduce_time.as_secs_f64(),
                session_seconds: session.elapsed().as_secs_f64(),
            });
        }
    }
    if early_stopping && !best.is_empty() {
        load_weights(&network, &best)?;
    }
    Ok(Trained {
        network,
        progress,
        ending: Ending::Finished,
        all_reduce_seconds: all_reduce_time.as_secs_f64(),
        session_seconds: session.elapsed().as_secs_f64(),
    })
}
