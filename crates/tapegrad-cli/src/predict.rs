//! `tapegrad predict`: a trained model's predictions for the rows of a CSV file, written as a
//! CSV file — the predicted class (by its original name) with every class's probability, or the
//! predicted value in the target's units.
//!
//! The input holds the training features in their order, with or without the target column
//! (which is then ignored); a header line is recognised and skipped. Every cell must be a
//! finite number; the first bad one is reported with its line and column.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use tapegrad_data::{Separator, TargetColumn};

use super::args::PredictArgs;
use super::config::{DataSource, RunConfig};
use super::error::{CliError, Result};
use super::evaluate::{load_run, refuse_inputs};
use super::output::write_atomic;
use super::report::{Output, predict};
use super::train_command::set_threads;

/// Rows read for prediction: features only, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// The features, `n_rows × n_features`.
    pub features: Vec<f32>,
    /// The number of rows.
    pub n_rows: usize,
}

fn bad(path: &Path, reason: impl Into<String>) -> CliError {
    CliError::BadFile { path: path.to_path_buf(), reason: reason.into() }
}

/// Reads a file, decompressing it when it is gzipped.
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| CliError::io("reading", path, e))?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| bad(path, format!("decompressing gzip data: {e}")))?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        bad(path, format!("line {line}: the text is not valid UTF-8"))
    })
}

/// A field without surrounding blanks and quotes.
fn unquote(field: &str) -> &str {
    field.trim().trim_matches('"').trim()
}

/// The fields of one line.
fn split_line(line: &str, separator: Separator) -> Vec<&str> {
    match separator {
        Separator::Comma => line.split(',').map(unquote).collect(),
        Separator::Semicolon => line.split(';').map(unquote).collect(),
        Separator::Tab => line.split('\t').map(unquote).collect(),
        Separator::Whitespace | Separator::Auto => line.split_whitespace().map(unquote).collect(),
    }
}

/// The separator of a file from its first non-blank line, as the data crate chooses it.
fn detect_separator(first: &str) -> Separator {
    if first.contains(';') {
        Separator::Semicolon
    } else if first.contains('\t') {
        Separator::Tab
    } else if first.contains(',') {
        Separator::Comma
    } else {
        Separator::Whitespace
    }
}

/// Parses prediction rows: `n_features` feature columns, or one more holding the target
/// (dropped: at `target` when it names a header column or an index, else the last column).
pub fn parse_rows(
    text: &str,
    path: &Path,
    n_features: usize,
    separator: Separator,
    target: Option<&TargetColumn>,
) -> Result<Rows> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).peekable();
    let Some(&(_, first)) = lines.peek() else {
        return Err(bad(path, "no rows: the file is empty"));
    };
    let separator = if separator == Separator::Auto { detect_separator(first) } else { separator };
    let first_fields = split_line(first, separator);
    let header = first_fields.iter().all(|f| f.parse::<f64>().is_err());
    let n_columns = first_fields.len();
    let skip = if n_columns == n_features {
        None
    } else if n_columns == n_features + 1 {
        let named = match (target, header) {
            (Some(TargetColumn::Name(name)), true) => {
                first_fields.iter().position(|f| f == name || f.eq_ignore_ascii_case(name))
            }
            (Some(TargetColumn::Index(index)), _) => {
                let resolved = if *index < 0 { n_columns as isize + index } else { *index };
                usize::try_from(resolved).ok().filter(|&i| i < n_columns)
            }
            _ => None,
        };
        Some(named.unwrap_or(n_columns - 1))
    } else {
        return Err(CliError::ModelMismatch {
            reason: format!(
                "{}: the model takes {n_features} features per row (or {} columns with the target); line {} has {n_columns} fields",
                path.display(),
                n_features + 1,
                lines.peek().map_or(1, |(i, _)| i + 1)
            ),
        });
    };
    if header {
        lines.next();
    }
    let mut features = Vec::new();
    let mut n_rows = 0;
    for (index, line) in lines {
        let number = index + 1;
        let fields = split_line(line, separator);
        if fields.len() != n_columns {
            return Err(bad(
                path,
                format!("line {number}: expected {n_columns} fields, found {}", fields.len()),
            ));
        }
        for (column, field) in fields.iter().enumerate() {
            if Some(column) == skip {
                continue;
            }
            match field.parse::<f32>() {
                Ok(value) if value.is_finite() => features.push(value),
                Ok(value) => {
                    return Err(bad(
                        path,
                        format!("line {number}, column {}: {value} is not a finite number", column + 1),
                    ));
                }
                Err(_) => {
                    return Err(bad(
                        path,
                        format!("line {number}, column {}: {field:?} is not a number", column + 1),
                    ));
                }
            }
        }
        n_rows += 1;
    }
    if n_rows == 0 {
        return Err(bad(path, "no rows: the file holds only a header"));
    }
    Ok(Rows { features, n_rows })
}

/// The predictions as CSV text.
fn predictions_csv(config: &RunConfig, output: &Output) -> String {
    let mut text = String::new();
    match output {
        Output::Classes { probabilities, predicted } => {
            let names = config.preprocessing.class_names.clone().unwrap_or_default();
            let name_of = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
            let n_classes = config.model.outputs;
            let columns: Vec<String> = (0..n_classes).map(|c| format!("p_{}", name_of(c))).collect();
            let _ = writeln!(text, "prediction,{}", columns.join(","));
            for (row, &class) in probabilities.chunks(n_classes).zip(predicted) {
                let probs: Vec<String> = row.iter().map(|p| format!("{p:.6}")).collect();
                let _ = writeln!(text, "{},{}", name_of(class), probs.join(","));
            }
        }
        Output::Values(values) => {
            text.push_str("prediction\n");
            for value in values {
                let _ = writeln!(text, "{value}");
            }
        }
    }
    text
}

/// Runs `tapegrad predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    set_threads(args.threads)?;
    refuse_inputs("--out", &args.out, &args.model, Some(&args.data))?;
    let (config, network) = load_run(&args.model)?;
    let separator = match &args.separator {
        Some(text) => text.parse::<Separator>().map_err(|e| CliError::invalid("--separator", e))?,
        None => Separator::Auto,
    };
    let target = match &config.source {
        DataSource::File { csv, .. } => Some(csv.target.clone()),
        DataSource::Shipped { name } if name == "wine-quality" => Some(TargetColumn::Name("quality".into())),
        DataSource::Shipped { .. } => None,
    };
    let text = read_text(&args.data)?;
    let mut rows = parse_rows(&text, &args.data, config.model.inputs, separator, target.as_ref())?;
    config.preprocessing.standardizer.transform_features(&mut rows.features)?;
    let output = predict(&network, &config.preprocessing, &rows.features)?;
    write_atomic(&args.out, predictions_csv(&config, &output).as_bytes())?;
    say!("Wrote {} predictions to {}", rows.n_rows, args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, n: usize) -> Result<Rows> {
        parse_rows(text, Path::new("x.csv"), n, Separator::Auto, None)
    }

    #[test]
    fn rows_with_or_without_target_and_header() {
        assert_eq!(parse("1,2\n3,4\n", 2).unwrap(), Rows { features: vec![1.0, 2.0, 3.0, 4.0], n_rows: 2 });
        assert_eq!(parse("a,b,y\n1,2,0\n", 2).unwrap().features, vec![1.0, 2.0]);
        let named = parse_rows(
            "y;a;b\n9;1;2\n",
            Path::new("x"),
            2,
            Separator::Auto,
            Some(&TargetColumn::Name("y".into())),
        );
        assert_eq!(named.unwrap().features, vec![1.0, 2.0]);
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        let err = parse("1,2\n3,x\n", 2).unwrap_err().to_string();
        assert!(err.contains("line 2, column 2") && err.contains("\"x\""), "{err}");
        let err = parse("1,2\n3,NaN\n", 2).unwrap_err().to_string();
        assert!(err.contains("line 2, column 2"), "{err}");
        let err = parse("1,2\n3\n", 2).unwrap_err().to_string();
        assert!(err.contains("line 2: expected 2 fields, found 1"), "{err}");
        assert!(matches!(parse("1,2,3,4\n", 2), Err(CliError::ModelMismatch { .. })));
        assert!(parse("", 2).is_err());
    }
}
