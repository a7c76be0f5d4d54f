//! A run's full configuration (`config.json`): where the data came from and how it was split
//! and standardised, the network's shape, and every training setting. `evaluate` and
//! `predict` rebuild the model and its preprocessing from it; `--resume` checks the flags
//! against it.

use std::path::PathBuf;

use optim::{AdagradConfig, AdamConfig, AdamWConfig, HyperParams, RmspropConfig, Schedule, SgdConfig};
use serde::{Deserialize, Serialize};
use tapegrad_data::{
    BatchSize, CsvOptions, Header, LoadedData, Separator, Shipped, SplitConfig, Standardizer, TargetColumn,
    TargetScaler, Task,
};

use super::args::{DataArgs, HeaderArg, LossArg, ModelArg, OptimizerArg, ScheduleArg, TaskArg, TrainArgs};
use super::defaults::{Defaults, defaults, lr_for};
use super::error::{CliError, Result};
use super::model::ModelSpec;

/// The `format` tag of a `config.json` this version writes and reads.
pub const RUN_FORMAT: &str = "tapegrad-run/1";

/// Where a run's data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataSource {
    /// A data set shipped in the repository's `data/` folder.
    Shipped {
        /// Its name (`mnist`).
        name: String,
    },
    /// A user's CSV file or idx folder.
    File {
        /// The path as given.
        path: PathBuf,
        /// How the CSV is read (ignored for an idx folder).
        csv: CsvOptions,
    },
}

impl DataSource {
    /// The source the data flags describe (`--dataset` or `--data` with its options).
    pub fn from_args(args: &DataArgs) -> Result<DataSource> {
        match (&args.dataset, &args.data) {
            (Some(name), None) => {
                // A shipped set knows its target, task and format: these flags would be ignored.
                let file_only = [
                    ("--target", args.target.is_some()),
                    ("--task", args.task.is_some()),
                    ("--separator", args.separator.is_some()),
                    ("--header", args.header.is_some()),
                ];
                if let Some((flag, _)) = file_only.iter().find(|(_, given)| *given) {
                    return Err(CliError::invalid(
                        flag,
                        "applies to a --data file, not to a shipped --dataset",
                    ));
                }
                let set: Shipped = name.parse()?;
                Ok(DataSource::Shipped { name: set.name().to_string() })
            }
            (None, Some(path)) => {
                let task = match args.task.unwrap_or(TaskArg::Classification) {
                    TaskArg::Classification => Task::Classification,
                    TaskArg::Regression => Task::Regression,
                };
                let target = args.target.as_deref().map_or(TargetColumn::default(), |t| match t.parse() {
                    Ok(column) => column,
                    Err(never) => match never {},
                });
                let separator = match &args.separator {
                    Some(text) => {
                        text.parse::<Separator>().map_err(|e| CliError::invalid("--separator", e))?
                    }
                    None => Separator::Auto,
                };
                let header = match args.header.unwrap_or(HeaderArg::Auto) {
                    HeaderArg::Auto => Header::Auto,
                    HeaderArg::Present => Header::Present,
                    HeaderArg::Absent => Header::Absent,
                };
                Ok(DataSource::File {
                    path: path.clone(),
                    csv: CsvOptions { header, separator, target, task },
                })
            }
            (None, None) => Err(CliError::invalid(
                "--dataset",
                "give a shipped data set (--dataset NAME) or a file (--data PATH)",
            )),
            (Some(_), Some(_)) => {
                Err(CliError::invalid("--dataset", "give either --dataset or --data, not both"))
            }
        }
    }

    /// The shipped set, if this is one.
    pub fn shipped(&self) -> Option<Shipped> {
        match self {
            DataSource::Shipped { name } => name.parse().ok(),
            DataSource::File { .. } => None,
        }
    }

    /// The task the data is loaded for.
    pub fn task(&self) -> Task {
        match self {
            DataSource::Shipped { name } => {
                name.parse::<Shipped>().map_or(Task::Classification, Shipped::task)
            }
            DataSource::File { csv, .. } => csv.task,
        }
    }

    /// A short name for the run folder and reports: the shipped name or the file's stem.
    pub fn display_name(&self) -> String {
        match self {
            DataSource::Shipped { name } => name.clone(),
            DataSource::File { path, .. } => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let stem = name.trim_end_matches(".gz").trim_end_matches(".csv").trim_end_matches(".txt");
                if stem.is_empty() { "data".to_string() } else { stem.to_string() }
            }
        }
    }

    /// Loads the data.
    pub fn load(&self) -> Result<LoadedData> {
        Ok(match self {
            DataSource::Shipped { name } => tapegrad_data::load_shipped(name, None)?,
            DataSource::File { path, csv } => tapegrad_data::load_path(path, csv)?,
        })
    }
}

/// The loss and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossSpec {
    /// Which loss.
    pub kind: LossArg,
    /// Huber's δ (used by `huber` only).
    pub huber_delta: f64,
    /// Cross-entropy's label smoothing ε (used by `cross-entropy` only).
    pub label_smoothing: f64,
}

/// A learning-rate schedule, relative to the optimizer's learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ScheduleSpec {
    /// The same rate throughout.
    Constant,
    /// `lr·γ^⌊epoch / step_size⌋`.
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// `lr·γ^epoch`.
    Exponential {
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine decay from `lr` to `min_lr` over the run.
    Cosine {
        /// The final rate.
        min_lr: f64,
    },
    /// Linear warm-up from `lr/10`, then cosine decay to `min_lr`.
    WarmupCosine {
        /// Warm-up epochs.
        warmup_epochs: usize,
        /// The final rate.
        min_lr: f64,
    },
}

impl ScheduleSpec {
    /// The schedule for a run of `epochs` epochs starting at `lr`.
    pub fn build(&self, lr: f64, epochs: usize) -> Result<Schedule> {
        let epochs = epochs.max(1);
        Ok(match *self {
            ScheduleSpec::Constant => Schedule::constant(lr)?,
            ScheduleSpec::Step { step_size, gamma } => Schedule::step(lr, step_size, gamma)?,
            ScheduleSpec::Exponential { gamma } => Schedule::exponential(lr, gamma)?,
            ScheduleSpec::Cosine { min_lr } => Schedule::cosine(lr, epochs, min_lr)?,
            ScheduleSpec::WarmupCosine { warmup_epochs, min_lr } => {
                if warmup_epochs >= epochs {
                    return Err(CliError::invalid(
                        "--warmup-epochs",
                        format!(
                            "{warmup_epochs} warm-up epochs leave none of the {epochs} epochs for the decay"
                        ),
                    ));
                }
                let warmup = Schedule::linear_warmup(lr, 0.1, 1.0, warmup_epochs.max(1))?;
                let decay = Schedule::cosine(lr, epochs - warmup_epochs, min_lr)?;
                Schedule::sequential(vec![warmup, decay], vec![warmup_epochs.max(1)])?
            }
        })
    }
}

/// Every training setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// The loss.
    pub loss: LossSpec,
    /// The optimizer as named on the command line.
    pub optimizer: OptimizerArg,
    /// Its hyper-parameters (learning rate at the start, weight decay, ...).
    pub hyper: HyperParams,
    /// The learning-rate schedule.
    pub schedule: ScheduleSpec,
    /// Samples per step.
    pub batch_size: BatchSize,
    /// Epochs.
    pub epochs: usize,
    /// Early-stopping patience on the validation loss (0: off).
    pub patience: usize,
    /// Gradient clipping by global norm.
    pub clip_norm: Option<f64>,
    /// The seed of the split, the weights, the batch order and the dropout masks.
    pub seed: u64,
}

/// How raw rows become network inputs and outputs become predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// The feature standardiser fitted on the training split.
    pub standardizer: Standardizer,
    /// For regression, the target standardiser fitted on the training split.
    pub target_scaler: Option<TargetScaler>,
    /// For classification, a name per class (the original labels for a CSV).
    pub class_names: Option<Vec<String>>,
    /// The feature names, when the data has them.
    pub feature_names: Option<Vec<String>>,
}

/// A run's full configuration, written as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// [`RUN_FORMAT`].
    pub format: String,
    /// The data set's name.
    pub dataset: String,
    /// Classification or regression.
    pub task: Task,
    /// Where the data comes from.
    pub source: DataSource,
    /// How it was split.
    pub split: SplitConfig,
    /// The network.
    pub model: ModelSpec,
    /// The training settings.
    pub training: TrainSpec,
    /// The preprocessing fitted on the training split.
    pub preprocessing: Preprocessing,
}

impl RunConfig {
    /// The settings that differ between two configurations, as `path: a → b` (empty if none).
    pub fn differences(&self, other: &RunConfig) -> Vec<String> {
        let (Ok(a), Ok(b)) = (serde_json::to_value(self), serde_json::to_value(other)) else {
            return vec!["(configuration not comparable)".to_string()];
        };
        let mut out = Vec::new();
        diff_values("", &a, &b, &mut out);
        out
    }
}

/// Collects the leaves where two JSON values differ.
fn diff_values(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                diff_values(
                    &child,
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a == b => {}
        (Value::Array(x), Value::Array(y)) if x.len() > 8 || y.len() > 8 => {
            out.push(format!("{path} (fitted values differ)"));
        }
        _ => out.push(format!("{path}: {a} → {b}")),
    }
}

/// Parses `--channels`: comma-separated positive channel counts, at least one.
pub fn parse_channels(text: &str) -> Result<Vec<usize>> {
    let text = text.trim();
    text.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(width) if width > 0 => Ok(width),
            _ => Err(CliError::invalid(
                "--channels",
                format!("{part:?} in {text:?} is not a positive channel count; give counts like 32,64"),
            )),
        })
        .collect()
}

/// Parses `--hidden`: comma-separated widths, or `none`/empty for no hidden layer.
pub fn parse_hidden(text: &str) -> Result<Vec<usize>> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(width) if width > 0 => Ok(width),
            _ => Err(CliError::invalid(
                "--hidden",
                format!("{part:?} in {text:?} is not a positive width; give sizes like 512,256 or `none`"),
            )),
        })
        .collect()
}

/// Checks a value is finite and at least `min`.
fn at_least(flag: &'static str, value: f64, min: f64) -> Result<f64> {
    if value.is_finite() && value >= min {
        Ok(value)
    } else {
        Err(CliError::invalid(flag, format!("{value} must be a finite number >= {min}")))
    }
}

/// Refuses a flag the chosen optimizer, schedule or task does not use: it would be ignored.
fn reject_inapplicable(
    args: &TrainArgs,
    optimizer: OptimizerArg,
    schedule: ScheduleArg,
    task: Task,
) -> Result<()> {
    use OptimizerArg as O;
    use ScheduleArg as S;
    let momentum = matches!(optimizer, O::Momentum | O::Nesterov | O::Rmsprop);
    let betas = matches!(optimizer, O::Adam | O::Adamw);
    let eps = !matches!(optimizer, O::Sgd | O::Momentum | O::Nesterov);
    let gamma = matches!(schedule, S::Step | S::Exponential);
    let min_lr = matches!(schedule, S::Cosine | S::WarmupCosine);
    let huber = args.loss == Some(LossArg::Huber);
    let checks: [(&'static str, bool, bool, &str); 10] = [
        ("--momentum", args.momentum.is_some(), momentum, "--optimizer momentum, nesterov or rmsprop"),
        ("--beta1", args.beta1.is_some(), betas, "--optimizer adam or adamw"),
        ("--beta2", args.beta2.is_some(), betas, "--optimizer adam or adamw"),
        ("--eps", args.eps.is_some(), eps, "--optimizer rmsprop, adam, adamw or adagrad"),
        ("--alpha", args.alpha.is_some(), optimizer == O::Rmsprop, "--optimizer rmsprop"),
        ("--step-size", args.step_size.is_some(), schedule == S::Step, "--schedule step"),
        ("--gamma", args.gamma.is_some(), gamma, "--schedule step or exponential"),
        (
            "--warmup-epochs",
            args.warmup_epochs.is_some(),
            schedule == S::WarmupCosine,
            "--schedule warmup-cosine",
        ),
        ("--min-lr", args.min_lr.is_some(), min_lr, "--schedule cosine or warmup-cosine"),
        ("--huber-delta", args.huber_delta.is_some(), huber, "--loss huber"),
    ];
    for (flag, given, applies, needs) in checks {
        if given && !applies {
            return Err(CliError::invalid(flag, format!("applies only with {needs}")));
        }
    }
    if args.channels.is_some() && args.model != Some(ModelArg::Cnn) {
        return Err(CliError::invalid("--channels", "applies only with --model cnn"));
    }
    if args.label_smoothing.is_some() && task == Task::Regression {
        return Err(CliError::invalid("--label-smoothing", "applies only to classification"));
    }
    Ok(())
}

/// The training settings from the flags, with the data set's defaults for what is not given.
pub fn resolve_training(
    args: &TrainArgs,
    source: &DataSource,
    task: Task,
) -> Result<(TrainSpec, SplitConfig, Defaults)> {
    let d = defaults(args.model.unwrap_or_default(), source.shipped(), task);
    let optimizer = args.optimizer.unwrap_or(d.optimizer);
    let default_lr = if optimizer == d.optimizer { d.lr } else { lr_for(optimizer) };
    let lr = at_least("--lr", args.lr.unwrap_or(default_lr), 0.0)?;
    let weight_decay = match (args.weight_decay, optimizer) {
        (Some(wd), _) => wd,
        // AdamW exists for its decoupled decay; PyTorch's default is 1e-2.
        (None, OptimizerArg::Adamw) if d.weight_decay == 0.0 => 1e-2,
        (None, _) => d.weight_decay,
    };
    let weight_decay = at_least("--weight-decay", weight_decay, 0.0)?;
    reject_inapplicable(args, optimizer, args.schedule.unwrap_or(d.schedule), task)?;
    let momentum = args.momentum.unwrap_or(0.9);
    let eps = args.eps;
    let hyper = match optimizer {
        OptimizerArg::Sgd => HyperParams::Sgd(SgdConfig::new(lr).weight_decay(weight_decay)),
        OptimizerArg::Momentum => {
            HyperParams::Sgd(SgdConfig::new(lr).momentum(momentum).weight_decay(weight_decay))
        }
        OptimizerArg::Nesterov => {
            HyperParams::Sgd(SgdConfig::new(lr).momentum(momentum).nesterov(true).weight_decay(weight_decay))
        }
        OptimizerArg::Rmsprop => {
            let mut config = RmspropConfig::new(lr)
                .alpha(args.alpha.unwrap_or(0.99))
                .momentum(args.momentum.unwrap_or(0.0))
                .weight_decay(weight_decay);
            if let Some(eps) = eps {
                config = config.eps(eps);
            }
            HyperParams::Rmsprop(config)
        }
        OptimizerArg::Adam => {
            let mut config = AdamConfig::new(lr)
                .betas(args.beta1.unwrap_or(0.9), args.beta2.unwrap_or(0.999))
                .weight_decay(weight_decay);
            if let Some(eps) = eps {
                config = config.eps(eps);
            }
            HyperParams::Adam(config)
        }
        OptimizerArg::Adamw => {
            let mut config = AdamWConfig::new(lr)
                .betas(args.beta1.unwrap_or(0.9), args.beta2.unwrap_or(0.999))
                .weight_decay(weight_decay);
            if let Some(eps) = eps {
                config = config.eps(eps);
            }
            HyperParams::AdamW(config)
        }
        OptimizerArg::Adagrad => {
            let mut config = AdagradConfig::new(lr).weight_decay(weight_decay);
            if let Some(eps) = eps {
                config = config.eps(eps);
            }
            HyperParams::Adagrad(config)
        }
    };
    // Bad hyper-parameters (β outside [0, 1), negative ε) are caught here, before any data is read.
    optim::build::<f32>(hyper)?;

    let min_lr = at_least("--min-lr", args.min_lr.unwrap_or(0.0), 0.0)?;
    let schedule = match args.schedule.unwrap_or(d.schedule) {
        ScheduleArg::Constant => ScheduleSpec::Constant,
        ScheduleArg::Step => ScheduleSpec::Step {
            step_size: match args.step_size.unwrap_or(10) {
                0 => return Err(CliError::invalid("--step-size", "must be at least 1 epoch")),
                n => n,
            },
            gamma: at_least("--gamma", args.gamma.unwrap_or(0.5), 0.0)?,
        },
        ScheduleArg::Exponential => {
            ScheduleSpec::Exponential { gamma: at_least("--gamma", args.gamma.unwrap_or(0.95), 0.0)? }
        }
        ScheduleArg::Cosine => ScheduleSpec::Cosine { min_lr },
        ScheduleArg::WarmupCosine => match args.warmup_epochs.unwrap_or(2) {
            0 => {
                return Err(CliError::invalid(
                    "--warmup-epochs",
                    "must be at least 1 (or use --schedule cosine)",
                ));
            }
            warmup_epochs => ScheduleSpec::WarmupCosine { warmup_epochs, min_lr },
        },
    };
    let epochs = args.epochs.unwrap_or(d.epochs);
    if epochs == 0 {
        return Err(CliError::invalid("--epochs", "must be at least 1"));
    }
    schedule.build(lr, epochs)?;
    let batch_size = match &args.batch_size {
        Some(text) => {
            text.parse::<BatchSize>().map_err(|e| CliError::invalid("--batch-size", e.to_string()))?
        }
        None => d.batch_size,
    };
    let default_loss = match task {
        Task::Classification => LossArg::CrossEntropy,
        Task::Regression => LossArg::Mse,
    };
    let loss = LossSpec {
        kind: args.loss.unwrap_or(default_loss),
        huber_delta: at_least("--huber-delta", args.huber_delta.unwrap_or(1.0), 0.0)?,
        label_smoothing: at_least("--label-smoothing", args.label_smoothing.unwrap_or(0.0), 0.0)?,
    };
    match (task, loss.kind) {
        (Task::Classification, LossArg::CrossEntropy) => {}
        (Task::Regression, LossArg::Mse | LossArg::L1 | LossArg::Huber) => {}
        (Task::Classification, kind) => {
            return Err(CliError::invalid(
                "--loss",
                format!("{kind:?} is a regression loss; classification uses cross-entropy"),
            ));
        }
        (Task::Regression, _) => {
            return Err(CliError::invalid(
                "--loss",
                "cross-entropy needs classes; regression uses mse, l1 or huber",
            ));
        }
    }
    if loss.label_smoothing > 1.0 {
        return Err(CliError::invalid(
            "--label-smoothing",
            format!("{} is outside [0, 1]", loss.label_smoothing),
        ));
    }
    if loss.huber_delta == 0.0 {
        return Err(CliError::invalid("--huber-delta", "must be positive"));
    }
    let clip_norm = args.clip_norm.map(|c| at_least("--clip-norm", c, 0.0)).transpose()?;
    let split = SplitConfig {
        validation_fraction: args.validation_fraction.unwrap_or(d.validation_fraction),
        test_fraction: args.test_fraction.unwrap_or(d.test_fraction),
        seed: args.seed.unwrap_or(0),
        stratify: true,
    };
    let spec = TrainSpec {
        loss,
        optimizer,
        hyper,
        schedule,
        batch_size,
        epochs,
        patience: args.patience.unwrap_or(d.patience),
        clip_norm,
        seed: args.seed.unwrap_or(0),
    };
    Ok((spec, split, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_sizes_parse_and_bad_ones_say_which() {
        assert_eq!(parse_hidden("512, 256").unwrap(), vec![512, 256]);
        assert_eq!(parse_hidden("none").unwrap(), Vec::<usize>::new());
        let err = parse_hidden("512,x").unwrap_err();
        assert!(matches!(err, CliError::InvalidArgument { flag: "--hidden", .. }));
        assert!(err.to_string().contains("\"x\""), "{err}");
        assert!(parse_hidden("0").is_err());
    }

    #[test]
    fn flags_override_defaults_and_bad_values_are_errors() {
        let source = DataSource::Shipped { name: "iris".into() };
        let args = TrainArgs { lr: Some(0.5), optimizer: Some(OptimizerArg::Sgd), ..TrainArgs::default() };
        let (spec, _, _) = resolve_training(&args, &source, Task::Classification).unwrap();
        assert_eq!(spec.hyper.lr(), 0.5);
        let bad = TrainArgs { lr: Some(-1.0), ..TrainArgs::default() };
        assert!(matches!(
            resolve_training(&bad, &source, Task::Classification),
            Err(CliError::InvalidArgument { flag: "--lr", .. })
        ));
        let bad = TrainArgs { beta1: Some(1.5), ..TrainArgs::default() };
        assert!(matches!(resolve_training(&bad, &source, Task::Classification), Err(CliError::Optim(_))));
        let bad = TrainArgs { loss: Some(LossArg::Mse), ..TrainArgs::default() };
        assert!(matches!(
            resolve_training(&bad, &source, Task::Classification),
            Err(CliError::InvalidArgument { flag: "--loss", .. })
        ));
        let bad = TrainArgs { batch_size: Some("0".into()), ..TrainArgs::default() };
        assert!(matches!(
            resolve_training(&bad, &source, Task::Classification),
            Err(CliError::InvalidArgument { flag: "--batch-size", .. })
        ));
    }

    #[test]
    fn schedules_build_and_warmup_must_leave_room() {
        let spec = ScheduleSpec::WarmupCosine { warmup_epochs: 2, min_lr: 0.0 };
        let schedule = spec.build(0.1, 10).unwrap();
        assert!((schedule.lr_at(0) - 0.01).abs() < 1e-12);
        assert!((schedule.lr_at(2) - 0.1).abs() < 1e-12);
        assert!(spec.build(0.1, 2).is_err());
    }

    #[test]
    fn differences_name_the_changed_settings() {
        let a = serde_json::json!({"training": {"epochs": 3, "seed": 1}});
        let b = serde_json::json!({"training": {"epochs": 4, "seed": 1}});
        let mut out = Vec::new();
        diff_values("", &a, &b, &mut out);
        assert_eq!(out, vec!["training.epochs: 3 → 4"]);
    }
}
