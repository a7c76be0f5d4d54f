//! The `tapegrad` binary: see `tapegrad --help`, and `tapegrad_cli` for the code.

fn main() {
    // `tapegrad bench` measures each configuration in a child process of this binary.
    if let Some(code) = tapegrad_bench::serve_child_if_requested() {
        std::process::exit(code);
    }
    std::process::exit(tapegrad_cli::main_with(std::env::args_os()));
}
