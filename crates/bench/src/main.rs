//! `tapegrad-bench`: runs the training protocol (MLPs and the named models of issue 16)
//! for tapegrad and, when torch can be imported, for PyTorch side by side, printing
//! samples/s and the ratio.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tapegrad_bench::{BenchError, Isolation, Options, Protocol, TorchMode, parse_model};

/// Training speed: tapegrad side by side with PyTorch (issue 7's protocol; issue 16's models).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Models, comma-separated: MLP layer sizes (784-128-10) or cnn-mnist, conv2d-320,
    /// lstm-char, gpt-char (each with its own batch size).
    #[arg(long, default_value = "784-128-10,784-512-256-10", value_delimiter = ',')]
    models: Vec<String>,
    /// Batch sizes of the MLPs, comma-separated.
    #[arg(long, default_value = "64,256", value_delimiter = ',')]
    batch_sizes: Vec<usize>,
    /// Thread counts, comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Smoke-test protocol: 4,096 samples, 3 warm-up steps, 1 epoch (named models: 1
    /// warm-up step, 2 timed steps).
    #[arg(long)]
    quick: bool,
    /// Samples in the data set (overrides the protocol's).
    #[arg(long)]
    samples: Option<usize>,
    /// Warm-up steps (overrides the protocol's).
    #[arg(long)]
    warmup: Option<usize>,
    /// Timed epochs (overrides the protocol's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Named models: warm-up steps (overrides the protocol's).
    #[arg(long)]
    model_warmup: Option<usize>,
    /// Named models: steps per timed epoch (overrides the protocol's).
    #[arg(long)]
    model_steps: Option<usize>,
    /// Seed of the data and weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Measurements per configuration, alternating sides; the median is reported.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// One JSON object per line and configuration.
    #[arg(long)]
    json: bool,
    /// Skip PyTorch.
    #[arg(long, conflicts_with = "require_torch")]
    no_torch: bool,
    /// Fail when torch cannot be imported.
    #[arg(long)]
    require_torch: bool,
    /// Python interpreter for PyTorch's side.
    #[arg(long, default_value = "python3")]
    python: String,
    /// PyTorch's script (default: bench/torch_mlp.py of this source tree).
    #[arg(long)]
    torch_script: Option<PathBuf>,
    /// Measure the single-core FMA peak and tapegrad's SGEMM (n = 256, 512, 1024,
    /// one thread) against it, then exit.
    #[arg(long)]
    peak: bool,
    /// Measure tapegrad in this process instead of a child (peak RSS then covers
    /// every configuration so far).
    #[arg(long)]
    in_process: bool,
}

fn options(cli: Cli) -> Result<Options, BenchError> {
    let mut protocol = if cli.quick { Protocol::quick() } else { Protocol::full() };
    protocol.samples = cli.samples.unwrap_or(protocol.samples);
    protocol.warmup = cli.warmup.unwrap_or(protocol.warmup);
    protocol.epochs = cli.epochs.unwrap_or(protocol.epochs);
    protocol.model_warmup = cli.model_warmup.unwrap_or(protocol.model_warmup);
    protocol.model_steps = cli.model_steps.unwrap_or(protocol.model_steps);
    protocol.seed = cli.seed;
    let mut options = Options {
        models: cli.models.iter().map(|m| parse_model(m)).collect::<Result<_, _>>()?,
        batch_sizes: cli.batch_sizes,
        threads: cli.threads,
        protocol,
        rounds: cli.rounds,
        isolation: if cli.in_process { Isolation::InProcess } else { Isolation::ChildProcess(None) },
        torch: if cli.no_torch {
            TorchMode::Off
        } else if cli.require_torch {
            TorchMode::Required
        } else {
            TorchMode::Auto
        },
        python: cli.python,
        ..Options::default()
    };
    if let Some(script) = cli.torch_script {
        options.torch_script = script;
    }
    Ok(options)
}

fn print_peak() -> ExitCode {
    let Some(peak) = tapegrad_bench::peak::fma_peak_gflops() else {
        eprintln!("tapegrad-bench: this CPU has no AVX2/FMA, no peak to measure");
        return ExitCode::FAILURE;
    };
    println!("FMA peak, 1 core: {peak:.1} GFLOP/s");
    for n in [256, 512, 1024] {
        match tapegrad_bench::peak::sgemm_gflops(n) {
            Ok(g) => {
                println!("SGEMM n = {n:4}, 1 thread: {g:6.1} GFLOP/s = {:5.1} % of peak", 100.0 * g / peak)
            }
            Err(e) => {
                eprintln!("tapegrad-bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    if let Some(code) = tapegrad_bench::serve_child_if_requested() {
        return ExitCode::from(code as u8);
    }
    let cli = Cli::parse();
    if cli.peak {
        return print_peak();
    }
    let json = cli.json;
    let result = options(cli).and_then(|o| tapegrad_bench::run(&o, json, &mut std::io::stdout()));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapegrad-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
