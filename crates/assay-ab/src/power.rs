//! Planning: power, minimum detectable effect and sample size for a treatment against
//! control.
//!
//! Fixed horizon: the two-sided z test on the difference of means with a common per-unit
//! standard deviation σ (σ² = p(1 − p) for a conversion rate p), so
//! se = σ·√(1/n_c + 1/n_t) and power(δ) = Φ(δ/se − z₁₋α/₂) + Φ(−δ/se − z₁₋α/₂)
//! (Cohen 1988; statsmodels' `NormalIndPower` computes the same with d = δ/σ).
//! Sequential: the z quantile is replaced by the confidence sequence's multiplier at the
//! planned total N, half-width/se (Waudby-Smith et al. 2023, eq. 9, as GrowthBook's
//! sequential power), so the plan accounts for the wider always-valid interval.
//! A relative effect is δ/|μ|.

use crate::effect::sequential_multiplier;
use assay_stats::{normal_cdf, normal_quantile};
use serde::Serialize;

#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub alpha: f64,
    /// Target power, e.g. 0.8.
    pub power: f64,
    /// Per-unit standard deviation of the metric.
    pub sd: f64,
    /// Treatment units per control unit (1 for an even split).
    pub ratio: f64,
    /// The sequential interval's N* when results will be read with it; None = fixed.
    pub sequential_tuning: Option<f64>,
}

/// What a plan answers: the traffic for an effect, or the effect for a traffic.
#[derive(Clone, Debug, Serialize)]
pub struct PlanResult {
    pub baseline_mean: f64,
    pub sd: f64,
    pub alpha: f64,
    pub power: f64,
    pub arms: u16,
    pub sequential: bool,
    pub relative_mde: f64,
    pub absolute_mde: f64,
    pub units_per_arm: f64,
    pub total_units: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
}

impl Plan {
    fn multiplier(&self, total: f64) -> f64 {
        match self.sequential_tuning {
            None => normal_quantile(1.0 - self.alpha / 2.0),
            Some(tuning) => sequential_multiplier(total, self.alpha, tuning),
        }
    }

    fn se(&self, control_units: f64) -> f64 {
        self.sd * (1.0 / control_units + 1.0 / (control_units * self.ratio)).sqrt()
    }

    /// Power to detect an absolute effect `effect` with `control_units` in control.
    pub fn power_at(&self, effect: f64, control_units: f64) -> f64 {
        let se = self.se(control_units);
        let c = self.multiplier(control_units * (1.0 + self.ratio));
        let z = effect.abs() / se;
        normal_cdf(z - c) + normal_cdf(-z - c)
    }

    /// The smallest absolute effect detected with the target power.
    pub fn minimum_detectable_effect(&self, control_units: f64) -> f64 {
        reach(0.0, self.se(control_units), |e| {
            self.power_at(e, control_units) >= self.power
        })
    }

    /// Control units needed to detect an absolute effect with the target power
    /// (fractional; round up).
    pub fn control_units_needed(&self, effect: f64) -> f64 {
        reach(1.0, 2.0, |n| self.power_at(effect, n) >= self.power)
    }
}

/// The smallest x ≥ `lo` where the monotone condition `enough` holds: doubling `hi` until
/// it does, then bisection (infinite when it never does below 1e15).
fn reach(mut lo: f64, mut hi: f64, enough: impl Fn(f64) -> bool) -> f64 {
    while !enough(hi) {
        lo = hi;
        hi *= 2.0;
        // NaN (from a NaN standard error) stops here too: it never reaches power.
        if hi.is_nan() || hi > 1e15 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if enough(mid) { hi = mid } else { lo = mid }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_textbook_sample_size_for_a_half_sd_effect() {
        // d = 0.5, α = 0.05, power 0.8: (1.95996 + 0.84162)²·2/0.25 = 62.79 per arm.
        let plan = Plan {
            alpha: 0.05,
            power: 0.8,
            sd: 1.0,
            ratio: 1.0,
            sequential_tuning: None,
        };
        let n = plan.control_units_needed(0.5);
        assert!((n - 62.79).abs() < 0.01, "{n}");
        let mde = plan.minimum_detectable_effect(n);
        assert!((mde - 0.5).abs() < 1e-9);
        let seq = Plan {
            sequential_tuning: Some(5000.0),
            ..plan
        };
        assert!(seq.control_units_needed(0.5) > n);
    }
}
