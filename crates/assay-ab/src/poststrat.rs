//! Post-stratification: the effect estimated within strata of a pre-experiment attribute
//! (country, platform, a pre-period spend bucket) and averaged with the strata's shares of
//! all units, so that chance imbalance between arms in those strata no longer adds noise.
//!
//! This is GrowthBook's `EffectMomentsPostStratification` (gbstats, `models/tests.py`, at
//! the commit named in `tests/fixtures/gbstats_current.json`), step for step:
//! - strata whose arms cannot be tested alone (a zero variance; for CUPED on a ratio, 6
//!   units or fewer) are merged into the largest one;
//! - per stratum, the control mean and the effect with their covariance: sample means
//!   ("Algorithm 1"), or, with CUPED, the regression of the metric on an intercept, the
//!   treatment indicator and the pre-period values, with the covariates centred at their
//!   mean over all units of all strata (the regression version);
//! - the strata combined by their estimated shares ν̂ with the multinomial covariance of ν̂
//!   (`PostStratificationSummary`, "Algorithm 4", and its ratio form "Algorithm 3"), then
//!   the delta method for the absolute or relative effect.
//!
//! Where post-stratification cannot apply (one usable stratum, a zero variance, a
//! singular design), [`effect`] says why and the caller keeps the pooled analysis, as
//! GrowthBook falls back to its unstratified `EffectMoments`.

use crate::effect::{Kind, Shape, kind_cov, plain};
use crate::moments::{COVARIATE, COVARIATE_DENOMINATOR, DENOMINATOR, MAIN, Moments};
use nalgebra::{DMatrix, DVector};

/// A post-stratified effect and its variance (of the estimate, not per unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StratifiedEffect {
    pub estimate: f64,
    pub variance: f64,
}

/// One stratum's estimates: the `len_alpha` parameters (count: control mean, effect;
/// ratio: numerator's control mean and effect, denominator's control mean and effect)
/// and n times their covariance.
struct StratumResult {
    n: f64,
    alpha: DVector<f64>,
    covariance: DMatrix<f64>,
}

/// GrowthBook's `_has_zero_variance` of one arm's statistic.
fn zero_variance(m: &Moments, shape: Shape) -> bool {
    let v = plain(m, shape).1;
    v.is_nan() || v <= 0.0
}

/// Whether a pre-period value has no variance in an arm, which turns CUPED off
/// (`simplify_stats_if_baseline_variance_zero`, `_baseline_covariance_zero`).
fn pre_variance_zero(a: &Moments, b: &Moments, shape: Shape) -> bool {
    let zero = |m: &Moments, i: usize| kind_cov(m, i, i, shape.kinds()) <= 0.0;
    let mut out = zero(a, COVARIATE) || zero(b, COVARIATE);
    if shape.is_ratio_cuped() {
        out |= zero(a, COVARIATE_DENOMINATOR) || zero(b, COVARIATE_DENOMINATOR);
    }
    out
}

fn without_cuped(shape: Shape) -> Shape {
    Shape {
        covariate: None,
        covariate_denominator: None,
        ..shape
    }
}

/// The post-stratified absolute (`relative` false) or relative effect of treatment over
/// control, from each stratum's (control, treatment) statistics; Err says why it cannot
/// be computed, and the pooled analysis then stands.
pub fn effect(
    cells: &[(Moments, Moments)],
    shape: Shape,
    relative: bool,
) -> Result<StratifiedEffect, String> {
    let sum = |cells: &[(Moments, Moments)]| {
        cells.iter().fold(
            (Moments::default(), Moments::default()),
            |(a, b), (ca, cb)| (a.merge(ca), b.merge(cb)),
        )
    };
    let (a, b) = sum(cells);
    let mut shape = shape;
    if shape.covariate.is_some() && pre_variance_zero(&a, &b, shape) {
        shape = without_cuped(shape);
    }
    if zero_variance(&a, shape) || zero_variance(&b, shape) {
        return Err("a zero variance in an arm".into());
    }
    if plain(&a, shape).0 == 0.0 {
        return Err("the control mean is 0".into());
    }
    // Merge strata that cannot be analysed alone into the largest one.
    let mut sorted: Vec<(Moments, Moments)> = cells.to_vec();
    // Largest first; a stable sort keeps ties in their order, as Python's `sorted`.
    sorted.sort_by_key(|(x, y)| std::cmp::Reverse(x.n + y.n));
    let mut usable: Vec<(Moments, Moments)> = vec![sorted[0]];
    for (ca, cb) in sorted.into_iter().skip(1) {
        // CUPED on a ratio estimates 6 coefficients per stratum.
        let too_small = shape.is_ratio_cuped() && ca.n + cb.n <= 6;
        let viable = !(zero_variance(&ca, shape) || zero_variance(&cb, shape) || too_small);
        if viable {
            usable.push((ca, cb));
        } else {
            usable[0] = (usable[0].0.merge(&ca), usable[0].1.merge(&cb));
        }
    }
    if usable.len() == 1 {
        return Err("only one stratum has enough units in both arms to be analysed alone".into());
    }
    let results = usable
        .iter()
        .map(|(ca, cb)| stratum(ca, cb, shape))
        .collect::<Result<Vec<_>, String>>()?;
    summary(&results, shape.denominator.is_some(), relative)
}

/// One stratum's parameters and covariance, by the method its shape asks for; CUPED
/// falls back to plain means in a stratum whose own pre-period values have no variance.
fn stratum(a: &Moments, b: &Moments, shape: Shape) -> Result<StratumResult, String> {
    let cuped_asked = shape.covariate.is_some();
    if shape.covariate.is_some() && !pre_variance_zero(a, b, shape) {
        if zero_variance(a, shape) || zero_variance(b, shape) {
            return Err("a zero variance in a stratum".into());
        }
        return if shape.denominator.is_some() {
            ratio_regression(a, b)
        } else {
            count_regression(a, b)
        };
    }
    let mut shape = without_cuped(shape);
    if shape.denominator.is_none() && shape.main == Kind::Proportion && cuped_asked {
        // GrowthBook's fallback rebuilds the arms as sample means (variance with n − 1).
        shape.main = Kind::Mean;
    }
    if zero_variance(a, shape) || zero_variance(b, shape) {
        return Err("a zero variance in a stratum".into());
    }
    Ok(if shape.denominator.is_some() {
        ratio_means(a, b, shape)
    } else {
        count_means(a, b, shape)
    })
}

fn count_means(a: &Moments, b: &Moments, shape: Shape) -> StratumResult {
    let (na, nb) = (a.n as f64, b.n as f64);
    let n = na + nb;
    let (ma, va) = plain(a, shape);
    let (mb, vb) = plain(b, shape);
    let contrast = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, 1.0, -1.0]);
    let coefs = DVector::from_vec(vec![mb, ma]);
    let v = DMatrix::from_diagonal(&DVector::from_vec(vec![vb * n / nb, va * n / na]));
    StratumResult {
        n,
        alpha: &contrast * coefs,
        covariance: &contrast * v * contrast.transpose(),
    }
}

fn ratio_means(a: &Moments, b: &Moments, shape: Shape) -> StratumResult {
    let k = shape.kinds();
    let (na, nb) = (a.n as f64, b.n as f64);
    let n = na + nb;
    let lam = |m: &Moments| {
        let c = kind_cov(m, MAIN, DENOMINATOR, k);
        DMatrix::from_row_slice(
            2,
            2,
            &[
                kind_cov(m, MAIN, MAIN, k),
                c,
                c,
                kind_cov(m, DENOMINATOR, DENOMINATOR, k),
            ],
        )
    };
    let mut v = DMatrix::zeros(4, 4);
    v.view_mut((0, 0), (2, 2)).copy_from(&(lam(b) * (n / nb)));
    v.view_mut((2, 2), (2, 2)).copy_from(&(lam(a) * (n / na)));
    let coefs = DVector::from_vec(vec![
        b.mean[MAIN],
        b.mean[DENOMINATOR],
        a.mean[MAIN],
        a.mean[DENOMINATOR],
    ]);
    let contrast = ratio_contrast();
    StratumResult {
        n,
        alpha: &contrast * coefs,
        covariance: &contrast * v * contrast.transpose(),
    }
}

/// Rows: numerator control mean, numerator effect, denominator control mean,
/// denominator effect; columns: treatment (numerator, denominator), control (numerator,
/// denominator).
fn ratio_contrast() -> DMatrix<f64> {
    DMatrix::from_row_slice(
        4,
        4,
        &[
            0.0, 0.0, 1.0, 0.0, //
            1.0, 0.0, -1.0, 0.0, //
            0.0, 0.0, 0.0, 1.0, //
            0.0, 1.0, 0.0, -1.0,
        ],
    )
}

/// Inverse of a symmetric positive-definite matrix by its Cholesky factor, or why not.
fn invert(m: DMatrix<f64>) -> Result<DMatrix<f64>, String> {
    m.cholesky()
        .map(|c| c.inverse())
        .ok_or_else(|| "the regression's design matrix is not positive-definite".into())
}

/// Kronecker product (σ ⊗ (XᵀX)⁻¹): the covariance of stacked regression coefficients.
fn kron(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    a.kronecker(b)
}

/// n · V(α̂) for the regression version of Algorithm 1: α = M γ, where M's rows hold
/// the pre-period means (estimated, with covariance `contrast_cov(i, j)`/n between rows i
/// and j), so V(α_i, α_j) = tr(V(γ)·E[m_i m_jᵀ]) + tr(γγᵀ·Cov(m_i, m_j)).
fn regression_covariance(
    n: f64,
    coef_cov: &DMatrix<f64>,
    contrast: &DMatrix<f64>,
    coefs: &DVector<f64>,
    contrast_cov: &dyn Fn(usize, usize) -> DMatrix<f64>,
) -> DMatrix<f64> {
    let len_alpha = contrast.nrows();
    let mut v = DMatrix::zeros(len_alpha, len_alpha);
    let outer = coefs * coefs.transpose();
    for i in 0..len_alpha {
        for j in 0..=i {
            let c = contrast_cov(i, j);
            let second = &c + contrast.row(i).transpose() * contrast.row(j);
            let value = (coef_cov * second).trace() + (&outer * c).trace();
            v[(i, j)] = value;
            v[(j, i)] = value;
        }
    }
    v * n
}

fn count_regression(a: &Moments, b: &Moments) -> Result<StratumResult, String> {
    let (na, nb) = (a.n as f64, b.n as f64);
    let n = na + nb;
    let pre = a.merge(b);
    let sum_sq = |m: &Moments, i: usize| m.sum_squares(i);
    let xtx = DMatrix::from_row_slice(
        3,
        3,
        &[
            n,
            nb,
            pre.sum(COVARIATE),
            nb,
            nb,
            b.sum(COVARIATE),
            pre.sum(COVARIATE),
            b.sum(COVARIATE),
            sum_sq(a, COVARIATE) + sum_sq(b, COVARIATE),
        ],
    );
    let xtx_inv = invert(xtx)?;
    let xty = DVector::from_vec(vec![
        a.sum(MAIN) + b.sum(MAIN),
        b.sum(MAIN),
        a.sum_products(MAIN, COVARIATE) + b.sum_products(MAIN, COVARIATE),
    ]);
    let coefs = &xtx_inv * &xty;
    let resid = sum_sq(a, MAIN) + sum_sq(b, MAIN) - (xty.transpose() * &xtx_inv * &xty)[(0, 0)];
    let sigma = DMatrix::from_element(1, 1, resid / (n - 3.0));
    let coef_cov = kron(&sigma, &xtx_inv);
    // Both arms' statistics added together are sample means in GrowthBook, whatever
    // their kind: the pooled pre-period variance is taken with n − 1.
    let (pre_mean, pre_var) = (pre.mean[COVARIATE], pre.cov(COVARIATE, COVARIATE));
    let contrast = DMatrix::from_row_slice(2, 3, &[1.0, 0.0, pre_mean, 0.0, 1.0, 0.0]);
    let contrast_cov = |i: usize, j: usize| {
        let mut v = DMatrix::zeros(3, 3);
        if i == 0 && j == 0 {
            v[(2, 2)] = pre_var / n;
        }
        v
    };
    Ok(StratumResult {
        n,
        alpha: &contrast * &coefs,
        covariance: regression_covariance(n, &coef_cov, &contrast, &coefs, &contrast_cov),
    })
}

fn ratio_regression(a: &Moments, b: &Moments) -> Result<StratumResult, String> {
    let (na, nb) = (a.n as f64, b.n as f64);
    let n = na + nb;
    let all = a.merge(b);
    let both = |f: &dyn Fn(&Moments) -> f64| f(a) + f(b);
    let (x, xd) = (COVARIATE, COVARIATE_DENOMINATOR);
    let xtx = DMatrix::from_row_slice(
        4,
        4,
        &[
            n,
            nb,
            all.sum(x),
            all.sum(xd),
            nb,
            nb,
            b.sum(x),
            b.sum(xd),
            all.sum(x),
            b.sum(x),
            both(&|m| m.sum_squares(x)),
            both(&|m| m.sum_products(x, xd)),
            all.sum(xd),
            b.sum(xd),
            both(&|m| m.sum_products(x, xd)),
            both(&|m| m.sum_squares(xd)),
        ],
    );
    let xtx_inv = invert(xtx.clone())?;
    let xty_num = DVector::from_vec(vec![
        all.sum(MAIN),
        b.sum(MAIN),
        both(&|m| m.sum_products(MAIN, x)),
        both(&|m| m.sum_products(MAIN, xd)),
    ]);
    let xty_den = DVector::from_vec(vec![
        all.sum(DENOMINATOR),
        b.sum(DENOMINATOR),
        both(&|m| m.sum_products(x, DENOMINATOR)),
        both(&|m| m.sum_products(DENOMINATOR, xd)),
    ]);
    let g_num = &xtx_inv * &xty_num;
    let g_den = &xtx_inv * &xty_den;
    let dot = |u: &DVector<f64>, v: &DVector<f64>| u.dot(v);
    let s11 = (both(&|m| m.sum_squares(MAIN)) - dot(&xty_num, &(&xtx_inv * &xty_num))) / (n - 6.0);
    let s22 =
        (both(&|m| m.sum_squares(DENOMINATOR)) - dot(&xty_den, &(&xtx_inv * &xty_den))) / (n - 6.0);
    let s12 = (both(&|m| m.sum_products(MAIN, DENOMINATOR))
        - dot(&xty_num, &g_den)
        - dot(&xty_den, &g_num)
        + dot(&g_num, &(&xtx * &g_den)))
        / (n - 6.0);
    let sigma = DMatrix::from_row_slice(2, 2, &[s11, s12, s12, s22]);
    let coef_cov = kron(&sigma, &xtx_inv);
    let coefs = DVector::from_iterator(8, g_num.iter().chain(g_den.iter()).copied());
    let (mx, mxd) = (all.mean[x], all.mean[xd]);
    // Pooled over both arms: sample moments with n − 1, as GrowthBook's sums.
    let (vx, vxd, cxxd) = (all.cov(x, x), all.cov(xd, xd), all.cov(x, xd));
    let mut contrast = DMatrix::zeros(4, 8);
    for (row, offset) in [(0, 0), (2, 4)] {
        contrast[(row, offset)] = 1.0;
        contrast[(row, offset + 2)] = mx;
        contrast[(row, offset + 3)] = mxd;
    }
    contrast[(1, 1)] = 1.0;
    contrast[(3, 5)] = 1.0;
    let contrast_cov = |i: usize, j: usize| {
        let mut v = DMatrix::zeros(8, 8);
        // The pre-period means enter rows 0 (at columns 2, 3) and 2 (at 6, 7).
        let at = |r: usize| match r {
            0 => Some(2),
            2 => Some(6),
            _ => None,
        };
        if let (Some(p), Some(q)) = (at(i), at(j)) {
            v[(p, q)] = vx / n;
            v[(p + 1, q + 1)] = vxd / n;
            v[(p, q + 1)] = cxxd / n;
            v[(p + 1, q)] = cxxd / n;
        }
        v
    };
    Ok(StratumResult {
        n,
        alpha: &contrast * &coefs,
        covariance: regression_covariance(n, &coef_cov, &contrast, &coefs, &contrast_cov),
    })
}

/// Algorithms 4 (counts) and 3 (ratios): the strata's parameters averaged with weights
/// ν̂ = n_k/n, their covariance including the multinomial variation of ν̂, and the delta
/// method for the effect.
fn summary(
    strata: &[StratumResult],
    ratio: bool,
    relative: bool,
) -> Result<StratifiedEffect, String> {
    let len = strata[0].alpha.len();
    let n_total: f64 = strata.iter().map(|s| s.n).sum();
    let nu = DVector::from_iterator(strata.len(), strata.iter().map(|s| s.n / n_total));
    let alpha = DMatrix::from_columns(&strata.iter().map(|s| s.alpha.clone()).collect::<Vec<_>>());
    let mean = &alpha * &nu;
    let nu_cov = (DMatrix::from_diagonal(&nu) - &nu * nu.transpose()) / n_total;
    let mut cov = &alpha * nu_cov * alpha.transpose();
    for (s, w) in strata.iter().zip(nu.iter()) {
        cov += &s.covariance * (*w / n_total);
    }
    let zero = DVector::zeros(len);
    let (estimate, baseline, nabla) = if !ratio {
        let (c, e) = (mean[0], mean[1]);
        if relative {
            let nabla = if c == 0.0 {
                zero
            } else {
                DVector::from_vec(vec![-e / (c * c), 1.0 / c])
            };
            (if c == 0.0 { 0.0 } else { e / c.abs() }, c, nabla)
        } else {
            (e, c, DVector::from_vec(vec![0.0, 1.0]))
        }
    } else {
        let (mc, me, dc, de) = (mean[0], mean[1], mean[2], mean[3]);
        let baseline = if dc == 0.0 { 0.0 } else { mc / dc };
        if relative {
            let num = dc * (mc + me);
            let den = mc * (dc + de);
            let nabla = if mc == 0.0 {
                zero
            } else {
                DVector::from_vec(vec![
                    (dc * den - (dc + de) * num) / (den * den),
                    dc / den,
                    ((mc + me) * den - mc * num) / (den * den),
                    -num / (mc * (dc + de).powi(2)),
                ])
            };
            let estimate = if den == 0.0 {
                0.0
            } else {
                (num / den - 1.0) * baseline.signum()
            };
            (estimate, baseline, nabla)
        } else {
            if dc == 0.0 || dc + de == 0.0 {
                return Err("a ratio's denominator is 0 after stratification".into());
            }
            let n1 = 1.0 / (dc + de);
            let n3 = -(mc + me) / (dc + de).powi(2);
            let nabla = DVector::from_vec(vec![n1 - 1.0 / dc, n1, n3 + mc / (dc * dc), n3]);
            ((mc + me) / (dc + de) - mc / dc, baseline, nabla)
        }
    };
    let variance = (nabla.transpose() * cov * &nabla)[(0, 0)];
    if variance.is_nan() || variance <= 0.0 {
        return Err("the stratified variance is not positive".into());
    }
    if baseline == 0.0 {
        return Err("the control mean is 0".into());
    }
    if !estimate.is_finite() || !variance.is_finite() {
        return Err("the stratified effect is not a finite number".into());
    }
    Ok(StratifiedEffect { estimate, variance })
}
