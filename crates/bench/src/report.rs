//! One configuration's result, as a table row or a JSON line.

use crate::{Job, Measurement, median};
use serde::Serialize;
use std::io::Write;

/// The result of one configuration: tapegrad's figures and, when it ran, PyTorch's.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Layer sizes as `784-128-10`.
    pub model: String,
    /// Samples per step.
    pub batch_size: usize,
    /// Threads.
    pub threads: usize,
    /// tapegrad: median samples per second over rounds.
    pub samples_per_sec: f64,
    /// tapegrad: largest peak RSS over rounds.
    pub peak_rss_bytes: Option<u64>,
    /// tapegrad: the last batch's loss (first round).
    pub final_loss: f64,
    /// PyTorch: median samples per second over rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torch_samples_per_sec: Option<f64>,
    /// PyTorch: largest peak RSS over rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torch_peak_rss_bytes: Option<u64>,
    /// PyTorch: the last batch's loss (first round).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torch_final_loss: Option<f64>,
    /// tapegrad's samples/s over PyTorch's (above 1: tapegrad is faster): the median
    /// over rounds of each round's ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// tapegrad's figure of each round.
    pub rounds: Vec<f64>,
    /// PyTorch's figure of each round.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub torch_rounds: Vec<f64>,
}

impl Report {
    /// Combines the rounds of one configuration (`theirs` empty: PyTorch did not run).
    pub fn new(job: &Job, ours: Vec<Measurement>, theirs: Vec<Measurement>) -> Self {
        let side = |ms: &[Measurement]| -> (Vec<f64>, Option<u64>, f64) {
            let rounds: Vec<f64> = ms.iter().map(|m| m.samples_per_sec).collect();
            let rss = ms.iter().filter_map(|m| m.peak_rss_bytes).max();
            (rounds, rss, ms.first().map_or(f64::NAN, |m| m.final_loss))
        };
        let (rounds, peak_rss_bytes, final_loss) = side(&ours);
        let samples_per_sec = median(&rounds);
        let (torch_rounds, torch_rss, torch_loss) = side(&theirs);
        let ran = !theirs.is_empty();
        let torch_samples_per_sec = ran.then(|| median(&torch_rounds));
        Report {
            model: job.model_name(),
            batch_size: job.batch_size,
            threads: job.threads,
            samples_per_sec,
            peak_rss_bytes,
            final_loss,
            torch_samples_per_sec,
            torch_peak_rss_bytes: torch_rss,
            torch_final_loss: ran.then_some(torch_loss),
            ratio: ran.then(|| {
                // Paired: each round's two sides ran back to back under the same load
                // from the rest of the machine, so their ratio is steadier than the
                // ratio of the two medians.
                let paired: Vec<f64> = rounds.iter().zip(&torch_rounds).map(|(o, t)| o / t).collect();
                median(&paired)
            }),
            rounds,
            torch_rounds,
        }
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0)))
}

/// Writes the table's header.
pub(crate) fn write_header(out: &mut dyn Write, with_torch: bool) -> std::io::Result<()> {
    if with_torch {
        writeln!(
            out,
            "{:<16} {:>5} {:>7} {:>13} {:>13} {:>7} {:>10} {:>10} {:>9} {:>9}",
            "model",
            "batch",
            "threads",
            "tapegrad s/s",
            "pytorch s/s",
            "ratio",
            "rss ours",
            "rss torch",
            "loss",
            "torch loss"
        )
    } else {
        writeln!(
            out,
            "{:<16} {:>5} {:>7} {:>13} {:>10} {:>9}",
            "model", "batch", "threads", "tapegrad s/s", "rss", "loss"
        )
    }
}

/// Writes one configuration as a table row.
pub fn write_table(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    match (r.torch_samples_per_sec, r.ratio) {
        (Some(t), Some(ratio)) => writeln!(
            out,
            "{:<16} {:>5} {:>7} {:>13.0} {:>13.0} {:>6.2}x {:>10} {:>10} {:>9.4} {:>9.4}",
            r.model,
            r.batch_size,
            r.threads,
            r.samples_per_sec,
            t,
            ratio,
            mib(r.peak_rss_bytes),
            mib(r.torch_peak_rss_bytes),
            r.final_loss,
            r.torch_final_loss.unwrap_or(f64::NAN),
        ),
        _ => writeln!(
            out,
            "{:<16} {:>5} {:>7} {:>13.0} {:>10} {:>9.4}",
            r.model,
            r.batch_size,
            r.threads,
            r.samples_per_sec,
            mib(r.peak_rss_bytes),
            r.final_loss
        ),
    }
}

/// Writes one configuration as one JSON object on one line.
pub fn write_json(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    let line = serde_json::to_string(r).map_err(std::io::Error::other)?;
    writeln!(out, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    fn measured(samples_per_sec: f64, rss: u64) -> Measurement {
        Measurement::new(vec![samples_per_sec], Some(rss), 2.3)
    }

    #[test]
    fn the_ratio_is_the_median_of_paired_rounds() {
        let job = Job {
            model: crate::Model::Mlp(vec![784, 128, 10]),
            batch_size: 64,
            threads: 1,
            protocol: Protocol::quick(),
        };
        let ours = vec![measured(100.0, 5), measured(300.0, 7), measured(200.0, 6)];
        let theirs = vec![measured(50.0, 9), measured(100.0, 8), measured(100.0, 9)];
        let r = Report::new(&job, ours, theirs);
        // Per-round ratios 2, 3, 2: median 2 (the ratio of the medians would be 2 too,
        // but not in general).
        assert_eq!(r.ratio, Some(2.0));
        assert_eq!((r.samples_per_sec, r.torch_samples_per_sec), (200.0, Some(100.0)));
        assert_eq!((r.peak_rss_bytes, r.torch_peak_rss_bytes), (Some(7), Some(9)));
        assert_eq!(r.model, "784-128-10");
        let without = Report::new(&job, vec![measured(100.0, 5)], vec![]);
        assert_eq!((without.ratio, without.torch_samples_per_sec), (None, None));
    }
}
