//! Per-unit rows from files (CSV, JSONL, Parquet) or a PostgreSQL query, streamed one
//! row at a time into a [`RowSink`]: nothing keeps the rows, so memory does not grow with
//! their number.
//!
//! Every source resolves the wanted columns once, from its header or schema, and hands
//! the sink the variant, the numeric values in the asked order (None = empty/null), the
//! unit's exposure day (when a time column is named), and a way to name the row in an
//! error message (`file:line` or `row N`).

use crate::Error;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use assay_core::redact_url;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The columns a source must deliver.
#[derive(Clone, Debug)]
pub struct Columns {
    pub variant: String,
    pub values: Vec<String>,
    pub time: Option<String>,
    /// A segment column (country, platform): each row's variant reaches the sink as
    /// `segment` [`SEGMENT_SEPARATOR`] `variant`, for [`SegmentSink`] to split.
    pub segment: Option<String>,
}

/// Between a row's segment and its variant in the key a source hands on when a segment
/// column is read (a control character no dashboard writes into a name).
pub const SEGMENT_SEPARATOR: char = '\u{1f}';

/// Most distinct values a segment column may have: per-segment analyses of thousands of
/// slices would be noise, and each is a pass over the data.
pub const MAX_SEGMENTS: usize = 100;

/// Splits the keys a source makes when a segment column is read: hands each row on
/// with its variant alone, keeping only the rows of segment `only` when it is given,
/// and notes every segment seen (in order of first appearance).
pub struct SegmentSink<S> {
    pub inner: S,
    pub only: Option<String>,
    pub seen: Vec<String>,
    /// Rows handed on.
    pub forwarded: u64,
    column: String,
}

impl<S> SegmentSink<S> {
    pub fn new(inner: S, column: &str, only: Option<String>) -> Self {
        SegmentSink {
            inner,
            only,
            seen: Vec::new(),
            forwarded: 0,
            column: column.to_owned(),
        }
    }

    fn note(&mut self, segment: &str) -> Result<(), Error> {
        if !self.seen.iter().any(|s| s == segment) {
            if self.seen.len() == MAX_SEGMENTS {
                return Err(Error::Input(format!(
                    "the segment column `{}` has more than {MAX_SEGMENTS} values: segment by a coarser column",
                    self.column
                )));
            }
            self.seen.push(segment.to_owned());
        }
        Ok(())
    }
}

pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.split_once(SEGMENT_SEPARATOR).unwrap_or(("", key))
}

impl<S: RowSink> RowSink for SegmentSink<S> {
    fn row(
        &mut self,
        key: &str,
        values: &[Option<f64>],
        day: Option<i64>,
        at: &dyn Locate,
    ) -> Result<(), Error> {
        let (segment, variant) = split_key(key);
        self.note(segment)?;
        if self.only.as_deref().is_some_and(|o| o != segment) {
            return Ok(());
        }
        self.forwarded += 1;
        self.inner.row(variant, values, day, at)
    }

    fn batch(&mut self, b: &Batch<'_>) -> Result<(), Error> {
        let parts: Vec<(String, String)> = b
            .names
            .iter()
            .map(|n| {
                let (s, v) = split_key(n);
                (s.to_owned(), v.to_owned())
            })
            .collect();
        for (segment, _) in &parts {
            self.note(segment)?;
        }
        let variants: Vec<String> = parts.iter().map(|(_, v)| v.clone()).collect();
        let keep: Vec<bool> = parts
            .iter()
            .map(|(s, _)| self.only.as_deref().is_none_or(|o| o == s))
            .collect();
        let rows: Vec<usize> = (0..b.arms.len())
            .filter(|&i| keep[b.arms[i] as usize])
            .collect();
        self.forwarded += rows.len() as u64;
        if rows.len() == b.arms.len() {
            return self.inner.batch(&Batch {
                names: &variants,
                ..*b
            });
        }
        // Only this segment's rows, copied: a segment pass is a pass of its own.
        let arms: Vec<u32> = rows.iter().map(|&i| b.arms[i]).collect();
        let values: Vec<Column> = b
            .values
            .iter()
            .map(|c| Column {
                values: rows.iter().map(|&i| c.values[i]).collect(),
                nulls: c
                    .nulls
                    .as_ref()
                    .map(|n| rows.iter().map(|&i| n[i]).collect()),
            })
            .collect();
        let days: Option<Vec<Option<i64>>> = b.days.map(|d| rows.iter().map(|&i| d[i]).collect());
        self.inner.batch(&Batch {
            names: &variants,
            arms: &arms,
            values: &values,
            days: days.as_deref(),
            first_row: b.first_row,
            origin: b.origin,
        })
    }
}

impl<S: Split> Split for SegmentSink<S> {
    fn part(&self) -> Self {
        SegmentSink {
            inner: self.inner.part(),
            only: self.only.clone(),
            seen: Vec::new(),
            forwarded: 0,
            column: self.column.clone(),
        }
    }

    fn join(&mut self, part: Self) {
        self.inner.join(part.inner);
        for s in part.seen {
            if !self.seen.contains(&s) {
                self.seen.push(s);
            }
        }
        self.forwarded += part.forwarded;
    }
}

/// Where a row came from, for messages.
pub trait Locate {
    fn locate(&self) -> String;
}

impl<F: Fn() -> String> Locate for F {
    fn locate(&self) -> String {
        self()
    }
}

pub trait RowSink {
    fn row(
        &mut self,
        variant: &str,
        values: &[Option<f64>],
        day: Option<i64>,
        at: &dyn Locate,
    ) -> Result<(), Error>;

    /// Many rows at once, column by column (from columnar sources). The default hands
    /// them to [`RowSink::row`] one by one; sinks may fold whole columns instead.
    fn batch(&mut self, batch: &Batch<'_>) -> Result<(), Error> {
        rows_one_by_one(self, batch)
    }
}

/// A sink that can be split into parts filled on other threads and joined back: the
/// Parquet reader folds each row group on a worker and joins the parts in file order.
pub trait Split: RowSink + Send + Sized {
    /// An empty sink with the same settings.
    fn part(&self) -> Self;
    /// Adds a part's rows, as if they had come after this sink's own.
    fn join(&mut self, part: Self);
}

/// Hands a batch's rows to [`RowSink::row`], one by one.
pub fn rows_one_by_one<S: RowSink + ?Sized>(sink: &mut S, batch: &Batch<'_>) -> Result<(), Error> {
    let mut values = vec![None; batch.values.len()];
    for i in 0..batch.arms.len() {
        for (v, col) in values.iter_mut().zip(batch.values) {
            *v = col.get(i);
        }
        let row = batch.first_row + i as u64 + 1;
        let at = || format!("{}: row {row}", batch.origin);
        let day = batch.days.and_then(|d| d[i]);
        sink.row(&batch.names[batch.arms[i] as usize], &values, day, &at)?;
    }
    Ok(())
}

/// A column of a batch: dense values, and which are null (None when none is).
pub struct Column {
    pub values: Vec<f64>,
    pub nulls: Option<Vec<bool>>,
}

impl Column {
    #[inline]
    pub fn get(&self, i: usize) -> Option<f64> {
        match &self.nulls {
            Some(n) if n[i] => None,
            _ => Some(self.values[i]),
        }
    }
}

/// Rows of a columnar source: each row's variant as an index into `names`, then the
/// wanted columns in order.
pub struct Batch<'a> {
    pub names: &'a [String],
    pub arms: &'a [u32],
    pub values: &'a [Column],
    pub days: Option<&'a [Option<i64>]>,
    /// Rows before this batch, for messages.
    pub first_row: u64,
    pub origin: &'a str,
}

/// The environment variable holding the PostgreSQL connection string of SQL sources
/// (`assay ab analyze --sql`, a pipeline's `ab` stage), never printed.
pub const DATABASE_URL_VARIABLE: &str = "ASSAY_AB_DATABASE_URL";

/// A data source of per-unit rows.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    /// A PostgreSQL connection string and a query; the URL is never printed (it may hold
    /// a password), only `host/database`.
    Postgres {
        url: String,
        query: String,
    },
}

impl Source {
    /// A short description for reports, free of credentials.
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Postgres { url, .. } => redact_url(url),
        }
    }

    /// Streams the rows into `sink`; columnar files are decoded by up to `threads`
    /// workers (results do not depend on it).
    pub fn stream<S: Split>(
        &self,
        cols: &Columns,
        sink: &mut S,
        threads: usize,
    ) -> Result<u64, Error> {
        match self {
            Source::File(path) => match extension(path).as_str() {
                "parquet" | "pq" => read_parquet(path, cols, sink, threads),
                "jsonl" | "ndjson" | "json" => read_jsonl(path, cols, sink),
                "csv" | "tsv" | "txt" => {
                    let file = File::open(path).map_err(|e| Error::io(path, e))?;
                    let delimiter = if extension(path) == "tsv" {
                        b'\t'
                    } else {
                        b','
                    };
                    read_csv(file, delimiter, &path.display().to_string(), cols, sink)
                }
                other => Err(Error::Input(format!(
                    "{}: unknown file type `.{other}`: use .csv, .tsv, .jsonl or .parquet",
                    path.display()
                ))),
            },
            Source::Postgres { url, query } => read_postgres(url, query, cols, sink),
        }
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn parse_number(text: &str) -> Result<Option<f64>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("null") || t.eq_ignore_ascii_case("na") {
        return Ok(None);
    }
    match t {
        "true" | "TRUE" | "True" | "t" => return Ok(Some(1.0)),
        "false" | "FALSE" | "False" | "f" => return Ok(Some(0.0)),
        _ => {}
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        Ok(_) => Err(format!("`{t}` is not a finite number")),
        Err(_) => Err(format!("`{t}` is not a number")),
    }
}

/// The UTC day number (days since 1970-01-01) of a timestamp written as RFC 3339,
/// PostgreSQL's text form (`2026-01-05 10:00:00+00`), a date, or Unix seconds.
pub fn parse_day(text: &str) -> Result<Option<i64>, String> {
    use time::format_description::well_known::Rfc3339;
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Ok(Some((secs / 86_400.0).floor() as i64));
    }
    let mut s = t.replacen(' ', "T", 1);
    if s.len() == 10 {
        s.push_str("T00:00:00Z");
    }
    // PostgreSQL writes offsets as +00 or +05:30; RFC 3339 wants +00:00 and a zone.
    let tail = s.get(19..).unwrap_or("");
    if !tail.contains(['Z', 'z', '+', '-']) {
        s.push('Z');
    } else if let Some(pos) = s.get(19..).and_then(|r| r.rfind(['+', '-'])) {
        let at = 19 + pos;
        if s.len() - at == 3 {
            s.push_str(":00");
        }
    }
    match time::OffsetDateTime::parse(&s, &Rfc3339) {
        Ok(dt) => Ok(Some(dt.unix_timestamp().div_euclid(86_400))),
        Err(_) => Err(format!(
            "`{t}` is not a timestamp (RFC 3339, `YYYY-MM-DD[ HH:MM:SS[+TZ]]` or Unix seconds)"
        )),
    }
}

fn missing_columns(origin: &str, wanted: &Columns, have: &[String]) -> Result<(), Error> {
    let mut all = vec![wanted.variant.clone()];
    all.extend(wanted.values.iter().cloned());
    all.extend(wanted.time.iter().cloned());
    all.extend(wanted.segment.iter().cloned());
    for c in all {
        if !have.contains(&c) {
            return Err(Error::Input(format!(
                "{origin}: no column `{c}`; the columns are: {}",
                have.join(", ")
            )));
        }
    }
    Ok(())
}

/// CSV (or any delimited text with a header) from a reader.
pub fn read_csv(
    reader: impl Read,
    delimiter: u8,
    origin: &str,
    cols: &Columns,
    sink: &mut dyn RowSink,
) -> Result<u64, Error> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(BufReader::with_capacity(1 << 20, reader));
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::Input(format!("{origin}: {e}")))?
        .iter()
        // Spreadsheet exports often start with a byte-order mark.
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    refuse_repeated_columns(origin, header.iter().map(String::as_str))?;
    missing_columns(origin, cols, &header)?;
    let pos = |name: &str| header.iter().position(|h| h == name).unwrap();
    let variant = pos(&cols.variant);
    let segment = cols.segment.as_deref().map(pos);
    let mut key = String::new();
    let idx: Vec<usize> = cols.values.iter().map(|c| pos(c)).collect();
    let time = cols.time.as_deref().map(pos);
    let mut record = csv::ByteRecord::new();
    let mut values = vec![None; idx.len()];
    let mut rows = 0u64;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(Error::Input(format!("{origin}: {e}"))),
        }
        let line = record.position().map_or(0, |p| p.line());
        let at = || format!("{origin}:{line}");
        let field = |i: usize| -> Result<&str, Error> {
            std::str::from_utf8(record.get(i).unwrap_or(b""))
                .map_err(|_| Error::Input(format!("{}: not UTF-8 text", at())))
        };
        for (v, (&i, name)) in values.iter_mut().zip(idx.iter().zip(&cols.values)) {
            *v = parse_number(field(i)?)
                .map_err(|m| Error::Input(format!("{}: column `{name}`: {m}", at())))?;
        }
        let day = match time {
            Some(t) => parse_day(field(t)?).map_err(|m| {
                Error::Input(format!(
                    "{}: column `{}`: {m}",
                    at(),
                    cols.time.as_deref().unwrap_or("")
                ))
            })?,
            None => None,
        };
        match segment {
            Some(g) => {
                key.clear();
                key.push_str(field(g)?.trim());
                key.push(SEGMENT_SEPARATOR);
                key.push_str(field(variant)?.trim());
                sink.row(&key, &values, day, &at)?;
            }
            None => sink.row(field(variant)?.trim(), &values, day, &at)?,
        }
        rows += 1;
    }
    Ok(rows)
}

fn read_jsonl(path: &Path, cols: &Columns, sink: &mut dyn RowSink) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let origin = path.display().to_string();
    let mut values = vec![None; cols.values.len()];
    let mut rows = 0u64;
    for (k, line) in BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let at = || format!("{origin}:{}", k + 1);
        if line.trim().is_empty() {
            continue;
        }
        let obj = assay_core::input::parse_strict_object(&line)
            .map_err(|e| Error::Input(format!("{}: not a JSON object: {e}", at())))?;
        let text = |name: &str, role: &str| match obj.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(Error::Input(format!(
                "{}: no field `{name}` (the {role})",
                at()
            ))),
        };
        let variant = match &cols.segment {
            Some(g) => format!(
                "{}{SEGMENT_SEPARATOR}{}",
                text(g, "segment")?,
                text(&cols.variant, "variant")?
            ),
            None => text(&cols.variant, "variant")?,
        };
        for (v, name) in values.iter_mut().zip(&cols.values) {
            *v = match obj.get(name) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::Bool(b)) => Some(f64::from(u8::from(*b))),
                Some(other) => {
                    return Err(Error::Input(format!(
                        "{}: field `{name}`: {other} is not a number",
                        at()
                    )));
                }
            };
        }
        let day = match &cols.time {
            Some(t) => match obj.get(t) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Number(n)) => {
                    Some((n.as_f64().unwrap_or(0.0) / 86_400.0).floor() as i64)
                }
                Some(serde_json::Value::String(s)) => {
                    parse_day(s).map_err(|m| Error::Input(format!("{}: field `{t}`: {m}", at())))?
                }
                Some(other) => {
                    return Err(Error::Input(format!(
                        "{}: field `{t}`: {other} is not a timestamp",
                        at()
                    )));
                }
            },
            None => None,
        };
        sink.row(&variant, &values, day, &at)?;
        rows += 1;
    }
    Ok(rows)
}

/// A Parquet column as f64 values with a null mask, or why it can't be.
fn numeric(array: &ArrayRef, name: &str, origin: &str) -> Result<Column, Error> {
    let mut c = Column {
        values: Vec::new(),
        nulls: None,
    };
    numeric_into(array, name, origin, &mut c)?;
    Ok(c)
}

/// [`numeric`] into a column whose buffers are reused from batch to batch (fresh
/// half-megabyte buffers per batch cost more in page faults than the decoding itself).
fn numeric_into(array: &ArrayRef, name: &str, origin: &str, out: &mut Column) -> Result<(), Error> {
    let values = &mut out.values;
    values.clear();
    macro_rules! prim {
        ($t:ty) => {
            values.extend(
                array
                    .as_primitive::<$t>()
                    .values()
                    .iter()
                    .map(|&x| x as f64),
            )
        };
    }
    match array.data_type() {
        DataType::Float64 => values.extend_from_slice(array.as_primitive::<Float64Type>().values()),
        DataType::Float32 => prim!(Float32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int8 => prim!(Int8Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::Boolean => values.extend(
            array
                .as_boolean()
                .values()
                .iter()
                .map(|b| f64::from(u8::from(b))),
        ),
        other => {
            return Err(Error::Input(format!(
                "{origin}: column `{name}` has type {other}, not a number"
            )));
        }
    };
    out.nulls = array
        .logical_nulls()
        .filter(|n| n.null_count() > 0)
        .map(|n| n.iter().map(|valid| !valid).collect());
    Ok(())
}

fn texts(array: &ArrayRef, name: &str, origin: &str) -> Result<Vec<Option<String>>, Error> {
    Ok(match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let values = texts(dict.values(), name, origin)?;
            let keys = dict.normalized_keys();
            (0..array.len())
                .map(|i| {
                    if array.is_null(i) {
                        None
                    } else {
                        values[keys[i]].clone()
                    }
                })
                .collect()
        }
        _ => {
            let c = numeric(array, name, origin)?;
            (0..array.len())
                .map(|i| c.get(i).map(|x| x.to_string()))
                .collect()
        }
    })
}

fn days(array: &ArrayRef, name: &str, origin: &str) -> Result<Vec<Option<i64>>, Error> {
    let secs = |v: Option<i64>, per_second: i64| v.map(|x| x.div_euclid(per_second * 86_400));
    Ok(match array.data_type() {
        DataType::Timestamp(unit, _) => {
            let per = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            macro_rules! ts {
                ($t:ty) => {
                    array
                        .as_primitive::<$t>()
                        .iter()
                        .map(|v| secs(v, per))
                        .collect()
                };
            }
            match unit {
                TimeUnit::Second => ts!(TimestampSecondType),
                TimeUnit::Millisecond => ts!(TimestampMillisecondType),
                TimeUnit::Microsecond => ts!(TimestampMicrosecondType),
                TimeUnit::Nanosecond => ts!(TimestampNanosecondType),
            }
        }
        DataType::Date32 => array
            .as_primitive::<Date32Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Date64 => array
            .as_primitive::<Date64Type>()
            .iter()
            .map(|v| secs(v, 1_000))
            .collect(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let mut out = Vec::with_capacity(array.len());
            for (i, t) in texts(array, name, origin)?.into_iter().enumerate() {
                out.push(match t {
                    Some(t) => parse_day(&t).map_err(|m| {
                        Error::Input(format!("{origin}: row {}: column `{name}`: {m}", i + 1))
                    })?,
                    None => None,
                });
            }
            out
        }
        _ => {
            let c = numeric(array, name, origin)?;
            (0..array.len())
                .map(|i| c.get(i).map(|x| (x / 86_400.0).floor() as i64))
                .collect()
        }
    })
}

/// The position of `name` in `names`, appended when new (the lists are a few variants or
/// metrics long).
pub(crate) fn intern(names: &mut Vec<String>, name: &str) -> usize {
    match names.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            names.push(name.to_owned());
            names.len() - 1
        }
    }
}

/// Each row's variant as an index into `names`, which grows as new values appear:
/// dictionary arrays map their few values once, string arrays compare bytes with the
/// names seen so far, so no string is allocated per row.
fn variant_indices(
    array: &ArrayRef,
    names: &mut Vec<String>,
    column: &str,
    origin: &str,
    first_row: u64,
) -> Result<Vec<u32>, Error> {
    let mut index = |text: Option<&str>, row: usize| -> Result<u32, Error> {
        let Some(t) = text else {
            return Err(Error::Input(format!(
                "{origin}: row {}: the column `{column}` is null (each unit needs its value)",
                first_row + row as u64 + 1
            )));
        };
        Ok(intern(names, t) as u32)
    };
    let mut out = Vec::with_capacity(array.len());
    macro_rules! strings {
        ($iter:expr) => {{
            let (mut last, mut last_index): (Option<&str>, u32) = (None, 0);
            for (row, t) in $iter.enumerate() {
                if t.is_none() || t != last {
                    last_index = index(t, row)?;
                    last = t;
                }
                out.push(last_index);
            }
        }};
    }
    match array.data_type() {
        DataType::Utf8 => strings!(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => strings!(array.as_string::<i64>().iter()),
        DataType::Utf8View => strings!(array.as_string_view().iter()),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let values = texts(dict.values(), column, origin)?;
            let mapped: Vec<Option<u32>> = values
                .iter()
                .map(|v| v.as_deref().map(|t| index(Some(t), 0)).transpose())
                .collect::<Result<_, _>>()?;
            let keys = dict.normalized_keys();
            let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
            for (row, &k) in keys.iter().enumerate() {
                let null = nulls.as_ref().is_some_and(|n| n.is_null(row));
                match (null, mapped[k]) {
                    (false, Some(i)) => out.push(i),
                    _ => {
                        index(None, row)?;
                    }
                }
            }
        }
        _ => {
            let t = texts(array, column, origin)?;
            strings!(t.iter().map(|s| s.as_deref()))
        }
    }
    Ok(out)
}

/// Reads Parquet with its row groups folded in parallel: worker w takes groups w, w + W,
/// ..., folds each into its own part of the sink, and the parts are joined strictly in
/// file order, so results do not depend on the thread count or timing; memory is bounded
/// by a batch (64 Ki rows) and a few parts per worker, whatever the file's size.
fn read_parquet<S: Split>(
    path: &Path,
    cols: &Columns,
    sink: &mut S,
    threads: usize,
) -> Result<u64, Error> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::{
        ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    };
    use std::sync::mpsc;
    let origin = path.display().to_string();
    let perr = |e: parquet::errors::ParquetError| Error::Input(format!("{origin}: {e}"));
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(perr)?;
    // Read a string variant column as a dictionary: Parquet writers dictionary-encode such
    // low-cardinality columns, and keeping the codes skips making a string per row.
    let hinted: Vec<arrow_schema::Field> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let key = f.name() == &cols.variant || cols.segment.as_ref() == Some(f.name());
            if key && matches!(f.data_type(), DataType::Utf8) {
                f.as_ref().clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ))
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let hint = std::sync::Arc::new(arrow_schema::Schema::new(hinted));
    if let Ok(m) = ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hint),
    ) {
        meta = m;
    }
    let have: Vec<String> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    refuse_repeated_columns(&origin, have.iter().map(String::as_str))?;
    missing_columns(&origin, cols, &have)?;
    let mut wanted = vec![cols.variant.clone()];
    wanted.extend(cols.values.iter().cloned());
    wanted.extend(cols.time.iter().cloned());
    wanted.extend(cols.segment.iter().cloned());
    let roots: Vec<usize> = have
        .iter()
        .enumerate()
        .filter(|(_, h)| wanted.contains(h))
        .map(|(i, _)| i)
        .collect();
    // The footer's claims are checked before the decoder trusts them (it asserts on
    // negative offsets and sizes): every column chunk must lie inside the file.
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    for (g, group) in meta.metadata().row_groups().iter().enumerate() {
        if group.num_rows() < 0 {
            return Err(Error::Input(format!(
                "{origin}: row group {g} declares {} rows: the file is damaged",
                group.num_rows()
            )));
        }
        for col in group.columns() {
            let start = col
                .dictionary_page_offset()
                .unwrap_or(col.data_page_offset());
            let len = col.compressed_size();
            let inside = start >= 0
                && len >= 0
                && (start as u64)
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= file_len);
            if !inside {
                return Err(Error::Input(format!(
                    "{origin}: row group {g}, column `{}`: the footer places it at bytes \
                     {start}..{start}+{len}, outside the file ({file_len} bytes): the file \
                     is damaged",
                    col.column_path()
                )));
            }
        }
    }
    let groups: Vec<u64> = meta
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as u64)
        .collect();
    let starts: Vec<u64> = groups
        .iter()
        .scan(0u64, |acc, n| {
            let s = *acc;
            *acc += n;
            Some(s)
        })
        .collect();
    let workers = threads.max(1).min(groups.len().max(1));
    // Rows decoded from a row group, which must be what the footer declares: a footer
    // claiming more rows than the pages hold is a damaged file, not a larger experiment.
    let fold = |group: usize, part: &mut S| -> Result<u64, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.clone());
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![group])
            .with_batch_size(64 * 1024)
            .build()
            .map_err(perr)?;
        let mut rows = starts[group];
        let mut names: Vec<String> = Vec::new();
        // With a segment column: each (segment, variant) pair is one name.
        let (mut segment_names, mut variant_names) = (Vec::new(), Vec::new());
        let mut pairs: std::collections::HashMap<(u32, u32), u32> = Default::default();
        let mut values: Vec<Column> = cols
            .values
            .iter()
            .map(|_| Column {
                values: Vec::new(),
                nulls: None,
            })
            .collect();
        for batch in reader {
            let batch = batch.map_err(|e| Error::Input(format!("{origin}: {e}")))?;
            let column = |name: &str| batch.column_by_name(name).expect("projected").clone();
            let arms = match &cols.segment {
                None => variant_indices(
                    &column(&cols.variant),
                    &mut names,
                    &cols.variant,
                    &origin,
                    rows,
                )?,
                Some(g) => {
                    let segments =
                        variant_indices(&column(g), &mut segment_names, g, &origin, rows)?;
                    let variants = variant_indices(
                        &column(&cols.variant),
                        &mut variant_names,
                        &cols.variant,
                        &origin,
                        rows,
                    )?;
                    segments
                        .iter()
                        .zip(&variants)
                        .map(|(&s, &v)| {
                            *pairs.entry((s, v)).or_insert_with(|| {
                                names.push(format!(
                                    "{}{SEGMENT_SEPARATOR}{}",
                                    segment_names[s as usize], variant_names[v as usize]
                                ));
                                (names.len() - 1) as u32
                            })
                        })
                        .collect()
                }
            };
            for (buffer, c) in values.iter_mut().zip(&cols.values) {
                numeric_into(&column(c), c, &origin, buffer)?;
            }
            for (c, name) in values.iter().zip(&cols.values) {
                if let Some(k) = c.values.iter().position(|x| !x.is_finite()) {
                    return Err(Error::Input(format!(
                        "{origin}: row {}: column `{name}`: not a finite number",
                        rows + k as u64 + 1
                    )));
                }
            }
            let days = match &cols.time {
                Some(t) => Some(days(&column(t), t, &origin)?),
                None => None,
            };
            part.batch(&Batch {
                names: &names,
                arms: &arms,
                values: &values,
                days: days.as_deref(),
                first_row: rows,
                origin: &origin,
            })?;
            rows += batch.num_rows() as u64;
        }
        let decoded = rows - starts[group];
        if decoded != groups[group] {
            return Err(Error::Input(format!(
                "{origin}: row group {group} declares {} rows in the file's footer but holds \
                 {decoded}: the file is damaged",
                groups[group]
            )));
        }
        Ok(decoded)
    };
    let templates: Vec<S> = (0..workers).map(|_| sink.part()).collect();
    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        for (w, template) in templates.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Result<(S, u64), Error>>(1);
            receivers.push(rx);
            let fold = &fold;
            let origin = &origin;
            let n_groups = groups.len();
            scope.spawn(move || {
                for g in (w..n_groups).step_by(workers) {
                    let mut part = template.part();
                    // The decoder may still assert on a damaged page; that is the file's
                    // fault, reported as such, not a crash.
                    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fold(g, &mut part)
                    }));
                    let done = match decoded {
                        Ok(r) => r.map(|n| (part, n)),
                        Err(_) => Err(Error::Input(format!(
                            "{origin}: row group {g} is damaged (the Parquet decoder failed on it)"
                        ))),
                    };
                    let failed = done.is_err();
                    // A closed channel means the reader stopped on an error elsewhere.
                    if tx.send(done).is_err() || failed {
                        return;
                    }
                }
            });
        }
        let mut total = 0u64;
        for g in 0..groups.len() {
            match receivers[g % workers].recv() {
                Ok(Ok((part, n))) => {
                    sink.join(part);
                    total += n;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(Error::Input(format!("{origin}: a decoding thread stopped")));
                }
            }
        }
        Ok(total)
    })
}

pub(crate) fn refuse_repeated_columns<'a>(
    origin: &str,
    header: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    match assay_core::input::repeated_column(header) {
        Some((name, first, again)) => Err(Error::Input(format!(
            "{origin}: the column `{name}` appears twice (columns {first} and {again})"
        ))),
        None => Ok(()),
    }
}

/// The server's own words (message, detail, hint), which `postgres::Error`'s Display
/// leaves out; the client side's error otherwise, with its cause.
fn pg_message(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Streams a query's result through `COPY (query) TO STDOUT` as CSV: rows arrive as the
/// server produces them (no client-side buffering of the result), and every column type
/// (numeric, timestamps, booleans) comes as text that the CSV path already parses.
fn read_postgres(
    url: &str,
    query: &str,
    cols: &Columns,
    sink: &mut dyn RowSink,
) -> Result<u64, Error> {
    let origin = format!("query on {}", redact_url(url));
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| {
        Error::Input(format!(
            "cannot connect to {}: {}",
            redact_url(url),
            pg_message(&e)
        ))
    })?;
    let q = query.trim().trim_end_matches(';');
    let copy = format!("COPY ({q}) TO STDOUT WITH (FORMAT csv, HEADER true)");
    let reader = client
        .copy_out(copy.as_str())
        .map_err(|e| Error::Input(format!("{origin}: {}", pg_message(&e))))?;
    // CSV line numbers count the header as line 1, so row N of the result is line N + 1.
    read_csv(reader, b',', &origin, cols, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_the_timestamp_forms_in_use() {
        let d = parse_day("2026-01-05").unwrap().unwrap();
        assert_eq!(d, 20458);
        for t in [
            "2026-01-05T23:59:59Z",
            "2026-01-05 10:00:00+00",
            "2026-01-05 10:00:00.123456+00",
            "2026-01-06T01:00:00+05:00",
            "2026-01-05 10:00:00",
            "1767571200",
        ] {
            assert_eq!(parse_day(t).unwrap(), Some(d), "{t}");
        }
        assert!(parse_day("yesterday").is_err());
    }
}
