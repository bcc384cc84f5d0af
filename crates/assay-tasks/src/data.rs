//! Reading data files into rows (JSON objects), each with the line it started on so that
//! errors can point at it.

use crate::spec::DataFormat;
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One data row and where it came from.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line of the file where the row starts (for a JSON array: the item number).
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// What a results file records about a data file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    pub path: PathBuf,
    pub sha256: String,
    pub rows: usize,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

use assay_rundir::sha256_hex as hash;

fn row_error(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// Reads a whole data file, returning its rows and its fingerprint.
pub fn read_rows(
    path: &Path,
    format: DataFormat,
    columns: &[String],
    labels: Option<&Path>,
) -> Result<(Vec<Row>, Vec<DataFile>)> {
    let bytes = read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        row_error(path, line, "the file is not valid UTF-8")
    })?;
    // A byte-order mark is not data (TruthfulQA's CSV starts with one).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = match format {
        DataFormat::Jsonl => jsonl(path, text)?,
        DataFormat::Json => json_array(path, text)?,
        DataFormat::Csv => csv_rows(path, text, columns)?,
        DataFormat::HellaswagText => hellaswag_text(path, text)?,
        DataFormat::Lines => lines(text),
    };
    let mut files = vec![DataFile {
        path: path.to_owned(),
        sha256: hash(&bytes),
        rows: rows.len(),
    }];
    if let Some(labels_path) = labels {
        let label_bytes = read(labels_path)?;
        let label_text = String::from_utf8_lossy(&label_bytes);
        let labels: Vec<&str> = label_text.lines().collect();
        if labels.len() != rows.len() {
            return Err(row_error(
                labels_path,
                labels.len().min(rows.len()) + 1,
                format!(
                    "{} labels for {} rows of `{}`",
                    labels.len(),
                    rows.len(),
                    path.display()
                ),
            ));
        }
        for (row, label) in rows.iter_mut().zip(labels) {
            row.fields
                .insert("label".into(), Value::String(label.trim().into()));
        }
        files.push(DataFile {
            path: labels_path.to_owned(),
            sha256: hash(&label_bytes),
            rows: rows.len(),
        });
    }
    Ok((rows, files))
}

fn object(path: &Path, line: usize, value: Value) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(row_error(
            path,
            line,
            format!(
                "expected a JSON object, found {}",
                assay_core::input::json_kind(&other)
            ),
        )),
    }
}

fn jsonl(path: &Path, text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = assay_core::input::parse_strict(line)
            .map_err(|e| row_error(path, i + 1, format!("invalid JSON: {e}")))?;
        rows.push(Row {
            line: i + 1,
            fields: object(path, i + 1, value)?,
        });
    }
    Ok(rows)
}

/// One item per non-blank line, as field `text` (ToxiGen's prompt files).
fn lines(text: &str) -> Vec<Row> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let mut fields = Map::new();
            fields.insert("text".into(), Value::String(l.to_owned()));
            Row {
                line: i + 1,
                fields,
            }
        })
        .collect()
}

fn json_array(path: &Path, text: &str) -> Result<Vec<Row>> {
    let value = assay_core::input::parse_strict(text)
        .map_err(|e| row_error(path, e.line(), format!("invalid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(row_error(path, 1, "expected a JSON array of objects"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Ok(Row {
                line: i + 1,
                fields: object(path, i + 1, v)?,
            })
        })
        .collect()
}

fn csv_rows(path: &Path, text: &str, columns: &[String]) -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(columns.is_empty())
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = if columns.is_empty() {
        reader
            .headers()
            .map_err(|e| row_error(path, 1, format!("invalid CSV header: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect()
    } else {
        columns.to_vec()
    };
    if let Some((name, first, again)) =
        assay_core::input::repeated_column(header.iter().map(String::as_str))
    {
        return Err(row_error(
            path,
            1,
            format!("the column `{name}` appears twice (columns {first} and {again})"),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            row_error(path, line, format!("invalid CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != header.len() {
            return Err(row_error(
                path,
                line,
                format!(
                    "{} fields, expected {} ({})",
                    record.len(),
                    header.len(),
                    header.join(", ")
                ),
            ));
        }
        let fields = header
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.clone(), Value::String(v.to_owned())))
            .collect();
        rows.push(Row { line, fields });
    }
    Ok(rows)
}

/// Six lines per item: `activity: context`, the gold index, then four endings.
fn hellaswag_text(path: &Path, text: &str) -> Result<Vec<Row>> {
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(6) {
        return Err(row_error(
            path,
            lines.len() - lines.len() % 6 + 1,
            format!(
                "{} lines is not a whole number of 6-line items",
                lines.len()
            ),
        ));
    }
    lines
        .chunks(6)
        .enumerate()
        .map(|(i, item)| {
            let line = i * 6 + 1;
            let label: usize = item[1].trim().parse().map_err(|_| {
                row_error(
                    path,
                    line + 1,
                    format!("gold label `{}` is not a number", item[1]),
                )
            })?;
            let mut fields = Map::new();
            fields.insert("ctx".into(), Value::String(item[0].into()));
            fields.insert("label".into(), Value::from(label));
            fields.insert(
                "endings".into(),
                Value::Array(
                    item[2..]
                        .iter()
                        .map(|e| Value::String((*e).into()))
                        .collect(),
                ),
            );
            Ok(Row { line, fields })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let f = file("{\"a\": 1}\n\n{\"a\": \n");
        let err = read_rows(f.path(), DataFormat::Jsonl, &[], None).unwrap_err();
        assert!(err.to_string().contains(":3:"), "{err}");
    }

    #[test]
    fn csv_with_given_columns_and_quoted_newlines() {
        let f = file("\"q, with\nnewline\",x,A\nq2,y,B\n");
        let cols = vec!["question".into(), "other".into(), "answer".into()];
        let (rows, files) = read_rows(f.path(), DataFormat::Csv, &cols, None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].fields["question"], "q, with\nnewline");
        assert_eq!(rows[1].line, 3);
        assert_eq!(files[0].rows, 2);
    }

    #[test]
    fn labels_must_match_rows() {
        let f = file("{\"a\": 1}\n{\"a\": 2}\n");
        let l = file("0\n");
        let err = read_rows(f.path(), DataFormat::Jsonl, &[], Some(l.path())).unwrap_err();
        assert!(err.to_string().contains("1 labels for 2 rows"), "{err}");
    }

    #[test]
    fn hellaswag_items_have_six_lines() {
        let f = file("A: b\n2\ne0\ne1\ne2\ne3\n");
        let (rows, _) = read_rows(f.path(), DataFormat::HellaswagText, &[], None).unwrap();
        assert_eq!(rows[0].fields["label"], 2);
        assert_eq!(rows[0].fields["endings"][3], "e3");
        let g = file("A: b\nx\ne0\ne1\ne2\ne3\n");
        let err = read_rows(g.path(), DataFormat::HellaswagText, &[], None).unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
    }
}
