//! Two finished runs of the same tasks, item by item: for every task whose definition
//! both ran and every metric with per-item values, the difference B − A with its paired
//! interval, bootstrap interval and test (McNemar's exact test for 0/1 scores, the
//! paired t test otherwise), p-values corrected across all (task, metric) pairs by
//! Holm's method; and the items whose values or answers changed.

use crate::gate::{Baseline, BaselineError};
use crate::results::SampleRecord;
use assay_stats::paired::PairedDifference;
use serde::Serialize;
use std::collections::BTreeMap;

/// The bootstrap's seed: fixed, so a comparison is the same every time it is made.
pub const BOOTSTRAP_SEED: u64 = 20_261_201;

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub a: RunLabel,
    pub b: RunLabel,
    pub correction: &'static str,
    pub tasks: Vec<TaskComparison>,
    /// Tasks only one run has, or that the two ran with different definitions.
    pub skipped: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RunLabel {
    pub dir: String,
    pub model: String,
}

#[derive(Debug, Serialize)]
pub struct TaskComparison {
    pub task: String,
    pub metrics: Vec<MetricComparison>,
    /// Items both runs answered.
    pub paired_items: usize,
    pub changed: Vec<ChangedItem>,
    /// Metrics whose paired difference is undefined on these items, and why (fewer than
    /// two pairs, a value that is not finite).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<UndefinedMetric>,
}

#[derive(Debug, Serialize)]
pub struct UndefinedMetric {
    pub metric: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    pub mean_a: f64,
    pub mean_b: f64,
    #[serde(flatten)]
    pub paired: PairedDifference,
    /// The mean difference with the standard error clustered by subtask (items of one
    /// subject are not independent; Miller 2024), for a task of several subtasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<assay_stats::Estimate>,
    /// Holm-adjusted across every (task, metric) of the comparison.
    pub p_adjusted: Option<f64>,
}

/// An item whose metric values or answer differ between the runs.
#[derive(Debug, Serialize)]
pub struct ChangedItem {
    pub subtask: String,
    pub id: String,
    pub answer_a: Option<String>,
    pub answer_b: Option<String>,
    /// The metrics that differ: (A, B).
    pub values: BTreeMap<String, (f64, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{which} {source}")]
    Run {
        which: &'static str,
        source: BaselineError,
    },
    #[error("the two runs have no task in common with the same definition (A ran {a}; B ran {b})")]
    NothingInCommon { a: String, b: String },
}

/// Compares run `b` with run `a`.
pub fn compare(a: &Baseline, b: &Baseline) -> Result<Comparison, CompareError> {
    let definitions = |r: &Baseline| -> BTreeMap<String, String> {
        r.results
            .spec
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.definition_sha256.clone()))
            .collect()
    };
    let (defs_a, defs_b) = (definitions(a), definitions(b));
    let mut skipped = Vec::new();
    let mut tasks = Vec::new();
    for (name, def) in &defs_a {
        if defs_b.get(name) != Some(def) {
            skipped.push(name.clone());
            continue;
        }
        let records_a = a.records(name).map_err(|source| CompareError::Run {
            which: "A:",
            source,
        })?;
        let records_b = b.records(name).map_err(|source| CompareError::Run {
            which: "B:",
            source,
        })?;
        tasks.push(task_comparison(name, &records_a, &records_b));
    }
    skipped.extend(defs_b.keys().filter(|n| !defs_a.contains_key(*n)).cloned());
    if tasks.is_empty() {
        let names = |d: &BTreeMap<String, String>| d.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(CompareError::NothingInCommon {
            a: names(&defs_a),
            b: names(&defs_b),
        });
    }
    // Holm across every defined p-value of the comparison.
    let ps: Vec<(usize, usize, f64)> = tasks
        .iter()
        .enumerate()
        .flat_map(|(t, task)| {
            task.metrics
                .iter()
                .enumerate()
                .filter_map(move |(m, metric)| Some((t, m, metric.paired.p_value?)))
        })
        .collect();
    let raw: Vec<f64> = ps.iter().map(|&(_, _, p)| p).collect();
    let adjusted = assay_stats::correct::adjust(&raw, assay_stats::correct::Correction::Holm);
    for (&(t, m, _), p) in ps.iter().zip(adjusted) {
        tasks[t].metrics[m].p_adjusted = Some(p);
    }
    let label = |r: &Baseline| RunLabel {
        dir: r.dir.display().to_string(),
        model: r.results.spec.model.name.clone(),
    };
    Ok(Comparison {
        a: label(a),
        b: label(b),
        correction: "holm",
        tasks,
        skipped,
    })
}

fn task_comparison(name: &str, a: &[SampleRecord], b: &[SampleRecord]) -> TaskComparison {
    let key = |r: &SampleRecord| (r.subtask.clone(), r.id.clone());
    let by_key: BTreeMap<_, &SampleRecord> = b.iter().map(|r| (key(r), r)).collect();
    let pairs: Vec<(&SampleRecord, &SampleRecord)> = a
        .iter()
        .filter_map(|ra| by_key.get(&key(ra)).map(|rb| (ra, *rb)))
        .collect();
    // Metrics both records of every pair have, in A's order.
    let mut names: Vec<String> = Vec::new();
    for (ra, _) in &pairs {
        for n in ra.score.values.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let mut metrics = Vec::new();
    let mut undefined = Vec::new();
    for name in names {
        let mut clusters: Vec<&str> = Vec::new();
        let (va, vb): (Vec<f64>, Vec<f64>) = pairs
            .iter()
            .filter_map(|(ra, rb)| {
                let values = (*ra.score.values.get(&name)?, *rb.score.values.get(&name)?);
                clusters.push(&ra.subtask);
                Some(values)
            })
            .unzip();
        let differences: Vec<f64> = va.iter().zip(&vb).map(|(x, y)| y - x).collect();
        let several = clusters.iter().any(|c| *c != clusters[0]);
        let clustered = several
            .then(|| assay_stats::clustered_mean(&differences, &clusters).ok())
            .flatten();
        let paired = match assay_stats::paired::paired(&va, &vb, BOOTSTRAP_SEED) {
            Ok(p) => p,
            Err(e) => {
                undefined.push(UndefinedMetric {
                    metric: name,
                    reason: format!("{e} ({} paired items)", va.len()),
                });
                continue;
            }
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        metrics.push(MetricComparison {
            metric: name,
            mean_a: mean(&va),
            mean_b: mean(&vb),
            paired,
            clustered,
            p_adjusted: None,
        });
    }
    let changed = pairs
        .iter()
        .filter_map(|(ra, rb)| {
            let values: BTreeMap<String, (f64, f64)> = ra
                .score
                .values
                .iter()
                .filter_map(|(n, x)| {
                    let y = rb.score.values.get(n)?;
                    (x != y).then(|| (n.clone(), (*x, *y)))
                })
                .collect();
            let (answer_a, answer_b) = (ra.score.answer.clone(), rb.score.answer.clone());
            (!values.is_empty() || answer_a != answer_b).then(|| ChangedItem {
                subtask: ra.subtask.clone(),
                id: ra.id.clone(),
                answer_a,
                answer_b,
                values,
            })
        })
        .collect();
    TaskComparison {
        task: name.to_owned(),
        metrics,
        paired_items: pairs.len(),
        changed,
        undefined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, values: &[(&str, f64)]) -> SampleRecord {
        serde_json::from_value(serde_json::json!({
            "subtask": "t", "index": 0, "id": id, "line": 1,
            "requests": null, "responses": null, "target": {"text": "x"},
            "score": {"values": values.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>()},
        }))
        .unwrap()
    }

    /// A metric whose difference cannot be computed (here a value that is not finite,
    /// as a perplexity piece may be) is said with its reason, not dropped.
    #[test]
    fn an_undefined_difference_is_named_with_its_reason() {
        let mut a = [
            record("1", &[("acc", 1.0), ("rare", 1.0)]),
            record("2", &[("acc", 0.0)]),
        ];
        let b = [
            record("1", &[("acc", 1.0), ("rare", 0.0)]),
            record("2", &[("acc", 1.0)]),
        ];
        a[0].score.values.insert("rare".into(), f64::INFINITY);
        let c = task_comparison("t", &a, &b);
        assert_eq!(c.metrics.len(), 1);
        assert_eq!(c.metrics[0].metric, "acc");
        assert_eq!(c.undefined.len(), 1);
        assert_eq!(c.undefined[0].metric, "rare");
        let reason = &c.undefined[0].reason;
        assert!(
            reason.contains("not finite") && reason.ends_with("(1 paired items)"),
            "{reason}"
        );
    }
}
