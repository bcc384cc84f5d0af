//! Do the stages order the candidates alike? For every pair of stages that scored at
//! least two of the same candidates: Kendall's tau-b of their two orders, with a
//! parametric-bootstrap interval from each stage's own standard errors
//! (`assay_stats::kendall_tau_noisy`), the pairs of candidates the two stages put in
//! opposite order, and a warning in words when there are any.

use crate::stage::Order;
use serde::{Deserialize, Serialize};

/// Bootstrap rounds and seed of the tau interval: fixed, so a rerun reports the same.
const ROUNDS: usize = 2000;
const SEED: u64 = 20_241_201;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageAgreement {
    pub a: String,
    pub b: String,
    /// Candidates both stages scored.
    pub candidates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau: Option<assay_stats::Estimate>,
    /// Why tau is undefined (fewer than two candidates in common, all tied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
    /// (x, y): `a` puts x above y, `b` puts y above x.
    pub swaps: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Agreement between every pair of stages, in stage order.
pub fn agreement(stages: &[(&str, &Order)]) -> Vec<StageAgreement> {
    let mut out = Vec::new();
    for (i, (name_a, a)) in stages.iter().enumerate() {
        for (name_b, b) in &stages[i + 1..] {
            out.push(pair(name_a, a, name_b, b));
        }
    }
    out
}

fn pair(name_a: &str, a: &Order, name_b: &str, b: &Order) -> StageAgreement {
    let common: Vec<(&str, f64, f64, f64, f64)> = a
        .scores
        .iter()
        .filter_map(|sa| {
            let sb = b.score(&sa.candidate)?;
            Some((
                sa.candidate.as_str(),
                sa.value,
                sa.stderr.unwrap_or(0.0),
                sb.value,
                sb.stderr.unwrap_or(0.0),
            ))
        })
        .collect();
    let candidates: Vec<String> = common.iter().map(|c| c.0.to_owned()).collect();
    let mut swaps = Vec::new();
    for (i, x) in common.iter().enumerate() {
        for y in &common[i + 1..] {
            let (da, db) = (x.1 - y.1, x.3 - y.3);
            if da > 0.0 && db < 0.0 {
                swaps.push((x.0.to_owned(), y.0.to_owned()));
            } else if da < 0.0 && db > 0.0 {
                swaps.push((y.0.to_owned(), x.0.to_owned()));
            }
        }
    }
    let (tau, undefined) = if common.len() < 2 {
        (
            None,
            Some(format!(
                "the stages scored {} candidate(s) in common; an order needs two",
                common.len()
            )),
        )
    } else {
        let col = |k: usize| -> Vec<f64> {
            common
                .iter()
                .map(|c| match k {
                    0 => c.1,
                    1 => c.2,
                    2 => c.3,
                    _ => c.4,
                })
                .collect()
        };
        match assay_stats::kendall_tau_noisy(&col(0), &col(1), &col(2), &col(3), ROUNDS, SEED) {
            Ok(e) => (Some(e), None),
            Err(assay_stats::Error::NoVariance) => (
                None,
                Some("one of the stages gives every candidate in common the same value".into()),
            ),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let warning = (!swaps.is_empty()).then(|| {
        let said: Vec<String> = swaps
            .iter()
            .map(|(x, y)| format!("`{name_a}` puts `{x}` above `{y}`, `{name_b}` the reverse"))
            .collect();
        let tau_text = tau.as_ref().map_or(String::new(), |t| {
            format!(
                " (Kendall's tau {:.2}, 95% interval {:.2} to {:.2})",
                t.value, t.ci_low, t.ci_high
            )
        });
        format!(
            "stages `{name_a}` ({}) and `{name_b}` ({}) disagree{tau_text}: {}",
            a.by,
            b.by,
            said.join("; ")
        )
    });
    StageAgreement {
        a: name_a.to_owned(),
        b: name_b.to_owned(),
        candidates,
        tau,
        undefined,
        swaps,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::Score;

    fn order(by: &str, values: &[(&str, f64, f64)]) -> Order {
        Order {
            by: by.into(),
            scores: values
                .iter()
                .map(|(c, v, s)| Score {
                    candidate: (*c).into(),
                    value: *v,
                    stderr: Some(*s),
                    shown: v.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_swap_is_named_and_tau_matches_scipy() {
        let a = order(
            "acc",
            &[("base", 0.50, 0.0), ("x", 0.60, 0.0), ("y", 0.55, 0.0)],
        );
        let b = order(
            "win",
            &[("base", 0.50, 0.0), ("x", 0.45, 0.0), ("y", 0.70, 0.0)],
        );
        let r = agreement(&[("offline", &a), ("people", &b)]);
        assert_eq!(r.len(), 1);
        // scipy.stats.kendalltau([.5, .6, .55], [.5, .45, .7]).statistic == -1/3
        let tau = r[0].tau.as_ref().unwrap();
        assert!((tau.value - (-1.0 / 3.0)).abs() < 1e-12);
        // Without noise every draw is the point.
        assert_eq!((tau.ci_low, tau.ci_high), (tau.value, tau.value));
        assert_eq!(
            r[0].swaps,
            [
                ("x".to_owned(), "base".to_owned()),
                ("x".to_owned(), "y".to_owned())
            ]
        );
        let w = r[0].warning.as_deref().unwrap();
        assert!(
            w.contains("`offline` puts `x` above `y`, `people` the reverse"),
            "{w}"
        );
    }

    #[test]
    fn one_candidate_in_common_is_undefined_not_a_number() {
        let a = order("acc", &[("base", 0.5, 0.1), ("x", 0.6, 0.1)]);
        let b = order("lift", &[("base", 0.0, 0.0)]);
        let r = &agreement(&[("s1", &a), ("s2", &b)])[0];
        assert!(r.tau.is_none());
        assert!(r.undefined.as_deref().unwrap().contains("1 candidate(s)"));
        assert!(r.warning.is_none());
    }

    /// With two candidates tau is +1 when both stages order them alike, else -1, so
    /// the draws are ±1 with p the chance that the two noisy differences
    /// share a sign, Φ(d_a/s_a)Φ(d_b/s_b) + (1 - Φ(d_a/s_a))(1 - Φ(d_b/s_b)), and their
    /// standard deviation is 2 sqrt(p(1 - p)), to Monte Carlo error.
    #[test]
    fn the_bootstrap_matches_the_closed_form_for_two_candidates() {
        use statrs::distribution::{ContinuousCDF, Normal};
        let phi = |x: f64| Normal::new(0.0, 1.0).unwrap().cdf(x);
        // Stage a: difference 0.05 with sd sqrt(0.03² + 0.04²) = 0.05; stage b: 0.02
        // with sd 0.04.
        let (pa, pb) = (phi(0.05 / 0.05), phi(0.02 / 0.04));
        let p_same = pa * pb + (1.0 - pa) * (1.0 - pb);
        let tau = assay_stats::kendall_tau_noisy(
            &[0.55, 0.50],
            &[0.03, 0.04],
            &[0.52, 0.50],
            &[0.04, 0.0],
            200_000,
            3,
        )
        .unwrap();
        // The standard error of ±1 draws is 2 sqrt(p(1-p)); its mean's Monte Carlo
        // error over 200,000 rounds is about 0.002.
        let expected_sd = 2.0 * (p_same * (1.0 - p_same)).sqrt();
        assert!(
            (tau.stderr - expected_sd).abs() < 0.005,
            "{} vs {expected_sd}",
            tau.stderr
        );
    }
}
