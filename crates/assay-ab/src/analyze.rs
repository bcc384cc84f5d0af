//! From per-arm statistics to a launch decision: every metric of every treatment against
//! control, the sample-ratio check, multiplicity corrections over goal metrics, the
//! cumulative view by exposure day, and the decision with its reasons.
//!
//! The decision rule (GrowthBook's "Clear Signals" and "Do No Harm" presets, with Eppo's
//! guardrail cutoffs as optional margins):
//! - a sample-ratio mismatch makes the experiment invalid, whatever the metrics say;
//! - a treatment with a guardrail or goal metric significantly worse does not ship;
//! - a treatment ships when at least one goal metric is significantly better (after the
//!   correction) and no guardrail's interval allows a harm beyond its margin; with no goal
//!   metrics, when no guardrail is harmed ("do no harm");
//! - otherwise the result is inconclusive: keep the test running.
//!
//! "Significant" uses the always-valid sequential p-value by default, so the decision may
//! be read at any time; `TestKind::Fixed` uses the Welch p-value, valid only at the
//! planned end.

use crate::Error;
use crate::aggregate::{Aggregated, Role};
use crate::correct::{Correction, adjust};
use crate::effect::{
    Comparison, Effect, Scale, Settings, compare, compare_quantile, compare_stratified,
};
use crate::moments::Moments;
use crate::srm::{self, Srm};
use assay_stats::normal_quantile;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "assay-ab/1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// Always-valid confidence sequences: results may be read at any time.
    Sequential,
    /// Fixed-horizon Welch t test: read only once, at the planned end.
    Fixed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Options {
    pub control: String,
    /// Intended traffic weights per arm; None = equal.
    pub weights: Option<Vec<(String, f64)>>,
    pub settings: Settings,
    pub correction: Correction,
    pub decide_with: TestKind,
    pub srm_threshold: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricVerdict {
    Better,
    Worse,
    /// The interval includes no change.
    Neutral,
    NoTest,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VariantResult {
    pub variant: String,
    #[serde(flatten)]
    pub comparison: Comparison,
    /// The scale the decision reads (relative when the control mean is not 0).
    pub decision_scale: Option<Scale>,
    /// p-value of the decision's test, before and after the correction.
    pub p_value: Option<f64>,
    pub adjusted_p_value: Option<f64>,
    /// A goal's interval widened to agree with its corrected p-value, as GrowthBook's
    /// `getAdjustedCI` (only when a correction made it wider; open ends `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjusted_interval: Option<AdjustedInterval>,
    pub verdict: MetricVerdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdjustedInterval {
    #[serde(with = "crate::effect::unbounded_below")]
    pub lower: f64,
    #[serde(with = "crate::effect::unbounded_above")]
    pub upper: f64,
}

/// GrowthBook's interval after a multiple-comparison correction (`getAdjustedCI`,
/// packages/shared/src/experiments/experiments.ts): the normal interval whose p-value
/// would be the corrected one, estimate ± z₁₋α/₂·|estimate / z₁₋p/₂|, kept only where it
/// is wider than the test's own `interval` on both sides; unbounded when the corrected p
/// is 1 (above 0.999999).
pub fn adjusted_interval(
    adjusted_p: f64,
    estimate: f64,
    alpha: f64,
    interval: (f64, f64),
) -> Option<AdjustedInterval> {
    if adjusted_p > 0.999999 {
        return Some(AdjustedInterval {
            lower: f64::NEG_INFINITY,
            upper: f64::INFINITY,
        });
    }
    if estimate == 0.0 {
        return None;
    }
    // z₁₋p/2 as the upper tail's quantile, so a tiny p keeps its digits (1 − p/2 would
    // round to 1 and the interval collapse).
    let sd = (estimate / -normal_quantile(adjusted_p / 2.0)).abs();
    let width = normal_quantile(1.0 - alpha / 2.0) * sd;
    let (lower, upper) = (estimate - width, estimate + width);
    (lower < interval.0 && upper > interval.1).then_some(AdjustedInterval { lower, upper })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricResult {
    pub name: String,
    pub role: Role,
    pub lower_is_better: bool,
    pub shape: crate::effect::Shape,
    pub margin: Option<f64>,
    pub cap_value: Option<f64>,
    pub capped: u64,
    pub missing: u64,
    pub covariate_missing: u64,
    /// A quantile metric's level (0.95: the 95th percentile is compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    pub results: Vec<VariantResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// ISO date of the exposure day; the point covers units exposed up to its end.
    pub day: String,
    pub units: u64,
    pub estimate: f64,
    pub sequential_lower: f64,
    pub sequential_upper: f64,
    pub fixed_lower: f64,
    pub fixed_upper: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timeline {
    pub metric: String,
    pub variant: String,
    pub scale: Scale,
    pub points: Vec<TimelinePoint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ship,
    DoNotShip,
    Inconclusive,
    Invalid,
}

impl Outcome {
    /// Exit status for CI: 0 ship, 1 do not ship, 3 inconclusive, 4 invalid (2 is
    /// reserved for errors).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ship => 0,
            Outcome::DoNotShip => 1,
            Outcome::Inconclusive => 3,
            Outcome::Invalid => 4,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VariantDecision {
    pub variant: String,
    pub outcome: Outcome,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// The treatment to ship, when one is.
    pub ship: Option<String>,
    pub reasons: Vec<String>,
    pub variants: Vec<VariantDecision>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmInfo {
    pub name: String,
    pub units: u64,
    pub weight: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    pub format: String,
    pub source: String,
    pub rows: u64,
    pub control: String,
    pub arms: Vec<ArmInfo>,
    pub settings: Settings,
    pub correction: Correction,
    pub decide_with: TestKind,
    pub srm: Srm,
    pub metrics: Vec<MetricResult>,
    pub timeline: Vec<Timeline>,
    pub warnings: Vec<String>,
    pub decision: Decision,
    /// The post-stratification asked for: the column and how many strata it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_stratification: Option<PostStratification>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostStratification {
    pub column: String,
    pub strata: usize,
}

/// A p-value for people: three decimals, or an upper bound when it is tiny.
pub fn format_p(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", 100.0 * x)
}

/// An effect or an interval's end for people: a percentage for relative lifts, four
/// decimals for absolute effects, and ∞ for a one-sided interval's open end.
pub fn format_effect(scale: Scale, x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "+∞" } else { "−∞" }.to_owned();
    }
    match scale {
        Scale::Relative => pct(x),
        Scale::Absolute => format!("{x:+.4}"),
    }
}

/// The effect the decision reads, and its interval and p-value under the chosen test.
pub fn decision_effect(c: &Comparison) -> Option<&Effect> {
    c.relative.as_ref().or(c.absolute.as_ref())
}

impl TestKind {
    /// The effect's interval under this test.
    pub fn interval(self, e: &Effect) -> crate::effect::Interval {
        match self {
            TestKind::Sequential => e.sequential,
            TestKind::Fixed => e.fixed,
        }
    }
}

impl Options {
    /// The settings' domains, checked for library callers too (the command line parses
    /// them into domain types): a NaN level or tuning would silently switch a test off.
    pub fn check(&self) -> Result<(), Error> {
        let s = &self.settings;
        let bad = |what: String| Err(Error::Input(what));
        if !(s.alpha > 0.0 && s.alpha < 0.5) {
            return bad(format!("alpha {} is not between 0 and 0.5", s.alpha));
        }
        if !(s.sequential_tuning.is_finite() && s.sequential_tuning > 0.0) {
            return bad(format!(
                "the sequential tuning N* {} is not a finite number above 0",
                s.sequential_tuning
            ));
        }
        if let Some((mean, sd)) = s.prior
            && !(mean.is_finite() && sd.is_finite() && sd > 0.0)
        {
            return bad(format!("the prior N({mean}, {sd}²) is not a proper prior"));
        }
        if !(self.srm_threshold > 0.0 && self.srm_threshold < 1.0) {
            return bad(format!(
                "the sample-ratio threshold {} is not between 0 and 1",
                self.srm_threshold
            ));
        }
        for (name, w) in self.weights.iter().flatten() {
            if !(w.is_finite() && *w >= 0.0) {
                return bad(format!(
                    "the weight of `{name}`, {w}, is not a finite number of at least 0"
                ));
            }
        }
        Ok(())
    }
}

pub fn analyze(data: &Aggregated, options: &Options) -> Result<Analysis, Error> {
    options.check()?;
    let mut arms = data.arms.clone();
    let mut units = data.units.clone();
    let mut metrics_arms: Vec<Vec<Moments>> = data.metrics.iter().map(|m| m.arms.clone()).collect();
    let mut warnings = Vec::new();
    let weights: Vec<f64> = match &options.weights {
        None => vec![1.0; arms.len()],
        Some(given) => {
            for a in &arms {
                if !given.iter().any(|(n, _)| n == a) {
                    return Err(Error::Input(format!(
                        "variant `{a}` is in the data but has no weight in --weights ({})",
                        given
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            for (n, _) in given {
                if !arms.contains(n) {
                    warnings.push(format!(
                        "arm `{n}` has a weight but no units in the data: an empty arm"
                    ));
                    arms.push(n.clone());
                    units.push(0);
                    for m in metrics_arms.iter_mut() {
                        m.push(Moments::default());
                    }
                }
            }
            arms.iter()
                .map(|a| given.iter().find(|(n, _)| n == a).map_or(0.0, |(_, w)| *w))
                .collect()
        }
    };
    let Some(control) = arms.iter().position(|a| *a == options.control) else {
        return Err(Error::Input(format!(
            "control `{}` is not a variant in {}; the variants are: {}",
            options.control,
            data.source,
            arms.join(", ")
        )));
    };
    if arms.len() < 2 {
        return Err(Error::Input(format!(
            "{}: the variant column has only one value, `{}`: nothing to compare",
            data.source, arms[0]
        )));
    }
    if units[control] == 0 {
        return Err(Error::Input(format!(
            "control `{}` has no units in {}",
            options.control, data.source
        )));
    }
    let srm = srm::check(&units, &weights, options.srm_threshold);
    if srm.mismatch {
        let split: Vec<String> = arms
            .iter()
            .zip(&srm.observed)
            .zip(&srm.expected)
            .map(|((a, o), e)| format!("{a} {o} (expected {e:.0})"))
            .collect();
        warnings.insert(
            0,
            format!(
                "SAMPLE RATIO MISMATCH: p = {:.2e} < {}: {}. The assignment or the logging is \
                 broken; no result of this test can be trusted until it is fixed",
                srm.p_value,
                options.srm_threshold,
                split.join(", ")
            ),
        );
    }
    let treatments: Vec<usize> = (0..arms.len()).filter(|&a| a != control).collect();
    let mut metrics: Vec<MetricResult> = Vec::new();
    for (index, (md, per_arm)) in data.metrics.iter().zip(&metrics_arms).enumerate() {
        let spec = &md.spec;
        if md.covariate_missing > 0 {
            warnings.push(format!(
                "{}: {} units have no covariate `{}` (first at {}); counted as 0",
                spec.name,
                md.covariate_missing,
                spec.covariate.as_deref().unwrap_or(""),
                md.first_missing_at.as_deref().unwrap_or("?")
            ));
        }
        if md.missing > 0 {
            warnings.push(format!(
                "{}: {} units had no value (first at {})",
                spec.name,
                md.missing,
                md.first_missing_at.as_deref().unwrap_or("?")
            ));
        }
        if let Some(cap) = md.cap_value {
            warnings.push(format!(
                "{}: {} units capped at {cap}",
                spec.name, md.capped
            ));
        }
        let mut results = Vec::new();
        for &t in &treatments {
            let c = match &md.quantiles {
                // A quantile is not a sum over strata: never post-stratified.
                Some(q) => match (
                    q.get(control).copied().flatten(),
                    q.get(t).copied().flatten(),
                ) {
                    (Some(qc), Some(qt)) => {
                        compare_quantile(&qc, &qt, &options.settings, spec.lower_is_better)
                    }
                    _ => Comparison::untested(
                        &per_arm[control],
                        &per_arm[t],
                        "an arm has no values: no quantile to compare".into(),
                    ),
                },
                None => {
                    let strata = data.strata.as_ref().map(|s| s.pairs(index, control, t));
                    compare_stratified(
                        &per_arm[control],
                        &per_arm[t],
                        strata.as_deref(),
                        md.shape,
                        &options.settings,
                        spec.lower_is_better,
                    )
                }
            };
            for w in &c.warnings {
                warnings.push(format!(
                    "{} ({} vs {}): {w}",
                    spec.name, arms[t], arms[control]
                ));
            }
            let e = decision_effect(&c);
            results.push(VariantResult {
                variant: arms[t].clone(),
                decision_scale: e.map(|e| e.scale),
                p_value: e.map(|e| options.decide_with.interval(e).p_value),
                adjusted_p_value: None,
                adjusted_interval: None,
                verdict: MetricVerdict::NoTest,
                comparison: c,
            });
        }
        metrics.push(MetricResult {
            name: spec.name.clone(),
            role: spec.role,
            lower_is_better: spec.lower_is_better,
            shape: md.shape,
            margin: spec.margin,
            cap_value: md.cap_value,
            capped: md.capped,
            missing: md.missing,
            covariate_missing: md.covariate_missing,
            quantile: spec.quantile,
            results,
        });
    }
    // The correction's family: goal metrics × treatments (GrowthBook's).
    let family: Vec<(usize, usize)> = metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Goal)
        .flat_map(|(i, m)| {
            m.results
                .iter()
                .enumerate()
                .filter(|(_, r)| r.p_value.is_some())
                .map(move |(j, _)| (i, j))
        })
        .collect();
    let raw: Vec<f64> = family
        .iter()
        .map(|&(i, j)| metrics[i].results[j].p_value.unwrap_or(1.0))
        .collect();
    let adjusted = adjust(&raw, options.correction);
    for (&(i, j), p) in family.iter().zip(adjusted) {
        let r = &mut metrics[i].results[j];
        r.adjusted_p_value = Some(p);
        // Only a correction that raised the p-value widens the interval (a sequential
        // p-value of 1 is its own test's, and its interval already says so).
        if options.correction != Correction::None
            && r.p_value.is_some_and(|raw| p > raw)
            && let Some(e) = decision_effect(&r.comparison)
        {
            let iv = options.decide_with.interval(e);
            r.adjusted_interval =
                adjusted_interval(p, e.estimate, options.settings.alpha, (iv.lower, iv.upper));
        }
    }
    let alpha = options.settings.alpha;
    for m in metrics.iter_mut() {
        for r in m.results.iter_mut() {
            if m.role != Role::Goal {
                r.adjusted_p_value = r.p_value;
            }
            let Some(e) = decision_effect(&r.comparison) else {
                continue;
            };
            let p = r.adjusted_p_value.unwrap_or(1.0);
            r.verdict = if p < alpha {
                if (e.estimate > 0.0) != m.lower_is_better {
                    MetricVerdict::Better
                } else {
                    MetricVerdict::Worse
                }
            } else {
                MetricVerdict::Neutral
            };
        }
    }
    let timeline = timeline(data, control, &treatments, options);
    let decision = decide(&arms, &treatments, &metrics, &srm, options);
    Ok(Analysis {
        post_stratification: data.strata.as_ref().map(|s| PostStratification {
            column: s.column.clone(),
            strata: s.names.len(),
        }),
        format: FORMAT.into(),
        source: data.source.clone(),
        rows: data.rows,
        control: options.control.clone(),
        arms: arms
            .iter()
            .zip(&units)
            .zip(&weights)
            .map(|((a, u), w)| ArmInfo {
                name: a.clone(),
                units: *u,
                weight: *w,
            })
            .collect(),
        settings: options.settings,
        correction: options.correction,
        decide_with: options.decide_with,
        srm,
        metrics,
        timeline,
        warnings,
        decision,
    })
}

fn day_name(day: i64) -> String {
    let date = time::Date::from_julian_day(2_440_588 + day as i32).unwrap_or(time::Date::MIN);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn timeline(
    data: &Aggregated,
    control: usize,
    treatments: &[usize],
    options: &Options,
) -> Vec<Timeline> {
    let mut out = Vec::new();
    if data.days.is_empty() {
        return out;
    }
    // Per-day values are not kept for quantile metrics: their timeline is not drawn.
    for (m, md) in data
        .metrics
        .iter()
        .enumerate()
        .filter(|(_, md)| md.quantiles.is_none())
    {
        for &t in treatments {
            if t >= data.arms.len() {
                continue;
            }
            let (mut a, mut b) = (Moments::default(), Moments::default());
            let mut points = Vec::new();
            let mut scale = Scale::Relative;
            for (&day, table) in &data.days {
                a = a.merge(&table[m][control]);
                b = b.merge(&table[m][t]);
                let c = compare(&a, &b, md.shape, &options.settings, md.spec.lower_is_better);
                if let Some(e) = decision_effect(&c) {
                    scale = e.scale;
                    points.push(TimelinePoint {
                        day: day_name(day),
                        units: a.n + b.n,
                        estimate: e.estimate,
                        sequential_lower: e.sequential.lower,
                        sequential_upper: e.sequential.upper,
                        fixed_lower: e.fixed.lower,
                        fixed_upper: e.fixed.upper,
                    });
                }
            }
            out.push(Timeline {
                metric: md.spec.name.clone(),
                variant: data.arms[t].clone(),
                scale,
                points,
            });
        }
    }
    out
}

fn describe(m: &MetricResult, r: &VariantResult, kind: TestKind) -> String {
    let Some(e) = decision_effect(&r.comparison) else {
        return format!("{}: no test", m.name);
    };
    let i = kind.interval(e);
    let show = |x: f64| format_effect(e.scale, x);
    format!(
        "{} {} [{}, {}], p = {}{}",
        m.name,
        show(e.estimate),
        show(i.lower),
        show(i.upper),
        format_p(r.adjusted_p_value.unwrap_or(1.0)),
        if m.role == Role::Goal && r.adjusted_p_value != r.p_value {
            " (adjusted)"
        } else {
            ""
        }
    )
}

fn decide(
    arms: &[String],
    treatments: &[usize],
    metrics: &[MetricResult],
    srm: &Srm,
    options: &Options,
) -> Decision {
    let kind = options.decide_with;
    let has_goals = metrics.iter().any(|m| m.role == Role::Goal);
    let mut variants = Vec::new();
    for (j, &t) in treatments.iter().enumerate() {
        let mut blocking = Vec::new();
        let mut waiting = Vec::new();
        let mut wins = Vec::new();
        for m in metrics {
            let r = &m.results[j];
            match (m.role, r.verdict) {
                (Role::Guardrail, MetricVerdict::Worse) => {
                    blocking.push(format!("guardrail harmed: {}", describe(m, r, kind)))
                }
                (Role::Goal, MetricVerdict::Worse) => {
                    blocking.push(format!("goal metric worse: {}", describe(m, r, kind)))
                }
                (Role::Goal, MetricVerdict::Better) => wins.push(describe(m, r, kind)),
                // A metric without a test (too few units, no variance, or an undefined
                // statistic) never counts for or against: the decision waits for it.
                (Role::Guardrail | Role::Goal, MetricVerdict::NoTest) => waiting.push(format!(
                    "{} {} could not be tested{}",
                    if m.role == Role::Goal {
                        "goal metric"
                    } else {
                        "guardrail"
                    },
                    m.name,
                    r.comparison
                        .warnings
                        .last()
                        .map_or(String::new(), |w| format!(": {w}"))
                )),
                _ => {}
            }
            if m.role == Role::Guardrail
                && r.verdict != MetricVerdict::Worse
                && let (Some(margin), Some(e)) = (m.margin, r.comparison.relative.as_ref())
            {
                let i = kind.interval(e);
                // The harmful end of the interval, as a positive harm.
                let harm = if m.lower_is_better { i.upper } else { -i.lower };
                if harm.is_infinite() {
                    waiting.push(format!(
                        "guardrail {}: the one-sided interval leaves its harm unbounded, so its margin cannot be checked (test it with --alternative {})",
                        m.name,
                        if m.lower_is_better { "less" } else { "greater" }
                    ));
                } else if harm > margin {
                    waiting.push(format!(
                        "guardrail {} could still be harmed by {} (margin {})",
                        m.name,
                        pct(harm).trim_start_matches('+'),
                        pct(margin).trim_start_matches('+')
                    ));
                }
            }
        }
        let (outcome, reasons) = if !blocking.is_empty() {
            (Outcome::DoNotShip, blocking)
        } else if !waiting.is_empty() {
            (Outcome::Inconclusive, waiting)
        } else if !has_goals {
            (
                Outcome::Ship,
                vec!["no goal metrics; no guardrail harmed (do no harm)".into()],
            )
        } else if !wins.is_empty() {
            (
                Outcome::Ship,
                wins.into_iter()
                    .map(|w| format!("goal improved: {w}"))
                    .collect(),
            )
        } else {
            (
                Outcome::Inconclusive,
                vec!["no goal metric is significantly better yet: keep the test running".into()],
            )
        };
        variants.push(VariantDecision {
            variant: arms[t].clone(),
            outcome,
            reasons,
        });
    }
    if srm.mismatch {
        return Decision {
            outcome: Outcome::Invalid,
            ship: None,
            reasons: vec![format!(
                "sample ratio mismatch (p = {:.2e} < {}): fix the assignment before reading any metric",
                srm.p_value, srm.threshold
            )],
            variants,
        };
    }
    let shippable: Vec<&VariantDecision> = variants
        .iter()
        .filter(|v| v.outcome == Outcome::Ship)
        .collect();
    let (outcome, ship, reasons) = if let Some(first) = shippable.first() {
        // Of several shippable treatments, the one with the largest lift on the first
        // goal metric.
        let best = shippable
            .iter()
            .max_by(|x, y| {
                let lift = |v: &VariantDecision| {
                    metrics
                        .iter()
                        .find(|m| m.role == Role::Goal)
                        .and_then(|m| m.results.iter().find(|r| r.variant == v.variant))
                        .and_then(|r| decision_effect(&r.comparison))
                        .map_or(0.0, |e| e.estimate)
                };
                lift(x).total_cmp(&lift(y))
            })
            .unwrap_or(first);
        (
            Outcome::Ship,
            Some(best.variant.clone()),
            best.reasons.clone(),
        )
    } else if variants.iter().all(|v| v.outcome == Outcome::DoNotShip) {
        (
            Outcome::DoNotShip,
            None,
            variants.iter().flat_map(|v| v.reasons.clone()).collect(),
        )
    } else {
        (
            Outcome::Inconclusive,
            None,
            variants.iter().flat_map(|v| v.reasons.clone()).collect(),
        )
    };
    Decision {
        outcome,
        ship,
        reasons,
        variants,
    }
}
