//! Battle logs: one pairwise vote per row, `model_a`, `model_b` and `winner` in
//! `model_a` / `model_b` / `tie` / `tie (bothbad)` (Chatbot Arena's format), from CSV
//! (with a header) or JSONL. Other columns are ignored.

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
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "model_a" => Some(Winner::A),
            "model_b" => Some(Winner::B),
            "tie" => Some(Winner::Tie),
            "tie (bothbad)" => Some(Winner::BothBad),
            _ => None,
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

    /// Reads a CSV (header with `model_a`, `model_b`, `winner`) or JSONL file, chosen by
    /// extension (`.jsonl`/`.json` or anything else as CSV).
    pub fn read(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let shown = path.display().to_string();
        let is_json = path
            .extension()
            .is_some_and(|e| e == "jsonl" || e == "json" || e == "ndjson");
        let battles = if is_json {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let mut triples = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let location = format!("{shown}:{}", i + 1);
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| Error::Input {
                        location: location.clone(),
                        message: format!("not valid JSON: {e}"),
                    })?;
                let field = |name: &str| -> Result<String, Error> {
                    match v.get(name) {
                        Some(serde_json::Value::String(s)) => Ok(s.clone()),
                        Some(other) => Err(Error::Input {
                            location: location.clone(),
                            message: format!("field `{name}` is `{other}`, not text"),
                        }),
                        None => Err(Error::Input {
                            location: location.clone(),
                            message: format!("field `{name}` is missing"),
                        }),
                    }
                };
                triples.push((
                    location.clone(),
                    field("model_a")?,
                    field("model_b")?,
                    field("winner")?,
                ));
            }
            Self::from_triples(
                triples
                    .iter()
                    .map(|(l, a, b, w)| (l.clone(), (a.as_str(), b.as_str(), w.as_str()))),
            )?
        } else {
            let mut reader = csv::Reader::from_path(path).map_err(|e| Error::Input {
                location: shown.clone(),
                message: e.to_string(),
            })?;
            let headers = reader
                .headers()
                .map_err(|e| Error::Input {
                    location: shown.clone(),
                    message: e.to_string(),
                })?
                .clone();
            let column = |name: &str| {
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
            };
            let (ca, cb, cw) = (column("model_a")?, column("model_b")?, column("winner")?);
            let mut triples = Vec::new();
            for (i, record) in reader.records().enumerate() {
                let location = format!("{shown}:{}", i + 2);
                let record = record.map_err(|e| Error::Input {
                    location: location.clone(),
                    message: e.to_string(),
                })?;
                let get = |c: usize| record.get(c).unwrap_or("").to_owned();
                triples.push((location, get(ca), get(cb), get(cw)));
            }
            Self::from_triples(
                triples
                    .iter()
                    .map(|(l, a, b, w)| (l.clone(), (a.as_str(), b.as_str(), w.as_str()))),
            )?
        };
        if battles.rows.is_empty() {
            return Err(Error::Input {
                location: shown,
                message: "no battles".into(),
            });
        }
        Ok(battles)
    }

    /// Battles per model.
    pub fn counts(&self) -> Vec<usize> {
        let mut n = vec![0; self.models.len()];
        for &(a, b, _) in &self.rows {
            n[a] += 1;
            n[b] += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
