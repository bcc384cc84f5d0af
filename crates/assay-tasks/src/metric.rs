//! A metric, defined once: its name, the per-sample value it reads (which the task's
//! scorer writes) and how those values aggregate into an estimate with its interval.

use crate::spec::{OutputKind, ScorerKind, TaskSpec};
use assay_core::SampleScore;
use assay_stats::Estimate;

/// How a metric's per-sample values become one number with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The mean of the per-sample value named like the metric (Wilson interval for 0/1
    /// values, t otherwise); a stratified mean over a task's fixed subtasks.
    Mean,
    /// exp(−Σ loglikelihood / Σ `per`): word or byte perplexity, a ratio estimator.
    Perplexity { per: &'static str },
    /// −Σ loglikelihood / Σ bytes / ln 2.
    BitsPerByte,
    /// exp(−mean loglikelihood), lm-evaluation-harness's `perplexity` of a
    /// log-likelihood task.
    PerplexityOfMean,
    /// BBQ's bias score in disambiguated contexts: 2 · (stereotyped answers / answers
    /// other than "unknown") − 1.
    DisambiguatedBias,
    /// BBQ's bias score in ambiguous contexts: (1 − accuracy) times the same quantity
    /// over the ambiguous items.
    AmbiguousBias,
}

/// One metric a task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    name: String,
    aggregation: Aggregation,
}

impl Metric {
    fn new(name: impl Into<String>, aggregation: Aggregation) -> Self {
        Self {
            name: name.into(),
            aggregation,
        }
    }

    /// The mean of the per-sample value `name` (accuracies, exact match).
    pub fn mean(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::Mean)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn aggregation(&self) -> Aggregation {
        self.aggregation
    }

    /// Every metric a task with this output and scorer can report.
    pub(crate) fn available(spec: &TaskSpec, scorer: ScorerKind) -> Vec<Metric> {
        let means = |names: &[&str]| names.iter().map(|n| Metric::mean(*n)).collect();
        match scorer {
            ScorerKind::Choice if spec.bias.is_some() => {
                let mut metrics: Vec<Metric> =
                    means(&["acc", "acc_norm", "accuracy_amb", "accuracy_disamb"]);
                metrics.push(Metric::new("amb_bias_score", Aggregation::AmbiguousBias));
                metrics.push(Metric::new(
                    "disamb_bias_score",
                    Aggregation::DisambiguatedBias,
                ));
                metrics
            }
            ScorerKind::Choice => means(&[
                "acc",
                "acc_norm",
                "acc_bytes",
                "acc_norm_nospace",
                "exact_match",
            ]),
            ScorerKind::Mc2 => means(&["acc"]),
            ScorerKind::Judge => spec
                .judges
                .iter()
                .map(|j| Metric::mean(j.name.clone()))
                .collect(),
            ScorerKind::Grader => spec
                .grader
                .iter()
                .flat_map(|g| &g.rates)
                .map(|r| Metric::mean(r.name.clone()))
                .collect(),
            ScorerKind::ExactMatch if spec.extract.is_empty() => means(&["exact_match"]),
            ScorerKind::ExactMatch => spec
                .extract
                .iter()
                .map(|e| Metric::mean(format!("exact_match,{}", e.name)))
                .collect(),
            ScorerKind::Perplexity => match spec.output {
                OutputKind::Loglikelihood => vec![
                    Metric::new("perplexity", Aggregation::PerplexityOfMean),
                    Metric::mean("acc"),
                ],
                _ => vec![
                    Metric::new("word_perplexity", Aggregation::Perplexity { per: "words" }),
                    Metric::new("byte_perplexity", Aggregation::Perplexity { per: "bytes" }),
                    Metric::new("bits_per_byte", Aggregation::BitsPerByte),
                ],
            },
        }
    }

    /// The metric over samples grouped in strata (a task's fixed subtasks, or one group);
    /// `stratified` weighs a mean's strata by size with the stratified variance.
    pub fn estimate(
        &self,
        strata: &[Vec<&SampleScore>],
        stratified: bool,
    ) -> Result<Estimate, assay_stats::Error> {
        let values = |key: &str| -> Vec<f64> {
            strata
                .iter()
                .flatten()
                .filter_map(|s| s.values.get(key).copied())
                .collect()
        };
        let ll = || values("loglikelihood");
        match self.aggregation {
            Aggregation::Mean if stratified => {
                let per_stratum: Vec<Vec<f64>> = strata
                    .iter()
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x.values.get(&self.name).copied())
                            .collect()
                    })
                    .collect();
                let refs: Vec<&[f64]> = per_stratum.iter().map(Vec::as_slice).collect();
                assay_stats::stratified_mean(&refs)
            }
            Aggregation::Mean => assay_stats::mean(&values(&self.name)),
            Aggregation::Perplexity { per } => {
                Ok(assay_stats::ratio(&ll(), &values(per))?.map(|r| (-r).exp(), |r| -(-r).exp()))
            }
            Aggregation::BitsPerByte => {
                let ln2 = std::f64::consts::LN_2;
                Ok(assay_stats::ratio(&ll(), &values("bytes"))?.map(|r| -r / ln2, |_| -1.0 / ln2))
            }
            Aggregation::PerplexityOfMean => {
                Ok(assay_stats::mean(&ll())?.map(|m| (-m).exp(), |m| -(-m).exp()))
            }
            Aggregation::DisambiguatedBias => Ok(assay_stats::ratio(
                &values("disamb_biased"),
                &values("disamb_non_unknown"),
            )?
            .map(|r| 2.0 * r - 1.0, |_| 2.0)),
            Aggregation::AmbiguousBias => assay_stats::ambiguous_bias_score(
                &values("amb_acc"),
                &values("amb_biased"),
                &values("amb_non_unknown"),
            ),
        }
    }
}
