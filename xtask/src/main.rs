//! Project automation, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: everything CI checks: format, clippy (warnings are errors), the test
//!   suite under cargo-nextest, doc tests, the MPI test (when `mpirun` is installed),
//!   and the API docs with warnings as errors.
//! - `docs`: build the API docs with warnings as errors.
//! - `examples`: run every example of the facade crate (they assert their results),
//!   then check that every listing the docs mark as an example's output
//!   (`<!-- output of example NAME -->` above a fenced block) is what it printed.
//!
//! It uses only `std`, so it builds in seconds on a fresh machine.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode, Stdio};
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

/// The MPI test (`crates/tapegrad-cli/tests/mpi.rs`): 2 ranks against 1 process, when `mpirun`
/// is installed (`.ci/run` installs Open MPI); otherwise says plainly that it skipped it.
fn mpi() -> Result<(), String> {
    let found = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("==> mpi: skipped the MPI test: mpirun not found");
        return Ok(());
    }
    let cargo = cargo();
    run("mpi", &cargo, &["nextest", "run", "-p", "tapegrad-cli", "--features", "mpi", "--test", "mpi"], &[])
}

/// Runs each `crates/tapegrad/examples/*.rs`, so the examples the docs point to
/// keep working, then checks the docs' listings against what they printed.
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
    let mut printed = BTreeMap::new();
    for name in &names {
        let stdout = run_capturing(
            &format!("example {name}"),
            &cargo,
            &["run", "--quiet", "-p", "tapegrad", "--example", name],
        )?;
        printed.insert(name.clone(), stdout);
    }
    check_listings(&printed)
}

/// Like [`run`], but returns the program's standard output (also echoed).
fn run_capturing(name: &str, program: &str, args: &[&str]) -> Result<String, String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let start = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{name}: could not start {program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{stdout}");
    eprintln!("<== {name}: {:.1}s", start.elapsed().as_secs_f64());
    if output.status.success() { Ok(stdout) } else { Err(format!("{name} ({})", output.status)) }
}

/// The marker a doc puts on the line above a fenced listing that an example printed.
const LISTING_MARKER: &str = "<!-- output of example ";

/// Every listing in `docs/*.md` and `README.md` marked as an example's output must
/// appear in what that example printed: each of its non-empty lines, in order, as
/// whole lines. So a listing cannot go stale when an example's output changes.
fn check_listings(printed: &BTreeMap<String, String>) -> Result<(), String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut files = vec![std::path::PathBuf::from(format!("{root}/README.md"))];
    let docs =
        std::fs::read_dir(format!("{root}/docs")).map_err(|e| format!("listings: cannot list docs/: {e}"))?;
    files.extend(
        docs.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    files.sort();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("listings: cannot read {}: {e}", file.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let Some(rest) = line.trim().strip_prefix(LISTING_MARKER) else { continue };
            let name = rest.trim_end_matches("-->").trim();
            let place = format!("{}:{}", file.display(), at + 1);
            let output = printed
                .get(name)
                .ok_or_else(|| format!("listings: {place} names example `{name}`, which does not exist"))?;
            let fence = lines.get(at + 1).filter(|l| l.starts_with("```"));
            fence
                .ok_or_else(|| format!("listings: {place}: the marker must be followed by a fenced block"))?;
            let block: Vec<&str> = lines[at + 2..]
                .iter()
                .take_while(|l| !l.starts_with("```"))
                .copied()
                .filter(|l| !l.trim().is_empty())
                .collect();
            let mut printed_lines = output.lines().map(str::trim_end);
            for expected in &block {
                if !printed_lines.any(|p| p == expected.trim_end()) {
                    return Err(format!(
                        "listings: {place}: example `{name}` no longer prints (in this order) the line\n    {expected}\n  update the listing from `cargo run -p tapegrad --example {name}`"
                    ));
                }
            }
            checked += 1;
        }
    }
    eprintln!("<== listings: {checked} listings match their examples' output");
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
