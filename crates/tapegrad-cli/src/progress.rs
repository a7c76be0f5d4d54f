//! Training progress: an indicatif bar with the running loss and throughput when stdout is a
//! terminal, one plain line per epoch when it is not (a log file, CI), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live bar (stdout is a terminal).
    Bar,
    /// One line per epoch.
    Lines,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// The mode for this process: quiet if asked, a bar on a terminal, lines otherwise.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Reports training progress in the chosen [`Mode`].
pub struct Reporter {
    mode: Mode,
    bar: Option<ProgressBar>,
    epoch_start: Instant,
    last_draw: Instant,
    samples: usize,
    loss_sum: f64,
}

impl Reporter {
    /// A reporter in `mode`.
    pub fn new(mode: Mode) -> Reporter {
        Reporter {
            mode,
            bar: None,
            epoch_start: Instant::now(),
            last_draw: Instant::now(),
            samples: 0,
            loss_sum: 0.0,
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Prints a line unless quiet (above the bar, if one is shown).
    pub fn line(&self, text: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(text),
            (None, _) => say!("{text}"),
        }
    }

    /// Starts epoch `epoch` (1-based) of `epochs`, with `batches` steps.
    pub fn start_epoch(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epoch_start = Instant::now();
        self.last_draw = self.epoch_start;
        self.samples = 0;
        self.loss_sum = 0.0;
        if self.mode == Mode::Bar {
            let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            let width = epochs.to_string().len();
            bar.set_prefix(format!("epoch {epoch:>width$}/{epochs}"));
            self.bar = Some(bar);
        }
    }

    /// Records one step of `samples` samples with mean loss `loss`.
    pub fn step(&mut self, samples: usize, loss: f64) {
        self.samples += samples;
        self.loss_sum += loss * samples as f64;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            // Redrawing the message costs a little; ten times a second is plenty to read.
            if self.last_draw.elapsed() >= Duration::from_millis(100) {
                self.last_draw = Instant::now();
                bar.set_message(format!("loss {:.4}  {}", self.running_loss(), self.rate()));
            }
        }
    }

    /// The mean loss of the epoch so far.
    pub fn running_loss(&self) -> f64 {
        if self.samples == 0 { 0.0 } else { self.loss_sum / self.samples as f64 }
    }

    /// Samples per second this epoch, formatted.
    fn rate(&self) -> String {
        let seconds = self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        format!("{:.0} samples/s", self.samples as f64 / seconds)
    }

    /// Ends the epoch: clears the bar and prints `summary` with the throughput.
    pub fn end_epoch(&mut self, summary: &str) {
        let rate = self.rate();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.mode != Mode::Quiet {
            say!("{summary}  {rate}");
        }
    }
}
