//! Style control (LMArena's contextual Bradley–Terry; notes §1.5, arena-rank's
//! `ContextualBradleyTerry`): the log-odds that a beats b are θ_a − θ_b + βᵀx, where x
//! holds the battle's style differences, each (f_a − f_b)/(f_a + f_b) (a zero total
//! counts as 1) z-scored with the population standard deviation. The ratings are then
//! what remains once answer length (or any other measured style) is accounted for, and
//! β says how far style sways the votes.
//!
//! Objective, as arena-rank: mean log-loss + ½·reg·‖β‖² (ratings unpenalised, Σθ = 0).
//! `reg = 0` is plain maximum likelihood (our default); arena-rank's default is 1.0,
//! which shrinks β hard because the loss is a mean. Fitted by Newton's method; intervals
//! by the sandwich H⁻¹ G H⁻¹ with the penalised Hessian and the per-battle score
//! covariance, whose penalty term gives G = Σ r²xxᵀ − N·reg²ββᵀ at the optimum.

use crate::Error;
use crate::battles::Battles;
use crate::bt::{BASE, SCALE, sigmoid};
use nalgebra::{DMatrix, DVector};

/// Style measurements per battle: for each control, (value for a, value for b).
#[derive(Debug, Clone)]
pub struct Controls {
    pub names: Vec<String>,
    /// `values[battle][control] = (f_a, f_b)`, in the order of `Battles::rows`.
    pub values: Vec<Vec<(f64, f64)>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Coefficient {
    pub name: String,
    /// Change in log-odds of winning per standard deviation of the style difference.
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StyleFit {
    /// Elo-scale ratings with style held equal (mean 1000).
    pub ratings: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub coefficients: Vec<Coefficient>,
    pub reg: f64,
}

/// The normalised, z-scored features, one row per battle.
pub fn features(controls: &Controls) -> Result<Vec<Vec<f64>>, Error> {
    let n = controls.values.len();
    let k = controls.names.len();
    if n == 0 {
        return Err(Error::Invalid("no battles to control for style".into()));
    }
    let mut x: Vec<Vec<f64>> = controls
        .values
        .iter()
        .map(|row| {
            row.iter()
                .map(|&(a, b)| {
                    let total = a + b;
                    (a - b) / if total == 0.0 { 1.0 } else { total }
                })
                .collect()
        })
        .collect();
    for j in 0..k {
        let mean = x.iter().map(|r| r[j]).sum::<f64>() / n as f64;
        let sd = (x.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        if sd == 0.0 {
            return Err(Error::Invalid(format!(
                "style control `{}` does not vary across battles, so its effect cannot be estimated",
                controls.names[j]
            )));
        }
        for r in &mut x {
            r[j] = (r[j] - mean) / sd;
        }
    }
    Ok(x)
}

/// The style-controlled ranking: ratings with the style measurements held equal, their
/// sandwich intervals, ranks from those intervals, and the fit itself (for its
/// coefficients).
pub fn rank(
    battles: &Battles,
    controls: &Controls,
    reg: f64,
    anchor: Option<(usize, f64)>,
) -> Result<(crate::bt::Ranking, StyleFit), Error> {
    let fit = fit(battles, controls, reg, anchor)?;
    let ranking = crate::bt::Ranking {
        models: battles.models.clone(),
        ratings: fit.ratings.clone(),
        lower: fit.lower.clone(),
        upper: fit.upper.clone(),
        ranks: crate::bt::ranks_from_intervals(&fit.lower, &fit.upper),
        method: format!(
            "style-controlled ({}; penalty {reg}), sandwich (robust) standard errors, 95% normal interval",
            controls.names.join(", ")
        ),
    };
    Ok((ranking, fit))
}

/// Fits ratings and style coefficients; `battles.rows[i]` goes with `controls.values[i]`.
/// `anchor` pins one model's rating (its interval is then zero and the others' are
/// relative to it).
pub fn fit(
    battles: &Battles,
    controls: &Controls,
    reg: f64,
    anchor: Option<(usize, f64)>,
) -> Result<StyleFit, Error> {
    if controls.values.len() != battles.rows.len() {
        return Err(Error::Invalid(format!(
            "{} style rows for {} battles",
            controls.values.len(),
            battles.rows.len()
        )));
    }
    if !(reg >= 0.0 && reg.is_finite()) {
        return Err(Error::Invalid(format!(
            "the style penalty must be a number >= 0, not {reg}"
        )));
    }
    crate::bt::check_connected(battles, &crate::bt::aggregate(battles))?;
    let n = battles.models.len();
    let k = controls.names.len();
    let x = features(controls)?;
    let rows = battles.rows.len() as f64;
    let dim = n + k;
    // Penalty in the summed-loss scale: N·reg on each coefficient.
    let penalty = rows * reg;
    let design = |i: usize, a: usize, b: usize| -> Vec<(usize, f64)> {
        let mut v = vec![(a, 1.0), (b, -1.0)];
        v.extend((0..k).map(|j| (n + j, x[i][j])));
        v
    };
    let logit = |w: &DVector<f64>, i: usize, a: usize, b: usize| -> f64 {
        w[a] - w[b] + (0..k).map(|j| w[n + j] * x[i][j]).sum::<f64>()
    };
    // Hessian and score covariance of the summed loss at w (penalty included in H only).
    let information = |w: &DVector<f64>| -> (DVector<f64>, DMatrix<f64>, DMatrix<f64>) {
        let mut g = DVector::<f64>::zeros(dim);
        let mut h = DMatrix::<f64>::zeros(dim, dim);
        let mut s = DMatrix::<f64>::zeros(dim, dim);
        for (i, &(a, b, winner)) in battles.rows.iter().enumerate() {
            let p = sigmoid(logit(w, i, a, b));
            let r = winner.score_a() - p;
            let d = design(i, a, b);
            for &(row, xr) in &d {
                g[row] -= r * xr;
                for &(col, xc) in &d {
                    h[(row, col)] += p * (1.0 - p) * xr * xc;
                    s[(row, col)] += r * r * xr * xc;
                }
            }
        }
        for j in 0..k {
            g[n + j] += penalty * w[n + j];
            h[(n + j, n + j)] += penalty;
        }
        (g, h, s)
    };
    // Σθ = 0: adding 𝟙𝟙ᵀ on the rating block makes H invertible without moving the
    // solution (the loss is flat along 𝟙, and the step keeps Σθ at 0).
    let mut ones = DMatrix::<f64>::zeros(dim, dim);
    for r in 0..n {
        for c in 0..n {
            ones[(r, c)] = 1.0;
        }
    }
    let mut w = DVector::<f64>::zeros(dim);
    let mut converged = false;
    for _ in 0..200 {
        let (g, h, _) = information(&w);
        let Some(chol) = (h + &ones).cholesky() else {
            return Err(Error::Invalid(
                "the style-controlled fit has no unique solution (a style difference may be the same as a model's identity)".into(),
            ));
        };
        let step = chol.solve(&(-&g));
        // Damp very long steps (separation-like data): the loss is convex, so halving
        // until it stops exploding is enough.
        let scale = (5.0 / step.amax()).min(1.0);
        w += step.scale(scale);
        if step.amax() * scale < 1e-12 {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(Error::Invalid(
            "the style-controlled fit did not converge (a style difference may decide the votes on its own)".into(),
        ));
    }
    let (_, h, mut s) = information(&w);
    for j in 0..k {
        for l in 0..k {
            s[(n + j, n + l)] -= rows * reg * reg * w[n + j] * w[n + l];
        }
    }
    let h_plus = (h + &ones / n as f64).try_inverse().ok_or_else(|| {
        Error::Invalid("the style-controlled information matrix is singular".into())
    })?;
    // Project out the 𝟙 direction of the rating block, as the pseudo-inverse would.
    let mut centre = DMatrix::<f64>::identity(dim, dim);
    for r in 0..n {
        for c in 0..n {
            centre[(r, c)] -= 1.0 / n as f64;
        }
    }
    let h_plus = &centre * h_plus * &centre;
    let cov = &h_plus * s * &h_plus;
    let z = assay_stats::Z95;
    let shift = anchor.map_or(0.0, |(i, value)| value - (BASE + SCALE * w[i]));
    let ratings: Vec<f64> = (0..n).map(|i| BASE + SCALE * w[i] + shift).collect();
    let sd: Vec<f64> = (0..n)
        .map(|i| {
            let v = match anchor {
                Some((a, _)) => cov[(i, i)] + cov[(a, a)] - 2.0 * cov[(i, a)],
                None => cov[(i, i)],
            };
            SCALE * v.max(0.0).sqrt()
        })
        .collect();
    Ok(StyleFit {
        lower: ratings.iter().zip(&sd).map(|(r, s)| r - z * s).collect(),
        upper: ratings.iter().zip(&sd).map(|(r, s)| r + z * s).collect(),
        ratings,
        coefficients: controls
            .names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let se = cov[(n + j, n + j)].max(0.0).sqrt();
                Coefficient {
                    name: name.clone(),
                    value: w[n + j],
                    lower: w[n + j] - z * se,
                    upper: w[n + j] + z * se,
                }
            })
            .collect(),
        reg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Two equally strong models; the one that writes longer answers wins more because
    /// voters like length. Style control finds the gap within its interval of zero, and
    /// a positive length effect.
    #[test]
    fn length_bias_is_separated_from_strength() {
        for seed in 0..4 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut triples = Vec::new();
            let mut values = Vec::new();
            for i in 0..6000 {
                let (a, b) = if i % 2 == 0 {
                    ("long", "short")
                } else {
                    ("short", "long")
                };
                let mut len = |m: &str| -> f64 {
                    let base = if m == "long" { 600.0 } else { 300.0 };
                    base * rng.gen_range(0.5..1.5)
                };
                let (la, lb) = (len(a), len(b));
                let x = (la - lb) / (la + lb);
                let p = sigmoid(3.0 * x);
                let w = if rng.r#gen::<f64>() < p {
                    "model_a"
                } else {
                    "model_b"
                };
                triples.push((format!("{i}"), a, b, w));
                values.push(vec![(la, lb)]);
            }
            let battles =
                Battles::from_triples(triples.iter().map(|(l, a, b, w)| (l.clone(), (*a, *b, *w))))
                    .unwrap();
            let plain = crate::bt::fit(&crate::bt::aggregate(&battles), 2);
            let controls = Controls {
                names: vec!["length".into()],
                values,
            };
            let styled = fit(&battles, &controls, 0.0, None).unwrap();
            let long = battles.models.iter().position(|m| m == "long").unwrap();
            let short = 1 - long;
            assert!(
                plain[long] - plain[short] > 0.5,
                "uncontrolled, `long` looks better"
            );
            // With two models θ_short = −θ_long, so the gap's half-width is twice a rating's.
            let gap = styled.ratings[long] - styled.ratings[short];
            let half = styled.upper[long] - styled.ratings[long];
            assert!(
                gap.abs() < 2.0 * half,
                "seed {seed}: gap {gap} ± {}",
                2.0 * half
            );
            assert!(
                styled.coefficients[0].lower > 0.0,
                "{:?}",
                styled.coefficients
            );
        }
    }

    #[test]
    fn a_constant_control_is_refused() {
        let controls = Controls {
            names: vec!["bold".into()],
            values: vec![vec![(1.0, 1.0)]; 3],
        };
        assert!(
            features(&controls)
                .unwrap_err()
                .to_string()
                .contains("does not vary")
        );
    }
}
