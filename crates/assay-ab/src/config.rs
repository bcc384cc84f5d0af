//! An analysis as a team writes it down: which metrics and in which roles, their ratios,
//! covariates, caps and margins, and the test's settings. One struct for the three
//! places an analysis is described: an experiment's TOML file
//! (`assay ab analyze --config experiment.toml`), the command line's flags (which are
//! merged over the file's values, see [`AnalysisConfig::merge`]), and a pipeline's `ab`
//! stage (its keys other than the stage's own). Values are checked as they are read: a
//! file's error names its line and column.
//!
//! ```toml
//! variant = "variant"           # the column naming each unit's arm
//! control = "control"
//! metrics = ["revenue", "ctr"]  # goals, corrected for multiplicity
//! guardrails = ["latency_ms"]
//! secondary = ["sessions"]
//! lower_is_better = ["latency_ms"]
//! ratio = { ctr = "clicks/views" }
//! quantile = { p95_latency = "latency_ms@95%" }
//! covariate = { revenue = "pre_revenue", ctr = "pre_clicks/pre_views" }   # CUPED
//! cap = { revenue = "99%" }
//! margin = { latency_ms = "2%" }
//! post_stratify = "platform"
//! test = "sequential"           # or fixed
//! alpha = 0.05
//! ```

use crate::Error;
use crate::aggregate::{Aggregated, MetricSpec, Missing};
use crate::analyze::{Options, TestKind};
use crate::correct::Correction;
use crate::effect::{Alternative, Settings};
use crate::metrics::MetricLists;
use crate::source::Source;
use assay_stats::domain::{Finite, NonNegative, Positive, Probability};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// The column naming each unit's variant.
    #[serde(default = "default_variant")]
    pub variant: String,
    /// The control variant.
    #[serde(default = "default_control")]
    pub control: String,
    /// Goal metrics (corrected for multiplicity).
    #[serde(default)]
    pub metrics: Vec<String>,
    #[serde(default)]
    pub guardrails: Vec<String>,
    #[serde(default)]
    pub secondary: Vec<String>,
    #[serde(default)]
    pub lower_is_better: Vec<String>,
    /// NAME → `NUMERATOR/DENOMINATOR`.
    #[serde(default)]
    pub ratio: BTreeMap<String, String>,
    /// NAME → `COLUMN@Q`: a quantile metric (`latency_ms@95%`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantile: BTreeMap<String, String>,
    /// METRIC → pre-period column (a ratio: `PRE_NUMERATOR/PRE_DENOMINATOR`).
    #[serde(default)]
    pub covariate: BTreeMap<String, String>,
    /// METRIC → `VALUE` or `Q%`.
    #[serde(default)]
    pub cap: BTreeMap<String, String>,
    /// Guardrail METRIC → relative tolerance such as `2%`.
    #[serde(default)]
    pub margin: BTreeMap<String, String>,
    #[serde(default)]
    pub missing: Missing,
    /// Column with each unit's first exposure time, for the cumulative view by day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default = "default_test")]
    pub test: TestKind,
    #[serde(default)]
    pub alternative: Alternative,
    /// Intervals are 1 − α; α below 0.5.
    #[serde(default = "default_alpha")]
    pub alpha: Probability,
    /// N* of the sequential interval.
    #[serde(default = "default_tuning")]
    pub tuning: Positive,
    /// A proper N(prior_mean, prior_sd²) prior on the relative lift; flat without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_sd: Option<Positive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_mean: Option<Finite>,
    #[serde(default = "default_correction")]
    pub correction: Correction,
    #[serde(default = "default_srm")]
    pub srm_threshold: Probability,
    /// The intended traffic split, by variant (default: equal).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, NonNegative>,
    /// Columns whose values are also analysed on their own rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment: Vec<String>,
    /// A pre-experiment column to post-stratify on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_stratify: Option<String>,
}

fn default_variant() -> String {
    "variant".into()
}
fn default_control() -> String {
    "control".into()
}
fn default_test() -> TestKind {
    TestKind::Sequential
}
fn default_alpha() -> Probability {
    Probability::new(0.05).expect("a probability")
}
fn default_tuning() -> Positive {
    Positive::new(5000.0).expect("positive")
}
fn default_correction() -> Correction {
    Correction::Holm
}
fn default_srm() -> Probability {
    Probability::new(crate::srm::SRM_THRESHOLD).expect("a probability")
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        toml::from_str("").expect("every key has a default")
    }
}

/// Values given on the command line, each overriding the file's (a list given replaces
/// the file's list; a `NAME=VALUE` entry replaces that name's entry).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub variant: Option<String>,
    pub control: Option<String>,
    pub metrics: Vec<String>,
    pub guardrails: Vec<String>,
    pub secondary: Vec<String>,
    pub lower_is_better: Vec<String>,
    pub ratio: Vec<(String, String)>,
    pub quantile: Vec<(String, String)>,
    pub covariate: Vec<(String, String)>,
    pub cap: Vec<(String, String)>,
    pub margin: Vec<(String, String)>,
    pub missing: Option<Missing>,
    pub time: Option<String>,
    pub test: Option<TestKind>,
    pub alternative: Option<Alternative>,
    pub alpha: Option<Probability>,
    pub tuning: Option<Positive>,
    pub prior_sd: Option<Positive>,
    pub prior_mean: Option<Finite>,
    pub correction: Option<Correction>,
    pub srm_threshold: Option<Probability>,
    pub weights: Vec<(String, NonNegative)>,
    pub segment: Vec<String>,
    pub post_stratify: Option<String>,
}

impl AnalysisConfig {
    /// Reads an experiment's file; an error names the file, line and column.
    pub fn load(path: &Path) -> Result<AnalysisConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| {
            let (line, column) =
                assay_core::input::line_column(&text, e.span().map_or(0, |s| s.start));
            Error::Input(format!(
                "{}:{line}:{column}: {}",
                path.display(),
                e.message()
            ))
        })
    }

    /// The file's settings with the command line's over them.
    pub fn merge(mut self, o: Overrides) -> AnalysisConfig {
        fn replace<T>(list: &mut Vec<T>, given: Vec<T>) {
            if !given.is_empty() {
                *list = given;
            }
        }
        fn entries<V>(map: &mut BTreeMap<String, V>, given: Vec<(String, V)>) {
            map.extend(given);
        }
        if let Some(v) = o.variant {
            self.variant = v;
        }
        if let Some(v) = o.control {
            self.control = v;
        }
        replace(&mut self.metrics, o.metrics);
        replace(&mut self.guardrails, o.guardrails);
        replace(&mut self.secondary, o.secondary);
        replace(&mut self.lower_is_better, o.lower_is_better);
        replace(&mut self.segment, o.segment);
        entries(&mut self.ratio, o.ratio);
        entries(&mut self.quantile, o.quantile);
        entries(&mut self.covariate, o.covariate);
        entries(&mut self.cap, o.cap);
        entries(&mut self.margin, o.margin);
        entries(&mut self.weights, o.weights);
        self.missing = o.missing.unwrap_or(self.missing);
        self.time = o.time.or(self.time);
        self.test = o.test.unwrap_or(self.test);
        self.alternative = o.alternative.unwrap_or(self.alternative);
        self.alpha = o.alpha.unwrap_or(self.alpha);
        self.tuning = o.tuning.unwrap_or(self.tuning);
        self.prior_sd = o.prior_sd.or(self.prior_sd);
        self.prior_mean = o.prior_mean.or(self.prior_mean);
        self.correction = o.correction.unwrap_or(self.correction);
        self.srm_threshold = o.srm_threshold.unwrap_or(self.srm_threshold);
        self.post_stratify = o.post_stratify.or(self.post_stratify);
        self
    }

    pub fn lists(&self) -> MetricLists {
        let pairs = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        MetricLists {
            goals: self.metrics.clone(),
            guardrails: self.guardrails.clone(),
            secondary: self.secondary.clone(),
            lower_is_better: self.lower_is_better.clone(),
            ratios: pairs(&self.ratio),
            quantiles: pairs(&self.quantile),
            covariates: pairs(&self.covariate),
            caps: pairs(&self.cap),
            margins: pairs(&self.margin),
        }
    }

    /// The metrics' specs; `prefix` is how a setting is named in messages (`--` for
    /// flags, empty for a file's keys).
    pub fn specs(&self, prefix: &str) -> Result<Vec<MetricSpec>, Error> {
        self.lists().specs(prefix)
    }

    /// The settings every metric's tests share, checked together.
    pub fn options(&self, prefix: &str) -> Result<Options, Error> {
        if self.alpha.get() >= 0.5 {
            return Err(Error::Input(format!(
                "{prefix}alpha {}: must be below 0.5",
                self.alpha
            )));
        }
        // A file's key is `prior_mean`, a flag `--prior-mean`.
        let name = |key: &str| match prefix {
            "" => key.replace('-', "_"),
            _ => format!("{prefix}{key}"),
        };
        if self.prior_mean.is_some() && self.prior_sd.is_none() {
            return Err(Error::Input(format!(
                "{} needs {} (the prior's spread)",
                name("prior-mean"),
                name("prior-sd")
            )));
        }
        let weights = if self.weights.is_empty() {
            None
        } else {
            if self.weights.values().filter(|w| w.get() > 0.0).count() < 2 {
                return Err(Error::Input(format!(
                    "{prefix}weights: at least two arms need a weight above 0"
                )));
            }
            Some(
                self.weights
                    .iter()
                    .map(|(k, v)| (k.clone(), v.get()))
                    .collect(),
            )
        };
        Ok(Options {
            control: self.control.clone(),
            weights,
            settings: Settings {
                alpha: self.alpha.get(),
                sequential_tuning: self.tuning.get(),
                prior: self
                    .prior_sd
                    .map(|sd| (self.prior_mean.map_or(0.0, |m| m.get()), sd.get())),
                alternative: self.alternative,
            },
            correction: self.correction,
            decide_with: self.test,
            srm_threshold: self.srm_threshold.get(),
        })
    }

    /// Per-unit rows folded into per-arm statistics (and per-stratum ones when
    /// post-stratifying), one pass (two with a quantile cap).
    pub fn aggregate(
        &self,
        source: &Source,
        specs: &[MetricSpec],
        threads: usize,
    ) -> Result<Aggregated, Error> {
        let data = match &self.post_stratify {
            Some(column) => crate::aggregate::aggregate_strata(
                source,
                &self.variant,
                column,
                self.time.as_deref(),
                specs,
                self.missing,
                threads,
            )?,
            None => crate::aggregate::aggregate(
                source,
                &self.variant,
                self.time.as_deref(),
                specs,
                self.missing,
                threads,
            )?,
        };
        if data.rows == 0 {
            return Err(Error::Input(format!("{}: no rows", data.source)));
        }
        Ok(data)
    }

    /// Each `segment` column's segments analysed on their own rows (one pass per column),
    /// put together with the pooled analysis: corrections across segments, Simpson's
    /// paradox. A segment whose analysis is undefined says why.
    pub fn segments(
        &self,
        source: &Source,
        specs: &[MetricSpec],
        threads: usize,
        pooled: &crate::analyze::Analysis,
        options: &Options,
    ) -> Result<Vec<crate::segments::Segmented>, Error> {
        let mut out = Vec::new();
        for column in &self.segment {
            let by_segment = crate::aggregate::aggregate_segments(
                source,
                &self.variant,
                column,
                self.time.as_deref(),
                specs,
                self.missing,
                threads,
            )?;
            let results = by_segment
                .into_iter()
                .map(|(segment, data)| {
                    let (analysis, undefined) = match crate::analyze::analyze(&data, options) {
                        Ok(a) => (Some(a), None),
                        Err(e) => (None, Some(e.to_string())),
                    };
                    crate::segments::SegmentResult {
                        segment,
                        analysis,
                        undefined,
                    }
                })
                .collect();
            out.push(crate::segments::combine(
                pooled,
                column,
                results,
                options.correction,
            ));
        }
        Ok(out)
    }

    /// Per-arm statistics a warehouse exported (GrowthBook's columns; one row per stratum
    /// too when post-stratifying), keeping the metrics named, in the roles and directions
    /// given here.
    pub fn read_stats(&self, path: &Path, specs: &[MetricSpec]) -> Result<Aggregated, Error> {
        let mut data = match &self.post_stratify {
            Some(column) => crate::aggregate::read_stats_strata(path, &self.variant, column)?,
            None => crate::aggregate::read_stats(path, &self.variant)?,
        };
        if data.rows == 0 {
            return Err(Error::Input(format!("{}: no rows", data.source)));
        }
        let mut order = Vec::new();
        for spec in specs {
            let Some(i) = data.metrics.iter().position(|m| m.spec.name == spec.name) else {
                return Err(Error::Input(format!(
                    "{}: no statistics for metric `{}`; it has: {}",
                    path.display(),
                    spec.name,
                    data.metrics
                        .iter()
                        .map(|m| m.spec.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            order.push(i);
        }
        let mut kept = Vec::new();
        for (spec, &i) in specs.iter().zip(&order) {
            let mut m = data.metrics[i].clone();
            // A quantile named on the command line must be the one the file holds.
            if let Some(nu) = spec.quantile
                && m.spec.quantile != Some(nu)
            {
                return Err(Error::Input(format!(
                    "{}: metric `{}` is {} in the file, not the {} quantile asked for",
                    path.display(),
                    spec.name,
                    m.spec
                        .quantile
                        .map_or("a mean or a ratio".into(), |q| format!(
                            "the {} quantile",
                            crate::effect::quantile_name(q)
                        )),
                    crate::effect::quantile_name(nu)
                )));
            }
            m.spec.role = spec.role;
            m.spec.lower_is_better = spec.lower_is_better;
            m.spec.margin = spec.margin;
            kept.push(m);
        }
        // The strata's statistics follow the metrics kept, in their order.
        if let Some(strata) = data.strata.as_mut() {
            strata.metrics = order.iter().map(|&i| strata.metrics[i].clone()).collect();
        }
        data.metrics = kept;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_every_setting_and_flags_override_it() {
        let text = r#"
            control = "current"
            metrics = ["revenue", "ctr"]
            guardrails = ["latency_ms"]
            lower_is_better = ["latency_ms"]
            ratio = { ctr = "clicks/views" }
            covariate = { revenue = "pre_revenue", ctr = "pre_clicks/pre_views" }
            cap = { revenue = "99%" }
            margin = { latency_ms = "2%" }
            post_stratify = "platform"
            test = "fixed"
            alpha = 0.1
            weights = { current = 1, new = 1 }
        "#;
        let c: AnalysisConfig = toml::from_str(text).unwrap();
        let specs = c.specs("").unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[1].covariate_denominator.as_deref(), Some("pre_views"));
        let o = c.options("").unwrap();
        assert_eq!((o.control.as_str(), o.settings.alpha), ("current", 0.1));
        assert_eq!(o.decide_with, TestKind::Fixed);
        let merged = c.clone().merge(Overrides {
            metrics: vec!["revenue".into()],
            alpha: Some(Probability::new(0.05).unwrap()),
            cap: vec![("revenue".into(), "1000".into())],
            ..Overrides::default()
        });
        assert_eq!(merged.metrics, vec!["revenue".to_string()]);
        assert_eq!(merged.alpha.get(), 0.05);
        assert_eq!(merged.cap["revenue"], "1000");
        // What no flag touched stays the file's.
        assert_eq!(merged.guardrails, c.guardrails);
        assert_eq!(merged.post_stratify.as_deref(), Some("platform"));
    }

    /// The example in docs/ab.md is a file this struct reads.
    #[test]
    fn the_documented_example_reads() {
        let doc = include_str!("../../../docs/ab.md");
        let section = doc.split("## An experiment's file").nth(1).unwrap();
        let block = section
            .split("```toml")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let c: AnalysisConfig = toml::from_str(block).unwrap();
        let specs = c.specs("").unwrap();
        assert_eq!(specs.len(), 4);
        assert!(specs.iter().any(|s| s.quantile == Some(0.95)));
        c.options("").unwrap();
    }

    #[test]
    fn a_bad_value_is_refused_where_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiment.toml");
        for (text, want) in [
            (
                "metrics = [\"a\"]\nalpha = 1.5\n",
                ":2:9: `1.5` is not a probability strictly between 0 and 1",
            ),
            (
                "metrics = [\"a\"]\nmetric = [\"b\"]\n",
                ":2:1: unknown field `metric`",
            ),
            ("tuning = -5\n", "a finite number greater than 0"),
            ("test = \"bayes\"\n", ":1:8: unknown variant `bayes`"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = AnalysisConfig::load(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let c: AnalysisConfig = toml::from_str("alpha = 0.6").unwrap();
        assert_eq!(
            c.options("").unwrap_err().to_string(),
            "alpha 0.6: must be below 0.5"
        );
    }
}
