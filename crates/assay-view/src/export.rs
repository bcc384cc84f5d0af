//! The viewer's tables as data, for `/export?table=...&format=csv|md`: the list of runs,
//! an evaluation's metrics and samples, two evaluations' differences, a pairwise run's
//! ratings and a pipeline's funnel, as CSV (full precision) or a Markdown table.

use crate::catalog::{RunEntry, Status};
use crate::pages::PageError;
use assay_render::{Align, MarkdownTable};
use serde_json::Value;
use std::path::Path;

/// A table: its columns and its rows, cells as text.
pub struct Table {
    pub name: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(&self.columns);
        for r in &self.rows {
            let _ = w.write_record(r);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    pub fn markdown(&self) -> String {
        let columns: Vec<(&str, Align)> = self.columns.iter().map(|c| (*c, Align::Left)).collect();
        let mut t = MarkdownTable::new(&columns);
        for r in &self.rows {
            t.row(r);
        }
        t.finish()
    }
}

fn load(path: &Path) -> Result<Value, PageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PageError(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| PageError(format!("{} is damaged: {e}", path.display())))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The list of runs.
pub fn runs(entries: &[RunEntry]) -> Table {
    Table {
        name: "runs".into(),
        columns: vec![
            "run",
            "kind",
            "model or source",
            "tasks",
            "settings",
            "date",
            "status",
            "headline",
        ],
        rows: entries
            .iter()
            .map(|e| {
                vec![
                    e.id.clone(),
                    e.kind.name().into(),
                    e.title.clone(),
                    e.tasks.join(" "),
                    e.settings
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                    e.date.clone(),
                    match &e.status {
                        Status::Finished => "finished".into(),
                        Status::Partial { done, total } => format!(
                            "partial {done}/{}",
                            total.map_or("?".into(), |t| t.to_string())
                        ),
                    },
                    e.headline
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ]
            })
            .collect(),
    }
}

/// A table of run `dir` by name: `metrics` or `samples` (an evaluation), `ratings` (a
/// pairwise run), `funnel` (a pipeline).
pub fn of_run(dir: &Path, table: &str) -> Result<Table, PageError> {
    let r = load(&dir.join("results.json"))?;
    match table {
        "metrics" => Ok(Table {
            name: "metrics".into(),
            columns: vec![
                "task", "metric", "value", "stderr", "ci_low", "ci_high", "n", "interval",
            ],
            rows: r["results"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| {
                    t["metrics"].as_array().into_iter().flatten().map(move |m| {
                        ["value", "stderr", "ci_low", "ci_high", "n", "interval"]
                            .iter()
                            .fold(vec![text(&t["task"]), text(&m["name"])], |mut row, k| {
                                row.push(text(&m[*k]));
                                row
                            })
                    })
                })
                .collect(),
        }),
        "samples" => {
            let mut rows = Vec::new();
            for t in r["results"].as_array().into_iter().flatten() {
                let file = dir.join(text(&t["samples_file"]));
                let body = std::fs::read_to_string(&file)
                    .map_err(|e| PageError(format!("cannot read {}: {e}", file.display())))?;
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    let s: Value = serde_json::from_str(line).map_err(|e| {
                        PageError(format!("{}: damaged sample: {e}", file.display()))
                    })?;
                    let scores = s["score"]["values"]
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default();
                    rows.push(vec![
                        text(&t["task"]),
                        text(&s["index"]),
                        text(&s["id"]),
                        text(&s["score"]["answer"]),
                        scores,
                    ]);
                }
            }
            Ok(Table {
                name: "samples".into(),
                columns: vec!["task", "index", "id", "answer", "scores"],
                rows,
            })
        }
        "ratings" => Ok(Table {
            name: "ratings".into(),
            columns: vec!["rank", "model", "rating", "lower", "upper"],
            rows: r["pairwise"]["ranking"]["Ok"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    ["rank", "model", "rating", "lower", "upper"]
                        .iter()
                        .map(|k| text(&m[*k]))
                        .collect()
                })
                .collect(),
        }),
        "funnel" => Ok(Table {
            name: "funnel".into(),
            columns: vec!["candidate", "model", "passed", "at", "fate", "reasons"],
            rows: r["funnel"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    vec![
                        text(&f["candidate"]),
                        text(&f["model"]),
                        f["passed"]
                            .as_array()
                            .map(|p| p.iter().map(text).collect::<Vec<_>>().join(" "))
                            .unwrap_or_default(),
                        text(&f["at"]),
                        text(&f["fate"]),
                        f["reasons"]
                            .as_array()
                            .map(|p| p.iter().map(text).collect::<Vec<_>>().join("; "))
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        }),
        other => Err(PageError(format!(
            "no table `{other}` (metrics, samples, ratings, funnel; runs; differences)"
        ))),
    }
}

/// Two evaluations' paired differences, as `assay compare` computes them.
pub fn differences(a: &Path, b: &Path) -> Result<Table, PageError> {
    let open =
        |dir: &Path| assay_eval::gate::Baseline::open(dir).map_err(|e| PageError(e.to_string()));
    let c =
        assay_eval::compare::compare(&open(a)?, &open(b)?).map_err(|e| PageError(e.to_string()))?;
    let mut rows = Vec::new();
    for t in &c.tasks {
        for m in &t.metrics {
            let d = &m.paired;
            rows.push(vec![
                t.task.clone(),
                m.metric.clone(),
                t.paired_items.to_string(),
                m.mean_a.to_string(),
                m.mean_b.to_string(),
                d.difference.value.to_string(),
                d.difference.ci_low.to_string(),
                d.difference.ci_high.to_string(),
                format!("{:?}", d.test),
                d.p_value.map_or(String::new(), |p| p.to_string()),
                m.p_adjusted.map_or(String::new(), |p| p.to_string()),
            ]);
        }
    }
    Ok(Table {
        name: "differences".into(),
        columns: vec![
            "task",
            "metric",
            "items",
            "mean_a",
            "mean_b",
            "difference",
            "ci_low",
            "ci_high",
            "test",
            "p",
            "p_adjusted",
        ],
        rows,
    })
}

/// The `/export` links for a table: CSV and Markdown.
pub fn links(query: &str) -> String {
    let q = assay_render::escape_html(query);
    format!(
        " <small class=\"export\">export: <a href=\"/export?{q}&amp;format=csv\">CSV</a> · <a href=\"/export?{q}&amp;format=md\">Markdown</a></small>"
    )
}
