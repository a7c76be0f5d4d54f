//! The harness end to end on a tiny configuration (quick protocol, in process, no
//! PyTorch): every field is filled and the JSON lines parse. No timing assertions.

use tapegrad_bench::{BenchError, Isolation, Job, Model, Options, Protocol, TorchMode, parse_model, run};

fn tiny() -> Options {
    Options {
        models: vec![Model::Mlp(vec![20, 8, 3]), Model::Mlp(vec![20, 6, 5, 3])],
        batch_sizes: vec![16],
        threads: vec![1, 2],
        protocol: Protocol { samples: 128, ..Protocol::quick() },
        isolation: Isolation::InProcess,
        torch: TorchMode::Off,
        ..Options::default()
    }
}

#[test]
fn quick_mode_runs_every_configuration_and_prints_json_lines() {
    let mut out = Vec::new();
    let reports = run(&tiny(), true, &mut out).expect("the tiny benchmark runs");
    assert_eq!(reports.len(), 4);
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["model"], "20-8-3");
    assert_eq!(lines[0]["batch_size"], 16);
    assert_eq!(lines[1]["threads"], 2);
    for (line, report) in lines.iter().zip(&reports) {
        assert!(line["samples_per_sec"].as_f64().is_some_and(|s| s > 0.0));
        assert!(report.final_loss.is_finite());
        assert!(line.get("ratio").is_none(), "no ratio without PyTorch");
        if cfg!(target_os = "linux") {
            assert!(line["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0));
        }
    }
}

#[test]
fn the_table_has_a_header_and_a_row_per_configuration() {
    let mut out = Vec::new();
    run(&tiny(), false, &mut out).expect("the tiny benchmark runs");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.lines().next().is_some_and(|h| h.contains("tapegrad s/s")));
}

#[test]
fn both_thread_counts_train_to_the_same_loss() {
    // The kernels chunk work independently of the thread count, so the trajectory
    // is identical with 1 and 2 threads.
    let reports = run(&tiny(), true, &mut Vec::new()).expect("runs");
    assert_eq!(reports[0].final_loss, reports[1].final_loss);
    assert_eq!(reports[2].final_loss, reports[3].final_loss);
}

#[test]
fn bad_configurations_are_errors() {
    assert!(matches!(parse_model("784"), Err(BenchError::InvalidModel { .. })));
    assert!(matches!(parse_model("784-0-10"), Err(BenchError::InvalidModel { .. })));
    assert!(matches!(parse_model("784-x-10"), Err(BenchError::InvalidModel { .. })));
    assert_eq!(parse_model("784-128-10").expect("valid"), Model::Mlp(vec![784, 128, 10]));
    assert_eq!(parse_model("gpt-char").expect("valid"), Model::GptChar);
    let mut o = tiny();
    o.batch_sizes = vec![1000];
    assert!(matches!(run(&o, true, &mut Vec::new()), Err(BenchError::InvalidConfig { .. })));
    let mut o = tiny();
    o.threads = vec![0];
    assert!(matches!(run(&o, true, &mut Vec::new()), Err(BenchError::InvalidConfig { .. })));
    let mut o = tiny();
    o.rounds = 0;
    assert!(matches!(run(&o, true, &mut Vec::new()), Err(BenchError::InvalidConfig { .. })));
    let mut o = tiny();
    o.torch = TorchMode::Required;
    o.python = "/nonexistent/python3".into();
    assert!(matches!(run(&o, true, &mut Vec::new()), Err(BenchError::TorchUnavailable { .. })));
    let job = Job {
        model: Model::Mlp(vec![4, 2]),
        batch_size: 2,
        threads: 1,
        protocol: Protocol { epochs: 0, ..Protocol::quick() },
    };
    assert!(matches!(job.validate(), Err(BenchError::InvalidConfig { .. })));
}

#[test]
fn named_models_run_with_their_own_batch_size() {
    // A named model ignores --batch-sizes (which are the MLPs'): one job per thread count.
    let o = Options {
        models: ["cnn-mnist", "conv2d-320", "lstm-char", "gpt-char"]
            .iter()
            .map(|m| parse_model(m).expect("a named model"))
            .collect(),
        batch_sizes: vec![16, 256],
        threads: vec![1, 2],
        ..Options::default()
    };
    let jobs: Vec<(String, usize, usize)> =
        o.jobs().iter().map(|j| (j.model_name(), j.batch_size, j.threads)).collect();
    let expected = [("cnn-mnist", 64), ("conv2d-320", 2), ("lstm-char", 32), ("gpt-char", 32)]
        .iter()
        .flat_map(|&(m, b)| [(m.to_string(), b, 1), (m.to_string(), b, 2)])
        .collect::<Vec<_>>();
    assert_eq!(jobs, expected);
    assert!(matches!(parse_model("cnn"), Err(BenchError::InvalidModel { .. })));
}

#[test]
fn a_named_model_trains_in_process() {
    // The smallest named model (one step of the LSTM) end to end: a finite loss near
    // ln 65 = 4.17 from the initial weights.
    let o = Options {
        models: vec![Model::LstmChar],
        threads: vec![1],
        protocol: Protocol { model_warmup: 0, model_steps: 1, ..Protocol::quick() },
        isolation: Isolation::InProcess,
        torch: TorchMode::Off,
        ..Options::default()
    };
    let reports = run(&o, true, &mut Vec::new()).expect("runs");
    assert_eq!((reports[0].model.as_str(), reports[0].batch_size), ("lstm-char", 32));
    assert!((reports[0].final_loss - 65f64.ln()).abs() < 0.5, "{}", reports[0].final_loss);
}
