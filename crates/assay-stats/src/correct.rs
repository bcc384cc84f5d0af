//! Corrections for testing many things at once (A/B goal metrics × variants, candidate
//! pairs × benchmark metrics), as GrowthBook applies them
//! (`packages/shared/src/experiments/experiments.ts`): Holm–Bonferroni (Holm 1979) and
//! Benjamini–Hochberg (1995).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Correction {
    /// No correction.
    None,
    /// Holm's step-down; controls the family-wise error rate.
    Holm,
    /// Benjamini–Hochberg step-up; controls the false discovery rate.
    #[cfg_attr(feature = "clap", value(name = "bh"))]
    BenjaminiHochberg,
}

/// Adjusted p-values, in the input's order.
pub fn adjust(p: &[f64], method: Correction) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    match method {
        Correction::None => return p.to_vec(),
        Correction::Holm => {
            // p_(k)·(m − k + 1), running maximum, capped at 1.
            let mut running = 0.0f64;
            for (k, &i) in order.iter().enumerate() {
                running = running.max((p[i] * (m - k) as f64).min(1.0));
                out[i] = running;
            }
        }
        Correction::BenjaminiHochberg => {
            // From the largest down: p_(k)·m/k, running minimum, capped at 1.
            let mut running = 1.0f64;
            for (k, &i) in order.iter().enumerate().rev() {
                running = running.min(p[i] * m as f64 / (k + 1) as f64);
                out[i] = running.min(1.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_and_bh_on_a_worked_example() {
        // Worked by hand: sorted 0.01, 0.02, 0.03, 0.04 (m = 4).
        let p = [0.03, 0.01, 0.04, 0.02];
        let holm = adjust(&p, Correction::Holm);
        // 0.04, max(0.04, 0.06), max(0.06, 0.06), max(0.06, 0.04) in sorted order.
        assert_eq!(holm, vec![0.06, 0.04, 0.06, 0.06]);
        let bh = adjust(&p, Correction::BenjaminiHochberg);
        // 0.04·4/4 = 0.04, 0.03·4/3 = 0.04, 0.02·4/2 = 0.04, 0.01·4/1 = 0.04.
        for v in bh {
            assert!((v - 0.04).abs() < 1e-15);
        }
        assert_eq!(adjust(&p, Correction::None), p.to_vec());
    }
}
