//! Sample-ratio mismatch: is the traffic split what the experiment was set up to give?
//!
//! Pearson's χ² goodness of fit, χ² = Σ (o_k − e_k)²/e_k with e_k = w_k/Σw · Σo and
//! #arms − 1 degrees of freedom, as GrowthBook's back end (`util/stats.ts`): arms with
//! weight 0 are left out. GrowthBook and Eppo flag p < 0.001 (Statsig warns below 0.01).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// GrowthBook's and Eppo's default threshold.
pub const SRM_THRESHOLD: f64 = 0.001;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Srm {
    pub observed: Vec<u64>,
    pub expected: Vec<f64>,
    pub chi_square: f64,
    pub dof: usize,
    pub p_value: f64,
    pub threshold: f64,
    pub mismatch: bool,
}

/// The χ² test of observed units per arm against the intended weights.
pub fn check(observed: &[u64], weights: &[f64], threshold: f64) -> Srm {
    let kept: Vec<(u64, f64)> = observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(o, w)| (*o, *w))
        .collect();
    let total: f64 = kept.iter().map(|(o, _)| *o as f64).sum();
    let wsum: f64 = kept.iter().map(|(_, w)| w).sum();
    let expected: Vec<f64> = observed
        .iter()
        .zip(weights)
        .map(|(_, w)| if *w > 0.0 { w / wsum * total } else { 0.0 })
        .collect();
    let mut out = Srm {
        observed: observed.to_vec(),
        expected,
        chi_square: 0.0,
        dof: kept.len().saturating_sub(1),
        p_value: 1.0,
        threshold,
        mismatch: false,
    };
    if kept.len() < 2 || total == 0.0 {
        return out;
    }
    out.chi_square = kept
        .iter()
        .map(|(o, w)| {
            let e = w / wsum * total;
            (*o as f64 - e).powi(2) / e
        })
        .sum();
    out.p_value = 1.0
        - ChiSquared::new(out.dof as f64)
            .expect("dof ≥ 1")
            .cdf(out.chi_square);
    if out.p_value < 1e-6 {
        // The survival function directly keeps tiny p-values from rounding to 0.
        out.p_value = chi_square_sf(out.chi_square, out.dof as f64);
    }
    out.mismatch = out.p_value < threshold;
    out
}

fn chi_square_sf(x: f64, dof: f64) -> f64 {
    statrs::function::gamma::gamma_ur(dof / 2.0, x / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_traffic_passes_and_a_skewed_split_is_flagged() {
        let ok = check(&[5000, 5040], &[1.0, 1.0], SRM_THRESHOLD);
        assert!(!ok.mismatch && ok.p_value > 0.6);
        // 51/49 on 100,000 units: χ² = 40, p ≈ 2.5e-10.
        let bad = check(&[51_000, 49_000], &[1.0, 1.0], SRM_THRESHOLD);
        assert!((bad.chi_square - 40.0).abs() < 1e-9);
        assert!(bad.mismatch && bad.p_value > 0.0 && bad.p_value < 1e-9);
        // A zero-weight arm is left out of the test.
        let z = check(&[500, 500, 3], &[0.5, 0.5, 0.0], SRM_THRESHOLD);
        assert_eq!(z.dof, 1);
        assert_eq!(z.chi_square, 0.0);
    }
}
