//! Battle logs: one pairwise vote per row, `model_a`, `model_b` and `winner` in
//! `model_a` / `model_b` / `tie` / `tie (bothbad)` (Chatbot Arena's format), from CSV
//! (with a header) or JSONL. Other columns are ignored. [`BattleLogWriter`] writes the
//! same format, for every producer of battles (judge runs, annotation exports).

use crate::Error;
use std::collections::HashMap;
use std::path::Path;

/// The outcome of one battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Winner {
    A,
    B,
    Tie,
    /// Both answers were bad; counts as a tie.
    BothBad,
}

impl Winner {
    pub const ALL: [Winner; 4] = [Winner::A, Winner::B, Winner::Tie, Winner::BothBad];

    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL.into_iter().find(|w| w.as_str() == text)
    }

    /// The battle-log text (Chatbot Arena's).
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::A => "model_a",
            Winner::B => "model_b",
            Winner::Tie => "tie",
            Winner::BothBad => "tie (bothbad)",
        }
    }

    /// The same outcome with the sides exchanged.
    pub fn swapped(self) -> Self {
        match self {
            Winner::A => Winner::B,
            Winner::B => Winner::A,
            w => w,
        }
    }

    /// The score of model a: 1, 0 or ½ (a tie is half a win for each side).
    pub fn score_a(self) -> f64 {
        match self {
            Winner::A => 1.0,
            Winner::B => 0.0,
            Winner::Tie | Winner::BothBad => 0.5,
        }
    }

    pub const ALLOWED: &'static str = "`model_a`, `model_b`, `tie` or `tie (bothbad)`";
}

impl std::fmt::Display for Winner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes a battle log as CSV: `model_a`, `model_b`, `winner`, then the producer's own
/// columns (prompt id, annotator, style features, ...), which readers ignore unless
/// asked for them.
pub struct BattleLogWriter {
    csv: csv::Writer<Vec<u8>>,
    extra: usize,
}

impl BattleLogWriter {
    /// A log whose rows carry `extra_columns` after the three battle columns.
    pub fn new(extra_columns: &[&str]) -> Self {
        let mut csv = csv::Writer::from_writer(Vec::new());
        let header = ["model_a", "model_b", "winner"]
            .iter()
            .chain(extra_columns)
            .copied();
        csv.write_record(header).expect("writing to memory");
        Self {
            csv,
            extra: extra_columns.len(),
        }
    }

    /// One battle; `extra` holds the values of the extra columns, in their order.
    pub fn push<S: AsRef<[u8]>>(
        &mut self,
        model_a: &str,
        model_b: &str,
        winner: Winner,
        extra: &[S],
    ) {
        assert_eq!(extra.len(), self.extra, "one value per extra column");
        self.csv
            .write_field(model_a)
            .and_then(|()| self.csv.write_field(model_b))
            .and_then(|()| self.csv.write_field(winner.as_str()))
            .and_then(|()| self.csv.write_record(extra))
            .expect("writing to memory");
    }

    /// The CSV text.
    pub fn finish(self) -> Vec<u8> {
        self.csv.into_inner().expect("writing to memory")
    }
}

/// Battles between models named by index into `models`.
#[derive(Debug, Clone, Default)]
pub struct Battles {
    pub models: Vec<String>,
    /// (a, b, winner) in file order.
    pub rows: Vec<(usize, usize, Winner)>,
}

impl Battles {
    pub fn new() -> Self {
        Self::default()
    }

    fn index(&mut self, ids: &mut HashMap<String, usize>, name: &str) -> usize {
        if let Some(&i) = ids.get(name) {
            return i;
        }
        let i = self.models.len();
        self.models.push(name.to_owned());
        ids.insert(name.to_owned(), i);
        i
    }

    /// Builds battles from (model_a, model_b, winner) triples; `location(i)` names the
    /// source of row i for errors.
    pub fn from_triples<'a>(
        rows: impl IntoIterator<Item = (String, (&'a str, &'a str, &'a str))>,
    ) -> Result<Self, Error> {
        let mut b = Battles::new();
        let mut ids = HashMap::new();
        for (location, (a, bb, w)) in rows {
            let (a, bb) = (a.trim(), bb.trim());
            if a.is_empty() || bb.is_empty() {
                return Err(Error::Input {
                    location,
                    message: "a model name is empty".into(),
                });
            }
            if a == bb {
                return Err(Error::Input {
                    location,
                    message: format!("model `{a}` battles itself"),
                });
            }
            let winner = Winner::parse(w).ok_or_else(|| Error::Input {
                location: location.clone(),
                message: format!("winner `{w}` is not one of {}", Winner::ALLOWED),
            })?;
            let ia = b.index(&mut ids, a);
            let ib = b.index(&mut ids, bb);
            b.rows.push((ia, ib, winner));
        }
        Ok(b)
    }

    /// Head to head: entry `[i][j]` is model i's score against model j over their
    /// battles (a win 1, a tie ½, a loss 0) and how many battles they had; None when they
    /// never met (the diagonal too).
    pub fn head_to_head(&self) -> Vec<Vec<Option<(f64, usize)>>> {
        let n = self.models.len();
        let mut score = vec![vec![0.0; n]; n];
        let mut count = vec![vec![0usize; n]; n];
        for &(a, b, w) in &self.rows {
            let s = w.score_a();
            score[a][b] += s;
            score[b][a] += 1.0 - s;
            count[a][b] += 1;
            count[b][a] += 1;
        }
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        (count[i][j] > 0).then(|| (score[i][j] / count[i][j] as f64, count[i][j]))
                    })
                    .collect()
            })
            .collect()
    }

    /// Reads a CSV (header with `model_a`, `model_b`, `winner`) or JSONL file, chosen by
    /// extension (`.jsonl`/`.json` or anything else as CSV).
    pub fn read(path: &Path) -> Result<Self, Error> {
        Ok(Self::read_with_controls(path, &[])?.0)
    }

    /// The battles and, for `--control NAME`, the style measurements in the numeric
    /// columns (CSV) or fields (JSONL) `NAME_a` and `NAME_b` of every battle, in one
    /// pass over the file.
    pub fn read_with_controls(
        path: &Path,
        names: &[String],
    ) -> Result<(Self, crate::style::Controls), Error> {
        let mut fields = ["model_a", "model_b", "winner"].map(String::from).to_vec();
        fields.extend(
            names
                .iter()
                .flat_map(|n| [format!("{n}_a"), format!("{n}_b")]),
        );
        let mut triples = Vec::new();
        let mut values = Vec::new();
        for_each_row(path, &fields, |location, cells| {
            let mut numbers = Vec::with_capacity(cells.len() - 3);
            for (field, text) in fields[3..].iter().zip(&cells[3..]) {
                let v: f64 = text.trim().parse().map_err(|_| Error::Input {
                    location: location.clone(),
                    message: format!("`{field}` is `{text}`, not a number"),
                })?;
                if !v.is_finite() || v < 0.0 {
                    return Err(Error::Input {
                        location: location.clone(),
                        message: format!(
                            "`{field}` is {v}; style measurements are counts or lengths (>= 0)"
                        ),
                    });
                }
                numbers.push(v);
            }
            values.push(numbers.chunks(2).map(|p| (p[0], p[1])).collect());
            triples.push((location, cells[..3].to_vec()));
            Ok(())
        })?;
        let battles = Self::from_triples(
            triples
                .iter()
                .map(|(l, c)| (l.clone(), (c[0].as_str(), c[1].as_str(), c[2].as_str()))),
        )?;
        if battles.rows.is_empty() {
            return Err(Error::Input {
                location: path.display().to_string(),
                message: "no battles".into(),
            });
        }
        let controls = crate::style::Controls {
            names: names.to_vec(),
            values,
        };
        Ok((battles, controls))
    }

    pub fn counts(&self) -> Vec<usize> {
        let mut n = vec![0; self.models.len()];
        for &(a, b, _) in &self.rows {
            n[a] += 1;
            n[b] += 1;
        }
        n
    }
}

/// Calls `f(location, cells)` for each row of a battle log with the text of `fields`
/// (CSV columns by header name, or JSONL fields; JSON numbers as their text). Blank
/// JSONL lines are skipped; errors name the file and line.
fn for_each_row(
    path: &Path,
    fields: &[String],
    mut f: impl FnMut(String, &[String]) -> Result<(), Error>,
) -> Result<(), Error> {
    let shown = path.display().to_string();
    let is_json = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "json" || e == "ndjson");
    let mut cells = vec![String::new(); fields.len()];
    if is_json {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let location = format!("{shown}:{}", i + 1);
            let v = assay_core::input::parse_strict(line).map_err(|e| Error::Input {
                location: location.clone(),
                message: format!("not valid JSON: {e}"),
            })?;
            for (cell, name) in cells.iter_mut().zip(fields) {
                *cell = match v.get(name) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    Some(other) => {
                        return Err(Error::Input {
                            location,
                            message: format!("field `{name}` is `{other}`, not text or a number"),
                        });
                    }
                    None => {
                        return Err(Error::Input {
                            location,
                            message: format!("field `{name}` is missing"),
                        });
                    }
                };
            }
            f(location, &cells)?;
        }
    } else {
        let input = |location: String| {
            move |e: csv::Error| Error::Input {
                location,
                message: e.to_string(),
            }
        };
        let mut reader = csv::Reader::from_path(path).map_err(input(shown.clone()))?;
        let headers = reader.headers().map_err(input(shown.clone()))?.clone();
        if let Some((name, first, again)) = assay_core::input::repeated_column(headers.iter()) {
            return Err(Error::Input {
                location: format!("{shown}:1"),
                message: format!("the column `{name}` appears twice (columns {first} and {again})"),
            });
        }
        let columns = fields
            .iter()
            .map(|name| {
                headers
                    .iter()
                    .position(|h| h.trim() == name)
                    .ok_or_else(|| Error::Input {
                        location: format!("{shown}:1"),
                        message: format!(
                            "no `{name}` column (the header has: {})",
                            headers.iter().collect::<Vec<_>>().join(", ")
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut record = csv::StringRecord::new();
        let mut line = 1;
        while reader
            .read_record(&mut record)
            .map_err(input(format!("{shown}:{}", line + 1)))?
        {
            line += 1;
            let location = format!("{shown}:{line}");
            for (cell, &c) in cells.iter_mut().zip(&columns) {
                cell.clear();
                cell.push_str(record.get(c).unwrap_or(""));
            }
            f(location, &cells)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn head_to_head_counts_ties_as_half_and_both_directions() {
        let b = Battles::from_triples([
            ("1".to_owned(), ("x", "y", "model_a")),
            ("2".to_owned(), ("y", "x", "model_a")),
            ("3".to_owned(), ("x", "y", "tie")),
            ("4".to_owned(), ("x", "z", "model_b")),
        ])
        .unwrap();
        let h = b.head_to_head();
        // x vs y: a win, a loss, a tie over 3 battles.
        assert_eq!(h[0][1], Some((0.5, 3)));
        assert_eq!(h[1][0], Some((0.5, 3)));
        // x vs z: z won the only battle.
        assert_eq!(h[0][2], Some((0.0, 1)));
        assert_eq!(h[2][0], Some((1.0, 1)));
        assert_eq!(h[1][2], None);
        assert_eq!(h[0][0], None);
    }

    use super::*;

    #[test]
    fn written_logs_read_back_with_their_extra_columns() {
        let mut log = BattleLogWriter::new(&["prompt_id", "length_a", "length_b"]);
        log.push("x", "y, the second", Winner::A, &["p1", "10", "20"]);
        log.push("y, the second", "x", Winner::BothBad, &["p\"2", "3", "4"]);
        let text = log.finish();
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            "model_a,model_b,winner,prompt_id,length_a,length_b\n\
             x,\"y, the second\",model_a,p1,10,20\n\
             \"y, the second\",x,tie (bothbad),\"p\"\"2\",3,4\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("battles.csv");
        std::fs::write(&path, text).unwrap();
        let (battles, controls) =
            Battles::read_with_controls(&path, &["length".to_owned()]).unwrap();
        assert_eq!(battles.models, ["x", "y, the second"]);
        assert_eq!(battles.rows, [(0, 1, Winner::A), (1, 0, Winner::BothBad)]);
        assert_eq!(controls.values, [vec![(10.0, 20.0)], vec![(3.0, 4.0)]]);
        for w in Winner::ALL {
            assert_eq!(Winner::parse(&w.to_string()), Some(w));
            assert_eq!(w.swapped().swapped(), w);
        }
    }

    #[test]
    fn csv_and_jsonl_read_the_same_battles_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("b.csv");
        std::fs::write(
            &csv,
            "question,model_a,model_b,winner\nq1,x,y,model_a\nq2,y,z,tie (bothbad)\n",
        )
        .unwrap();
        let jsonl = dir.path().join("b.jsonl");
        std::fs::write(
            &jsonl,
            "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n{\"model_a\":\"y\",\"model_b\":\"z\",\"winner\":\"tie (bothbad)\"}\n",
        )
        .unwrap();
        let a = Battles::read(&csv).unwrap();
        let b = Battles::read(&jsonl).unwrap();
        assert_eq!(a.models, b.models);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.rows[1].2, Winner::BothBad);

        std::fs::write(&csv, "model_a,model_b,winner\nx,y,model_a\nx,y,draw\n").unwrap();
        let err = Battles::read(&csv).unwrap_err().to_string();
        assert!(
            err.contains("b.csv:3") && err.contains("winner `draw`"),
            "{err}"
        );
        std::fs::write(&csv, "model_a,winner\nx,model_a\n").unwrap();
        let err = Battles::read(&csv).unwrap_err().to_string();
        assert!(err.contains("no `model_b` column"), "{err}");
        std::fs::write(&csv, "model_a,model_b,winner\n").unwrap();
        assert!(
            Battles::read(&csv)
                .unwrap_err()
                .to_string()
                .contains("no battles")
        );
        std::fs::write(&jsonl, "{\"model_a\":\"x\",\"model_b\":\"y\"}\n").unwrap();
        let err = Battles::read(&jsonl).unwrap_err().to_string();
        assert!(
            err.contains("b.jsonl:1") && err.contains("`winner` is missing"),
            "{err}"
        );
    }
}
