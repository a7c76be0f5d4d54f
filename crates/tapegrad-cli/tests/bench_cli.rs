//! `tapegrad bench` is wired to the tapegrad-bench protocol and measures in a child process of
//! the same binary.

mod common;

use common::run_ok;

#[test]
fn bench_quick_reports_one_configuration() {
    let out = run_ok(&[
        "bench",
        "--quick",
        "--models",
        "784-16-10",
        "--batch-sizes",
        "256",
        "--threads",
        "1",
        "--no-torch",
        "--json",
    ]);
    let line = out.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON line in {out:?}"));
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(report.to_string().contains("784"), "{report}");
}
