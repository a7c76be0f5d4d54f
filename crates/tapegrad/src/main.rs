//! The `tapegrad` binary: see `tapegrad --help`, and [`tapegrad::cli`] for the code.

fn main() {
    std::process::exit(tapegrad::cli::main_with(std::env::args_os()));
}
