//! `tapegrad bench`: the training-speed protocol (MLPs and issue 16's named models) of the `tapegrad-bench` crate, measured
//! in child processes of this same binary (see [`tapegrad_bench::serve_child_if_requested`],
//! which `main` calls first).

use tapegrad_bench::{Isolation, Options, Protocol, TorchMode, parse_model};

use super::args::BenchArgs;
use super::error::Result;

/// Runs `tapegrad bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let options = Options {
        models: args.models.iter().map(|m| parse_model(m)).collect::<std::result::Result<_, _>>()?,
        batch_sizes: args.batch_sizes.clone(),
        threads: args.threads.clone(),
        protocol: if args.quick { Protocol::quick() } else { Protocol::full() },
        rounds: args.rounds,
        isolation: Isolation::ChildProcess(None),
        torch: if args.no_torch { TorchMode::Off } else { TorchMode::Auto },
        ..Options::default()
    };
    tapegrad_bench::run(&options, args.json, &mut std::io::stdout())?;
    Ok(())
}
