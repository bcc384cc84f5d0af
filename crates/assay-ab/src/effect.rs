//! One metric, one treatment against control: absolute and relative effects with a fixed-
//! horizon Welch interval, an always-valid sequential interval and a Bayesian view.
//!
//! The estimators follow GrowthBook's engine (`gbstats` 0.8.0, `models/statistics.py`,
//! `frequentist/tests.py`, `bayesian/tests.py`; docs.growthbook.io/statistics), which
//! Eppo and Statsig document in the same form:
//! - per-unit variance of a mean metric (Q − S²/n)/(n − 1), of a proportion p(1 − p);
//! - ratio metrics M/D by the delta method with the covariance of M and D (Deng, Knoblich
//!   and Lu 2018, "Applying the Delta Method in Metric Analytics", KDD);
//! - CUPED (Deng, Xu, Kohavi and Walker 2013, WSDM) with θ = Cov(Y, X)/Var(X) pooled over
//!   both arms, per GrowthBook's `compute_theta`;
//! - relative lift (x̄_b − x̄_a)/|x̄_a| with its delta-method variance (arms independent);
//! - Welch–Satterthwaite degrees of freedom on the per-unit variances;
//! - the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Wang and Ramdas
//!   (2023, "Time-uniform central limit theory and asymptotic confidence sequences",
//!   arXiv:2103.06476, eqs. 9, 155, 161), tuned by N* (GrowthBook's default 5,000);
//! - a Gaussian posterior on the effect, flat or with a proper N(μ₀, σ₀²) prior on the
//!   relative lift, chance to win P(effect > 0) and GrowthBook's risk (expected loss).

use crate::moments::{COVARIATE, COVARIATE_DENOMINATOR, DENOMINATOR, MAIN, Moments};
use assay_stats::{normal_cdf, normal_quantile, t_quantile, t_sf};
use serde::{Deserialize, Serialize};

/// How a value's per-unit variance is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Sample variance with n − 1.
    Mean,
    /// A 0/1 value: p(1 − p), as GrowthBook's `ProportionStatistic` (no n − 1).
    Proportion,
}

/// How a metric is formed from a unit's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub main: Kind,
    /// Ratio metric: Σmain / Σdenominator.
    pub denominator: Option<Kind>,
    /// CUPED with this pre-period covariate (for a ratio: its numerator's).
    pub covariate: Option<Kind>,
    /// CUPED on a ratio metric: the pre-period denominator.
    #[serde(default)]
    pub covariate_denominator: Option<Kind>,
}

impl Shape {
    /// A ratio metric adjusted by the pre-period ratio (GrowthBook's
    /// `RegressionAdjustedRatioStatistic`).
    pub fn is_ratio_cuped(&self) -> bool {
        self.denominator.is_some() && self.covariate.is_some()
    }

    /// The kind of each value of a unit, by its index in [`Moments`].
    pub(crate) fn kinds(&self) -> [Kind; 4] {
        [
            self.main,
            self.denominator.unwrap_or(Kind::Mean),
            self.covariate.unwrap_or(Kind::Mean),
            self.covariate_denominator.unwrap_or(Kind::Mean),
        ]
    }
}

/// What the frequentist tests ask, in the effect's own direction (treatment − control),
/// as GrowthBook's `TwoSidedTTest`, `OneSidedTreatmentGreaterTTest` and
/// `OneSidedTreatmentLesserTTest` (and their sequential forms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    /// The effect differs from 0: a bounded interval, level 1 − α.
    #[default]
    TwoSided,
    /// The effect is above 0: the interval is [lower, +∞).
    Greater,
    /// The effect is below 0: the interval is (−∞, upper].
    Less,
}

/// Analysis settings shared by all metrics.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Intervals are 1 − α (two-sided, or one-sided with `alternative`).
    pub alpha: f64,
    /// N*, the total sample size at which the sequential interval is tightest.
    pub sequential_tuning: f64,
    /// Proper Gaussian prior (mean, sd) on the relative lift; None = flat.
    pub prior: Option<(f64, f64)>,
    #[serde(default)]
    pub alternative: Alternative,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alpha: 0.05,
            sequential_tuning: 5000.0,
            prior: None,
            alternative: Alternative::TwoSided,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Absolute,
    Relative,
}

/// An interval and its p-value. A one-sided interval has an infinite end, written
/// `null` in JSON (and read back as that infinity).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    #[serde(with = "unbounded_below")]
    pub lower: f64,
    #[serde(with = "unbounded_above")]
    pub upper: f64,
    pub p_value: f64,
}

/// JSON has no infinity: an open end is `null`.
macro_rules! unbounded {
    ($module:ident, $infinity:expr) => {
        pub(crate) mod $module {
            use serde::{Deserialize, Deserializer, Serializer};
            pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
                if *v == $infinity {
                    s.serialize_none()
                } else {
                    s.serialize_f64(*v)
                }
            }
            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
                Ok(Option::<f64>::deserialize(d)?.unwrap_or($infinity))
            }
        }
    };
}
unbounded!(unbounded_below, f64::NEG_INFINITY);
unbounded!(unbounded_above, f64::INFINITY);

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bayes {
    /// Posterior P(effect > 0) (P(effect < 0) for metrics where lower is better).
    pub chance_to_win: f64,
    /// Equal-tailed credible interval at 1 − α.
    pub lower: f64,
    pub upper: f64,
    /// Expected loss of keeping control and of shipping the treatment (GrowthBook's
    /// `risk`), on the effect's scale.
    pub risk_control: f64,
    pub risk_treatment: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub scale: Scale,
    pub estimate: f64,
    pub std_error: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub dof: f64,
    /// Fixed-horizon Welch t interval and two-sided p-value.
    pub fixed: Interval,
    /// Always-valid confidence sequence and p-value.
    pub sequential: Interval,
    pub bayes: Bayes,
}

impl Effect {
    /// Whether every number of the effect is finite, so that a decision may read it.
    pub fn is_finite(&self) -> bool {
        // A one-sided interval's open end is infinite by design; nothing else may be.
        let i = |x: &Interval| {
            (x.lower.is_finite() || x.lower == f64::NEG_INFINITY)
                && (x.upper.is_finite() || x.upper == f64::INFINITY)
                && x.lower < x.upper
                && x.p_value.is_finite()
        };
        let b = &self.bayes;
        self.estimate.is_finite()
            && self.std_error.is_finite()
            && self.std_error > 0.0
            && !self.dof.is_nan()
            && i(&self.fixed)
            && i(&self.sequential)
            && [
                b.chance_to_win,
                b.lower,
                b.upper,
                b.risk_control,
                b.risk_treatment,
            ]
            .iter()
            .all(|v| v.is_finite())
    }
}

/// Arm summary entering the tests.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    pub units: u64,
    /// The metric's mean (ratio of sums for ratio metrics), before CUPED.
    pub mean: f64,
    /// The mean after CUPED adjustment (equal to `mean` without a covariate).
    pub adjusted_mean: f64,
    /// Per-unit variance entering the tests (delta-method for ratios, adjusted for CUPED).
    pub variance: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub control: ArmSummary,
    pub treatment: ArmSummary,
    /// The CUPED coefficient, when a covariate was used (0 = no adjustment possible).
    pub theta: Option<f64>,
    /// Share of the unadjusted variance of the absolute effect removed by CUPED.
    pub variance_reduction: Option<f64>,
    /// Whether the effects were post-stratified (None: not asked for; false: asked for
    /// but not possible, with the reason among the warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_stratified: Option<bool>,
    pub absolute: Option<Effect>,
    pub relative: Option<Effect>,
    /// Why an effect is missing, or what to be careful of.
    pub warnings: Vec<String>,
}

impl Comparison {
    /// A comparison that could not be tested, and why.
    pub fn untested(control: &Moments, treatment: &Moments, why: String) -> Comparison {
        let summary = |m: &Moments| ArmSummary {
            units: m.n,
            mean: f64::NAN,
            adjusted_mean: f64::NAN,
            variance: f64::NAN,
        };
        Comparison {
            control: summary(control),
            treatment: summary(treatment),
            theta: None,
            variance_reduction: None,
            post_stratified: None,
            absolute: None,
            relative: None,
            warnings: vec![why],
        }
    }
}

/// Per-unit covariance of values i and j as GrowthBook's `compute_covariance`: with n − 1,
/// except between two 0/1 values, whose covariance (like a proportion's variance
/// p(1 − p)) is taken with n.
pub(crate) fn kind_cov(m: &Moments, i: usize, j: usize, kinds: [Kind; 4]) -> f64 {
    if m.n <= 1 && !(i == j && kinds[i] == Kind::Proportion) {
        return 0.0;
    }
    match (kinds[i], kinds[j]) {
        (Kind::Proportion, Kind::Proportion) if i == j => m.mean[i] * (1.0 - m.mean[i]),
        (Kind::Proportion, Kind::Proportion) => {
            m.sum_products(i, j) / m.n as f64 - m.mean[i] * m.mean[j]
        }
        _ => m.cov(i, j),
    }
}

/// The 4×4 per-unit covariance matrix of a ratio's (numerator, denominator, pre-period
/// numerator, pre-period denominator): GrowthBook's `lambda_matrix`.
fn lambda(m: &Moments, kinds: [Kind; 4]) -> [[f64; 4]; 4] {
    std::array::from_fn(|i| std::array::from_fn(|j| kind_cov(m, i, j, kinds)))
}

fn quadratic(g: &[f64; 4], l: &[[f64; 4]; 4]) -> f64 {
    (0..4)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .map(|(i, j)| g[i] * l[i][j] * g[j])
        .sum()
}

/// The gradient of the adjusted ratio m̄/d̄ − θ·x̄/x̄_d in the four means (GrowthBook's
/// `nabla`); zeros when a denominator's mean is 0.
fn ratio_gradient(m: &Moments, theta: f64) -> [f64; 4] {
    let [mm, md, mx, mxd] = m.mean;
    if md == 0.0 || mxd == 0.0 {
        return [0.0; 4];
    }
    [
        1.0 / md,
        -mm / (md * md),
        -theta / mxd,
        theta * mx / (mxd * mxd),
    ]
}

/// Mean and per-unit variance of a metric (ratio by the delta method), without CUPED.
pub(crate) fn plain(m: &Moments, shape: Shape) -> (f64, f64) {
    let kinds = shape.kinds();
    match shape.denominator {
        None => (m.mean[MAIN], kind_cov(m, MAIN, MAIN, kinds)),
        Some(_) => {
            let (mm, md) = (m.mean[MAIN], m.mean[DENOMINATOR]);
            if denominator_is_zero(m, DENOMINATOR) {
                return (f64::NAN, 0.0);
            }
            let vm = kind_cov(m, MAIN, MAIN, kinds);
            let vd = kind_cov(m, DENOMINATOR, DENOMINATOR, kinds);
            let c = kind_cov(m, MAIN, DENOMINATOR, kinds);
            let var = vm / md.powi(2) - 2.0 * c * mm / md.powi(3) + mm.powi(2) * vd / md.powi(4);
            (mm / md, var)
        }
    }
}

/// Mean and per-unit variance of a metric adjusted by CUPED with coefficient θ (θ = 0:
/// no adjustment).
fn adjusted(m: &Moments, shape: Shape, theta: f64) -> (f64, f64) {
    let (mean, var) = plain(m, shape);
    if theta == 0.0 || shape.covariate.is_none() {
        return (mean, var);
    }
    let kinds = shape.kinds();
    if shape.is_ratio_cuped() {
        let g = ratio_gradient(m, theta);
        let pre = m.mean[COVARIATE] / m.mean[COVARIATE_DENOMINATOR];
        return (mean - theta * pre, quadratic(&g, &lambda(m, kinds)));
    }
    (
        mean - theta * m.mean[COVARIATE],
        var + theta * theta * kind_cov(m, COVARIATE, COVARIATE, kinds)
            - 2.0 * theta * kind_cov(m, MAIN, COVARIATE, kinds),
    )
}

/// Whether a denominator (value `i`) sums to 0 in this arm, up to the rounding of its
/// running mean: denominators of +1 and −1 summing to 0 leave a mean of ~1e-17, not 0,
/// and a ratio over it is a huge number, not a measurement.
fn denominator_is_zero(m: &Moments, i: usize) -> bool {
    let md = m.mean[i];
    let spread = m.cov(i, i).max(0.0).sqrt();
    md == 0.0 || md.abs() <= 1e-9 * spread
}

/// Whether every statistic of an arm is a finite number (values near f64::MAX overflow
/// the running sums of squares).
fn finite(m: &Moments) -> bool {
    m.mean.iter().chain(&m.co).all(|v| v.is_finite())
}

/// GrowthBook's pooled θ: Cov(Y, X)/Var(X) over both arms together; 0 when either pooled
/// variance is 0 (the analysis then falls back to no adjustment). For a ratio metric,
/// `compute_theta_regression_adjusted_ratio`: the per-unit covariance of the post- and
/// pre-period ratios over the pre-period ratio's variance, each summed over the two arms;
/// 0 when |θ| < 10⁻⁸, as GrowthBook.
pub fn pooled_theta(a: &Moments, b: &Moments, shape: Shape) -> f64 {
    if shape.covariate.is_none() {
        return 0.0;
    }
    let kinds = shape.kinds();
    if shape.is_ratio_cuped() {
        let (mut cov, mut var_pre) = (0.0, 0.0);
        for m in [a, b] {
            let g = ratio_gradient(m, 1.0);
            let l = lambda(m, kinds);
            for i in 2..4 {
                for j in 0..4 {
                    let term = g[i] * l[i][j] * g[j];
                    if j < 2 {
                        cov += term;
                    } else {
                        var_pre += term;
                    }
                }
            }
        }
        if var_pre == 0.0 || !(cov / var_pre).is_finite() {
            return 0.0;
        }
        let theta = -cov / var_pre;
        return if theta.abs() < 1e-8 { 0.0 } else { theta };
    }
    let joint = a.merge(b);
    let vx = kind_cov(&joint, COVARIATE, COVARIATE, kinds);
    let vy = kind_cov(&joint, MAIN, MAIN, kinds);
    if vx <= 0.0 || vy <= 0.0 {
        return 0.0;
    }
    kind_cov(&joint, MAIN, COVARIATE, kinds) / vx
}

/// Variance of the relative lift (M_b − M_a)/|ū_a| of CUPED-adjusted means, by the delta
/// method in every arm's means with θ held fixed (ū_a: control's unadjusted mean).
/// For a ratio this is GrowthBook's `frequentist_variance_relative_cuped_ratio`. For a
/// plain metric, the lift is A/ȳ_a − 1 with A = ȳ_b − θ(x̄_b − x̄_a), so the gradient is
/// (1/ȳ_a, −θ/ȳ_a) on the treatment and (−A/ȳ_a², θ/ȳ_a) on control (GrowthBook's current
/// engine writes A ≈ ȳ_b; see docs/ab.md and tests/cuped_coverage.rs for why assay keeps
/// the exact A).
fn relative_cuped_variance(a: &Moments, b: &Moments, shape: Shape, theta: f64) -> f64 {
    let kinds = shape.kinds();
    let (na, nb) = (a.n as f64, b.n as f64);
    let (ua, _) = plain(a, shape);
    if shape.is_ratio_cuped() {
        let (ma, _) = adjusted(a, shape, theta);
        let (mb, _) = adjusted(b, shape, theta);
        let g_abs = (mb - ma) * ua.signum();
        let den = ua.abs();
        let d = a.mean[DENOMINATOR];
        let ga = ratio_gradient(a, theta);
        let control = [
            -(den + g_abs) / d / (den * den),
            a.mean[MAIN] * (den + g_abs) / (d * d) / (den * den),
            -ga[2] / den,
            -ga[3] / den,
        ];
        let treatment = ratio_gradient(b, theta).map(|g| g / den);
        return quadratic(&control, &lambda(a, kinds)) / na
            + quadratic(&treatment, &lambda(b, kinds)) / nb;
    }
    let big_a = b.mean[MAIN] - theta * (b.mean[COVARIATE] - a.mean[COVARIATE]);
    let quad = |m: &Moments, gy: f64, gx: f64| {
        gy * gy * kind_cov(m, MAIN, MAIN, kinds)
            + gx * gx * kind_cov(m, COVARIATE, COVARIATE, kinds)
            + 2.0 * gy * gx * kind_cov(m, MAIN, COVARIATE, kinds)
    };
    quad(b, 1.0 / ua, -theta / ua) / nb + quad(a, -big_a / (ua * ua), theta / ua) / na
}

/// ρ of the normal-mixture confidence sequence tuned to be tightest at N* (eq. 161).
pub fn sequential_rho(alpha: f64, tuning: f64) -> f64 {
    ((-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning).sqrt()
}

/// The range GrowthBook reports a one-sided sequential p-value in: the one-sided
/// confidence sequence is defined for α below ½, and its search starts at 10⁻⁵.
pub const ONE_SIDED_SEQUENTIAL_P: (f64, f64) = (1e-5, 0.4999);

/// The confidence sequence's half-width in standard errors after `total` units (eq. 9
/// with s² = se²·N): √(2(Nρ² + 1)·ln(√(Nρ² + 1)/α)/(Nρ²)); it takes the place of z₁₋α/₂.
pub fn sequential_multiplier(total: f64, alpha: f64, tuning: f64) -> f64 {
    let rho2 = sequential_rho(alpha, tuning).powi(2);
    let tr = total * rho2 + 1.0;
    (2.0 * tr * (tr.sqrt() / alpha).ln() / (total * rho2)).sqrt()
}

/// The confidence sequence for an estimate with standard error `se` after `total` units,
/// and its always-valid p-value. Two-sided: eq. 9 and eq. 155. One-sided: eq. 134 with
/// ρ tuned at 2α (eq. 161); its p-value is the α at which the interval's finite end
/// reaches 0, in closed form where GrowthBook searches by bisection, and reported
/// within [`ONE_SIDED_SEQUENTIAL_P`] as GrowthBook does.
pub fn sequential(
    estimate: f64,
    se: f64,
    total: f64,
    alpha: f64,
    tuning: f64,
    alternative: Alternative,
) -> Interval {
    if alternative == Alternative::TwoSided {
        let rho2 = sequential_rho(alpha, tuning).powi(2);
        let tr = total * rho2 + 1.0;
        let half = se * sequential_multiplier(total, alpha, tuning);
        let st2 = estimate * estimate * total / (se * se);
        let evalue = (rho2 * st2 / (2.0 * tr)).exp() / tr.sqrt();
        return Interval {
            lower: estimate - half,
            upper: estimate + half,
            p_value: (1.0 / evalue).min(1.0),
        };
    }
    let rho2 = sequential_rho(2.0 * alpha, tuning).powi(2);
    let tr = total * rho2 + 1.0;
    // half(α)² = k·ln(1 + √(Nρ² + 1)/(2α)) with ρ held at the level asked for.
    let k = se * se * 2.0 * tr / (total * rho2);
    let half = (k * (1.0 + tr.sqrt() / (2.0 * alpha)).ln()).sqrt();
    // The side the test is about: positive when the effect goes that way.
    let toward = if alternative == Alternative::Greater {
        estimate
    } else {
        -estimate
    };
    let (floor, ceiling) = ONE_SIDED_SEQUENTIAL_P;
    let p_value = if toward <= 0.0 {
        ceiling
    } else {
        // half(α) = toward ⇔ α = √(Nρ² + 1) / (2(e^{toward²/k} − 1)).
        let root = tr.sqrt() / (2.0 * (toward * toward / k).exp_m1());
        root.clamp(floor, ceiling)
    };
    match alternative {
        Alternative::Greater => Interval {
            lower: estimate - half,
            upper: f64::INFINITY,
            p_value,
        },
        _ => Interval {
            lower: f64::NEG_INFINITY,
            upper: estimate + half,
            p_value,
        },
    }
}

/// Welch t interval and p-value: two-sided, or one-sided in the direction asked.
pub fn fixed(estimate: f64, se: f64, dof: f64, alpha: f64, alternative: Alternative) -> Interval {
    match alternative {
        Alternative::TwoSided => {
            let half = t_quantile(1.0 - alpha / 2.0, dof) * se;
            Interval {
                lower: estimate - half,
                upper: estimate + half,
                p_value: (2.0 * t_sf((estimate / se).abs(), dof)).min(1.0),
            }
        }
        Alternative::Greater => Interval {
            lower: estimate - t_quantile(1.0 - alpha, dof) * se,
            upper: f64::INFINITY,
            p_value: t_sf(estimate / se, dof),
        },
        Alternative::Less => Interval {
            lower: f64::NEG_INFINITY,
            upper: estimate + t_quantile(1.0 - alpha, dof) * se,
            p_value: t_sf(-estimate / se, dof),
        },
    }
}

/// Gaussian posterior on the effect; `prior` is (mean, sd) on the same scale.
pub fn bayes(
    estimate: f64,
    se: f64,
    prior: Option<(f64, f64)>,
    alpha: f64,
    lower_is_better: bool,
) -> Bayes {
    let (mean, sd) = match prior {
        Some((m0, s0)) => {
            let precision = 1.0 / (se * se) + 1.0 / (s0 * s0);
            let mean = (estimate / (se * se) + m0 / (s0 * s0)) / precision;
            (mean, (1.0 / precision).sqrt())
        }
        None => (estimate, se),
    };
    let z = normal_quantile(1.0 - alpha / 2.0);
    let up = 1.0 - normal_cdf(-mean / sd);
    // E[max(X, 0)] and E[max(−X, 0)] for X ~ N(mean, sd²): the truncated-normal means of
    // gbstats' `get_risk`, in closed form.
    let pdf = (-0.5 * (mean / sd).powi(2)).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let gain = mean * normal_cdf(mean / sd) + sd * pdf;
    let loss = -mean * normal_cdf(-mean / sd) + sd * pdf;
    let (chance_to_win, risk_control, risk_treatment) = if lower_is_better {
        (1.0 - up, loss, gain)
    } else {
        (up, gain, loss)
    };
    Bayes {
        chance_to_win,
        lower: mean - z * sd,
        upper: mean + z * sd,
        risk_control,
        risk_treatment,
    }
}

fn welch_dof(va: f64, na: f64, vb: f64, nb: f64) -> f64 {
    (vb / nb + va / na).powi(2)
        / (vb.powi(2) / (nb.powi(2) * (nb - 1.0)) + va.powi(2) / (na.powi(2) * (na - 1.0)))
}

/// Compares a treatment arm with control on one metric.
pub fn compare(
    control: &Moments,
    treatment: &Moments,
    shape: Shape,
    settings: &Settings,
    lower_is_better: bool,
) -> Comparison {
    compare_stratified(control, treatment, None, shape, settings, lower_is_better)
}

/// [`compare`], with the effects and their standard errors post-stratified over `strata`
/// (each stratum's (control, treatment) statistics, summing to the arms') when
/// GrowthBook's post-stratification applies; the degrees of freedom and the pooled means
/// stay those of the whole arms, as in GrowthBook.
pub fn compare_stratified(
    control: &Moments,
    treatment: &Moments,
    strata: Option<&[(Moments, Moments)]>,
    shape: Shape,
    settings: &Settings,
    lower_is_better: bool,
) -> Comparison {
    let (na, nb) = (control.n as f64, treatment.n as f64);
    let (ua, va_plain) = plain(control, shape);
    let (ub, vb_plain) = plain(treatment, shape);
    let theta = shape
        .covariate
        .map(|_| pooled_theta(control, treatment, shape));
    let th = theta.unwrap_or(0.0);
    let (ma, va) = adjusted(control, shape, th);
    let (mb, vb) = adjusted(treatment, shape, th);
    let a = ArmSummary {
        units: control.n,
        mean: ua,
        adjusted_mean: ma,
        variance: va,
    };
    let b = ArmSummary {
        units: treatment.n,
        mean: ub,
        adjusted_mean: mb,
        variance: vb,
    };
    let mut warnings = Vec::new();
    let mut out = Comparison {
        control: a,
        treatment: b,
        theta,
        variance_reduction: None,
        post_stratified: None,
        absolute: None,
        relative: None,
        warnings: Vec::new(),
    };
    if shape.covariate.is_some() && th == 0.0 {
        warnings.push(
            "the covariate or the metric has no variance over both arms: CUPED not applied".into(),
        );
    }
    if !finite(control) || !finite(treatment) {
        warnings.push(
            "undefined: the values are too large for double precision (their sums or squares \
             overflow); rescale the metric (e.g. to thousands)"
                .into(),
        );
        out.warnings = warnings;
        return out;
    }
    if control.n < 2 || treatment.n < 2 {
        warnings.push(format!(
            "too few units to test ({} in control, {} in treatment; at least 2 each)",
            control.n, treatment.n
        ));
        out.warnings = warnings;
        return out;
    }
    for (slot, what) in [
        (DENOMINATOR, "the ratio's denominator"),
        (COVARIATE_DENOMINATOR, "the ratio's pre-period denominator"),
    ] {
        let present = match slot {
            DENOMINATOR => shape.denominator.is_some(),
            _ => shape.covariate_denominator.is_some(),
        };
        let (zc, zt) = (
            denominator_is_zero(control, slot),
            denominator_is_zero(treatment, slot),
        );
        if present && (zc || zt) {
            let which = match (zc, zt) {
                (true, true) => "both arms",
                (true, false) => "control",
                _ => "the treatment",
            };
            warnings.push(format!("undefined: {what} sums to 0 in {which}: no test"));
            out.warnings = warnings;
            return out;
        }
    }
    if a.variance <= 0.0 || b.variance <= 0.0 {
        let which = match (a.variance <= 0.0, b.variance <= 0.0) {
            (true, true) => "both arms",
            (true, false) => "control",
            _ => "the treatment",
        };
        warnings.push(format!(
            "zero variance in {which} (every unit has the same value): no test"
        ));
        out.warnings = warnings;
        return out;
    }
    if shape.covariate.is_some() && th != 0.0 {
        let unadjusted = va_plain / na + vb_plain / nb;
        out.variance_reduction = Some(1.0 - (a.variance / na + b.variance / nb) / unadjusted);
    }
    // Post-stratification replaces the estimates and their variances when every stratum
    // allows it; otherwise the pooled ones stand, with the reason said.
    let stratified = strata.map(|cells| {
        (
            crate::poststrat::effect(cells, shape, false),
            crate::poststrat::effect(cells, shape, true),
        )
    });
    let absolute = match &stratified {
        Some((Ok(e), _)) => (e.estimate, e.variance),
        _ => (
            b.adjusted_mean - a.adjusted_mean,
            a.variance / na + b.variance / nb,
        ),
    };
    match &stratified {
        Some((Ok(_), _)) => out.post_stratified = Some(true),
        Some((Err(why), _)) => {
            out.post_stratified = Some(false);
            warnings.push(format!("post-stratification not applied: {why}"));
        }
        None => {}
    }
    let relative = (ua != 0.0).then(|| match &stratified {
        Some((Ok(_), Ok(e))) => (e.estimate, e.variance),
        _ => {
            let estimate = (b.adjusted_mean - a.adjusted_mean) / ua.abs();
            let var = if shape.covariate.is_some() && th != 0.0 {
                relative_cuped_variance(control, treatment, shape, th)
            } else {
                relative_variance(&a, &b)
            };
            (estimate, var)
        }
    });
    out.warnings = warnings;
    effects(out, absolute, relative, settings, lower_is_better)
}

/// The delta-method variance of (x̄_b − x̄_a)/|x̄_a| for independent arms (GrowthBook's
/// `frequentist_variance` with `relative`).
fn relative_variance(a: &ArmSummary, b: &ArmSummary) -> f64 {
    let (ua, ub) = (a.mean, b.mean);
    let (na, nb) = (a.units as f64, b.units as f64);
    b.variance / (ua * ua * nb) + a.variance * ub * ub / (ua.powi(4) * na)
}

/// The tests on a comparison's arms: the absolute effect and (when the control mean is
/// not 0) the relative one, each as (estimate, variance of the estimate), with Welch's
/// degrees of freedom from the arms' per-unit variances.
fn effects(
    mut out: Comparison,
    absolute: (f64, f64),
    relative: Option<(f64, f64)>,
    settings: &Settings,
    lower_is_better: bool,
) -> Comparison {
    let (a, b) = (out.control, out.treatment);
    let (na, nb) = (a.units as f64, b.units as f64);
    let dof = welch_dof(a.variance, na, b.variance, nb);
    let total = na + nb;
    let finish = |scale: Scale, estimate: f64, var: f64, prior: Option<(f64, f64)>| {
        let se = var.sqrt();
        Effect {
            scale,
            estimate,
            std_error: se,
            dof,
            fixed: fixed(estimate, se, dof, settings.alpha, settings.alternative),
            sequential: sequential(
                estimate,
                se,
                total,
                settings.alpha,
                settings.sequential_tuning,
                settings.alternative,
            ),
            bayes: bayes(estimate, se, prior, settings.alpha, lower_is_better),
        }
    };
    // A prior on the relative lift, rescaled to the absolute effect by the control mean
    // (gbstats' EffectBayesianABTest).
    let ua = a.mean;
    let abs_prior = settings
        .prior
        .map(|(m0, s0)| (m0 * ua.abs(), s0 * ua.abs()));
    let absolute = finish(Scale::Absolute, absolute.0, absolute.1, abs_prior);
    if !absolute.is_finite() {
        out.warnings.push(
            "undefined: the effect or its standard error is not a finite number (values too \
             large or too close together for double precision): no test"
                .into(),
        );
        return out;
    }
    out.absolute = Some(absolute);
    let Some((estimate, var)) = relative else {
        out.warnings
            .push("control mean is 0: no relative lift".into());
        return out;
    };
    let relative = finish(Scale::Relative, estimate, var, settings.prior);
    if relative.is_finite() {
        out.relative = Some(relative);
    } else {
        out.warnings.push(
            "undefined: the relative lift or its standard error is not a finite number \
             (control mean too close to 0 for double precision): absolute effect only"
                .into(),
        );
    }
    out
}

/// A quantile of a metric in one arm (the median, the 95th percentile of latency), with
/// the order-statistic bounds its variance is read from: GrowthBook's
/// `QuantileStatistic`. The bounds are the sample quantiles at ν ± z₀.₉₇₅·√(ν(1 − ν)/n*),
/// the binomial interval of the quantile's rank; their distance gives the quantile's
/// standard error without a density estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileStat {
    /// Units with a value.
    pub n: u64,
    /// The sample size the bounds' ranks were computed for (n for exact quantiles; a
    /// warehouse's sketch may use a smaller grid value).
    pub n_star: u64,
    /// The quantile level, 0 < ν < 1.
    pub nu: f64,
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// z₀.₉₇₅: GrowthBook takes the bounds at the 95% level whatever the test's α, and the
/// variance divides it out again.
fn bound_z() -> f64 {
    normal_quantile(0.975)
}

impl QuantileStat {
    /// From one arm's values: the sample quantiles by linear interpolation between order
    /// statistics (numpy's default, SQL's `PERCENTILE_CONT`), at ν and at its bounds'
    /// levels (clamped to [10⁻⁸, 1 − 10⁻⁸] as GrowthBook). Sorts `values`. None without
    /// values.
    pub fn from_values(values: &mut [f64], nu: f64) -> Option<QuantileStat> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable_by(f64::total_cmp);
        let n = values.len();
        let at = |q: f64| {
            let h = (n - 1) as f64 * q;
            let (lo, frac) = (h.floor() as usize, h - h.floor());
            let hi = (lo + 1).min(n - 1);
            values[lo] + frac * (values[hi] - values[lo])
        };
        let half = bound_z() * (nu * (1.0 - nu) / n as f64).sqrt();
        Some(QuantileStat {
            n: n as u64,
            n_star: n as u64,
            nu,
            estimate: at(nu),
            lower: at((nu - half).max(1e-8)),
            upper: at((nu + half).min(1.0 - 1e-8)),
        })
    }

    /// Per-unit variance: (n*/n)(n − 1)((upper − lower)/(2z))², floored at 10⁻⁵ from 100
    /// units on (GrowthBook's `variance`).
    pub fn variance(&self) -> f64 {
        if self.n <= 1 {
            return 0.0;
        }
        let n = self.n as f64;
        let half = (self.upper - self.lower) / (2.0 * bound_z());
        let init = (self.n_star as f64 / n) * (n - 1.0) * half * half;
        if self.n < 100 { init } else { init.max(1e-5) }
    }

    /// Why the quantile cannot be tested, if it cannot: too few units for the bounds'
    /// ranks to lie inside the sample, or bounds that collapsed onto one value (an atom
    /// at the quantile), as GrowthBook's `_has_zero_variance`.
    pub fn untestable(&self) -> Option<String> {
        let z2 = bound_z().powi(2);
        let n = self.n as f64;
        if n <= z2 * self.nu / (1.0 - self.nu) || n <= z2 * (1.0 - self.nu) / self.nu {
            return Some(format!(
                "too few units ({}) to bound the {} quantile",
                self.n,
                quantile_name(self.nu)
            ));
        }
        if self.n <= 1 || self.upper - self.lower <= 0.0 {
            return Some(format!(
                "the {} quantile's bounds are one value (many units share it): no variance",
                quantile_name(self.nu)
            ));
        }
        None
    }
}

/// `p95`, `p50`, `p99.9`.
pub fn quantile_name(nu: f64) -> String {
    let p = (nu * 1000.0).round() / 10.0;
    format!("p{p}")
}

/// Compares the quantiles of a treatment arm and control: absolute and relative
/// differences with the same tests as means (GrowthBook's quantile metrics).
pub fn compare_quantile(
    control: &QuantileStat,
    treatment: &QuantileStat,
    settings: &Settings,
    lower_is_better: bool,
) -> Comparison {
    let summary = |q: &QuantileStat| ArmSummary {
        units: q.n,
        mean: q.estimate,
        adjusted_mean: q.estimate,
        variance: q.variance(),
    };
    let (a, b) = (summary(control), summary(treatment));
    let mut out = Comparison {
        control: a,
        treatment: b,
        theta: None,
        variance_reduction: None,
        post_stratified: None,
        absolute: None,
        relative: None,
        warnings: Vec::new(),
    };
    for (q, arm) in [(control, "control"), (treatment, "the treatment")] {
        if let Some(why) = q.untestable() {
            out.warnings.push(format!("{why} in {arm}: no test"));
        }
    }
    if !out.warnings.is_empty() {
        return out;
    }
    let (na, nb) = (a.units as f64, b.units as f64);
    let absolute = (b.mean - a.mean, a.variance / na + b.variance / nb);
    let relative =
        (a.mean != 0.0).then(|| ((b.mean - a.mean) / a.mean.abs(), relative_variance(&a, &b)));
    effects(out, absolute, relative, settings, lower_is_better)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequential_interval_is_wider_than_the_fixed_one_and_its_p_value_agrees() {
        let s = sequential(0.1, 0.03, 20_000.0, 0.05, 5000.0, Alternative::TwoSided);
        let f = fixed(0.1, 0.03, 1e9, 0.05, Alternative::TwoSided);
        assert!(s.upper - s.lower > f.upper - f.lower);
        // The p-value is below α exactly when the interval excludes 0 (eq. 155 and 9
        // are the same boundary).
        for est in [0.02, 0.05, 0.08, 0.12] {
            let s = sequential(est, 0.03, 20_000.0, 0.05, 5000.0, Alternative::TwoSided);
            assert_eq!(s.p_value < 0.05, s.lower > 0.0, "{est}");
        }
    }

    #[test]
    fn risk_is_the_expected_loss_and_flips_for_lower_is_better() {
        let b = bayes(0.0, 1.0, None, 0.05, false);
        // E[max(X, 0)] for a standard normal is 1/√(2π).
        assert!((b.risk_control - 1.0 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-12);
        assert!((b.chance_to_win - 0.5).abs() < 1e-12);
        let up = bayes(0.5, 1.0, None, 0.05, false);
        let down = bayes(0.5, 1.0, None, 0.05, true);
        assert!((up.chance_to_win + down.chance_to_win - 1.0).abs() < 1e-12);
        assert_eq!(up.risk_control, down.risk_treatment);
    }
}
