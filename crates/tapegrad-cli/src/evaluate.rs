//! `tapegrad evaluate`: rebuild a trained model from its run folder and score it on data —
//! by default the test split of the data it was trained on, drawn exactly as in training.

use std::path::Path;

use serde_json::{Map, Value, json};
use tapegrad_data::{CsvOptions, Dataset, LoadedData, Targets};

use super::args::{EvaluateArgs, SplitArg, TaskArg};
use super::checkpoint::check_finite;
use super::config::{DataSource, RUN_FORMAT, RunConfig};
use super::error::{CliError, Result};
use super::model::Network;
use super::output::{parse_json, refuse_if_input, write_json_atomic};
use super::prepare::apply_features;
use super::report::{render, score};
use super::run_folder::{MANIFEST_FILE, RUN_FILES, read_verified};
use super::train_command::{CONFIG_FILE, MODEL_FILE, set_threads};

/// A trained run: its configuration and its network with the saved weights.
pub fn load_run(dir: &Path) -> Result<(RunConfig, Network)> {
    if !dir.is_dir() {
        return Err(CliError::BadFile {
            path: dir.to_path_buf(),
            reason: "no such run folder (train one with `tapegrad train --out DIR`)".into(),
        });
    }
    let [config_bytes, model_bytes] =
        <[Vec<u8>; 2]>::try_from(read_verified(dir, &[CONFIG_FILE, MODEL_FILE])?)
            .unwrap_or_else(|_| unreachable!("read_verified returns one file per name"));
    let config_path = dir.join(CONFIG_FILE);
    let config_text = String::from_utf8(config_bytes)
        .map_err(|_| CliError::BadFile { path: config_path.clone(), reason: "not UTF-8 text".into() })?;
    let config: RunConfig = parse_json(&config_path, &config_text)?;
    if config.format != RUN_FORMAT {
        return Err(CliError::BadFile {
            path: dir.join(CONFIG_FILE),
            reason: format!("format {:?} is not {RUN_FORMAT:?}", config.format),
        });
    }
    let network = Network::new(&config.model, config.training.seed)?;
    let model_path = dir.join(MODEL_FILE);
    let tensors = nn::weights_file::from_bytes(&model_bytes)?.tensors;
    check_finite(&model_path, &tensors)?;
    nn::module_io::load_tensors(&network, &tensors)?;
    Ok((config, network))
}

/// Refuses an output (`flag`) that is one of the run folder's files or the data being read.
pub fn refuse_inputs(flag: &'static str, out: &Path, run: &Path, data: Option<&Path>) -> Result<()> {
    let mut inputs: Vec<std::path::PathBuf> =
        RUN_FILES.iter().chain([&MANIFEST_FILE]).map(|name| run.join(name)).collect();
    inputs.extend(data.map(Path::to_path_buf));
    let inputs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    refuse_if_input(flag, out, &inputs)
}

/// The data source `evaluate` reads: the flags' (a `--data` file read with the run's task and,
/// for a file like the training one, its target column) or else the run's own.
fn source_for(args: &EvaluateArgs, config: &RunConfig) -> Result<DataSource> {
    let data = &args.data;
    if data.dataset.is_none() && data.data.is_none() {
        return Ok(config.source.clone());
    }
    let mut source = DataSource::from_args(data)?;
    if let DataSource::File { csv, .. } = &mut source {
        let trained_csv = match &config.source {
            DataSource::File { csv, .. } => Some(csv.clone()),
            DataSource::Shipped { .. } => None,
        };
        let defaults = trained_csv.unwrap_or_else(|| CsvOptions::new(Default::default(), config.task));
        *csv = CsvOptions {
            header: if data.header.is_some() { csv.header } else { defaults.header },
            separator: if data.separator.is_some() { csv.separator } else { defaults.separator },
            target: if data.target.is_some() { csv.target.clone() } else { defaults.target },
            task: match data.task {
                Some(TaskArg::Classification) => tapegrad_data::Task::Classification,
                Some(TaskArg::Regression) => tapegrad_data::Task::Regression,
                None => config.task,
            },
        };
    }
    Ok(source)
}

/// Every sample of a loaded data set, the official test part included.
fn all_samples(loaded: LoadedData) -> Result<Dataset> {
    let Some(test) = loaded.official_test else { return Ok(loaded.data) };
    let data = loaded.data;
    let name = data.name().to_string();
    let n_features = data.n_features();
    let (mut features, targets) = data.into_parts();
    let (test_features, test_targets) = test.into_parts();
    features.extend(test_features);
    let targets = match (targets, test_targets) {
        (Targets::Classes { mut labels, n_classes, class_names }, Targets::Classes { labels: more, .. }) => {
            labels.extend(more);
            Targets::Classes { labels, n_classes, class_names }
        }
        (Targets::Values(mut values), Targets::Values(more)) => {
            values.extend(more);
            Targets::Values(values)
        }
        _ => {
            return Err(CliError::ModelMismatch {
                reason: "the training and test parts have different tasks".into(),
            });
        }
    };
    Ok(Dataset::new(name, features, n_features, targets)?)
}

/// Runs `tapegrad evaluate`.
pub fn run(args: &EvaluateArgs) -> Result<()> {
    set_threads(args.threads)?;
    if let Some(out) = &args.out {
        refuse_inputs("--out", out, &args.model, args.data.data.as_deref())?;
    }
    let (config, network) = load_run(&args.model)?;
    let source = source_for(args, &config)?;
    let loaded = source.load()?;
    let split = args.split.unwrap_or(if source == config.source { SplitArg::Test } else { SplitArg::All });
    let (label, mut data) = match split {
        SplitArg::Test => {
            let test = loaded.split(&config.split)?.test.ok_or_else(|| {
                CliError::invalid(
                    "--split",
                    "the run's split has no test part (test fraction 0); use --split all",
                )
            })?;
            ("test split", test)
        }
        SplitArg::All => ("all samples", all_samples(loaded)?),
    };
    if let (Some(conv), Some(image)) = (&config.model.conv, data.image())
        && (image.height, image.width) != (conv.height, conv.width)
    {
        return Err(CliError::ModelMismatch {
            reason: format!(
                "the cnn was trained on {}×{} images; {} holds {}×{} images",
                conv.height,
                conv.width,
                source.display_name(),
                image.height,
                image.width
            ),
        });
    }
    apply_features(&config.preprocessing, &mut data)?;
    let scored = score(&network, &config.preprocessing, &data)?;
    let title = format!("{} on {} of {}", args.model.display(), label, source.display_name());
    super::say_text(&render(&title, &scored)?);
    if let Some(out) = &args.out {
        let mut metrics = Map::new();
        for (name, value) in &scored.metrics {
            metrics.insert(name.clone(), json!(value));
        }
        let document = json!({
            "task": config.task.to_string(),
            "dataset": source.display_name(),
            "model": args.model,
            "split": label,
            "samples": data.n_samples(),
            "metrics": Value::Object(metrics),
        });
        write_json_atomic(out, &document)?;
        say!("\nWrote {}", out.display());
    }
    Ok(())
}
