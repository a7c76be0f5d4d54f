//! # tapegrad-bench: MLP training speed, tapegrad side by side with PyTorch
//!
//! The protocol (issue 7): synthetic MNIST-shaped data (60,000 × 784 f32, 10
//! classes, seeded), a ReLU MLP, cross-entropy, plain SGD with learning rate 0.1,
//! full batches in order, 50 warm-up steps, then the median of 3 timed epochs in
//! samples per second. [`run`] measures each configuration in a child process (so
//! each side's peak RSS is its own) and, when `python3 -c "import torch"` works,
//! runs `bench/torch_mlp.py` on the identical protocol right after it, printing
//! the ratio.
//!
//! ```no_run
//! // A binary that calls `run` with child-process isolation serves its children first.
//! if let Some(code) = tapegrad_bench::serve_child_if_requested() {
//!     std::process::exit(code);
//! }
//! let options = tapegrad_bench::Options::default();
//! tapegrad_bench::run(&options, false, &mut std::io::stdout())?;
//! # Ok::<(), tapegrad_bench::BenchError>(())
//! ```

pub mod data;
mod error;
pub mod models;
pub mod peak;
mod report;
pub mod rss;
mod torch;
pub mod train;

pub use error::BenchError;
pub use models::Model;
pub use report::{Report, write_json, write_table};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Command;

/// The environment variable that turns a process into a measuring child: it holds
/// the [`Job`] as JSON.
pub const CHILD_ENV: &str = "TAPEGRAD_BENCH_CHILD";
/// The prefix of the one line a child prints with its [`Measurement`] as JSON.
pub const RESULT_PREFIX: &str = "TAPEGRAD_BENCH_RESULT ";

/// How much work one measurement does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// Samples in the synthetic data set (full batches only are used).
    pub samples: usize,
    /// Training steps before timing starts.
    pub warmup: usize,
    /// Timed epochs; the median is reported.
    pub epochs: usize,
    /// Seed of the data and the initial weights.
    pub seed: u64,
    /// Named models ([`Model::CnnMnist`] …): training steps before timing starts.
    #[serde(default)]
    pub model_warmup: usize,
    /// Named models: steps per timed epoch (they cycle through a few batches rather
    /// than an MLP-sized data set, whose epoch would take minutes).
    #[serde(default)]
    pub model_steps: usize,
}

impl Protocol {
    /// Issue 7's protocol: 60,000 samples, 50 warm-up steps, median of 3 epochs; named
    /// models: 3 warm-up steps, epochs of 20 steps.
    pub fn full() -> Self {
        Protocol { samples: 60_000, warmup: 50, epochs: 3, seed: 0, model_warmup: 3, model_steps: 20 }
    }

    /// A smoke test: 4,096 samples, 3 warm-up steps, 1 epoch (figures are noisy); named
    /// models: 1 warm-up step, 2 timed steps.
    pub fn quick() -> Self {
        Protocol { samples: 4_096, warmup: 3, epochs: 1, seed: 0, model_warmup: 1, model_steps: 2 }
    }
}

impl Default for Protocol {
    fn default() -> Self {
        Self::full()
    }
}

/// One measurement: a model, a batch size, a thread count, a protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The model.
    pub model: Model,
    /// Samples per step.
    pub batch_size: usize,
    /// Threads (rayon pool size, and so the GEMM's parallelism).
    pub threads: usize,
    /// The protocol.
    pub protocol: Protocol,
}

impl Job {
    /// The model as written in reports: `784-128-10`, `cnn-mnist`.
    pub fn model_name(&self) -> String {
        self.model.name()
    }

    /// Checks sizes: at least two layers, all positive, at least one full batch; a
    /// named model at least one timed step.
    pub fn validate(&self) -> Result<(), BenchError> {
        match &self.model {
            Model::Mlp(sizes) if sizes.len() < 2 || sizes.contains(&0) => {
                return Err(BenchError::InvalidModel { spec: self.model_name() });
            }
            Model::Mlp(_) => {}
            _ if self.protocol.model_steps == 0 => {
                return Err(BenchError::InvalidConfig { reason: "model steps is 0".into() });
            }
            _ => {}
        }
        let bad =
            |what: &str, value: usize| BenchError::InvalidConfig { reason: format!("{what} is {value}") };
        if self.batch_size == 0 || self.batch_size > self.protocol.samples {
            return Err(BenchError::InvalidConfig {
                reason: format!(
                    "batch size {} must be between 1 and the {} samples",
                    self.batch_size, self.protocol.samples
                ),
            });
        }
        if self.threads == 0 {
            return Err(bad("threads", 0));
        }
        if self.protocol.epochs == 0 {
            return Err(bad("epochs", 0));
        }
        Ok(())
    }
}

/// Writes layer sizes as `784-128-10`.
pub fn model_name(sizes: &[usize]) -> String {
    sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-")
}

/// Parses a model: a name from [`models::NAMED`] (`cnn-mnist`, `conv2d-320`,
/// `lstm-char`, `gpt-char`) or an MLP's layer sizes (`784-128-10`).
pub fn parse_model(spec: &str) -> Result<Model, BenchError> {
    let spec = spec.trim();
    if let Some((_, model)) = models::NAMED.iter().find(|(name, _)| *name == spec) {
        return Ok(model.clone());
    }
    let sizes: Option<Vec<usize>> = spec.split('-').map(|s| s.trim().parse().ok()).collect();
    match sizes {
        Some(s) if s.len() >= 2 && !s.contains(&0) => Ok(Model::Mlp(s)),
        _ => Err(BenchError::InvalidModel { spec: spec.to_string() }),
    }
}

/// What one side measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Median over the timed epochs.
    pub samples_per_sec: f64,
    /// Every timed epoch, in order.
    pub epoch_samples_per_sec: Vec<f64>,
    /// Peak resident memory of the measuring process (`None` where unknown).
    pub peak_rss_bytes: Option<u64>,
    /// The last batch's loss: both sides train the same model on the same data, so
    /// these agree to a few digits (a check that the two sides do the same work).
    pub final_loss: f64,
}

impl Measurement {
    /// Builds a measurement from per-epoch figures (the median is taken here).
    pub fn new(epoch_samples_per_sec: Vec<f64>, peak_rss_bytes: Option<u64>, final_loss: f64) -> Self {
        Measurement {
            samples_per_sec: median(&epoch_samples_per_sec),
            epoch_samples_per_sec,
            peak_rss_bytes,
            final_loss,
        }
    }
}

/// The median (mean of the middle two for an even count); NaN for no values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Where tapegrad's measurements run.
#[derive(Debug, Clone, PartialEq)]
pub enum Isolation {
    /// In a child process: this executable (or the one given) run with [`CHILD_ENV`]
    /// set. Its `main` must call [`serve_child_if_requested`] first. Peak RSS is
    /// then the configuration's own.
    ChildProcess(Option<PathBuf>),
    /// In this process (tests; the peak RSS is then this process's so far).
    InProcess,
}

/// Whether to run PyTorch's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchMode {
    /// When `python3 -c "import torch"` works.
    Auto,
    /// Never.
    Off,
    /// Always; an error when torch cannot be imported.
    Required,
}

/// Everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Models.
    pub models: Vec<Model>,
    /// Batch sizes (each MLP runs with each; a named model runs with its own).
    pub batch_sizes: Vec<usize>,
    /// Thread counts (each configuration runs with each).
    pub threads: Vec<usize>,
    /// The protocol.
    pub protocol: Protocol,
    /// Times each configuration is measured (ours then PyTorch's, alternating); the
    /// reported figure is the median over rounds.
    pub rounds: usize,
    /// Where tapegrad's side runs.
    pub isolation: Isolation,
    /// Whether PyTorch's side runs.
    pub torch: TorchMode,
    /// The Python interpreter.
    pub python: String,
    /// The PyTorch script (`bench/torch_mlp.py`).
    pub torch_script: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            models: vec![Model::Mlp(vec![784, 128, 10]), Model::Mlp(vec![784, 512, 256, 10])],
            batch_sizes: vec![64, 256],
            threads: vec![1, 2],
            protocol: Protocol::full(),
            rounds: 1,
            isolation: Isolation::ChildProcess(None),
            torch: TorchMode::Auto,
            python: "python3".into(),
            torch_script: default_torch_script(),
        }
    }
}

/// `bench/torch_mlp.py` in the source tree this crate was built from.
pub fn default_torch_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/torch_mlp.py"))
}

impl Options {
    /// Every job, in run order: model, then batch size, then threads.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for model in &self.models {
            let batch_sizes = match model.fixed_batch_size() {
                Some(b) => vec![b],
                None => self.batch_sizes.clone(),
            };
            for batch_size in batch_sizes {
                for &threads in &self.threads {
                    jobs.push(Job {
                        model: model.clone(),
                        batch_size,
                        threads,
                        protocol: self.protocol.clone(),
                    });
                }
            }
        }
        jobs
    }
}

/// If this process was started as a measuring child (see [`CHILD_ENV`]), runs its
/// job, prints the result line and returns the exit code; otherwise `None`. Call it
/// first in `main` of any binary that uses [`Isolation::ChildProcess`].
pub fn serve_child_if_requested() -> Option<i32> {
    let job = std::env::var(CHILD_ENV).ok()?;
    let outcome = serde_json::from_str::<Job>(&job)
        .map_err(|e| BenchError::InvalidConfig { reason: format!("child job {job:?}: {e}") })
        .and_then(|job| train::measure(&job));
    match outcome.and_then(|m| serde_json::to_string(&m).map_err(|e| BenchError::Io(e.into()))) {
        Ok(line) => {
            println!("{RESULT_PREFIX}{line}");
            Some(0)
        }
        Err(e) => {
            eprintln!("tapegrad-bench child: {e}");
            Some(1)
        }
    }
}

/// Measures tapegrad's side of one job as `isolation` says.
pub fn measure_ours(job: &Job, isolation: &Isolation) -> Result<Measurement, BenchError> {
    match isolation {
        Isolation::InProcess => train::measure(job),
        Isolation::ChildProcess(exe) => {
            let program = match exe {
                Some(p) => p.clone(),
                None => std::env::current_exe()?,
            };
            let job_json = serde_json::to_string(job).map_err(|e| BenchError::Io(e.into()))?;
            let mut command = Command::new(&program);
            command.env(CHILD_ENV, job_json);
            let stdout = torch::run_child(&program, &mut command)?;
            let line = stdout.lines().rev().find_map(|l| l.strip_prefix(RESULT_PREFIX)).ok_or_else(|| {
                BenchError::ChildOutput { program: program.clone(), output: torch::tail(&stdout) }
            })?;
            serde_json::from_str(line)
                .map_err(|_| BenchError::ChildOutput { program, output: torch::tail(&stdout) })
        }
    }
}

/// Runs every configuration of `options`: tapegrad's side, then (when on) PyTorch's,
/// alternating per configuration and round. Writes a table, or with `json` one JSON
/// object per line and configuration, to `out` as each configuration finishes, and
/// returns the reports.
pub fn run(options: &Options, json: bool, out: &mut dyn std::io::Write) -> Result<Vec<Report>, BenchError> {
    if options.rounds == 0 {
        return Err(BenchError::InvalidConfig { reason: "rounds is 0".into() });
    }
    let jobs = options.jobs();
    if jobs.is_empty() {
        return Err(BenchError::InvalidConfig {
            reason: "no model, batch size or thread count given".into(),
        });
    }
    for job in &jobs {
        job.validate()?;
    }
    let with_torch = match options.torch {
        TorchMode::Off => false,
        TorchMode::Auto => torch::available(&options.python),
        TorchMode::Required if torch::available(&options.python) => true,
        TorchMode::Required => return Err(BenchError::TorchUnavailable { python: options.python.clone() }),
    };
    if !json {
        report::write_header(out, with_torch)?;
    }
    let mut reports = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut ours = Vec::with_capacity(options.rounds);
        let mut theirs = Vec::with_capacity(options.rounds);
        for _ in 0..options.rounds {
            ours.push(measure_ours(&job, &options.isolation)?);
            if with_torch {
                theirs.push(torch::measure(&job, &options.python, &options.torch_script)?);
            }
        }
        let report = Report::new(&job, ours, theirs);
        if json {
            write_json(out, &report)?;
        } else {
            write_table(out, &report)?;
        }
        out.flush()?;
        reports.push(report);
    }
    Ok(reports)
}
