//! `tapegrad train`: resolve the flags, prepare the data, train (or resume), then score the
//! test split and write the run folder — model, configuration, metrics and plots — each file
//! atomically and only once training has succeeded, through the folder's [`RunWriter`], which
//! locks it, refuses to replace files it did not write and commits the manifest last.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::args::ModelArg;
use super::args::TrainArgs;
use super::checkpoint::{CHECKPOINT_FILE, Checkpoint, checkpoint_path};
use super::config::{DataSource, RUN_FORMAT, RunConfig, parse_channels, parse_hidden, resolve_training};
use super::error::{CliError, Result};
use super::model::{ConvSpec, ModelSpec};
use super::output::json_bytes;
use super::plots;
use super::prepare::{Prepared, prepare};
use super::progress::{Mode, Reporter};
use super::report::{Predictions, Scored, render, score};
use super::run_folder::RunWriter;
pub use super::run_folder::{CONFIG_FILE, METRICS_FILE, MODEL_FILE};
use super::train::{Ending, train};

/// Builds the rayon pool with `threads` workers (the GEMM and elementwise kernels use it).
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(threads) = threads {
        if threads == 0 {
            return Err(CliError::invalid("--threads", "must be at least 1"));
        }
        // A pool can be built once per process; a second call (tests) keeps the first.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    Ok(())
}

/// The configuration the flags describe, and the prepared data.
fn configure(args: &TrainArgs) -> Result<(RunConfig, Prepared)> {
    let source = DataSource::from_args(&args.data)?;
    let task = source.task();
    let (training, split, defaults) = resolve_training(args, &source, task)?;
    let hidden = match &args.hidden {
        Some(text) => parse_hidden(text)?,
        None => defaults.hidden.clone(),
    };
    let activation = args.activation.clone().unwrap_or_else(|| defaults.activation.to_string());
    let activation: nn::Activation =
        activation.parse().map_err(|e: nn::NnError| CliError::invalid("--activation", e.to_string()))?;
    let dropout = args.dropout.unwrap_or(defaults.dropout);
    if !(0.0..1.0).contains(&dropout) {
        return Err(CliError::invalid("--dropout", format!("{dropout} is outside [0, 1)")));
    }
    let kind = args.model.unwrap_or_default();
    let channels = match &args.channels {
        Some(text) => parse_channels(text)?,
        None => defaults.channels.clone(),
    };
    // A CSV file is never images: refuse it before reading it.
    if let (ModelArg::Cnn, DataSource::File { path, .. }) = (kind, &source)
        && !path.is_dir()
    {
        return Err(not_images(&path.display().to_string()));
    }
    let prepared = prepare(&source, &split)?;
    let conv = match kind {
        ModelArg::Mlp => None,
        ModelArg::Cnn => {
            let image = prepared.train.image().ok_or_else(|| not_images(&source.display_name()))?;
            Some(ConvSpec { height: image.height, width: image.width, channels })
        }
    };
    let model = ModelSpec {
        inputs: prepared.train.n_features(),
        hidden,
        outputs: prepared.outputs,
        activation: activation.to_string(),
        dropout,
        kind,
        conv,
    };
    model.check_size()?;
    let config = RunConfig {
        format: RUN_FORMAT.to_string(),
        dataset: source.display_name(),
        task: prepared.task,
        source,
        split,
        model,
        training,
        preprocessing: prepared.preprocessing.clone(),
    };
    super::train::check_batch(&config, prepared.train.n_samples())?;
    Ok((config, prepared))
}

/// The error for `--model cnn` on data without an image shape.
fn not_images(data: &str) -> CliError {
    CliError::invalid(
        "--model",
        format!(
            "cnn needs image-shaped input (an idx folder of 2-d images, --dataset mnist or digits); \
             {data} holds rows of features"
        ),
    )
}

/// Runs `tapegrad train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let started = Instant::now();
    set_threads(args.threads)?;
    let has_data = args.data.dataset.is_some() || args.data.data.is_some();
    if args.resume && args.force {
        return Err(CliError::invalid(
            "--force",
            "does not apply to --resume, which continues tapegrad's own run",
        ));
    }
    let comm = communicator(args.distributed)?;
    // Rank 0 alone prints, locks the run folder and writes files; the other ranks only
    // compute their shards, and read a checkpoint to resume from without a writer.
    let root = comm.is_root();
    let open_writer = |dir: &Path, force: bool, inputs: &[&Path]| -> Result<Option<RunWriter>> {
        if root { RunWriter::open(dir, force, inputs).map(Some) } else { Ok(None) }
    };
    // Reads the checkpoint of the run folder. Rank 0 checks it against the manifest its
    // writer holds; the other ranks read the same file and rely on rank 0's check (a rank-0
    // error ends the whole job).
    let load_checkpoint = |dir: &Path, writer: Option<&RunWriter>| -> Result<Checkpoint> {
        let path = checkpoint_path(dir);
        match writer.map(|w| w.read_owned(CHECKPOINT_FILE)).transpose()?.flatten() {
            Some(bytes) => Checkpoint::from_bytes(&path, &bytes),
            None => Checkpoint::load(&path),
        }
    };
    let (config, prepared, dir, mut writer, resume) = if args.resume && !has_data {
        // `--resume --out DIR` alone: the checkpoint says what the run is.
        let dir = args.out.clone().ok_or_else(|| {
            CliError::invalid("--resume", "give the run folder (--out DIR) or the flags of the run to resume")
        })?;
        if !dir.is_dir() {
            return Err(CliError::BadFile { path: dir, reason: "no such run folder to resume".into() });
        }
        let writer = open_writer(&dir, false, &[])?;
        let checkpoint = load_checkpoint(&dir, writer.as_ref())?;
        checkpoint.config.model.check_size()?;
        let config = checkpoint.config.clone();
        let prepared = prepare(&config.source, &config.split)?;
        (config, prepared, dir, writer, Some(checkpoint))
    } else {
        let (config, prepared) = configure(args)?;
        let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(&config.dataset));
        let inputs: Vec<&Path> = match &config.source {
            DataSource::File { path, .. } => vec![path.as_path()],
            DataSource::Shipped { .. } => Vec::new(),
        };
        let writer = open_writer(&dir, args.force, &inputs)?;
        let resume = if args.resume {
            let checkpoint = load_checkpoint(&dir, writer.as_ref())?;
            let differences = checkpoint.config.differences(&config);
            if !differences.is_empty() {
                return Err(CliError::ResumeMismatch { dir, differences: differences.join("; ") });
            }
            Some(checkpoint)
        } else {
            None
        };
        (config, prepared, dir, writer, resume)
    };
    if resume.as_ref().is_some_and(|c| c.config.preprocessing != prepared.preprocessing) {
        return Err(CliError::ResumeMismatch {
            dir,
            differences: "the data's fitted standardisation (the data file changed)".into(),
        });
    }
    let mut reporter = Reporter::new(Mode::detect(args.quiet || !root));
    reporter.line(&describe(&config, &prepared, &dir));
    if let Some(checkpoint) = &resume {
        reporter.line(&format!(
            "resuming after epoch {} of {}",
            checkpoint.progress.epochs_done, config.training.epochs
        ));
    }
    let trained = train(
        &config,
        &prepared.train,
        prepared.validation.as_ref(),
        &dir,
        writer.as_mut(),
        resume,
        &mut reporter,
        args.stop_after,
        comm.as_ref(),
    )?;
    let Some(mut writer) = writer else {
        return Ok(());
    };
    if trained.ending == Ending::Paused {
        reporter.line(&format!(
            "paused after epoch {}; continue with --resume --out {}",
            trained.progress.epochs_done,
            dir.display()
        ));
        return Ok(());
    }
    let (title, data) = match (&prepared.test, &prepared.validation) {
        (Some(test), _) => ("Test set", test),
        (None, Some(validation)) => ("Validation set (no test split)", validation),
        (None, None) => ("Training set (no held-out split)", &prepared.train),
    };
    let scored = score(&trained.network, &config.preprocessing, data)?;
    let weights = nn::module_io::module_tensors(&trained.network)?;
    writer.write(MODEL_FILE, &nn::weights_file::to_bytes(&weights, &Default::default())?)?;
    writer.write(CONFIG_FILE, &json_bytes(&dir.join(CONFIG_FILE), &config)?)?;
    let mut metrics = metrics_json(&config, &prepared, &scored, &trained.progress);
    if comm.size() > 1 {
        metrics["distributed"] = json!({
            "ranks": comm.size(),
            "session_seconds": trained.session_seconds,
            "all_reduce_seconds": trained.all_reduce_seconds,
        });
    }
    writer.write(METRICS_FILE, &json_bytes(&dir.join(METRICS_FILE), &metrics)?)?;
    let plots = if args.no_plots {
        Vec::new()
    } else {
        write_plots(&mut writer, &config, &scored, &trained.progress)?
    };
    // Written last: until now a reader sees the previous run whole, or refuses the folder.
    writer.commit()?;
    drop(writer);
    if reporter.mode() != Mode::Quiet {
        say!();
        super::say_text(&render(title, &scored)?);
        say!();
        let progress = &trained.progress;
        if let (true, Some(best)) = (progress.early.stopped, progress.early.best_epoch) {
            say!("Stopped early after epoch {}; the weights are epoch {best}'s.", progress.epochs_done);
        }
        say!(
            "Trained for {:.1}s ({} epochs); {:.1}s in all.",
            progress.train_seconds,
            progress.epochs_done,
            started.elapsed().as_secs_f64()
        );
        if comm.size() > 1 {
            say!(
                "The gradient all-reduce over {} ranks took {:.2}s of this session's {:.1}s ({:.0}%).",
                comm.size(),
                trained.all_reduce_seconds,
                trained.session_seconds,
                100.0 * trained.all_reduce_seconds / trained.session_seconds.max(f64::MIN_POSITIVE)
            );
        }
        let mut files = vec![MODEL_FILE.to_string(), CONFIG_FILE.to_string(), METRICS_FILE.to_string()];
        files.extend(plots);
        say!("Wrote {} in {}", files.join(", "), dir.display());
    }
    Ok(())
}

/// The ranks to train on: MPI's world with `--distributed`, else this process alone.
fn communicator(distributed: bool) -> Result<Box<dyn tapegrad_distributed::Communicator>> {
    if !distributed {
        return Ok(Box::new(tapegrad_distributed::SingleProcess));
    }
    #[cfg(feature = "mpi")]
    {
        Ok(Box::new(tapegrad_distributed::MpiCommunicator::init()?))
    }
    #[cfg(not(feature = "mpi"))]
    {
        Err(CliError::invalid(
            "--distributed",
            "this tapegrad was built without MPI; install Open MPI (apt-get install openmpi-bin \
             libopenmpi-dev libclang-dev) and build with `cargo build --release -p tapegrad-cli --features mpi`",
        ))
    }
}

/// The one-paragraph description of a run printed before training.
fn describe(config: &RunConfig, prepared: &Prepared, dir: &Path) -> String {
    let count = |d: &Option<tapegrad_data::Dataset>| d.as_ref().map_or(0, |d| d.n_samples());
    let sizes: Vec<String> = config.model.sizes().iter().map(usize::to_string).collect();
    let parameters = parameter_count(&config.model);
    let target = match prepared.task {
        tapegrad_data::Task::Classification => format!("{} classes", prepared.outputs),
        tapegrad_data::Task::Regression => "a real-valued target".to_string(),
    };
    let training = &config.training;
    let mut model = match &config.model.conv {
        None => format!("MLP {} ({})", sizes.join("-"), config.model.activation),
        Some(conv) => {
            let channels: Vec<String> = conv.channels.iter().map(usize::to_string).collect();
            format!(
                "CNN on {}×{} images: conv 3×3 {} (each with max-pool 2), then {} ({})",
                conv.height,
                conv.width,
                channels.join("-"),
                sizes.join("-"),
                config.model.activation
            )
        }
    };
    if config.model.dropout > 0.0 {
        model.push_str(&format!(", dropout {}", config.model.dropout));
    }
    let mut extras = String::new();
    if training.patience > 0 {
        extras.push_str(&format!(", early stopping after {} epochs without improvement", training.patience));
    }
    format!(
        "{}: {} train / {} validation / {} test samples, {} features, {target}\n\
         model: {model}, {} parameters\n\
         training: {} lr {}, {}, batch size {}, {} epochs, seed {}{extras}\n\
         run folder: {}",
        config.dataset,
        prepared.train.n_samples(),
        count(&prepared.validation),
        count(&prepared.test),
        prepared.train.n_features(),
        group_thousands(parameters),
        describe_optimizer(&training.hyper),
        training.hyper.lr(),
        describe_schedule(&training.schedule),
        training.batch_size,
        training.epochs,
        training.seed,
        dir.display()
    )
}

/// An optimizer in words (momentum and Nesterov are SGD's options).
fn describe_optimizer(hyper: &optim::HyperParams) -> String {
    match hyper {
        optim::HyperParams::Sgd(c) if c.nesterov => format!("SGD with Nesterov momentum {}", c.momentum),
        optim::HyperParams::Sgd(c) if c.momentum > 0.0 => format!("SGD with momentum {}", c.momentum),
        other => other.kind().name().to_string(),
    }
}

/// A schedule in words.
fn describe_schedule(schedule: &super::config::ScheduleSpec) -> String {
    use super::config::ScheduleSpec;
    match *schedule {
        ScheduleSpec::Constant => "constant".to_string(),
        ScheduleSpec::Step { step_size, gamma } => format!("×{gamma} every {step_size} epochs"),
        ScheduleSpec::Exponential { gamma } => format!("×{gamma} per epoch"),
        ScheduleSpec::Cosine { min_lr } => format!("cosine decay to {min_lr}"),
        ScheduleSpec::WarmupCosine { warmup_epochs, min_lr } => {
            format!("{warmup_epochs} warm-up epochs, then cosine decay to {min_lr}")
        }
    }
}

/// Weights and biases of a network of this shape (saturating: the shape was checked first).
fn parameter_count(model: &ModelSpec) -> usize {
    model.check_size().unwrap_or(usize::MAX)
}

/// `535818` → `535,818`.
fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `metrics.json`: the task, the data set, the test metrics by eval's names, the training
/// time, and the per-epoch history.
fn metrics_json(
    config: &RunConfig,
    prepared: &Prepared,
    scored: &Scored,
    progress: &super::checkpoint::Progress,
) -> Value {
    let mut test = Map::new();
    for (name, value) in &scored.metrics {
        test.insert(name.clone(), json!(value));
    }
    let count = |d: &Option<tapegrad_data::Dataset>| d.as_ref().map_or(0, |d| d.n_samples());
    json!({
        "task": config.task.to_string(),
        "dataset": config.dataset,
        "test": Value::Object(test),
        "train_seconds": progress.train_seconds,
        "epochs": progress.epochs_done,
        "stopped_early": progress.early.stopped,
        "best_epoch": progress.early.best_epoch,
        "samples": {
            "train": prepared.train.n_samples(),
            "validation": count(&prepared.validation),
            "test": count(&prepared.test),
        },
        "parameters": parameter_count(&config.model),
        "history": progress.history,
    })
}

/// Draws the run's plots; returns their file names.
fn write_plots(
    writer: &mut RunWriter,
    config: &RunConfig,
    scored: &Scored,
    progress: &super::checkpoint::Progress,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let history = &progress.history;
    writer.write_via("loss.png", |path| {
        plots::loss_curves(
            path,
            &format!("{}: loss per epoch", config.dataset),
            &history.train_loss,
            &history.validation_loss,
        )
    })?;
    written.push("loss.png".to_string());
    match &scored.predictions {
        Predictions::Classes { y_true, y_pred, probabilities, n_classes, class_names } => {
            let kind = if *n_classes == 2 { "" } else { ", one-vs-rest" };
            writer.write_via("pr_curve.png", |path| {
                plots::pr_curves(
                    path,
                    &format!("{}: precision-recall (test{kind})", config.dataset),
                    y_true,
                    probabilities,
                    class_names,
                )
            })?;
            let confusion = eval::ConfusionMatrix::new(y_true, y_pred, *n_classes)?;
            writer.write_via("confusion_matrix.png", |path| {
                plots::confusion_heatmap(
                    path,
                    &format!("{}: confusion matrix (test)", config.dataset),
                    &confusion.rows(),
                    class_names,
                )
            })?;
            written.push("pr_curve.png".to_string());
            written.push("confusion_matrix.png".to_string());
        }
        Predictions::Values { y_true, y_pred } => {
            writer.write_via("predicted_vs_actual.png", |path| {
                plots::predicted_vs_actual(
                    path,
                    &format!("{}: predicted vs actual (test)", config.dataset),
                    y_true,
                    y_pred,
                )
            })?;
            written.push("predicted_vs_actual.png".to_string());
        }
    }
    Ok(written)
}
