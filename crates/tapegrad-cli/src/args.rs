//! The command line's flags (clap). Training flags are optional so that a data set's own
//! defaults ([`super::defaults`]) fill in whatever the user leaves out.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Train, evaluate and use neural networks on shipped or your own data, and run the lessons
/// of "Mathematical Aspects of Deep Learning" as real experiments.
#[derive(Debug, Parser)]
#[command(name = "tapegrad", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train an MLP (or, with --model cnn, a CNN on images) on a shipped data set (--dataset)
    /// or your own file (--data).
    Train(Box<TrainArgs>),
    /// Compute a trained model's metrics on data.
    Evaluate(EvaluateArgs),
    /// Write a trained model's predictions for the rows of a CSV file.
    Predict(PredictArgs),
    /// The tutorial's lessons as real runs with plots.
    Lesson(LessonArgs),
    /// Measure MLP training speed (the tapegrad-bench protocol; PyTorch side by side when it
    /// can be imported).
    Bench(BenchArgs),
}

/// Where the data comes from: a shipped set by name or a user's file.
#[derive(Debug, Clone, Args, Default)]
pub struct DataArgs {
    /// A shipped data set: mnist, digits, iris, breast-cancer, wine, diabetes, wine-quality.
    #[arg(long, value_name = "NAME", conflicts_with = "data")]
    pub dataset: Option<String>,
    /// Your own data: a numeric CSV file (optionally gzipped) or an MNIST-style idx folder.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// The CSV column to predict, by header name or 0-based index (negative counts from the
    /// end). Default: the last column.
    #[arg(long, value_name = "COLUMN", requires = "data")]
    pub target: Option<String>,
    /// What the target is. Default: classification.
    #[arg(long, value_enum, requires = "data")]
    pub task: Option<TaskArg>,
    /// The CSV field separator: auto, comma, semicolon, tab or whitespace.
    #[arg(long, value_name = "SEP", requires = "data")]
    pub separator: Option<String>,
    /// Whether the CSV's first line is a header: auto, present or absent.
    #[arg(long, value_enum, requires = "data")]
    pub header: Option<HeaderArg>,
}

/// `--task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    /// Predict a class (labels are non-negative integers).
    Classification,
    /// Predict a real value.
    Regression,
}

/// `--header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeaderArg {
    /// A header when no field of the first line is a number.
    Auto,
    /// The first line is a header.
    Present,
    /// There is no header.
    Absent,
}

/// `--model`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelArg {
    /// A multi-layer perceptron on the features (--hidden, --activation, --dropout).
    #[default]
    Mlp,
    /// A convolutional network on one-channel images (an idx folder, mnist or digits):
    /// --channels blocks of 3×3 convolution, activation and 2×2 max-pool, then --hidden layers.
    Cnn,
}

/// `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerArg {
    /// Plain gradient descent.
    Sgd,
    /// Gradient descent with (PyTorch-form) momentum.
    Momentum,
    /// Nesterov momentum.
    Nesterov,
    /// RMSprop.
    Rmsprop,
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Adagrad.
    Adagrad,
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// The same learning rate throughout.
    Constant,
    /// Multiply by --gamma every --step-size epochs.
    Step,
    /// Multiply by --gamma every epoch.
    Exponential,
    /// Cosine decay from --lr to --min-lr over the run.
    Cosine,
    /// Linear warm-up for --warmup-epochs, then cosine decay.
    WarmupCosine,
}

/// `--loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossArg {
    /// Cross-entropy from logits (classification).
    CrossEntropy,
    /// Mean squared error (regression).
    Mse,
    /// Mean absolute error (regression).
    L1,
    /// Huber loss with --huber-delta (regression).
    Huber,
}

/// `tapegrad train`.
#[derive(Debug, Clone, Args, Default)]
pub struct TrainArgs {
    /// The data.
    #[command(flatten)]
    pub data: DataArgs,
    /// The network: mlp, or cnn for images. Default: mlp.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Output channels of a cnn's convolution blocks, comma-separated (`32,64`); each block is a
    /// 3×3 convolution (padding 1), the activation and a 2×2 max-pool.
    #[arg(long, value_name = "CHANNELS")]
    pub channels: Option<String>,
    /// Hidden layer widths, comma-separated (`512,256`); `none` for a linear model. For a cnn,
    /// the layers after the flattened convolution blocks.
    #[arg(long, value_name = "SIZES")]
    pub hidden: Option<String>,
    /// Hidden activation: relu, tanh, sigmoid, gelu, leaky_relu:SLOPE, softplus, ...
    #[arg(long)]
    pub activation: Option<String>,
    /// The loss. Default: cross-entropy for classification, mse for regression.
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Huber loss's δ (in standardised target units).
    #[arg(long, value_name = "DELTA")]
    pub huber_delta: Option<f64>,
    /// Label smoothing ε for cross-entropy, in [0, 1].
    #[arg(long, value_name = "EPS")]
    pub label_smoothing: Option<f64>,
    /// The optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// The (initial) learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Momentum μ for momentum, nesterov and rmsprop.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Adam's / AdamW's β₁.
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Adam's / AdamW's β₂.
    #[arg(long)]
    pub beta2: Option<f64>,
    /// ε of Adam, AdamW, RMSprop and Adagrad.
    #[arg(long)]
    pub eps: Option<f64>,
    /// RMSprop's smoothing constant α.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Weight decay λ (L2 in the gradient; decoupled for adamw).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// The learning-rate schedule.
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Epochs between decays for --schedule step.
    #[arg(long, value_name = "EPOCHS")]
    pub step_size: Option<usize>,
    /// Decay factor for --schedule step and exponential.
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Warm-up epochs for --schedule warmup-cosine.
    #[arg(long, value_name = "EPOCHS")]
    pub warmup_epochs: Option<usize>,
    /// The final learning rate of the cosine schedules.
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Samples per step: a number (1 = stochastic gradient descent) or `full` (batch gradient descent).
    #[arg(long, value_name = "N|full")]
    pub batch_size: Option<String>,
    /// Passes over the training data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Dropout probability after each hidden (dense) activation.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Stop after this many epochs without a lower validation loss, and keep the best weights
    /// (0: never stop early).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Clip the gradients' global L2 norm to this value.
    #[arg(long, value_name = "NORM")]
    pub clip_norm: Option<f64>,
    /// Fraction of the data held out for validation (early stopping, the loss curve).
    #[arg(long, value_name = "FRACTION")]
    pub validation_fraction: Option<f64>,
    /// Fraction held out for the final test (ignored for MNIST, which has its own test set).
    #[arg(long, value_name = "FRACTION")]
    pub test_fraction: Option<f64>,
    /// The seed of every random choice: split, initial weights, batch order, dropout.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The folder for the model, metrics, plots and checkpoints. Default: runs/DATASET.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress output and no report (files are still written).
    #[arg(long, short)]
    pub quiet: bool,
    /// Continue the run whose checkpoint is in --out, ending with exactly the weights an
    /// uninterrupted run would have.
    #[arg(long)]
    pub resume: bool,
    /// Replace files in --out that tapegrad did not write (or that were changed since).
    #[arg(long)]
    pub force: bool,
    /// Skip the PNG plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Train on the processes started by `mpirun -np N`: each rank takes a shard of every
    /// batch and the gradients are averaged; rank 0 alone prints and writes the run folder.
    /// Needs a build with `--features mpi`.
    #[arg(long)]
    pub distributed: bool,
    /// Stop cleanly after this many epochs (the checkpoint stays for --resume). For testing.
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// `tapegrad evaluate`.
#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// The run folder written by `tapegrad train` (model.safetensors + config.json).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The data. Without it, the test split of the data the model was trained on.
    #[command(flatten)]
    pub data: DataArgs,
    /// Which samples to score: the run's `test` split or `all`. Default: `test` on the data the
    /// model was trained on, `all` on other data.
    #[arg(long, value_enum)]
    pub split: Option<SplitArg>,
    /// Also write the metrics as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `--split` of `evaluate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// The held-out test split, drawn exactly as during training.
    Test,
    /// Every sample.
    All,
}

/// `tapegrad predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// The run folder written by `tapegrad train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// A CSV file of rows to predict: the training features in order, with or without the
    /// target column.
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Where to write the predictions (CSV).
    #[arg(long, value_name = "FILE", default_value = "predictions.csv")]
    pub out: PathBuf,
    /// The CSV field separator: auto, comma, semicolon, tab or whitespace.
    #[arg(long, value_name = "SEP")]
    pub separator: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `tapegrad lesson`.
#[derive(Debug, Clone, Args)]
pub struct LessonArgs {
    /// Which lesson.
    #[command(subcommand)]
    pub lesson: Lesson,
}

/// The lessons.
#[derive(Debug, Clone, Subcommand)]
pub enum Lesson {
    /// Batch, stochastic and mini-batch gradient descent, momentum, RMSprop and Adam on one problem (tutorial §7).
    GdVariants(LessonCommon),
    /// Polynomial least squares of growing degree: under- and over-fitting (tutorial §9).
    Capacity(LessonCommon),
    /// Ridge regression's λ chosen on a validation set (tutorial §10).
    Ridge(LessonCommon),
}

/// Flags every lesson takes.
#[derive(Debug, Clone, Args)]
pub struct LessonCommon {
    /// The folder for the plots. Default: runs/lesson-NAME.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The seed of the split and of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs (gd-variants only).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Only the summary lines, no explanation.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `tapegrad bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Models, comma-separated: MLP layer sizes (784-128-10) or cnn-mnist, conv2d-320,
    /// lstm-char, gpt-char (each with its own batch size).
    #[arg(long, default_value = "784-128-10,784-512-256-10", value_delimiter = ',')]
    pub models: Vec<String>,
    /// Batch sizes of the MLPs, comma-separated.
    #[arg(long, default_value = "64,256", value_delimiter = ',')]
    pub batch_sizes: Vec<usize>,
    /// Thread counts, comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Smoke-test protocol: 4,096 samples, 3 warm-up steps, 1 epoch; named models 1
    /// warm-up step and 2 timed steps (noisy figures).
    #[arg(long)]
    pub quick: bool,
    /// Measurements per configuration; the median is reported.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// One JSON object per line and configuration.
    #[arg(long)]
    pub json: bool,
    /// Skip PyTorch's side.
    #[arg(long)]
    pub no_torch: bool,
}
