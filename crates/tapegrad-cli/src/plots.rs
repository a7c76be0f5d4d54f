//! PNG plots with plotters: loss curves, precision–recall curves, the confusion matrix as a
//! heatmap, predicted against actual values, and the lessons' line charts.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (plotters' `ab_glyph` backend), so
//! neither building nor running needs fontconfig, freetype or any system font. Should the font
//! fail to register, the plots are drawn without text rather than not at all.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, SegmentValue};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::error::{CliError, Result};
use super::output::write_atomic;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Whether text can be drawn: the font registered.
fn text_enabled() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok())
}

/// Ten colours that stay apart on white (matplotlib's `tab10`).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `index`-th series colour.
pub fn color(index: usize) -> RGBColor {
    COLORS[index % COLORS.len()]
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A solid line.
    Line,
    /// A line with a dot at each point.
    LinePoints,
    /// Dots only.
    Points,
    /// Smaller, paler dots (data in the background).
    FaintPoints,
    /// A dashed line (references such as an optimum or `y = x`).
    Dashed,
}

/// One named series of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// The colour.
    pub color: RGBColor,
    /// How it is drawn.
    pub style: Style,
}

/// A line chart's title, axes and scales.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The caption.
    pub title: String,
    /// The x axis description.
    pub x_label: String,
    /// The y axis description.
    pub y_label: String,
    /// Plot the x axis on a log10 scale.
    pub log_x: bool,
    /// Plot the y axis on a log10 scale.
    pub log_y: bool,
    /// Fix the y range instead of fitting it to the data.
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes (where the curves are not).
    pub legend: SeriesLabelPosition,
}

/// A linear axis from `lo` to `hi` with tick marks where we choose (plotters' own choice
/// for an axis that plots log10 of the values would be at round exponents, not round values).
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        // Far-off points (a wild polynomial) are pulled in to ten ranges away: still off the
        // plot, but no integer overflow.
        let fraction = ((value - self.lo) / (self.hi - self.lo)).clamp(-10.0, 11.0);
        let fraction = if fraction.is_finite() { fraction } else { 0.0 };
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Cuts a polyline to the horizontal band `lo ≤ y ≤ hi`: the parts inside, each ending where
/// it crosses the band's edge. (Plotters would pin outside points to the border instead,
/// drawing a wild curve as a line along the edge.)
fn clip_to_band(points: &[(f64, f64)], lo: f64, hi: f64) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| (lo..=hi).contains(&y);
    let cross = |a: (f64, f64), b: (f64, f64), y: f64| (a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1), y);
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    if let Some(&first) = points.first().filter(|p| inside(p.1)) {
        current.push(first);
    }
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if !inside(a.1) {
            if (a.1 < lo && b.1 < lo) || (a.1 > hi && b.1 > hi) {
                continue;
            }
            current.push(cross(a, b, if a.1 < lo { lo } else { hi }));
        }
        if inside(b.1) {
            current.push(b);
        } else {
            current.push(cross(a, b, if b.1 < lo { lo } else { hi }));
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs.retain(|run| run.len() >= 2);
    runs
}

/// "Nice" numbers for tick marks: 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Tick positions for an axis from `lo` to `hi` (in plotted units: log10 of the value on a log
/// axis). Linear axes get about eight round values; log axes get 1, 2, 5 × 10ᵏ (or only the
/// powers of ten over many decades, or every integer multiple over less than one).
fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return vec![lo];
    }
    if !log {
        let step = nice_step((hi - lo) / 8.0);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        // Multiplying the integer index (instead of adding steps) keeps ticks like 0.3 exact.
        return (first..=last).map(|i| i as f64 * step).collect();
    }
    let decades = (lo.floor() as i64)..=(hi.ceil() as i64);
    let pick = |multiples: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|k| multiples.iter().map(move |m| (m * 10f64.powi(k as i32)).log10()))
            .filter(|t| (lo..=hi).contains(t))
            .collect()
    };
    let standard = pick(&[1.0, 2.0, 5.0]);
    if standard.len() > 12 {
        pick(&[1.0])
    } else if standard.len() < 4 {
        pick(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    } else {
        standard
    }
}

fn plot_error(path: &Path) -> impl Fn(String) -> CliError + '_ {
    move |reason| CliError::Plot { path: path.to_path_buf(), reason }
}

/// Draws `draw` onto a `width × height` PNG at `path`, atomically. The picture is drawn in
/// memory and encoded here, then goes through the one safe writer: no file is opened by name.
fn png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string()).map_err(plot_error(path))?;
        draw(&root).map_err(plot_error(path))?;
        root.present().map_err(|e| e.to_string()).map_err(plot_error(path))?;
    }
    let mut bytes = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut bytes, size.0, size.1);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&pixels))
        .map_err(|e| CliError::Plot { path: path.to_path_buf(), reason: format!("encoding PNG: {e}") })?;
    write_atomic(path, &bytes)
}

/// The range of values with a 5% margin (and a unit range around a constant).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let margin = (hi - lo) * 0.05;
    (lo - margin, hi + margin)
}

/// A short tick label.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Draws a line chart into `area`. Log axes plot log10 of the values and label ticks with the
/// values themselves; non-positive values are left out on a log axis.
pub fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[Series],
) -> std::result::Result<(), String> {
    let text = text_enabled();
    let map = |log: bool, v: f64| if log { if v > 0.0 { v.log10() } else { f64::NAN } } else { v };
    let mapped: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .map(|&(x, y)| (map(chart.log_x, x), map(chart.log_y, y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let (x0, x1) = padded(mapped.iter().flatten().map(|p| p.0));
    let (y0, y1) = match chart.y_range {
        Some((lo, hi)) => (map(chart.log_y, lo), map(chart.log_y, hi)),
        None => padded(mapped.iter().flatten().map(|p| p.1)),
    };
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.caption(&chart.title, ("sans-serif", 22)).x_label_area_size(42).y_label_area_size(62);
    }
    let x_ticks = ticks(x0, x1, chart.log_x);
    let y_ticks = ticks(y0, y1, chart.log_y);
    let mut ctx = builder
        .build_cartesian_2d(Axis { lo: x0, hi: x1, ticks: x_ticks }, Axis { lo: y0, hi: y1, ticks: y_ticks })
        .map_err(|e| e.to_string())?;
    let x_format = |v: &f64| tick(if chart.log_x { 10f64.powf(*v) } else { *v });
    let y_format = |v: &f64| tick(if chart.log_y { 10f64.powf(*v) } else { *v });
    let mut mesh = ctx.configure_mesh();
    mesh.bold_line_style(RGBColor(225, 225, 225)).x_label_formatter(&x_format).y_label_formatter(&y_format);
    if text {
        mesh.x_desc(chart.x_label.as_str()).y_desc(chart.y_label.as_str()).label_style(("sans-serif", 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for (s, points) in series.iter().zip(mapped) {
        let color = s.color;
        let drawn = match s.style {
            Style::Line | Style::LinePoints => {
                if s.style == Style::LinePoints {
                    ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(|e| e.to_string())?;
                }
                let runs = clip_to_band(&points, y0, y1);
                let (first, rest) = runs.split_first().map_or((Vec::new(), &[][..]), |(f, r)| (f.clone(), r));
                for run in rest {
                    ctx.draw_series(LineSeries::new(run.clone(), color.stroke_width(2)))
                        .map_err(|e| e.to_string())?;
                }
                ctx.draw_series(LineSeries::new(first, color.stroke_width(2))).map_err(|e| e.to_string())?
            }
            Style::Points => ctx
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.mix(0.85).filled())))
                .map_err(|e| e.to_string())?,
            Style::FaintPoints => ctx
                .draw_series(points.iter().map(|&p| Circle::new(p, 2, color.mix(0.5).filled())))
                .map_err(|e| e.to_string())?,
            Style::Dashed => ctx
                .draw_series(DashedLineSeries::new(points, 6, 4, color.stroke_width(2)))
                .map_err(|e| e.to_string())?,
        };
        if text && !s.name.is_empty() {
            drawn
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
        }
    }
    if text && series.iter().any(|s| !s.name.is_empty()) {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 14))
            .position(chart.legend.clone())
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One line chart as a PNG.
pub fn line_chart(path: &Path, chart: &Chart, series: &[Series]) -> Result<()> {
    png(path, (900, 600), |root| draw_chart(root, chart, series))
}

/// Several line charts side by side in one PNG.
pub fn line_charts(path: &Path, panels: &[(Chart, Vec<Series>)]) -> Result<()> {
    let width = 700 * panels.len().max(1) as u32;
    png(path, (width, 560), |root| {
        for (area, (chart, series)) in root.split_evenly((1, panels.len().max(1))).iter().zip(panels) {
            draw_chart(area, chart, series)?;
        }
        Ok(())
    })
}

/// Training and validation loss per epoch (log scale when they span more than a factor 20).
pub fn loss_curves(path: &Path, title: &str, train: &[f64], validation: &[f64]) -> Result<()> {
    let to_points = |values: &[f64]| values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect();
    let mut series = vec![Series {
        name: "train (mean over the epoch)".into(),
        points: to_points(train),
        color: color(0),
        style: if train.len() <= 30 { Style::LinePoints } else { Style::Line },
    }];
    if !validation.is_empty() {
        series.push(Series {
            name: "validation".into(),
            points: to_points(validation),
            color: color(1),
            style: if validation.len() <= 30 { Style::LinePoints } else { Style::Line },
        });
    }
    let all = train.iter().chain(validation).copied().filter(|v| *v > 0.0);
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let chart = Chart {
        title: title.to_string(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        log_x: false,
        log_y: lo > 0.0 && hi / lo > 20.0,
        y_range: None,
        legend: SeriesLabelPosition::UpperRight,
    };
    line_chart(path, &chart, &series)
}

/// Precision–recall curves: of class 1 for two classes, one-vs-rest per class otherwise, each
/// labelled with its average precision.
pub fn pr_curves(
    path: &Path,
    title: &str,
    y_true: &[usize],
    probabilities: &[f64],
    class_names: &[String],
) -> Result<()> {
    let n_classes = class_names.len();
    let classes: Vec<usize> = if n_classes == 2 { vec![1] } else { (0..n_classes).collect() };
    let mut series = Vec::new();
    for (index, &class) in classes.iter().enumerate() {
        let truth: Vec<usize> = y_true.iter().map(|&l| usize::from(l == class)).collect();
        let positives = truth.iter().filter(|&&t| t == 1).count();
        if positives == 0 || positives == truth.len() {
            continue;
        }
        let scores: Vec<f64> = probabilities.iter().skip(class).step_by(n_classes).copied().collect();
        let curve = eval::precision_recall_curve(&truth, &scores)?;
        let ap = eval::average_precision(&truth, &scores)?;
        // A PR curve is a staircase: hold each precision until the next recall.
        let mut points: Vec<(f64, f64)> =
            curve.recall.iter().copied().zip(curve.precision.iter().copied()).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        series.push(Series {
            name: format!("{} (AP {ap:.3})", class_names[class]),
            points,
            color: color(index),
            style: Style::Line,
        });
    }
    let lowest = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(1.0f64, f64::min);
    let chart = Chart {
        title: title.to_string(),
        x_label: "recall".into(),
        y_label: "precision".into(),
        log_x: false,
        log_y: false,
        y_range: Some(((lowest - 0.02).clamp(0.0, 0.9), 1.005)),
        legend: SeriesLabelPosition::LowerLeft,
    };
    png(path, (900, 650), |root| draw_chart(root, &chart, &series))
}

/// The confusion matrix as a heatmap: rows are true classes, columns predictions, each cell
/// shaded by its share of its row and labelled with its count.
pub fn confusion_heatmap(
    path: &Path,
    title: &str,
    counts: &[Vec<usize>],
    class_names: &[String],
) -> Result<()> {
    let n = counts.len();
    let last = n.saturating_sub(1);
    let text = text_enabled();
    let size = (760, 700);
    png(path, size, |root| {
        let mut builder = ChartBuilder::on(root);
        builder.margin(16);
        if text {
            builder.caption(title, ("sans-serif", 22)).x_label_area_size(50).y_label_area_size(90);
        }
        let mut ctx = builder
            // An integer range's segments include its end, so 0..n-1 gives the n cells.
            .build_cartesian_2d((0..last).into_segmented(), (0..last).into_segmented())
            .map_err(|e| e.to_string())?;
        // Row 0 is drawn at the top, as the matrix is printed.
        let name_of = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < n => {
                let index = if flip { n - 1 - i } else { *i };
                class_names.get(index).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        let x_format = |v: &SegmentValue<usize>| name_of(v, false);
        let y_format = |v: &SegmentValue<usize>| name_of(v, true);
        let mut mesh = ctx.configure_mesh();
        mesh.disable_mesh().x_label_formatter(&x_format).y_label_formatter(&y_format);
        if text {
            mesh.x_desc("predicted class")
                .y_desc("true class")
                .label_style(("sans-serif", 14))
                .x_labels(n)
                .y_labels(n);
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        let font = (22.0 - n as f64).clamp(9.0, 18.0);
        for (t, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let fill = RGBColor(
                    (255.0 * (1.0 - 0.85 * share)) as u8,
                    (255.0 * (1.0 - 0.55 * share)) as u8,
                    (255.0 * (1.0 - 0.25 * share)) as u8,
                );
                let y = n - 1 - t;
                let cell = Rectangle::new(
                    [
                        (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                );
                ctx.draw_series(std::iter::once(cell)).map_err(|e| e.to_string())?;
                if text {
                    let ink = if share > 0.55 { WHITE } else { BLACK };
                    let style = ("sans-serif", font)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    let label = Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                        style,
                    );
                    ctx.draw_series(std::iter::once(label)).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    })
}

/// Predicted against actual values, with the line `y = x` where every prediction would lie.
pub fn predicted_vs_actual(path: &Path, title: &str, y_true: &[f64], y_pred: &[f64]) -> Result<()> {
    let (lo, hi) = padded(y_true.iter().chain(y_pred).copied());
    let series = vec![
        Series {
            name: "test samples".into(),
            points: y_true.iter().copied().zip(y_pred.iter().copied()).collect(),
            color: color(0),
            style: Style::Points,
        },
        Series {
            name: "predicted = actual".into(),
            points: vec![(lo, lo), (hi, hi)],
            color: color(3),
            style: Style::Dashed,
        },
    ];
    let chart = Chart {
        title: title.to_string(),
        x_label: "actual".into(),
        y_label: "predicted".into(),
        log_x: false,
        log_y: false,
        y_range: Some((lo, hi)),
        legend: SeriesLabelPosition::UpperLeft,
    };
    png(path, (760, 700), |root| draw_chart(root, &chart, &series))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_font_registers() {
        assert!(text_enabled());
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(12.0), "12");
        assert_eq!(tick(250.0), "250");
        assert_eq!(tick(1e-5), "1e-5");
    }

    #[test]
    fn lines_leaving_the_band_are_cut_at_its_edge() {
        let runs = clip_to_band(&[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)], -1.0, 1.0);
        assert_eq!(runs, vec![vec![(0.0, 0.0), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.0)]]);
        assert_eq!(clip_to_band(&[(0.0, 5.0), (1.0, 6.0)], -1.0, 1.0), Vec::<Vec<(f64, f64)>>::new());
    }

    #[test]
    fn tick_marks_are_round_numbers() {
        let linear = ticks(0.0, 1.0, false);
        let expected = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        assert!(
            linear.len() == 6 && linear.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12),
            "{linear:?}"
        );
        assert_eq!(ticks(20.0, 80.0, false), vec![20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]);
        let log: Vec<f64> = ticks(-2.0, 0.0, true).iter().map(|t| 10f64.powf(*t)).collect();
        let expected = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
        assert!(log.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{log:?}");
    }

    #[test]
    fn plots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let loss = dir.path().join("loss.png");
        loss_curves(&loss, "loss", &[1.0, 0.5, 0.2], &[1.1, 0.6, 0.4]).unwrap();
        let heat = dir.path().join("cm.png");
        confusion_heatmap(&heat, "cm", &[vec![5, 1], vec![0, 4]], &["a".into(), "b".into()]).unwrap();
        for path in [loss, heat] {
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
        }
        // Only the two plots: no temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
