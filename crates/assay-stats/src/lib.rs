//! Aggregates with honest uncertainty: every estimate carries its standard error and a
//! 95% confidence interval, computed the way the estimate calls for.
//!
//! - [`mean`]: the mean of per-sample values. Standard error `s / sqrt(n)` with the
//!   sample standard deviation (ddof = 1), as lm-evaluation-harness reports it. The
//!   interval is Wilson's score interval when every value is 0 or 1 (accuracies: it
//!   stays inside [0, 1] and keeps its coverage near 0 and 1; Wilson, 1927), otherwise
//!   Student's t interval with n - 1 degrees of freedom.
//! - [`stratified_mean`]: the mean over all samples of a task made of fixed subtasks
//!   (MMLU's subjects), which weights each subtask by its size. The subtasks are strata
//!   fixed by the benchmark's design, so the variance is the stratified-sampling one,
//!   `sum_h (n_h / N)^2 s_h^2 / n_h` (Cochran, *Sampling Techniques*, 3rd ed., eq. 5.3),
//!   with a t interval on N - H degrees of freedom.
//! - [`ratio`]: a ratio of sums (`sum y / sum x`, e.g. log-likelihood per byte), with the
//!   linearisation (delta-method) variance of the ratio estimator (Cochran, eq. 6.13).
//!
//! It is also the one home of the distributions every other crate needs (evaluation,
//! ranking, side-by-side runs and A/B tests): normal and Student's t quantiles and tails,
//! and the sample [`quantile`].

pub mod domain;

pub mod correct;
pub mod paired;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Φ⁻¹(p), the standard normal quantile.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    Normal::standard().inverse_cdf(p)
}

/// Φ(x), the standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// Degrees of freedom past which Student's t is the normal to double precision (and
/// statrs' t loses digits).
const T_AS_NORMAL: f64 = 1e7;

/// The `p` quantile of Student's t with `dof` degrees of freedom (the normal's when
/// `dof` is huge or infinite). Undefined arguments (NaN, `dof` ≤ 0, `p` outside [0, 1])
/// give NaN, which callers report as undefined, rather than a panic inside statrs.
pub fn t_quantile(p: f64, dof: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if dof.is_infinite() || dof > T_AS_NORMAL {
        return normal_quantile(p);
    }
    StudentsT::new(0.0, 1.0, dof).map_or(f64::NAN, |t| t.inverse_cdf(p))
}

/// P(T > x) for Student's t with `dof` degrees of freedom (the normal's when `dof` is
/// huge or infinite), computed as the lower tail at −x so tiny values keep their digits.
/// NaN arguments or `dof` ≤ 0 give NaN; x = ±∞ gives 0 or 1.
pub fn t_sf(x: f64, dof: f64) -> f64 {
    if x.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return if x > 0.0 { 0.0 } else { 1.0 };
    }
    if dof.is_infinite() || dof > T_AS_NORMAL {
        return 1.0 - normal_cdf(x);
    }
    StudentsT::new(0.0, 1.0, dof).map_or(f64::NAN, |t| t.cdf(-x))
}

/// The `q` quantile of sorted values by linear interpolation (NumPy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// An aggregate value with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub stderr: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Number of samples behind the estimate.
    pub n: usize,
    pub interval: IntervalMethod,
}

/// How the confidence interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    Wilson,
    StudentT,
    /// Value ± 1.96 standard errors (an asymptotic normal estimate, such as Cohen's kappa).
    Normal,
    /// A correlation's interval through Fisher's z transform.
    FisherZ,
    /// Percentiles of a seeded bootstrap.
    Bootstrap,
    /// Too few samples for an interval (n < 2): the bounds are NaN-free copies of the value.
    None,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("no samples to aggregate")]
    Empty,
    #[error("a value is not finite: {0}")]
    NotFinite(f64),
    #[error("the ratio's denominator sums to zero")]
    ZeroDenominator,
    #[error("Cohen's kappa is undefined: {0}")]
    KappaUndefined(&'static str),
    #[error("the correlation is undefined: one of the two has the same value on every item")]
    NoVariance,
    #[error("a standard error is negative: {0}")]
    NegativeStderr(f64),
}

fn check(values: &[f64]) -> Result<(), Error> {
    if values.is_empty() {
        return Err(Error::Empty);
    }
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::NotFinite(*v)),
        None => Ok(()),
    }
}

fn sample_variance(values: &[f64], mean: f64) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: f64) -> f64 {
    t_quantile(0.975, df)
}

fn t_interval(value: f64, stderr: f64, df: f64) -> (f64, f64) {
    let half = t975(df) * stderr;
    (value - half, value + half)
}

/// Wilson's score interval for `successes` out of `n` at 95%.
pub fn wilson(successes: f64, n: usize) -> (f64, f64) {
    let n = n as f64;
    let p = successes / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At 0 or n successes one end is exactly 0 or 1; computed, it misses by rounding
    // (8.7e-19 for 0 of 250).
    let low = if successes == 0.0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let high = if successes == n {
        1.0
    } else {
        (center + half).min(1.0)
    };
    (low, high)
}

/// Mean of per-sample values.
pub fn mean(values: &[f64]) -> Result<Estimate, Error> {
    mean_of(values, true)
}

/// Mean of values that are not proportions (paired differences, which may all be 0 or
/// 1 by chance): always Student's t interval.
pub fn mean_t(values: &[f64]) -> Result<Estimate, Error> {
    mean_of(values, false)
}

fn mean_of(values: &[f64], wilson_for_binary: bool) -> Result<Estimate, Error> {
    check(values)?;
    let n = values.len();
    let value = values.iter().sum::<f64>() / n as f64;
    let stderr = (sample_variance(values, value) / n as f64).sqrt();
    if n < 2 {
        return Ok(Estimate::without_interval(value, stderr, n));
    }
    let binary = wilson_for_binary && values.iter().all(|&v| v == 0.0 || v == 1.0);
    let ((ci_low, ci_high), interval) = if binary {
        (wilson(value * n as f64, n), IntervalMethod::Wilson)
    } else {
        (
            t_interval(value, stderr, (n - 1) as f64),
            IntervalMethod::StudentT,
        )
    };
    Ok(Estimate {
        value,
        stderr,
        ci_low,
        ci_high,
        n,
        interval,
    })
}

/// Size-weighted mean over strata (subtasks), with the stratified standard error.
pub fn stratified_mean(strata: &[&[f64]]) -> Result<Estimate, Error> {
    let strata: Vec<&[f64]> = strata.iter().copied().filter(|s| !s.is_empty()).collect();
    let n: usize = strata.iter().map(|s| s.len()).sum();
    if n == 0 {
        return Err(Error::Empty);
    }
    // A stratum of one item has no variance to estimate (`--limit 1` on a task of many
    // subtasks): the strata are then pooled. The size-weighted mean is the plain mean,
    // so only the standard error changes, to the unstratified (conservative) one.
    if strata.iter().any(|s| s.len() < 2) {
        let all: Vec<f64> = strata.iter().flat_map(|s| s.iter().copied()).collect();
        return mean(&all);
    }
    let mut value = 0.0;
    let mut variance = 0.0;
    for s in &strata {
        check(s)?;
        let w = s.len() as f64 / n as f64;
        let m = s.iter().sum::<f64>() / s.len() as f64;
        value += w * m;
        variance += w * w * sample_variance(s, m) / s.len() as f64;
    }
    let stderr = variance.sqrt();
    let df = n.saturating_sub(strata.len());
    if df == 0 {
        return Ok(Estimate::without_interval(value, stderr, n));
    }
    Ok(Estimate::with_t_interval(value, stderr, n, df as f64))
}

/// `sum(numerators) / sum(denominators)`, with the ratio estimator's linearised variance
/// `1 / (n x̄²) · Σ (y_i - R x_i)² / (n - 1)`.
pub fn ratio(numerators: &[f64], denominators: &[f64]) -> Result<Estimate, Error> {
    check(numerators)?;
    check(denominators)?;
    assert_eq!(
        numerators.len(),
        denominators.len(),
        "one denominator per numerator"
    );
    let n = numerators.len();
    let sy: f64 = numerators.iter().sum();
    let sx: f64 = denominators.iter().sum();
    if sx == 0.0 {
        return Err(Error::ZeroDenominator);
    }
    let value = sy / sx;
    if n < 2 {
        return Ok(Estimate::without_interval(value, 0.0, n));
    }
    let xbar = sx / n as f64;
    let resid: f64 = numerators
        .iter()
        .zip(denominators)
        .map(|(y, x)| (y - value * x).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let stderr = (resid / (n as f64 * xbar * xbar)).sqrt();
    Ok(Estimate::with_t_interval(value, stderr, n, (n - 1) as f64))
}

/// BBQ's bias score in ambiguous contexts (Parrish et al. 2022, §3.3):
/// `(1 − accuracy) · (2 · Σ biased / Σ non_unknown − 1)` over the ambiguous items, with
/// the delta method's standard error (the score linearised in the three means) and a
/// t interval.
///
/// When every answer was right (accuracy 1) the score is 0 whatever the ratio, which is
/// bounded by ±1; otherwise answers that were all "unknown" leave it undefined.
pub fn ambiguous_bias_score(
    accuracy: &[f64],
    biased: &[f64],
    non_unknown: &[f64],
) -> Result<Estimate, Error> {
    check(accuracy)?;
    check(biased)?;
    check(non_unknown)?;
    assert!(
        accuracy.len() == biased.len() && biased.len() == non_unknown.len(),
        "three values per item"
    );
    let n = accuracy.len();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (a, b, u) = (mean(accuracy), mean(biased), mean(non_unknown));
    let (value, gradient) = if a == 1.0 {
        (0.0, [0.0, 0.0, 0.0])
    } else if u == 0.0 {
        return Err(Error::ZeroDenominator);
    } else {
        let r = 2.0 * b / u - 1.0;
        (
            (1.0 - a) * r,
            [-r, (1.0 - a) * 2.0 / u, -(1.0 - a) * 2.0 * b / (u * u)],
        )
    };
    let linear: Vec<f64> = (0..n)
        .map(|i| gradient[0] * accuracy[i] + gradient[1] * biased[i] + gradient[2] * non_unknown[i])
        .collect();
    let centre = linear.iter().sum::<f64>() / n as f64;
    let stderr = (sample_variance(&linear, centre) / n as f64).sqrt();
    if n < 2 {
        return Ok(Estimate::without_interval(value, stderr, n));
    }
    Ok(Estimate::with_t_interval(value, stderr, n, (n - 1) as f64))
}

/// The mean of values grouped in clusters (items sharing a passage or a subject), with
/// the cluster-robust standard error that "Adding Error Bars to Evals" (Miller 2024)
/// recommends: `SE² = Σ_c (Σ_{i∈c} (x_i − x̄))² / n²`, statsmodels' intercept-only OLS
/// with `cov_type="cluster"` and `use_correction=False`; the interval is Student's t with
/// (clusters − 1) degrees of freedom. No interval with fewer than two clusters.
pub fn clustered_mean<K: PartialEq>(values: &[f64], clusters: &[K]) -> Result<Estimate, Error> {
    check(values)?;
    assert_eq!(values.len(), clusters.len(), "one cluster per value");
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut keys: Vec<&K> = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    for (v, k) in values.iter().zip(clusters) {
        match keys.iter().position(|x| *x == k) {
            Some(i) => sums[i] += v - mean,
            None => {
                keys.push(k);
                sums.push(v - mean);
            }
        }
    }
    let g = keys.len();
    let stderr = (sums.iter().map(|s| s * s).sum::<f64>()).sqrt() / n as f64;
    if g < 2 {
        return Ok(Estimate::without_interval(mean, stderr, n));
    }
    Ok(Estimate::with_t_interval(mean, stderr, n, (g - 1) as f64))
}

/// A seeded bootstrap: `rounds` resamples of `n` items with replacement (ChaCha8),
/// each turned into a statistic by `statistic` (None: undefined on that resample, left
/// out).
pub(crate) fn resample(
    n: usize,
    rounds: usize,
    seed: u64,
    mut statistic: impl FnMut(&[usize]) -> Option<f64>,
) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut picks = vec![0; n];
    (0..rounds)
        .filter_map(|_| {
            for p in &mut picks {
                *p = rng.gen_range(0..n);
            }
            statistic(&picks)
        })
        .collect()
}

/// Kendall's tau-b of paired values (ties in either counted as neither concordant nor
/// discordant, and the denominator corrected for them, as scipy's `kendalltau`):
/// `(C − D) / sqrt((n0 − n1)(n0 − n2))`. Undefined when either has one value only.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64, Error> {
    check(x)?;
    check(y)?;
    assert_eq!(x.len(), y.len(), "paired values");
    let n = x.len();
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i] - x[j];
            let dy = y[i] - y[j];
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {
                    ties_x += 1;
                    ties_y += 1;
                }
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                (false, false) if (dx > 0.0) == (dy > 0.0) => concordant += 1,
                (false, false) => discordant += 1,
            }
        }
    }
    let pairs = (n * n.saturating_sub(1) / 2) as i64;
    let denominator = (((pairs - ties_x) * (pairs - ties_y)) as f64).sqrt();
    if denominator == 0.0 {
        return Err(Error::NoVariance);
    }
    Ok((concordant - discordant) as f64 / denominator)
}

/// Kendall's tau-b with a seeded percentile bootstrap interval over the paired items
/// (resamples where it is undefined are left out; no interval if most are).
pub fn kendall_tau(x: &[f64], y: &[f64], rounds: usize, seed: u64) -> Result<Estimate, Error> {
    let tau = kendall_tau_b(x, y)?;
    let n = x.len();
    let mut taus = resample(n, rounds, seed, |picks| {
        let (bx, by): (Vec<f64>, Vec<f64>) = picks.iter().map(|&i| (x[i], y[i])).unzip();
        kendall_tau_b(&bx, &by).ok()
    });
    Ok(percentile_interval(tau, &mut taus, rounds, n))
}

/// Kendall's tau-b between two orders of the same items, each item's value in each
/// order known with a standard error (two stages' scores of the same candidates), with
/// a seeded parametric-bootstrap interval: every round draws each value from
/// N(value, stderr²), independently, and takes tau-b of the draws. It answers "how
/// differently could these stages order the candidates, given how sure each is of its
/// numbers" (a bootstrap over the few items themselves would not).
pub fn kendall_tau_noisy(
    x: &[f64],
    x_stderr: &[f64],
    y: &[f64],
    y_stderr: &[f64],
    rounds: usize,
    seed: u64,
) -> Result<Estimate, Error> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    assert!(
        x.len() == x_stderr.len() && y.len() == y_stderr.len(),
        "a standard error per value"
    );
    check(x_stderr)?;
    check(y_stderr)?;
    if let Some(s) = x_stderr.iter().chain(y_stderr).find(|s| **s < 0.0) {
        return Err(Error::NegativeStderr(*s));
    }
    let tau = kendall_tau_b(x, y)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut bx, mut by) = (vec![0.0; x.len()], vec![0.0; y.len()]);
    let mut taus: Vec<f64> = (0..rounds)
        .filter_map(|_| {
            for (i, b) in bx.iter_mut().enumerate() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *b = x[i] + x_stderr[i] * z;
            }
            for (i, b) in by.iter_mut().enumerate() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *b = y[i] + y_stderr[i] * z;
            }
            kendall_tau_b(&bx, &by).ok()
        })
        .collect();
    Ok(percentile_interval(tau, &mut taus, rounds, x.len()))
}

/// A point estimate with the 2.5% and 97.5% percentiles of its bootstrap draws (and
/// their standard deviation as standard error); no interval when more than half of the
/// rounds were undefined.
fn percentile_interval(value: f64, draws: &mut [f64], rounds: usize, n: usize) -> Estimate {
    if draws.len() * 2 < rounds || draws.len() < 2 {
        return Estimate::without_interval(value, 0.0, n);
    }
    draws.sort_by(f64::total_cmp);
    let (ci_low, ci_high) = (quantile(draws, 0.025), quantile(draws, 0.975));
    let m = draws.iter().sum::<f64>() / draws.len() as f64;
    Estimate {
        value,
        stderr: sample_variance(draws, m).sqrt(),
        ci_low,
        ci_high,
        n,
        interval: IntervalMethod::Bootstrap,
    }
}

/// Pearson's correlation of paired values, with Fisher's z interval
/// (`tanh(atanh r ± 1.96 / sqrt(n − 3))`; the standard error is the delta method's
/// `(1 − r²) / sqrt(n − 3)`). Undefined when either has no variance; no interval under
/// four pairs or at |r| = 1.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<Estimate, Error> {
    check(x)?;
    check(y)?;
    assert_eq!(x.len(), y.len(), "paired values");
    let n = x.len();
    let (mx, my) = (
        x.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return Err(Error::NoVariance);
    }
    let r = (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0);
    if n < 4 || r.abs() == 1.0 {
        return Ok(Estimate::without_interval(r, 0.0, n));
    }
    let se_z = 1.0 / ((n - 3) as f64).sqrt();
    let z = r.atanh();
    let q = normal_quantile(0.975);
    Ok(Estimate {
        value: r,
        stderr: (1.0 - r * r) * se_z,
        ci_low: (z - q * se_z).tanh(),
        ci_high: (z + q * se_z).tanh(),
        n,
        interval: IntervalMethod::FisherZ,
    })
}

/// Cohen's kappa of two raters from their confusion table (`table[i][j]`: items the
/// first rater put in class `i` and the second in class `j`), with the large-sample
/// standard error of Fleiss, Cohen and Everitt (1969), as statsmodels'
/// `cohens_kappa(...).std_kappa` computes it, and a normal 95% interval.
///
/// Undefined (an error, never NaN) without items, or when chance agreement is already
/// total (both raters used one and the same class for every item: `1 - p_e = 0`).
pub fn cohen_kappa(table: &[Vec<u64>]) -> Result<Estimate, Error> {
    let k = table.len();
    assert!(table.iter().all(|r| r.len() == k), "a square table");
    let total: u64 = table.iter().flatten().sum();
    if total == 0 {
        return Err(Error::Empty);
    }
    let n = total as f64;
    let p = |i: usize, j: usize| table[i][j] as f64 / n;
    let rows: Vec<f64> = (0..k).map(|i| (0..k).map(|j| p(i, j)).sum()).collect();
    let cols: Vec<f64> = (0..k).map(|j| (0..k).map(|i| p(i, j)).sum()).collect();
    let observed: f64 = (0..k).map(|i| p(i, i)).sum();
    let chance: f64 = (0..k).map(|i| rows[i] * cols[i]).sum();
    if 1.0 - chance <= 0.0 {
        return Err(Error::KappaUndefined(
            "both raters gave every item the same single class, so chance agreement is 1",
        ));
    }
    let kappa = (observed - chance) / (1.0 - chance);
    let diagonal: f64 = (0..k)
        .map(|i| p(i, i) * (1.0 - (rows[i] + cols[i]) * (1.0 - kappa)).powi(2))
        .sum();
    let off_diagonal: f64 = (0..k)
        .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| p(i, j) * (cols[i] + rows[j]).powi(2))
        .sum::<f64>()
        * (1.0 - kappa).powi(2);
    let correction = (kappa - chance * (1.0 - kappa)).powi(2);
    // Rounding can leave a tiny negative variance when agreement is perfect.
    let variance = ((diagonal + off_diagonal - correction) / ((1.0 - chance).powi(2) * n)).max(0.0);
    let stderr = variance.sqrt();
    Ok(Estimate {
        value: kappa,
        stderr,
        ci_low: kappa - Z95 * stderr,
        ci_high: kappa + Z95 * stderr,
        n: total as usize,
        interval: IntervalMethod::Normal,
    })
}

impl Estimate {
    /// Too few samples for an interval: both bounds are the value itself.
    /// `value` with Student's t interval on `df` degrees of freedom.
    fn with_t_interval(value: f64, stderr: f64, n: usize, df: f64) -> Estimate {
        let (ci_low, ci_high) = t_interval(value, stderr, df);
        Estimate {
            value,
            stderr,
            ci_low,
            ci_high,
            n,
            interval: IntervalMethod::StudentT,
        }
    }

    fn without_interval(value: f64, stderr: f64, n: usize) -> Estimate {
        Estimate {
            value,
            stderr,
            ci_low: value,
            ci_high: value,
            n,
            interval: IntervalMethod::None,
        }
    }

    /// The estimate pushed through a monotone function (perplexity = exp(-loglik per
    /// unit)); the interval's ends are mapped and the error follows the delta method.
    pub fn map(self, f: impl Fn(f64) -> f64, derivative: impl Fn(f64) -> f64) -> Estimate {
        let (a, b) = (f(self.ci_low), f(self.ci_high));
        Estimate {
            value: f(self.value),
            stderr: derivative(self.value).abs() * self.stderr,
            ci_low: a.min(b),
            ci_high: a.max(b),
            n: self.n,
            interval: self.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} vs {b}");
    }

    #[test]
    fn cohen_kappa_by_hand_and_undefined_cases() {
        // 2x2: 20 items; by hand p_o = 0.75, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.5.
        // Standard error from statsmodels 0.15 `cohens_kappa([[8, 2], [3, 7]]).std_kappa`.
        let k = cohen_kappa(&[vec![8, 2], vec![3, 7]]).unwrap();
        close(k.value, 0.5, 1e-15);
        close(k.stderr, 0.192_678_488_679_976_92, 1e-12);
        assert_eq!(k.interval, IntervalMethod::Normal);
        assert_eq!(cohen_kappa(&[vec![0, 0], vec![0, 0]]), Err(Error::Empty));
        // Both raters said "A" for everything: chance agreement is 1, kappa is 0/0.
        assert!(matches!(
            cohen_kappa(&[vec![5, 0], vec![0, 0]]),
            Err(Error::KappaUndefined(_))
        ));
    }

    #[test]
    fn wilson_ends_are_exact_at_none_and_all() {
        assert_eq!(wilson(0.0, 250).0, 0.0);
        assert_eq!(wilson(250.0, 250).1, 1.0);
        // statsmodels 0.15 `proportion_confint(0, 250, method="wilson")[1]`.
        close(wilson(0.0, 250).1, 0.015_133_299_495_444_574, 1e-15);
    }

    #[test]
    fn binary_mean_uses_wilson() {
        // 7 of 10. By hand: stderr = sqrt(0.7*0.3*10/9)/sqrt(10) = 0.152752523.
        // Reference interval from statsmodels 0.14
        // `proportion_confint(7, 10, alpha=0.05, method="wilson")`.
        let v = [1., 1., 1., 1., 1., 1., 1., 0., 0., 0.];
        let e = mean(&v).unwrap();
        close(e.value, 0.7, 1e-12);
        close(e.stderr, 0.152_752_523_2, 1e-9);
        assert_eq!(e.interval, IntervalMethod::Wilson);
        close(e.ci_low, 0.396_778_147_461_145_37, 1e-12);
        close(e.ci_high, 0.892_208_732_593_698_9, 1e-12);
    }

    #[test]
    fn continuous_mean_uses_t() {
        // mean 2.5, s = 1.290994, se = 0.645497; t(3, .975) from scipy
        // `stats.t.ppf(0.975, 3)` = 3.1824463052837078.
        let e = mean(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        close(e.stderr, 0.645_497_224_4, 1e-9);
        close(t975(3.0), 3.182_446_305_283_707_8, 1e-9);
        close(e.ci_low, 2.5 - 3.182_446_305_3 * 0.645_497_224_4, 1e-8);
        assert_eq!(e.interval, IntervalMethod::StudentT);
    }

    #[test]
    fn clustered_mean_equals_statsmodels_cluster_robust_se() {
        // statsmodels 0.15.0: OLS(y, ones).fit(cov_type="cluster", cov_kwds={"groups": g,
        // "use_correction": False}).bse[0] for these values and clusters.
        let y = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let g = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3];
        let e = clustered_mean(&y, &g).unwrap();
        assert!((e.value - 0.6).abs() < 1e-15);
        assert!(
            (e.stderr - 0.06324555320336757).abs() < 1e-12,
            "{}",
            e.stderr
        );
    }

    #[test]
    fn kendall_tau_b_equals_scipy() {
        // scipy 1.17.1 kendalltau(...).statistic (tau-b) on these three fixtures.
        let cases: [(&[f64], &[f64], f64); 3] = [
            (
                &[1., 2., 3., 4., 5., 6., 7.],
                &[2., 1., 4., 3., 6., 7., 5.],
                0.6190476190476191,
            ),
            (
                &[1., 2., 2., 3., 4., 4., 5.],
                &[1., 3., 2., 2., 5., 4., 4.],
                0.6842105263157894,
            ),
            (
                &[0.3, 0.1, 0.9, 0.5],
                &[10., 20., 40., 30.],
                0.6666666666666669,
            ),
        ];
        for (x, y, want) in cases {
            assert!((kendall_tau_b(x, y).unwrap() - want).abs() < 1e-12);
        }
        assert_eq!(
            kendall_tau_b(&[1., 1., 1.], &[1., 2., 3.]),
            Err(Error::NoVariance)
        );
        let e = kendall_tau(cases[0].0, cases[0].1, 1000, 3).unwrap();
        assert!(e.ci_low <= e.value && e.value <= e.ci_high, "{e:?}");
        assert_eq!(
            kendall_tau(cases[0].0, cases[0].1, 1000, 3).unwrap(),
            e,
            "seeded"
        );
    }

    #[test]
    fn pearson_with_fisher_interval() {
        // scipy 1.17.1: pearsonr([1,2,3,4,5,6], [2,1,4,3,7,5]) gives statistic
        // 0.7917946548886294 and confidence_interval(0.95) (-0.05530515967334017,
        // 0.9761145801153426), Fisher's z as here.
        let e = pearson(&[1., 2., 3., 4., 5., 6.], &[2., 1., 4., 3., 7., 5.]).unwrap();
        assert!((e.value - 0.7917946548886294).abs() < 1e-12);
        assert!(
            (e.ci_low + 0.05530515967334017).abs() < 1e-9,
            "{}",
            e.ci_low
        );
        assert!(
            (e.ci_high - 0.9761145801153426).abs() < 1e-9,
            "{}",
            e.ci_high
        );
        assert_eq!(
            pearson(&[1., 1., 1.], &[1., 2., 3.]),
            Err(Error::NoVariance)
        );
    }

    #[test]
    fn stratified_weights_by_size() {
        // Strata of 2 and 4: means 0.5 and 0.75, weights 1/3 and 2/3.
        // var = (1/3)^2 * 0.5/2 + (2/3)^2 * 0.25/4 = 0.0277778 + 0.0277778.
        let a = [1.0, 0.0];
        let b = [1.0, 1.0, 1.0, 0.0];
        let e = stratified_mean(&[&a, &b]).unwrap();
        close(e.value, 4.0 / 6.0, 1e-12);
        close(e.stderr, (0.5f64 / 9.0).sqrt(), 1e-12);
        assert_eq!(e.n, 6);
    }

    #[test]
    fn ratio_of_sums() {
        // R = 10/20 = 0.5; residuals y - 0.5x = [-1, 1, 0]; s² = 1; xbar = 20/3;
        // var = 1 / (3 * 44.444) = 0.0075.
        let e = ratio(&[2.0, 5.0, 3.0], &[6.0, 8.0, 6.0]).unwrap();
        close(e.value, 0.5, 1e-12);
        close(e.stderr, 0.0075f64.sqrt(), 1e-12);
    }

    #[test]
    fn bad_input_is_an_error_not_nan() {
        assert_eq!(mean(&[]), Err(Error::Empty));
        assert!(matches!(mean(&[f64::NAN]), Err(Error::NotFinite(_))));
        assert!(matches!(
            mean(&[1.0, f64::INFINITY]),
            Err(Error::NotFinite(_))
        ));
        assert_eq!(ratio(&[1.0], &[0.0]), Err(Error::ZeroDenominator));
    }
}
