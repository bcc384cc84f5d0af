//! Bradley–Terry by maximum likelihood, as Chatbot Arena ranks models
//! (`../shared/notes/preference-and-ab-methods.md` §1): P(a beats b) = σ(θ_a − θ_b),
//! ties count as half a win for each side, ratings are reported on the Elo-like scale
//! R = 1000 + (400 / ln 10)·θ (so a 400-point gap is 10:1 odds), optionally shifted so
//! that an anchor model has a given rating.
//!
//! Battles are first collapsed to unique (a, b, outcome) rows with counts, so a fit costs
//! O(rows) per iteration whatever the number of battles (the speed-up FastChat PR #3523
//! and evalica describe). The fit is Newton's method on the convex log-likelihood with
//! Σθ = 0 (the Hessian is a weighted graph Laplacian; adding 11ᵀ makes it positive
//! definite without moving the solution), which converges to machine precision in a few
//! steps.
//!
//! Intervals: a seeded multinomial bootstrap over the unique rows (FastChat's and
//! arena-rank's method; the point estimate stays the full-data fit, and an anchored model
//! has a zero-width interval), or the sandwich estimator H⁻¹GH⁻¹ (arena-rank's default
//! since 2025), with H the Fisher information and G the outer product of the per-battle
//! scores.

use crate::Error;
use crate::battles::{Battles, Winner};
use assay_stats::{Z95, quantile};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};
use rayon::prelude::*;

/// Elo-scale points per natural-log unit of odds.
pub const SCALE: f64 = 400.0 / std::f64::consts::LN_10;
pub const BASE: f64 = 1000.0;

/// One unique (a, b, outcome) row, oriented so that a < b.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub a: usize,
    pub b: usize,
    /// Score of a: 1, ½ or 0.
    pub y: f64,
    pub count: f64,
}

/// Collapses battles into unique rows (in a fixed order, so fits are reproducible).
pub fn aggregate(battles: &Battles) -> Vec<Row> {
    let mut counts: std::collections::BTreeMap<(usize, usize, u8), f64> = Default::default();
    for &(a, b, w) in &battles.rows {
        let y = w.score_a();
        let (a, b, y) = if a < b { (a, b, y) } else { (b, a, 1.0 - y) };
        *counts.entry((a, b, (y * 2.0) as u8)).or_default() += 1.0;
    }
    counts
        .into_iter()
        .map(|((a, b, y2), count)| Row {
            a,
            b,
            y: f64::from(y2) / 2.0,
            count,
        })
        .collect()
}

/// The logistic function, without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Negative log-likelihood of θ.
fn loss(rows: &[Row], theta: &DVector<f64>) -> f64 {
    rows.iter()
        .map(|r| {
            let d = theta[r.a] - theta[r.b];
            // −[y·log σ(d) + (1−y)·log σ(−d)], with log σ(x) = −softplus(−x).
            let softplus = |x: f64| {
                if x > 0.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                }
            };
            r.count * (r.y * softplus(-d) + (1.0 - r.y) * softplus(d))
        })
        .sum()
}

/// The maximum-likelihood θ (Σθ = 0) for `n` models. Rows must make the comparison
/// graph strongly connected (checked by [`check_connected`]) for the fit to exist;
/// bootstrap samples that break it get a tiny ridge so the fit stays finite.
pub fn fit(rows: &[Row], n: usize) -> DVector<f64> {
    let mut theta = DVector::<f64>::zeros(n);
    let total: f64 = rows.iter().map(|r| r.count).sum();
    let mut current = loss(rows, &theta);
    for _ in 0..100 {
        let mut g = DVector::<f64>::zeros(n);
        let mut h = DMatrix::<f64>::zeros(n, n);
        for r in rows {
            let p = sigmoid(theta[r.a] - theta[r.b]);
            let resid = r.count * (p - r.y);
            g[r.a] += resid;
            g[r.b] -= resid;
            let w = r.count * p * (1.0 - p);
            h[(r.a, r.a)] += w;
            h[(r.b, r.b)] += w;
            h[(r.a, r.b)] -= w;
            h[(r.b, r.a)] -= w;
        }
        // H + 11ᵀ is positive definite on a connected graph and has the same solution
        // in the Σθ = 0 subspace (g sums to zero).
        h.add_scalar_mut(1.0);
        let step = match h.clone().cholesky() {
            Some(c) => c.solve(&(-&g)),
            None => {
                let ridge = 1e-9 * total.max(1.0);
                for i in 0..n {
                    h[(i, i)] += ridge;
                }
                match h.cholesky() {
                    Some(c) => c.solve(&(-&g)),
                    None => break,
                }
            }
        };
        // Damped Newton: halve the step until the loss does not rise.
        let mut t = 1.0;
        let mut next = &theta + &step * t;
        let mut next_loss = loss(rows, &next);
        while next_loss > current + 1e-12 * current.abs().max(1.0) && t > 1e-8 {
            t /= 2.0;
            next = &theta + &step * t;
            next_loss = loss(rows, &next);
        }
        let moved = (&next - &theta).amax();
        theta = next;
        current = next_loss;
        if moved < 1e-13 {
            break;
        }
    }
    let mean = theta.mean();
    theta.add_scalar_mut(-mean);
    theta
}

/// The models that can be ranked together: Bradley–Terry needs every model to have
/// won (or tied) against the others' group and lost against it, i.e. the "has scored
/// against" graph must be strongly connected. Returns the components when it is not.
pub fn components(rows: &[Row], n: usize) -> Vec<Vec<usize>> {
    // i → j when i scored (won or tied) against j at least once.
    let mut edges = vec![Vec::new(); n];
    for r in rows {
        if r.y > 0.0 {
            edges[r.a].push(r.b);
        }
        if r.y < 1.0 {
            edges[r.b].push(r.a);
        }
    }
    // Kosaraju's algorithm.
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for s in 0..n {
        if seen[s] {
            continue;
        }
        let mut stack = vec![(s, 0usize)];
        seen[s] = true;
        while let Some((v, i)) = stack.pop() {
            if i < edges[v].len() {
                stack.push((v, i + 1));
                let w = edges[v][i];
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
            }
        }
    }
    let mut reverse = vec![Vec::new(); n];
    for (v, targets) in edges.iter().enumerate() {
        for &w in targets {
            reverse[w].push(v);
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &s in order.iter().rev() {
        if comp[s] != usize::MAX {
            continue;
        }
        let id = out.len();
        let mut members = vec![s];
        comp[s] = id;
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            for &w in &reverse[v] {
                if comp[w] == usize::MAX {
                    comp[w] = id;
                    members.push(w);
                    stack.push(w);
                }
            }
        }
        members.sort_unstable();
        out.push(members);
    }
    out
}

/// Errors when the ratings are not all defined, naming the groups.
pub fn check_connected(battles: &Battles, rows: &[Row]) -> Result<(), Error> {
    let comps = components(rows, battles.models.len());
    if comps.len() <= 1 {
        return Ok(());
    }
    let names = |c: &Vec<usize>| {
        c.iter()
            .map(|&i| battles.models[i].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Error::NotConnected {
        groups: comps.iter().map(names).collect(),
    })
}

/// Ratings with intervals for every model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ranking {
    pub models: Vec<String>,
    /// Elo-scale ratings (full-data fit).
    pub ratings: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// 1 + the number of models whose lower bound is above this model's upper bound.
    pub ranks: Vec<usize>,
    pub method: String,
}

/// The most bootstrap rounds a ranking takes: past it the percentiles do not move, and
/// the time and memory only grow.
pub const MAX_BOOTSTRAP_ROUNDS: usize = 100_000;

/// Memory the bootstrap's replicates may take (checked before they are allocated).
const MAX_BOOTSTRAP_BYTES: usize = 2 << 30;

/// How to compute intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntervalMethod {
    Bootstrap { rounds: usize, seed: u64 },
    Sandwich,
}

/// Elo-scale ratings of θ, shifted so that `anchor` (model, rating) holds.
pub fn to_elo(theta: &DVector<f64>, anchor: Option<(usize, f64)>) -> Vec<f64> {
    let shift = anchor.map_or(0.0, |(i, value)| value - (BASE + SCALE * theta[i]));
    theta.iter().map(|t| BASE + SCALE * t + shift).collect()
}

/// A multinomial resample of the rows' counts (`total` draws), by sequential binomials.
fn resample(rows: &[Row], rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Row> {
    let total: f64 = rows.iter().map(|r| r.count).sum();
    let mut left_n = total.round() as u64;
    let mut left_p = 1.0f64;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if left_n == 0 {
            break;
        }
        let p = (r.count / total / left_p).clamp(0.0, 1.0);
        let k = if p >= 1.0 {
            left_n
        } else {
            Binomial::new(left_n, p)
                .expect("valid binomial")
                .sample(rng)
        };
        left_n -= k;
        left_p -= r.count / total;
        if k > 0 {
            out.push(Row {
                count: k as f64,
                ..*r
            });
        }
    }
    out
}

/// Fits and intervals. `anchor` pins one model's rating (in every bootstrap replicate).
pub fn rank(
    battles: &Battles,
    interval: IntervalMethod,
    anchor: Option<(usize, f64)>,
) -> Result<Ranking, Error> {
    let n = battles.models.len();
    // Checked before any work, so a bad request fails at once.
    if let IntervalMethod::Bootstrap { rounds, .. } = interval {
        if !(2..=MAX_BOOTSTRAP_ROUNDS).contains(&rounds) {
            return Err(Error::Invalid(format!(
                "{rounds} bootstrap rounds: give 2 to {MAX_BOOTSTRAP_ROUNDS} (percentile \
             intervals settle by a few thousand)"
            )));
        }
        // Every round keeps a rating per model until the percentiles are taken.
        let bytes = rounds
            .saturating_mul(n)
            .saturating_mul(std::mem::size_of::<f64>());
        if bytes > MAX_BOOTSTRAP_BYTES {
            return Err(Error::Invalid(format!(
                "{rounds} bootstrap rounds of {n} models need {} MiB of memory, more than \
             the {} MiB allowed: use fewer rounds, or --interval sandwich",
                bytes >> 20,
                MAX_BOOTSTRAP_BYTES >> 20
            )));
        }
    }
    let rows = aggregate(battles);
    check_connected(battles, &rows)?;
    let theta = fit(&rows, n);
    let ratings = to_elo(&theta, anchor);
    let (lower, upper, method) = match interval {
        IntervalMethod::Bootstrap { rounds, seed } => {
            let replicates: Vec<Vec<f64>> = (0..rounds)
                .into_par_iter()
                .map(|round| {
                    // One stream per round: the result does not depend on the threads.
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(round as u64);
                    let sample = resample(&rows, &mut rng);
                    to_elo(&fit(&sample, n), anchor)
                })
                .collect();
            let mut lower = Vec::with_capacity(n);
            let mut upper = Vec::with_capacity(n);
            for i in 0..n {
                let mut v: Vec<f64> = replicates.iter().map(|r| r[i]).collect();
                v.sort_by(f64::total_cmp);
                lower.push(quantile(&v, 0.025));
                upper.push(quantile(&v, 0.975));
            }
            (
                lower,
                upper,
                format!("bootstrap ({rounds} rounds, seed {seed}), 95% percentile interval"),
            )
        }
        IntervalMethod::Sandwich => {
            let cov = sandwich(&rows, &theta, n);
            let sd = |i: usize| -> f64 {
                let v = match anchor {
                    Some((a, _)) => cov[(i, i)] + cov[(a, a)] - 2.0 * cov[(i, a)],
                    None => cov[(i, i)],
                };
                SCALE * v.max(0.0).sqrt()
            };
            (
                (0..n).map(|i| ratings[i] - Z95 * sd(i)).collect(),
                (0..n).map(|i| ratings[i] + Z95 * sd(i)).collect(),
                "sandwich (robust) standard errors, 95% normal interval".into(),
            )
        }
    };
    let ranks = ranks_from_intervals(&lower, &upper);
    Ok(Ranking {
        models: battles.models.clone(),
        ratings,
        lower,
        upper,
        ranks,
        method,
    })
}

/// Rank with ties: 1 + the number of models whose interval lies wholly above this one's.
pub fn ranks_from_intervals(lower: &[f64], upper: &[f64]) -> Vec<usize> {
    (0..lower.len())
        .map(|i| 1 + lower.iter().filter(|&&l| l > upper[i]).count())
        .collect()
}

/// The sandwich covariance of θ (Σθ = 0): H⁺ G H⁺, with H = Σ c·p(1−p)·L_ab and
/// G = Σ c·(y−p)²·L_ab (L_ab the pair's Laplacian pattern); H⁺ is the pseudo-inverse on
/// the sum-zero subspace, (H + 11ᵀ/n)⁻¹ − 11ᵀ/n.
pub fn sandwich(rows: &[Row], theta: &DVector<f64>, n: usize) -> DMatrix<f64> {
    let mut h = DMatrix::<f64>::zeros(n, n);
    let mut g = DMatrix::<f64>::zeros(n, n);
    for r in rows {
        let p = sigmoid(theta[r.a] - theta[r.b]);
        for (m, w) in [
            (&mut h, r.count * p * (1.0 - p)),
            (&mut g, r.count * (r.y - p).powi(2)),
        ] {
            m[(r.a, r.a)] += w;
            m[(r.b, r.b)] += w;
            m[(r.a, r.b)] -= w;
            m[(r.b, r.a)] -= w;
        }
    }
    let j = DMatrix::<f64>::from_element(n, n, 1.0 / n as f64);
    let h_plus = (h + &j)
        .try_inverse()
        .expect("a connected graph's information is invertible")
        - &j;
    &h_plus * g * &h_plus
}

/// Online Elo in battle order (FastChat's reference: K = 4, base 10, scale 400, start
/// 1000).
pub fn online_elo(battles: &Battles, k: f64) -> Vec<f64> {
    let mut r = vec![BASE; battles.models.len()];
    for &(a, b, w) in &battles.rows {
        let expected = 1.0 / (1.0 + 10f64.powf((r[b] - r[a]) / 400.0));
        let delta = k * (w.score_a() - expected);
        r[a] += delta;
        r[b] -= delta;
    }
    r
}

/// Plain win rates: (wins + ½ ties) / battles, with the normal standard error.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Record {
    pub battles: usize,
    pub wins: usize,
    pub losses: usize,
    pub ties: usize,
    pub win_rate: f64,
    pub stderr: f64,
}

pub fn records(battles: &Battles) -> Vec<Record> {
    let n = battles.models.len();
    let mut rec = vec![(0usize, 0usize, 0usize); n];
    for &(a, b, w) in &battles.rows {
        match w {
            Winner::A => {
                rec[a].0 += 1;
                rec[b].1 += 1;
            }
            Winner::B => {
                rec[b].0 += 1;
                rec[a].1 += 1;
            }
            Winner::Tie | Winner::BothBad => {
                rec[a].2 += 1;
                rec[b].2 += 1;
            }
        }
    }
    rec.into_iter()
        .map(|(wins, losses, ties)| {
            let total = wins + losses + ties;
            let scores = wins as f64 + 0.5 * ties as f64;
            let p = scores / total as f64;
            // Per-battle scores are 1, ½ or 0: their sample variance over √n.
            let mean_sq = (wins as f64 + 0.25 * ties as f64) / total as f64;
            let var = if total > 1 {
                (mean_sq - p * p) * total as f64 / (total - 1) as f64
            } else {
                f64::NAN
            };
            Record {
                battles: total,
                wins,
                losses,
                ties,
                win_rate: p,
                stderr: (var.max(0.0) / total as f64).sqrt(),
            }
        })
        .collect()
}

/// Predicted probability that model i beats model j, from Elo-scale ratings.
pub fn win_probability(r_i: f64, r_j: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf((r_j - r_i) / 400.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn battles(rows: &[(&str, &str, &str)]) -> Battles {
        Battles::from_triples(
            rows.iter()
                .enumerate()
                .map(|(i, (a, b, w))| (format!("row {i}"), (*a, *b, *w))),
        )
        .unwrap()
    }

    #[test]
    fn two_models_have_the_closed_form() {
        // a wins 7, b wins 2, one tie: p = 7.5/10, θ_a − θ_b = logit(0.75).
        let mut rows = vec![("a", "b", "model_a"); 7];
        rows.extend(vec![("a", "b", "model_b"); 2]);
        rows.push(("b", "a", "tie"));
        let b = battles(&rows);
        let theta = fit(&aggregate(&b), 2);
        let expected = (0.75f64 / 0.25).ln();
        assert!((theta[0] - theta[1] - expected).abs() < 1e-12);
        assert!((theta[0] + theta[1]).abs() < 1e-12);
        let r = to_elo(&theta, None);
        assert!((win_probability(r[0], r[1]) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn ties_are_half_wins_and_orientation_does_not_matter() {
        let b1 = battles(&[
            ("x", "y", "model_a"),
            ("x", "y", "tie"),
            ("y", "x", "tie (bothbad)"),
            ("y", "x", "model_a"),
        ]);
        let rows = aggregate(&b1);
        let total: f64 = rows.iter().map(|r| r.y * r.count).sum();
        assert_eq!(total, 2.0, "x scores 1 + ½ + ½ + 0 = 2 of 4");
        assert_eq!(b1.rows[2].2, Winner::BothBad);
    }

    #[test]
    fn a_model_that_never_loses_is_named() {
        let b = battles(&[
            ("a", "b", "model_a"),
            ("a", "c", "model_a"),
            ("b", "c", "model_a"),
            ("c", "b", "model_a"),
        ]);
        let err = check_connected(&b, &aggregate(&b)).unwrap_err().to_string();
        assert!(err.contains("{a}") && err.contains("{b, c}"), "{err}");
    }

    #[test]
    fn elo_matches_a_hand_computation() {
        let b = battles(&[("a", "b", "model_a"), ("b", "a", "tie")]);
        let r = online_elo(&b, 4.0);
        // First: expected 0.5, a gains 2. Second: b (998) vs a (1002) tie.
        let e = 1.0 / (1.0 + 10f64.powf((1002.0 - 998.0) / 400.0));
        let d = 4.0 * (0.5 - e);
        assert!((r[1] - (998.0 + d)).abs() < 1e-12);
        assert!((r[0] - (1002.0 - d)).abs() < 1e-12);
    }

    #[test]
    fn win_rates_with_ties() {
        let b = battles(&[
            ("a", "b", "model_a"),
            ("a", "b", "tie"),
            ("b", "a", "model_a"),
        ]);
        let r = records(&b);
        assert_eq!((r[0].wins, r[0].losses, r[0].ties), (1, 1, 1));
        assert!((r[0].win_rate - 0.5).abs() < 1e-15);
        // Scores 1, ½, 0: sample sd 0.5, stderr 0.5/√3.
        assert!((r[0].stderr - 0.5 / 3f64.sqrt()).abs() < 1e-12);
    }
}
