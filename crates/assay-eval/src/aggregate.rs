//! From per-sample scores to each task's reported metrics.

use crate::Error;
use crate::results::{MetricResult, SampleRecord, SubtaskResult, TaskResult};
use assay_core::SampleScore;
use assay_tasks::Metric;
use assay_tasks::spec::TaskSpec;
use std::collections::BTreeMap;

/// The benchmark's profile in assay's shipped BenchRisk registry, matched by exact name
/// (case aside): "ARC" (AI2) is not "ARCAGIPublic".
fn risk_profile(benchmark: &str) -> Option<crate::results::RiskProfile> {
    let registry = assay_risk::shipped();
    let b = registry
        .benchmarks
        .iter()
        .find(|b| b.name.eq_ignore_ascii_case(benchmark))?;
    let s = assay_risk::score(registry, &b.adopted);
    // What every assay run supplies itself (docs/benchrisk.md): uncertainty shown next
    // to each score (mitigations 34 and 35) and an identified model version (161).
    let credited: Vec<u32> = [34, 35, 161]
        .into_iter()
        .filter(|id| !b.adopted.contains(id))
        .collect();
    let mut with = b.adopted.clone();
    with.extend(&credited);
    let run = assay_risk::score(registry, &with);
    let dims = |s: &assay_risk::Scores| {
        assay_risk::Dimension::ALL
            .iter()
            .filter_map(|d| s.dimension(*d).map(|v| (d.name().to_owned(), v)))
            .collect()
    };
    Some(crate::results::RiskProfile {
        benchmark: b.name.clone(),
        registry: registry.source.clone(),
        dimensions: dims(&s),
        average: s.average,
        minimum: s.minimum,
        high_risk: s.high_risk().iter().map(|d| d.name().to_owned()).collect(),
        credited,
        as_run_dimensions: dims(&run),
        as_run_average: run.average,
        as_run_minimum: run.minimum,
    })
}

/// Aggregates one task's records (all subtasks) into its result: each metric over
/// each subtask, and over the task (stratified by subtask when it has fixed ones).
pub(crate) fn task_result(
    spec: &TaskSpec,
    metrics: &[Metric],
    subtask_names: &[String],
    records: &[SampleRecord],
) -> Result<TaskResult, Error> {
    let mut by_subtask: BTreeMap<&str, Vec<&SampleScore>> = BTreeMap::new();
    for r in records {
        by_subtask
            .entry(r.subtask.as_str())
            .or_default()
            .push(&r.score);
    }
    // A metric can be undefined on a selection: a rate over one class of items when the
    // selection holds none of that class (`--limit` on XSTest keeps only safe prompts),
    // a ratio whose denominator is zero (BBQ's bias score when every answer was
    // "unknown"). It is then left out and said so, rather than failing the run or being
    // shown as a number.
    let mut notes = Vec::new();
    let mut estimate =
        |m: &Metric, strata: &[Vec<&SampleScore>], stratified: bool, scope: &str| match m
            .estimate(strata, stratified)
        {
            Ok(estimate) => Ok(Some(MetricResult {
                name: m.name().to_owned(),
                estimate,
            })),
            Err(assay_stats::Error::NotFinite(v)) => Err(Error::Aggregate {
                task: spec.name.clone(),
                metric: m.name().to_owned(),
                message: format!("a per-sample value is not finite: {v}"),
            }),
            // Within a subtask, a metric no item has a value for does not apply there
            // (a rate over hateful prompts in a neutral subtask): left out silently.
            Err(assay_stats::Error::Empty) if !scope.is_empty() => Ok(None),
            Err(e) => {
                let why = match e {
                    assay_stats::Error::Empty => {
                        "no sample in this selection has a value for it".to_owned()
                    }
                    other => other.to_string(),
                };
                notes.push(format!("metric `{}`{scope} is undefined: {why}", m.name()));
                Ok(None)
            }
        };
    let grouped = spec.subtasks.is_some();
    let strata: Vec<Vec<&SampleScore>> = subtask_names
        .iter()
        .filter_map(|n| by_subtask.get(n.as_str()).cloned())
        .collect();
    let mut reported = Vec::with_capacity(metrics.len());
    for m in metrics {
        reported.extend(estimate(m, &strata, grouped, "")?);
    }
    let mut subtasks = Vec::new();
    if grouped {
        for (name, scores) in subtask_names
            .iter()
            .filter_map(|n| by_subtask.get(n.as_str()).map(|s| (n, s)))
        {
            let one = std::slice::from_ref(scores);
            let mut results = Vec::new();
            for m in metrics {
                results.extend(estimate(m, one, false, &format!(" on `{name}`"))?);
            }
            subtasks.push(SubtaskResult {
                name: name.clone(),
                n: scores.len(),
                metrics: results,
            });
        }
    }
    let (unparsed, items) = records
        .iter()
        .filter_map(|r| r.score.extra.get("unparsed")?.as_array().map(Vec::len))
        .fold((0, 0), |(n, k), u| (n + u, k + 1));
    if unparsed > 0 {
        notes.push(format!(
            "the grader's reply to {unparsed} answer(s) of {items} item(s) broke its format: kept in the samples file as `unparsed` and left out of every rate"
        ));
    }
    Ok(TaskResult {
        task: spec.name.clone(),
        benchmark: spec.benchmark.clone(),
        format: spec.format.clone(),
        n: records.len(),
        protocol: None,
        notes,
        metrics: reported,
        subtasks,
        samples_file: format!("samples/{}.jsonl", spec.name),
        benchrisk: spec.benchmark.as_deref().and_then(risk_profile),
        grader: None,
        ailuminate: None,
        judges: Vec::new(),
        correlations: correlations(metrics, records),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::{SampleScore, Target};
    use assay_tasks::{Selection, Task, TaskSource};

    fn record(values: &[(&str, f64)]) -> SampleRecord {
        SampleRecord {
            subtask: "t".into(),
            index: 0,
            id: "x".into(),
            line: 1,
            fewshot: vec![],
            prompt: None,
            requests: serde_json::Value::Null,
            responses: serde_json::Value::Null,
            target: Target::Text(String::new()),
            score: SampleScore {
                values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                answer: None,
                extra: Default::default(),
            },
        }
    }

    /// A loaded task (over one data row) with this output and these metrics.
    fn task(output: &str, metrics: &str) -> Task {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.jsonl"), "{\"text\": \"a b\"}\n").unwrap();
        let source = TaskSource {
            origin: "test".into(),
            text: format!(
                "name = \"t\"\noutput = \"{output}\"\nmetrics = {metrics}\n[data]\npath = \"x.jsonl\"\nformat = \"jsonl\"\n[prompt]\ninput = \"{{{{ text }}}}\"\ntarget = \"text\"\n"
            ),
        };
        Task::load(source, dir.path(), None, Selection::All).unwrap()
    }

    #[test]
    fn perplexities_are_ratios_of_sums() {
        let task = task(
            "loglikelihood_rolling",
            r#"["word_perplexity", "byte_perplexity", "bits_per_byte"]"#,
        );
        let records = [
            record(&[("loglikelihood", -10.0), ("words", 4.0), ("bytes", 20.0)]),
            record(&[("loglikelihood", -30.0), ("words", 6.0), ("bytes", 40.0)]),
        ];
        let r = task_result(&task.spec, task.metrics(), &["t".into()], &records).unwrap();
        let get = |name: &str| {
            r.metrics
                .iter()
                .find(|m| m.name == name)
                .unwrap()
                .estimate
                .value
        };
        // By hand: total log-likelihood -40 over 10 words and 60 bytes.
        assert!((get("word_perplexity") - 4.0f64.exp()).abs() < 1e-9);
        assert!((get("byte_perplexity") - (40.0f64 / 60.0).exp()).abs() < 1e-9);
        assert!((get("bits_per_byte") - 40.0 / 60.0 / std::f64::consts::LN_2).abs() < 1e-12);
    }

    #[test]
    fn loglikelihood_perplexity_is_exp_of_mean_negative_loglikelihood() {
        let task = task("loglikelihood", r#"["perplexity", "acc"]"#);
        let records = [
            record(&[("loglikelihood", -1.0), ("acc", 1.0)]),
            record(&[("loglikelihood", -3.0), ("acc", 0.0)]),
        ];
        let r = task_result(&task.spec, task.metrics(), &["t".into()], &records).unwrap();
        assert!((r.metrics[0].estimate.value - 2.0f64.exp()).abs() < 1e-12);
        assert_eq!(r.metrics[1].estimate.value, 0.5);
    }
}

#[cfg(test)]
mod risk_tests {
    use super::risk_profile;

    #[test]
    fn registered_benchmarks_carry_their_benchrisk_profile() {
        let p = risk_profile("hellaswag").expect("HellaSwag is in the registry");
        assert_eq!(p.benchmark, "HellaSwag");
        // benchrisk.ai shows HellaSwag's Longevity as 5 and its minimum as 5.35.
        assert!((p.minimum - 0.053471152875).abs() < 1e-12);
        assert_eq!(p.high_risk, ["Intelligibility", "Correctness", "Longevity"]);
        // HellaSwag adopts none of 34, 35, 161; crediting them raises Intelligibility
        // (failure modes 35 and 36) and Longevity (45), and nothing else.
        assert_eq!(p.credited, [34, 35, 161]);
        assert!(p.as_run_dimensions["Intelligibility"] > p.dimensions["Intelligibility"]);
        assert!(p.as_run_dimensions["Longevity"] > p.dimensions["Longevity"]);
        assert_eq!(
            p.as_run_dimensions["Correctness"],
            p.dimensions["Correctness"]
        );
        // AI2's ARC is not ARC-AGI; PIQA is not in the registry.
        assert!(risk_profile("ARC").is_none());
        assert!(risk_profile("PIQA").is_none());
    }
}

/// The correlation of every pair of metrics of a judged task (several judges' ratings of
/// the same answers), over the items that have both values.
fn correlations(metrics: &[Metric], records: &[SampleRecord]) -> Vec<crate::results::Correlation> {
    let judged = records.iter().any(|r| r.score.extra.contains_key("judges"));
    if !judged || metrics.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, a) in metrics.iter().enumerate() {
        for b in &metrics[i + 1..] {
            let (x, y): (Vec<f64>, Vec<f64>) = records
                .iter()
                .filter_map(|r| {
                    Some((
                        *r.score.values.get(a.name())?,
                        *r.score.values.get(b.name())?,
                    ))
                })
                .unzip();
            let (estimate, undefined) = match assay_stats::pearson(&x, &y) {
                Ok(e) => (Some(e), None),
                Err(assay_stats::Error::Empty) => {
                    (None, Some("no item has both values".to_owned()))
                }
                Err(e) => (None, Some(e.to_string())),
            };
            out.push(crate::results::Correlation {
                a: a.name().to_owned(),
                b: b.name().to_owned(),
                estimate,
                undefined,
            });
        }
    }
    out
}
