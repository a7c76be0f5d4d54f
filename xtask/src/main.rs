//! Project automation, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: everything CI checks: format, clippy (warnings are errors), the test
//!   suite under cargo-nextest, doc tests, the MPI test (when `mpirun` is installed),
//!   and the API docs with warnings as errors.
//! - `docs`: build the API docs with warnings as errors.
//! - `examples`: run every example of the facade crate (they assert their results).
//!
//! It uses only `std`, so it builds in seconds on a fresh machine.

use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "docs" => docs(),
        "test" => tests(),
        "examples" => examples(),
        _ => {
            eprintln!("usage: cargo xtask <ci|docs|test|examples>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(step) => {
            eprintln!("xtask: step failed: {step}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one step, printing its command line and wall time.
fn run(name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("{name}: could not start {program}: {e}"))?;
    eprintln!("<== {name}: {:.1}s", start.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("{name} ({status})")) }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn ci() -> Result<(), String> {
    let cargo = cargo();
    run("format", &cargo, &["fmt", "--all", "--", "--check"], &[])?;
    run("clippy", &cargo, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    tests()?;
    mpi()?;
    examples()?;
    docs()
}

/// The MPI test (`crates/tapegrad/tests/mpi.rs`): 2 ranks against 1 process, when `mpirun`
/// is installed (`.ci/run` installs Open MPI); otherwise says plainly that it skipped it.
fn mpi() -> Result<(), String> {
    let found = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("==> mpi: skipped the MPI test: mpirun not found");
        return Ok(());
    }
    let cargo = cargo();
    run("mpi", &cargo, &["nextest", "run", "-p", "tapegrad", "--features", "mpi", "--test", "mpi"], &[])
}

/// Runs each `crates/tapegrad/examples/*.rs`, so the examples the docs point to
/// keep working.
fn examples() -> Result<(), String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/tapegrad/examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("examples: cannot list {dir}: {e}"))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    let cargo = cargo();
    for name in &names {
        run(
            &format!("example {name}"),
            &cargo,
            &["run", "--quiet", "-p", "tapegrad", "--example", name],
            &[],
        )?;
    }
    Ok(())
}

fn tests() -> Result<(), String> {
    let cargo = cargo();
    run("tests", &cargo, &["nextest", "run", "--workspace", "--no-fail-fast"], &[])?;
    run("doc tests", &cargo, &["test", "--workspace", "--doc"], &[])
}

fn docs() -> Result<(), String> {
    run("docs", &cargo(), &["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])
}
