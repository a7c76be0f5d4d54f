//! Numeric CSV: a header line or not, a few separators, a target column chosen by name or index.
//!
//! Every cell must be a finite number; the first wrong cell is reported with its line and
//! column. Quoted fields (`"fixed acidity"`) are unquoted; a quoted field cannot span lines.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::bytes::{maybe_gunzip, read_maybe_gz};
use crate::dataset::{Dataset, Targets, Task};
use crate::error::{Error, Result};

/// Whether the first non-blank line is a header of column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum Header {
    /// A header when none of the first line's fields is a number. A first line mixing
    /// names and numbers is read as data, so a typo in the first row is an error that
    /// names it rather than a row silently dropped.
    #[default]
    Auto,
    /// The first line is a header.
    Present,
    /// There is no header: the first line is data.
    Absent,
}

/// What separates the fields of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum Separator {
    /// Chosen from the first non-blank line: `;` if it has one (files that use `;` usually
    /// do so because `,` is their decimal mark), else tab, else `,`, else whitespace.
    #[default]
    Auto,
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// A tab character.
    Tab,
    /// Any run of spaces and tabs; leading and trailing whitespace is ignored.
    Whitespace,
}

impl FromStr for Separator {
    type Err = String;

    /// Parses `auto`, `comma` or `,`, `semicolon` or `;`, `tab` or a tab, `whitespace` or `space`.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "\t" => return Ok(Separator::Tab),
            "," => return Ok(Separator::Comma),
            ";" => return Ok(Separator::Semicolon),
            _ => {}
        }
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Separator::Auto),
            "comma" => Ok(Separator::Comma),
            "semicolon" => Ok(Separator::Semicolon),
            "tab" | "\\t" => Ok(Separator::Tab),
            "whitespace" | "space" => Ok(Separator::Whitespace),
            _ => Err(format!("separator {text:?}: expected auto, comma, semicolon, tab or whitespace")),
        }
    }
}

/// The column holding the target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TargetColumn {
    /// The column with this header name (exact match first, then case-insensitive).
    Name(String),
    /// The column at this 0-based index; negative counts from the end (`-1` is the last).
    Index(isize),
}

impl Default for TargetColumn {
    /// The last column, where most data sets keep their label.
    fn default() -> Self {
        TargetColumn::Index(-1)
    }
}

impl FromStr for TargetColumn {
    type Err = std::convert::Infallible;

    /// An integer (`3`, `-1`) is an index; anything else is a column name.
    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match text.trim().parse::<isize>() {
            Ok(index) => TargetColumn::Index(index),
            Err(_) => TargetColumn::Name(text.to_string()),
        })
    }
}

impl fmt::Display for TargetColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetColumn::Name(name) => write!(f, "{name:?}"),
            TargetColumn::Index(index) => write!(f, "at index {index}"),
        }
    }
}

/// How to read a numeric CSV file into a [`Dataset`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CsvOptions {
    /// Header line or not.
    pub header: Header,
    /// Field separator.
    pub separator: Separator,
    /// The target column; every other column is a feature.
    pub target: TargetColumn,
    /// Classification (labels must be non-negative integers; they are mapped to `0..k` in
    /// increasing order, and named by their original values) or regression.
    pub task: Task,
}

impl CsvOptions {
    /// Options for `task` with the target column `target`, the header and separator detected.
    pub fn new(target: TargetColumn, task: Task) -> CsvOptions {
        CsvOptions { header: Header::Auto, separator: Separator::Auto, target, task }
    }
}

/// Parses numeric CSV text into a data set named `name`.
///
/// ```
/// use tapegrad_data::{parse_csv, CsvOptions, TargetColumn, Targets, Task};
/// let text = "height;weight;kind\n1.5;60;2\n1.8;80;7\n";
/// let options = CsvOptions::new(TargetColumn::Name("kind".into()), Task::Classification);
/// let data = parse_csv(text, "animals", &options)?;
/// assert_eq!((data.n_samples(), data.n_features()), (2, 2));
/// assert_eq!(data.feature_names(), Some(&["height".to_string(), "weight".to_string()][..]));
/// // Labels 2 and 7 become classes 0 and 1, named after the original values.
/// let Targets::Classes { labels, class_names, .. } = data.targets() else { unreachable!() };
/// assert_eq!(labels, &[0, 1]);
/// assert_eq!(class_names.as_deref(), Some(&["2".to_string(), "7".to_string()][..]));
/// # Ok::<(), tapegrad_data::Error>(())
/// ```
pub fn parse_csv(text: &str, name: &str, options: &CsvOptions) -> Result<Dataset> {
    let table = parse_table(text, 0, options.header, options.separator)?;
    let target = table.resolve_target(&options.target)?;
    let (features, n_features) = table.features(Some(target))?;
    let targets = match options.task {
        Task::Regression => Targets::Values(table.regression_column(target)),
        Task::Classification => table.class_column(target)?,
    };
    let data = Dataset::new(name, features, n_features, targets)?;
    match table.feature_names(Some(target)) {
        Some(names) => data.with_feature_names(names),
        None => Ok(data),
    }
}

/// [`parse_csv`] on raw bytes: gzip-compressed or not (detected by content), UTF-8 text.
pub fn parse_csv_bytes(bytes: &[u8], name: &str, options: &CsvOptions) -> Result<Dataset> {
    let plain = maybe_gunzip(bytes.to_vec())?;
    parse_csv(utf8(&plain)?, name, options)
}

/// Reads the CSV file at `path` (gzip-compressed or not) into a data set named after the
/// file (`winequality-red.csv.gz` gives `winequality-red`). Errors name the file.
pub fn load_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    let text = utf8(&bytes).map_err(|e| e.in_file(path))?;
    parse_csv(text, &file_stem(path), options).map_err(|e| e.in_file(path))
}

/// The file name without `.gz` and then without its extension.
pub(crate) fn file_stem(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => name.to_string(),
    }
}

/// `bytes` as text, or the line of the first invalid byte.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        line: 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count(),
    })
}

/// A parsed table of numbers: every cell finite, every row the same width.
pub(crate) struct Table {
    /// Column names, when there was a header.
    pub(crate) header: Option<Vec<String>>,
    /// Columns per row.
    pub(crate) n_columns: usize,
    /// Cells, row-major, parsed as `f64` so class labels are checked exactly.
    pub(crate) cells: Vec<f64>,
    /// The same cells parsed as `f32` directly: correctly rounded, where going through
    /// `f64` could round twice.
    pub(crate) cells_f32: Vec<f32>,
    /// The 1-based line number of each row, for error messages.
    pub(crate) row_lines: Vec<usize>,
}

/// The separator resolved from [`Separator::Auto`].
#[derive(Clone, Copy)]
enum Split {
    Char(char),
    Whitespace,
}

/// Parses the numeric table in `text`, ignoring its first `skip_lines` lines and blank lines.
pub(crate) fn parse_table(
    text: &str,
    skip_lines: usize,
    header: Header,
    separator: Separator,
) -> Result<Table> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .skip(skip_lines)
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((first_number, first_line)) = lines.next() else {
        return Err(Error::EmptyFile);
    };
    let split = match separator {
        Separator::Auto => detect_separator(first_line),
        Separator::Comma => Split::Char(','),
        Separator::Semicolon => Split::Char(';'),
        Separator::Tab => Split::Char('\t'),
        Separator::Whitespace => Split::Whitespace,
    };
    let mut fields = Vec::new();
    split_fields(first_line, split, &mut fields);
    let n_columns = fields.len();
    let has_header = match header {
        Header::Present => true,
        Header::Absent => false,
        Header::Auto => !fields.iter().any(|f| f.parse::<f64>().is_ok()),
    };
    let mut table =
        Table { header: None, n_columns, cells: Vec::new(), cells_f32: Vec::new(), row_lines: Vec::new() };
    if has_header {
        table.header = Some(fields.iter().map(|f| f.to_string()).collect());
    } else {
        table.push_row(first_number, &fields)?;
    }
    for (number, line) in lines {
        fields.clear();
        split_fields(line, split, &mut fields);
        table.push_row(number, &fields)?;
    }
    if table.row_lines.is_empty() {
        return Err(Error::EmptyFile);
    }
    Ok(table)
}

/// The separator a line most likely uses (see [`Separator::Auto`]).
fn detect_separator(line: &str) -> Split {
    [';', '\t', ','].into_iter().find(|&c| line.contains(c)).map_or(Split::Whitespace, Split::Char)
}

/// Splits `line` into trimmed, unquoted fields, appended to `out`.
fn split_fields<'a>(line: &'a str, split: Split, out: &mut Vec<Cow<'a, str>>) {
    let sep = match split {
        Split::Whitespace => {
            out.extend(line.split_whitespace().map(unquote));
            return;
        }
        Split::Char(sep) => sep,
    };
    // Whitespace around a field is padding, except the separator itself (a tab).
    let pad = |c: char| c.is_whitespace() && c != sep;
    let mut rest = line;
    loop {
        let start = rest.trim_start_matches(pad);
        if let Some(quoted) = start.strip_prefix('"') {
            let (field, after) = read_quoted(quoted);
            out.push(field);
            // Anything between the closing quote and the separator is dropped; a field like
            // `"1"x` is malformed either way, and numbers are checked later.
            match after.find(sep) {
                Some(i) => rest = &after[i + sep.len_utf8()..],
                None => return,
            }
        } else {
            match start.find(sep) {
                Some(i) => {
                    out.push(Cow::Borrowed(start[..i].trim_matches(pad)));
                    rest = &start[i + sep.len_utf8()..];
                }
                None => {
                    out.push(Cow::Borrowed(start.trim_matches(pad)));
                    return;
                }
            }
        }
    }
}

/// Reads a quoted field after its opening quote: the field (with `""` unescaped) and what
/// follows the closing quote. An unclosed quote runs to the end of the line.
fn read_quoted(text: &str) -> (Cow<'_, str>, &str) {
    let mut field = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if let Some(&(_, '"')) = chars.peek() {
                chars.next();
                field.push('"');
            } else {
                return (Cow::Owned(field), &text[i + 1..]);
            }
        } else {
            field.push(c);
        }
    }
    (Cow::Owned(field), "")
}

/// A whitespace-separated token without surrounding quotes.
fn unquote(token: &str) -> Cow<'_, str> {
    let inner = token.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(token);
    Cow::Borrowed(inner)
}

impl Table {
    /// Appends one row, checking its width and that every field is a finite number.
    fn push_row(&mut self, line: usize, fields: &[Cow<'_, str>]) -> Result<()> {
        if fields.len() != self.n_columns {
            return Err(Error::FieldCount { line, expected: self.n_columns, found: fields.len() });
        }
        for (index, field) in fields.iter().enumerate() {
            let column = index + 1;
            let value: f64 =
                field.parse().map_err(|_| Error::NotANumber { line, column, field: field.to_string() })?;
            // A finite f64 can still overflow f32 (1e39): that is no usable number either.
            let narrow: f32 = field.parse().unwrap_or(f32::NAN);
            if !value.is_finite() || !narrow.is_finite() {
                return Err(Error::NonFinite { line, column, field: field.to_string() });
            }
            self.cells.push(value);
            self.cells_f32.push(narrow);
        }
        self.row_lines.push(line);
        Ok(())
    }

    /// The number of rows.
    pub(crate) fn n_rows(&self) -> usize {
        self.row_lines.len()
    }

    /// The 0-based index of the target column.
    pub(crate) fn resolve_target(&self, target: &TargetColumn) -> Result<usize> {
        let unknown = || Error::UnknownTargetColumn {
            target: target.to_string(),
            n_columns: self.n_columns,
            names: self.header.clone().unwrap_or_default(),
        };
        match target {
            TargetColumn::Index(index) => {
                let resolved = if *index < 0 {
                    self.n_columns.checked_sub(index.unsigned_abs())
                } else {
                    Some(index.unsigned_abs()).filter(|&i| i < self.n_columns)
                };
                resolved.ok_or_else(unknown)
            }
            TargetColumn::Name(name) => {
                let Some(header) = &self.header else {
                    return Err(Error::TargetNameWithoutHeader { name: name.clone() });
                };
                let name = name.trim();
                header
                    .iter()
                    .position(|h| h == name)
                    .or_else(|| {
                        let mut matches =
                            header.iter().enumerate().filter(|(_, h)| h.eq_ignore_ascii_case(name));
                        // Case-insensitive only when it picks one column unambiguously.
                        match (matches.next(), matches.next()) {
                            (Some((i, _)), None) => Some(i),
                            _ => None,
                        }
                    })
                    .ok_or_else(unknown)
            }
        }
    }

    /// Every column but `target` as `f32` features, row-major, and their count (an error
    /// when no column is left).
    pub(crate) fn features(&self, target: Option<usize>) -> Result<(Vec<f32>, usize)> {
        let n_features = self.n_columns - usize::from(target.is_some());
        if n_features == 0 {
            return Err(Error::NoFeatures { n_columns: self.n_columns });
        }
        let mut features = Vec::with_capacity(self.n_rows() * n_features);
        for row in self.cells_f32.chunks_exact(self.n_columns) {
            features.extend(
                row.iter().enumerate().filter(|&(index, _)| Some(index) != target).map(|(_, &value)| value),
            );
        }
        Ok((features, n_features))
    }

    /// The header names of every column but `target`.
    pub(crate) fn feature_names(&self, target: Option<usize>) -> Option<Vec<String>> {
        let header = self.header.as_ref()?;
        Some(
            header
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != target)
                .map(|(_, name)| name.clone())
                .collect(),
        )
    }

    /// The values of one column with the line of each.
    fn column(&self, column: usize) -> impl Iterator<Item = (f64, usize)> + '_ {
        self.cells
            .chunks_exact(self.n_columns)
            .map(move |row| row[column])
            .zip(self.row_lines.iter().copied())
    }

    /// Column `column` as regression targets.
    pub(crate) fn regression_column(&self, column: usize) -> Vec<f32> {
        self.cells_f32.chunks_exact(self.n_columns).map(|row| row[column]).collect()
    }

    /// Column `column` as class labels: non-negative integers, mapped in increasing order
    /// to `0..k` and named by their original values.
    pub(crate) fn class_column(&self, column: usize) -> Result<Targets> {
        let raw: Vec<u64> =
            self.column(column).map(|(value, line)| class_label(value, line)).collect::<Result<_>>()?;
        let mut distinct = raw.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let labels = raw.iter().map(|label| distinct.partition_point(|d| d < label)).collect();
        Ok(Targets::Classes {
            labels,
            n_classes: distinct.len(),
            class_names: Some(distinct.iter().map(|d| d.to_string()).collect()),
        })
    }

    /// Column `column` as class indices that must already be `0..n_classes`.
    pub(crate) fn class_indices(&self, column: usize, n_classes: usize) -> Result<Vec<usize>> {
        self.column(column)
            .enumerate()
            .map(|(sample, (value, line))| {
                let label = class_label(value, line)?;
                usize::try_from(label).ok().filter(|&l| l < n_classes).ok_or(Error::LabelOutOfRange {
                    op: "reading class labels",
                    sample,
                    label: usize::try_from(label).unwrap_or(usize::MAX),
                    n_classes,
                })
            })
            .collect()
    }
}

/// The largest integer every `f64` below it represents exactly (2^53).
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A class label: a finite value that is a non-negative integer.
fn class_label(value: f64, line: usize) -> Result<u64> {
    if value < 0.0 {
        return Err(Error::NegativeLabel { line, value });
    }
    if value.fract() != 0.0 || value > MAX_EXACT_INTEGER {
        return Err(Error::NonIntegerLabel { line, value });
    }
    // Exact: a non-negative integer no larger than 2^53.
    Ok(value as u64)
}
