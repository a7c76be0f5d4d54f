//! Training writes byte-identical models under any thread count: every parallel product and
//! reduction is cut by the shape, never by the threads (issue 15).

mod common;

use common::{arg, run_ok};

#[test]
fn one_two_and_four_threads_write_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = |threads: &str| {
        let run = dir.path().join(format!("t{threads}"));
        // Batches of 100 rows through a 256-unit layer: the products take the parallel path.
        run_ok(&[
            "train",
            "--dataset",
            "digits",
            "--hidden",
            "256,64",
            "--batch-size",
            "100",
            "--epochs",
            "1",
            "--threads",
            threads,
            "-q",
            "--no-plots",
            "--out",
            arg(&run),
        ]);
        std::fs::read(run.join("model.safetensors")).unwrap()
    };
    let one = model("1");
    for threads in ["2", "4"] {
        assert!(one == model(threads), "--threads {threads} wrote a different model than --threads 1");
    }
}
