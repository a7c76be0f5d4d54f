//! The `tapegrad` command line: `train`, `evaluate`, `predict`, the tutorial's lessons and `bench`.
//!
//! [`main_with`] is the whole program: it parses the arguments, runs the subcommand and turns
//! any [`CliError`] into one line on standard error and a non-zero exit code — bad data, bad
//! flags and failed writes never panic and never leave a half-written output behind.

/// `println!` for the command line's output: a closed pipe ends the program quietly (see
/// [`say_text`]) instead of panicking.
macro_rules! say {
    () => {
        $crate::say_text("\n")
    };
    ($($arg:tt)*) => {
        $crate::say_text(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub mod args;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod defaults;
pub mod error;
pub mod evaluate;
pub mod lesson;
pub mod model;
pub mod output;
pub mod plots;
pub mod predict;
pub mod prepare;
pub mod progress;
pub mod report;
pub mod run_folder;
pub mod train;
pub mod train_command;

use clap::Parser;

pub use args::Cli;
pub use error::{CliError, Result};

/// Writes `text` to standard output. When the reader has gone (`tapegrad train | head`), the
/// program exits with status 141, as a program killed by SIGPIPE would, rather than panicking;
/// every output file is written atomically, so none is left half-written.
pub fn say_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(141);
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        args::Command::Train(train) => train_command::run(&train),
        args::Command::Evaluate(evaluate) => evaluate::run(&evaluate),
        args::Command::Predict(predict) => predict::run(&predict),
        args::Command::Lesson(lesson) => lesson::run(&lesson),
        args::Command::Bench(bench) => bench::run(&bench),
    }
}

/// The program: parses `args` (the first being the program name), runs the command, and
/// returns the process exit code — 0 on success, 1 on an error (printed as `error: …` on
/// standard error), 2 on a command-line syntax error (clap's usage message).
pub fn main_with<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version arrive as "errors" that print to stdout and exit 0.
            let _ = e.print();
            return e.exit_code();
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
