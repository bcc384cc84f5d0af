//! From per-sample scores to each task's reported metrics.

use crate::Error;
use crate::results::{MetricResult, SampleRecord, SubtaskResult, TaskResult};
use assay_stats::Estimate;
use assay_tasks::spec::{OutputKind, TaskSpec};
use std::collections::BTreeMap;

fn values(records: &[&SampleRecord], key: &str) -> Vec<f64> {
    records
        .iter()
        .filter_map(|r| r.score.values.get(key).copied())
        .collect()
}

fn estimate(
    spec: &TaskSpec,
    metric: &str,
    records: &[&SampleRecord],
) -> Result<Estimate, assay_stats::Error> {
    let ll = || values(records, "loglikelihood");
    match (spec.output, metric) {
        (OutputKind::LoglikelihoodRolling, "word_perplexity") => {
            Ok(assay_stats::ratio(&ll(), &values(records, "words"))?
                .map(|r| (-r).exp(), |r| -(-r).exp()))
        }
        (OutputKind::LoglikelihoodRolling, "byte_perplexity") => {
            Ok(assay_stats::ratio(&ll(), &values(records, "bytes"))?
                .map(|r| (-r).exp(), |r| -(-r).exp()))
        }
        (OutputKind::LoglikelihoodRolling, "bits_per_byte") => {
            let ln2 = std::f64::consts::LN_2;
            Ok(assay_stats::ratio(&ll(), &values(records, "bytes"))?
                .map(|r| -r / ln2, |_| -1.0 / ln2))
        }
        // lm-evaluation-harness's `perplexity` for loglikelihood tasks: exp(-mean loglik).
        (OutputKind::Loglikelihood, "perplexity") => {
            Ok(assay_stats::mean(&ll())?.map(|m| (-m).exp(), |m| -(-m).exp()))
        }
        _ => assay_stats::mean(&values(records, metric)),
    }
}

/// Aggregates one task's records (all subtasks) into its result.
pub(crate) fn task_result(
    spec: &TaskSpec,
    subtask_names: &[String],
    records: &[SampleRecord],
) -> Result<TaskResult, Error> {
    let mut by_subtask: BTreeMap<&str, Vec<&SampleRecord>> = BTreeMap::new();
    for r in records {
        by_subtask.entry(r.subtask.as_str()).or_default().push(r);
    }
    let fail = |metric: &str, e: assay_stats::Error| Error::Aggregate {
        task: spec.name.clone(),
        metric: metric.to_owned(),
        message: e.to_string(),
    };
    let grouped = spec.subtasks.is_some();
    let mut subtasks = Vec::new();
    if grouped {
        for name in subtask_names {
            let Some(recs) = by_subtask.get(name.as_str()) else {
                continue;
            };
            let metrics = spec
                .metrics
                .iter()
                .map(|m| {
                    Ok(MetricResult {
                        name: m.clone(),
                        estimate: estimate(spec, m, recs).map_err(|e| fail(m, e))?,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            subtasks.push(SubtaskResult {
                name: name.clone(),
                n: recs.len(),
                metrics,
            });
        }
    }
    let all: Vec<&SampleRecord> = records.iter().collect();
    let metrics = spec
        .metrics
        .iter()
        .map(|m| {
            let estimate = if grouped && !matches!(spec.output, OutputKind::LoglikelihoodRolling) {
                let strata: Vec<Vec<f64>> = subtask_names
                    .iter()
                    .filter_map(|n| by_subtask.get(n.as_str()))
                    .map(|recs| values(recs, m))
                    .collect();
                let refs: Vec<&[f64]> = strata.iter().map(Vec::as_slice).collect();
                assay_stats::stratified_mean(&refs)
            } else {
                estimate(spec, m, &all)
            };
            Ok(MetricResult {
                name: m.clone(),
                estimate: estimate.map_err(|e| fail(m, e))?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(TaskResult {
        task: spec.name.clone(),
        benchmark: spec.benchmark.clone(),
        format: spec.format.clone(),
        n: records.len(),
        metrics,
        subtasks,
        samples_file: format!("samples/{}.jsonl", spec.name),
    })
}
